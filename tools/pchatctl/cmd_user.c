/* cmd_user.c — pchatctl user get: everything the store says about one user — policy and its
 * source, groups, categories in scope, roles, followed rooms, unseen invitations, presence. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* One single-column query into a JSON array of strings. NULL on a db error. */
static struct jv *string_list(struct ctl *c, const char *sql, const char *const *p, int n)
{
    PGresult *r = db_exec(c, sql, n, p);
    if (!r)
        return NULL;
    struct jv *list = jv_arr();
    for (int i = 0; i < PQntuples(r); i++)
        jv_push(list, jv_str(cell(r, i, 0)));
    PQclear(r);
    return list;
}

static int user_get(struct ctl *c, const struct args *a)
{
    char uri[300];
    const char *why = parse_user_uri(a->pos[0], uri, sizeof uri);
    if (why)
        return ctl_usage(c, "user \"%s\": %s", a->pos[0], why);
    int64_t id = db_user_find(c, uri);
    if (id < 0)
        return ctl_db_fail(c, "look the user up");
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *pu[] = { uri };
    const char *pid[] = { key };

    struct jv *groups = string_list(c, "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id"
                                       " WHERE m.user_uri = $1 ORDER BY lower(g.name)", pu, 1);
    if (!groups)
        return ctl_db_fail(c, "read the user's groups");
    if (id == 0 && groups->n == 0) {
        jv_free(groups);
        return ctl_fail(c, EXIT_NOT_FOUND, "user %s not found: they never signed in, hold no role and "
                        "are in no group (see a policy with: pchatctl policy get --user %s)", uri, uri);
    }
    struct jv *o = jv_set(c->out, "user", jv_obj());
    jv_set_str(o, "uri", uri);
    PGresult *r = NULL;
    if (id) {
        r = db_exec(c, "SELECT display_name, " SQL_ISO("created_at") " FROM users WHERE id = $1", 1, pid);
        if (!r) {
            jv_free(groups);
            return ctl_db_fail(c, "read the user");
        }
        jv_set_str(o, "display_name", cell(r, 0, 0));
        jv_set_str(o, "known_since", cell(r, 0, 1));
        PQclear(r);
    } else {
        jv_set(o, "display_name", jv_null());
        jv_set(o, "known_since", jv_null());
    }

    r = db_exec(c, "SELECT scope_kind, scope, enabled FROM chat_policies"
                   " WHERE (scope_kind = 2 AND scope = $1)"
                   "    OR (scope_kind = 1 AND scope = split_part($1, '@', 2))"
                   "    OR scope_kind = 0 ORDER BY scope_kind DESC LIMIT 1", 1, pu);
    if (!r) {
        jv_free(groups);
        return ctl_db_fail(c, "read the policies");
    }
    struct jv *policy = jv_set(o, "policy", jv_obj());
    int kind = PQntuples(r) ? (int)cell_i64(r, 0, 0) : -1;
    jv_set_bool(policy, "enabled", kind >= 0 && cell_bool(r, 0, 2));
    jv_set_str(policy, "source", kind == 2 ? "user" : kind == 1 ? "domain" : kind == 0 ? "global" : "default");
    if (kind == 1) {
        char scope[320];
        snprintf(scope, sizeof scope, "domain:%s", cell(r, 0, 1));
        jv_set_str(policy, "scope", scope);
    }
    PQclear(r);

    jv_set(o, "groups", groups);
    struct jv *list = string_list(c, "SELECT name FROM categories c WHERE pchat_in_scope(c.id, $1)"
                                     " ORDER BY lower(name)", pu, 1);
    if (!list)
        return ctl_db_fail(c, "read the categories in the user's scope");
    jv_set(o, "categories", list);

    static const char *const role_keys[3] = { "member_of", "manager_of", "presenter_of" };
    for (int role = 0; role < 3; role++) {
        char role_text[12];
        snprintf(role_text, sizeof role_text, "%d", role);
        const char *p[] = { key, role_text };
        list = string_list(c, "SELECT r.name FROM room_roles g JOIN rooms r ON r.id = g.room_id"
                              " WHERE g.user_id = $1 AND g.role = $2 ORDER BY lower(r.name)", p, 2);
        if (!list)
            return ctl_db_fail(c, "read the user's roles");
        jv_set(o, role_keys[role], list);
    }
    list = string_list(c, "SELECT r.name FROM followed_rooms f JOIN rooms r ON r.id = f.room_id"
                          " WHERE f.user_id = $1 ORDER BY lower(r.name)", pid, 1);
    if (!list)
        return ctl_db_fail(c, "read the rooms the user follows");
    jv_set(o, "follows", list);

    r = db_exec(c, "SELECT r.name, coalesce(i.invited_by, ''), " SQL_ISO("i.created_at")
                   "  FROM invitations i JOIN rooms r ON r.id = i.room_id"
                   " WHERE i.user_id = $1 AND i.seen_at IS NULL ORDER BY i.created_at", 1, pid);
    if (!r)
        return ctl_db_fail(c, "read the user's invitations");
    list = jv_set(o, "invitations", jv_arr());
    for (int i = 0; i < PQntuples(r); i++) {
        struct jv *inv = jv_push(list, jv_obj());
        jv_set_str(inv, "room", cell(r, i, 0));
        jv_set_str(inv, "invited_by", cell(r, i, 1));
        jv_set_str(inv, "created", cell(r, i, 2));
    }
    PQclear(r);

    r = db_exec(c, "SELECT p.frontend_id, p.session_id, r.name, " SQL_ISO("p.joined_at")
                   "  FROM participants p JOIN rooms r ON r.id = p.room_id"
                   " WHERE p.user_id = $1 ORDER BY p.frontend_id, p.session_id, lower(r.name)", 1, pid);
    if (!r)
        return ctl_db_fail(c, "read where the user is now");
    list = jv_set(o, "in_rooms", jv_arr());
    for (int i = 0; i < PQntuples(r); i++) {
        struct jv *pr = jv_push(list, jv_obj());
        jv_set_str(pr, "frontend", cell(r, i, 0));
        jv_set_int(pr, "session", cell_i64(r, i, 1));
        jv_set_str(pr, "room", cell(r, i, 2));
        jv_set_str(pr, "joined", cell(r, i, 3));
    }
    PQclear(r);
    return 0;
}

static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec user_verbs[] = {
    { "get", "URI", 1, 1, "Show a user: effective policy and its source, groups, categories in "
      "scope, rooms by role, followed rooms, unseen invitations, and the rooms they are in now.",
      NULL, "  pchatctl user get sip:alice@example.com", no_opts, user_get, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_user = {
    "user", "One user as the store sees them.", NULL, user_verbs,
};
