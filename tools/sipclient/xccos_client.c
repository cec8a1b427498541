/* xccos_client.c — the XCCOS documents SIPE sends (sipe-groupchat.c: envelope, requri, getinv,
 * chansrch, join/bjoin, bccontext, part, grpchat) and what it reads from the server's INFOs: one
 * rpl, else ntc, else grpchat per envelope; the rooms it has open; the posts it would drop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sbuf.h"
#include "sc_internal.h"

uint32_t sc_send_command(struct sc_user *u, struct sc_dialog *d, const char *inner,
                         enum sc_txn_purpose purpose)
{
    if (!d || d->ended)
        return 0;
    struct sbuf b;
    sbuf_init(&b, u->opts.max_message);
    uint32_t envid = u->envid++;
    sbuf_printf(&b, "<xccos ver=\"1\" envid=\"%u\" xmlns=\"urn:parlano:xml:ns:xccos\">%s</xccos>", envid, inner);
    if (b.overflow) {
        sbuf_free(&b);
        return 0;
    }
    struct sc_txn *t = sc_send_request(u, "INFO", d->remote_uri, d->remote_uri, d,
                                       "Content-Type: text/plain\r\n", b.data, purpose, SC_REQ_INFO, false);
    sbuf_free(&b);
    if (!t)
        return 0;
    t->envid = envid;
    return t->cseq;
}

static struct sc_dialog *ready_channel(struct sc_user *u)
{
    if (u->state != SC_CONNECTED || !u->channel || !u->channel->established || u->channel->ended)
        return NULL;
    return u->channel;
}

static uint32_t command(struct sc_user *u, const char *inner)
{
    struct sc_dialog *d = ready_channel(u);
    return d ? sc_send_command(u, d, inner, SC_TP_COMMAND) : 0;
}

/* SIPE's generate_chanid_node: split "ma-chan://domain/path" at the first three '/'. */
static int append_chanid(struct sbuf *b, const char *uri, int key)
{
    if (strncmp(uri, "ma-chan://", 10) != 0)
        return -1;
    const char *domain = uri + 10;
    const char *slash = strchr(domain, '/');
    if (!slash || slash == domain || !slash[1])
        return -1;
    sbuf_printf(b, "<chanid key=\"%d\" domain=\"", key);
    sbuf_xml_escaped_n(b, domain, (size_t)(slash - domain));
    sbuf_puts(b, "\" value=\"");
    sbuf_xml_escaped(b, slash + 1);
    sbuf_puts(b, "\"/>");
    return 0;
}

uint32_t sc_user_bjoin(struct sc_user *u, const char *const *uris, int n)
{
    struct sbuf b;
    sbuf_init(&b, u->opts.max_message);
    sbuf_puts(&b, "<cmd id=\"cmd:bjoin\" seqid=\"1\"><data>");
    for (int i = 0; i < n; i++)
        if (append_chanid(&b, uris[i], i) < 0) {
            sbuf_free(&b);
            return 0;
        }
    sbuf_puts(&b, "</data></cmd>");
    uint32_t c = b.overflow ? 0 : command(u, b.data);
    sbuf_free(&b);
    return c;
}

uint32_t sc_user_join(struct sc_user *u, const char *uri)
{
    struct sbuf b;
    sbuf_init(&b, 8192);
    sbuf_puts(&b, "<cmd id=\"cmd:join\" seqid=\"1\"><data>");
    if (append_chanid(&b, uri, 0) < 0) {
        sbuf_free(&b);
        return 0;           /* SIPE silently sends nothing for a URI without ma-chan:// */
    }
    sbuf_puts(&b, "</data></cmd>");
    uint32_t c = b.overflow ? 0 : command(u, b.data);
    sbuf_free(&b);
    return c;
}

static uint32_t chanib_command(struct sc_user *u, const char *id, const char *uri, const char *tail)
{
    struct sbuf b;
    sbuf_init(&b, 8192);
    sbuf_printf(&b, "<cmd id=\"%s\" seqid=\"1\"><data><chanib uri=\"", id);
    sbuf_xml_escaped(&b, uri);
    sbuf_printf(&b, "\"/>%s</data></cmd>", tail);
    uint32_t c = b.overflow ? 0 : command(u, b.data);
    sbuf_free(&b);
    return c;
}

uint32_t sc_user_part(struct sc_user *u, const char *uri)
{
    return chanib_command(u, "cmd:part", uri, "");
}

uint32_t sc_user_bccontext(struct sc_user *u, const char *uri, int last_cnt)
{
    char tail[64];
    snprintf(tail, sizeof(tail), "<bcq><last cnt=\"%d\"/></bcq>", last_cnt);
    return chanib_command(u, "cmd:bccontext", uri, tail);
}

uint32_t sc_user_chansrch(struct sc_user *u, const char *criteria)
{
    struct sbuf b;
    sbuf_init(&b, 8192);
    sbuf_puts(&b, "<cmd id=\"cmd:chansrch\" seqid=\"1\"><data><qib qtype=\"BYNAME\" criteria=\"");
    sbuf_xml_escaped(&b, criteria ? criteria : "");
    sbuf_puts(&b, "\" extended=\"false\"/></data></cmd>");
    uint32_t c = b.overflow ? 0 : command(u, b.data);
    sbuf_free(&b);
    return c;
}

