/* cmd_join.c — entering and leaving rooms: join, bjoin, part, and the leaving done for a
 * session that ended or a front end that restarted. Each membership change takes the next
 * room sequence number, writes its room event and its compliance row in one transaction,
 * and is published as ntc:join / ntc:part once committed.
 *
 * A user in a room through several sessions is one member to the others: only the first
 * session's join and the last session's part are shown (the rest are "quiet" events that
 * only advance the sequence). Above chat.participant_update_limit members no notices are
 * sent at all (Lync's ParticipantUpdateLimit). */
#include "ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define JOIN_MAX_USERS 2000      /* uib entries in one join reply */

static int64_t count_query(struct ch_req *r, const char *stmt, int64_t a, int64_t b, int n)
{
    char sa[24], sb[24];
    const char *p[] = { i64(sa, a), i64(sb, b) };
    PGresult *res = db_run(r->ch, stmt, n, p);
    int64_t v = -1;
    if (pq_ok_tuples(res) && PQntuples(res) == 1)
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* Record the room event of a join or part that committed (or is committing): the notice to
 * the others (none when quiet) and who it is about, so that session gets no copy. */
static void announce(struct ch_req *r, int64_t room_id, const char *room_uri, int kind,
                     const char *user_uri, const char *frontend_id, uint64_t session_id,
                     bool manager, bool quiet, int64_t seq)
{
    struct sbuf b;
    sbuf_init(&b, 8192);
    if (!quiet) {
        if (kind == 1)
            xccos_render_ntc_join(&b, envid_new(), user_uri, room_uri, manager);
        else
            xccos_render_ntc_part(&b, envid_new(), user_uri, room_uri);
    }
    Pchat__RoomEvent *ev = result_event(r->res, (uint64_t)room_id, (uint64_t)seq,
                                        kind == 1 ? PCHAT__ROOM_EVENT__KIND__JOIN
                                                  : PCHAT__ROOM_EVENT__KIND__PART, &b);
    if (ev) {
        free(ev->frontend_id);
        ev->frontend_id = xstrdup(frontend_id);
        ev->session_id = session_id;
        ev->quiet = quiet;
    }
    sbuf_free(&b);
}

/* Record a part of (user, session) in `room`, inside the open transaction (session ends and
 * front end resets; single joins and parts go through pchat_join/pchat_part). `others` = how
 * many other sessions of the same user remain in the room. Returns the seq or -1. */
static int64_t part_event(struct ch_req *r, const struct room_row *room, int64_t user,
                          const char *user_uri, const char *frontend_id, uint64_t session_id,
                          int64_t others)
{
    int64_t seq = room_next_seq(r, room->id);
    if (seq < 0)
        return -1;
    int64_t members = count_query(r, "part_room_count", room->id, 0, 1);
    if (members < 0)
        return -1;
    bool quiet = others > 0 || members > r->ch->cfg->chat.participant_update_limit;
    char rid[24], sq[24], uid[24], sid[24];
    const char *p[] = { i64(rid, room->id), i64(sq, seq), "2", i64(uid, user), frontend_id,
                        i64(sid, (int64_t)session_id), "false", quiet ? "true" : "false" };
    PGresult *res = db_run(r->ch, "event_add", 8, p);
    bool ok = pq_ok(res);
    PQclear(res);
    if (!ok || outbox(r, "PART", user_uri, room, 0, NULL) < 0)
        return -1;
    announce(r, room->id, room->uri, 2, user_uri, frontend_id, session_id, false, quiet, seq);
    return seq;
}

/* ---- join / bjoin --------------------------------------------------------------------- */

struct roster {                   /* users of a join reply, ids unique across all its rooms */
    struct xccos_user *users;
    char **uris;
    int n, cap;
};

static int roster_id(struct roster *ro, const char *uri, const char *display)
{
    for (int i = 0; i < ro->n; i++)
        if (strcmp(ro->uris[i], uri) == 0)
            return i;
    if (ro->n == ro->cap) {
        ro->cap = ro->cap ? ro->cap * 2 : 16;
        ro->users = realloc(ro->users, (size_t)ro->cap * sizeof *ro->users);
        ro->uris = realloc(ro->uris, (size_t)ro->cap * sizeof *ro->uris);
        if (!ro->users || !ro->uris)
            abort();
    }
    ro->uris[ro->n] = xstrdup(uri);
    ro->users[ro->n] = (struct xccos_user){ ro->uris[ro->n], display && *display ? xstrdup(display) : NULL };
    return ro->n++;
}

static void roster_free(struct roster *ro)
{
    for (int i = 0; i < ro->n; i++) {
        free(ro->uris[i]);
        free((char *)ro->users[i].display_name);
    }
    free(ro->users);
    free(ro->uris);
}

struct joined_room {
    struct room_row row;
    int *members, *managers;
    int n_members, n_managers;
};

/* Join one room (pchat_join: one round trip). Returns 0, or an XCCOS error code with `why`
 * filled (503 when the store failed). */
static int join_one(struct ch_req *r, const char *domain, const char *path,
                    struct joined_room *out, struct roster *ro, char *why, size_t whylen)
{
    const Pchat__Request *rq = r->rq;
    char guid[40];
    if (room_guid(r->ch, domain, path, guid) < 0) {
        snprintf(why, whylen, "No such room: ma-chan://%.100s/%.100s", domain ? domain : "",
                 path ? path : "");
        return 404;
    }
    char inc[24], sid[24], lim[24];
    const char *p[] = { guid, r->ch->cfg->pool.domain, rq->user_uri, rq->frontend_id,
                        i64(inc, (int64_t)rq->incarnation), i64(sid, (int64_t)rq->session_id),
                        i64(lim, r->ch->cfg->chat.participant_update_limit),
                        r->ch->cfg->compliance.enabled ? "true" : "false" };
    PGresult *res = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        res = db_run(r->ch, "act_join", 8, p);
        if (pq_ok_tuples(res) && PQntuples(res) == 1)
            break;
        /* the same join committed concurrently (a re-dispatch): the retry reads it back */
        bool dup = strcmp(pq_sqlstate(res), "23505") == 0;
        PQclear(res);
        res = NULL;
        if (!dup)
            break;
    }
    if (!res)
        return 503;
    int status = atoi(PQgetvalue(res, 0, 0));
    if (status != 200) {
        snprintf(why, whylen, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
        return status;
    }
    struct room_row *room = &out->row;
    memset(room, 0, sizeof *room);
    room->id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    snprintf(room->guid, sizeof room->guid, "%s", guid);
    room_uri(r->ch, guid, room->uri, sizeof room->uri);
    room->name = xstrdup(PQgetvalue(res, 0, 7));
    room->topic = xstrdup(PQgetvalue(res, 0, 8));
    int64_t seq = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    bool already = PQgetvalue(res, 0, 4)[0] == 't';
    if (!already)
        announce(r, room->id, room->uri, 1, rq->user_uri, rq->frontend_id, rq->session_id,
                 PQgetvalue(res, 0, 6)[0] == 't', PQgetvalue(res, 0, 5)[0] == 't', seq);
    PQclear(res);
    result_joined(r->res, (uint64_t)room->id, (uint64_t)seq, room->uri);
    /* the roster, after the commit so it includes the caller */
    char rid[24], uid[24], max[24];
    const char *pr[] = { i64(rid, room->id), i64(uid, r->user_id), i64(max, JOIN_MAX_USERS) };
    res = db_run(r->ch, "room_roster", 3, pr);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        return 503;
    }
    int n = PQntuples(res);
    out->members = xcalloc((size_t)n + 1, sizeof(int));
    out->managers = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++) {
        int id = roster_id(ro, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        if (PQgetvalue(res, i, 2)[0] == 't')
            out->managers[out->n_managers++] = id;
        else
            out->members[out->n_members++] = id;
    }
    PQclear(res);
    return 0;
}

