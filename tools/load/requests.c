/* requests.c — every INFO the tool sends and what became of it: slots matched to the SIP
 * answer by CSeq and to the XCCOS rpl by envid, 503 + Retry-After honoured (or not), retries
 * and deferred requests on a timer heap, reply timeouts, and the counters they feed. */
#include "load.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int requests_init(struct load *L)
{
    L->reqs_cap = 1024;
    L->reqs = calloc(L->reqs_cap, sizeof *L->reqs);
    L->free_req = LOAD_NONE;
    return L->reqs ? 0 : -1;
}

void requests_free(struct load *L)
{
    free(L->reqs);
    free(L->heap);
    L->reqs = NULL;
    L->heap = NULL;
}

int backoff_class(enum req_kind k)
{
    return k == RK_PART || k == RK_SETUP_JOIN ? RK_JOIN : (int)k;
}

void count_status(struct status_count *list, int status)
{
    for (int i = 0; i < LOAD_MAX_STATUS_KINDS; i++) {
        if (list[i].n == 0)
            list[i].status = status;
        if (list[i].status == status) {
            list[i].n++;
            return;
        }
    }
    list[LOAD_MAX_STATUS_KINDS - 1].n++;     /* the last row doubles as "others" */
}

struct second *second_at(struct load *L, int64_t at_us)
{
    if (!L->series || at_us < L->run_start_us)
        return NULL;
    int64_t i = (at_us - L->run_start_us) / 1000000;
    if (i >= L->n_seconds)
        i = L->n_seconds - 1;
    return &L->series[i];
}

/* ---- slots ------------------------------------------------------------------------------------ */

static uint32_t slot_alloc(struct load *L)
{
    uint32_t i = L->free_req;
    if (i != LOAD_NONE) {
        L->free_req = L->reqs[i].next_free;
    } else {
        if (L->reqs_hwm == L->reqs_cap) {
            uint32_t cap = L->reqs_cap * 2;
            struct req *r = realloc(L->reqs, (size_t)cap * sizeof *r);
            if (!r)
                return LOAD_NONE;
            memset(r + L->reqs_cap, 0, (size_t)(cap - L->reqs_cap) * sizeof *r);
            L->reqs = r;
            L->reqs_cap = cap;
        }
        i = L->reqs_hwm++;
    }
    memset(&L->reqs[i], 0, sizeof L->reqs[i]);
    L->reqs[i].in_use = true;
    L->reqs_in_use++;
    return i;
}

static void slot_free(struct load *L, uint32_t i)
{
    struct req *r = &L->reqs[i];
    struct luser *lu = &L->users[r->user];
    for (uint32_t *pp = &lu->reqs; *pp != LOAD_NONE; pp = &L->reqs[*pp].next_of_user)
        if (*pp == i) {
            *pp = r->next_of_user;
            break;
        }
    r->in_use = false;
    r->next_free = L->free_req;
    L->free_req = i;
    L->reqs_in_use--;
}

static uint32_t slot_by_cseq(struct load *L, struct luser *lu, uint32_t cseq)
{
    for (uint32_t i = lu->reqs; i != LOAD_NONE; i = L->reqs[i].next_of_user)
        if (L->reqs[i].cseq == cseq && !L->reqs[i].answered)
            return i;
    return LOAD_NONE;
}

static uint32_t slot_by_envid(struct load *L, struct luser *lu, uint32_t envid)
{
    for (uint32_t i = lu->reqs; i != LOAD_NONE; i = L->reqs[i].next_of_user)
        if (L->reqs[i].envid == envid && L->reqs[i].kind != RK_POST && !L->reqs[i].replied)
            return i;
    return LOAD_NONE;
}

/* ---- timer heap: retries after Retry-After and requests deferred by it ------------------------ */

static void heap_swap(struct timed *h, int a, int b)
{
    struct timed t = h[a];
    h[a] = h[b];
    h[b] = t;
}

