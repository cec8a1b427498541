/* xccos_render.c — every XCCOS document the server sends (replies, notices, posts), one whole
 * <xccos> envelope per call, in the exact shapes of xccos/PROTOCOL.md §3.2–3.5. */
#include "xccos.h"

#include <inttypes.h>
#include <string.h>

#define VISIBILITY_SIPE "urn:parlano:ma:info:visibilty"   /* SIPE's spelling (PROTOCOL §3.4.3) */
#define VISIBILITY_STD "urn:parlano:ma:info:visibility"   /* what a real server may send */

/* ---- escaping ------------------------------------------------------------------------------
 * The five specials go through sbuf_xml_escaped_n. On top of that: a raw CR would reach the
 * client as LF (XML end-of-line handling turns CR LF into LF), so it is sent as &#13;; inside
 * attributes LF and TAB are sent as references too, or attribute normalisation turns them
 * into spaces; other C0 controls are forbidden in XML 1.0 even as references and would make
 * the client drop the whole body, so they become U+FFFD. */
static void put_escaped(struct sbuf *b, const char *s, size_t n, bool in_attr)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *rep;
        if (ch >= 0x20)
            continue;
        if (ch == '\r')
            rep = "&#13;";
        else if (ch == '\n')
            rep = in_attr ? "&#10;" : NULL;
        else if (ch == '\t')
            rep = in_attr ? "&#9;" : NULL;
        else
            rep = "\xEF\xBF\xBD";
        if (!rep)
            continue;
        sbuf_xml_escaped_n(b, s + run, i - run);
        sbuf_puts(b, rep);
        run = i + 1;
    }
    sbuf_xml_escaped_n(b, s + run, n - run);
}

/* A message text: text_len 0 with a non-empty string means the caller left the length out,
 * so the string is taken up to its NUL rather than silently sent empty. */
static void put_text(struct sbuf *b, const char *s, size_t n)
{
    if (s)
        put_escaped(b, s, n ? n : strlen(s), false);
}

static void put_text_str(struct sbuf *b, const char *s)
{
    if (s)
        put_escaped(b, s, strlen(s), false);
}

/* ` name="value"`; NULL is written as an empty value. */
static void put_attr(struct sbuf *b, const char *name, const char *value)
{
    sbuf_putc(b, ' ');
    sbuf_puts(b, name);
    sbuf_puts(b, "=\"");
    if (value)
        put_escaped(b, value, strlen(value), true);
    sbuf_putc(b, '"');
}

/* Only when the value exists. */
static void put_attr_opt(struct sbuf *b, const char *name, const char *value)
{
    if (value)
        put_attr(b, name, value);
}

static void put_attr_int(struct sbuf *b, const char *name, int64_t v)
{
    sbuf_printf(b, " %s=\"%" PRId64 "\"", name, v);
}

static void put_attr_n(struct sbuf *b, const char *name, const char *value, size_t n)
{
    sbuf_putc(b, ' ');
    sbuf_puts(b, name);
    sbuf_puts(b, "=\"");
    put_escaped(b, value, n, true);
    sbuf_putc(b, '"');
}

/* ---- envelope and reply skeleton --------------------------------------------------------- */

static void envelope_open(struct sbuf *b, uint64_t envid)
{
    sbuf_printf(b, "<xccos ver=\"1\" envid=\"%" PRIu64 "\" xmlns=\"" XCCOS_NS "\">", envid);
}

static void envelope_close(struct sbuf *b)
{
    sbuf_puts(b, "</xccos>");
}

/* <rpl id seqid><commandid seqid envid/><resp code>text</resp> — everything before <data>.
 * The reply id follows xccos_reply_id; it is written here without its fixed-size buffer so a
 * long command id is echoed whole. */
static void rpl_head(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd, int code,
                     const char *resp_text)
{
    const char *id = cmd && cmd->id ? cmd->id : "";
    const char *colon = strchr(id, ':');
    const char *suffix = colon ? colon + 1 : id;
    const char *seqid = cmd && cmd->seqid ? cmd->seqid : "1";
    const char *client_envid = cmd && cmd->envid ? cmd->envid : "";
    if (!resp_text)
        resp_text = code == 200 ? "SUCCESS_OK" : "";

    envelope_open(b, envid);
    sbuf_puts(b, "<rpl id=\"rpl:");
    put_escaped(b, suffix, strlen(suffix), true);
    sbuf_putc(b, '"');
    put_attr(b, "seqid", seqid);
    sbuf_puts(b, "><commandid");
    put_attr(b, "seqid", seqid);
    put_attr(b, "envid", client_envid);
    sbuf_printf(b, "/><resp code=\"%d\">", code);
    put_text_str(b, resp_text);
    sbuf_puts(b, "</resp>");
}

void xccos_rpl_open(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd, int code,
                    const char *resp_text)
{
    rpl_head(b, envid, cmd, code, resp_text);
    sbuf_puts(b, "<data>");
}

void xccos_rpl_close(struct sbuf *b)
{
    sbuf_puts(b, "</data></rpl>");
    envelope_close(b);
}

