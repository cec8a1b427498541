/* xccos.c — decoding of client XCCOS commands (through xdoc) and the helpers shared by the
 * renderers (xccos_render.c holds the documents the server sends). */
#include "xccos.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define XCCOS_BCQ_MAX_CNT 10000
#define XCCOS_PEEK_WINDOW 512

static const struct {
    const char *id;
    enum xccos_cmd_id cmd;
} known_commands[] = {
    { "cmd:requri", XCMD_REQURI },
    { "cmd:getserverinfo", XCMD_GETSERVERINFO },
    { "cmd:getassociations", XCMD_GETASSOCIATIONS },
    { "cmd:join", XCMD_JOIN },
    { "cmd:bjoin", XCMD_BJOIN },
    { "cmd:part", XCMD_PART },
    { "cmd:bccontext", XCMD_BCCONTEXT },
    { "cmd:chansrch", XCMD_CHANSRCH },
    { "cmd:getinv", XCMD_GETINV },
};

/* SIPE compares ids case-insensitively (PROTOCOL §5 #20); accept what it would accept. */
static enum xccos_cmd_id command_by_id(const char *id, size_t len)
{
    for (size_t i = 0; i < sizeof known_commands / sizeof known_commands[0]; i++) {
        const char *k = known_commands[i].id;
        if (strlen(k) == len && strncasecmp(k, id, len) == 0)
            return known_commands[i].cmd;
    }
    return XCMD_UNKNOWN;
}

static const char *attr_or(const struct xnode *n, const char *name, const char *fallback)
{
    const char *v = xnode_attr(n, name);
    return v ? v : fallback;
}

/* Strict decimal in [0, max]: no sign, no spaces, no trailing junk. */
static bool parse_count(const char *s, int max, int *out)
{
    if (!s || !*s)
        return false;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > max)
            return false;
    }
    *out = (int)v;
    return true;
}

/* ---- per-command decoders: each returns XCCOS_OK or XCCOS_ESCHEMA with a sentence ---------- */

static enum xccos_err decode_chanids(struct xccos_cmd *c, const struct xnode *data, char *err,
                                     size_t errlen)
{
    const struct xnode *first = xnode_child(data, "chanid");
    if (!first) {
        set_error(err, errlen, "%s needs at least one data/chanid element", c->id);
        return XCCOS_ESCHEMA;
    }
    int total = 0;
    for (const struct xnode *n = first; n; n = xnode_next(n, "chanid"))
        total++;
    if (total > XCCOS_MAX_CHANIDS) {
        set_error(err, errlen, "%s names %d rooms; at most %d rooms can be joined in one command",
                c->id, total, XCCOS_MAX_CHANIDS);
        return XCCOS_ESCHEMA;
    }
    int i = 0;
    for (const struct xnode *n = first; n; n = xnode_next(n, "chanid"), i++) {
        struct xccos_chanid *ch = &c->chanids[i];
        ch->key = attr_or(n, "key", "");
        ch->domain = xnode_attr(n, "domain");
        ch->value = xnode_attr(n, "value");
        if (!ch->domain || !*ch->domain || strchr(ch->domain, '/')) {
            set_error(err, errlen, "%s: chanid %d needs a domain attribute without '/'", c->id, i);
            return XCCOS_ESCHEMA;
        }
        if (!ch->value || !*ch->value) {
            set_error(err, errlen, "%s: chanid %d needs a non-empty value attribute (the room path)",
                    c->id, i);
            return XCCOS_ESCHEMA;
        }
    }
    c->n_chanids = total;
    return XCCOS_OK;
}

static enum xccos_err decode_chanib_uri(struct xccos_cmd *c, const struct xnode *data, char *err,
                                        size_t errlen)
{
    const struct xnode *chanib = xnode_child(data, "chanib");
    const char *uri = chanib ? xnode_attr(chanib, "uri") : NULL;
    if (!uri || !*uri) {
        set_error(err, errlen, "%s needs data/chanib with a uri attribute", c->id);
        return XCCOS_ESCHEMA;
    }
    c->chan_uri = uri;
    return XCCOS_OK;
}

