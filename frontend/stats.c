/* stats.c — the front end's /metrics and /healthz (docs/metrics.md), served from su_root. */
#include "fe.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

static const char *const cmd_names[XCMD_COUNT] = {
    [XCMD_UNKNOWN] = "other", [XCMD_REQURI] = "requri", [XCMD_GETSERVERINFO] = "getserverinfo",
    [XCMD_GETASSOCIATIONS] = "getassociations", [XCMD_JOIN] = "join", [XCMD_BJOIN] = "bjoin",
    [XCMD_PART] = "part", [XCMD_BCCONTEXT] = "bccontext", [XCMD_CHANSRCH] = "chansrch",
    [XCMD_GETINV] = "getinv", [XCMD_GRPCHAT] = "grpchat",
};

const char *xcmd_name(enum xccos_cmd_id cmd)
{
    return (unsigned)cmd < XCMD_COUNT && cmd_names[cmd] ? cmd_names[cmd] : "other";
}

static void collect(void *arg, struct sbuf *out)
{
    struct fe *fe = arg;
    const struct fe_stats *st = &fe->stats;
    struct metrics_writer w;
    metrics_writer_init(&w, out);
    static const char *const outcomes[OUT_COUNT] = { "accepted", "rejected_503", "rejected",
                                                     "no_session" };
    for (int c = 0; c < XCMD_COUNT; c++)
        for (int o = 0; o < OUT_COUNT; o++)
            metrics_counter(&w, "pchat_frontend_info_total",
                            "XCCOS INFOs received, by command and by the SIP answer given.",
                            METRICS_LABELS("command", xcmd_name(c), "outcome", outcomes[o]),
                            st->info_by_cmd[c][o]);
    static const char *const results[3] = { "ok", "refused", "failed" };
    for (int c = 0; c < XCMD_COUNT; c++)
        for (int o = 0; o < 3; o++)
            metrics_counter(&w, "pchat_frontend_replies_total",
                            "Worker replies to client commands, by command and result.",
                            METRICS_LABELS("command", xcmd_name(c), "result", results[o]),
                            st->answered_by_cmd[c][o]);
    metrics_counter(&w, "pchat_frontend_503_total", "INFOs and INVITEs answered 503 (all carry "
                    "Retry-After).", NULL, st->info_503);
    metrics_counter(&w, "pchat_frontend_late_answers_total", "Requests answered at their deadline "
                    "because no worker answered in time.", NULL, st->late_answers);
    metrics_counter(&w, "pchat_frontend_deliveries_total", "Server INFOs (replies, notices, "
                    "posts) answered 200 by clients.", NULL, st->deliveries);
    metrics_counter(&w, "pchat_frontend_delivery_failures_total", "Server INFOs answered with an "
                    "error or lost with their transport.", NULL, st->delivery_failures);
    metrics_counter(&w, "pchat_frontend_gaps_repaired_total", "Room event gaps filled from the "
                    "store.", NULL, st->gaps_repaired);
    metrics_counter(&w, "pchat_frontend_redispatched_total", "Requests sent again because their "
                    "worker died.", NULL, st->redispatched);
    metrics_counter(&w, "pchat_frontend_sessions_cut_total", "Sessions cut because their client "
                    "could not keep up.", NULL, st->sessions_cut);
    metrics_gauge(&w, "pchat_frontend_sessions", "Chat sessions (lookup and channel dialogs).",
                  NULL, (double)fe->sessions.count);
    metrics_gauge(&w, "pchat_frontend_rooms", "Rooms with local members.", NULL,
                  (double)fe->rooms.count);
    metrics_gauge(&w, "pchat_frontend_queue_length", "Requests waiting for worker credit.", NULL,
                  fe->ready_len);
    metrics_gauge(&w, "pchat_frontend_outbound_queued", "Server INFOs waiting to be sent.", NULL,
                  fe->out_total);
    int credit = 0;
    for (int i = 0; i < fe->n_workers; i++)
        credit += fe->workers[i].alive ? fe->workers[i].credit : 0;
    metrics_gauge(&w, "pchat_frontend_workers", "Channel workers alive.", NULL,
                  router_live_workers(fe));
    metrics_gauge(&w, "pchat_frontend_worker_credit", "Requests the workers still accept.", NULL,
                  credit);
    metrics_gauge(&w, "pchat_frontend_inflight", "Requests at workers.", NULL,
                  (double)fe->inflight.count);
    metrics_gauge(&w, "pchat_frontend_draining", "1 while an operator drains this node.", NULL,
                  strcmp(fe->state, "active") != 0);
    metrics_gauge(&w, "pchat_frontend_overloaded", "1 while admission control sheds load.", NULL,
                  admit_overloaded(fe));
    metrics_histogram(&w, "pchat_frontend_queue_delay_seconds", "Time requests waited for "
                      "worker credit.", NULL, &st->queue_delay);
    metrics_histogram(&w, "pchat_frontend_request_seconds", "Time from an INFO to its worker's "
                      "reply.", NULL, &st->request_latency);
    metrics_histogram(&w, "pchat_frontend_delivery_seconds", "Time from queueing a server INFO "
                      "to the client's 200.", NULL, &st->delivery_latency);
}