void xccos_render_error(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd, int code,
                        const char *sentence)
{
    rpl_head(b, envid, cmd, code, sentence ? sentence : "");
    sbuf_puts(b, "<data/></rpl>");
    envelope_close(b);
}

/* ---- replies ------------------------------------------------------------------------------- */

void xccos_render_rpl_requri(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                             const char *channel_service_uri)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    sbuf_puts(b, "<uib");
    put_attr(b, "uri", channel_service_uri);
    sbuf_puts(b, "/>");
    xccos_rpl_close(b);
}

void xccos_render_rpl_getserverinfo(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                    const struct xccos_server_info *info)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    sbuf_puts(b, "<sib");
    put_attr_opt(b, "domain", info->domain);
    put_attr(b, "infoType", "123");
    put_attr(b, "serverTime", info->server_time);
    put_attr_int(b, "searchLimit", info->search_limit);
    put_attr_int(b, "messageSizeLimit", info->message_size_limit);
    put_attr_int(b, "storySizeLimit", info->story_size_limit);
    put_attr(b, "rootUri", info->root_uri);
    put_attr(b, "dbVersion", info->db_version);
    put_attr_opt(b, "displayName", info->display_name);
    put_attr_opt(b, "roomManagementUrl", info->room_management_url);
    sbuf_puts(b, "/>");
    xccos_rpl_close(b);
}

static void put_info(struct sbuf *b, const char *element, const char *id, const char *text)
{
    sbuf_printf(b, "<%s id=\"%s\">", element, id);
    put_text_str(b, text);
    sbuf_printf(b, "</%s>", element);
}

void xccos_render_rpl_chansrch(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                               const struct xccos_room *rooms, int n_rooms)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    for (int i = 0; i < n_rooms; i++) {
        const struct xccos_room *r = &rooms[i];
        sbuf_puts(b, "<chanib");
        put_attr(b, "name", r->name);
        put_attr(b, "description", r->description);
        put_attr(b, "uri", r->uri);
        sbuf_putc(b, '>');
        if (r->user_count >= 0)
            sbuf_printf(b, "<info id=\"urn:parlano:ma:info:ucnt\">%d</info>", r->user_count);
        /* Both spellings: SIPE reads only its own, a Microsoft client presumably the other. */
        const char *visibility = r->is_private ? "private" : "public";
        put_info(b, "info", VISIBILITY_SIPE, visibility);
        put_info(b, "info", VISIBILITY_STD, visibility);
        put_info(b, "prop", "urn:parlano:ma:prop:logged", r->logged ? "true" : "false");
        put_info(b, "prop", "urn:parlano:ma:prop:invite", r->invite ? "true" : "false");
        put_info(b, "prop", "urn:parlano:ma:prop:filepost", r->filepost ? "true" : "false");
        sbuf_puts(b, "</chanib>");
    }
    xccos_rpl_close(b);
}

/* <aib key="K" value="0,1,2"/> — ids comma-joined without spaces (SIPE splits at ','). */
static void put_aib_ids(struct sbuf *b, int key, const int *ids, int n)
{
    if (n <= 0 || !ids)
        return;
    sbuf_printf(b, "<aib key=\"%d\" value=\"", key);
    for (int i = 0; i < n; i++)
        sbuf_printf(b, i ? ",%d" : "%d", ids[i]);
    sbuf_puts(b, "\"/>");
}

/* A failed bjoin room: value = room path, domain = room domain (PROTOCOL §3.7). A URI that
 * does not split is sent whole as the value so the client can still log what failed. */
static void put_fib(struct sbuf *b, const char *room_uri)
{
    const char *domain, *path;
    size_t domain_len;
    sbuf_puts(b, "<fib key=\"OPERATION_FAILED\"");
    if (xccos_split_room_uri(room_uri, &domain, &domain_len, &path) == 0) {
        put_attr(b, "value", path);
        put_attr_n(b, "domain", domain, domain_len);
    } else {
        put_attr(b, "value", room_uri);
        put_attr(b, "domain", "");
    }
    sbuf_puts(b, "/>");
}

void xccos_render_rpl_join(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                           const struct xccos_user *users, int n_users,
                           const struct xccos_join_room *rooms, int n_rooms,
                           const char *const *failed_uris, int n_failed)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    /* SIPE builds its id -> URI map only from uib elements directly under data. */
    for (int i = 0; i < n_users; i++) {
        sbuf_printf(b, "<uib id=\"%d\"", i);
        put_attr(b, "uri", users[i].uri);
        sbuf_puts(b, "/>");
    }
    for (int i = 0; i < n_rooms; i++) {
        const struct xccos_join_room *jr = &rooms[i];
        sbuf_puts(b, "<chanib");
        put_attr(b, "uri", jr->room.uri);
        put_attr(b, "name", jr->room.name);
        put_attr_opt(b, "topic", jr->room.topic);
        sbuf_putc(b, '>');
        put_aib_ids(b, XCCOS_AIB_MEMBER, jr->member_ids, jr->n_members);
        put_aib_ids(b, XCCOS_AIB_MANAGER, jr->manager_ids, jr->n_managers);
        sbuf_puts(b, "</chanib>");
    }
    for (int i = 0; i < n_failed; i++)
        put_fib(b, failed_uris[i]);
    xccos_rpl_close(b);
}

