/* metrics_http.c — the /metrics and /healthz HTTP server: non-blocking sockets in a fixed table,
 * each with a deadline, driven by the host process's own loop through a watch callback. */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LISTEN_BACKLOG 64
#define ACCEPT_PAUSE_US 1000000      /* after EMFILE & co: level-triggered loops would spin */
#define REFUSED_LOG_INTERVAL_US (60 * 1000000LL)
#define LINGER_READ_BUDGET 65536     /* bytes drained per wake-up, so one client cannot hog */
#define HEADERS_MAX 512

enum conn_state { CONN_FREE, CONN_READING, CONN_WRITING, CONN_LINGERING };

struct metrics_conn {
    int fd;                          /* -1 when the slot is free */
    enum conn_state state;
    int events;                      /* what the host loop watches this fd for */
    int64_t deadline;                /* mono_us(); the connection is closed after it */
    size_t in_len;
    char in[METRICS_REQUEST_MAX];
    struct sbuf out;                 /* the whole response */
    size_t out_off;                  /* bytes of out already sent */
};

struct metrics_server {
    int listen_fd;
    int port;
    struct metrics_hooks hooks;
    bool accept_paused;
    int64_t accept_resume_at;
    uint64_t refused_reported;
    int64_t refused_report_at;
    struct metrics_server_stats stats;
    struct sbuf body;                /* scratch for every response body, keeps its memory */
    struct metrics_conn conns[METRICS_MAX_CONNECTIONS];
};

/* --- connections ----------------------------------------------------------------------------- */

static void conn_watch(struct metrics_server *srv, struct metrics_conn *c, int events)
{
    if (c->events == events)
        return;
    c->events = events;
    srv->hooks.watch(srv->hooks.loop, c->fd, events);
}

static void conn_close(struct metrics_server *srv, struct metrics_conn *c)
{
    if (c->events)
        srv->hooks.watch(srv->hooks.loop, c->fd, 0);
    close(c->fd);
    sbuf_free(&c->out);
    c->fd = -1;
    c->state = CONN_FREE;
    c->events = 0;
    c->in_len = 0;
    c->out_off = 0;
}

static struct metrics_conn *conn_of(struct metrics_server *srv, int fd)
{
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        if (srv->conns[i].fd == fd)
            return &srv->conns[i];
    return NULL;
}

/* Reads and discards until the client closes. Closing a socket with unread input makes the
 * kernel send RST, which can destroy a response the client has not read yet (a 431 after a
 * huge request, say); so the server half-closes, then waits for the client's FIN. */
static void conn_linger(struct metrics_server *srv, struct metrics_conn *c)
{
    char sink[4096];
    size_t drained = 0;
    while (drained < LINGER_READ_BUDGET) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) {
            drained += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(srv, c);
        return;
    }
}

static void conn_write(struct metrics_server *srv, struct metrics_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_watch(srv, c, METRICS_WRITE);
            return;
        }
        conn_close(srv, c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    sbuf_free(&c->out);
    c->out_off = 0;
    c->state = CONN_LINGERING;
    conn_watch(srv, c, METRICS_READ);
    conn_linger(srv, c);
}

/* --- requests -------------------------------------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define EXPOSITION_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Builds the whole response and starts sending it; HEAD gets the headers only. */
static void respond(struct metrics_server *srv, struct metrics_conn *c, int status,
                    const char *content_type, const char *body, size_t body_len, bool head_only)
{
    srv->stats.requests++;
    if (status >= 400 && status < 500)
        srv->stats.requests_bad++;
    sbuf_init(&c->out, HEADERS_MAX + body_len);
    sbuf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                         "Connection: close\r\n\r\n", status, status_text(status), content_type,
                body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head_only)
        sbuf_append(&c->out, body, body_len);
    if (c->out.overflow) {
        log_error("metrics: out of memory building a %zu-byte response; closing the connection",
                  body_len);
        conn_close(srv, c);
        return;
    }
    c->state = CONN_WRITING;
    conn_write(srv, c);
}