static enum xccos_err decode_bcq(struct xccos_cmd *c, const struct xnode *data, char *err,
                                 size_t errlen)
{
    c->bcq = XCCOS_BCQ_LAST;
    c->bcq_cnt = -1;   /* no bcq: the server's default amount */
    c->bcq_msgid = NULL;
    const struct xnode *bcq = xnode_child(data, "bcq");
    if (!bcq)
        return XCCOS_OK;

    static const struct { const char *name; enum xccos_bcq kind; } kinds[] = {
        { "last", XCCOS_BCQ_LAST },
        { "before", XCCOS_BCQ_BEFORE },
        { "after", XCCOS_BCQ_AFTER },
    };
    const struct xnode *q = NULL;
    const char *qname = NULL;
    for (const struct xnode *n = bcq->children; n && !q; n = n->next)
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(n->name, kinds[i].name) == 0) {
                q = n;
                qname = kinds[i].name;
                c->bcq = kinds[i].kind;
                break;
            }
    if (!q) {
        set_error(err, errlen, "%s: bcq needs a last, before or after element", c->id);
        return XCCOS_ESCHEMA;
    }
    const char *cnt = xnode_attr(q, "cnt");
    if (!parse_count(cnt, XCCOS_BCQ_MAX_CNT, &c->bcq_cnt)) {
        set_error(err, errlen, "%s: bcq/%s cnt must be a whole number from 0 to %d (got \"%.32s\")",
                c->id, qname, XCCOS_BCQ_MAX_CNT, cnt ? cnt : "");
        return XCCOS_ESCHEMA;
    }
    if (c->bcq != XCCOS_BCQ_LAST) {
        const char *msgid = xnode_attr(q, "msgid");
        if (!msgid || !*msgid) {
            set_error(err, errlen, "%s: bcq/%s needs a msgid attribute", c->id, qname);
            return XCCOS_ESCHEMA;
        }
        c->bcq_msgid = msgid;
    }
    return XCCOS_OK;
}

static enum xccos_err decode_chansrch(struct xccos_cmd *c, const struct xnode *data, char *err,
                                      size_t errlen)
{
    const struct xnode *qib = xnode_child(data, "qib");
    c->qtype = attr_or(qib, "qtype", "BYNAME");
    c->criteria = attr_or(qib, "criteria", "");
    const char *ext = xnode_attr(qib, "extended");
    if (!ext || strcasecmp(ext, "false") == 0)
        c->extended = false;
    else if (strcasecmp(ext, "true") == 0)
        c->extended = true;
    else {
        set_error(err, errlen, "%s: qib extended must be true or false (got \"%.32s\")", c->id, ext);
        return XCCOS_ESCHEMA;
    }
    return XCCOS_OK;
}

static enum xccos_err decode_grpchat(struct xccos_cmd *c, const struct xnode *g, char *err,
                                     size_t errlen)
{
    const char *uri = xnode_attr(g, "chanUri");
    if (!uri || !*uri) {
        set_error(err, errlen, "grpchat needs a chanUri attribute naming the room");
        return XCCOS_ESCHEMA;
    }
    c->chan_uri = uri;
    c->author = attr_or(g, "author", "");
    c->ts = attr_or(g, "ts", "");
    const struct xnode *chat = xnode_child(g, "chat");
    if (!chat) {
        set_error(err, errlen, "grpchat needs a chat element holding the message text");
        return XCCOS_ESCHEMA;
    }
    c->text = chat->text;
    c->text_len = chat->text_len;
    return XCCOS_OK;
}

