/* schedule.c — the open loop: events of each kind fall on a timetable (Poisson or evenly
 * spaced) that does not wait for answers; each event picks a random ready user (and one of
 * its joined rooms). Then the drain: time for what is still in flight to land. */
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int64_t gap_us(struct load *L, enum req_kind k)
{
    double mean = 1e6 / L->o.rate[k];
    if (L->o.arrivals == ARRIVALS_UNIFORM)
        return (int64_t)mean < 1 ? 1 : (int64_t)mean;
    double g = -log(load_rand01(L)) * mean;
    return g < 1 ? 1 : (int64_t)g;
}

/* A random ready user; with want_room, also one of its rooms in a usable state. */
static bool pick(struct load *L, enum req_kind k, uint32_t *user, uint32_t *ms_idx)
{
    for (int tries = 0; tries < 32; tries++) {
        struct luser *lu = &L->users[load_rand_below(L, (uint32_t)L->n_users)];
        if (lu->phase != UP_READY)
            continue;
        *user = lu->idx;
        *ms_idx = LOAD_NONE;
        if (k == RK_SEARCH)
            return true;
        int usable = 0;
        for (int i = 0; i < lu->n_rooms; i++) {
            uint8_t s = lu->rooms[i].state;
            usable += s == MS_JOINED || (k == RK_JOIN && s == MS_NONE);
        }
        if (usable == 0)
            continue;
        uint32_t n = load_rand_below(L, (uint32_t)usable);
        for (int i = 0; i < lu->n_rooms; i++) {
            uint8_t s = lu->rooms[i].state;
            if ((s == MS_JOINED || (k == RK_JOIN && s == MS_NONE)) && n-- == 0) {
                *ms_idx = (uint32_t)i;
                return true;
            }
        }
    }
    return false;
}

static void offer(struct load *L, enum req_kind k, int64_t intended_us)
{
    struct kind_stats *ks = &L->ks[k];
    struct second *sec = second_at(L, intended_us);
    int64_t now = sc_now_us();
    ks->offered++;
    if (sec)
        sec->offered++;
    hist_add(&L->lag_us, now - intended_us);
    if (L->reqs_in_use + (uint32_t)L->heap_len >= (uint32_t)L->o.max_outstanding) {
        ks->dropped++;
        return;
    }
    uint32_t user, ms_idx;
    if (!pick(L, k, &user, &ms_idx)) {
        ks->skipped++;
        return;
    }
    struct luser *lu = &L->users[user];
    enum req_kind send_kind = k;
    uint32_t arg = ms_idx;
    if (k == RK_POST) {
        arg = post_new(L, user, ms_idx, intended_us);
        if (arg == LOAD_NONE) {
            ks->dropped++;
            return;
        }
    } else if (k == RK_JOIN && lu->rooms[ms_idx].state == MS_JOINED) {
        send_kind = RK_PART;          /* a re-join: part first, the join follows its rpl:part */
    }
    if (!L->o.no_retry && lu->backoff_until[backoff_class(k)] > now) {
        /* this user was told to wait (Retry-After): it holds the request until then */
        ks->deferred++;
        struct timed t = { .due_us = lu->backoff_until[backoff_class(k)], .intended_us = intended_us,
                           .user = user, .arg = arg, .kind = (uint8_t)send_kind, .attempt = 0 };
        timed_push(L, &t);
        return;
    }
    if (!request_send(L, user, send_kind, arg, 0, intended_us) && k == RK_POST)
        L->posts[arg].state = PS_FAILED;
}

