/* cmd_room_admin.c — pchatctl room remove|disable|enable|clear: the verbs that take a room,
 * its audience or its content away (and enable, which gives the room back). */
#include "room.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct jv *change_record(const char *action, const struct room_ref *room)
{
    struct jv *o = jv_obj();
    jv_set_str(o, "action", action);
    jv_set_str(o, "room", room->name);
    jv_set_str(o, "uri", room->uri);
    return o;
}

/* Audit, commit and hand the record to the output; frees it on failure. */
static int finish(struct ctl *c, const char *what, const struct room_ref *room, struct jv *record)
{
    return db_commit_result(c, room_audit(c, what, room, record), record);
}

int room_remove(struct ctl *c, const struct args *a)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    int rc = lookup_room(c, a->pos[0], true, &room);
    if (rc)
        return rc;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room.id);
    const char *p[] = { id };
    PGresult *r = db_exec(c, "SELECT coalesce(string_agg(DISTINCT u.uri, ',' ORDER BY u.uri), ''),"
                             "       (SELECT count(*) FROM messages m WHERE m.room_id = $1)"
                             "  FROM participants p JOIN users u ON u.id = p.user_id WHERE p.room_id = $1",
                          1, p);
    if (!r)
        return ctl_db_fail(c, "read who is in the room");
    int64_t messages = cell_i64(r, 0, 1);
    /* the front ends drop the room's sessions on the notice; the rows go with the room */
    rc = live_evict(c, room.id, cell(r, 0, 0));
    PQclear(r);
    if (rc < 0)
        return ctl_db_fail(c, "take everyone out of the room");
    if (db_do(c, "DELETE FROM rooms WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "remove the room");
    struct jv *record = change_record("room remove", &room);
    jv_set_str(record, "category", room.category);
    jv_set_int(record, "messages", messages);
    if ((rc = finish(c, "ROOM_REMOVED", &room, record)) != 0)
        return rc;
    ctl_say(c, "removed room \"%s\" and its %" PRId64 " message%s", room.name, messages,
            messages == 1 ? "" : "s");
    return 0;
}

int room_disable(struct ctl *c, const struct args *a)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    int rc = lookup_room(c, a->pos[0], true, &room);
    if (rc)
        return rc;
    if (room.disabled) {
        jv_set_str(c->out, "result", "unchanged");
        ctl_say(c, "room \"%s\" already is disabled", room.name);
        return 0;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room.id);
    const char *p[] = { id };
    if (db_do(c, "UPDATE rooms SET disabled = true WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "disable the room");
    /* everyone in it leaves; the event is written even when nobody is there */
    if (live_recheck(c, "r.id = $1::bigint", id, room.id, "") < 0)
        return ctl_db_fail(c, "take everyone out of the room");
    if ((rc = finish(c, "ROOM_DISABLED", &room, change_record("room disable", &room))) != 0)
        return rc;
    ctl_say(c, "disabled room \"%s\" (its content is kept; pchatctl room enable brings it back)",
            room.name);
    return 0;
}

int room_enable(struct ctl *c, const struct args *a)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    int rc = lookup_room(c, a->pos[0], true, &room);
    if (rc)
        return rc;
    if (!room.disabled) {
        jv_set_str(c->out, "result", "unchanged");
        ctl_say(c, "room \"%s\" already is enabled", room.name);
        return 0;
    }
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room.id);
    const char *p[] = { id };
    if (db_do(c, "UPDATE rooms SET disabled = false WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "enable the room");
    if ((rc = finish(c, "ROOM_ENABLED", &room, change_record("room enable", &room))) != 0)
        return rc;
    ctl_say(c, "enabled room \"%s\"", room.name);
    return 0;
}

int room_clear(struct ctl *c, const struct args *a)
{
    const char *before = arg_value(a, "--before");
    if (!before)
        return ctl_usage(c, "--before DATE is required: posts older than DATE are deleted");
    char when[64];
    const char *why = parse_date(before, when, sizeof when);
    if (why)
        return ctl_usage(c, "--before \"%s\": %s", before, why);
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    int rc = lookup_room(c, a->pos[0], true, &room);
    if (rc)
        return rc;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room.id);
    const char *p[] = { id, when };
    long n = db_do(c, "DELETE FROM messages WHERE room_id = $1 AND created_at < $2::timestamptz", 2, p);
    if (n < 0)
        return ctl_db_fail(c, "delete the posts");
    struct jv *record = change_record("room clear", &room);
    jv_set_str(record, "before", when);
    jv_set_int(record, "removed", n);
    if ((rc = finish(c, "ROOM_CLEARED", &room, record)) != 0)
        return rc;
    ctl_say(c, "deleted %ld post%s older than %s from room \"%s\"", n, n == 1 ? "" : "s", when, room.name);
    return 0;
}
