/* cmd_category.c — pchatctl category new|set|get|remove: categories and their scope (allowed,
 * denied, creators), the ethical wall of the original product. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRINCIPAL_TEXT "CASE p.kind WHEN 1 THEN 'domain:' || p.value WHEN 2 THEN 'group:' || p.value ELSE p.value END"
#define PRINCIPAL_ARRAY(list) \
    "array(SELECT " PRINCIPAL_TEXT " FROM category_principals p WHERE p.category_id = c.id" \
    " AND p.list = " list " ORDER BY p.kind, p.value)"

static const char *const list_names[3] = { "allowed", "denied", "creators" };

static const char CATEGORY_SELECT[] =
    "SELECT c.id, c.name, c.description, c.file_upload, c.invitations, c.chat_history,"
    "       (SELECT count(*) FROM rooms r WHERE r.category_id = c.id),"
    "       " PRINCIPAL_ARRAY("0") ", " PRINCIPAL_ARRAY("1") ", " PRINCIPAL_ARRAY("2") ","
    "       c.guid, " SQL_ISO("c.created_at") ","
    "       array(SELECT r.name FROM rooms r WHERE r.category_id = c.id ORDER BY lower(r.name))"
    "  FROM categories c";

static struct jv *category_row(PGresult *r, int i, bool detail)
{
    struct jv *o = jv_obj();
    jv_set_str(o, "name", cell(r, i, 1));
    jv_set_str(o, "description", cell(r, i, 2));
    jv_set_bool(o, "file_upload", cell_bool(r, i, 3));
    jv_set_bool(o, "invitations", cell_bool(r, i, 4));
    jv_set_bool(o, "history", cell_bool(r, i, 5));
    if (detail) {
        jv_set_str(o, "guid", cell(r, i, 10));
        jv_set_str(o, "created", cell(r, i, 11));
    }
    jv_set_int(o, "rooms", cell_i64(r, i, 6));
    jv_set(o, "allowed", jv_from_pg_array(cell(r, i, 7)));
    jv_set(o, "denied", jv_from_pg_array(cell(r, i, 8)));
    jv_set(o, "creators", jv_from_pg_array(cell(r, i, 9)));
    if (detail)
        jv_set(o, "room_names", jv_from_pg_array(cell(r, i, 12)));
    return o;
}

/* The category as `category get NAME` shows it; NULL on a db error. */
static struct jv *category_detail(struct ctl *c, int64_t id)
{
    char sql[sizeof CATEGORY_SELECT + 64], key[24];
    snprintf(sql, sizeof sql, "%s WHERE c.id = $1", CATEGORY_SELECT);
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key };
    PGresult *r = db_exec(c, sql, 1, p);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return NULL;
    }
    struct jv *o = category_row(r, 0, true);
    PQclear(r);
    return o;
}

/* --- options shared by new and set ---------------------------------------------------------- */

struct switches {
    const char *file_upload, *invitations, *history;   /* "t"/"f" or NULL */
};

static int read_switches(struct ctl *c, const struct args *a, struct switches *s)
{
    static const struct { const char *opt; size_t off; } map[] = {
        { "--file-upload", offsetof(struct switches, file_upload) },
        { "--invitations", offsetof(struct switches, invitations) },
        { "--history", offsetof(struct switches, history) },
    };
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        const char *v = arg_value(a, map[i].opt);
        if (!v)
            continue;
        int on = parse_onoff(v);
        if (on < 0)
            return ctl_usage(c, "%s takes on or off (got \"%s\")", map[i].opt, v);
        *(const char **)((char *)s + map[i].off) = on ? "t" : "f";
    }
    return 0;
}

static int check_principals(struct ctl *c, const struct args *a, const char *opt)
{
    const char *vals[CTL_MAX_ARGS];
    int n = arg_list(a, opt, vals, CTL_MAX_ARGS);
    for (int i = 0; i < n; i++) {
        struct principal p;
        const char *why = principal_parse(vals[i], &p);
        if (why)
            return ctl_usage(c, "%s \"%s\": %s", opt, vals[i], why);
    }
    return 0;
}

/* Add (or remove) the principals of option `opt` to/from list `list`; records them in
 * `changes` under `opt` without its dashes. Returns 0 or an exit code. */
