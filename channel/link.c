/* link.c — the worker's connections to its front ends: one DEALER per front end for
 * requests (Hello with credit until welcomed, then heartbeats), and one PUB connected to
 * every front end's SUB for room events (DESIGN.md §2). */
#include "ch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "util.h"
#include "wire.h"

/* A new PUB connection drops what is published before the front end's subscriptions reach
 * it; wait this long after connecting before saying Hello (and so before any publishing). */
#define SETTLE_US (300 * 1000)

static int64_t started;

static void send_hello(struct ch *ch, struct ch_link *l)
{
    Pchat__Hello h = PCHAT__HELLO__INIT;
    h.worker_id = ch->id;
    h.credit = (uint32_t)ch->cfg->channel.credit;
    h.started_us = (uint64_t)started;
    Pchat__ToFrontend m = PCHAT__TO_FRONTEND__INIT;
    m.body_case = PCHAT__TO_FRONTEND__BODY_HELLO;
    m.hello = &h;
    wire_send_to_frontend(l->dealer, &m);
    l->last_sent = mono_us();
}

static void send_heartbeat(struct ch_link *l)
{
    Pchat__Heartbeat h = PCHAT__HEARTBEAT__INIT;
    h.sent_us = (uint64_t)now_us();
    Pchat__ToFrontend m = PCHAT__TO_FRONTEND__INIT;
    m.body_case = PCHAT__TO_FRONTEND__BODY_HEARTBEAT;
    m.heartbeat = &h;
    wire_send_to_frontend(l->dealer, &m);
    l->last_sent = mono_us();
}

int links_open(struct ch *ch)
{
    started = mono_us();
    ch->zctx = zmq_ctx_new();
    ch->pub = zmq_socket(ch->zctx, ZMQ_PUB);
    wire_socket_defaults(ch->pub);
    for (int i = 0; i < ch->cfg->channel.n_frontends; i++) {
        const struct config_frontend_ref *ref = &ch->cfg->channel.frontends[i];
        struct ch_link *l = &ch->links[ch->n_links++];
        memset(l, 0, sizeof *l);
        l->ref = ref;
        l->dealer = zmq_socket(ch->zctx, ZMQ_DEALER);
        wire_socket_defaults(l->dealer);
        zmq_setsockopt(l->dealer, ZMQ_ROUTING_ID, ch->id, strlen(ch->id));
        int ivl = 1000;
        zmq_setsockopt(l->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
        if (zmq_connect(l->dealer, ref->router) < 0) {
            log_error("cannot connect to front end %s at %s: %s", ref->id, ref->router,
                      zmq_strerror(errno));
            return -1;
        }
        if (zmq_connect(ch->pub, ref->events) < 0) {
            log_error("cannot connect to front end %s events at %s: %s", ref->id, ref->events,
                      zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

void links_close(struct ch *ch)
{
    for (int i = 0; i < ch->n_links; i++)
        zmq_close(ch->links[i].dealer);
    if (ch->pub)
        zmq_close(ch->pub);
    ch->n_links = 0;
    ch->pub = NULL;
    if (ch->zctx)
        zmq_ctx_term(ch->zctx);
    ch->zctx = NULL;
}

static void enqueue(struct ch *ch, int link, Pchat__ToWorker *m)
{
    struct ch_job *j = xcalloc(1, sizeof *j);
    j->link = link;
    j->received = mono_us();
    j->msg = m;
    if (ch->jobs_tail)
        ch->jobs_tail->next = j;
    else
        ch->jobs_head = j;
    ch->jobs_tail = j;
    ch->n_jobs++;
}

static void read_link(struct ch *ch, int i)
{
    struct ch_link *l = &ch->links[i];
    for (int n = 0; n < 1024; n++) {
        Pchat__ToWorker *m = wire_recv_to_worker(l->dealer);
        if (!m) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        l->last_heard = mono_us();
        switch (m->body_case) {
        case PCHAT__TO_WORKER__BODY_WELCOME:
            if (!l->welcomed)
                log_info("front end %s (%s) welcomed us", m->welcome->frontend_id, l->ref->router);
            l->welcomed = true;
            snprintf(l->frontend_id, sizeof l->frontend_id, "%s", m->welcome->frontend_id);
            pchat__to_worker__free_unpacked(m, NULL);
            break;
        case PCHAT__TO_WORKER__BODY_REQUEST:
            enqueue(ch, i, m);   /* the job owns m */
            break;
        default:
            pchat__to_worker__free_unpacked(m, NULL);
            break;
        }
    }
}

void links_poll_in(struct ch *ch, int timeout_ms)
{
    zmq_pollitem_t items[CONFIG_MAX_FRONTENDS + METRICS_MAX_CONNECTIONS + 2];
    for (int i = 0; i < ch->n_links; i++)
        items[i] = (zmq_pollitem_t){ ch->links[i].dealer, 0, ZMQ_POLLIN, 0 };
    int n_stats = stats_poll_items(ch, items + ch->n_links, METRICS_MAX_CONNECTIONS + 2);
    if (zmq_poll(items, ch->n_links + n_stats, timeout_ms) < 0)
        return;
    for (int i = 0; i < ch->n_links; i++)
        if (items[i].revents & ZMQ_POLLIN)
            read_link(ch, i);
    stats_handle(ch, items + ch->n_links, n_stats);
}

void links_tick(struct ch *ch)
{
    int64_t now = mono_us();
    if (now - started < SETTLE_US)
        return;
    int64_t hb = (int64_t)ch->cfg->channel.heartbeat_ms * 1000;
    int64_t timeout = (int64_t)ch->cfg->channel.frontend_timeout_ms * 1000;
    for (int i = 0; i < ch->n_links; i++) {
        struct ch_link *l = &ch->links[i];
        if (l->welcomed && now - l->last_heard > timeout) {
            /* it died or restarted: say Hello again so it learns our credit */
            log_warn("front end %s silent for %lld ms; saying hello again", l->ref->router,
                     (long long)(now - l->last_heard) / 1000);
            l->welcomed = false;
        }
        if (now - l->last_sent >= hb) {
            if (l->welcomed)
                send_heartbeat(l);
            else
                send_hello(ch, l);
        }
    }
}

void link_reply(struct ch *ch, int link, Pchat__Reply *reply)
{
    Pchat__ToFrontend m = PCHAT__TO_FRONTEND__INIT;
    m.body_case = PCHAT__TO_FRONTEND__BODY_REPLY;
    m.reply = reply;
    if (wire_send_to_frontend(ch->links[link].dealer, &m) < 0)
        log_warn("cannot send a reply to %s: %s", ch->links[link].ref->router, zmq_strerror(errno));
}

void publish_event(struct ch *ch, const Pchat__RoomEvent *ev)
{
    ch->stats.published++;
    if (wire_publish(ch->pub, ev) < 0)
        log_warn("cannot publish event %llu of room %llu: %s", (unsigned long long)ev->seq,
                 (unsigned long long)ev->room_id, zmq_strerror(errno));
}
