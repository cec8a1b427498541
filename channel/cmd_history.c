/* cmd_history.c — reading stored room traffic: bccontext (a client's history, newest N
 * oldest first, or a page before/after a message id) and the range fetch a front end uses
 * to repair a gap in a room's event sequence. */
#include "ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define HISTORY_MAX 500          /* Lync's DefaultChatHistory ceiling (anchors.md §1.4) */
#define FETCH_MAX 250            /* events in one gap-repair reply (ch_result holds 256) */

static void empty_history(struct ch_req *r)
{
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_bccontext(&b, envid_new(), r->cmd, r->cmd->chan_uri, NULL, 0);
    result_doc(r->res, &b);
    sbuf_free(&b);
}

void cmd_bccontext(struct ch_req *r)
{
    struct room_row room;
    int found = room_by_uri(r, r->cmd->chan_uri, &room);
    if (found < 0) {
        fail_store(r, "looking up a room's history");
        return;
    }
    char rid[24], cnt[24], mid[24];
    if (found > 0 || room.disabled) {
        if (found == 0)
            room_row_free(&room);
        empty_history(r);
        return;
    }
    /* history is for a session in the room, and only when its category keeps history
       (PROTOCOL §4: otherwise an empty chanib); "last N" ends at the session's join, since
       everything after it reached the session live (else a busy room shows posts twice) */
    char sid[24], upto[24] = "0";
    const char *pin[] = { r->rq->frontend_id, i64(sid, (int64_t)r->rq->session_id), i64(rid, room.id) };
    PGresult *res = db_run(r->ch, "part_get", 3, pin);
    bool in_room = pq_ok_tuples(res) && PQntuples(res) == 1;
    bool ok = pq_ok_tuples(res);
    if (in_room)
        snprintf(upto, sizeof upto, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!ok) {
        room_row_free(&room);
        fail_store(r, "checking a history reader");
        return;
    }
    if (!in_room || !room.chat_history) {
        room_row_free(&room);
        empty_history(r);
        return;
    }
    int n = r->cmd->bcq_cnt < 0 ? r->ch->cfg->chat.history_on_join : r->cmd->bcq_cnt;
    if (n > HISTORY_MAX)
        n = HISTORY_MAX;
    i64(cnt, n);
    if (r->cmd->bcq == XCCOS_BCQ_LAST) {
        const char *p[] = { rid, cnt, upto };
        res = db_run(r->ch, "msg_last", 3, p);
    } else {
        int64_t anchor = strtoll(r->cmd->bcq_msgid ? r->cmd->bcq_msgid : "0", NULL, 10);
        const char *p[] = { rid, i64(mid, anchor), cnt };
        res = db_run(r->ch, r->cmd->bcq == XCCOS_BCQ_BEFORE ? "msg_before" : "msg_after", 3, p);
    }
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        room_row_free(&room);
        fail_store(r, "reading history");
        return;
    }
    int rows = PQntuples(res);
    struct xccos_msg *msgs = xcalloc((size_t)rows + 1, sizeof *msgs);
    char (*ts)[40] = xcalloc((size_t)rows + 1, sizeof *ts);
    for (int i = 0; i < rows; i++) {
        xccos_format_ts(strtoll(PQgetvalue(res, i, 4), NULL, 10), ts[i], sizeof ts[i]);
        msgs[i] = (struct xccos_msg){
            .chan_uri = r->cmd->chan_uri,   /* byte-exact as the client sent it (PROTOCOL §3.3) */
            .author = PQgetvalue(res, i, 2),
            .ts = ts[i],
            .text = PQgetvalue(res, i, 3),
            .text_len = (size_t)PQgetlength(res, i, 3),
            .msgid = strtoll(PQgetvalue(res, i, 0), NULL, 10),
        };
    }
    struct sbuf b;
    sbuf_init(&b, 8u << 20);
    xccos_render_rpl_bccontext(&b, envid_new(), r->cmd, r->cmd->chan_uri, msgs, rows);
    result_doc(r->res, &b);
    sbuf_free(&b);
    /* a history read is a compliance event (BACKCHAT) */
    char what[64];
    snprintf(what, sizeof what, "%d messages", rows);
    if (outbox(r, "BACKCHAT", r->rq->user_uri, &room, 0, what) < 0)
        log_warn("history read by %s not archived: %s", r->rq->user_uri, PQerrorMessage(r->ch->db));
    free(msgs);
    free(ts);
    PQclear(res);
    room_row_free(&room);
}

