/* cmd_post.c — a post (grpchat): checked, stored with the room's next sequence number and
 * its compliance row in one transaction, then published to every member, the author
 * included (pidgin-sipe shows its own post only from this echo, PROTOCOL §3.4.6).
 *
 * Idempotent by request key: a post re-dispatched after a worker died is found, not stored
 * again, and published again (front ends drop the duplicate by sequence number). */
#include "ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static void publish_post(struct ch_req *r, const struct room_row *room, int64_t msg_id,
                         int64_t seq, int64_t created_us, const char *text, size_t len)
{
    char ts[40];
    xccos_format_ts(created_us, ts, sizeof ts);
    /* the author is the authenticated user, never the attribute the client sent */
    struct xccos_msg m = { .chan_uri = room->uri, .author = r->rq->user_uri, .ts = ts,
                           .text = text, .text_len = len, .msgid = msg_id };
    struct sbuf b;
    sbuf_init(&b, 1u << 20);
    xccos_render_grpchat(&b, envid_new(), &m);
    result_event(r->res, (uint64_t)room->id, (uint64_t)seq, PCHAT__ROOM_EVENT__KIND__POST, &b);
    sbuf_free(&b);
}

/* Was this request stored before (an earlier attempt)? 1 yes (published again), 0 no, -1 error. */
static int already_stored(struct ch_req *r, const struct room_row *room)
{
    const char *p[] = { r->request_key };
    PGresult *res = db_run(r->ch, "msg_by_key", 1, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        return -1;
    }
    int found = PQntuples(res) == 1;
    if (found)
        publish_post(r, room, strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                     strtoll(PQgetvalue(res, 0, 1), NULL, 10), strtoll(PQgetvalue(res, 0, 3), NULL, 10),
                     r->cmd->text, r->cmd->text_len);
    PQclear(res);
    return found;
}

void cmd_post(struct ch_req *r)
{
    const Pchat__Request *rq = r->rq;
    const struct xccos_cmd *cmd = r->cmd;
    int limit = r->ch->cfg->chat.max_message_bytes;
    if (cmd->text_len == 0) {
        result_sip(r->res, 400, "the post has no text");
        return;
    }
    if (cmd->text_len > (size_t)limit) {
        char why[128];
        snprintf(why, sizeof why, "the post has %zu bytes; the limit is %d", cmd->text_len, limit);
        result_sip(r->res, 413, why);
        return;
    }
    struct room_row room;
    int found = room_by_uri(r, cmd->chan_uri, &room);
    if (found < 0) {
        fail_store(r, "looking up a room to post to");
        return;
    }
    if (found > 0 || room.disabled) {
        if (found == 0)
            room_row_free(&room);
        result_sip(r->res, 404, "no such room");
        return;
    }
    int stored = already_stored(r, &room);
    if (stored != 0) {
        room_row_free(&room);
        if (stored < 0)
            fail_store(r, "checking a post");
        else
            result_sip(r->res, 200, "");
        return;
    }
    /* only a session that joined the room may post to it, and in an auditorium only
       presenters */
    char rid[24], sid[24], sq[24], uid[24];
    const char *pg[] = { rq->frontend_id, i64(sid, (int64_t)rq->session_id), i64(rid, room.id) };
    PGresult *res = db_run(r->ch, "part_get", 3, pg);
    bool ok = pq_ok_tuples(res), joined = ok && PQntuples(res) == 1;
    PQclear(res);
    if (!ok) {
        room_row_free(&room);
        fail_store(r, "checking a poster");
        return;
    }
    if (!joined) {
        room_row_free(&room);
        result_sip(r->res, 403, "you have not joined this room");
        return;
    }
    if (room.type == 1) {
        bool in_scope;
        int roles = room_rights(r, &room, &in_scope);
        if (roles < 0 || !(roles & ROLE_PRESENTER)) {
            room_row_free(&room);
            if (roles < 0)
                fail_store(r, "checking a presenter");
            else
                result_sip(r->res, 403, "only presenters can post in this auditorium");
            return;
        }
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!tx_begin(r))
            break;
        int64_t seq = room_next_seq(r, room.id);
        const char *pm[] = { rid, i64(sq, seq), i64(uid, r->user_id), cmd->text, r->request_key };
        res = seq < 0 ? NULL : db_run(r->ch, "msg_add", 5, pm);
        bool added = res && pq_ok_tuples(res) && PQntuples(res) == 1;
        bool dup = res && !added && strcmp(pq_sqlstate(res), "23505") == 0;
        int64_t msg_id = added ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
        int64_t created = added ? strtoll(PQgetvalue(res, 0, 1), NULL, 10) : 0;
        PQclear(res);
        if (added && outbox(r, "CHAT", rq->user_uri, &room, msg_id, cmd->text) == 0) {
            publish_post(r, &room, msg_id, seq, created, cmd->text, cmd->text_len);
            if (tx_commit(r)) {
                result_sip(r->res, 200, "");
                room_row_free(&room);
                return;
            }
        }
        tx_abort(r);
        if (!dup)
            break;
        /* another worker stored this very request meanwhile (re-dispatch): answer as stored */
        if (already_stored(r, &room) == 1) {
            result_sip(r->res, 200, "");
            room_row_free(&room);
            return;
        }
    }
    room_row_free(&room);
    fail_store(r, "storing a post");
}
