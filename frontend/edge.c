/* edge.c — the TCP (and UDP) edge in front of sofia-sip: frames SIP messages from each
 * client connection, rewrites Call-ID and Contact (see edge.h for why) and relays them to
 * sofia over a loopback leg, undoing the Call-ID rewrite on everything sofia sends back.
 *
 * TCP clients share a few legs (SHARED_LEGS): what sofia sends on a leg is routed to its
 * client by the connection mark in the Call-ID, so a client costs one descriptor, not three.
 * A UDP peer has a leg of its own (datagrams carry no connection to route by otherwise).
 * Every buffer is capped; a peer that breaks framing or stops reading is cut. */
#include "edge.h"

#include "fe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sbuf.h"
#include "util.h"

#define HEADER_MAX (32 * 1024)        /* a SIP header block larger than this is refused */
#define OUT_MAX (8u << 20)            /* bytes queued towards one peer before it is cut */
#define READ_CHUNK 65536
#define UDP_IDLE_US (15 * 60 * 1000000LL)
#define UDP_PEERS_MAX 10000
#define CONN_SESSIONS 8

#define SHARED_LEGS 8                /* loopback connections to sofia shared by TCP clients */
#define LEG_OUT_MAX (64u << 20)       /* bytes queued towards sofia on one shared leg */

/* A loopback connection to sofia: shared by TCP clients, or a UDP peer's own. */
struct edge_leg {
    int fd, wait, mask;
    int index;                        /* its slot in edge.legs; -1 for a UDP peer's own leg */
    struct edge_conn *owner;          /* the UDP peer it belongs to; NULL when shared */
    char addr[INET_ADDRSTRLEN];       /* its local address (127.0.0.x) and port: the Contact */
    int port;                         /*   sofia sends a client's requests to */
    struct sbuf in, out;              /* from sofia, not yet a whole message; towards sofia */
    bool closing;
    int busy;                         /* inside its own event handler: free it only afterwards */
};

struct edge_conn {
    uint32_t id;
    bool udp;
    int fd, wait, mask;               /* the client's socket (TCP; -1 for UDP) */
    struct edge_leg *leg;             /* where its messages to sofia go */
    struct sockaddr_storage peer;     /* the client's address */
    socklen_t peer_len;
    char peer_name[64];
    struct sbuf in;                   /* from the client, not yet a whole message */
    struct sbuf out;                  /* towards the client */
    uint64_t sessions[CONN_SESSIONS];
    int n_sessions;
    int64_t last_active;
    bool closing;
    int busy;
};

struct edge {
    int tcp_fd, udp_fd;
    int tcp_wait, udp_wait;
    int sofia_port;
    int leg_source;                   /* UDP legs bind to 127.0.0.(1 + leg_source) */
    uint32_t next_id;
    struct hmap conns;                /* id -> edge_conn */
    struct hmap udp_peers;            /* hash(client address) -> edge_conn */
    struct edge_leg *legs[SHARED_LEGS];
    struct sbuf scratch;              /* one rewritten message on its way to a shared leg */
};

static struct edge edge;

static void conn_close(struct fe *fe, struct edge_conn *c, const char *why);
static void conn_free(struct edge_conn *c);
static bool flush_conn(struct fe *fe, struct edge_conn *c);

/* ---- small helpers ------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void consume(struct sbuf *b, size_t n)
{
    if (n >= b->len) {
        sbuf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

static bool header_is(const char *name, size_t len, const char *full, const char *compact)
{
    return (len == strlen(full) && strncasecmp(name, full, len) == 0) ||
           (compact && len == strlen(compact) && strncasecmp(name, compact, len) == 0);
}

/* One line of a header block. Header lines have a name and a value (both trimmed); the
 * start line and folded continuations have neither (name_len 0). */
struct hline {
    const char *raw;
    size_t raw_len;
    const char *name, *value;
    size_t name_len, value_len;
};

/* Step through the lines of a header block; `end` points at the CRLF that ends the block
 * (the empty line). */