static void respond_text(struct metrics_server *srv, struct metrics_conn *c, int status,
                         const char *text, bool head_only)
{
    respond(srv, c, status, TEXT_PLAIN, text, strlen(text), head_only);
}

struct request {
    bool head_only;                  /* HEAD rather than GET */
    const char *path;                /* the target without its query string */
    size_t path_len;
};

/* "METHOD SP target SP HTTP/1.x" (the line without its CR LF). Returns 0, or the status that
 * answers a malformed line. */
static int parse_request_line(const char *s, size_t n, struct request *r)
{
    const char *end = s + n;
    const char *sp1 = memchr(s, ' ', n);
    if (!sp1 || sp1 == s || sp1 - s > 16)
        return 400;
    for (const char *p = s; p < sp1; p++)
        if (*p < 'A' || *p > 'Z')
            return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (!sp2 || sp2 == target || *target != '/')
        return 400;
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 400;
    const char *version = sp2 + 1;
    if (end - version != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return 400;
    if (version[5] != '1')
        return 505;

    size_t method_len = (size_t)(sp1 - s);
    bool get = method_len == 3 && memcmp(s, "GET", 3) == 0;
    r->head_only = method_len == 4 && memcmp(s, "HEAD", 4) == 0;
    if (!get && !r->head_only)
        return 405;
    r->path = target;
    const char *query = memchr(target, '?', (size_t)(sp2 - target));
    r->path_len = (size_t)((query ? query : sp2) - target);
    return 0;
}

static bool path_is(const struct request *r, const char *path)
{
    return r->path_len == strlen(path) && memcmp(r->path, path, r->path_len) == 0;
}

static void answer_metrics(struct metrics_server *srv, struct metrics_conn *c, bool head_only)
{
    sbuf_reset(&srv->body);
    srv->hooks.collect(srv->hooks.arg, &srv->body);
    if (srv->body.overflow) {
        log_error("metrics: the exposition exceeds %d bytes (or memory ran out) and was not "
                  "served; write fewer series", METRICS_BODY_MAX);
        respond_text(srv, c, 500, "the metrics exposition is too large to serve; see the "
                                  "process's log\n", head_only);
        return;
    }
    respond(srv, c, 200, EXPOSITION_TYPE, srv->body.data ? srv->body.data : "", srv->body.len,
            head_only);
}

static void answer_health(struct metrics_server *srv, struct metrics_conn *c, bool head_only)
{
    if (!srv->hooks.health) {
        respond_text(srv, c, 200, "ok\n", head_only);
        return;
    }
    struct sbuf why;
    sbuf_init(&why, METRICS_WHY_MAX);
    if (srv->hooks.health(srv->hooks.arg, &why) == 0) {
        respond_text(srv, c, 200, "ok\n", head_only);
    } else {
        /* An overflowing append is refused whole, so what is there is a complete prefix. */
        const char *reason = why.len && why.data[0] ? why.data : "unhealthy";
        char text[METRICS_WHY_MAX + 2];
        size_t len = strlen(reason);
        snprintf(text, sizeof text, "%s%s", reason, reason[len - 1] == '\n' ? "" : "\n");
        respond(srv, c, 503, TEXT_PLAIN, text, strlen(text), head_only);
    }
    sbuf_free(&why);
}

/* in[0..head_len) holds a complete request head. */
static void answer(struct metrics_server *srv, struct metrics_conn *c, size_t head_len)
{
    const char *s = c->in;
    /* RFC 9112 §2.2: ignore an empty line before the request line. */
    if (head_len >= 2 && s[0] == '\r' && s[1] == '\n') {
        s += 2;
        head_len -= 2;
    }
    const char *eol = memchr(s, '\n', head_len);
    size_t line_len = eol ? (size_t)(eol - s) : 0;
    if (line_len > 0 && s[line_len - 1] == '\r')
        line_len--;

    struct request r = { 0 };
    int status = line_len ? parse_request_line(s, line_len, &r) : 400;
    if (status == 0) {
        log_debug("metrics: %s %.*s", r.head_only ? "HEAD" : "GET", (int)r.path_len, r.path);
        if (path_is(&r, "/metrics"))
            answer_metrics(srv, c, r.head_only);
        else if (path_is(&r, "/healthz"))
            answer_health(srv, c, r.head_only);
        else
            respond_text(srv, c, 404, "not found: this server answers GET /metrics and "
                                      "GET /healthz\n", r.head_only);
        return;
    }
    if (status == 405)
        respond_text(srv, c, 405, "method not allowed: use GET or HEAD\n", false);
    else if (status == 505)
        respond_text(srv, c, 505, "HTTP version not supported: use HTTP/1.0 or HTTP/1.1\n", false);
    else
        respond_text(srv, c, 400, "bad request: expected a request line such as "
                                  "\"GET /metrics HTTP/1.1\"\n", false);
}

/* Offset just past the blank line that ends the head ("\r\n\r\n", or a lenient "\n\n"), or 0.
 * Scans from `from` so a byte-by-byte client costs O(n) in total. */
static size_t head_end(const char *s, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++) {
        if (s[i] != '\n')
            continue;
        if (i >= 1 && s[i - 1] == '\n')
            return i + 1;
        if (i >= 2 && s[i - 1] == '\r' && s[i - 2] == '\n')
            return i + 1;
    }
    return 0;
}

