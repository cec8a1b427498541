/* router.c — requests to channel workers over the ROUTER socket: credit-based dispatch,
 * heartbeats, re-dispatch of a dead worker's requests, deadlines (DESIGN.md §2).
 *
 * A session's requests go one at a time, in order, so two posts of one user can never be
 * committed in the opposite order by two workers. Requests are idempotent by (front end,
 * incarnation, request id): re-dispatching after a worker died never stores twice. */
#include "fe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "log.h"
#include "sbuf.h"
#include "util.h"
#include "wire.h"

#define DRAIN_BUDGET 256

/* ---- the ready queue (waiting for credit) ------------------------------------------- */

static void ready_push_back(struct fe *fe, struct fe_request *r)
{
    r->next = NULL;
    r->prev = fe->ready_tail;
    if (fe->ready_tail)
        fe->ready_tail->next = r;
    else
        fe->ready_head = r;
    fe->ready_tail = r;
    fe->ready_len++;
    r->queued = mono_us();
}

/* Put a request back (re-dispatch, retry) where its id belongs: the ready queue stays in
 * request order, which is each session's order, so a session's requests can never overtake
 * one another even when a worker dies between them. */
static void ready_insert_sorted(struct fe *fe, struct fe_request *r)
{
    struct fe_request *at = fe->ready_head;
    while (at && at->id < r->id)
        at = at->next;
    if (!at) {
        int64_t queued = r->queued;
        ready_push_back(fe, r);
        r->queued = queued ? queued : r->queued;
        return;
    }
    r->next = at;
    r->prev = at->prev;
    if (at->prev)
        at->prev->next = r;
    else
        fe->ready_head = r;
    at->prev = r;
    fe->ready_len++;
}

static void worker_died(struct fe *fe, int wi, int64_t silent_ms);

static void ready_remove(struct fe *fe, struct fe_request *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        fe->ready_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        fe->ready_tail = r->prev;
    r->next = r->prev = NULL;
    fe->ready_len--;
}

/* ---- requests ------------------------------------------------------------------------ */

struct fe_request *request_new(struct fe *fe, enum req_purpose purpose, uint64_t session_id)
{
    struct fe_request *r = xcalloc(1, sizeof *r);
    r->id = fe->next_request_id++;
    r->purpose = purpose;
    r->session_id = session_id;
    r->worker = -1;
    r->created = mono_us();
    /* session teardown and resets must never be dropped: they wait as long as it takes */
    if (purpose == REQ_SESSION_END || purpose == REQ_FRONTEND_RESET)
        r->deadline = INT64_MAX;
    else
        r->deadline = r->created + (int64_t)fe->cfg->frontend.request_timeout_ms * 1000;
    return r;
}

void request_free(struct fe_request *r)
{
    if (r->pending)   /* a held SIP request nobody answered yet: answer it now */
        sip_policy_answered(NULL, r, 503);
    free(r->answer.headers);
    if (r->answer.saved_valid)
        nua_destroy_event(r->answer.saved);
    free(r->user_uri);
    free(r->body);
    free(r);
}

void request_answer(struct fe *fe, struct fe_request *r, int status, const char *reason,
                    int retry_after)
{
    if (!r->held)
        return;
    r->held = false;
    answer_send(fe, session_get(fe, r->session_id), &r->answer, status, reason, retry_after);
}

/* ---- workers ------------------------------------------------------------------------- */

int router_live_workers(const struct fe *fe)
{
    int n = 0;
    for (int i = 0; i < fe->n_workers; i++)
        n += fe->workers[i].alive;
    return n;
}

static int worker_find(struct fe *fe, const unsigned char *id, size_t len)
{
    for (int i = 0; i < fe->n_workers; i++)
        if (fe->workers[i].ident_len == len && memcmp(fe->workers[i].ident, id, len) == 0)
            return i;
    return -1;
}