void xccos_render_rpl_bccontext(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                const char *chan_uri, const struct xccos_msg *msgs, int n_msgs)
{
    if (!chan_uri && cmd)
        chan_uri = cmd->chan_uri;
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    sbuf_puts(b, "<chanib");
    put_attr(b, "uri", chan_uri);
    sbuf_putc(b, '>');
    for (int i = 0; i < n_msgs; i++) {
        const struct xccos_msg *m = &msgs[i];
        sbuf_puts(b, "<msg id=\"grpchat\"");
        put_attr(b, "chanUri", m->chan_uri ? m->chan_uri : chan_uri);
        put_attr(b, "author", m->author);
        put_attr(b, "ts", m->ts);
        if (m->msgid > 0)
            put_attr_int(b, "msgid", m->msgid);
        sbuf_puts(b, "><chat>");
        put_text(b, m->text, m->text_len);
        sbuf_puts(b, "</chat></msg>");
    }
    sbuf_puts(b, "</chanib>");
    xccos_rpl_close(b);
}

void xccos_render_rpl_part(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                           const char *chan_uri)
{
    if (!chan_uri && cmd)
        chan_uri = cmd->chan_uri;
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    sbuf_puts(b, "<chanib");
    put_attr(b, "uri", chan_uri);
    sbuf_puts(b, "/>");
    xccos_rpl_close(b);
}

void xccos_render_rpl_getinv(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                             const struct xccos_invitation *invs, int n_invs)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    for (int i = 0; i < n_invs; i++) {
        const struct xccos_invitation *inv = &invs[i];
        sbuf_puts(b, "<inv");
        put_attr(b, "inviteId", inv->invite_id);
        put_attr(b, "chanUri", inv->chan_uri);
        put_attr(b, "name", inv->chan_name);
        put_attr_opt(b, "inviter", inv->inviter);
        put_attr(b, "ts", inv->ts);
        sbuf_puts(b, "/>");
    }
    xccos_rpl_close(b);
}

void xccos_render_rpl_getassociations(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                      const struct xccos_association *assoc, int n_assoc)
{
    xccos_rpl_open(b, envid, cmd, 200, NULL);
    for (int i = 0; i < n_assoc; i++) {
        const struct xccos_room *r = &assoc[i].room;
        sbuf_puts(b, "<chanib");
        put_attr(b, "uri", r->uri);
        put_attr(b, "name", r->name);
        put_attr(b, "description", r->description);
        sbuf_putc(b, '>');
        put_info(b, "info", "urn:parlano:ma:info:role", assoc[i].manager ? "manager" : "member");
        sbuf_puts(b, "</chanib>");
    }
    xccos_rpl_close(b);
}

/* ---- notices and posts --------------------------------------------------------------------- */

void xccos_render_ntc_join(struct sbuf *b, uint64_t envid, const char *user_uri,
                           const char *room_uri, bool manager)
{
    envelope_open(b, envid);
    sbuf_puts(b, "<ntc id=\"ntc:join\" seqid=\"1\"><data><uib");
    put_attr(b, "uri", user_uri);
    sbuf_printf(b, "><aib key=\"%d\"", manager ? XCCOS_AIB_MANAGER : XCCOS_AIB_MEMBER);
    /* SIPE rebuilds ma-chan://domain/value from these two (PROTOCOL §3.5). */
    const char *domain, *path;
    size_t domain_len;
    if (xccos_split_room_uri(room_uri, &domain, &domain_len, &path) == 0) {
        put_attr_n(b, "domain", domain, domain_len);
        put_attr(b, "value", path);
    } else {
        put_attr(b, "domain", "");
        put_attr(b, "value", room_uri);
    }
    sbuf_puts(b, "/></uib></data></ntc>");
    envelope_close(b);
}

void xccos_render_ntc_part(struct sbuf *b, uint64_t envid, const char *user_uri,
                           const char *room_uri)
{
    envelope_open(b, envid);
    sbuf_puts(b, "<ntc id=\"ntc:part\" seqid=\"1\"><data><chanib");
    put_attr(b, "uri", room_uri);
    sbuf_puts(b, "><uib");
    put_attr(b, "uri", user_uri);
    sbuf_puts(b, "/></chanib></data></ntc>");
    envelope_close(b);
}

void xccos_render_grpchat(struct sbuf *b, uint64_t envid, const struct xccos_msg *msg)
{
    envelope_open(b, envid);
    sbuf_puts(b, "<grpchat id=\"grpchat\" seqid=\"1\"");
    put_attr(b, "chanUri", msg->chan_uri);
    put_attr(b, "author", msg->author);
    put_attr(b, "ts", msg->ts);
    if (msg->msgid > 0)
        put_attr_int(b, "msgid", msg->msgid);
    sbuf_puts(b, "><chat>");
    put_text(b, msg->text, msg->text_len);
    sbuf_puts(b, "</chat></grpchat>");
    envelope_close(b);
}
