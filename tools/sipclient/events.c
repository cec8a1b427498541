/* events.c — per-user event delivery: the on_event callback first, then a bounded queue tests
 * wait on (overflow drops the newest and counts it). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sc_internal.h"

struct sc_event *sc_event_new(enum sc_event_kind kind)
{
    struct sc_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->kind = kind;
    ev->at_us = sc_now_us();
    ev->retry_after = -1;
    ev->xid = "";
    ev->resp_text = "";
    ev->method = NULL;
    return ev;
}

void sc_event_free(struct sc_event *ev)
{
    if (!ev)
        return;
    free((char *)ev->text);
    free((char *)ev->method);
    free((char *)ev->raw);
    if (ev->doc)
        xdoc_free(ev->doc);
    free(ev);
}

void sc_emit(struct sc_user *u, struct sc_event *ev)
{
    if (!ev)
        return;
    if (u->opts.on_event)
        u->opts.on_event(u, ev, u->opts.on_event_arg);
    if (u->opts.event_queue_max < 0) {
        sc_event_free(ev);
        return;
    }
    if (u->q_len >= u->opts.event_queue_max) {
        u->dropped++;
        sc_event_free(ev);
        return;
    }
    if (u->q_len == u->q_cap) {
        int cap = u->q_cap ? u->q_cap * 2 : 64;
        struct sc_event **q = realloc(u->q, (size_t)cap * sizeof(*q));
        if (!q) {
            u->dropped++;
            sc_event_free(ev);
            return;
        }
        u->q = q;
        u->q_cap = cap;
    }
    u->q[u->q_len++] = ev;
}

static struct sc_event *take(struct sc_user *u, int i)
{
    struct sc_event *ev = u->q[i];
    memmove(&u->q[i], &u->q[i + 1], (size_t)(u->q_len - i - 1) * sizeof(*u->q));
    u->q_len--;
    return ev;
}

struct sc_event *sc_user_next_event(struct sc_user *u)
{
    return u->q_len > 0 ? take(u, 0) : NULL;
}

int sc_user_queued(const struct sc_user *u)
{
    return u->q_len;
}

uint64_t sc_user_events_dropped(const struct sc_user *u)
{
    return u->dropped;
}

struct waiter {
    struct sc_user *u;
    sc_event_pred pred;
    void *arg;
    int scanned;
    int found;
};

static bool waiter_done(void *p)
{
    struct waiter *w = p;
    for (; w->scanned < w->u->q_len; w->scanned++) {
        if (w->pred(w->u->q[w->scanned], w->arg)) {
            w->found = w->scanned;
            return true;
        }
    }
    return false;
}

struct sc_event *sc_wait_for(struct sc_user *u, sc_event_pred pred, void *arg, int timeout_ms)
{
    struct waiter w = { .u = u, .pred = pred, .arg = arg, .scanned = 0, .found = -1 };
    if (!waiter_done(&w))
        sc_loop_run(u->loop, timeout_ms, waiter_done, &w);
    return w.found >= 0 ? take(u, w.found) : NULL;
}

static bool xid_is(const struct sc_event *ev, void *arg)
{
    return ev->kind == SC_EV_SERVER_INFO && strcasecmp(ev->xid, (const char *)arg) == 0;
}

struct sc_event *sc_wait_xid(struct sc_user *u, const char *xid, int timeout_ms)
{
    return sc_wait_for(u, xid_is, (void *)xid, timeout_ms);
}

static bool answer_is(const struct sc_event *ev, void *arg)
{
    return ev->kind == SC_EV_ANSWER && ev->cseq == *(const uint32_t *)arg;
}

struct sc_event *sc_wait_answer(struct sc_user *u, uint32_t cseq, int timeout_ms)
{
    return sc_wait_for(u, answer_is, &cseq, timeout_ms);
}
