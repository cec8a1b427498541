/* metrics.h — Prometheus text exposition (format 0.0.4) written at scrape time from a process's
 * own counters, and a tiny non-blocking HTTP server for /metrics and /healthz that is driven by
 * the process's existing event loop (su_root or zmq_poll) through callbacks. */
#ifndef PCHAT_METRICS_H
#define PCHAT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* --- exposition ------------------------------------------------------------------------------ */

#define METRICS_NAME_MAX 128           /* longest metric or label name accepted */

/* Labels are a NULL-terminated list of name, value pairs (NULL = no labels):
 *     metrics_counter(&w, "pchat_requests_total", "Requests.", METRICS_LABELS("cmd", "join"), n);
 * Values are escaped (\\, \", \n); names must match [a-zA-Z_][a-zA-Z0-9_]*. */
#define METRICS_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Writes samples into `out`, emitting "# HELP" and "# TYPE" once per family: consecutive calls
 * with the same name share one header. All samples of one family must be written in a row (the
 * format forbids a family appearing twice). */
struct metrics_writer {
    struct sbuf *out;
    char family[METRICS_NAME_MAX + 1]; /* the family whose header was written last */
    int rejected;                      /* samples skipped for an invalid metric or label name */
};

void metrics_writer_init(struct metrics_writer *w, struct sbuf *out);
/* A counter's name carries its unit and "_total" suffix itself (format 0.0.4 has no suffix
 * rules): "pchat_messages_posted_total". */
void metrics_counter(struct metrics_writer *w, const char *name, const char *help,
                     const char *const *labels, uint64_t value);
void metrics_gauge(struct metrics_writer *w, const char *name, const char *help,
                   const char *const *labels, double value);

/* Fixed-bucket histogram. counts[i] holds observations v with bounds[i-1] < v <= bounds[i];
 * counts[n] holds those above the last bound. The writer turns them into cumulative buckets. */
#define HISTOGRAM_MAX_BUCKETS 24

struct histogram {
    int n;
    double bounds[HISTOGRAM_MAX_BUCKETS];
    uint64_t counts[HISTOGRAM_MAX_BUCKETS + 1];
    double sum;
    uint64_t count;
};

/* Default latency buckets in seconds, 0.5 ms … 10 s. */
#define HISTOGRAM_LATENCY_BUCKETS_N 14
extern const double histogram_latency_bounds_s[HISTOGRAM_LATENCY_BUCKETS_N];

/* Returns 0, or -1 when n is not 1..HISTOGRAM_MAX_BUCKETS or the bounds are not finite and
 * strictly increasing (h is then an empty histogram with no bounds). */
int histogram_init(struct histogram *h, const double *bounds, int n);
void histogram_init_latency(struct histogram *h);
/* NaN observations are ignored so one bad value cannot poison _sum for the process's life. */
void histogram_observe(struct histogram *h, double value);
/* name_bucket{…,le="…"} lines (cumulative, ending with le="+Inf"), name_sum and name_count. */
void metrics_histogram(struct metrics_writer *w, const char *name, const char *help,
                       const char *const *labels, const struct histogram *h);

/* --- HTTP server ----------------------------------------------------------------------------- */

#define METRICS_MAX_CONNECTIONS 16     /* more are accepted and closed at once */
#define METRICS_CONN_TIMEOUT_MS 2000   /* a connection's whole life, request to close */
#define METRICS_REQUEST_MAX 8192       /* request head bytes; more is answered with 431 */
#define METRICS_BODY_MAX (4 * 1024 * 1024) /* exposition larger than this is answered with 500 */
#define METRICS_WHY_MAX 1024           /* health reason text */

enum { METRICS_READ = 1, METRICS_WRITE = 2 };

/* Writes the whole exposition; `out` is empty and capped at METRICS_BODY_MAX. */
typedef void (*metrics_collect_fn)(void *arg, struct sbuf *out);
/* Returns 0 when healthy; otherwise writes the reason (a sentence) to `why`: 503. */
typedef int (*metrics_health_fn)(void *arg, struct sbuf *why);
/* Start watching fd for `events` (METRICS_READ | METRICS_WRITE), change the events of an fd
 * already watched, or stop watching it (events == 0, always called before the fd is closed). */
typedef void (*metrics_watch_fn)(void *loop, int fd, int events);

struct metrics_hooks {
    metrics_collect_fn collect;        /* required */
    metrics_health_fn health;          /* optional: NULL = always "ok" */
    void *arg;                         /* passed to collect and health */
    metrics_watch_fn watch;            /* required */
    void *loop;                        /* passed to watch */
};

struct metrics_server_stats {
    uint64_t connections_accepted;
    uint64_t connections_refused;      /* the table was full */
    uint64_t connections_timed_out;
    uint64_t requests;                 /* answered, any status */
    uint64_t requests_bad;             /* answered 4xx: malformed, oversized, unknown path or
                                          method */
};

struct metrics_server;

/* Listen on address:port (address: a numeric IPv4 or IPv6 address, NULL = "0.0.0.0"; port 0
 * = an ephemeral port, see metrics_server_port). Calls hooks->watch for the listening socket
 * before returning. Returns NULL with a sentence in err on failure. */
struct metrics_server *metrics_server_open(const char *address, int port,
                                           const struct metrics_hooks *hooks,
                                           char *err, size_t errlen);
int metrics_server_listen_fd(const struct metrics_server *srv);
int metrics_server_port(const struct metrics_server *srv);
/* Call when a watched fd is ready. revents is advisory (pass what the loop reported, errors and
 * hang-ups included): the server does what the connection's state needs and copes with
 * spurious wake-ups. Returns true when fd belongs to the server (false: nothing was done). */
bool metrics_server_handle(struct metrics_server *srv, int fd, int revents);
/* Call periodically (at least every second) with now = mono_us(): closes expired
 * connections and resumes accepting after a file-descriptor shortage. */
void metrics_server_tick(struct metrics_server *srv, int64_t now);
/* Milliseconds until the next tick is due (for a poll timeout), or -1 when nothing waits. */
int metrics_server_timeout_ms(const struct metrics_server *srv, int64_t now);
const struct metrics_server_stats *metrics_server_stats(const struct metrics_server *srv);
/* Stops watching and closes every fd. NULL is allowed. */
void metrics_server_close(struct metrics_server *srv);

#endif
