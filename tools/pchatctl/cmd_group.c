/* cmd_group.c — pchatctl group new|get|remove|add-member|remove-member: the named lists of
 * users that category principals (group:NAME) stand for, in place of directory groups. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Rooms whose category names the group ($1 = the group's name). */
static const char GROUP_ROOMS[] =
    "r.category_id IN (SELECT category_id FROM category_principals WHERE kind = 2 AND value = lower($1))";

static int check_uris(struct ctl *c, const char *const *uris, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        char uri[300];
        const char *why = parse_user_uri(uris[i], uri, sizeof uri);
        if (why)
            return ctl_usage(c, "%s \"%s\": %s", what, uris[i], why);
    }
    return 0;
}

/* Add or remove members; records them in `done`. 0 or an exit code. */
static int change_members(struct ctl *c, int64_t id, const char *group, const char *const *uris,
                          int n, bool add, struct jv *done)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    for (int i = 0; i < n; i++) {
        char uri[300];
        parse_user_uri(uris[i], uri, sizeof uri);
        const char *p[] = { key, uri };
        long rows = db_do(c, add ? "INSERT INTO group_members (group_id, user_uri) VALUES ($1, $2)"
                                   " ON CONFLICT DO NOTHING"
                                 : "DELETE FROM group_members WHERE group_id = $1 AND user_uri = $2",
                          2, p);
        if (rows < 0)
            return ctl_db_fail(c, "change the group's members");
        if (!add && rows == 0)
            return ctl_fail(c, EXIT_NOT_FOUND, "%s is not a member of group \"%s\"; see its members "
                            "with: pchatctl group get \"%s\"", uri, group, group);
        if (rows)
            jv_push(done, jv_str(uri));
        else
            ctl_verbose(c, "%s already was a member of group \"%s\"", uri, group);
    }
    return 0;
}

static int group_new(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0], *description = arg_value(a, "--description");
    const char *why = check_name(name);
    if (why)
        return ctl_usage(c, "group name \"%s\": %s", name, why);
    if (description && (why = check_text(description)))
        return ctl_usage(c, "--description: %s", why);
    const char *uris[CTL_MAX_ARGS];
    int n = arg_list(a, "--member", uris, CTL_MAX_ARGS);
    int rc = check_uris(c, uris, n, "--member");
    if (rc)
        return rc;
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    const char *p[] = { name, description ? description : "" };
    PGresult *r = db_exec(c, "INSERT INTO groups (name, description) VALUES ($1, $2) RETURNING id", 2, p);
    if (!r && db_unique_violation(c))
        return ctl_fail(c, EXIT_REFUSED, "a group named \"%s\" already exists; add members with: "
                        "pchatctl group add-member \"%s\" URI", name, name);
    if (!r)
        return ctl_db_fail(c, "create the group");
    int64_t id = cell_i64(r, 0, 0);
    PQclear(r);
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "group new");
    jv_set_str(record, "group", name);
    rc = change_members(c, id, name, uris, n, true, jv_set(record, "members", jv_arr()));
    if (rc) {
        jv_free(record);
        return rc;
    }
    if ((rc = db_finish_change(c, "GROUP_CREATED", true, record)) == 0)
        ctl_say(c, "created group \"%s\" with %d member%s", name, n, n == 1 ? "" : "s");
    return rc;
}

static int group_members(struct ctl *c, const struct args *a, bool add)
{
    const char *const *uris = a->pos + 1;
    int n = a->n_pos - 1;
    int rc = check_uris(c, uris, n, "member");
    if (rc)
        return rc;
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1];
    if ((rc = lookup_group(c, a->pos[0], true, &id, canon, sizeof canon)) != 0)
        return rc;
    struct jv *record = jv_obj();
    jv_set_str(record, "action", add ? "group add-member" : "group remove-member");
    jv_set_str(record, "group", canon);
    rc = change_members(c, id, canon, uris, n, add, jv_set(record, add ? "added" : "removed", jv_arr()));
    /* a group on a denied list that grows, or on an allowed list that shrinks, narrows the
       scope of the categories that name it: whoever is now outside leaves their rooms */
    if (!rc && live_recheck(c, GROUP_ROOMS, canon, 0, NULL) < 0)
        rc = ctl_db_fail(c, "take users outside the new scope out of the rooms");
    if (rc) {
        jv_free(record);
        return rc;
    }
    if ((rc = db_finish_change(c, "GROUP_CHANGED", true, record)) == 0)
        ctl_say(c, "%s %d member%s %s group \"%s\"", add ? "added" : "removed", n, n == 1 ? "" : "s",
                add ? "to" : "from", canon);
    return rc;
}

static int group_add_member(struct ctl *c, const struct args *a) { return group_members(c, a, true); }
static int group_remove_member(struct ctl *c, const struct args *a) { return group_members(c, a, false); }