void cmd_join(struct ch_req *r)
{
    const struct xccos_cmd *cmd = r->cmd;
    bool batch = cmd->cmd == XCMD_BJOIN;
    struct joined_room *rooms = xcalloc((size_t)cmd->n_chanids + 1, sizeof *rooms);
    char **failed = xcalloc((size_t)cmd->n_chanids + 1, sizeof *failed);
    int n_rooms = 0, n_failed = 0;
    struct roster ro = { 0 };
    int err_code = 0;
    char why[512] = "";
    for (int i = 0; i < cmd->n_chanids; i++) {
        const struct xccos_chanid *c = &cmd->chanids[i];
        char w[512];
        int code = join_one(r, c->domain, c->value, &rooms[n_rooms], &ro, w, sizeof w);
        if (code == 0) {
            n_rooms++;
            continue;
        }
        if (code == 503 && store_unavailable(r->ch)) {
            err_code = 503;
            snprintf(why, sizeof why, "The chat store is unavailable; try again shortly.");
        } else if (code == 503) {
            err_code = 500;
            snprintf(why, sizeof why, "The server could not join the room.");
        } else {
            err_code = code;
            snprintf(why, sizeof why, "%s", w);
        }
        free(rooms[n_rooms].members);
        free(rooms[n_rooms].managers);
        room_row_free(&rooms[n_rooms].row);
        memset(&rooms[n_rooms], 0, sizeof rooms[n_rooms]);
        char uri[600];
        snprintf(uri, sizeof uri, "ma-chan://%s/%s", c->domain, c->value);
        failed[n_failed++] = xstrdup(uri);
    }
    struct sbuf b;
    sbuf_init(&b, 4u << 20);
    if (!batch && n_rooms == 0) {
        /* pidgin-sipe shows the resp text in "Error joining chat room: …" */
        xccos_render_error(&b, envid_new(), cmd, err_code ? err_code : 400, why);
    } else {
        /* bjoin: one bad room must not fail the others (PROTOCOL §4) */
        struct xccos_join_room *jr = xcalloc((size_t)n_rooms + 1, sizeof *jr);
        for (int i = 0; i < n_rooms; i++) {
            jr[i].room = (struct xccos_room){ .uri = rooms[i].row.uri, .name = rooms[i].row.name,
                                              .topic = rooms[i].row.topic, .user_count = -1 };
            jr[i].member_ids = rooms[i].members;
            jr[i].n_members = rooms[i].n_members;
            jr[i].manager_ids = rooms[i].managers;
            jr[i].n_managers = rooms[i].n_managers;
        }
        xccos_render_rpl_join(&b, envid_new(), cmd, ro.users, ro.n, jr, n_rooms,
                              (const char *const *)failed, n_failed);
        free(jr);
    }
    result_doc(r->res, &b);
    sbuf_free(&b);
    for (int i = 0; i < n_rooms; i++) {
        free(rooms[i].members);
        free(rooms[i].managers);
        room_row_free(&rooms[i].row);
    }
    for (int i = 0; i < n_failed; i++)
        free(failed[i]);
    free(rooms);
    free(failed);
    roster_free(&ro);
}

