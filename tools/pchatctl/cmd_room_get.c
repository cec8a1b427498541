/* cmd_room_get.c — pchatctl room get: one room in detail (roles, settings, content figures,
 * who is in it now) or a filtered list (Get-CsPersistentChatRoom). */
#include "room.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"

#define ROLE_ARRAY(role) \
    "array(SELECT u.uri FROM room_roles g JOIN users u ON u.id = g.user_id" \
    " WHERE g.room_id = r.id AND g.role = " role " ORDER BY u.uri)"

static struct jv *room_row(struct ctl *c, PGresult *r, int i, bool detail)
{
    struct jv *o = jv_obj();
    char uri[320];
    room_uri(c, cell(r, i, 2), uri, sizeof uri);
    int privacy = (int)cell_i64(r, i, 6), type = (int)cell_i64(r, i, 7);
    int invitations = (int)cell_i64(r, i, 8);
    jv_set_str(o, "name", cell(r, i, 1));
    jv_set_str(o, "category", cell(r, i, 3));
    jv_set_str(o, "privacy", privacy_names[privacy >= 0 && privacy < 3 ? privacy : 1]);
    jv_set_str(o, "type", type_names[type == 1]);
    jv_set_bool(o, "disabled", cell_bool(r, i, 10));
    if (detail) {
        jv_set_str(o, "uri", uri);
        jv_set_str(o, "guid", cell(r, i, 2));
        jv_set_str(o, "description", cell(r, i, 4));
        jv_set_str(o, "topic", cell(r, i, 5));
        jv_set_str(o, "invitations", room_invitation_names[invitations == 1]);
        jv_set_bool(o, "invitations_effective", cell_bool(r, i, 9));
        jv_set_str(o, "addin", cell(r, i, 11));
        jv_set_str(o, "created", cell(r, i, 12));
        jv_set_int(o, "messages", cell_i64(r, i, 13));
        jv_set_str(o, "last_post", cell(r, i, 14));
        jv_set_int(o, "participants", cell_i64(r, i, 15));
        jv_set_int(o, "last_seq", cell_i64(r, i, 16));
        jv_set(o, "members", jv_from_pg_array(cell(r, i, 17)));
        jv_set(o, "managers", jv_from_pg_array(cell(r, i, 18)));
        jv_set(o, "presenters", jv_from_pg_array(cell(r, i, 19)));
    } else {
        jv_set_int(o, "member_count", cell_i64(r, i, 17));
        jv_set_int(o, "messages", cell_i64(r, i, 13));
        jv_set_str(o, "last_post", cell(r, i, 14));
        jv_set_str(o, "uri", uri);
    }
    return o;
}

/* Columns 0-16 are common to both forms; 17-19 are role arrays (detail) or a count (list). */
#define ROOM_COLUMNS                                                                             \
    "SELECT r.id, r.name, r.guid, c.name, r.description, r.topic, r.privacy, r.type,"            \
    "       r.invitations, c.invitations AND r.invitations = 0, r.disabled, a.name,"             \
    "       " SQL_ISO("r.created_at") ","                                                         \
    "       (SELECT count(*) FROM messages m WHERE m.room_id = r.id),"                           \
    "       (SELECT " SQL_ISO("max(m.created_at)") " FROM messages m WHERE m.room_id = r.id),"   \
    "       (SELECT count(DISTINCT p.user_id) FROM participants p WHERE p.room_id = r.id),"       \
    "       r.last_seq,"

#define ROOM_FROM                                                                                \
    "  FROM rooms r JOIN categories c ON c.id = r.category_id"                                   \
    "  LEFT JOIN addins a ON a.id = r.addin_id"

struct jv *room_detail(struct ctl *c, int64_t room_id)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room_id);
    const char *p[] = { id };
    PGresult *r = db_exec(c, ROOM_COLUMNS " " ROLE_ARRAY("0") ", " ROLE_ARRAY("1") ", " ROLE_ARRAY("2")
                             ROOM_FROM " WHERE r.id = $1", 1, p);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return NULL;
    }
    struct jv *o = room_row(c, r, 0, true);
    PQclear(r);
    return o;
}

/* --name-like: '*' is the wildcard; LIKE's own % _ \ are matched literally. */
static void like_pattern(const char *s, struct sbuf *out)
{
    bool wildcard = strchr(s, '*') != NULL;
    if (!wildcard)
        sbuf_putc(out, '%');
    for (; *s; s++) {
        if (*s == '*')
            sbuf_putc(out, '%');
        else if (*s == '%' || *s == '_' || *s == '\\') {
            sbuf_putc(out, '\\');
            sbuf_putc(out, *s);
        } else {
            sbuf_putc(out, *s);
        }
    }
    if (!wildcard)
        sbuf_putc(out, '%');
}