uint32_t sc_user_getinv(struct sc_user *u)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "<cmd id=\"cmd:getinv\" seqid=\"1\"><data><inv inviteId=\"1\" domain=\"%s\"/></data></cmd>",
             u->lookup_domain ? u->lookup_domain : u->domain);
    return command(u, cmd);
}

uint32_t sc_user_getserverinfo(struct sc_user *u)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "<cmd id=\"cmd:getserverinfo\" seqid=\"1\"><data><sib domain=\"%s\" infoType=\"123\"/></data></cmd>",
             u->domain);
    return command(u, cmd);
}

uint32_t sc_user_getassociations(struct sc_user *u)
{
    return command(u, "<cmd id=\"cmd:getassociations\" seqid=\"1\"><data/></cmd>");
}

uint32_t sc_user_post(struct sc_user *u, const char *uri, const char *text)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct sbuf b;
    sbuf_init(&b, u->opts.max_message);
    sbuf_puts(&b, "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"");
    sbuf_xml_escaped(&b, uri);
    sbuf_puts(&b, "\" author=\"");
    sbuf_xml_escaped(&b, u->aor);
    sbuf_printf(&b, "\" ts=\"%s\"><chat>", ts);
    sbuf_xml_escaped(&b, text);
    sbuf_puts(&b, "</chat></grpchat>");
    uint32_t c = b.overflow ? 0 : command(u, b.data);
    sbuf_free(&b);
    return c;
}

uint32_t sc_user_send_xccos(struct sc_user *u, const char *inner)
{
    return command(u, inner);
}

uint32_t sc_user_send_info_body(struct sc_user *u, const char *body, size_t len)
{
    struct sc_dialog *d = ready_channel(u);
    if (!d)
        return 0;
    char *copy = sc_strndup(body, len);
    if (!copy)
        return 0;
    struct sc_txn *t = sc_send_request(u, "INFO", d->remote_uri, d->remote_uri, d,
                                       "Content-Type: text/plain\r\n", copy, SC_TP_COMMAND, SC_REQ_INFO, false);
    free(copy);
    return t ? t->cseq : 0;
}

/* ---- rooms ----------------------------------------------------------------------------------- */

bool sc_user_in_room(const struct sc_user *u, const char *uri)
{
    for (int i = 0; i < u->n_rooms; i++)
        if (strcmp(u->rooms[i], uri) == 0)
            return true;
    return false;
}

static void room_open(struct sc_user *u, const char *uri)
{
    if (sc_user_in_room(u, uri))
        return;
    if (u->n_rooms >= SC_MAX_ROOMS) {
        sc_violation(u, "client: more than %d rooms open", SC_MAX_ROOMS);
        return;
    }
    if (u->n_rooms == u->cap_rooms) {
        int cap = u->cap_rooms ? u->cap_rooms * 2 : 4;
        char **r = realloc(u->rooms, (size_t)cap * sizeof(*r));
        if (!r)
            return;
        u->rooms = r;
        u->cap_rooms = cap;
    }
    u->rooms[u->n_rooms] = sc_strdup(uri);
    if (u->rooms[u->n_rooms])
        u->n_rooms++;
}

static void room_close(struct sc_user *u, const char *uri)
{
    for (int i = 0; i < u->n_rooms; i++) {
        if (strcmp(u->rooms[i], uri) == 0) {
            free(u->rooms[i]);
            u->rooms[i] = u->rooms[--u->n_rooms];
            return;
        }
    }
}

void sc_rooms_clear(struct sc_user *u)
{
    for (int i = 0; i < u->n_rooms; i++)
        free(u->rooms[i]);
    free(u->rooms);
    u->rooms = NULL;
    u->n_rooms = u->cap_rooms = 0;
}

bool sc_post_of(const struct xnode *n, struct sc_post *out)
{
    memset(out, 0, sizeof(*out));
    if (!n)
        return false;
    out->chan_uri = xnode_attr(n, "chanUri");
    out->author = xnode_attr(n, "author");
    out->ts = xnode_attr(n, "ts");
    const struct xnode *chat = xnode_child(n, "chat");
    out->text = chat ? (chat->text ? chat->text : "") : NULL;
    return out->chan_uri && out->author;
}

static void check_post(struct sc_user *u, const struct xnode *n, const char *where)
{
    struct sc_post p;
    if (!sc_post_of(n, &p)) {
        sc_violation(u, "%s without chanUri or author: SIPE skips it (#24/#25)", where);
        return;
    }
    if (!sc_user_in_room(u, p.chan_uri))
        sc_violation(u, "%s for room '%s' that is not open (byte-exact): SIPE drops it (#25)", where, p.chan_uri);
    if (!p.ts || !p.ts[0] || p.ts[strlen(p.ts) - 1] != 'Z')
        sc_violation(u, "%s ts '%s' does not end in Z: SIPE shows the wrong time (#25)", where, p.ts ? p.ts : "(none)");
    if (!p.text)
        sc_violation(u, "%s has no chat child", where);
}