/* ---- part ------------------------------------------------------------------------------ */

void cmd_part(struct ch_req *r)
{
    const Pchat__Request *rq = r->rq;
    char guid[40];
    if (room_guid_of_uri(r->ch, r->cmd->chan_uri, guid) == 0) {
        char sid[24], lim[24];
        const char *p[] = { guid, r->ch->cfg->pool.domain, rq->user_uri, rq->frontend_id,
                            i64(sid, (int64_t)rq->session_id),
                            i64(lim, r->ch->cfg->chat.participant_update_limit),
                            r->ch->cfg->compliance.enabled ? "true" : "false" };
        PGresult *res = db_run(r->ch, "act_part", 7, p);
        if (!pq_ok_tuples(res) || PQntuples(res) != 1) {
            PQclear(res);
            fail_store(r, "leaving a room");
            return;
        }
        int64_t room_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        int64_t seq = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        if (atoi(PQgetvalue(res, 0, 0)) == 200 && seq > 0) {
            char uri[320];
            room_uri(r->ch, guid, uri, sizeof uri);
            announce(r, room_id, uri, 2, rq->user_uri, rq->frontend_id, rq->session_id, false,
                     PQgetvalue(res, 0, 3)[0] == 't', seq);
            result_parted(r->res, (uint64_t)room_id);
        }
        PQclear(res);
    }
    /* a part for a room not joined still gets rpl:part echoing the URI (PROTOCOL §4), so
       the client forgets the room */
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_part(&b, envid_new(), r->cmd, r->cmd->chan_uri);
    result_doc(r->res, &b);
    sbuf_free(&b);
}