static void conn_read(struct metrics_server *srv, struct metrics_conn *c)
{
    for (;;) {
        size_t room = sizeof c->in - c->in_len;
        if (room == 0) {
            respond_text(srv, c, 431, "request header fields too large: the limit is "
                                      "8192 bytes\n", false);
            return;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
        if (n > 0) {
            size_t from = c->in_len >= 3 ? c->in_len - 3 : 0;
            c->in_len += (size_t)n;
            size_t head_len = head_end(c->in, from, c->in_len);
            if (head_len) {
                answer(srv, c, head_len);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_close(srv, c);          /* the client left (or failed) before finishing */
        return;
    }
}

/* --- listening ------------------------------------------------------------------------------- */

static void accept_pause(struct metrics_server *srv, int64_t now)
{
    srv->hooks.watch(srv->hooks.loop, srv->listen_fd, 0);
    srv->accept_paused = true;
    srv->accept_resume_at = now + ACCEPT_PAUSE_US;
}

static void accept_ready(struct metrics_server *srv)
{
    for (int budget = 2 * METRICS_MAX_CONNECTIONS; budget > 0; budget--) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            log_warn("metrics: cannot accept a connection on port %d: %s; pausing for a "
                     "second (raise the open-file limit if this repeats)", srv->port,
                     strerror(errno));
            accept_pause(srv, mono_us());
            return;
        }
        struct metrics_conn *c = conn_of(srv, -1);
        if (!c) {
            close(fd);
            srv->stats.connections_refused++;
            continue;
        }
        srv->stats.connections_accepted++;
        c->fd = fd;
        c->state = CONN_READING;
        c->deadline = mono_us() + (int64_t)METRICS_CONN_TIMEOUT_MS * 1000;
        c->in_len = 0;
        c->events = 0;
        sbuf_init(&c->out, 0);
        conn_watch(srv, c, METRICS_READ);
    }
}

static void format_endpoint(char *buf, size_t len, const char *address, int port)
{
    snprintf(buf, len, strchr(address, ':') ? "[%s]:%d" : "%s:%d", address, port);
}

struct metrics_server *metrics_server_open(const char *address, int port,
                                           const struct metrics_hooks *hooks,
                                           char *err, size_t errlen)
{
    if (!hooks || !hooks->collect || !hooks->watch) {
        set_error(err, errlen, "metrics: the server needs a collect and a watch callback");
        return NULL;
    }
    if (port < 0 || port > 65535) {
        set_error(err, errlen, "metrics: port must be between 0 and 65535 (got %d)", port);
        return NULL;
    }
    if (!address || !*address)
        address = "0.0.0.0";
    char endpoint[128];
    format_endpoint(endpoint, sizeof endpoint, address, port);

    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(address, service, &hints, &ai);
    if (rc != 0) {
        set_error(err, errlen, "metrics: \"%s\" is not a numeric IPv4 or IPv6 address (%s); use "
                "an address such as 127.0.0.1, 0.0.0.0 or ::", address, gai_strerror(rc));
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_error(err, errlen, "metrics: cannot create a socket for %s: %s", endpoint,
                strerror(errno));
        freeaddrinfo(ai);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        set_error(err, errlen, "metrics: cannot listen on %s: %s; choose a free metrics_port "
                "(or 0 to turn metrics off)", endpoint, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);

    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);

    struct metrics_server *srv = xcalloc(1, sizeof *srv);
    srv->listen_fd = fd;
    srv->port = port;
    srv->hooks = *hooks;
    sbuf_init(&srv->body, METRICS_BODY_MAX);
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
        srv->conns[i].fd = -1;
        sbuf_init(&srv->conns[i].out, 0);
    }
    srv->hooks.watch(srv->hooks.loop, fd, METRICS_READ);
    format_endpoint(endpoint, sizeof endpoint, address, port);
    log_info("metrics: serving /metrics and /healthz on http://%s/", endpoint);
    return srv;
}

