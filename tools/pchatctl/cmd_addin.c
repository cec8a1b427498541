/* cmd_addin.c — pchatctl addin new|set|get|remove: named http(s) URLs a room can show in the
 * client's extensibility pane (New-/Set-/Get-/Remove-CsPersistentChatAddin). */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int addin_new(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0], *url = arg_value(a, "--url");
    const char *why = check_name(name);
    if (why)
        return ctl_usage(c, "add-in name \"%s\": %s", name, why);
    if (!url)
        return ctl_usage(c, "--url URL is required");
    if ((why = check_url(url)))
        return ctl_usage(c, "--url \"%s\": %s", url, why);
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    const char *p[] = { name, url };
    if (db_do(c, "INSERT INTO addins (name, url) VALUES ($1, $2)", 2, p) < 0) {
        if (db_unique_violation(c))
            return ctl_fail(c, EXIT_REFUSED, "an add-in named \"%s\" already exists; change it with: "
                            "pchatctl addin set \"%s\" --url URL", name, name);
        return ctl_db_fail(c, "create the add-in");
    }
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "addin new");
    jv_set_str(record, "addin", name);
    jv_set_str(record, "url", url);
    int rc = db_finish_change(c, "ADDIN_CREATED", true, record);
    if (!rc)
        ctl_say(c, "created add-in \"%s\" (%s)", name, url);
    return rc;
}

static int addin_set(struct ctl *c, const struct args *a)
{
    const char *url = arg_value(a, "--url"), *rename = arg_value(a, "--rename");
    const char *why;
    if (!url && !rename)
        return ctl_usage(c, "nothing to change: give --url or --rename");
    if (url && (why = check_url(url)))
        return ctl_usage(c, "--url \"%s\": %s", url, why);
    if (rename && (why = check_name(rename)))
        return ctl_usage(c, "--rename \"%s\": %s", rename, why);
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1], key[24];
    int rc = lookup_addin(c, a->pos[0], &id, canon, sizeof canon);
    if (rc)
        return rc;
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key, rename, url };
    if (db_do(c, "UPDATE addins SET name = coalesce($2, name), url = coalesce($3, url) WHERE id = $1",
              3, p) < 0) {
        if (db_unique_violation(c))
            return ctl_fail(c, EXIT_REFUSED, "an add-in named \"%s\" already exists; choose another "
                            "name for --rename", rename);
        return ctl_db_fail(c, "change the add-in");
    }
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "addin set");
    jv_set_str(record, "addin", canon);
    if (rename)
        jv_set_str(record, "rename", rename);
    if (url)
        jv_set_str(record, "url", url);
    rc = db_finish_change(c, "ADDIN_CHANGED", true, record);
    if (!rc)
        ctl_say(c, "changed add-in \"%s\"", canon);
    return rc;
}

static int addin_get(struct ctl *c, const struct args *a)
{
    const char *name = a->n_pos ? a->pos[0] : NULL;
    const char *p[] = { name };
    PGresult *r = db_exec(c, "SELECT a.name, a.url, " SQL_ISO("a.created_at") ","
                             "       array(SELECT r.name FROM rooms r WHERE r.addin_id = a.id"
                             "             ORDER BY lower(r.name))"
                             "  FROM addins a WHERE ($1::text IS NULL OR lower(a.name) = lower($1))"
                             " ORDER BY lower(a.name)", 1, p);
    if (!r)
        return ctl_db_fail(c, "read the add-ins");
    if (name && PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "add-in \"%s\" not found; list add-ins with: pchatctl addin get",
                        name);
    }
    struct jv *list = name ? NULL : jv_set(c->out, "addins", jv_arr());
    for (int i = 0; i < PQntuples(r); i++) {
        struct jv *o = name ? jv_set(c->out, "addin", jv_obj()) : jv_push(list, jv_obj());
        jv_set_str(o, "name", cell(r, i, 0));
        jv_set_str(o, "url", cell(r, i, 1));
        jv_set_str(o, "created", cell(r, i, 2));
        jv_set(o, "rooms", jv_from_pg_array(cell(r, i, 3)));
    }
    PQclear(r);
    return 0;
}

static int addin_remove(struct ctl *c, const struct args *a)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t id;
    char canon[CTL_MAX_NAME + 1], key[24];
    int rc = lookup_addin(c, a->pos[0], &id, canon, sizeof canon);
    if (rc)
        return rc;
    snprintf(key, sizeof key, "%" PRId64, id);
    const char *p[] = { key };
    /* rooms that show it lose it (addin_id ON DELETE SET NULL); say how many */
    long rooms = db_do(c, "UPDATE rooms SET addin_id = NULL WHERE addin_id = $1", 1, p);
    if (rooms < 0 || db_do(c, "DELETE FROM addins WHERE id = $1", 1, p) < 0)
        return ctl_db_fail(c, "remove the add-in");
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "addin remove");
    jv_set_str(record, "addin", canon);
    jv_set_int(record, "rooms", rooms);
    rc = db_finish_change(c, "ADDIN_REMOVED", true, record);
    if (!rc)
        ctl_say(c, "removed add-in \"%s\"%s", canon, rooms ? " (the rooms that showed it no longer do)" : "");
    return rc;
}

static const struct opt_spec new_opts[] = {
    { "--url", OPT_VALUE, "URL", "the http:// or https:// page to show (required)" },
    { NULL, 0, NULL, NULL },
};
static const struct opt_spec set_opts[] = {
    { "--url", OPT_VALUE, "URL", "a new http:// or https:// URL" },
    { "--rename", OPT_VALUE, "NEW", "a new name" },
    { NULL, 0, NULL, NULL },
};
static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec addin_verbs[] = {
    { "new", "NAME --url URL", 1, 1, "Register an add-in.", NULL,
      "  pchatctl addin new Quotes --url https://quotes.example.com/pane", new_opts, addin_new, true },
    { "set", "NAME [--url URL] [--rename NEW]", 1, 1, "Change an add-in's URL or name.", NULL,
      "  pchatctl addin set Quotes --url https://quotes2.example.com/pane", set_opts, addin_set, true },
    { "get", "[NAME]", 0, 1, "List add-ins (and the rooms that show them), or show one.", NULL,
      "  pchatctl addin get", no_opts, addin_get, true },
    { "remove", "NAME", 1, 1, "Remove an add-in; rooms that showed it show none.", NULL,
      "  pchatctl addin remove Quotes", no_opts, addin_remove, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_addin = {
    "addin", "Add-ins: named http(s) pages a room shows in the client's extensibility pane.",
    "\nAttach one to a room with: pchatctl room set ROOM --addin NAME\n", addin_verbs,
};
