/* test_metrics.c — the Prometheus exposition writer (headers once per family, escaping, numbers,
 * histograms) and the /metrics + /healthz server end to end over real sockets on 127.0.0.1,
 * driven by a small poll() loop the way a process's own loop drives it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "sbuf.h"
#include "util.h"

/* --- exposition ------------------------------------------------------------------------------ */

struct text {
    struct sbuf out;
    struct metrics_writer w;
};

static void text_init(struct text *t)
{
    sbuf_init(&t->out, 1 << 20);
    metrics_writer_init(&t->w, &t->out);
}

static void assert_text(struct text *t, const char *want)
{
    assert_false(t->out.overflow);
    assert_string_equal(t->out.data ? t->out.data : "", want);
    sbuf_free(&t->out);
}

static void test_help_and_type_once_per_family(void **state)
{
    (void)state;
    struct text t;
    text_init(&t);
    metrics_counter(&t.w, "pchat_requests_total", "Requests handled.",
                    METRICS_LABELS("cmd", "join"), 3);
    metrics_counter(&t.w, "pchat_requests_total", "Requests handled.",
                    METRICS_LABELS("cmd", "post"), 5);
    metrics_gauge(&t.w, "pchat_sessions", "Open SIP sessions.", NULL, 12);
    metrics_gauge(&t.w, "pchat_worker_up", "1 while the worker answers.",
                  METRICS_LABELS("worker", "w1", "node", "fe1"), 1);
    metrics_gauge(&t.w, "pchat_worker_up", "1 while the worker answers.",
                  METRICS_LABELS("worker", "w2", "node", "fe1"), 0);
    assert_int_equal(t.w.rejected, 0);
    assert_text(&t,
                "# HELP pchat_requests_total Requests handled.\n"
                "# TYPE pchat_requests_total counter\n"
                "pchat_requests_total{cmd=\"join\"} 3\n"
                "pchat_requests_total{cmd=\"post\"} 5\n"
                "# HELP pchat_sessions Open SIP sessions.\n"
                "# TYPE pchat_sessions gauge\n"
                "pchat_sessions 12\n"
                "# HELP pchat_worker_up 1 while the worker answers.\n"
                "# TYPE pchat_worker_up gauge\n"
                "pchat_worker_up{worker=\"w1\",node=\"fe1\"} 1\n"
                "pchat_worker_up{worker=\"w2\",node=\"fe1\"} 0\n");
}

static void test_label_values_and_help_are_escaped(void **state)
{
    (void)state;
    struct text t;
    text_init(&t);
    metrics_gauge(&t.w, "pchat_room_members", "Members per \"room\"; a \\ b\nsecond line.",
                  METRICS_LABELS("room", "C:\\rooms\\\"dev\"\nteam"), 2);
    assert_text(&t,
                "# HELP pchat_room_members Members per \"room\"; a \\\\ b\\nsecond line.\n"
                "# TYPE pchat_room_members gauge\n"
                "pchat_room_members{room=\"C:\\\\rooms\\\\\\\"dev\\\"\\nteam\"} 2\n");
}

static void test_numbers_print_exactly_and_shortest(void **state)
{
    (void)state;
    struct text t;
    text_init(&t);
    metrics_counter(&t.w, "c_total", "c", METRICS_LABELS("v", "max"), UINT64_MAX);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "tenth"), 0.1);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "third"), 1.0 / 3.0);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "big"), 123456789012.0);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "2^53"), 9007199254740992.0);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "neg"), -2.5);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "zero"), 0);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "nan"), NAN);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "inf"), INFINITY);
    metrics_gauge(&t.w, "g", "g", METRICS_LABELS("v", "-inf"), -INFINITY);
    assert_text(&t,
                "# HELP c_total c\n# TYPE c_total counter\n"
                "c_total{v=\"max\"} 18446744073709551615\n"
                "# HELP g g\n# TYPE g gauge\n"
                "g{v=\"tenth\"} 0.1\n"
                "g{v=\"third\"} 0.33333333333333331\n"
                "g{v=\"big\"} 123456789012\n"
                "g{v=\"2^53\"} 9007199254740992\n"
                "g{v=\"neg\"} -2.5\n"
                "g{v=\"zero\"} 0\n"
                "g{v=\"nan\"} NaN\n"
                "g{v=\"inf\"} +Inf\n"
                "g{v=\"-inf\"} -Inf\n");
}

static void test_histogram_buckets_are_cumulative_with_inf_sum_and_count(void **state)
{
    (void)state;
    static const double bounds[] = { 0.25, 0.5, 1 };
    struct histogram h;
    assert_int_equal(histogram_init(&h, bounds, 3), 0);
    /* 0.25 sits on a bound: "le" means less than or equal, so it counts in that bucket. */
    const double seen[] = { 0.125, 0.25, 0.375, 0.75, 2, NAN };
    for (size_t i = 0; i < ARRAY_LEN(seen); i++)
        histogram_observe(&h, seen[i]);
    assert_int_equal(h.count, 5);

    struct text t;
    text_init(&t);
    metrics_histogram(&t.w, "pchat_request_seconds", "Time to answer a request.", NULL, &h);
    assert_text(&t,
                "# HELP pchat_request_seconds Time to answer a request.\n"
                "# TYPE pchat_request_seconds histogram\n"
                "pchat_request_seconds_bucket{le=\"0.25\"} 2\n"
                "pchat_request_seconds_bucket{le=\"0.5\"} 3\n"
                "pchat_request_seconds_bucket{le=\"1\"} 4\n"
                "pchat_request_seconds_bucket{le=\"+Inf\"} 5\n"
                "pchat_request_seconds_sum 3.5\n"
                "pchat_request_seconds_count 5\n");
}