static bool hline_next(const char **pos, const char *end, struct hline *h)
{
    if (*pos >= end)
        return false;
    const char *line = *pos;
    const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
    *pos = eol + 2;
    *h = (struct hline){ .raw = line, .raw_len = (size_t)(eol - line), .value = eol };
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (!colon || line[0] == ' ' || line[0] == '\t')
        return true;
    size_t nlen = (size_t)(colon - line);
    while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
        nlen--;
    if (memchr(line, ' ', nlen))
        return true;   /* "INFO sip:…": the start line, not a header */
    const char *v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = (size_t)(eol - v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    h->name = line;
    h->name_len = nlen;
    h->value = v;
    h->value_len = vlen;
    return true;
}

static bool hline_is(const struct hline *h, const char *full, const char *compact)
{
    return h->name_len && header_is(h->name, h->name_len, full, compact);
}

/* The connection id in the last "~c<hex>" mark of a Call-ID value (a client's own Call-ID
 * might contain "~c" too), 0 if none. */
static uint32_t conn_of_callid_n(const char *v, size_t n)
{
    const char *last = NULL, *end = v + n;
    size_t mark_len = strlen(EDGE_CALLID_MARK);
    for (const char *m = v; m < end;) {
        m = memmem(m, (size_t)(end - m), EDGE_CALLID_MARK, mark_len);
        if (!m)
            break;
        last = m++;
    }
    if (!last)
        return 0;
    uint32_t id = 0;
    for (const char *p = last + mark_len; p < end && id <= UINT32_MAX / 16; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            break;
        id = id * 16 + (uint32_t)d;
    }
    return id;
}

uint32_t edge_conn_of_callid(const char *call_id)
{
    return call_id ? conn_of_callid_n(call_id, strlen(call_id)) : 0;
}

int edge_connections(const struct fe *fe)
{
    (void)fe;
    return (int)edge.conns.count;
}

/* ---- framing and rewriting ----------------------------------------------------------- */

/* Find one whole message in b (after any CRLF keep-alives, which are dropped). Returns its
 * length (headers + body) with *skip = CRLFs before it, 0 when more bytes are needed, -1 when
 * the stream cannot be SIP. */
static long frame(const struct sbuf *b, size_t *skip, size_t *hdr_len)
{
    size_t s = 0;
    while (s < b->len && (b->data[s] == '\r' || b->data[s] == '\n'))
        s++;
    *skip = s;
    if (s == b->len)
        return 0;
    const char *h = b->data + s;
    size_t avail = b->len - s;
    const char *end = memmem(h, avail, "\r\n\r\n", 4);
    if (!end)
        return avail > HEADER_MAX ? -1 : 0;
    *hdr_len = (size_t)(end - h) + 4;
    if (*hdr_len > HEADER_MAX)
        return -1;
    long body = 0;
    bool seen = false;
    struct hline hl;
    for (const char *pos = h; hline_next(&pos, end, &hl);) {
        if (!hline_is(&hl, "content-length", "l"))
            continue;
        char num[24];
        if (hl.value_len == 0 || hl.value_len >= sizeof num || seen)
            return -1;   /* missing, absurd or twice: not trustworthy */
        memcpy(num, hl.value, hl.value_len);
        num[hl.value_len] = '\0';
        char *stop;
        long n = strtol(num, &stop, 10);
        if (*stop || n < 0)
            return -1;
        body = n;
        seen = true;
    }
    if (body > (long)OUT_MAX)
        return -1;
    if (avail < *hdr_len + (size_t)body)
        return 0;
    return (long)(*hdr_len + (size_t)body);
}

/* Contact <URI> -> <sip:user@127.0.0.1:leg;transport=…>, keeping the header parameters. */
static void rewrite_contact(struct sbuf *out, const char *v, size_t vlen, const struct edge_conn *c)
{
    const char *lt = memchr(v, '<', vlen);
    const char *gt = lt ? memchr(lt, '>', vlen - (size_t)(lt - v)) : NULL;
    const char *uri = lt && gt ? lt + 1 : v;
    const char *uri_end = lt && gt ? gt : v + strcspn(v, ";");
    if (uri_end > v + vlen)
        uri_end = v + vlen;
    if (vlen == 1 && v[0] == '*') {   /* REGISTER's "remove every binding" */
        sbuf_append(out, v, vlen);
        return;
    }
    const char *colon = memchr(uri, ':', (size_t)(uri_end - uri));
    const char *at = colon ? memchr(colon, '@', (size_t)(uri_end - colon)) : NULL;
    sbuf_append(out, v, (size_t)(uri - v));
    sbuf_puts(out, "sip:");
    if (colon && at)
        sbuf_append(out, colon + 1, (size_t)(at - colon - 1)), sbuf_putc(out, '@');
    sbuf_printf(out, "%s:%d;transport=%s", c->leg->addr, c->leg->port, c->udp ? "udp" : "tcp");
    sbuf_append(out, uri_end, vlen - (size_t)(uri_end - v));
}

/* Copy one message from `msg` to `out` with the rewrites of its direction. */
static void rewrite(struct sbuf *out, const char *msg, size_t hdr_len, size_t total,
                    const struct edge_conn *c, bool to_sofia)
{
    bool is_request = strncmp(msg, "SIP/2.0 ", 8) != 0;
    const char *end = msg + hdr_len - 2;   /* the empty line */
    char mark[24];
    int mark_len = snprintf(mark, sizeof mark, EDGE_CALLID_MARK "%" PRIx32, c->id);
    struct hline hl;
    for (const char *pos = msg; hline_next(&pos, end, &hl);) {
        size_t head = (size_t)(hl.value - hl.raw);
        if (hline_is(&hl, "call-id", "i")) {
            sbuf_append(out, hl.raw, head);
            if (to_sofia) {
                sbuf_append(out, hl.value, hl.value_len);
                sbuf_append(out, mark, (size_t)mark_len);
            } else if (hl.value_len >= (size_t)mark_len &&
                       memcmp(hl.value + hl.value_len - mark_len, mark, (size_t)mark_len) == 0) {
                sbuf_append(out, hl.value, hl.value_len - (size_t)mark_len);
            } else {
                sbuf_append(out, hl.value, hl.value_len);
            }
        } else if (to_sofia && is_request && hline_is(&hl, "contact", "m")) {
            sbuf_append(out, hl.raw, head);
            rewrite_contact(out, hl.value, hl.value_len, c);
        } else {
            sbuf_append(out, hl.raw, hl.raw_len);
        }
        sbuf_puts(out, "\r\n");
    }
    sbuf_puts(out, "\r\n");
    sbuf_append(out, msg + hdr_len, total - hdr_len);
}

/* ---- the fast path: INFOs the front end sends itself ---------------------------------- */

/* The value of the first header named `full`/`compact` in a header block, or NULL. */
static const char *header_value(const char *msg, size_t hdr_len, const char *full,
                                const char *compact, size_t *vlen)
{
    struct hline hl;
    for (const char *pos = msg; hline_next(&pos, msg + hdr_len - 2, &hl);) {
        if (hline_is(&hl, full, compact)) {
            *vlen = hl.value_len;
            return hl.value;
        }
    }
    return NULL;
}

/* A response to an INFO we sent ourselves (our branch mark in its Via): hand its status to
 * the session and report true, so it is not relayed to the stack. */
static bool answer_to_our_info(struct fe *fe, const char *msg, size_t hdr_len)
{
    if (strncmp(msg, "SIP/2.0 ", 8) != 0)
        return false;
    size_t vlen;
    const char *via = header_value(msg, hdr_len, "via", "v", &vlen);
    const char *mark = via ? memmem(via, vlen, EDGE_BRANCH_MARK, strlen(EDGE_BRANCH_MARK)) : NULL;
    if (!mark)
        return false;
    uint64_t sid = strtoull(mark + strlen(EDGE_BRANCH_MARK), NULL, 16);
    int status = atoi(msg + 8);
    struct fe_session *sess = session_get(fe, sid);
    if (sess && status >= 200)
        session_info_answered(fe, sess, status);
    return true;
}

/* An INFO in a dialog the front end knows (its session learnt the dialog): handled here,
 * without the SIP stack. Returns false to let the stack have it (unknown dialog, UDP, …). */
static bool fast_info(struct fe *fe, struct edge_conn *c, const char *msg, size_t hdr_len,
                      size_t total)
{
    if (c->udp || strncmp(msg, "INFO ", 5) != 0)
        return false;
    size_t idlen;
    const char *id = header_value(msg, hdr_len, "call-id", "i", &idlen);
    if (!id)
        return false;
    struct fe_session *s = NULL;
    for (int i = 0; i < c->n_sessions && !s; i++) {
        struct fe_session *cand = session_get(fe, c->sessions[i]);
        if (cand && cand->dlg.ready && !cand->ended && cand->nh &&
            strlen(cand->dlg.call_id) == idlen && memcmp(cand->dlg.call_id, id, idlen) == 0)
            s = cand;
    }
    if (!s)
        return false;
    /* the lines an answer echoes, in their order: every Via, From, To, Call-ID, CSeq */
    struct sbuf echo;
    sbuf_init(&echo, HEADER_MAX);
    struct hline hl;
    for (const char *pos = msg; hline_next(&pos, msg + hdr_len - 2, &hl);) {
        if (hline_is(&hl, "via", "v") || hline_is(&hl, "from", "f") || hline_is(&hl, "to", "t") ||
            hline_is(&hl, "call-id", "i") || hline_is(&hl, "cseq", NULL)) {
            sbuf_append(&echo, hl.raw, hl.raw_len);
            sbuf_puts(&echo, "\r\n");
        }
    }
    struct fe_answer ans = { .edge = true, .conn_id = c->id, .headers = sbuf_steal(&echo, NULL) };
    info_handle(fe, s, msg + hdr_len, total - hdr_len, &ans);
    return true;
}

void edge_respond(struct fe *fe, uint32_t conn_id, const char *headers, int status,
                  const char *phrase, const char *extra)
{
    struct edge_conn *c = conn_id ? hmap_get(&edge.conns, conn_id) : NULL;
    if (!c || c->closing || !headers)
        return;
    struct sbuf *b = &c->out;
    sbuf_printf(b, "SIP/2.0 %d %s\r\n", status, phrase);
    sbuf_puts(b, headers);
    sbuf_puts(b, extra ? extra : "");
    sbuf_puts(b, "Content-Length: 0\r\n\r\n");
    if (b->overflow)
        conn_close(fe, c, "its outbound buffer overflowed");
    else if (!flush_conn(fe, c))
        conn_close(fe, c, "the client went away");
}

int edge_send_info(struct fe *fe, struct fe_session *s, const char *body, size_t len)
{
    struct edge_conn *c = s->conn_id ? hmap_get(&edge.conns, s->conn_id) : NULL;
    if (!c || c->udp || c->closing || !s->dlg.ready)
        return -1;
    struct sbuf *b = &c->out;
    if (b->len > OUT_MAX / 2)
        return -1;
    const struct pchat_config *cfg = fe->cfg;
    uint32_t cseq = ++s->dlg.cseq;
    /* the shape pidgin-sipe accepts (PROTOCOL §2.7): From = the URI it INVITEd with our tag
       and no URI parameters, its dialog's Call-ID, text/plain, Content-Length */
    sbuf_printf(b, "INFO %s SIP/2.0\r\n"
                   "Via: SIP/2.0/TCP %s:%d;branch=" EDGE_BRANCH_MARK "%" PRIx64 ".%" PRIx32 "\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: %s\r\n"
                   "To: %s\r\n"
                   "Call-ID: %s\r\n"
                   "CSeq: %" PRIu32 " INFO\r\n"
                   "Content-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n\r\n",
                s->dlg.target, cfg->frontend.sip_address, cfg->frontend.sip_port, s->id, cseq,
                s->dlg.local, s->dlg.remote, s->dlg.call_id, cseq, len);
    sbuf_append(b, body, len);
    if (b->overflow) {
        conn_close(fe, c, "its outbound buffer overflowed");
        return 0;   /* the session ended with the connection */
    }
    if (!flush_conn(fe, c))
        conn_close(fe, c, "the client went away");
    return 0;
}

/* ---- I/O ------------------------------------------------------------------------------- */

static void watch(struct fe *fe, int wait, int fd, int *mask, bool pending)
{
    if (fd < 0 || wait <= 0)
        return;
    int want = SU_WAIT_IN | (pending ? SU_WAIT_OUT : 0);
    if (want != *mask) {
        su_root_eventmask(fe->root, wait, fd, want);
        *mask = want;
    }
}

/* Write what b holds to a stream socket, or as one datagram to `to`; false when the peer is
 * gone. What the socket cannot take now stays in b. */
static bool drain(int fd, struct sbuf *b, const struct sockaddr_storage *to, socklen_t to_len)
{
    while (b->len) {
        ssize_t n = to ? sendto(fd, b->data, b->len, 0, (const struct sockaddr *)to, to_len)
                       : send(fd, b->data, b->len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        consume(b, (size_t)n);
    }
    return true;
}

static bool flush_conn(struct fe *fe, struct edge_conn *c)
{
    bool ok = c->udp ? drain(edge.udp_fd, &c->out, &c->peer, c->peer_len)
                     : drain(c->fd, &c->out, NULL, 0);
    watch(fe, c->wait, c->fd, &c->mask, c->out.len > 0);
    return ok;
}

static bool flush_leg(struct fe *fe, struct edge_leg *l)
{
    bool ok = drain(l->fd, &l->out, NULL, 0);
    watch(fe, l->wait, l->fd, &l->mask, l->out.len > 0);
    return ok;
}

/* The next whole message in `in`, after dropping the CRLF keep-alives before it: 1 with *msg,
 * *hdr and *len set (the caller consumes *len when done with it), 0 when more bytes are
 * needed, -1 when the stream cannot be SIP. */
static int next_message(struct sbuf *in, const char **msg, size_t *hdr, size_t *len)
{
    size_t skip = 0;
    long total = frame(in, &skip, hdr);
    consume(in, skip);
    if (total <= 0)
        return total < 0 ? -1 : 0;
    *msg = in->data;
    *len = (size_t)total;
    return 1;
}

/* Whole messages from the client: the fast path takes INFOs in known dialogs and answers to
 * our own INFOs; everything else is rewritten and queued on the client's leg, a whole
 * message at a time (a shared leg must never carry half of one). False: cut the client. */
static bool process_client(struct fe *fe, struct edge_conn *c)
{
    const char *msg;
    size_t hdr, total;
    int got;
    while ((got = next_message(&c->in, &msg, &hdr, &total)) > 0) {
        if (fast_info(fe, c, msg, hdr, total) || answer_to_our_info(fe, msg, hdr)) {
            /* handled here; the stack never sees it */
            if (c->closing)
                return true;   /* the answer closed the connection */
            consume(&c->in, total);
            continue;
        }
        struct sbuf *one = &edge.scratch;
        sbuf_reset(one);
        rewrite(one, msg, hdr, total, c, true);
        consume(&c->in, total);
        if (one->overflow || c->leg->out.len + one->len > LEG_OUT_MAX)
            return false;   /* the stack is not keeping up: this client goes, not the leg */
        sbuf_append(&c->leg->out, one->data, one->len);
    }
    return got == 0;
}

/* Whole messages from sofia, each to the client its Call-ID mark names (a UDP leg's owner).
 * A message for a client that is gone is dropped. False: the leg cannot be trusted. */
static bool process_leg(struct fe *fe, struct edge_leg *l)
{
    const char *msg;
    size_t hdr, total;
    int got;
    while ((got = next_message(&l->in, &msg, &hdr, &total)) > 0) {
        struct edge_conn *c = l->owner;
        if (!c) {
            size_t idlen = 0;
            const char *id = header_value(msg, hdr, "call-id", "i", &idlen);
            uint32_t cid = id ? conn_of_callid_n(id, idlen) : 0;
            c = cid ? hmap_get(&edge.conns, cid) : NULL;
            if (c && c->leg != l)
                c = NULL;
        }
        if (!c || c->closing) {
            consume(&l->in, total);
            continue;
        }
        rewrite(&c->out, msg, hdr, total, c, false);
        consume(&l->in, total);
        /* one message at a time: a UDP client gets each as a datagram of its own */
        if (c->out.overflow || c->out.len > OUT_MAX)
            conn_close(fe, c, "it stopped reading");
        else if (!flush_conn(fe, c))
            conn_close(fe, c, "the client went away");
        if (l->closing)
            return true;   /* its UDP owner closed it */
    }
    return got == 0;
}

/* Read what a socket has (a few chunks per wake-up, so one busy peer cannot starve the
 * others) into b. Returns 1 when something was read or nothing is there, 0 on EOF or error,
 * -1 when b overflowed. */
static int read_into(int fd, struct sbuf *b, int64_t *last_active)
{
    char buf[READ_CHUNK];
    for (int round = 0; round < 4; round++) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        if (last_active)
            *last_active = mono_us();
        sbuf_append(b, buf, (size_t)n);
        if (b->overflow)
            return -1;
        if ((size_t)n < sizeof buf)
            break;
    }
    return 1;
}

static void leg_free(struct edge_leg *l)
{
    sbuf_free(&l->in);
    sbuf_free(&l->out);
    free(l);
}

/* Stop using a leg: freed now, or when its handler returns. */
static void leg_close(struct fe *fe, struct edge_leg *l)
{
    if (l->closing)
        return;
    l->closing = true;
    if (l->wait > 0)
        su_root_deregister(fe->root, l->wait);
    l->wait = 0;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->index >= 0 && edge.legs[l->index] == l)
        edge.legs[l->index] = NULL;
    if (!l->busy)
        leg_free(l);
}