static int worker_add(struct fe *fe, const unsigned char *id, size_t len)
{
    /* reuse the slot of a worker that died long ago before growing the table */
    int slot = -1;
    for (int i = 0; i < fe->n_workers; i++)
        if (!fe->workers[i].alive && fe->workers[i].inflight == 0) {
            slot = i;
            break;
        }
    if (slot < 0) {
        if (fe->n_workers == FE_MAX_WORKERS)
            return -1;
        slot = fe->n_workers++;
    }
    struct fe_worker *w = &fe->workers[slot];
    memset(w, 0, sizeof *w);
    memcpy(w->ident, id, len);
    w->ident_len = len;
    return slot;
}

static void worker_send(struct fe *fe, int idx, const Pchat__ToWorker *m)
{
    struct fe_worker *w = &fe->workers[idx];
    if (wire_send_to_worker(fe->router, w->ident, w->ident_len, m) < 0 && errno == EHOSTUNREACH)
        w->last_seen = 0;   /* gone: the janitor declares it dead */
}

static void build_request(struct fe *fe, struct fe_request *r, Pchat__Request *q)
{
    struct fe_session *s = session_get(fe, r->session_id);
    pchat__request__init(q);
    q->request_id = r->id;
    q->frontend_id = fe->id;
    q->incarnation = fe->incarnation;
    q->session_id = r->session_id;
    q->user_uri = r->user_uri ? r->user_uri : s ? s->user_uri : "";
    q->user_agent = s ? s->user_agent : "";
    q->service_uri = s ? s->service_uri : "";
    q->deadline_us = r->deadline == INT64_MAX ? 0 : now_us() + (r->deadline - mono_us());
    q->attempt = r->attempt;
    switch (r->purpose) {
    case REQ_CLIENT:
        q->kind = PCHAT__REQUEST__KIND__XCCOS;
        q->xccos.data = r->body;
        q->xccos.len = r->body_len;
        break;
    case REQ_SESSION_END:
        q->kind = PCHAT__REQUEST__KIND__SESSION_END;
        break;
    case REQ_ROOM_FETCH:
        q->kind = PCHAT__REQUEST__KIND__FETCH_RANGE;
        q->room_id = r->room_id;
        q->from_seq = r->from_seq;
        q->to_seq = r->to_seq;
        break;
    case REQ_FRONTEND_RESET:
        q->kind = PCHAT__REQUEST__KIND__FRONTEND_RESET;
        break;
    case REQ_POLICY:
        q->kind = PCHAT__REQUEST__KIND__POLICY;
        break;
    case REQ_NODE_STATUS:
        q->kind = PCHAT__REQUEST__KIND__NODE_STATUS;
        q->node_address = fe->address;
        q->node_sessions = (uint32_t)fe->sessions.count;
        q->node_workers = (uint32_t)router_live_workers(fe);
        q->node_state = fe->state;
        break;
    }
}

static int pick_worker(struct fe *fe)
{
    int best = -1;
    for (int i = 0; i < fe->n_workers; i++) {
        struct fe_worker *w = &fe->workers[i];
        if (w->alive && w->credit > 0 && (best < 0 || w->credit > fe->workers[best].credit))
            best = i;
    }
    return best;
}

/* Requests a session may have queued for or at a worker at once. They all go to one worker
 * (the session's pin), whose queue runs them in order, so a burst of posts is pipelined
 * without ever being reordered. */
#define SESSION_PIPELINE 8
/* Ready requests looked at per dispatch round (past a pinned one whose worker is full). */
#define DISPATCH_SCAN 256

static void try_dispatch(struct fe *fe)
{
    int scanned = 0;
    for (struct fe_request *r = fe->ready_head, *next; r && scanned < DISPATCH_SCAN; r = next) {
        next = r->next;
        scanned++;
        struct fe_session *s = r->counted ? session_get(fe, r->session_id) : NULL;
        int wi;
        if (s && s->pinned >= 0 && fe->workers[s->pinned].alive) {
            wi = s->pinned;
            if (fe->workers[wi].credit <= 0)
                continue;   /* waits for its own worker; others may go ahead */
        } else {
            wi = pick_worker(fe);
            if (wi < 0)
                return;     /* no credit anywhere */
        }
        ready_remove(fe, r);
        Pchat__Request q;
        build_request(fe, r, &q);
        Pchat__ToWorker m = PCHAT__TO_WORKER__INIT;
        m.body_case = PCHAT__TO_WORKER__BODY_REQUEST;
        m.request = &q;
        struct fe_worker *w = &fe->workers[wi];
        if (wire_send_to_worker(fe->router, w->ident, w->ident_len, &m) < 0) {
            log_warn("worker %s cannot take a request (%s); trying another", w->name,
                     zmq_strerror(errno));
            ready_insert_sorted(fe, r);
            worker_died(fe, wi, -1);   /* its requests go back in order, before this one */
            next = fe->ready_head;
            scanned = 0;
            continue;
        }
        if (s)
            s->pinned = wi;
        fe->tick_dispatched++;
        r->worker = wi;
        w->credit--;
        w->inflight++;
        hmap_put(&fe->inflight, r->id, r);
        histogram_observe(&fe->stats.queue_delay, (double)(mono_us() - r->queued) / 1e6);
    }
}

