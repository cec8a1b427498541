/* conn.c — one non-blocking TCP connection per user: connect (optionally from a chosen source
 * address), bounded read and write buffers, and the stream framing (CRLF keep-alives skipped,
 * header block, Content-Length) that cuts the byte stream into messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sc_internal.h"

#define RBUF_START 4096

static void conn_io(struct sc_fd *f, uint32_t events);

static void trace(struct sc_user *u, const char *dir, const char *buf, size_t len)
{
    if (!u->opts.trace)
        return;
    fprintf(stderr, "---- %s %s (%zu bytes)\n%.*s%s", u->aor, dir, len, (int)len, buf,
            (len && buf[len - 1] == '\n') ? "" : "\n");
}

int sc_conn_open(struct sc_user *u)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", u->port);
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0 || !res) {
        sc_fail(u, "cannot resolve front end host '%s': %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        u->sys_errno = errno;
        freeaddrinfo(res);
        sc_fail(u, "cannot create a socket: %s (raise the open-files limit?)", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (u->opts.bind_addr && u->opts.bind_addr[0]) {
        struct sockaddr_in src = { .sin_family = AF_INET };
        if (inet_pton(AF_INET, u->opts.bind_addr, &src.sin_addr) != 1) {
            close(fd);
            freeaddrinfo(res);
            sc_fail(u, "source address '%s' is not an IPv4 address", u->opts.bind_addr);
            return -1;
        }
        /* let connect() pick the port so several destinations may share it */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            u->sys_errno = errno;
            close(fd);
            freeaddrinfo(res);
            sc_fail(u, "cannot bind source address %s: %s", u->opts.bind_addr, strerror(errno));
            return -1;
        }
    }
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc < 0 && errno != EINPROGRESS) {
        u->sys_errno = errno;
        sc_fail(u, "cannot connect to %s:%d: %s", u->host, u->port, strerror(errno));
        close(fd);
        return -1;
    }
    u->fd.fd = fd;
    u->fd.on_io = conn_io;
    u->connected_tcp = false;
    if (sc_fd_watch(u->loop, &u->fd, EPOLLIN | EPOLLOUT, true) < 0) {
        sc_fail(u, "epoll refused the socket: %s", strerror(errno));
        close(fd);
        u->fd.fd = -1;
        return -1;
    }
    return 0;
}

void sc_conn_close(struct sc_user *u)
{
    if (u->fd.fd >= 0) {
        sc_fd_unwatch(u->loop, &u->fd);
        close(u->fd.fd);
        u->fd.fd = -1;
    }
    u->connected_tcp = false;
    u->rlen = 0;
    u->wlen = 0;
}

static void want_write(struct sc_user *u, bool on)
{
    if (u->fd.fd >= 0)
        sc_fd_watch(u->loop, &u->fd, EPOLLIN | (on ? EPOLLOUT : 0), false);
}

static int flush_wbuf(struct sc_user *u)
{
    while (u->wlen > 0) {
        ssize_t n = send(u->fd.fd, u->wbuf, u->wlen, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        memmove(u->wbuf, u->wbuf + n, u->wlen - (size_t)n);
        u->wlen -= (size_t)n;
    }
    free(u->wbuf);          /* idle users hold no send buffer */
    u->wbuf = NULL;
    u->wcap = 0;
    want_write(u, false);
    return 0;
}

int sc_conn_send(struct sc_user *u, const char *buf, size_t len)
{
    if (u->fd.fd < 0) {
        return -1;
    }
    trace(u, "sent", buf, len);
    u->last_tx_us = sc_now_us();
    if (u->connected_tcp && u->wlen == 0) {
        ssize_t n = send(u->fd.fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            sc_fail(u, "sending to the front end failed: %s", strerror(errno));
            sc_conn_close(u);
            return -1;
        }
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        }
        if (len == 0)
            return 0;
    }
    if (u->wlen + len > u->opts.max_send_buffer) {
        sc_fail(u, "the front end does not read: %zu unsent bytes exceed the %zu-byte send buffer",
                u->wlen + len, u->opts.max_send_buffer);
        sc_conn_close(u);
        return -1;
    }
    if (u->wlen + len > u->wcap) {
        size_t cap = u->wcap ? u->wcap : 4096;
        while (cap < u->wlen + len)
            cap *= 2;
        char *nb = realloc(u->wbuf, cap);
        if (!nb)
            return -1;
        u->wbuf = nb;
        u->wcap = cap;
    }
    memcpy(u->wbuf + u->wlen, buf, len);
    u->wlen += len;
    if (u->connected_tcp)
        want_write(u, true);
    return 0;
}

static void on_connected(struct sc_user *u)
{
    struct sockaddr_in local;
    socklen_t sl = sizeof(local);
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(u->fd.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        u->sys_errno = err;
        sc_fail(u, "cannot connect to %s:%d: %s", u->host, u->port, strerror(err));
        sc_conn_close(u);
        return;
    }
    u->connected_tcp = true;
    if (getsockname(u->fd.fd, (struct sockaddr *)&local, &sl) == 0) {
        inet_ntop(AF_INET, &local.sin_addr, u->local_ip, sizeof(u->local_ip));
        u->local_port = ntohs(local.sin_port);
    }
    want_write(u, u->wlen > 0);
    sc_ladder_start(u);
}

/* Hand on every complete message at the front of buf; returns the bytes consumed. The user's
 * connection may be closed by what a message causes: callers check fd afterwards. */