static int apply_principals(struct ctl *c, int64_t cat_id, const char *cat_name, int list,
                            const struct args *a, const char *opt, bool add, struct jv *changes)
{
    const char *vals[CTL_MAX_ARGS];
    int n = arg_list(a, opt, vals, CTL_MAX_ARGS);
    if (n == 0)
        return 0;
    char key[48];
    struct jv *done = jv_set(changes, opt_key(opt, key, sizeof key), jv_arr());
    char id[24], kind[12], list_text[12];
    snprintf(id, sizeof id, "%" PRId64, cat_id);
    snprintf(list_text, sizeof list_text, "%d", list);
    for (int i = 0; i < n; i++) {
        struct principal p;
        principal_parse(vals[i], &p);   /* checked before the transaction */
        char text[600];
        principal_format(p.kind, p.value, text, sizeof text);
        snprintf(kind, sizeof kind, "%d", p.kind);
        if (add && p.kind == 2) {
            int64_t gid;
            int rc = lookup_group(c, p.value, false, &gid, NULL, 0);
            if (rc)
                return rc;
        }
        const char *params[] = { id, list_text, kind, p.value };
        long rows = db_do(c, add ? "INSERT INTO category_principals (category_id, list, kind, value)"
                                   " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
                                 : "DELETE FROM category_principals WHERE category_id = $1"
                                   " AND list = $2 AND kind = $3 AND value = $4", 4, params);
        if (rows < 0)
            return ctl_db_fail(c, "change the category's principals");
        if (!add && rows == 0)
            return ctl_fail(c, EXIT_NOT_FOUND, "%s is not in the %s list of category \"%s\"; see "
                            "it with: pchatctl category get \"%s\"", text, list_names[list],
                            cat_name, cat_name);
        if (rows > 0)
            jv_push(done, jv_str(text));
        else
            ctl_verbose(c, "%s was already in the %s list", text, list_names[list]);
    }
    return 0;
}

static const char *const principal_opts[6] = {
    "--add-allowed", "--remove-allowed", "--add-denied", "--remove-denied", "--add-creator", "--remove-creator",
};

/* --- verbs ---------------------------------------------------------------------------------- */

static int category_new(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0];
    const char *why = check_name(name);
    if (why)
        return ctl_usage(c, "category name \"%s\": %s", name, why);
    const char *description = arg_value(a, "--description");
    if (description && (why = check_text(description)))
        return ctl_usage(c, "--description: %s", why);
    struct switches s;
    int rc = read_switches(c, a, &s);
    if (!rc)
        rc = check_principals(c, a, "--allow");
    if (!rc)
        rc = check_principals(c, a, "--deny");
    if (!rc)
        rc = check_principals(c, a, "--creator");
    if (rc)
        return rc;

    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    const char *p[] = { name, description ? description : "", s.file_upload ? s.file_upload : "f",
                        s.invitations ? s.invitations : "t", s.history ? s.history : "t" };
    PGresult *r = db_exec(c, "INSERT INTO categories (name, description, file_upload, invitations,"
                             " chat_history) VALUES ($1, $2, $3, $4, $5) RETURNING id", 5, p);
    if (!r && db_unique_violation(c))
        return ctl_fail(c, EXIT_REFUSED, "a category named \"%s\" already exists; change it with: "
                        "pchatctl category set \"%s\" ...", name, name);
    if (!r)
        return ctl_db_fail(c, "create the category");
    int64_t id = cell_i64(r, 0, 0);
    PQclear(r);
    struct jv *changes = jv_obj();
    jv_set_str(changes, "action", "category new");
    jv_set_str(changes, "category", name);
    static const char *const opts[3] = { "--allow", "--deny", "--creator" };
    for (int list = 0; list < 3 && !rc; list++)
        rc = apply_principals(c, id, name, list, a, opts[list], true, changes);
    if (!rc && db_audit(c, "CATEGORY_CREATED", NULL, NULL, changes) < 0)
        rc = ctl_db_fail(c, "record the change in the compliance outbox");
    if ((rc = db_commit_result(c, rc, changes)) != 0)
        return rc;
    struct jv *detail = category_detail(c, id);
    if (detail)
        jv_set(c->out, "category", detail);
    ctl_say(c, "created category \"%s\"", name);
    struct jv *allowed = detail ? jv_get(detail, "allowed") : NULL;
    if (allowed && allowed->n == 0)
        ctl_say(c, "note: its allowed list is empty, so nobody may use its rooms yet; add principals "
                   "with: pchatctl category set \"%s\" --add-allowed domain:%s", name,
                c->cfg.pool.domain ? c->cfg.pool.domain : "example.com");
    return 0;
}