/* A leg that failed takes its clients with it: their dialogs lived on it. The next client
 * opens a new one. */
static void leg_fail(struct fe *fe, struct edge_leg *l, const char *why)
{
    if (l->closing)
        return;
    if (l->owner) {
        conn_close(fe, l->owner, why);
        return;
    }
    log_warn("relay leg %s:%d to the SIP stack failed (%s): its clients are cut", l->addr,
             l->port, why);
    l->busy++;
    size_t n = 0, pos = 0;
    void *v;
    uint32_t *ids = xcalloc(edge.conns.count + 1, sizeof *ids);
    while (hmap_next(&edge.conns, &pos, NULL, &v)) {
        struct edge_conn *c = v;
        if (c->leg == l)
            ids[n++] = c->id;
    }
    for (size_t i = 0; i < n; i++) {
        struct edge_conn *c = hmap_get(&edge.conns, ids[i]);
        if (c)
            conn_close(fe, c, "its relay leg failed");
    }
    free(ids);
    leg_close(fe, l);
    if (--l->busy == 0 && l->closing)
        leg_free(l);
}

static void leg_ready(struct fe *fe, struct edge_leg *l, int events)
{
    if ((events & SU_WAIT_OUT) && !flush_leg(fe, l)) {
        leg_fail(fe, l, "sofia stopped reading");
        return;
    }
    if (!(events & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR)))
        return;
    int r = read_into(l->fd, &l->in, NULL);
    if (r <= 0) {
        leg_fail(fe, l, r == 0 ? "sofia closed it" : "a message from sofia exceeds the size limit");
        return;
    }
    if (!process_leg(fe, l))
        leg_fail(fe, l, "sofia sent something that is not SIP");
}

