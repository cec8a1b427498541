/* cmd_post.c — a post (grpchat): checked, stored with the room's next sequence number and
 * its compliance row by one call of pchat_post() (sql/pchat/003_actions.sql: one round trip,
 * one commit), then published to every member, the author included (pidgin-sipe shows its
 * own post only from this echo, PROTOCOL §3.4.6).
 *
 * Idempotent by request key: a post re-dispatched after a worker died is found, not stored
 * again, and published again (front ends drop the duplicate by sequence number). */
#include "ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

static void publish_post(struct ch_req *r, int64_t room_id, const char *guid, int64_t msg_id,
                         int64_t seq, int64_t created_us, const char *text, size_t len)
{
    char ts[40], uri[320];
    xccos_format_ts(created_us, ts, sizeof ts);
    room_uri(r->ch, guid, uri, sizeof uri);
    /* the author is the authenticated user, never the attribute the client sent */
    struct xccos_msg m = { .chan_uri = uri, .author = r->rq->user_uri, .ts = ts,
                           .text = text, .text_len = len, .msgid = msg_id };
    struct sbuf b;
    sbuf_init(&b, 1u << 20);
    xccos_render_grpchat(&b, envid_new(), &m);
    result_event(r->res, (uint64_t)room_id, (uint64_t)seq, PCHAT__ROOM_EVENT__KIND__POST, &b);
    sbuf_free(&b);
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
    if (strlen(cmd->text) != cmd->text_len) {
        /* PostgreSQL text cannot hold NUL; refuse rather than store a truncated post */
        result_sip(r->res, 400, "the post contains a NUL character");
        return;
    }
    char guid[40];
    if (room_guid_of_uri(r->ch, cmd->chan_uri, guid) < 0) {
        result_sip(r->res, 403, "no such room");
        return;
    }
    char sid[24];
    const char *p[] = { guid, r->ch->cfg->pool.domain, rq->user_uri, rq->frontend_id,
                        i64(sid, (int64_t)rq->session_id), cmd->text, r->request_key,
                        r->ch->cfg->compliance.enabled ? "true" : "false" };
    for (int attempt = 0; attempt < 2; attempt++) {
        PGresult *res = db_run(r->ch, "act_post", 8, p);
        if (!pq_ok_tuples(res) || PQntuples(res) != 1) {
            /* the same request stored concurrently by another worker (a re-dispatch): the
               second attempt finds it under its key */
            bool dup = strcmp(pq_sqlstate(res), "23505") == 0;
            PQclear(res);
            if (dup && attempt == 0)
                continue;
            fail_store(r, "storing a post");
            return;
        }
        int status = atoi(PQgetvalue(res, 0, 0));
        if (status != 200) {
            /* never 404: sofia ends the dialog on a 404 to an INFO (RFC 5057) and the client
               would lose its whole chat session for one refused post */
            result_sip(r->res, status == 404 ? 403 : status, PQgetvalue(res, 0, 1));
            PQclear(res);
            return;
        }
        publish_post(r, strtoll(PQgetvalue(res, 0, 2), NULL, 10), guid,
                     strtoll(PQgetvalue(res, 0, 4), NULL, 10), strtoll(PQgetvalue(res, 0, 3), NULL, 10),
                     strtoll(PQgetvalue(res, 0, 5), NULL, 10), cmd->text, cmd->text_len);
        result_sip(r->res, 200, "");
        PQclear(res);
        return;
    }
}