static int category_set(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0];
    const char *rename = arg_value(a, "--rename");
    const char *description = arg_value(a, "--description");
    const char *why;
    if (rename && (why = check_name(rename)))
        return ctl_usage(c, "--rename \"%s\": %s", rename, why);
    if (description && (why = check_text(description)))
        return ctl_usage(c, "--description: %s", why);
    struct switches s;
    int rc = read_switches(c, a, &s);
    for (int i = 0; i < 6 && !rc; i++)
        rc = check_principals(c, a, principal_opts[i]);
    if (rc)
        return rc;
    if (a->n_occ == 0)
        return ctl_usage(c, "nothing to change: give at least one option");

    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1];
    if ((rc = lookup_category(c, name, true, &id, canon, sizeof canon)) != 0)
        return rc;
    struct jv *changes = jv_obj();
    jv_set_str(changes, "action", "category set");
    jv_set_str(changes, "category", canon);
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key, rename, description, s.file_upload, s.invitations, s.history };
    if (db_do(c, "UPDATE categories SET name = coalesce($2, name),"
                 " description = coalesce($3, description),"
                 " file_upload = coalesce($4::boolean, file_upload),"
                 " invitations = coalesce($5::boolean, invitations),"
                 " chat_history = coalesce($6::boolean, chat_history) WHERE id = $1", 6, p) < 0) {
        jv_free(changes);
        if (db_unique_violation(c))
            return ctl_fail(c, EXIT_REFUSED, "a category named \"%s\" already exists; choose another "
                            "name for --rename", rename);
        return ctl_db_fail(c, "change the category");
    }
    if (rename)
        jv_set_str(changes, "rename", rename);
    if (description)
        jv_set_str(changes, "description", description);
    if (s.file_upload)
        jv_set_bool(changes, "file_upload", s.file_upload[0] == 't');
    if (s.invitations)
        jv_set_bool(changes, "invitations", s.invitations[0] == 't');
    if (s.history)
        jv_set_bool(changes, "history", s.history[0] == 't');
    for (int i = 0; i < 6 && !rc; i += 2) {
        /* removals first, so "--remove-allowed X --add-allowed X" ends with X present */
        rc = apply_principals(c, id, canon, i / 2, a, principal_opts[i + 1], false, changes);
        if (!rc)
            rc = apply_principals(c, id, canon, i / 2, a, principal_opts[i], true, changes);
    }
    /* a narrower scope takes people out of the category's rooms now */
    if (!rc && live_recheck(c, "r.category_id = $1::bigint", key, 0, NULL) < 0)
        rc = ctl_db_fail(c, "remove users outside the new scope from the category's rooms");
    if (!rc && db_audit(c, "CATEGORY_CHANGED", NULL, NULL, changes) < 0)
        rc = ctl_db_fail(c, "record the change in the compliance outbox");
    if (!rc)
        rc = db_commit(c);
    if (rc) {
        jv_free(changes);
        return rc;
    }
    jv_set(c->out, "result", changes);
    struct jv *detail = category_detail(c, id);
    if (detail)
        jv_set(c->out, "category", detail);
    ctl_say(c, "changed category \"%s\"%s%s%s", canon, rename ? " (now \"" : "", rename ? rename : "",
            rename ? "\")" : "");
    return 0;
}

static int category_get(struct ctl *c, const struct args *a)
{
    const char *name = a->n_pos ? a->pos[0] : NULL;
    char sql[sizeof CATEGORY_SELECT + 128];
    snprintf(sql, sizeof sql, "%s WHERE ($1::text IS NULL OR lower(c.name) = lower($1))"
                              " ORDER BY lower(c.name)", CATEGORY_SELECT);
    const char *p[] = { name };
    PGresult *r = db_exec(c, sql, 1, p);
    if (!r)
        return ctl_db_fail(c, "read the categories");
    if (name && PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "category \"%s\" not found; list categories with: "
                        "pchatctl category get", name);
    }
    if (name) {
        jv_set(c->out, "category", category_row(r, 0, true));
    } else {
        struct jv *list = jv_set(c->out, "categories", jv_arr());
        for (int i = 0; i < PQntuples(r); i++)
            jv_push(list, category_row(r, i, false));
    }
    PQclear(r);
    return 0;
}