/* One of the session's pipelined requests is done: let the next waiting ones in. */
static void session_done(struct fe *fe, struct fe_session *s)
{
    if (--s->req_inflight == 0)
        s->pinned = -1;   /* nothing in flight: its next request may go to any worker */
    while (s->req_head && s->req_inflight < SESSION_PIPELINE) {
        struct fe_request *n = s->req_head;
        s->req_head = n->next;
        if (!s->req_head)
            s->req_tail = NULL;
        s->req_len--;
        fe->session_queued--;
        s->req_inflight++;
        n->counted = true;
        ready_push_back(fe, n);
    }
    if (s->req_inflight == 0)
        session_release_if_done(fe, s);
}

void router_submit(struct fe *fe, struct fe_request *r)
{
    struct fe_session *s = NULL;
    if (r->purpose == REQ_CLIENT || r->purpose == REQ_SESSION_END)
        s = session_get(fe, r->session_id);
    if (s && (s->req_inflight >= SESSION_PIPELINE || s->req_head)) {
        r->next = NULL;
        r->prev = s->req_tail;
        if (s->req_tail)
            s->req_tail->next = r;
        else
            s->req_head = r;
        s->req_tail = r;
        s->req_len++;
        fe->session_queued++;
        return;
    }
    if (s) {
        s->req_inflight++;
        r->counted = true;
    }
    ready_push_back(fe, r);
    try_dispatch(fe);
}

/* ---- replies --------------------------------------------------------------------------- */

/* A request that will not get a worker's answer in time: tell the client precisely. */
static void request_fail(struct fe *fe, struct fe_request *r, const char *why)
{
    struct fe_session *s = session_get(fe, r->session_id);
    if (r->purpose == REQ_CLIENT) {
        fe->stats.late_answers++;
        fe->stats.answered_by_cmd[r->cmd][2]++;
        if (r->held) {
            request_answer(fe, r, 503, why, admit_retry_after(fe));
        } else if (s && !s->ended) {
            struct xccos_cmd *cmd = NULL;
            char err[128];
            if (xccos_cmd_parse((const char *)r->body, r->body_len, &xdoc_default_limits, &cmd,
                                err, sizeof err) != XCCOS_EXML && cmd) {
                struct sbuf b;
                sbuf_init(&b, 4096);
                xccos_render_error(&b, random_u64() >> 1, cmd, 503, why);
                session_send(fe, s, b.data, b.len);
                sbuf_free(&b);
            }
            xccos_cmd_free(cmd);
        }
    }
    if (r->purpose == REQ_ROOM_FETCH)
        rooms_fetched(fe, r->room_id, NULL, 0);
    if (r->purpose == REQ_POLICY)
        sip_policy_answered(fe, r, 503);
    if (s && r->counted)
        session_done(fe, s);
    request_free(r);
}