/* ---- sessions that ended ---------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
    return x < y ? -1 : x > y;
}

/* Remove the participant rows a DELETE … RETURNING room_id, user_id, session_id gave, with
 * their events, in ascending room order (so concurrent leavers lock rooms in one order). */
static void leave_rooms(struct ch_req *r, const char *stmt, const char *const *params, int n,
                        const char *what)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!tx_begin(r)) {
            fail_store(r, what);
            return;
        }
        PGresult *res = db_run(r->ch, stmt, n, params);
        if (!pq_ok_tuples(res)) {
            PQclear(res);
            fail_store(r, what);
            return;
        }
        int rows = PQntuples(res);
        int64_t (*left)[3] = xcalloc((size_t)rows + 1, sizeof *left);
        for (int i = 0; i < rows; i++) {
            left[i][0] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
            left[i][1] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
            left[i][2] = strtoll(PQgetvalue(res, i, 2), NULL, 10);
        }
        PQclear(res);
        qsort(left, (size_t)rows, sizeof *left, cmp_i64);
        bool ok = true;
        for (int i = 0; i < rows && ok; i++) {
            struct room_row room;
            char uid[24];
            const char *pu[] = { i64(uid, left[i][1]) };
            PGresult *u = db_run(r->ch, "user_uri", 1, pu);
            ok = pq_ok_tuples(u) && PQntuples(u) == 1 && room_by_id(r, left[i][0], &room) == 0;
            if (ok) {
                int64_t others = count_query(r, "part_user_count", room.id, left[i][1], 2);
                ok = others >= 0 &&
                     part_event(r, &room, left[i][1], PQgetvalue(u, 0, 0), r->rq->frontend_id,
                                (uint64_t)left[i][2], others) >= 0;
                room_row_free(&room);
            }
            PQclear(u);
        }
        free(left);
        if (ok && tx_commit(r))
            return;
        tx_abort(r);
        if (store_unavailable(r->ch) || attempt == 1) {
            fail_store(r, what);
            return;
        }
    }
}

void job_session_end(struct ch_req *r)
{
    char sid[24];
    const char *p[] = { r->rq->frontend_id, i64(sid, (int64_t)r->rq->session_id) };
    leave_rooms(r, "part_del_session", p, 2, "ending a session");
}

void job_frontend_gone(struct ch_req *r)
{
    const char *p[] = { r->rq->frontend_id };
    leave_rooms(r, "part_del_frontend_all", p, 1, "removing a dead front end's sessions");
}

void job_frontend_reset(struct ch_req *r)
{
    char inc[24];
    const char *p[] = { r->rq->frontend_id, i64(inc, (int64_t)r->rq->incarnation) };
    leave_rooms(r, "part_del_frontend", p, 2, "forgetting a restarted front end's sessions");
    if (r->res->n_events)
        log_info("front end %s restarted: %zu stale memberships removed", r->rq->frontend_id,
                 r->res->n_events);
}