int metrics_server_listen_fd(const struct metrics_server *srv) { return srv->listen_fd; }
int metrics_server_port(const struct metrics_server *srv) { return srv->port; }

const struct metrics_server_stats *metrics_server_stats(const struct metrics_server *srv)
{
    return &srv->stats;
}

bool metrics_server_handle(struct metrics_server *srv, int fd, int revents)
{
    (void)revents;               /* the connection's state says what to do; errors show there */
    if (!srv || fd < 0)
        return false;
    if (fd == srv->listen_fd) {
        if (!srv->accept_paused)
            accept_ready(srv);
        return true;
    }
    struct metrics_conn *c = conn_of(srv, fd);
    if (!c)
        return false;
    switch (c->state) {
    case CONN_READING: conn_read(srv, c); break;
    case CONN_WRITING: conn_write(srv, c); break;
    case CONN_LINGERING: conn_linger(srv, c); break;
    case CONN_FREE: break;
    }
    return true;
}

void metrics_server_tick(struct metrics_server *srv, int64_t now)
{
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++) {
        struct metrics_conn *c = &srv->conns[i];
        if (c->fd < 0 || now < c->deadline)
            continue;
        if (c->state != CONN_LINGERING) {
            srv->stats.connections_timed_out++;
            log_debug("metrics: closed a connection that did not finish within %d ms",
                      METRICS_CONN_TIMEOUT_MS);
        }
        conn_close(srv, c);
    }
    if (srv->accept_paused && now >= srv->accept_resume_at) {
        srv->accept_paused = false;
        srv->hooks.watch(srv->hooks.loop, srv->listen_fd, METRICS_READ);
    }
    if (srv->stats.connections_refused > srv->refused_reported && now >= srv->refused_report_at) {
        log_warn("metrics: refused %llu connection(s) on port %d because all %d slots were busy; "
                 "scrape less often or find the client that holds connections open",
                 (unsigned long long)(srv->stats.connections_refused - srv->refused_reported),
                 srv->port, METRICS_MAX_CONNECTIONS);
        srv->refused_reported = srv->stats.connections_refused;
        srv->refused_report_at = now + REFUSED_LOG_INTERVAL_US;
    }
}

int metrics_server_timeout_ms(const struct metrics_server *srv, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        if (srv->conns[i].fd >= 0 && srv->conns[i].deadline < next)
            next = srv->conns[i].deadline;
    if (srv->accept_paused && srv->accept_resume_at < next)
        next = srv->accept_resume_at;
    if (next == INT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    int64_t ms = (next - now + 999) / 1000;
    return ms > 60000 ? 60000 : (int)ms;
}

void metrics_server_close(struct metrics_server *srv)
{
    if (!srv)
        return;
    for (int i = 0; i < METRICS_MAX_CONNECTIONS; i++)
        if (srv->conns[i].fd >= 0)
            conn_close(srv, &srv->conns[i]);
    if (!srv->accept_paused)
        srv->hooks.watch(srv->hooks.loop, srv->listen_fd, 0);
    close(srv->listen_fd);
    sbuf_free(&srv->body);
    free(srv);
}
