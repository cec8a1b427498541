/* metrics.c — /metrics and /healthz of pchat-compliance on compliance.metrics_port, served by
 * common/metrics from this process's poll(): this worker's counters plus the pool-wide backlog
 * and adapter state last read from the databases (what `--status` prints). The wait for HTTP
 * traffic is also the main loop's idle sleep. */
#include <poll.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* common/metrics asks us to watch its fds; we keep them for poll(). */
static void watch_fd(void *loop, int fd, int events)
{
    struct compliance_worker *w = loop;
    int i = 0;
    while (i < w->n_watched && w->watched[i].fd != fd)
        i++;
    if (events == 0) {
        if (i < w->n_watched)
            w->watched[i] = w->watched[--w->n_watched];
        return;
    }
    if (i == w->n_watched) {
        if (w->n_watched == (int)ARRAY_LEN(w->watched))
            return;   /* cannot happen: the server caps its connections below our table */
        w->n_watched++;
    }
    w->watched[i].fd = fd;
    w->watched[i].events = (short)(((events & METRICS_READ) ? POLLIN : 0) |
                                   ((events & METRICS_WRITE) ? POLLOUT : 0));
}

static const struct compliance_adapter_status *status_of(const struct compliance_worker *w,
                                                         const char *name)
{
    for (int k = 0; w->status_valid && k < w->status.n_adapters; k++)
        if (strcmp(w->status.adapters[k].name, name) == 0)
            return &w->status.adapters[k];
    return NULL;
}

static double positive(double v)
{
    return v > 0 ? v : 0;
}

static void collect(void *arg, struct sbuf *out)
{
    const struct compliance_worker *w = arg;
    const struct compliance_status *s = &w->status;
    struct metrics_writer m;
    metrics_writer_init(&m, out);
    metrics_counter(&m, "pchat_compliance_drained_events_total",
                    "Events this worker copied from the outbox to mgccomp.", NULL, w->drained_events);
    metrics_counter(&m, "pchat_compliance_drain_errors_total",
                    "Outbox drain rounds that failed on a database error.", NULL, w->drain_errors);
    metrics_counter(&m, "pchat_compliance_purged_events_total",
                    "Delivered events this worker deleted from mgccomp.", NULL, w->purged_events);
    metrics_gauge(&m, "pchat_compliance_store_up", "1 when the connection to the store is up.",
                  METRICS_LABELS("store", "pchat"), w->pchat.conn ? 1 : 0);
    metrics_gauge(&m, "pchat_compliance_store_up", "1 when the connection to the store is up.",
                  METRICS_LABELS("store", "mgccomp"), w->mgccomp.conn ? 1 : 0);
    if (w->status_valid) {
        if (s->outbox_known) {
            metrics_gauge(&m, "pchat_compliance_outbox_events",
                          "Rows waiting in the chat store's outbox (pool-wide).", NULL,
                          (double)s->outbox_events);
            metrics_gauge(&m, "pchat_compliance_outbox_oldest_age_seconds",
                          "Age of the oldest outbox row (0 when empty).", NULL,
                          positive(s->outbox_oldest_age_s));
        }
        metrics_gauge(&m, "pchat_compliance_store_events", "Events held in mgccomp.", NULL,
                      (double)s->store_events);
        metrics_gauge(&m, "pchat_compliance_store_oldest_age_seconds",
                      "Age of the oldest event in mgccomp (0 when empty).", NULL,
                      positive(s->store_oldest_age_s));
    }
    /* One family at a time, each with a sample per adapter (the format wants families whole). */
    for (int i = 0; i < w->n_adapters; i++)
        metrics_counter(&m, "pchat_compliance_adapter_delivered_events_total",
                        "Events this worker delivered through the adapter.",
                        METRICS_LABELS("adapter", w->adapters[i].cfg->name),
                        w->adapters[i].delivered_events);
    for (int i = 0; i < w->n_adapters; i++)
        metrics_counter(&m, "pchat_compliance_adapter_batches_total",
                        "Batches this worker delivered through the adapter.",
                        METRICS_LABELS("adapter", w->adapters[i].cfg->name),
                        w->adapters[i].delivered_batches);
    for (int i = 0; i < w->n_adapters; i++)
        metrics_counter(&m, "pchat_compliance_adapter_failures_total",
                        "Batches the adapter refused on this worker.",
                        METRICS_LABELS("adapter", w->adapters[i].cfg->name), w->adapters[i].failures);
    struct {
        const char *name, *help;
        int field;
    } const per_adapter[] = {
        { "pchat_compliance_adapter_pending_events", "Events in mgccomp the adapter has not delivered yet (pool-wide).", 0 },
        { "pchat_compliance_adapter_oldest_pending_age_seconds", "Age of the adapter's oldest pending event (0 when none).", 1 },
        { "pchat_compliance_adapter_consecutive_failures", "Failures since the adapter's last success (pool-wide).", 2 },
        { "pchat_compliance_adapter_last_success_timestamp_seconds", "Unix time of the adapter's last delivered batch (0 = never).", 3 },
        { "pchat_compliance_adapter_last_failure_timestamp_seconds", "Unix time of the adapter's last failed batch (0 = never).", 4 },
    };
    for (size_t f = 0; f < ARRAY_LEN(per_adapter) && w->status_valid; f++) {
        for (int i = 0; i < w->n_adapters; i++) {
            const struct compliance_adapter_status *a = status_of(w, w->adapters[i].cfg->name);
            if (!a)
                continue;
            double v = per_adapter[f].field == 0   ? (double)a->pending_events
                       : per_adapter[f].field == 1 ? positive(a->oldest_pending_age_s)
                       : per_adapter[f].field == 2 ? a->consecutive_failures
                       : per_adapter[f].field == 3 ? a->last_success_unix
                                                   : a->last_failure_unix;
            metrics_gauge(&m, per_adapter[f].name, per_adapter[f].help,
                          METRICS_LABELS("adapter", a->name), v);
        }
    }
}

