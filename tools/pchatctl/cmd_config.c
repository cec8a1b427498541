/* cmd_config.c — pchatctl config get|set: the server options in server_options
 * (Set-CsPersistentChatConfiguration); a value not in the store comes from the config file. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

struct option_def {
    const char *name;
    bool is_url;
    long long lo, hi;
    const char *help;
};

static const struct option_def options[] = {
    { "history_on_join", false, 1, 500, "posts a client gets when it opens a room (DefaultChatHistory)" },
    { "participant_update_limit", false, 0, 100000, "above this many people in a room, no roster "
                                                    "updates are sent" },
    { "max_message_bytes", false, 16, 1048576, "largest post accepted (MessageSizeLimit)" },
    { "search_limit", false, 1, 10000, "most results of one history search (SearchLimit)" },
    { "max_file_kb", false, 1, 2097152, "largest file upload or download, KB (MaxFileSizeKB)" },
    { "room_management_url", true, 0, 0, "page where users create and manage rooms "
                                         "(RoomManagementUrl; empty: none)" },
};

/* The value an option has when the store holds none, and where it comes from. */
static void fallback(const struct ctl *c, const struct option_def *o, char *out, size_t outlen,
                     const char **source)
{
    *source = "config";
    if (strcmp(o->name, "history_on_join") == 0)
        snprintf(out, outlen, "%d", c->cfg.chat.history_on_join);
    else if (strcmp(o->name, "participant_update_limit") == 0)
        snprintf(out, outlen, "%d", c->cfg.chat.participant_update_limit);
    else if (strcmp(o->name, "max_message_bytes") == 0)
        snprintf(out, outlen, "%d", c->cfg.chat.max_message_bytes);
    else if (strcmp(o->name, "search_limit") == 0)
        snprintf(out, outlen, "%d", c->cfg.chat.search_limit);
    else {
        *source = "default";
        snprintf(out, outlen, "%s", strcmp(o->name, "max_file_kb") == 0 ? "20000" : "");
    }
}

static const struct option_def *find_option(const char *name)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static int unknown_option(struct ctl *c, const char *name)
{
    return ctl_fail(c, EXIT_NOT_FOUND, "server option \"%s\" does not exist; list them with: "
                    "pchatctl config get", name);
}

static struct jv *option_row(const struct ctl *c, const struct option_def *o, PGresult *r)
{
    const char *stored = NULL;
    for (int i = 0; r && i < PQntuples(r); i++)
        if (strcmp(cell(r, i, 0), o->name) == 0)
            stored = cell(r, i, 1);
    char value[2100], range[64];
    const char *source = "store";
    if (stored)
        snprintf(value, sizeof value, "%s", stored);
    else
        fallback(c, o, value, sizeof value, &source);
    if (o->is_url)
        snprintf(range, sizeof range, "http(s) URL or empty");
    else
        snprintf(range, sizeof range, "%lld-%lld", o->lo, o->hi);
    struct jv *row = jv_obj();
    jv_set_str(row, "name", o->name);
    long long n;
    if (!o->is_url && parse_int(value, -1000000000LL, 1000000000LL, &n))
        jv_set_int(row, "value", n);
    else
        jv_set_str(row, "value", value);
    jv_set_str(row, "source", source);
    jv_set_str(row, "range", range);
    jv_set_str(row, "meaning", o->help);
    return row;
}

static int option_get(struct ctl *c, const struct args *a)
{
    const char *name = a->n_pos ? a->pos[0] : NULL;
    const struct option_def *only = NULL;
    if (name && !(only = find_option(name)))
        return unknown_option(c, name);
    PGresult *r = db_exec(c, "SELECT name, value FROM server_options ORDER BY name", 0, NULL);
    if (!r)
        return ctl_db_fail(c, "read the server options");
    if (only) {
        jv_set(c->out, "option", option_row(c, only, r));
    } else {
        struct jv *list = jv_set(c->out, "options", jv_arr());
        for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
            jv_push(list, option_row(c, &options[i], r));
    }
    PQclear(r);
    return 0;
}

static int option_set(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0];
    const char *value = a->n_pos > 1 ? a->pos[1] : NULL;
    bool reset = arg_flag(a, "--reset");
    if (reset == (value != NULL))
        return ctl_usage(c, "give either a VALUE or --reset");
    const struct option_def *o = find_option(name);
    if (!o)
        return unknown_option(c, name);
    char normal[32];
    if (value && o->is_url) {
        const char *why = *value ? check_url(value) : NULL;
        if (why)
            return ctl_usage(c, "%s \"%s\": %s", name, value, why);
    } else if (value) {
        long long n;
        if (!parse_int(value, o->lo, o->hi, &n))
            return ctl_usage(c, "%s must be a whole number from %lld to %lld (got \"%s\")", name,
                             o->lo, o->hi, value);
        snprintf(normal, sizeof normal, "%lld", n);
        value = normal;
    }
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    const char *p[] = { name, value };
    long rows = reset ? db_do(c, "DELETE FROM server_options WHERE name = $1", 1, p)
                      : db_do(c, "INSERT INTO server_options (name, value) VALUES ($1, $2)"
                                 " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", 2, p);
    if (rows < 0)
        return ctl_db_fail(c, "change the server option");
    struct jv *record = jv_obj();
    jv_set_str(record, "action", "config set");
    jv_set_str(record, "name", name);
    if (reset)
        jv_set_bool(record, "reset", true);
    else
        jv_set_str(record, "value", value);
    int rc = db_finish_change(c, "OPTION_CHANGED", true, record);
    if (rc)
        return rc;
    if (reset) {
        char fb[2100];
        const char *source;
        fallback(c, o, fb, sizeof fb, &source);
        ctl_say(c, "%s now comes from the %s: %s", name,
                strcmp(source, "config") == 0 ? "config file" : "built-in default", *fb ? fb : "(empty)");
    } else {
        ctl_say(c, "%s = %s", name, *value ? value : "(empty)");
    }
    return 0;
}

static const struct opt_spec set_opts[] = {
    { "--reset", OPT_FLAG, NULL, "remove the stored value: the config file's (or built-in) applies" },
    { NULL, 0, NULL, NULL },
};
static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec config_verbs[] = {
    { "get", "[NAME]", 0, 1, "Show every server option (or one): value, source, range.",
      "\nsource is \"store\" (set with pchatctl config set), \"config\" (chat.* in the config file)\n"
      "or \"default\" (built in).\n",
      "  pchatctl config get\n  pchatctl --json config get history_on_join", no_opts, option_get, true },
    { "set", "NAME VALUE | NAME --reset", 1, 2, "Store a server option, checked against its range.",
      "\noptions: history_on_join (1-500), participant_update_limit (0-100000),\n"
      "max_message_bytes (16-1048576), search_limit (1-10000), max_file_kb (1-2097152),\n"
      "room_management_url (http/https URL, or \"\" for none).\n",
      "  pchatctl config set history_on_join 50\n  pchatctl config set max_file_kb --reset",
      set_opts, option_set, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_config = {
    "config", "Server options of the pool (chat history on join, limits, room management URL).",
    NULL, config_verbs,
};