int room_get(struct ctl *c, const struct args *a)
{
    if (a->n_pos == 1) {
        if (a->n_occ > 0)
            return ctl_usage(c, "filters apply to lists: give NAME or filters, not both");
        struct room_ref room;
        int rc = lookup_room(c, a->pos[0], false, &room);
        if (rc)
            return rc;
        struct jv *detail = room_detail(c, room.id);
        if (!detail)
            return ctl_db_fail(c, "read the room");
        jv_set(c->out, "room", detail);
        return 0;
    }

    const char *category = arg_value(a, "--category");
    const char *addin = arg_value(a, "--addin");
    char member[300] = "", manager[300] = "", presenter[300] = "";
    static const char *const role_opts[3] = { "--member", "--manager", "--presenter" };
    char *role_uris[3] = { member, manager, presenter };
    for (int i = 0; i < 3; i++) {
        const char *v = arg_value(a, role_opts[i]);
        const char *why = v ? parse_user_uri(v, role_uris[i], sizeof member) : NULL;
        if (why)
            return ctl_usage(c, "%s \"%s\": %s", role_opts[i], v, why);
    }
    char privacy[12] = "", type[12] = "";
    const char *v;
    if ((v = arg_value(a, "--privacy"))) {
        int i = parse_word(v, privacy_names, 3);
        if (i < 0)
            return ctl_usage(c, "--privacy takes open, closed or secret (got \"%s\")", v);
        snprintf(privacy, sizeof privacy, "%d", i);
    }
    if ((v = arg_value(a, "--type"))) {
        int i = parse_word(v, type_names, 2);
        if (i < 0)
            return ctl_usage(c, "--type takes normal or auditorium (got \"%s\")", v);
        snprintf(type, sizeof type, "%d", i);
    }
    bool dis = arg_flag(a, "--disabled"), en = arg_flag(a, "--enabled");
    if (dis && en)
        return ctl_usage(c, "--disabled and --enabled contradict each other");
    long long limit = 1000;
    if ((v = arg_value(a, "--limit")) && !parse_int(v, 1, 100000, &limit))
        return ctl_usage(c, "--limit takes a number from 1 to 100000 (got \"%s\")", v);
    struct sbuf like;
    sbuf_init(&like, 4096);
    if ((v = arg_value(a, "--name-like")))
        like_pattern(v, &like);

    int rc = 0;
    int64_t id;
    if (category && (rc = lookup_category(c, category, false, &id, NULL, 0)) != 0)
        goto done;
    if (addin && (rc = lookup_addin(c, addin, &id, NULL, 0)) != 0)
        goto done;
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%lld", limit + 1);
    const char *p[] = { category, member[0] ? member : NULL, manager[0] ? manager : NULL,
                        presenter[0] ? presenter : NULL, privacy[0] ? privacy : NULL,
                        type[0] ? type : NULL, dis ? "t" : en ? "f" : NULL,
                        like.len ? like.data : NULL, addin, limit_text };
    PGresult *r = db_exec(c,
        ROOM_COLUMNS " (SELECT count(*) FROM room_roles g WHERE g.room_id = r.id AND g.role = 0)"
        ROOM_FROM
        " WHERE ($1::text IS NULL OR lower(c.name) = lower($1))"
        "   AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM room_roles g JOIN users u ON u.id = g.user_id"
        "        WHERE g.room_id = r.id AND g.role = 0 AND lower(u.uri) = $2))"
        "   AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM room_roles g JOIN users u ON u.id = g.user_id"
        "        WHERE g.room_id = r.id AND g.role = 1 AND lower(u.uri) = $3))"
        "   AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM room_roles g JOIN users u ON u.id = g.user_id"
        "        WHERE g.room_id = r.id AND g.role = 2 AND lower(u.uri) = $4))"
        "   AND ($5::smallint IS NULL OR r.privacy = $5)"
        "   AND ($6::smallint IS NULL OR r.type = $6)"
        "   AND ($7::boolean IS NULL OR r.disabled = $7)"
        "   AND ($8::text IS NULL OR r.name ILIKE $8)"
        "   AND ($9::text IS NULL OR lower(a.name) = lower($9))"
        " ORDER BY lower(r.name) LIMIT $10", 10, p);
    if (!r) {
        rc = ctl_db_fail(c, "list the rooms");
        goto done;
    }
    int n = PQntuples(r);
    bool truncated = n > limit;
    if (truncated)
        n = (int)limit;
    struct jv *list = jv_set(c->out, "rooms", jv_arr());
    for (int i = 0; i < n; i++)
        jv_push(list, room_row(c, r, i, false));
    PQclear(r);
    if (truncated) {
        if (c->json)
            jv_set_bool(c->out, "truncated", true);
        else
            fprintf(stderr, "pchatctl: showing the first %lld rooms; raise --limit to see more\n", limit);
    }
done:
    sbuf_free(&like);
    return rc;
}