/* /healthz: unhealthy while a store is unreachable (the outbox then grows unattended). */
static int health(void *arg, struct sbuf *why)
{
    const struct compliance_worker *w = arg;
    if (!w->mgccomp.conn || !w->pchat.conn) {
        sbuf_printf(why, "the %s store is not reachable; events wait in the outbox",
                    !w->mgccomp.conn ? "mgccomp" : "pchat");
        return -1;
    }
    return 0;
}

int metrics_start(struct compliance_worker *w, int port)
{
    const struct metrics_hooks hooks = {
        .collect = collect, .health = health, .arg = w, .watch = watch_fd, .loop = w,
    };
    char err[256];
    w->metrics = metrics_server_open(NULL, port, &hooks, err, sizeof err);
    if (!w->metrics) {
        log_error("compliance.metrics_port %d: %s", port, err);
        return -1;
    }
    log_info("metrics on port %d (/metrics, /healthz)", metrics_server_port(w->metrics));
    return 0;
}

void metrics_wait(struct compliance_worker *w, int timeout_ms)
{
    if (!w->metrics) {
        if (timeout_ms > 0)
            poll(NULL, 0, timeout_ms);
        return;
    }
    int64_t now = mono_us();
    int tick = metrics_server_timeout_ms(w->metrics, now);
    if (tick >= 0 && tick < timeout_ms)
        timeout_ms = tick;
    struct pollfd fds[ARRAY_LEN(w->watched)];
    int n = w->n_watched;
    memcpy(fds, w->watched, (size_t)n * sizeof fds[0]);
    if (poll(fds, (nfds_t)n, timeout_ms) > 0)
        for (int i = 0; i < n; i++)
            if (fds[i].revents)
                metrics_server_handle(w->metrics, fds[i].fd,
                                      ((fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? METRICS_READ : 0) |
                                      ((fds[i].revents & POLLOUT) ? METRICS_WRITE : 0));
    metrics_server_tick(w->metrics, mono_us());
}

void metrics_stop(struct compliance_worker *w)
{
    metrics_server_close(w->metrics);
    w->metrics = NULL;
}