void timed_push(struct load *L, const struct timed *t)
{
    if (L->heap_len == L->heap_cap) {
        int cap = L->heap_cap ? L->heap_cap * 2 : 256;
        struct timed *h = realloc(L->heap, (size_t)cap * sizeof *h);
        if (!h) {
            L->ks[t->kind].dropped++;
            return;
        }
        L->heap = h;
        L->heap_cap = cap;
    }
    int i = L->heap_len++;
    L->heap[i] = *t;
    while (i > 0 && L->heap[(i - 1) / 2].due_us > L->heap[i].due_us) {
        heap_swap(L->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static struct timed timed_pop(struct load *L)
{
    struct timed top = L->heap[0];
    L->heap[0] = L->heap[--L->heap_len];
    for (int i = 0;;) {
        int c = 2 * i + 1, m = i;
        if (c < L->heap_len && L->heap[c].due_us < L->heap[m].due_us)
            m = c;
        if (c + 1 < L->heap_len && L->heap[c + 1].due_us < L->heap[m].due_us)
            m = c + 1;
        if (m == i)
            break;
        heap_swap(L->heap, i, m);
        i = m;
    }
    return top;
}

int64_t timed_next_due(const struct load *L)
{
    return L->heap_len ? L->heap[0].due_us : INT64_MAX;
}

static void give_up_post(struct load *L, uint32_t post_id)
{
    if (post_id != LOAD_NONE && post_id < L->n_posts && L->posts[post_id].state == PS_PENDING)
        L->posts[post_id].state = PS_FAILED;
}

void timed_run_due(struct load *L, int64_t now)
{
    for (int budget = 10000; budget > 0 && L->heap_len > 0 && L->heap[0].due_us <= now; budget--) {
        struct timed t = timed_pop(L);
        struct luser *lu = &L->users[t.user];
        int cls = backoff_class(t.kind);
        if (!L->o.no_retry && lu->backoff_until[cls] > now) {
            t.due_us = lu->backoff_until[cls];      /* another 503 pushed the wait further */
            timed_push(L, &t);
            continue;
        }
        bool usable = lu->phase == UP_READY || (t.kind == RK_SETUP_JOIN && lu->phase == UP_JOINING);
        if (usable && (t.kind == RK_POST || t.kind == RK_HISTORY)) {
            uint32_t room = t.kind == RK_POST ? L->posts[t.arg].room : lu->rooms[t.arg].room;
            int m = membership_find(lu, room);
            usable = m >= 0 && lu->rooms[m].state == MS_JOINED;
        }
        if (!usable || !request_send(L, t.user, t.kind, t.arg, t.attempt, t.intended_us)) {
            L->ks[t.kind].dropped++;
            if (t.kind == RK_POST)
                give_up_post(L, t.arg);
            if (t.kind == RK_SETUP_JOIN) {
                L->setup_join_failed++;
                setup_join_done(L, lu);
            }
        }
    }
}

/* ---- sending ---------------------------------------------------------------------------------- */

bool request_send(struct load *L, uint32_t user, enum req_kind k, uint32_t arg, int attempt,
                  int64_t intended_us)
{
    struct luser *lu = &L->users[user];
    struct kind_stats *ks = &L->ks[k];
    if (!lu->sc || sc_user_state(lu->sc) != SC_CONNECTED) {
        ks->not_sent++;
        return false;
    }
    uint32_t cseq = 0, ms_idx = LOAD_NONE;
    struct membership *ms = NULL;
    char text[65536];
    switch (k) {
    case RK_POST: {
        int m = membership_find(lu, L->posts[arg].room);
        L->posts[arg].attempt = (uint8_t)attempt;       /* the text names the attempt */
        if (m < 0 || post_text(L, arg, text, sizeof text) < 0)
            break;
        ms_idx = (uint32_t)m;
        cseq = sc_user_post(lu->sc, L->rooms[L->posts[arg].room].uri, text);
        break;
    }
    case RK_JOIN:
    case RK_SETUP_JOIN:
        ms = &lu->rooms[arg];
        cseq = sc_user_join(lu->sc, L->rooms[ms->room].uri);
        if (cseq)
            ms->state = MS_JOINING;
        break;
    case RK_PART:
        ms = &lu->rooms[arg];
        cseq = sc_user_part(lu->sc, L->rooms[ms->room].uri);
        if (cseq)
            ms->state = MS_PARTING;
        break;
    case RK_HISTORY:
        cseq = sc_user_bccontext(lu->sc, L->rooms[lu->rooms[arg].room].uri, L->o.history_count);
        break;
    case RK_SEARCH:
        cseq = sc_user_chansrch(lu->sc, L->o.search_criteria);
        break;
    default:
        break;
    }
    if (!cseq) {
        ks->not_sent++;
        return false;
    }
    uint32_t i = slot_alloc(L);
    if (i == LOAD_NONE) {
        ks->dropped++;      /* the INFO went out, but nothing can follow it: out of memory */
        return false;
    }
    struct req *r = &L->reqs[i];
    r->user = user;
    r->cseq = cseq;
    r->envid = sc_user_last_envid(lu->sc);
    r->arg = arg;
    r->kind = (uint8_t)k;
    r->attempt = (uint8_t)attempt;
    r->sent_us = sc_now_us();
    r->intended_us = intended_us;
    r->next_of_user = lu->reqs;
    lu->reqs = i;
    ks->sent++;
    struct second *sec = second_at(L, r->sent_us);
    if (sec)
        sec->sent++;
    if (k == RK_POST)
        post_sent(L, arg, ms_idx, attempt);
    return true;
}

/* ---- outcomes --------------------------------------------------------------------------------- */

/* The request is over without success: put the room membership back as it now stands. */
static void settle_failure(struct load *L, struct req *r, bool timed_out)
{
    struct luser *lu = &L->users[r->user];
    switch (r->kind) {
    case RK_POST:
        if (L->posts[r->arg].state == PS_PENDING)
            L->posts[r->arg].state = timed_out ? PS_TIMEOUT : PS_REJECTED;
        break;
    case RK_JOIN:
    case RK_SETUP_JOIN:
        /* refused: not in the room; timed out: nobody knows, so no delivery is expected */
        lu->rooms[r->arg].state = MS_NONE;
        lu->rooms[r->arg].stable_since_us = INT64_MAX;
        if (r->kind == RK_SETUP_JOIN) {
            L->setup_join_failed++;
            setup_join_done(L, lu);
        }
        break;
    case RK_PART:
        if (timed_out) {
            lu->rooms[r->arg].state = MS_NONE;
            lu->rooms[r->arg].stable_since_us = INT64_MAX;
        } else {
            lu->rooms[r->arg].state = MS_JOINED;    /* the part did not happen */
        }
        break;
    default:
        break;
    }
}

static void on_503(struct load *L, struct luser *lu, struct req *r, const struct sc_event *ev,
                   struct second *sec)
{
    struct kind_stats *ks = &L->ks[r->kind];
    int64_t now = ev->at_us;
    ks->rejected_503++;
    if (sec)
        sec->rejected_503++;
    if (ev->retry_after >= 0)
        ks->with_retry_after++;
    if (r->kind == RK_POST && r->attempt < 16)
        L->posts[r->arg].rejected_mask |= (uint16_t)(1u << r->attempt);
    if (L->o.no_retry) {
        ks->failed++;
        if (sec)
            sec->failed++;
        settle_failure(L, r, false);
        return;
    }
    int wait_s = ev->retry_after >= 0 ? ev->retry_after : L->o.retry_after_default_s;
    int cls = backoff_class(r->kind);
    int64_t until = now + (int64_t)wait_s * 1000000;
    if (until > lu->backoff_until[cls])
        lu->backoff_until[cls] = until;
    if (r->attempt < L->o.max_retries) {
        ks->retried++;
        if (sec)
            sec->retried++;
        /* the membership waits in its transitional state; the retry sends it again */
        if (r->kind == RK_JOIN || r->kind == RK_SETUP_JOIN || r->kind == RK_PART)
            lu->rooms[r->arg].state = r->kind == RK_PART ? MS_JOINED : MS_NONE;
        struct timed t = { .due_us = lu->backoff_until[cls], .intended_us = r->intended_us,
                           .user = r->user, .arg = r->arg, .kind = r->kind,
                           .attempt = (uint8_t)(r->attempt + 1) };
        if (r->kind == RK_SETUP_JOIN)
            t.due_us = until;
        timed_push(L, &t);
    } else {
        ks->gave_up++;
        if (sec)
            sec->failed++;
        settle_failure(L, r, false);
    }
}

void request_on_answer(struct load *L, struct luser *lu, const struct sc_event *ev)
{
    if (ev->req != SC_REQ_INFO)
        return;                   /* UPDATE, BYE, re-REGISTER: the library's own business */
    uint32_t i = slot_by_cseq(L, lu, ev->cseq);
    if (i == LOAD_NONE) {
        L->unmatched_answers++;   /* cmd:getinv and SIPE's history after a join */
        return;
    }
    struct req *r = &L->reqs[i];
    struct kind_stats *ks = &L->ks[r->kind];
    struct second *sec = second_at(L, ev->at_us);
    if (ev->status == 200) {
        ks->accepted++;
        if (sec)
            sec->accepted++;
        hist_add(&ks->answer_us, ev->rtt_us);
        if (r->kind == RK_POST) {
            L->posts[r->arg].state = PS_ACCEPTED;
            slot_free(L, i);
            return;
        }
        r->answered = true;
        if (r->replied)
            slot_free(L, i);
        return;
    }
    if (ev->status == 503) {
        on_503(L, lu, r, ev, sec);
    } else if (ev->local_timeout) {
        ks->timeouts++;
        if (sec)
            sec->timeouts++;
        settle_failure(L, r, true);
    } else {
        ks->failed++;
        if (sec)
            sec->failed++;
        count_status(ks->statuses, ev->status);
        settle_failure(L, r, false);
    }
    slot_free(L, i);
}

static uint32_t reply_envid(const struct sc_event *ev)
{
    const struct xnode *cid = ev->item ? xnode_child(ev->item, "commandid") : NULL;
    const char *e = cid ? xnode_attr(cid, "envid") : NULL;
    return e ? (uint32_t)strtoul(e, NULL, 10) : 0;
}

void request_on_reply(struct load *L, struct luser *lu, const struct sc_event *ev)
{
    uint32_t i = slot_by_envid(L, lu, reply_envid(ev));
    if (i == LOAD_NONE) {
        L->unmatched_replies++;
        return;
    }
    struct req *r = &L->reqs[i];
    struct kind_stats *ks = &L->ks[r->kind];
    struct membership *ms = r->kind == RK_SEARCH ? NULL : &lu->rooms[r->arg];
    bool ok = ev->resp_code == 200;
    hist_add(&ks->reply_us, ev->at_us - r->sent_us);
    if (ok) {
        ks->replies_ok++;
    } else {
        ks->replies_error++;
        count_status(ks->reply_codes, ev->resp_code);
    }
    switch (r->kind) {
    case RK_JOIN:
    case RK_SETUP_JOIN:
        ms->state = ok ? MS_JOINED : MS_NONE;
        ms->stable_since_us = ok ? ev->at_us : INT64_MAX;
        if (r->kind == RK_SETUP_JOIN) {
            if (!ok)
                L->setup_join_failed++;
            setup_join_done(L, lu);
        }
        break;
    case RK_PART:
        if (ok) {
            ms->state = MS_NONE;
            ms->stable_since_us = INT64_MAX;
            /* the re-join this part was for: sent from the main loop, not from here */
            struct timed t = { .due_us = ev->at_us, .intended_us = r->intended_us, .user = r->user,
                               .arg = r->arg, .kind = RK_JOIN, .attempt = 0 };
            timed_push(L, &t);
        } else {
            ms->state = MS_JOINED;
        }
        break;
    default:
        break;
    }
    r->replied = true;
    if (r->answered)
        slot_free(L, i);
}

/* A few examples for the report: which command, whose, which room, which envid. */
static void note_missing_reply(struct load *L, const struct req *r, int64_t now)
{
    if (L->n_missing_replies >= 3)
        return;
    const struct luser *lu = &L->users[r->user];
    const char *room = r->kind == RK_SEARCH ? "(search)" : L->rooms[lu->rooms[r->arg].room].uri;
    L->missing_kind[L->n_missing_replies] = r->kind;
    snprintf(L->missing_replies[L->n_missing_replies++], sizeof L->missing_replies[0],
             "%s: %s INFO CSeq %u envid %u for %s, answered 200, no rpl within %lld ms",
             lu->sc ? sc_user_uri(lu->sc) : "?", req_kind_name(r->kind), (unsigned)r->cseq,
             (unsigned)r->envid, room ? room : "?", (long long)((now - r->sent_us) / 1000));
}

/* Commands answered 200 whose rpl never came. (Unanswered ones time out in the library,
 * which reports a local 408.) */
void requests_sweep(struct load *L, int64_t now)
{
    int64_t limit = (int64_t)L->o.timeout_ms * 1000;
    for (uint32_t i = 0; i < L->reqs_hwm; i++) {
        struct req *r = &L->reqs[i];
        if (!r->in_use || !r->answered || r->replied || now - r->sent_us < limit)
            continue;
        L->ks[r->kind].reply_timeouts++;
        note_missing_reply(L, r, now);
        struct second *sec = second_at(L, now);
        if (sec)
            sec->timeouts++;
        settle_failure(L, r, true);
        slot_free(L, i);
    }
}

/* The run is over, or the user's channel dialog died: whatever is still waiting counts as
 * timed out. */
void requests_abandon_user(struct load *L, struct luser *lu)
{
    while (lu->reqs != LOAD_NONE) {
        uint32_t i = lu->reqs;
        struct req *r = &L->reqs[i];
        if (r->answered)
            L->ks[r->kind].reply_timeouts++;
        else
            L->ks[r->kind].timeouts++;
        settle_failure(L, r, true);
        slot_free(L, i);
    }
}