static void test_histograms_with_labels_share_one_header(void **state)
{
    (void)state;
    static const double bounds[] = { 1, 2 };
    struct histogram join, post;
    assert_int_equal(histogram_init(&join, bounds, 2), 0);
    assert_int_equal(histogram_init(&post, bounds, 2), 0);
    histogram_observe(&join, 1.5);
    histogram_observe(&post, 0.5);
    histogram_observe(&post, 3);

    struct text t;
    text_init(&t);
    metrics_histogram(&t.w, "h", "H.", METRICS_LABELS("cmd", "join"), &join);
    metrics_histogram(&t.w, "h", "H.", METRICS_LABELS("cmd", "post"), &post);
    assert_text(&t,
                "# HELP h H.\n# TYPE h histogram\n"
                "h_bucket{cmd=\"join\",le=\"1\"} 0\n"
                "h_bucket{cmd=\"join\",le=\"2\"} 1\n"
                "h_bucket{cmd=\"join\",le=\"+Inf\"} 1\n"
                "h_sum{cmd=\"join\"} 1.5\n"
                "h_count{cmd=\"join\"} 1\n"
                "h_bucket{cmd=\"post\",le=\"1\"} 1\n"
                "h_bucket{cmd=\"post\",le=\"2\"} 1\n"
                "h_bucket{cmd=\"post\",le=\"+Inf\"} 2\n"
                "h_sum{cmd=\"post\"} 3.5\n"
                "h_count{cmd=\"post\"} 2\n");
}

static void test_histogram_init_refuses_bad_bounds(void **state)
{
    (void)state;
    struct histogram h;
    double many[HISTOGRAM_MAX_BUCKETS + 1];
    for (int i = 0; i < HISTOGRAM_MAX_BUCKETS + 1; i++)
        many[i] = i + 1;
    assert_int_equal(histogram_init(&h, many, HISTOGRAM_MAX_BUCKETS), 0);
    assert_int_equal(h.n, HISTOGRAM_MAX_BUCKETS);
    assert_int_equal(histogram_init(&h, many, HISTOGRAM_MAX_BUCKETS + 1), -1);
    assert_int_equal(h.n, 0);
    assert_int_equal(histogram_init(&h, many, 0), -1);
    assert_int_equal(histogram_init(&h, NULL, 1), -1);
    assert_int_equal(histogram_init(&h, (const double[]){ 1, 1 }, 2), -1);
    assert_int_equal(histogram_init(&h, (const double[]){ 2, 1 }, 2), -1);
    assert_int_equal(histogram_init(&h, (const double[]){ 1, NAN }, 2), -1);
    assert_int_equal(histogram_init(&h, (const double[]){ 1, INFINITY }, 2), -1);
    /* A refused histogram still counts (everything lands in +Inf) rather than crashing. */
    histogram_observe(&h, 5);
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.count, 1);
}