/* The ids SIPE dispatches on (response_table, compared case-insensitively). */
static bool is(const char *xid, const char *want)
{
    return strcasecmp(xid, want) == 0;
}

static void track(struct sc_user *u, struct sc_dialog *d, struct sc_event *ev)
{
    const struct xnode *it = ev->item;
    const struct xnode *data = it ? xnode_child(it, "data") : NULL;
    const char *xid = ev->xid;

    if (is(xid, "rpl:requri")) {
        if (d->role == SC_DLG_LOOKUP)
            sc_ladder_requri_reply(u, it);
        else
            sc_violation(u, "rpl:requri on the channel dialog: SIPE would close it and reconnect");
    } else if ((is(xid, "rpl:join") || is(xid, "rpl:bjoin")) && ev->resp_code == 200) {
        for (const struct xnode *c = data ? xnode_child(data, "chanib") : NULL; c; c = xnode_next(c, "chanib")) {
            const char *uri = xnode_attr(c, "uri");
            if (!uri)
                continue;
            room_open(u, uri);
            /* SIPE asks for the last 25 messages of every room it just opened */
            if (!u->opts.no_auto_history && d->role == SC_DLG_CHANNEL)
                sc_user_bccontext(u, uri, 25);
        }
    } else if (is(xid, "rpl:part") && ev->resp_code == 200) {
        const struct xnode *c = data ? xnode_child(data, "chanib") : NULL;
        const char *uri = c ? xnode_attr(c, "uri") : NULL;
        if (uri && sc_user_in_room(u, uri))
            room_close(u, uri);
        else
            sc_violation(u, "rpl:part names room '%s' that is not open: SIPE keeps the room (#21)", uri ? uri : "(none)");
    } else if (is(xid, "grpchat")) {
        check_post(u, it, "grpchat");
    } else if (is(xid, "rpl:bccontext") && data) {
        const struct xnode *c = xnode_child(data, "chanib");
        for (const struct xnode *m = c ? xnode_child(c, "msg") : NULL; m; m = xnode_next(m, "msg"))
            if (xnode_attr(m, "id") && strcmp(xnode_attr(m, "id"), "grpchat") == 0)
                check_post(u, m, "history msg");
    }
}

void sc_deliver_server_info(struct sc_user *u, struct sc_dialog *d, const struct sc_msg *m)
{
    struct sc_event *ev = sc_event_new(SC_EV_SERVER_INFO);
    if (!ev)
        return;
    ev->lookup_dialog = d->role == SC_DLG_LOOKUP;
    char *body = sc_strndup(m->body, m->body_len);
    ev->raw = body;
    ev->raw_len = body ? m->body_len : 0;
    ev->xid = "";
    ev->resp_text = "";

    struct xdoc_limits lim = { .max_bytes = u->opts.max_message, .max_depth = 32, .max_attrs = 64,
                               .max_text = u->opts.max_message, .max_nodes = 200000 };
    char err[200];
    struct xdoc *doc = NULL;
    if (!body || xdoc_parse(body, m->body_len, &lim, &doc, err, sizeof(err)) != XDOC_OK) {
        char ex[SC_DETAIL_MAX / 2];
        sc_msg_excerpt(m, ex, sizeof(ex));
        sc_violation(u, "server INFO body is not well-formed XML (%s): SIPE drops it silently [%s]",
                     body ? err : "out of memory", ex);
        sc_emit(u, ev);
        return;
    }
    ev->doc = doc;
    const struct xnode *root = xdoc_root(doc);
    int kinds = 0;
    for (const struct xnode *c = root->children; c; c = c->next)
        if (strcmp(c->name, "rpl") == 0 || strcmp(c->name, "ntc") == 0 || strcmp(c->name, "grpchat") == 0)
            kinds++;
    if (kinds > 1)
        sc_violation(u, "one envelope holds %d rpl/ntc/grpchat elements: SIPE ignores all but the first kind (#19)", kinds);

    const struct xnode *it = xnode_child(root, "rpl");
    if (!it)
        it = xnode_child(root, "ntc");
    if (!it)
        it = xnode_child(root, "grpchat");
    if (it) {
        ev->item = it;
        const char *id = xnode_attr(it, "id");
        ev->xid = id ? id : "";
        if (strcmp(it->name, "rpl") == 0) {
            const struct xnode *resp = xnode_child(it, "resp");
            const char *code = resp ? xnode_attr(resp, "code") : NULL;
            ev->resp_code = code ? atoi(code) : 500;
            ev->resp_text = resp && resp->text ? resp->text : "";
        }
        track(u, d, ev);
    } else {
        sc_violation(u, "server INFO has no rpl, ntc or grpchat child (element names are case-sensitive): SIPE ignores it");
    }
    sc_emit(u, ev);
}