static int health(void *arg, struct sbuf *why)
{
    struct fe *fe = arg;
    if (router_live_workers(fe) == 0) {
        sbuf_puts(why, "no channel worker is connected");
        return 1;
    }
    return 0;
}

/* fd -> su_root registration index */
#define WATCH_MAX (METRICS_MAX_CONNECTIONS + 2)
static struct { int fd, idx; } watched[WATCH_MAX];

static int on_fd(struct fe *fe, su_wait_t *w, void *arg)
{
    (void)arg;
    int revents = su_wait_events(w, w->fd);
    int ev = (revents & SU_WAIT_IN ? METRICS_READ : 0) | (revents & SU_WAIT_OUT ? METRICS_WRITE : 0);
    metrics_server_handle(fe->metrics, w->fd, ev ? ev : METRICS_READ);
    return 0;
}

static void watch(void *loop, int fd, int events)
{
    struct fe *fe = loop;
    for (int i = 0; i < WATCH_MAX; i++) {
        if (watched[i].fd == fd && watched[i].idx > 0) {
            su_root_deregister(fe->root, watched[i].idx);
            watched[i].idx = 0;
            watched[i].fd = -1;
        }
    }
    if (!events)
        return;
    for (int i = 0; i < WATCH_MAX; i++) {
        if (watched[i].idx > 0)
            continue;
        su_wait_t w;
        int mask = (events & METRICS_READ ? SU_WAIT_IN : 0) | (events & METRICS_WRITE ? SU_WAIT_OUT : 0);
        if (su_wait_create(&w, fd, mask) < 0)
            return;
        int idx = su_root_register(fe->root, &w, on_fd, NULL, 0);
        if (idx > 0)
            watched[i].fd = fd, watched[i].idx = idx;
        return;
    }
}

int stats_open(struct fe *fe)
{
    histogram_init_latency(&fe->stats.queue_delay);
    histogram_init_latency(&fe->stats.request_latency);
    histogram_init_latency(&fe->stats.delivery_latency);
    if (fe->cfg->frontend.metrics_port == 0)
        return 0;
    struct metrics_hooks hooks = { .collect = collect, .health = health, .arg = fe,
                                   .watch = watch, .loop = fe };
    char err[256];
    fe->metrics = metrics_server_open(fe->cfg->frontend.sip_address, fe->cfg->frontend.metrics_port,
                                      &hooks, err, sizeof err);
    if (!fe->metrics) {
        log_error("frontend.metrics_port: %s", err);
        return -1;
    }
    log_info("metrics on http://%s:%d/metrics", fe->cfg->frontend.sip_address,
             metrics_server_port(fe->metrics));
    return 0;
}

void stats_tick(struct fe *fe)
{
    if (fe->metrics)
        metrics_server_tick(fe->metrics, mono_us());
}

void stats_close(struct fe *fe)
{
    metrics_server_close(fe->metrics);
    fe->metrics = NULL;
}