static int on_leg(struct fe *fe, su_wait_t *w, void *arg)
{
    struct edge_leg *l = arg;
    if (l->closing)
        return 0;
    int events = su_wait_events(w, l->fd);
    l->busy++;
    leg_ready(fe, l, events);
    if (--l->busy == 0 && l->closing)
        leg_free(l);
    return 0;
}

static void conn_ready(struct fe *fe, struct edge_conn *c, int events)
{
    if ((events & SU_WAIT_OUT) && !flush_conn(fe, c)) {
        conn_close(fe, c, "the client stopped reading");
        return;
    }
    if (!(events & (SU_WAIT_IN | SU_WAIT_HUP | SU_WAIT_ERR)))
        return;
    int r = read_into(c->fd, &c->in, &c->last_active);
    if (r <= 0) {
        conn_close(fe, c, r == 0 ? "the client closed its connection"
                                 : "a message exceeds the size limit");
        return;
    }
    if (!process_client(fe, c)) {
        conn_close(fe, c, "it sent something that is not SIP, or the stack is not keeping up");
        return;
    }
    if (!c->closing && !flush_leg(fe, c->leg))
        leg_fail(fe, c->leg, "sofia stopped reading");
}

static int on_conn(struct fe *fe, su_wait_t *w, void *arg)
{
    struct edge_conn *c = arg;
    if (c->closing)
        return 0;
    int events = su_wait_events(w, c->fd);
    c->busy++;
    conn_ready(fe, c, events);
    if (--c->busy == 0 && c->closing)
        conn_free(c);
    return 0;
}