static void handle_reply(struct fe *fe, Pchat__Reply *rep)
{
    struct fe_request *r = hmap_del(&fe->inflight, rep->request_id);
    if (!r) {
        /* answered twice: it was re-dispatched when its first worker looked dead */
        log_debug("late reply to request %llu ignored", (unsigned long long)rep->request_id);
        return;
    }
    if (r->worker >= 0) {
        struct fe_worker *w = &fe->workers[r->worker];
        w->inflight--;
        if (w->alive)
            w->credit++;
    }
    fe->stats.replies++;
    struct fe_session *s = session_get(fe, r->session_id);
    switch (r->purpose) {
    case REQ_CLIENT:
        histogram_observe(&fe->stats.request_latency, (double)(mono_us() - r->created) / 1e6);
        fe->stats.answered_by_cmd[r->cmd][rep->sip_status == 0 || rep->sip_status == 200 ? 0
                                          : rep->sip_status >= 500 ? 2 : 1]++;
        if (r->held)
            request_answer(fe, r, rep->sip_status ? (int)rep->sip_status : 200, rep->sip_reason,
                           (int)rep->retry_after_s);
        if (s && !s->ended) {
            for (size_t i = 0; i < rep->n_joined; i++)
                session_joined(fe, s, rep->joined[i]->room_id, rep->joined[i]->seq,
                               rep->joined[i]->room_uri);
            for (size_t i = 0; i < rep->n_parted; i++)
                session_parted(fe, s, rep->parted[i]);
            for (size_t i = 0; i < rep->n_documents; i++)
                session_send(fe, s, rep->documents[i].data, rep->documents[i].len);
        }
        /* the events this request committed (also published): delivered here if the
           publication has not come yet, dropped by sequence number if it has */
        for (size_t i = 0; i < rep->n_events; i++)
            rooms_notice(fe, rep->events[i]);
        break;
    case REQ_ROOM_FETCH:
        rooms_fetched(fe, r->room_id, rep->events, rep->n_events);
        break;
    case REQ_SESSION_END:
    case REQ_FRONTEND_RESET:
        if (rep->sip_status == 503) {
            /* the store is away: these must not be lost, so try again in a second */
            r->worker = -1;
            r->not_before = mono_us() + 1000000;
            r->next = fe->retry_head;
            fe->retry_head = r;
            return;
        }
        break;
    case REQ_POLICY:
        sip_policy_answered(fe, r, (int)rep->sip_status);
        break;
    case REQ_NODE_STATUS:
        if (rep->sip_status == 200 && rep->sip_reason &&
            (strcmp(rep->sip_reason, "active") == 0 || strcmp(rep->sip_reason, "draining") == 0) &&
            strcmp(rep->sip_reason, fe->state) != 0) {
            log_info("node state is now %s (set by an operator)", rep->sip_reason);
            snprintf(fe->state, sizeof fe->state, "%s", rep->sip_reason);
        }
        break;
    }
    if (s && r->counted)
        session_done(fe, s);
    request_free(r);
}

static void handle_hello(struct fe *fe, const unsigned char *id, size_t id_len, Pchat__Hello *h)
{
    int wi = worker_find(fe, id, id_len);
    if (wi < 0)
        wi = worker_add(fe, id, id_len);
    if (wi < 0) {
        log_error("cannot accept worker %s: %d workers is the limit", h->worker_id, FE_MAX_WORKERS);
        return;
    }
    struct fe_worker *w = &fe->workers[wi];
    bool was_alive = w->alive;
    snprintf(w->name, sizeof w->name, "%s", h->worker_id);
    int credit = (int)h->credit - w->inflight;
    w->credit = credit > 0 ? credit : 0;
    w->alive = true;
    w->last_seen = mono_us();
    if (!was_alive)
        log_info("worker %s connected (credit %u)", w->name, h->credit);
    Pchat__Welcome wel = PCHAT__WELCOME__INIT;
    wel.frontend_id = fe->id;
    wel.incarnation = fe->incarnation;
    Pchat__ToWorker m = PCHAT__TO_WORKER__INIT;
    m.body_case = PCHAT__TO_WORKER__BODY_WELCOME;
    m.welcome = &wel;
    worker_send(fe, wi, &m);
    if (!fe->reset_sent) {
        /* forget what an earlier run of this front end left in the store (its sessions are
           gone): their members leave their rooms */
        fe->reset_sent = true;
        router_submit(fe, request_new(fe, REQ_FRONTEND_RESET, 0));
    }
}

