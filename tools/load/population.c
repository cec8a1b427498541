/* population.c — who the run's users are and which rooms they sit in: rooms named
 * PREFIX-SIZE-NNNN, members taken from the users in turn (so load spreads evenly and the
 * same options always give the same rooms), and the source addresses users connect from. */
#include "load.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t load_rand(struct load *L)
{
    /* xorshift64*: reproducible from --seed, separate from the client library's */
    uint64_t x = L->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    L->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double load_rand01(struct load *L)
{
    return ((double)(load_rand(L) >> 11) + 1.0) / 9007199254740992.0;   /* (0, 1] */
}

uint32_t load_rand_below(struct load *L, uint32_t n)
{
    return n ? (uint32_t)((load_rand(L) >> 32) % n) : 0;
}

void user_name(const struct load *L, uint32_t idx, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%05u@%s", L->o.user_prefix, (unsigned)(L->o.first_user + (int)idx), L->o.domain);
}

static bool frontends_on_loopback(const struct load *L)
{
    for (int i = 0; i < L->o.n_fe; i++) {
        struct in_addr a;
        if (inet_pton(AF_INET, L->o.fe[i].host, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
            return false;
    }
    return true;
}

int source_address(const struct load *L, int src, char *out, size_t outlen)
{
    out[0] = '\0';
    if (src < 0)
        return 0;
    if (src >= L->src_count)
        return -1;
    uint32_t base = L->o.src_given ? L->o.src_first : (127u << 24 | 2);
    struct in_addr a = { .s_addr = htonl(base + (uint32_t)src) };
    return inet_ntop(AF_INET, &a, out, (socklen_t)outlen) ? 0 : -1;
}

int population_build(struct load *L, char *err, size_t errlen)
{
    const struct load_opts *o = &L->o;
    L->n_users = o->users;
    L->users = calloc((size_t)L->n_users, sizeof *L->users);
    L->n_rooms = 0;
    for (int i = 0; i < o->n_rooms; i++)
        L->n_rooms += o->rooms[i].count;
    L->rooms = calloc((size_t)L->n_rooms + 1, sizeof *L->rooms);
    if (!L->users || !L->rooms) {
        snprintf(err, errlen, "out of memory for %d users and %d rooms", L->n_users, L->n_rooms);
        return -1;
    }

    if (o->src_given) {
        L->src_count = (int)(o->src_last - o->src_first + 1);
        L->src_current = 0;
    } else {
        /* the kernel's choice first; 127.0.0.2-254 when its ports run out on loopback */
        L->src_count = frontends_on_loopback(L) ? 253 : 0;
        L->src_current = -1;
    }
    L->src_used_max = L->src_current;

    /* members in turn: room after room takes the next SIZE users, wrapping around */
    uint32_t cursor = 0;
    int r = 0;
    uint16_t *per_user = calloc((size_t)L->n_users, sizeof *per_user);
    if (!per_user) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int s = 0; s < o->n_rooms; s++) {
        for (int c = 0; c < o->rooms[s].count; c++, r++) {
            struct room *rm = &L->rooms[r];
            snprintf(rm->name, sizeof rm->name, "%s-%d-%04d", o->room_prefix, o->rooms[s].size, c + 1);
            rm->size = o->rooms[s].size;
            rm->members = malloc((size_t)rm->size * sizeof *rm->members);
            if (!rm->members) {
                free(per_user);
                snprintf(err, errlen, "out of memory for the members of %s", rm->name);
                return -1;
            }
            for (int m = 0; m < rm->size; m++) {
                uint32_t u = (cursor + (uint32_t)m) % (uint32_t)L->n_users;
                rm->members[m] = u;
                if (per_user[u] == LOAD_MAX_ROOMS_PER_USER) {
                    free(per_user);
                    snprintf(err, errlen,
                             "user %u would be in more than %d rooms: use more --users or fewer/smaller --rooms",
                             (unsigned)u + 1, LOAD_MAX_ROOMS_PER_USER);
                    return -1;
                }
                per_user[u]++;
            }
            cursor = (cursor + (uint32_t)rm->size) % (uint32_t)L->n_users;
            L->memberships += (uint64_t)rm->size;
        }
    }
    for (int u = 0; u < L->n_users; u++) {
        struct luser *lu = &L->users[u];
        lu->idx = (uint32_t)u;
        lu->fe = (uint8_t)(u % o->n_fe);
        lu->src = -1;
        lu->reqs = LOAD_NONE;
        if (per_user[u]) {
            lu->rooms = calloc(per_user[u], sizeof *lu->rooms);
            if (!lu->rooms) {
                free(per_user);
                snprintf(err, errlen, "out of memory for the rooms of %d users", L->n_users);
                return -1;
            }
        }
    }
    free(per_user);
    for (int i = 0; i < L->n_rooms; i++) {
        struct room *rm = &L->rooms[i];
        for (int m = 0; m < rm->size; m++) {
            struct luser *lu = &L->users[rm->members[m]];
            struct membership *ms = &lu->rooms[lu->n_rooms++];
            ms->room = (uint32_t)i;
            ms->slot = (uint32_t)m;
            ms->state = MS_NONE;
            ms->stable_since_us = INT64_MAX;
            ms->chain_tail = LOAD_NONE;
        }
    }
    return 0;
}

void population_free(struct load *L)
{
    for (int i = 0; i < L->n_users; i++)
        free(L->users[i].rooms);
    for (int i = 0; i < L->n_rooms; i++) {
        free(L->rooms[i].members);
        free(L->rooms[i].uri);
    }
    free(L->users);
    free(L->rooms);
    L->users = NULL;
    L->rooms = NULL;
}