static int watch_fd(struct fe *fe, int fd, su_wakeup_f cb, void *arg, int *wait, int *mask)
{
    su_wait_t w;
    if (su_wait_create(&w, fd, SU_WAIT_IN) < 0)
        return -1;
    *wait = su_root_register(fe->root, &w, cb, arg, 0);
    *mask = SU_WAIT_IN;
    return *wait > 0 ? 0 : -1;
}

static struct edge_conn *conn_new(struct fe *fe, bool udp)
{
    struct edge_conn *c = xcalloc(1, sizeof *c);
    c->id = ++edge.next_id ? edge.next_id : ++edge.next_id;
    c->udp = udp;
    c->fd = -1;
    /* what a client sends is capped at its largest allowed message; what the stack sends
       it (a room list of hundreds of rooms, a long history) is ours and may be much larger */
    sbuf_init(&c->in, (size_t)fe->cfg->frontend.max_body_bytes + HEADER_MAX + READ_CHUNK);
    sbuf_init(&c->out, OUT_MAX + READ_CHUNK);
    c->last_active = mono_us();
    return c;
}

/* A socket connected (or connecting) to sofia, from 127.0.0.(1 + edge.leg_source). */
static int leg_socket(bool udp)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)edge.sofia_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    /* each UDP peer's leg takes a local port; when 127.0.0.1 runs out, the next loopback
       address gives another ~28,000 (all of 127/8 is local) */
    for (int tries = 0; tries < 250; tries++) {
        int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        set_nonblock(fd);
        int one = 1;
        if (!udp)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in src = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK + edge.leg_source) };
        /* the port is picked at connect time, per destination (not reserved by bind) */
        if (edge.leg_source)
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if ((edge.leg_source == 0 || bind(fd, (struct sockaddr *)&src, sizeof src) == 0) &&
            (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EINPROGRESS))
            return fd;
        int e = errno;
        close(fd);
        if (e != EADDRNOTAVAIL && e != EADDRINUSE) {
            errno = e;
            return -1;
        }
        edge.leg_source = (edge.leg_source + 1) % 250;
        log_info("relay legs now use source address 127.0.0.%d", 1 + edge.leg_source);
    }
    errno = EADDRNOTAVAIL;
    return -1;
}