void router_drain(struct fe *fe)
{
    unsigned char id[FE_WORKER_ID_MAX];
    size_t id_len;
    for (int n = 0; n < DRAIN_BUDGET; n++) {
        Pchat__ToFrontend *m = wire_recv_to_frontend(fe->router, id, sizeof id, &id_len);
        if (!m) {
            if (errno == EAGAIN)
                goto done;
            continue;
        }
        int wi = worker_find(fe, id, id_len);
        if (wi >= 0)
            fe->workers[wi].last_seen = mono_us();
        switch (m->body_case) {
        case PCHAT__TO_FRONTEND__BODY_HELLO:
            handle_hello(fe, id, id_len, m->hello);
            break;
        case PCHAT__TO_FRONTEND__BODY_REPLY:
            handle_reply(fe, m->reply);
            break;
        case PCHAT__TO_FRONTEND__BODY_NOTICE:
            rooms_notice(fe, m->notice);
            break;
        case PCHAT__TO_FRONTEND__BODY_HEARTBEAT:
            if (wi >= 0 && !fe->workers[wi].alive)
                log_debug("heartbeat from worker %s, which has to say hello again",
                          fe->workers[wi].name);
            break;
        default:
            break;
        }
        pchat__to_frontend__free_unpacked(m, NULL);
    }
    zmq_su_rearm(fe);
done:
    try_dispatch(fe);
}

/* ---- janitor ----------------------------------------------------------------------------- */

static void worker_died(struct fe *fe, int wi, int64_t silent_ms)
{
    struct fe_worker *w = &fe->workers[wi];
    w->alive = false;
    w->credit = 0;
    int n = 0;
    size_t pos = 0;
    uint64_t key;
    void *v;
    while (hmap_next(&fe->inflight, &pos, &key, &v)) {
        struct fe_request *r = v;
        if (r->worker != wi)
            continue;
        hmap_del(&fe->inflight, key);
        r->worker = -1;
        r->attempt++;
        w->inflight--;
        fe->stats.redispatched++;
        ready_insert_sorted(fe, r);
        n++;
    }
    /* sessions pinned to it pick a new worker with their oldest request */
    pos = 0;
    while (hmap_next(&fe->sessions, &pos, NULL, &v)) {
        struct fe_session *s = v;
        if (s->pinned == wi)
            s->pinned = -1;
    }
    if (silent_ms < 0)
        log_warn("worker %s is unreachable: declared dead, re-dispatching its %d requests",
                 w->name, n);
    else
        log_warn("worker %s silent for %lld ms: declared dead, re-dispatching its %d requests",
                 w->name, (long long)silent_ms, n);
}

void router_janitor(struct fe *fe)
{
    int64_t now = mono_us();
    static int64_t last_heartbeat;
    int64_t hb = (int64_t)fe->cfg->frontend.heartbeat_ms * 1000;
    int64_t timeout = (int64_t)fe->cfg->frontend.worker_timeout_ms * 1000;
    for (int i = 0; i < fe->n_workers; i++) {
        struct fe_worker *w = &fe->workers[i];
        if (w->alive && now - w->last_seen > timeout)
            worker_died(fe, i, w->last_seen ? (now - w->last_seen) / 1000 : -1);
    }
    if (now - last_heartbeat >= hb) {
        last_heartbeat = now;
        Pchat__Heartbeat h = PCHAT__HEARTBEAT__INIT;
        h.sent_us = (uint64_t)now_us();
        Pchat__ToWorker m = PCHAT__TO_WORKER__INIT;
        m.body_case = PCHAT__TO_WORKER__BODY_HEARTBEAT;
        m.heartbeat = &h;
        for (int i = 0; i < fe->n_workers; i++)
            if (fe->workers[i].alive)
                worker_send(fe, i, &m);
    }
    /* store jobs that failed for want of a store go again when due */
    for (struct fe_request **pp = &fe->retry_head; *pp;) {
        struct fe_request *r = *pp;
        if (r->not_before > now) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        r->not_before = 0;
        ready_insert_sorted(fe, r);
    }
    /* this node's state for pchatctl pool status; the answer carries the wanted state */
    if (now - fe->last_report >= 5000000 && router_live_workers(fe) > 0) {
        fe->last_report = now;
        router_submit(fe, request_new(fe, REQ_NODE_STATUS, 0));
    }
    /* every wait has a deadline: requests still waiting for credit past it are answered */
    for (struct fe_request *r = fe->ready_head, *next; r; r = next) {
        next = r->next;
        if (now > r->deadline) {
            ready_remove(fe, r);
            request_fail(fe, r, router_live_workers(fe) ? "the chat service is busy; try again"
                                                        : "no channel worker is available");
        }
    }
    try_dispatch(fe);
}

