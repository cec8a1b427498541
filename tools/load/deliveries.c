/* deliveries.c — the tool knows what it sent: every post carries its id, so each arrival is
 * checked against the room's members (a bit per member: duplicates), against the author's
 * later posts to that room (reorders), and at the end against who should have had it (losses). */
#include "load.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REORDER_WALK 64            /* later posts looked at for each arrival */

int membership_find(const struct luser *lu, uint32_t room)
{
    for (int i = 0; i < lu->n_rooms; i++)
        if (lu->rooms[i].room == room)
            return i;
    return -1;
}

void membership_break(struct load *L, struct luser *lu)
{
    (void)L;
    for (int i = 0; i < lu->n_rooms; i++) {
        lu->rooms[i].state = MS_NONE;
        lu->rooms[i].stable_since_us = INT64_MAX;
    }
}

static bool bit_get(const struct load *L, const struct post *p, uint32_t slot)
{
    return (L->bits[p->bits + slot / 8] >> (slot % 8)) & 1;
}

static void bit_set(struct load *L, const struct post *p, uint32_t slot)
{
    L->bits[p->bits + slot / 8] |= (uint8_t)(1u << (slot % 8));
}

uint32_t post_new(struct load *L, uint32_t author, uint32_t membership, int64_t intended_us)
{
    if (L->n_posts == L->cap_posts) {
        uint32_t cap = L->cap_posts ? L->cap_posts * 2 : 4096;
        struct post *p = realloc(L->posts, (size_t)cap * sizeof *p);
        if (!p)
            return LOAD_NONE;
        L->posts = p;
        L->cap_posts = cap;
    }
    uint32_t room = L->users[author].rooms[membership].room;
    uint64_t need = ((uint64_t)L->rooms[room].size + 7) / 8;
    if (L->bits_len + need > L->bits_cap) {
        uint64_t cap = L->bits_cap ? L->bits_cap : 1 << 16;
        while (cap < L->bits_len + need)
            cap *= 2;
        uint8_t *b = realloc(L->bits, cap);
        if (!b)
            return LOAD_NONE;
        L->bits = b;
        L->bits_cap = cap;
    }
    uint32_t id = L->n_posts++;
    struct post *p = &L->posts[id];
    memset(p, 0, sizeof *p);
    p->author = author;
    p->room = room;
    p->chain_prev = p->chain_next = LOAD_NONE;
    p->bits = L->bits_len;
    p->intended_us = intended_us;
    p->state = PS_PENDING;
    memset(L->bits + L->bits_len, 0, need);
    L->bits_len += need;
    return id;
}

/* The order a recipient must see: the author's posts to the room by the time of their last
 * (accepted) sending, so a post retried after a 503 moves behind those sent meanwhile. */
void post_sent(struct load *L, uint32_t id, uint32_t membership, int attempt)
{
    struct post *p = &L->posts[id];
    struct membership *ms = &L->users[p->author].rooms[membership];
    p->sent_us = sc_now_us();
    p->attempt = (uint8_t)attempt;
    if (ms->chain_tail == id)
        return;
    if (p->chain_prev != LOAD_NONE || p->chain_next != LOAD_NONE) {
        if (p->chain_prev != LOAD_NONE)
            L->posts[p->chain_prev].chain_next = p->chain_next;
        if (p->chain_next != LOAD_NONE)
            L->posts[p->chain_next].chain_prev = p->chain_prev;
    }
    p->chain_prev = ms->chain_tail;
    p->chain_next = LOAD_NONE;
    if (ms->chain_tail != LOAD_NONE)
        L->posts[ms->chain_tail].chain_next = id;
    ms->chain_tail = id;
}