static size_t frame_input(struct sc_user *u, const char *buf, size_t len)
{
    size_t off = 0;
    while (u->fd.fd >= 0) {
        /* bare CRLFs between messages are keep-alives (or pongs): skipped, never answered */
        while (off < len && (buf[off] == '\r' || buf[off] == '\n'))
            off++;
        if (off >= len)
            break;
        const char *start = buf + off;
        size_t avail = len - off;
        const char *eoh = memmem(start, avail, "\r\n\r\n", 4);
        if (!eoh) {
            if (avail > SC_MAX_HEAD) {
                sc_violation(u, "a header block longer than %d bytes arrived without its end (CRLFCRLF)",
                             SC_MAX_HEAD);
                sc_fail(u, "unframeable input from the front end");
            }
            break;
        }
        size_t head_len = (size_t)(eoh - start) + 4;
        long cl = sc_head_content_length(start, head_len);
        if (cl == -2) {
            sc_violation(u, "Content-Length is not a number: SIPE cannot frame the stream");
            sc_fail(u, "unframeable input from the front end");
            break;
        }
        size_t body = cl > 0 ? (size_t)cl : 0;
        if (head_len + body > u->opts.max_message) {
            sc_violation(u, "a %zu-byte message exceeds the client limit of %zu bytes",
                         head_len + body, u->opts.max_message);
            sc_fail(u, "oversized message from the front end");
            break;
        }
        if (avail < head_len + body)
            break;

        char problem[SC_DETAIL_MAX] = "";
        struct sc_msg m;
        trace(u, "received", start, head_len + body);
        off += head_len + body;
        bool fatal = false;
        if (sc_msg_parse(&m, start, head_len, head_len + body, problem, sizeof(problem), &fatal) < 0) {
            char ex[200];
            snprintf(ex, sizeof(ex), "%.*s", (int)(head_len < 160 ? head_len : 160), start);
            sc_check_fail(u, SC_CHK_FRAMING, "unparsable message (%s): %s", problem[0] ? problem : "bad start line", ex);
            sc_msg_clear(&m);
            continue;
        }
        char ex[SC_DETAIL_MAX / 2];
        if (problem[0]) {
            sc_msg_excerpt(&m, ex, sizeof(ex));
            sc_check_fail(u, SC_CHK_FRAMING, "%s [%s]", problem, ex);
            if (fatal && !u->opts.lenient) {
                /* SIPE goes no further on this connection; neither do we */
                sc_msg_clear(&m);
                sc_fail(u, "the front end sent a message SIPE cannot get past: %s", problem);
                break;
            }
        } else if (!u->opts.no_sofia_check && !sc_sofia_parses(m.raw, m.raw_len)) {
            sc_msg_excerpt(&m, ex, sizeof(ex));
            sc_check_fail(u, SC_CHK_FRAMING, "sofia-sip's parser rejects the message [%s]", ex);
        } else if (u->checks[SC_CHK_FRAMING].state == SC_NOT_RUN) {
            sc_check_pass(u, SC_CHK_FRAMING);
        }
        sc_incoming(u, &m);
        sc_msg_clear(&m);
    }
    return off;
}

/* Keep the unframed tail of a read for the next one (partial messages only). */
static int keep_tail(struct sc_user *u, const char *tail, size_t n)
{
    if (u->rlen + n > u->opts.max_message + SC_MAX_HEAD) {
        sc_fail(u, "a message from the front end exceeds %zu bytes", u->opts.max_message);
        return -1;
    }
    if (u->rlen + n > u->rcap) {
        size_t cap = u->rcap ? u->rcap : RBUF_START;
        while (cap < u->rlen + n)
            cap *= 2;
        char *nb = realloc(u->rbuf, cap);
        if (!nb) {
            sc_fail(u, "out of memory for the receive buffer");
            return -1;
        }
        u->rbuf = nb;
        u->rcap = cap;
    }
    memmove(u->rbuf + u->rlen, tail, n);
    u->rlen += n;
    return 0;
}

/* New bytes in the loop's scratch buffer: frame them straight from there when nothing is
 * pending, so an idle user holds no receive buffer at all. */
static void on_bytes(struct sc_user *u, const char *data, size_t n)
{
    if (u->rlen == 0) {
        size_t used = frame_input(u, data, n);
        if (u->fd.fd >= 0 && used < n)
            keep_tail(u, data + used, n - used);
        return;
    }
    if (keep_tail(u, data, n) < 0)
        return;
    size_t used = frame_input(u, u->rbuf, u->rlen);
    if (u->fd.fd < 0)
        return;
    memmove(u->rbuf, u->rbuf + used, u->rlen - used);
    u->rlen -= used;
    if (u->rlen == 0) {
        free(u->rbuf);
        u->rbuf = NULL;
        u->rcap = 0;
    }
}

static void conn_io(struct sc_fd *f, uint32_t events)
{
    struct sc_user *u = (struct sc_user *)((char *)f - offsetof(struct sc_user, fd));
    if (f->fd < 0)
        return;
    if (!u->connected_tcp) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(u);
        return;
    }
    if (events & EPOLLOUT) {
        if (flush_wbuf(u) < 0) {
            sc_fail(u, "sending to the front end failed: %s", strerror(errno));
            sc_conn_close(u);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        /* bounded reads per wake-up so one chatty connection cannot starve the others */
        for (int rounds = 0; rounds < 8 && u->fd.fd >= 0; rounds++) {
            ssize_t n = recv(f->fd, u->loop->scratch, u->loop->scratch_len, 0);
            if (n > 0) {
                u->rx_bytes += (uint64_t)n;
                on_bytes(u, u->loop->scratch, (size_t)n);
                continue;
            }
            if (n == 0) {
                if (u->state != SC_SIGNED_OUT && u->state != SC_FAILED)
                    sc_fail(u, "the front end closed the connection");
                sc_conn_close(u);
                return;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            sc_fail(u, "receiving from the front end failed: %s", strerror(errno));
            sc_conn_close(u);
            return;
        }
    }
}