/* An operator change evicts the users in `detail` (comma-separated URIs) from the room. */
static void event_set_evictions(Pchat__RoomEvent *ev, const char *detail)
{
    size_t n = 0;
    for (const char *p = detail; *p; p++)
        n += *p == ',';
    ev->evict_users = xcalloc(n + 2, sizeof(char *));
    const char *start = detail;
    for (const char *p = detail;; p++) {
        if (*p == ',' || *p == '\0') {
            if (p > start)
                ev->evict_users[ev->n_evict_users++] = xstrndup(start, (size_t)(p - start));
            if (!*p)
                break;
            start = p + 1;
        }
    }
}

void job_fetch_range(struct ch_req *r)
{
    const Pchat__Request *rq = r->rq;
    r->res->events_in_reply = true;
    struct room_row room;
    int found = room_by_id(r, (int64_t)rq->room_id, &room);
    if (found != 0) {
        if (found < 0)
            fail_store(r, "fetching room events");
        return;
    }
    char rid[24], from[24], to[24], lim[24];
    const char *p[] = { i64(rid, room.id), i64(from, (int64_t)rq->from_seq),
                        i64(to, rq->to_seq ? (int64_t)rq->to_seq : INT64_MAX), i64(lim, FETCH_MAX) };
    PGresult *res = db_run(r->ch, "events_range", 4, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        room_row_free(&room);
        fail_store(r, "fetching room events");
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        int kind = atoi(PQgetvalue(res, i, 1));
        const char *user = PQgetvalue(res, i, 2);
        bool quiet = PQgetvalue(res, i, 9)[0] == 't';
        struct sbuf b;
        sbuf_init(&b, 1u << 20);
        if (kind == 0) {
            char ts[40];
            xccos_format_ts(strtoll(PQgetvalue(res, i, 4), NULL, 10), ts, sizeof ts);
            struct xccos_msg m = { .chan_uri = room.uri, .author = user, .ts = ts,
                                   .text = PQgetvalue(res, i, 3),
                                   .text_len = (size_t)PQgetlength(res, i, 3),
                                   .msgid = strtoll(PQgetvalue(res, i, 5), NULL, 10) };
            xccos_render_grpchat(&b, envid_new(), &m);
        } else if (!quiet && kind == 1) {
            xccos_render_ntc_join(&b, envid_new(), user, room.uri, PQgetvalue(res, i, 8)[0] == 't');
        } else if (!quiet && kind == 2) {
            xccos_render_ntc_part(&b, envid_new(), user, room.uri);
        }
        Pchat__RoomEvent *ev = result_event(r->res, (uint64_t)room.id, (uint64_t)seq,
                                            kind == 0 ? PCHAT__ROOM_EVENT__KIND__POST
                                            : kind == 1 ? PCHAT__ROOM_EVENT__KIND__JOIN
                                            : kind == 2 ? PCHAT__ROOM_EVENT__KIND__PART
                                                        : PCHAT__ROOM_EVENT__KIND__CHANGE, &b);
        if (ev && kind == 3)
            event_set_evictions(ev, PQgetisnull(res, i, 3) ? "" : PQgetvalue(res, i, 3));
        if (ev && (kind == 1 || kind == 2)) {
            free(ev->frontend_id);
            ev->frontend_id = xstrdup(PQgetvalue(res, i, 6));
            ev->session_id = strtoull(PQgetvalue(res, i, 7), NULL, 10);
            ev->quiet = quiet;
        }
        sbuf_free(&b);
    }
    PQclear(res);
    room_row_free(&room);
}
