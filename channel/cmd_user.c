/* cmd_user.c — what the store keeps per user and per node: preferences (getpref/setpref),
 * followed rooms, a room's participant list, the persistent chat policy, and front end
 * status reports. */
#include "ch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* data/<name> of the command, or NULL */
static const struct xnode *data_child(const struct xccos_cmd *cmd, const char *name)
{
    const struct xnode *root = xdoc_root(cmd->doc);
    const struct xnode *c = root ? xnode_child(root, "cmd") : NULL;
    const struct xnode *d = c ? xnode_child(c, "data") : NULL;
    return d ? xnode_child(d, name) : NULL;
}

static void reply_with_pref(struct ch_req *r, const char *label, const char *seqid, const char *content)
{
    struct sbuf b;
    sbuf_init(&b, 256u << 10);
    xccos_rpl_open(&b, envid_new(), r->cmd, 200, "SUCCESS_OK");
    sbuf_puts(&b, "<pref label=\"");
    sbuf_xml_escaped(&b, label);
    sbuf_puts(&b, "\" seqid=\"");
    sbuf_xml_escaped(&b, seqid);
    sbuf_puts(&b, "\"");
    if (content) {
        sbuf_puts(&b, " content=\"");
        sbuf_xml_escaped(&b, content);
        sbuf_puts(&b, "\"");
    }
    sbuf_puts(&b, "/>");
    xccos_rpl_close(&b);
    result_doc(r->res, &b);
    sbuf_free(&b);
}