static void run_progress(const struct load *L, int64_t now)
{
    int64_t t = (now - L->run_start_us) / 1000000;
    const struct second *s = t > 0 && t <= L->n_seconds ? &L->series[t - 1] : NULL;
    if (!s)
        return;
    fprintf(stderr, "pchat-load: %4lld s  offered %llu  accepted %llu  503 %llu  timeouts %llu  failed %llu  "
            "deliveries %llu (+%llu echoes)  in flight %u\n",
            (long long)t, (unsigned long long)s->offered, (unsigned long long)s->accepted,
            (unsigned long long)s->rejected_503, (unsigned long long)s->timeouts,
            (unsigned long long)s->failed, (unsigned long long)s->deliveries,
            (unsigned long long)s->echoes, L->reqs_in_use);
}

/* What the run and the drain both do between events: sweep requests that timed out (every
 * 250 ms) and print the progress line (every second, when asked for). */
static void housekeeping(struct load *L, int64_t now, bool progress, int64_t *last_sweep,
                         int64_t *last_progress)
{
    if (now - *last_sweep >= 250000) {
        requests_sweep(L, now);
        *last_sweep = now;
    }
    if (progress && now - *last_progress >= 1000000) {
        run_progress(L, now);
        *last_progress = now;
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int run_phase(struct load *L)
{
    const struct load_opts *o = &L->o;
    bool progress = o->progress > 0 || (o->progress < 0 && isatty(2));
    L->n_seconds = (int)ceil(o->duration_s + o->drain_s) + 2;
    L->series = calloc((size_t)L->n_seconds, sizeof *L->series);
    if (!L->series)
        return -1;
    L->run_start_us = sc_now_us();
    L->run_end_us = L->run_start_us + (int64_t)(o->duration_s * 1e6);
    L->running = true;

    int64_t next[RK_SCHEDULED];
    for (int k = 0; k < RK_SCHEDULED; k++)
        next[k] = o->rate[k] > 0 ? L->run_start_us + gap_us(L, k) : INT64_MAX;
    int64_t last_sweep = L->run_start_us, last_progress = L->run_start_us;

    for (;;) {
        int64_t now = sc_now_us();
        if (load_interrupted) {
            L->run_end_us = now;        /* the schedule ends here; the drain still runs */
            break;
        }
        if (now >= L->run_end_us)
            break;
        for (int k = 0; k < RK_SCHEDULED; k++)
            for (; next[k] <= now && next[k] < L->run_end_us; next[k] += gap_us(L, k))
                offer(L, k, next[k]);
        timed_run_due(L, now);
        actions_run(L);
        housekeeping(L, now, progress, &last_sweep, &last_progress);
        int64_t due = L->run_end_us;
        for (int k = 0; k < RK_SCHEDULED; k++)
            due = min64(due, next[k]);
        loop_turn(L, min64(due, timed_next_due(L)));
    }

    /* the drain: no new events; answers, replies, retries and deliveries may still land */
    L->running = false;
    L->drain_end_us = L->run_end_us + (int64_t)(o->drain_s * 1e6);
    for (;;) {
        int64_t now = sc_now_us();
        if (now >= L->drain_end_us || load_interrupted > 1)
            break;
        bool idle = L->reqs_in_use == 0 && L->heap_len == 0
                    && now - L->last_delivery_us >= 1000000 && now - L->run_end_us >= 1000000;
        if (idle)
            break;
        timed_run_due(L, now);
        actions_run(L);
        housekeeping(L, now, progress, &last_sweep, &last_progress);
        loop_turn(L, min64(L->drain_end_us, min64(timed_next_due(L), now + 100000)));
    }
    L->drain_end_us = sc_now_us();
    L->drain_cut = L->drain_end_us - L->last_delivery_us < 1000000;

    /* what never came back: retries not sent in time, requests without an answer */
    while (L->heap_len > 0) {
        struct timed t = L->heap[--L->heap_len];
        L->ks[t.kind].dropped++;
        if (t.kind == RK_POST && L->posts[t.arg].state == PS_PENDING)
            L->posts[t.arg].state = PS_FAILED;
    }
    for (int u = 0; u < L->n_users; u++)
        requests_abandon_user(L, &L->users[u]);
    return 0;
}