static enum xccos_err decode_command(struct xccos_cmd *c, const struct xnode *el, char *err,
                                     size_t errlen)
{
    if (c->cmd == XCMD_GRPCHAT)
        return decode_grpchat(c, el, err, errlen);

    const struct xnode *data = xnode_child(el, "data");   /* NULL is fine: optional parts */
    switch (c->cmd) {
    case XCMD_JOIN:
    case XCMD_BJOIN:
        return decode_chanids(c, data, err, errlen);
    case XCMD_PART:
        return decode_chanib_uri(c, data, err, errlen);
    case XCMD_BCCONTEXT: {
        enum xccos_err e = decode_chanib_uri(c, data, err, errlen);
        return e != XCCOS_OK ? e : decode_bcq(c, data, err, errlen);
    }
    case XCMD_CHANSRCH:
        return decode_chansrch(c, data, err, errlen);
    case XCMD_GETINV: {
        const struct xnode *inv = xnode_child(data, "inv");
        c->inv_id = xnode_attr(inv, "inviteId");
        c->inv_domain = xnode_attr(inv, "domain");
        return XCCOS_OK;
    }
    case XCMD_GETSERVERINFO: {
        const struct xnode *sib = xnode_child(data, "sib");
        c->sib_domain = xnode_attr(sib, "domain");
        c->sib_info_type = xnode_attr(sib, "infoType");
        return XCCOS_OK;
    }
    case XCMD_REQURI:
    case XCMD_GETASSOCIATIONS:
    case XCMD_UNKNOWN:
    case XCMD_GRPCHAT:
        break;
    }
    return XCCOS_OK;
}

enum xccos_err xccos_cmd_parse(const char *buf, size_t len, const struct xdoc_limits *lim,
                               struct xccos_cmd **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';

    struct xdoc *doc;
    enum xdoc_err xe = xdoc_parse(buf, len, lim, &doc, err, errlen);
    if (xe != XDOC_OK)
        return XCCOS_EXML;

    const struct xnode *root = xdoc_root(doc);
    if (strcmp(root->name, "xccos") != 0) {
        set_error(err, errlen, "the root element is <%.40s>; an XCCOS document starts with <xccos>",
                root->name);
        xdoc_free(doc);
        return XCCOS_EROOT;
    }
    /* The first child decides, like SIPE's one-kind-per-envelope rule (PROTOCOL §3.1). */
    const struct xnode *el = root->children;
    enum xccos_cmd_id kind;
    if (el && strcmp(el->name, "cmd") == 0)
        kind = XCMD_UNKNOWN;   /* refined from @id below */
    else if (el && strcmp(el->name, "grpchat") == 0)
        kind = XCMD_GRPCHAT;
    else {
        if (el)
            set_error(err, errlen, "<xccos> holds <%.40s>; a client sends <cmd> or <grpchat>",
                    el->name);
        else
            set_error(err, errlen, "<xccos> is empty; a client sends <cmd> or <grpchat>");
        xdoc_free(doc);
        return XCCOS_EROOT;
    }

    const char *id = xnode_attr(el, "id");
    if (kind != XCMD_GRPCHAT && (!id || !*id)) {
        /* Without an id no reply can be addressed, so this is not a command at all. */
        set_error(err, errlen, "<cmd> has no id attribute, so it cannot be answered");
        xdoc_free(doc);
        return XCCOS_EROOT;
    }

    struct xccos_cmd *c = calloc(1, sizeof *c);
    if (!c) {
        set_error(err, errlen, "out of memory decoding an XCCOS command");
        xdoc_free(doc);
        return XCCOS_EXML;
    }
    c->doc = doc;
    c->id = id ? id : "grpchat";
    c->cmd = kind == XCMD_GRPCHAT ? XCMD_GRPCHAT : command_by_id(id, strlen(id));
    c->seqid = attr_or(el, "seqid", "1");
    c->envid = attr_or(root, "envid", "");

    enum xccos_err e = decode_command(c, el, err, errlen);
    *out = c;
    return e;
}

void xccos_cmd_free(struct xccos_cmd *cmd)
{
    if (!cmd)
        return;
    xdoc_free(cmd->doc);
    free(cmd);
}

