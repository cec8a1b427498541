/* stats.c — the worker's /metrics and /healthz (docs/metrics.md), polled in its zmq_poll
 * loop alongside the DEALER sockets. */
#include "ch.h"

#include <zmq.h>

#include "log.h"
#include "util.h"

#define WATCH_MAX (METRICS_MAX_CONNECTIONS + 2)
static struct { int fd, events; } watched[WATCH_MAX];

static const char *const kind_names[] = { "xccos", "session_end", "fetch_range",
                                          "frontend_reset", "policy", "node_status" };
static const char *const result_names[] = { "ok", "refused", "failed" };

static void collect(void *arg, struct sbuf *out)
{
    struct ch *ch = arg;
    struct metrics_writer w;
    metrics_writer_init(&w, out);
    for (int k = 0; k < CH_KINDS; k++)
        for (int r = 0; r < 3; r++)
            metrics_counter(&w, "pchat_channel_requests_total", "Requests run, by kind and result.",
                            METRICS_LABELS("kind", kind_names[k], "result", result_names[r]),
                            ch->stats.by_kind[k][r]);
    metrics_counter(&w, "pchat_channel_posts_total", "Posts stored.", NULL, ch->stats.posts);
    metrics_counter(&w, "pchat_channel_events_published_total", "Room events published.", NULL,
                    ch->stats.published);
    metrics_counter(&w, "pchat_channel_store_reconnects_total", "Connections made to the chat "
                    "store.", NULL, ch->stats.reconnects);
    metrics_gauge(&w, "pchat_channel_store_up", "1 while the chat store is connected.", NULL,
                  !store_unavailable(ch));
    metrics_gauge(&w, "pchat_channel_queue_length", "Requests waiting in this worker.", NULL,
                  ch->n_jobs);
    int welcomed = 0;
    for (int i = 0; i < ch->n_links; i++)
        welcomed += ch->links[i].welcomed;
    metrics_gauge(&w, "pchat_channel_frontends", "Front ends that welcomed this worker.", NULL,
                  welcomed);
    metrics_histogram(&w, "pchat_channel_request_seconds", "Time to run a request, store "
                      "round trips included.", NULL, &ch->stats.latency);
    metrics_histogram(&w, "pchat_channel_wait_seconds", "Time a request waited in this worker "
                      "before it ran.", NULL, &ch->stats.wait);
}

static int health(void *arg, struct sbuf *why)
{
    struct ch *ch = arg;
    if (store_unavailable(ch)) {
        sbuf_puts(why, "the chat store is unreachable");
        return 1;
    }
    return 0;
}

static void watch(void *loop, int fd, int events)
{
    (void)loop;
    for (int i = 0; i < WATCH_MAX; i++)
        if (watched[i].events && watched[i].fd == fd)
            watched[i].events = 0;
    if (!events)
        return;
    for (int i = 0; i < WATCH_MAX; i++)
        if (!watched[i].events) {
            watched[i].fd = fd;
            watched[i].events = events;
            return;
        }
}

int stats_open(struct ch *ch)
{
    histogram_init_latency(&ch->stats.latency);
    histogram_init_latency(&ch->stats.wait);
    if (ch->cfg->channel.metrics_port == 0)
        return 0;
    struct metrics_hooks hooks = { .collect = collect, .health = health, .arg = ch, .watch = watch };
    char err[256];
    ch->metrics = metrics_server_open("127.0.0.1", ch->cfg->channel.metrics_port, &hooks, err,
                                      sizeof err);
    if (!ch->metrics) {
        log_error("channel.metrics_port: %s", err);
        return -1;
    }
    log_info("metrics on http://127.0.0.1:%d/metrics", metrics_server_port(ch->metrics));
    return 0;
}

int stats_poll_items(struct ch *ch, zmq_pollitem_t *items, int max)
{
    int n = 0;
    for (int i = 0; i < WATCH_MAX && n < max && ch->metrics; i++)
        if (watched[i].events)
            items[n++] = (zmq_pollitem_t){ NULL, watched[i].fd,
                                           (short)((watched[i].events & METRICS_READ ? ZMQ_POLLIN : 0) |
                                                   (watched[i].events & METRICS_WRITE ? ZMQ_POLLOUT : 0)),
                                           0 };
    return n;
}

void stats_handle(struct ch *ch, const zmq_pollitem_t *items, int n)
{
    for (int i = 0; i < n; i++)
        if (items[i].revents)
            metrics_server_handle(ch->metrics, items[i].fd,
                                  (items[i].revents & ZMQ_POLLIN ? METRICS_READ : 0) |
                                  (items[i].revents & ZMQ_POLLOUT ? METRICS_WRITE : 0));
    if (ch->metrics)
        metrics_server_tick(ch->metrics, mono_us());
}

void stats_close(struct ch *ch)
{
    metrics_server_close(ch->metrics);
    ch->metrics = NULL;
}