void cmd_getpref(struct ch_req *r)
{
    const struct xnode *pref = data_child(r->cmd, "pref");
    const char *label = pref ? xnode_attr(pref, "label") : NULL;
    if (!label || !*label) {
        result_error(r, 400, "cmd:getpref needs data/pref with a label.");
        return;
    }
    char uid[24];
    const char *p[] = { i64(uid, r->user_id), label };
    PGresult *res = db_run(r->ch, "pref_get", 2, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        fail_store(r, "reading a preference");
        return;
    }
    if (PQntuples(res) == 1)
        reply_with_pref(r, label, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
    else
        reply_with_pref(r, label, "0", "");   /* createdefault: an empty blob at version 0 */
    PQclear(res);
}

void cmd_setpref(struct ch_req *r)
{
    const struct xnode *pref = data_child(r->cmd, "pref");
    const char *label = pref ? xnode_attr(pref, "label") : NULL;
    const char *content = pref ? xnode_attr(pref, "content") : NULL;
    if (!label || !*label || !content) {
        result_error(r, 400, "cmd:setpref needs data/pref with a label and content.");
        return;
    }
    if (strlen(label) > 256 || strlen(content) > 65536) {
        result_error(r, 413, "A preference label is at most 256 bytes and its content 64 KiB.");
        return;
    }
    char uid[24];
    const char *p[] = { i64(uid, r->user_id), label, content };
    PGresult *res = db_run(r->ch, "pref_set", 3, p);
    if (!pq_ok_tuples(res) || PQntuples(res) != 1) {
        PQclear(res);
        fail_store(r, "saving a preference");
        return;
    }
    reply_with_pref(r, label, PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
}

/* cmd:follow / cmd:unfollow <data><chanib uri/></data> (pchat extension, docs/protocol.md) */
void cmd_follow(struct ch_req *r, bool follow)
{
    const struct xnode *chanib = data_child(r->cmd, "chanib");
    const char *uri = chanib ? xnode_attr(chanib, "uri") : NULL;
    struct room_row room;
    int found = uri ? room_by_uri(r, uri, &room) : 1;
    if (found < 0) {
        fail_store(r, "looking up a room to follow");
        return;
    }
    bool in_scope = false;
    int roles = found == 0 ? room_rights(r, &room, &in_scope) : 0;
    /* one may follow what one may find: not a secret room one is no member of */
    if (found > 0 || room.disabled || !in_scope || (room.privacy == 2 && !(roles & ROLE_MEMBER))) {
        if (found == 0)
            room_row_free(&room);
        result_error(r, 404, "No such room.");
        return;
    }
    char uid[24], rid[24];
    const char *p[] = { i64(uid, r->user_id), i64(rid, room.id) };
    PGresult *res = db_run(r->ch, follow ? "follow_add" : "follow_del", 2, p);
    bool ok = pq_ok(res);
    PQclear(res);
    room_row_free(&room);
    if (!ok) {
        fail_store(r, "following a room");
        return;
    }
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_part(&b, envid_new(), r->cmd, uri);   /* same shape: <chanib uri/> */
    result_doc(r->res, &b);
    sbuf_free(&b);
}

/* The participant list of a room the caller is in: the same uib/chanib/aib shape as a join
 * reply (pchat extension cmd:getparticipants, docs/protocol.md). */
void cmd_getparticipants(struct ch_req *r)
{
    const struct xnode *chanib = data_child(r->cmd, "chanib");
    const char *uri = chanib ? xnode_attr(chanib, "uri") : NULL;
    struct room_row room;
    int found = uri ? room_by_uri(r, uri, &room) : 1;
    if (found < 0) {
        fail_store(r, "looking up a room's participants");
        return;
    }
    char rid[24], uid[24], lim[24];
    bool in_room = false;
    if (found == 0) {
        const char *p[] = { i64(rid, room.id), i64(uid, r->user_id) };
        PGresult *res = db_run(r->ch, "part_is_in", 2, p);
        in_room = pq_ok_tuples(res) && PQntuples(res) == 1;
        PQclear(res);
    }
    if (!in_room) {
        if (found == 0)
            room_row_free(&room);
        result_error(r, 403, "Join the room to see who is in it.");
        return;
    }
    const char *pr[] = { rid, uid, i64(lim, 2000) };
    PGresult *res = db_run(r->ch, "room_roster", 3, pr);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        room_row_free(&room);
        fail_store(r, "listing participants");
        return;
    }
    int n = PQntuples(res);
    struct xccos_user *users = xcalloc((size_t)n + 1, sizeof *users);
    int *members = xcalloc((size_t)n + 1, sizeof(int)), *managers = xcalloc((size_t)n + 1, sizeof(int));
    int nm = 0, ng = 0;
    for (int i = 0; i < n; i++) {
        users[i] = (struct xccos_user){ PQgetvalue(res, i, 0), NULL };
        if (PQgetvalue(res, i, 2)[0] == 't')
            managers[ng++] = i;
        else
            members[nm++] = i;
    }
    struct xccos_join_room jr = { .room = { .uri = uri, .name = room.name, .topic = room.topic,
                                            .user_count = n },
                                  .member_ids = members, .n_members = nm,
                                  .manager_ids = managers, .n_managers = ng };
    struct sbuf b;
    sbuf_init(&b, 4u << 20);
    xccos_render_rpl_join(&b, envid_new(), r->cmd, users, n, &jr, 1, NULL, 0);
    result_doc(r->res, &b);
    sbuf_free(&b);
    free(users);
    free(members);
    free(managers);
    PQclear(res);
    room_row_free(&room);
}

void job_policy(struct ch_req *r)
{
    const char *p[] = { r->rq->user_uri };
    PGresult *res = db_run(r->ch, "chat_enabled", 1, p);
    if (!pq_ok_tuples(res) || PQntuples(res) != 1) {
        PQclear(res);
        fail_store(r, "reading the chat policy");
        r->res->reply.sip_status = 503;
        return;
    }
    bool enabled = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    result_sip(r->res, enabled ? 200 : 403,
               enabled ? "" : "Persistent Chat is not enabled for this user (pchatctl policy)");
}

void job_node_status(struct ch_req *r)
{
    const Pchat__Request *rq = r->rq;
    char inc[24], ses[24], wrk[24];
    const char *p[] = { rq->frontend_id, rq->node_address, i64(inc, (int64_t)rq->incarnation),
                        i64(ses, rq->node_sessions), i64(wrk, rq->node_workers) };
    PGresult *res = db_run(r->ch, "node_report", 5, p);
    if (!pq_ok_tuples(res) || PQntuples(res) != 1) {
        PQclear(res);
        fail_store(r, "recording a front end's status");
        return;
    }
    result_sip(r->res, 200, PQgetvalue(res, 0, 0));   /* the state the operator wants */
    PQclear(res);
}