/* A new leg: shared (index >= 0, owner NULL) or a UDP peer's own. */
static struct edge_leg *leg_open(struct fe *fe, bool udp, int index, struct edge_conn *owner)
{
    int fd = leg_socket(udp);
    if (fd < 0)
        return NULL;
    struct edge_leg *l = xcalloc(1, sizeof *l);
    l->fd = fd;
    l->index = index;
    l->owner = owner;
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    l->port = ntohs(me.sin_port);
    inet_ntop(AF_INET, &me.sin_addr, l->addr, sizeof l->addr);
    /* what the stack sends is ours (a long room list, a history); what goes to it is capped
       per message by the client side, and in total by LEG_OUT_MAX */
    sbuf_init(&l->in, OUT_MAX + READ_CHUNK);
    sbuf_init(&l->out, owner ? OUT_MAX + READ_CHUNK : LEG_OUT_MAX + READ_CHUNK);
    if (watch_fd(fe, fd, on_leg, l, &l->wait, &l->mask) < 0) {
        close(fd);
        l->fd = -1;
        leg_free(l);
        return NULL;
    }
    if (index >= 0)
        edge.legs[index] = l;
    return l;
}

/* The shared leg a TCP client's messages take, opened when first needed. */
static struct edge_leg *shared_leg(struct fe *fe, uint32_t conn_id)
{
    int index = (int)(conn_id % SHARED_LEGS);
    return edge.legs[index] ? edge.legs[index] : leg_open(fe, false, index, NULL);
}