static void test_latency_buckets_span_half_a_millisecond_to_ten_seconds(void **state)
{
    (void)state;
    struct histogram h;
    histogram_init_latency(&h);
    assert_int_equal(h.n, HISTOGRAM_LATENCY_BUCKETS_N);
    histogram_observe(&h, 0.0005);
    histogram_observe(&h, 10);
    histogram_observe(&h, 10.5);
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.counts[h.n - 1], 1);
    assert_int_equal(h.counts[h.n], 1);

    struct text t;
    text_init(&t);
    metrics_histogram(&t.w, "lat_seconds", "Latency.", NULL, &h);
    assert_non_null(strstr(t.out.data, "lat_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(t.out.data, "lat_seconds_bucket{le=\"5\"} 1\n"));
    assert_non_null(strstr(t.out.data, "lat_seconds_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(t.out.data, "lat_seconds_bucket{le=\"+Inf\"} 3\n"));
    const char *sum = strstr(t.out.data, "lat_seconds_sum ");
    assert_non_null(sum);
    assert_true(fabs(strtod(sum + strlen("lat_seconds_sum "), NULL) - 20.5005) < 1e-9);
    sbuf_free(&t.out);
}

static void test_invalid_names_skip_the_sample_and_keep_the_text_valid(void **state)
{
    (void)state;
    struct histogram h;
    histogram_init_latency(&h);
    struct text t;
    text_init(&t);
    metrics_counter(&t.w, "bad-name_total", "x", NULL, 1);
    metrics_counter(&t.w, "9lives_total", "x", NULL, 1);
    metrics_counter(&t.w, "", "x", NULL, 1);
    metrics_gauge(&t.w, "g", "x", METRICS_LABELS("1st", "v"), 1);
    metrics_gauge(&t.w, "g", "x", METRICS_LABELS("a:b", "v"), 1);
    metrics_gauge(&t.w, "g", "x", METRICS_LABELS("cmd"), 1);
    metrics_histogram(&t.w, "h", "x", METRICS_LABELS("le", "1"), &h);
    char long_name[METRICS_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    metrics_gauge(&t.w, long_name, "x", NULL, 1);
    assert_int_equal(t.w.rejected, 8);
    /* A valid sample after the rejected ones is written with its header. */
    metrics_gauge(&t.w, "ns:ratio", "x", METRICS_LABELS("_a1", "v"), 1);
    assert_int_equal(t.w.rejected, 8);
    assert_text(&t, "# HELP ns:ratio x\n# TYPE ns:ratio gauge\nns:ratio{_a1=\"v\"} 1\n");
}

static void test_a_full_buffer_reports_overflow(void **state)
{
    (void)state;
    struct sbuf out;
    sbuf_init(&out, 64);
    struct metrics_writer w;
    metrics_writer_init(&w, &out);
    metrics_counter(&w, "pchat_messages_posted_total", "Messages posted to rooms.", NULL, 1);
    assert_true(out.overflow);
    sbuf_free(&out);
}

/* --- a poll() loop standing in for su_root / zmq_poll ---------------------------------------- */

#define LOOP_MAX_FDS 64

struct test_loop {
    struct pollfd fds[LOOP_MAX_FDS];
    int n;
    int write_watches;               /* times an fd was watched for writing */
    int write_wakeups;               /* times a connection was handled because it was writable */
    int bad_calls;                   /* removal of an fd that was not watched, and the like */
};

static struct test_loop loop;

static int loop_find(int fd)
{
    for (int i = 0; i < loop.n; i++)
        if (loop.fds[i].fd == fd)
            return i;
    return -1;
}

static void loop_watch(void *arg, int fd, int events)
{
    assert_ptr_equal(arg, &loop);
    int i = loop_find(fd);
    if (events == 0) {
        if (i < 0) {
            loop.bad_calls++;
            return;
        }
        loop.fds[i] = loop.fds[--loop.n];
        return;
    }
    if (events & ~(METRICS_READ | METRICS_WRITE)) {
        loop.bad_calls++;
        return;
    }
    if (events & METRICS_WRITE)
        loop.write_watches++;
    if (i < 0) {
        assert_true(loop.n < LOOP_MAX_FDS);
        i = loop.n++;
        loop.fds[i].fd = fd;
    }
    loop.fds[i].events = (short)((events & METRICS_READ ? POLLIN : 0) |
                                 (events & METRICS_WRITE ? POLLOUT : 0));
}

/* One turn of the loop. It iterates over a snapshot, as real loops do, so handlers may add and
 * remove fds while it runs. */
static void loop_once(struct metrics_server *srv, int timeout_ms)
{
    struct pollfd snap[LOOP_MAX_FDS];
    int n = loop.n;
    memcpy(snap, loop.fds, (size_t)n * sizeof snap[0]);
    int ready = poll(snap, (nfds_t)n, timeout_ms);
    assert_true(ready >= 0 || errno == EINTR);
    for (int i = 0; i < n && ready > 0; i++) {
        if (!snap[i].revents)
            continue;
        int ev = (snap[i].revents & (POLLIN | POLLHUP | POLLERR) ? METRICS_READ : 0) |
                 (snap[i].revents & POLLOUT ? METRICS_WRITE : 0);
        if ((ev & METRICS_WRITE) && snap[i].fd != metrics_server_listen_fd(srv))
            loop.write_wakeups++;
        metrics_server_handle(srv, snap[i].fd, ev);
    }
    metrics_server_tick(srv, mono_us());
}

/* --- the process behind the server ----------------------------------------------------------- */

struct process {
    int collects;
    uint64_t joins;
    int health_rc;
    const char *health_why;
    int series;                      /* extra gauge series, to make a large body */
    size_t junk_bytes;               /* raw bytes appended, to overflow the body cap */
};

static struct process proc;
static struct metrics_server *srv;

static void collect(void *arg, struct sbuf *out)
{
    struct process *p = arg;
    p->collects++;
    struct metrics_writer w;
    metrics_writer_init(&w, out);
    metrics_counter(&w, "pchat_joins_total", "Rooms joined.", METRICS_LABELS("node", "fe1"),
                    p->joins);
    struct histogram h;
    histogram_init(&h, (const double[]){ 0.5, 1 }, 2);
    histogram_observe(&h, 0.75);
    metrics_histogram(&w, "pchat_join_seconds", "Time to join a room.", NULL, &h);
    char label[16];
    for (int i = 0; i < p->series; i++) {
        snprintf(label, sizeof label, "%d", i);
        metrics_gauge(&w, "pchat_series", "Filler.", METRICS_LABELS("i", label), i);
    }
    if (p->junk_bytes) {
        char *junk = calloc(1, p->junk_bytes);
        assert_non_null(junk);
        sbuf_append(out, junk, p->junk_bytes);
        free(junk);
    }
}

static int health(void *arg, struct sbuf *why)
{
    struct process *p = arg;
    if (p->health_why)
        sbuf_puts(why, p->health_why);
    return p->health_rc;
}

static struct metrics_server *open_server(bool with_health)
{
    struct metrics_hooks hooks = {
        .collect = collect, .health = with_health ? health : NULL, .arg = &proc,
        .watch = loop_watch, .loop = &loop,
    };
    char err[256] = "";
    struct metrics_server *s = metrics_server_open("127.0.0.1", 0, &hooks, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    return s;
}

static int server_setup(void **state)
{
    (void)state;
    memset(&loop, 0, sizeof loop);
    memset(&proc, 0, sizeof proc);
    proc.joins = 7;
    srv = open_server(true);
    assert_int_equal(loop.n, 1);
    assert_int_equal(loop.fds[0].fd, metrics_server_listen_fd(srv));
    assert_true(metrics_server_port(srv) > 0);
    return 0;
}

static int server_teardown(void **state)
{
    (void)state;
    metrics_server_close(srv);
    srv = NULL;
    /* Every fd the server watched was unwatched before it was closed. */
    assert_int_equal(loop.n, 0);
    assert_int_equal(loop.bad_calls, 0);
    return 0;
}

/* --- a client -------------------------------------------------------------------------------- */

static int client_connect(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)metrics_server_port(srv)) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback handshakes complete in the kernel's backlog without the server's accept. */
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

/* Sends everything, turning the server loop while the socket buffer is full. */
static void client_send(int fd, const char *data, size_t len)
{
    int64_t give_up = mono_us() + 5000000;
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return;              /* the server refused and closed: the caller reads the answer */
        assert_true(mono_us() < give_up);
        loop_once(srv, 10);
    }
}

/* What the client received once the connection ended: 0 = clean end, -errno otherwise. */
static int client_receive_all(int fd, struct sbuf *got, int timeout_ms)
{
    int64_t give_up = mono_us() + (int64_t)timeout_ms * 1000;
    char buf[8192];
    for (;;) {
        loop_once(srv, 2);
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                sbuf_append(got, buf, (size_t)n);
                continue;
            }
            if (n == 0)
                return 0;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        if (mono_us() > give_up)
            return -ETIMEDOUT;
    }
}