static int category_remove(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0];
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1];
    int rc = lookup_category(c, name, true, &id, canon, sizeof canon);
    if (rc)
        return rc;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key };
    PGresult *r = db_exec(c, "SELECT count(*) FROM rooms WHERE category_id = $1", 1, p);
    if (!r)
        return ctl_db_fail(c, "count the category's rooms");
    int64_t rooms = cell_i64(r, 0, 0);
    PQclear(r);
    if (rooms > 0)
        return ctl_fail(c, EXIT_REFUSED, "category \"%s\" still has %" PRId64 " room%s; move or "
                        "remove them first (list them with: pchatctl room get --category \"%s\")",
                        canon, rooms, rooms == 1 ? "" : "s", canon);
    if (db_do(c, "DELETE FROM categories WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "remove the category");
    struct jv *changes = jv_obj();
    jv_set_str(changes, "action", "category remove");
    jv_set_str(changes, "category", canon);
    if (db_audit(c, "CATEGORY_REMOVED", NULL, NULL, changes) < 0) {
        jv_free(changes);
        return ctl_db_fail(c, "record the change in the compliance outbox");
    }
    if ((rc = db_commit(c)) != 0) {
        jv_free(changes);
        return rc;
    }
    jv_set(c->out, "result", changes);
    ctl_say(c, "removed category \"%s\"", canon);
    return 0;
}

/* --- command table -------------------------------------------------------------------------- */

#define SWITCH_OPTS                                                                              \
    { "--description", OPT_VALUE, "TEXT", "what the category is for" },                          \
    { "--file-upload", OPT_VALUE, "on|off", "may files be posted in its rooms (new: off)" },     \
    { "--invitations", OPT_VALUE, "on|off", "invite users added to its rooms (new: on)" },       \
    { "--history", OPT_VALUE, "on|off", "keep chat history for users (new: on); off still "     \
                                        "sends posts to compliance" }

static const struct opt_spec new_opts[] = {
    SWITCH_OPTS,
    { "--allow", OPT_LIST, "PRINCIPAL", "add to the allowed list (repeatable)" },
    { "--deny", OPT_LIST, "PRINCIPAL", "add to the denied list (repeatable); denied wins" },
    { "--creator", OPT_LIST, "PRINCIPAL", "add to the creators list (repeatable)" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec set_opts[] = {
    { "--rename", OPT_VALUE, "NEW", "give the category a new name" },
    SWITCH_OPTS,
    { "--add-allowed", OPT_LIST, "PRINCIPAL", "add to the allowed list" },
    { "--remove-allowed", OPT_LIST, "PRINCIPAL", "remove from the allowed list" },
    { "--add-denied", OPT_LIST, "PRINCIPAL", "add to the denied list" },
    { "--remove-denied", OPT_LIST, "PRINCIPAL", "remove from the denied list" },
    { "--add-creator", OPT_LIST, "PRINCIPAL", "add to the creators list" },
    { "--remove-creator", OPT_LIST, "PRINCIPAL", "remove from the creators list" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec category_verbs[] = {
    { "new", "NAME [OPTIONS]", 1, 1, "Create a category (New-CsPersistentChatCategory).",
      "\nA new category allows nobody until principals are added to its allowed list.\n"
      "Principals: sip:alice@example.com, domain:example.com, group:NAME (the group must exist).\n",
      "  pchatctl category new Trading --description \"Trading desks\" \\\n"
      "      --allow domain:example.com --deny group:analysts --creator sip:lead@example.com",
      new_opts, category_new, true },
    { "set", "NAME [OPTIONS]", 1, 1, "Change a category and its scope (Set-CsPersistentChatCategory).",
      "\nRemovals are applied before additions. Users that a narrower scope leaves outside are\n"
      "taken out of the category's rooms at once; their role grants stay (inert while outside).\n"
      "Removing a principal that is not in the list is an error (exit 3).\n",
      "  pchatctl category set Trading --add-denied group:analysts --remove-allowed sip:bob@example.com",
      set_opts, category_set, true },
    { "get", "[NAME]", 0, 1, "List categories, or show one (Get-CsPersistentChatCategory).", NULL,
      "  pchatctl category get\n  pchatctl --json category get Trading", no_opts, category_get, true },
    { "remove", "NAME", 1, 1, "Remove an empty category (Remove-CsPersistentChatCategory).",
      "\nA category that still has rooms is not removed (exit 4): move or remove its rooms first.\n",
      "  pchatctl category remove Trading", no_opts, category_remove, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_category = {
    "category", "Categories: who may use their rooms (allowed, denied, creators) and their switches.",
    "\nA user is in a category's scope when a principal of its allowed list matches them and\n"
    "none of its denied list does (denied wins: the ethical wall). An empty allowed list\n"
    "means nobody. Every room belongs to one category.\n",
    category_verbs,
};