static void conn_free(struct edge_conn *c)
{
    sbuf_free(&c->in);
    sbuf_free(&c->out);
    free(c);
}

/* Close the client's socket (and a UDP peer's own leg) and end the client's sessions. Safe
 * to call from inside the connection's own handler (answers and deliveries can close it):
 * it is freed when the handler returns. */
static void conn_close(struct fe *fe, struct edge_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    log_debug("connection %" PRIx32 " from %s closed: %s", c->id, c->peer_name, why);
    if (c->wait > 0)
        su_root_deregister(fe->root, c->wait);
    c->wait = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->leg && c->leg->owner == c)
        leg_close(fe, c->leg);
    c->leg = NULL;
    hmap_del(&edge.conns, c->id);
    if (c->udp)
        hmap_del(&edge.udp_peers, hmap_hash_bytes(&c->peer, c->peer_len));
    /* the client is gone: its sessions end now (ntc:part to the others), and nothing is ever
       sent to them again */
    c->busy++;
    for (int i = 0; i < c->n_sessions; i++) {
        struct fe_session *s = session_get(fe, c->sessions[i]);
        if (!s)
            continue;
        nua_handle_t *nh = s->nh;
        if (nh) {   /* the dialog cannot be used any more: let sofia forget it */
            nua_handle_bind(nh, NULL);
            s->nh = NULL;
        }
        session_end(fe, s, "its connection closed");
        if (nh)
            nua_handle_destroy(nh);
    }
    c->busy--;
    if (!c->busy)
        conn_free(c);
}

void edge_session_opened(struct fe *fe, uint32_t conn_id, uint64_t session_id)
{
    (void)fe;
    struct edge_conn *c = hmap_get(&edge.conns, conn_id);
    if (!c)
        return;
    for (int i = 0; i < c->n_sessions; i++) {
        if (!session_get(fe, c->sessions[i])) {   /* reuse a slot of a session that is gone */
            c->sessions[i] = session_id;
            return;
        }
    }
    if (c->n_sessions < CONN_SESSIONS)
        c->sessions[c->n_sessions++] = session_id;
}