/* ---- sockets ----------------------------------------------------------------------------- */

/* A worker's TCP connection closed: find out at once which worker it was, instead of
 * waiting for its heartbeats to stop. With ROUTER_MANDATORY a send to a peer whose pipe is
 * gone fails with EHOSTUNREACH, so a heartbeat to each worker tells. */
static void monitor_drain(struct fe *fe)
{
    bool disconnected = false;
    for (int n = 0; n < 64; n++) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, fe->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        if (zmq_msg_size(&ev) >= 2) {
            uint16_t id;
            memcpy(&id, zmq_msg_data(&ev), sizeof id);
            disconnected |= id == ZMQ_EVENT_DISCONNECTED;
        }
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {   /* the endpoint frame */
            zmq_msg_t addr;
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, fe->monitor, ZMQ_DONTWAIT);
            zmq_msg_close(&addr);
        }
    }
    if (!disconnected)
        return;
    Pchat__Heartbeat h = PCHAT__HEARTBEAT__INIT;
    h.sent_us = (uint64_t)now_us();
    Pchat__ToWorker m = PCHAT__TO_WORKER__INIT;
    m.body_case = PCHAT__TO_WORKER__BODY_HEARTBEAT;
    m.heartbeat = &h;
    for (int i = 0; i < fe->n_workers; i++)
        if (fe->workers[i].alive)
            worker_send(fe, i, &m);
    router_janitor(fe);
}

int router_open(struct fe *fe)
{
    fe->zctx = zmq_ctx_new();
    fe->router = zmq_socket(fe->zctx, ZMQ_ROUTER);
    wire_socket_defaults(fe->router);
    int one = 1;
    /* an unroutable send must fail, not vanish (default ROUTER behaviour is a silent drop) */
    zmq_setsockopt(fe->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (zmq_bind(fe->router, fe->cfg->frontend.router) < 0) {
        log_error("cannot bind frontend.router %s: %s", fe->cfg->frontend.router,
                  zmq_strerror(errno));
        return -1;
    }
    fe->router_wait = zmq_su_register(fe, fe->router, router_drain);
    if (fe->router_wait < 0)
        return -1;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://router-monitor-%p", (void *)fe);
    if (zmq_socket_monitor(fe->router, ep, ZMQ_EVENT_DISCONNECTED) == 0) {
        fe->monitor = zmq_socket(fe->zctx, ZMQ_PAIR);
        wire_socket_defaults(fe->monitor);
        if (zmq_connect(fe->monitor, ep) == 0)
            fe->monitor_wait = zmq_su_register(fe, fe->monitor, monitor_drain);
    }
    return 0;
}

void router_close(struct fe *fe)
{
    if (fe->monitor_wait > 0)
        zmq_su_unregister(fe, fe->monitor_wait);
    if (fe->router_wait > 0)
        zmq_su_unregister(fe, fe->router_wait);
    fe->router_wait = fe->monitor_wait = 0;
    if (fe->router)
        zmq_socket_monitor(fe->router, NULL, 0);
    if (fe->monitor)
        zmq_close(fe->monitor);
    fe->monitor = NULL;
    while (fe->ready_head) {
        struct fe_request *r = fe->ready_head;
        ready_remove(fe, r);
        request_free(r);
    }
    size_t pos = 0;
    void *v;
    while (hmap_next(&fe->inflight, &pos, NULL, &v))
        request_free(v);
    hmap_free(&fe->inflight);
    while (fe->retry_head) {
        struct fe_request *r = fe->retry_head;
        fe->retry_head = r->next;
        request_free(r);
    }
    if (fe->router)
        zmq_close(fe->router);
    if (fe->sub)
        zmq_close(fe->sub);
    fe->router = fe->sub = NULL;
    if (fe->zctx)
        zmq_ctx_term(fe->zctx);
    fe->zctx = NULL;
}