/* ---- cheap classification -------------------------------------------------------------- */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* At buf[q] is a quote that opens a value: is the attribute before it named "id"? */
static bool quote_follows_id_attr(const char *buf, size_t q)
{
    size_t i = q;
    while (i > 0 && is_space(buf[i - 1]))
        i--;
    if (i == 0 || buf[i - 1] != '=')
        return false;
    i--;
    while (i > 0 && is_space(buf[i - 1]))
        i--;
    if (i < 3 || strncasecmp(buf + i - 2, "id", 2) != 0)
        return false;
    /* "id" must be the whole attribute name (not the tail of "envid" or "x:id"). */
    return is_space(buf[i - 3]);
}

/* At buf[lt] is '<': is this the start tag of a grpchat element (with or without prefix)? */
static bool is_grpchat_tag(const char *buf, size_t n, size_t lt)
{
    size_t start = lt + 1, end = start;
    while (end < n && !is_space(buf[end]) && buf[end] != '>' && buf[end] != '/')
        end++;
    if (end == n)
        return false;   /* the name runs past the window: unsure */
    for (size_t i = start; i < end; i++)
        if (buf[i] == ':')
            start = i + 1;
    return end - start == 7 && memcmp(buf + start, "grpchat", 7) == 0;
}

enum xccos_cmd_id xccos_peek_cmd(const char *buf, size_t len)
{
    if (!buf)
        return XCMD_UNKNOWN;
    size_t n = len < XCCOS_PEEK_WINDOW ? len : XCCOS_PEEK_WINDOW;
    for (size_t i = 0; i < n; i++) {
        char ch = buf[i];
        if (ch == '<' && is_grpchat_tag(buf, n, i))
            return XCMD_GRPCHAT;
        if ((ch == '"' || ch == '\'') && i + 5 < n && strncasecmp(buf + i + 1, "cmd:", 4) == 0
            && quote_follows_id_attr(buf, i)) {
            const char *start = buf + i + 1;
            const char *close = memchr(start, ch, n - i - 1);
            return close ? command_by_id(start, (size_t)(close - start)) : XCMD_UNKNOWN;
        }
    }
    return XCMD_UNKNOWN;
}

/* ---- identifiers and formats ------------------------------------------------------------- */

/* Reply id rule: "rpl:" + everything after the first ':' of the command id ("cmd:join" →
 * "rpl:join", "cmd:getserverinfo" → "rpl:getserverinfo" as MS-OCSPROT writes it); an id
 * without ':' is kept whole ("grpchat" → "rpl:grpchat"). SIPE matches only the names in
 * PROTOCOL §5 #20, and this rule produces exactly those. */
void xccos_reply_id(const char *cmd_id, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    const char *suffix = cmd_id ? cmd_id : "";
    const char *colon = strchr(suffix, ':');
    if (colon)
        suffix = colon + 1;
    snprintf(out, outlen, "rpl:%s", suffix);
}

void xccos_format_ts(int64_t epoch_us, char *out, size_t outlen)
{
    if (!out || outlen == 0)
        return;
    int64_t secs = epoch_us / 1000000;
    int64_t rem_us = epoch_us % 1000000;
    if (rem_us < 0) {   /* floor, so times before 1970 still read forwards */
        rem_us += 1000000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, outlen, "1970-01-01T00:00:00.000Z");
        return;
    }
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(rem_us / 1000));
}

int xccos_split_room_uri(const char *uri, const char **domain, size_t *domain_len,
                         const char **path)
{
    static const char scheme[] = "ma-chan://";
    if (!uri || strncmp(uri, scheme, sizeof scheme - 1) != 0)
        return -1;
    const char *d = uri + sizeof scheme - 1;
    const char *slash = strchr(d, '/');
    if (!slash || slash == d || slash[1] == '\0')
        return -1;
    if (domain)
        *domain = d;
    if (domain_len)
        *domain_len = (size_t)(slash - d);
    if (path)
        *path = slash + 1;
    return 0;
}