static int on_accept(struct fe *fe, su_wait_t *w, void *arg)
{
    (void)w;
    (void)arg;
    for (int n = 0; n < 64; n++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(edge.tcp_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("cannot accept a SIP connection: %s", strerror(errno));
            return 0;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct edge_conn *c = conn_new(fe, false);
        c->fd = fd;
        c->peer = peer;
        c->peer_len = plen;
        char host[INET6_ADDRSTRLEN] = "?";
        if (peer.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&peer;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            snprintf(c->peer_name, sizeof c->peer_name, "%s:%d", host, ntohs(in->sin_port));
        }
        hmap_put(&edge.conns, c->id, c);
        c->leg = shared_leg(fe, c->id);
        if (!c->leg || watch_fd(fe, fd, on_conn, c, &c->wait, &c->mask) < 0) {
            log_error("cannot relay a connection to the SIP stack: %s", strerror(errno));
            conn_close(fe, c, "no relay");
        }
    }
    return 0;
}

static int on_udp(struct fe *fe, su_wait_t *w, void *arg)
{
    (void)w;
    (void)arg;
    char buf[READ_CHUNK];
    for (int n = 0; n < 64; n++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        ssize_t len = recvfrom(edge.udp_fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
        if (len <= 0)
            return 0;
        uint64_t key = hmap_hash_bytes(&peer, plen);
        struct edge_conn *c = hmap_get(&edge.udp_peers, key);
        if (!c) {
            if (edge.udp_peers.count >= UDP_PEERS_MAX)
                continue;   /* bounded: datagrams from new peers wait for expiry */
            c = conn_new(fe, true);
            c->peer = peer;
            c->peer_len = plen;
            snprintf(c->peer_name, sizeof c->peer_name, "udp peer %" PRIx32, c->id);
            hmap_put(&edge.conns, c->id, c);
            hmap_put(&edge.udp_peers, key, c);
            c->leg = leg_open(fe, true, -1, c);
            if (!c->leg) {
                conn_close(fe, c, "no relay");
                continue;
            }
        }
        c->last_active = mono_us();
        sbuf_reset(&c->in);
        sbuf_append(&c->in, buf, (size_t)len);
        /* one datagram is one message; anything unframed in it is dropped */
        c->busy++;
        process_client(fe, c);
        sbuf_reset(&c->in);
        if (!c->closing && !flush_leg(fe, c->leg))
            conn_close(fe, c, "the stack's leg failed");
        if (--c->busy == 0 && c->closing)
            conn_free(c);
    }
    return 0;
}

static int listen_on(int type, const char *address, int port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        (type == SOCK_STREAM && listen(fd, 1024) < 0) || set_nonblock(fd) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int edge_open(struct fe *fe, int internal_port)
{
    const struct pchat_config *cfg = fe->cfg;
    memset(&edge, 0, sizeof edge);
    edge.sofia_port = internal_port;
    edge.tcp_fd = edge.udp_fd = -1;
    hmap_init(&edge.conns);
    hmap_init(&edge.udp_peers);
    sbuf_init(&edge.scratch, (size_t)cfg->frontend.max_body_bytes + 2 * HEADER_MAX + READ_CHUNK);
    edge.tcp_fd = listen_on(SOCK_STREAM, cfg->frontend.sip_address, cfg->frontend.sip_port);
    if (edge.tcp_fd < 0) {
        log_error("cannot listen for SIP on tcp %s:%d: %s (frontend.sip_address, "
                  "frontend.sip_port)", cfg->frontend.sip_address, cfg->frontend.sip_port,
                  strerror(errno));
        return -1;
    }
    su_wait_t w;
    su_wait_create(&w, edge.tcp_fd, SU_WAIT_ACCEPT);
    edge.tcp_wait = su_root_register(fe->root, &w, on_accept, NULL, 0);
    if (cfg->frontend.sip_udp) {
        edge.udp_fd = listen_on(SOCK_DGRAM, cfg->frontend.sip_address, cfg->frontend.sip_port);
        if (edge.udp_fd < 0) {
            log_error("cannot listen for SIP on udp %s:%d: %s (set frontend.sip_udp: false to "
                      "serve TCP only)", cfg->frontend.sip_address, cfg->frontend.sip_port,
                      strerror(errno));
            return -1;
        }
        su_wait_create(&w, edge.udp_fd, SU_WAIT_IN);
        edge.udp_wait = su_root_register(fe->root, &w, on_udp, NULL, 0);
    }
    return 0;
}

void edge_janitor(struct fe *fe)
{
    int64_t now = mono_us();
    size_t pos = 0;
    void *v;
    while (hmap_next(&edge.conns, &pos, NULL, &v)) {
        struct edge_conn *c = v;
        if (c->udp && now - c->last_active > UDP_IDLE_US)
            conn_close(fe, c, "idle");
    }
}

void edge_close(struct fe *fe)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&edge.conns, &pos, NULL, &v))
        conn_close(fe, v, "shutting down");
    for (int i = 0; i < SHARED_LEGS; i++)
        if (edge.legs[i])
            leg_close(fe, edge.legs[i]);
    hmap_free(&edge.conns);
    hmap_free(&edge.udp_peers);
    sbuf_free(&edge.scratch);
    if (edge.tcp_wait > 0)
        su_root_deregister(fe->root, edge.tcp_wait);
    if (edge.udp_wait > 0)
        su_root_deregister(fe->root, edge.udp_wait);
    if (edge.tcp_fd >= 0)
        close(edge.tcp_fd);
    if (edge.udp_fd >= 0)
        close(edge.udp_fd);
    edge.tcp_fd = edge.udp_fd = -1;
}