/* Nothing arrived and the connection is still open. */
static bool client_still_waiting(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct response {
    struct sbuf raw;
    int status;
    const char *body;
    size_t body_len;
};

static void response_parse(struct response *r)
{
    assert_false(r->raw.overflow);
    assert_non_null(r->raw.data);
    assert_int_equal(sscanf(r->raw.data, "HTTP/1.1 %d ", &r->status), 1);
    const char *end = strstr(r->raw.data, "\r\n\r\n");
    assert_non_null(end);
    r->body = end + 4;
    r->body_len = r->raw.len - (size_t)(r->body - r->raw.data);
}

/* The value of a response header, or NULL; the server writes each name in this spelling. */
static const char *header(const struct response *r, const char *name, char *value, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr(r->raw.data, key);
    if (!p || p > r->body)
        return NULL;
    p += strlen(key);
    const char *eol = strstr(p, "\r\n");
    snprintf(value, len, "%.*s", (int)(eol - p), p);
    return value;
}

static void response_free(struct response *r) { sbuf_free(&r->raw); }

/* Every response: Connection: close and a Content-Length that matches the body (HEAD: none). */
static void assert_framing(const struct response *r, bool head_only)
{
    char v[128];
    assert_non_null(header(r, "Connection", v, sizeof v));
    assert_string_equal(v, "close");
    assert_non_null(header(r, "Content-Length", v, sizeof v));
    if (head_only)
        assert_int_equal(r->body_len, 0);
    else
        assert_int_equal(strtoul(v, NULL, 10), r->body_len);
}

static void fetch_with(const char *request, size_t len, int rcvbuf, struct response *r)
{
    memset(r, 0, sizeof *r);
    sbuf_init(&r->raw, 16 * 1024 * 1024);
    int fd = client_connect(rcvbuf);
    client_send(fd, request, len);
    assert_int_equal(client_receive_all(fd, &r->raw, 5000), 0);
    close(fd);
    response_parse(r);
}

static void fetch(const char *request, struct response *r)
{
    fetch_with(request, strlen(request), 0, r);
}

static int status_of(const char *request)
{
    struct response r;
    fetch(request, &r);
    assert_framing(&r, false);
    int status = r.status;
    response_free(&r);
    return status;
}

/* --- the server ------------------------------------------------------------------------------ */

static void test_metrics_answers_the_exposition(void **state)
{
    (void)state;
    struct response r;
    fetch("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, false);
    char v[128];
    assert_non_null(header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
    assert_int_equal(proc.collects, 1);
    assert_non_null(strstr(r.body, "# TYPE pchat_joins_total counter\n"
                                   "pchat_joins_total{node=\"fe1\"} 7\n"));
    assert_non_null(strstr(r.body, "pchat_join_seconds_bucket{le=\"+Inf\"} 1\n"));
    response_free(&r);

    /* Collected at scrape time: the next scrape sees the process's new counter value. */
    proc.joins = 8;
    fetch("GET /metrics?debug=1 HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, false);
    assert_non_null(strstr(r.body, "pchat_joins_total{node=\"fe1\"} 8\n"));
    assert_int_equal(proc.collects, 2);
    response_free(&r);
    assert_int_equal(metrics_server_stats(srv)->requests, 2);
    assert_int_equal(metrics_server_stats(srv)->requests_bad, 0);
}

static void test_head_sends_headers_only(void **state)
{
    (void)state;
    struct response r;
    fetch("HEAD /metrics HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, true);
    char v[64];
    assert_true(strtoul(header(&r, "Content-Length", v, sizeof v), NULL, 10) > 0);
    response_free(&r);
}

static void test_healthz_reports_ok_and_unhealthy_with_the_reason(void **state)
{
    (void)state;
    struct response r;
    fetch("GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, false);
    assert_string_equal(r.body, "ok\n");
    response_free(&r);

    proc.health_rc = 1;
    proc.health_why = "the chat store is unreachable: connection refused";
    fetch("GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 503);
    assert_framing(&r, false);
    assert_string_equal(r.body, "the chat store is unreachable: connection refused\n");
    response_free(&r);

    proc.health_why = NULL;
    fetch("GET /healthz HTTP/1.1\r\n\r\n", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "unhealthy\n");
    response_free(&r);
    assert_int_equal(proc.collects, 0);
}

static void test_healthz_without_a_health_callback_is_ok(void **state)
{
    (void)state;
    metrics_server_close(srv);
    srv = open_server(false);
    struct response r;
    fetch("GET /healthz HTTP/1.0\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    response_free(&r);
}

static void test_unknown_paths_get_404_and_other_methods_405(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET / HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(status_of("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(status_of("GET /metrics/ HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(status_of("GET /../etc/passwd HTTP/1.1\r\n\r\n"), 404);

    struct response r;
    fetch("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &r);
    assert_int_equal(r.status, 405);
    assert_framing(&r, false);
    char v[64];
    assert_non_null(header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET, HEAD");
    response_free(&r);
    assert_int_equal(status_of("DELETE /healthz HTTP/1.1\r\n\r\n"), 405);
    assert_int_equal(proc.collects, 0);
    assert_int_equal(metrics_server_stats(srv)->requests_bad, 6);
}

static void test_malformed_requests_get_400_or_505(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET /metrics\r\n\r\n"), 400);
    assert_int_equal(status_of("get /metrics HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET metrics HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET  /metrics HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics HTTP/1.1 extra\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics HTTQ/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics HTTP/2.0\r\n\r\n"), 505);
    assert_int_equal(status_of("GET /metrics HTTP/0.9\r\n\r\n"), 505);
    /* One empty line before the request line is tolerated (RFC 9112 §2.2); a bare LF head too. */
    assert_int_equal(status_of("\r\nGET /metrics HTTP/1.1\r\n\r\n"), 200);
    assert_int_equal(status_of("GET /healthz HTTP/1.1\n\n"), 200);
    assert_int_equal(proc.collects, 1);
}

static void test_random_garbage_is_answered_or_dropped_never_crashes(void **state)
{
    (void)state;
    srand(20240601);
    for (int round = 0; round < 150; round++) {
        char req[600];
        size_t len = 1 + (size_t)(rand() % 500);
        for (size_t i = 0; i < len; i++)
            req[i] = (char)(rand() % 256);
        /* Half the rounds end the head, so the parser sees it; the rest leave it open and the
         * client hangs up, which must free the slot without an answer. */
        bool ended = round % 2 == 0;
        if (ended) {
            memcpy(req + len, "\r\n\r\n", 4);
            len += 4;
        }
        struct sbuf got;
        sbuf_init(&got, 1 << 16);
        int fd = client_connect(0);
        client_send(fd, req, len);
        if (!ended)
            shutdown(fd, SHUT_WR);
        assert_int_equal(client_receive_all(fd, &got, 5000), 0);
        close(fd);
        if (got.len > 0) {
            int status = 0;
            assert_int_equal(sscanf(got.data, "HTTP/1.1 %d ", &status), 1);
            assert_true(status == 400 || status == 404 || status == 405 || status == 505);
        }
        sbuf_free(&got);
    }
    /* Still serving, nothing left open. */
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\n\r\n"), 200);
    loop_once(srv, 0);
    assert_int_equal(loop.n, 1);
}

static void test_request_heads_over_8_kib_get_431(void **state)
{
    (void)state;
    static const char line[] = "GET /metrics HTTP/1.1\r\nX-Pad: ";
    static const char end[] = "\r\n\r\n";
    char req[3 * METRICS_REQUEST_MAX];

    /* Exactly at the limit is served. */
    size_t pad = METRICS_REQUEST_MAX - strlen(line) - strlen(end);
    snprintf(req, sizeof req, "%s%*s%s", line, (int)pad, "", end);
    for (size_t i = strlen(line); i < strlen(line) + pad; i++)
        req[i] = 'a';
    assert_int_equal(strlen(req), METRICS_REQUEST_MAX);
    struct response r;
    fetch(req, &r);
    assert_int_equal(r.status, 200);
    response_free(&r);

    /* One byte more is refused; the client still reads the 431 although it sent far more than
     * the server read (no reset destroys the answer). */
    for (size_t extra = 1; extra <= 2 * METRICS_REQUEST_MAX; extra += 2 * METRICS_REQUEST_MAX - 1) {
        pad = METRICS_REQUEST_MAX - strlen(line) - strlen(end) + extra;
        snprintf(req, sizeof req, "%s%*s%s", line, (int)pad, "", end);
        for (size_t i = strlen(line); i < strlen(line) + pad; i++)
            req[i] = 'a';
        fetch(req, &r);
        assert_int_equal(r.status, 431);
        assert_framing(&r, false);
        response_free(&r);
    }
    assert_int_equal(proc.collects, 1);
}

static void test_a_silent_client_is_closed_at_its_deadline(void **state)
{
    (void)state;
    int fd = client_connect(0);
    int64_t connected = mono_us();
    for (int i = 0; i < 20 && metrics_server_stats(srv)->connections_accepted == 0; i++)
        loop_once(srv, 10);
    assert_int_equal(metrics_server_stats(srv)->connections_accepted, 1);
    int wait = metrics_server_timeout_ms(srv, mono_us());
    assert_true(wait > 0 && wait <= METRICS_CONN_TIMEOUT_MS);

    /* Time moves forward by the caller's clock: before the deadline nothing happens... */
    metrics_server_tick(srv, connected + (METRICS_CONN_TIMEOUT_MS - 500) * 1000LL);
    assert_true(client_still_waiting(fd));
    assert_int_equal(metrics_server_stats(srv)->connections_timed_out, 0);

    /* ...after it the connection is closed and its slot freed. */
    metrics_server_tick(srv, mono_us() + (METRICS_CONN_TIMEOUT_MS + 100) * 1000LL);
    assert_int_equal(metrics_server_stats(srv)->connections_timed_out, 1);
    assert_int_equal(loop.n, 1);
    assert_int_equal(metrics_server_timeout_ms(srv, mono_us()), -1);
    struct sbuf got;
    sbuf_init(&got, 1024);
    assert_int_equal(client_receive_all(fd, &got, 1000), 0);
    assert_int_equal(got.len, 0);
    sbuf_free(&got);
    close(fd);
}

static void test_a_request_sent_byte_by_byte_is_served(void **state)
{
    (void)state;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: localhost:9101\r\nUser-Agent: slow\r\n\r\n";
    int fd = client_connect(0);
    for (const char *p = req; *p; p++) {
        client_send(fd, p, 1);
        loop_once(srv, 1);
        loop_once(srv, 0);
    }
    struct response r;
    memset(&r, 0, sizeof r);
    sbuf_init(&r.raw, 4096);
    assert_int_equal(client_receive_all(fd, &r.raw, 5000), 0);
    close(fd);
    response_parse(&r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    response_free(&r);
    assert_int_equal(metrics_server_stats(srv)->connections_accepted, 1);
}

static void test_many_clients_at_once_are_all_served(void **state)
{
    (void)state;
    enum { CLIENTS = 12 };
    int fds[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = client_connect(0);
        const char *req = i % 2 ? "GET /metrics HTTP/1.1\r\n\r\n" : "GET /healthz HTTP/1.0\r\n\r\n";
        client_send(fds[i], req, strlen(req));
    }
    for (int i = 0; i < CLIENTS; i++) {
        struct response r;
        memset(&r, 0, sizeof r);
        sbuf_init(&r.raw, 1 << 20);
        assert_int_equal(client_receive_all(fds[i], &r.raw, 5000), 0);
        close(fds[i]);
        response_parse(&r);
        assert_int_equal(r.status, 200);
        assert_framing(&r, false);
        response_free(&r);
    }
    assert_int_equal(proc.collects, CLIENTS / 2);
    assert_int_equal(metrics_server_stats(srv)->connections_refused, 0);
}

static void test_a_full_table_closes_new_connections_at_once(void **state)
{
    (void)state;
    int idle[METRICS_MAX_CONNECTIONS];
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        idle[i] = client_connect(0);
    for (int i = 0; i < 50 && metrics_server_stats(srv)->connections_accepted <
                                  METRICS_MAX_CONNECTIONS; i++)
        loop_once(srv, 10);
    assert_int_equal(metrics_server_stats(srv)->connections_accepted, METRICS_MAX_CONNECTIONS);
    assert_int_equal(loop.n, 1 + METRICS_MAX_CONNECTIONS);

    /* The next client is accepted and closed without an answer. */
    int extra = client_connect(0);
    struct sbuf got;
    sbuf_init(&got, 1024);
    int rc = client_receive_all(extra, &got, 2000);
    assert_true(rc == 0 || rc == -ECONNRESET);
    assert_int_equal(got.len, 0);
    close(extra);
    sbuf_free(&got);
    assert_int_equal(metrics_server_stats(srv)->connections_refused, 1);
    assert_int_equal(loop.n, 1 + METRICS_MAX_CONNECTIONS);

    /* The clients already in the table are still served. */
    const char *req = "GET /healthz HTTP/1.1\r\n\r\n";
    client_send(idle[0], req, strlen(req));
    struct response r;
    memset(&r, 0, sizeof r);
    sbuf_init(&r.raw, 4096);
    assert_int_equal(client_receive_all(idle[0], &r.raw, 5000), 0);
    response_parse(&r);
    assert_int_equal(r.status, 200);
    response_free(&r);

    /* Once they leave, their slots serve new clients. */
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        close(idle[i]);
    for (int i = 0; i < 50 && loop.n > 1; i++)
        loop_once(srv, 10);
    assert_int_equal(loop.n, 1);
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\n\r\n"), 200);
    assert_int_equal(metrics_server_stats(srv)->connections_refused, 1);
}

/* Our own rendering of the same exposition, to compare a large body byte for byte. */
static void expected_body(struct sbuf *want)
{
    int collects = proc.collects;
    collect(&proc, want);
    proc.collects = collects;
}

static void test_a_large_body_is_sent_across_many_writable_wakeups(void **state)
{
    (void)state;
    proc.series = 12000;             /* about 350 KB: dozens of socket buffers */
    int fd = client_connect(4096);
    for (int i = 0; i < 50 && loop.n < 2; i++)
        loop_once(srv, 10);
    assert_int_equal(loop.n, 2);
    /* Loopback send buffers grow to megabytes; pin the server side small so the response
     * cannot leave in one write whatever the machine's tcp_wmem says. */
    int conn = loop.fds[0].fd == metrics_server_listen_fd(srv) ? loop.fds[1].fd : loop.fds[0].fd;
    int small = 4096;
    assert_int_equal(setsockopt(conn, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);

    const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
    client_send(fd, req, strlen(req));
    for (int i = 0; i < 50 && loop.write_watches == 0; i++)
        loop_once(srv, 10);
    assert_true(loop.write_watches > 0);
    struct response r;
    memset(&r, 0, sizeof r);
    sbuf_init(&r.raw, 16 * 1024 * 1024);
    assert_int_equal(client_receive_all(fd, &r.raw, 10000), 0);
    close(fd);
    response_parse(&r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, false);
    assert_true(loop.write_wakeups > 10);

    struct sbuf want;
    sbuf_init(&want, METRICS_BODY_MAX);
    expected_body(&want);
    assert_true(want.len > 300000);
    assert_int_equal(r.body_len, want.len);
    assert_memory_equal(r.body, want.data, want.len);
    sbuf_free(&want);
    response_free(&r);
}

static void test_unread_input_does_not_reset_the_response(void **state)
{
    (void)state;
    /* The client pipelines more than the server reads, and does not read while the server
     * writes. Closing a socket over unread input makes the kernel send RST, which throws
     * away the part of the response still queued behind the client's full window; so the
     * server must half-close and linger until the client has everything. */
    proc.series = 400;               /* about 10 KB: more than the client's window */
    char req[32 * 1024];
    int len = snprintf(req, sizeof req, "GET /metrics HTTP/1.1\r\n\r\n");
    while ((size_t)len + 26 < sizeof req)
        len += snprintf(req + len, sizeof req - (size_t)len, "GET /healthz HTTP/1.1\r\n\r\n");
    int fd = client_connect(2048);
    client_send(fd, req, (size_t)len);
    for (int i = 0; i < 20; i++)
        loop_once(srv, 5);
    struct response r;
    memset(&r, 0, sizeof r);
    sbuf_init(&r.raw, 1 << 20);
    assert_int_equal(client_receive_all(fd, &r.raw, 5000), 0);
    close(fd);
    response_parse(&r);
    assert_int_equal(r.status, 200);
    assert_framing(&r, false);
    assert_true(r.body_len > 8000);
    response_free(&r);
    assert_int_equal(proc.collects, 1);
}

static void test_an_exposition_over_the_cap_is_a_500(void **state)
{
    (void)state;
    proc.junk_bytes = METRICS_BODY_MAX + 1;
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\n\r\n"), 500);
    proc.junk_bytes = 0;
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\n\r\n"), 200);
}

static void test_running_out_of_fds_pauses_accepting_instead_of_spinning(void **state)
{
    (void)state;
    int fd = client_connect(0);
    /* Cap the open-file limit at the lowest free descriptor: the server's accept fails. */
    int lowest_free = fcntl(0, F_DUPFD_CLOEXEC, 0);
    assert_true(lowest_free >= 0);
    close(lowest_free);
    struct rlimit saved, tight;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    tight = saved;
    tight.rlim_cur = (rlim_t)lowest_free;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    loop_once(srv, 100);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

    /* The listening socket is no longer watched, so a level-triggered loop cannot spin... */
    assert_int_equal(metrics_server_stats(srv)->connections_accepted, 0);
    assert_int_equal(loop.n, 0);
    int wait = metrics_server_timeout_ms(srv, mono_us());
    assert_true(wait > 0 && wait <= 1000);
    /* ...and after the pause it is watched again and clients are served. (A fresh client:
     * under valgrind the refused one is closed rather than left in the backlog.) */
    metrics_server_tick(srv, mono_us() + 1100000);
    assert_int_equal(loop.n, 1);
    close(fd);
    assert_int_equal(status_of("GET /healthz HTTP/1.1\r\n\r\n"), 200);
}

static void test_closing_with_open_connections_releases_everything(void **state)
{
    (void)state;
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = client_connect(0);
    /* The third one is half way through a request. */
    client_send(fds[2], "GET /met", 8);
    for (int i = 0; i < 50 && metrics_server_stats(srv)->connections_accepted < 3; i++)
        loop_once(srv, 10);
    assert_int_equal(loop.n, 4);
    metrics_server_close(srv);
    srv = NULL;
    assert_int_equal(loop.n, 0);
    /* Each client sees the end; the one with unsent input may see it as a reset. */
    for (int i = 0; i < 3; i++) {
        char c;
        ssize_t n = recv(fds[i], &c, 1, 0);
        assert_true(n == 0 || (i == 2 && n < 0 && errno == ECONNRESET));
        close(fds[i]);
    }
    srv = open_server(true);     /* for the teardown */
}

static void test_foreign_fds_are_not_claimed(void **state)
{
    (void)state;
    int fd = client_connect(0);
    assert_false(metrics_server_handle(srv, fd, METRICS_READ));
    assert_false(metrics_server_handle(srv, -1, METRICS_READ));
    assert_false(metrics_server_handle(NULL, fd, METRICS_READ));
    /* A spurious wake-up of the listening socket is harmless. */
    loop_once(srv, 10);
    assert_true(metrics_server_handle(srv, metrics_server_listen_fd(srv), METRICS_READ));
    close(fd);
}

static void test_open_errors_are_sentences(void **state)
{
    (void)state;
    struct metrics_hooks hooks = { .collect = collect, .arg = &proc, .watch = loop_watch,
                                   .loop = &loop };
    char err[256];
    int watched = loop.n;

    assert_null(metrics_server_open("localhost", 0, &hooks, err, sizeof err));
    assert_non_null(strstr(err, "\"localhost\" is not a numeric IPv4 or IPv6 address"));
    assert_null(metrics_server_open("127.0.0.1", 70000, &hooks, err, sizeof err));
    assert_string_equal(err, "metrics: port must be between 0 and 65535 (got 70000)");
    assert_null(metrics_server_open("127.0.0.1", metrics_server_port(srv), &hooks, err,
                                    sizeof err));
    char want[128];
    snprintf(want, sizeof want, "metrics: cannot listen on 127.0.0.1:%d: Address already in use",
             metrics_server_port(srv));
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "metrics_port"));
    struct metrics_hooks no_collect = { .watch = loop_watch, .loop = &loop };
    assert_null(metrics_server_open("127.0.0.1", 0, &no_collect, err, sizeof err));
    assert_non_null(strstr(err, "collect"));
    assert_null(metrics_server_open("127.0.0.1", 0, NULL, NULL, 0));
    assert_int_equal(loop.n, watched);

    /* IPv6 loopback works where the kernel has it; the port is reported either way. */
    struct metrics_server *v6 = metrics_server_open("::1", 0, &hooks, err, sizeof err);
    if (v6) {
        assert_true(metrics_server_port(v6) > 0);
        metrics_server_close(v6);
    }
    assert_int_equal(loop.n, watched);
    metrics_server_close(NULL);
}

#define SERVER_TEST(f) cmocka_unit_test_setup_teardown(f, server_setup, server_teardown)

int main(void)
{
    log_init("test_metrics", LOG_LEVEL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_type_once_per_family),
        cmocka_unit_test(test_label_values_and_help_are_escaped),
        cmocka_unit_test(test_numbers_print_exactly_and_shortest),
        cmocka_unit_test(test_histogram_buckets_are_cumulative_with_inf_sum_and_count),
        cmocka_unit_test(test_histograms_with_labels_share_one_header),
        cmocka_unit_test(test_histogram_init_refuses_bad_bounds),
        cmocka_unit_test(test_latency_buckets_span_half_a_millisecond_to_ten_seconds),
        cmocka_unit_test(test_invalid_names_skip_the_sample_and_keep_the_text_valid),
        cmocka_unit_test(test_a_full_buffer_reports_overflow),
        SERVER_TEST(test_metrics_answers_the_exposition),
        SERVER_TEST(test_head_sends_headers_only),
        SERVER_TEST(test_healthz_reports_ok_and_unhealthy_with_the_reason),
        SERVER_TEST(test_healthz_without_a_health_callback_is_ok),
        SERVER_TEST(test_unknown_paths_get_404_and_other_methods_405),
        SERVER_TEST(test_malformed_requests_get_400_or_505),
        SERVER_TEST(test_random_garbage_is_answered_or_dropped_never_crashes),
        SERVER_TEST(test_request_heads_over_8_kib_get_431),
        SERVER_TEST(test_a_silent_client_is_closed_at_its_deadline),
        SERVER_TEST(test_a_request_sent_byte_by_byte_is_served),
        SERVER_TEST(test_many_clients_at_once_are_all_served),
        SERVER_TEST(test_a_full_table_closes_new_connections_at_once),
        SERVER_TEST(test_a_large_body_is_sent_across_many_writable_wakeups),
        SERVER_TEST(test_unread_input_does_not_reset_the_response),
        SERVER_TEST(test_an_exposition_over_the_cap_is_a_500),
        SERVER_TEST(test_running_out_of_fds_pauses_accepting_instead_of_spinning),
        SERVER_TEST(test_closing_with_open_connections_releases_everything),
        SERVER_TEST(test_foreign_fds_are_not_claimed),
        SERVER_TEST(test_open_errors_are_sentences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