static int group_get(struct ctl *c, const struct args *a)
{
    const char *name = a->n_pos ? a->pos[0] : NULL;
    const char *p[] = { name };
    PGresult *r = db_exec(c,
        "SELECT g.name, g.description, " SQL_ISO("g.created_at") ","
        "       array(SELECT m.user_uri FROM group_members m WHERE m.group_id = g.id ORDER BY 1),"
        "       array(SELECT c.name || CASE p.list WHEN 0 THEN ' (allowed)' WHEN 1 THEN ' (denied)'"
        "                                          ELSE ' (creators)' END"
        "               FROM category_principals p JOIN categories c ON c.id = p.category_id"
        "              WHERE p.kind = 2 AND p.value = lower(g.name) ORDER BY lower(c.name), p.list),"
        "       (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)"
        "  FROM groups g WHERE ($1::text IS NULL OR lower(g.name) = lower($1)) ORDER BY lower(g.name)",
        1, p);
    if (!r)
        return ctl_db_fail(c, "read the groups");
    if (name && PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "group \"%s\" not found; list groups with: pchatctl group get",
                        name);
    }
    struct jv *list = name ? NULL : jv_set(c->out, "groups", jv_arr());
    for (int i = 0; i < PQntuples(r); i++) {
        struct jv *o = name ? jv_set(c->out, "group", jv_obj()) : jv_push(list, jv_obj());
        jv_set_str(o, "name", cell(r, i, 0));
        jv_set_str(o, "description", cell(r, i, 1));
        if (name) {
            jv_set_str(o, "created", cell(r, i, 2));
            jv_set(o, "members", jv_from_pg_array(cell(r, i, 3)));
        } else {
            jv_set_int(o, "member_count", cell_i64(r, i, 5));
        }
        jv_set(o, "categories", jv_from_pg_array(cell(r, i, 4)));
    }
    PQclear(r);
    return 0;
}

static int group_remove(struct ctl *c, const struct args *a)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1], key[24];
    int rc = lookup_group(c, a->pos[0], true, &id, canon, sizeof canon);
    if (rc)
        return rc;
    const char *pn[] = { canon };
    PGresult *r = db_exec(c, "SELECT string_agg(DISTINCT c.name, ', ')"
                             "  FROM category_principals p JOIN categories c ON c.id = p.category_id"
                             " WHERE p.kind = 2 AND p.value = lower($1)", 1, pn);
    if (!r)
        return ctl_db_fail(c, "find the categories that name the group");
    if (cell(r, 0, 0)) {
        /* removing it would silently change who those categories allow or deny */
        rc = ctl_fail(c, EXIT_REFUSED, "group \"%s\" is named by categor%s %s; take it out of their "
                      "lists first (pchatctl category set NAME --remove-allowed/--remove-denied/"
                      "--remove-creator group:%s)", canon, strchr(cell(r, 0, 0), ',') ? "ies" : "y",
                      cell(r, 0, 0), canon);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key };
    if (db_do(c, "DELETE FROM groups WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "remove the group");
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "group remove");
    jv_set_str(record, "group", canon);
    if ((rc = db_finish_change(c, "GROUP_REMOVED", true, record)) == 0)
        ctl_say(c, "removed group \"%s\"", canon);
    return rc;
}

static const struct opt_spec new_opts[] = {
    { "--description", OPT_VALUE, "TEXT", "what the group is" },
    { "--member", OPT_LIST, "URI", "a member (repeatable)" },
    { NULL, 0, NULL, NULL },
};
static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec group_verbs[] = {
    { "new", "NAME [--description TEXT] [--member URI ...]", 1, 1, "Create a group.", NULL,
      "  pchatctl group new analysts --member sip:ann@example.com --member sip:al@example.com",
      new_opts, group_new, true },
    { "get", "[NAME]", 0, 1, "List groups, or show one with its members and the categories "
      "that name it.", NULL, "  pchatctl group get analysts", no_opts, group_get, true },
    { "remove", "NAME", 1, 1, "Remove a group no category names (exit 4 otherwise).", NULL,
      "  pchatctl group remove analysts", no_opts, group_remove, true },
    { "add-member", "NAME URI [URI ...]", 2, CTL_MAX_ARGS, "Add users to a group.",
      "\nIf a category denies the group, its new members leave that category's rooms at once.\n",
      "  pchatctl group add-member analysts sip:bob@example.com", no_opts, group_add_member, true },
    { "remove-member", "NAME URI [URI ...]", 2, CTL_MAX_ARGS, "Remove users from a group.",
      "\nIf a category allows the group, users it no longer allows leave its rooms at once.\n",
      "  pchatctl group remove-member analysts sip:bob@example.com", no_opts, group_remove_member, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_group = {
    "group", "Groups of users that categories allow or deny as group:NAME.",
    "\nGroups stand in for directory (AD) groups of the original product. Members are SIP URIs\n"
    "and need not have signed in yet.\n",
    group_verbs,
};