int post_text(struct load *L, uint32_t id, char *out, size_t outlen)
{
    const struct post *p = &L->posts[id];
    size_t want = (size_t)L->o.post_size;
    if (want + 1 > outlen)
        return -1;
    int n = snprintf(out, outlen, "pl1:%u:%u:%u ", (unsigned)id, (unsigned)p->attempt, (unsigned)p->author);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    /* filler up to --post-size: lower-case words, like text people type */
    static const char filler[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    for (size_t i = (size_t)n; i < want; i++)
        out[i] = filler[i % (sizeof filler - 1)];
    out[want > (size_t)n ? want : (size_t)n] = '\0';
    return 0;
}

void delivery_received(struct load *L, struct luser *lu, const struct sc_event *ev)
{
    struct sc_post sp;
    unsigned id, attempt, author;
    if (!sc_post_of(ev->item, &sp) || !sp.text || sscanf(sp.text, "pl1:%u:%u:%u ", &id, &attempt, &author) != 3
        || id >= L->n_posts) {
        L->ds.foreign++;
        return;
    }
    struct post *p = &L->posts[id];
    const char *uri = L->rooms[p->room].uri;
    if (author != p->author || !uri || strcmp(sp.chan_uri, uri) != 0) {
        L->ds.mismatched++;
        return;
    }
    L->ds.received++;
    L->last_delivery_us = ev->at_us;
    if (attempt < 16 && ((p->rejected_mask >> attempt) & 1)) {
        L->ds.after_503++;           /* the server delivered what it answered 503 */
        return;
    }
    int m = membership_find(lu, p->room);
    if (m < 0) {
        L->ds.to_non_members++;
        return;
    }
    uint32_t slot = lu->rooms[m].slot;
    if (lu->rooms[m].state == MS_NONE)
        L->ds.after_part++;
    if (bit_get(L, p, slot)) {
        L->ds.duplicates++;
        return;
    }
    bit_set(L, p, slot);
    struct second *sec = second_at(L, ev->at_us);
    int64_t latency = ev->at_us - p->sent_us;
    if (lu->idx == p->author) {
        L->ds.echoes++;
        hist_add(&L->ds.echo_us, latency);
        if (sec)
            sec->echoes++;
    } else {
        L->ds.deliveries++;
        hist_add(&L->ds.delivery_us, latency);
        if (sec)
            sec->deliveries++;
    }
    /* a later post of the same author to this room already here: this one is out of order */
    uint32_t q = p->chain_next;
    for (int walk = 0; q != LOAD_NONE && walk < REORDER_WALK; walk++, q = L->posts[q].chain_next)
        if (bit_get(L, &L->posts[q], slot)) {
            L->ds.reordered++;
            break;
        }
}

/* At the end: a post answered 200 is owed to every member joined without a break from its
 * sending until now (the author gets it back as an echo); anything else that arrived was not
 * owed to anyone. */
void deliveries_account(struct load *L)
{
    struct delivery_stats *ds = &L->ds;
    ds->expected = ds->expected_echoes = ds->lost = ds->echo_lost = 0;
    ds->not_owed = 0;
    for (uint32_t id = 0; id < L->n_posts; id++) {
        const struct post *p = &L->posts[id];
        const struct room *rm = &L->rooms[p->room];
        for (int s = 0; s < rm->size; s++) {
            const struct luser *v = &L->users[rm->members[s]];
            int m = membership_find(v, p->room);
            bool delivered = bit_get(L, p, (uint32_t)s);
            bool owed = p->state == PS_ACCEPTED && m >= 0 && v->phase == UP_READY
                        && v->rooms[m].state == MS_JOINED && v->rooms[m].stable_since_us <= p->sent_us;
            bool echo = v->idx == p->author;
            if (owed) {
                if (echo) {
                    ds->expected_echoes++;
                    ds->echo_lost += !delivered;
                } else {
                    ds->expected++;
                    ds->lost += !delivered;
                }
            } else if (delivered) {
                ds->not_owed++;
            }
        }
    }
}

void deliveries_free(struct load *L)
{
    free(L->posts);
    free(L->bits);
    L->posts = NULL;
    L->bits = NULL;
}
