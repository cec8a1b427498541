/* cmd_policy.c — pchatctl policy set|grant|get: the EnablePersistentChat switch at global,
 * domain and user scope; the most specific row wins (Set-/Grant-/Get-CsPersistentChatPolicy). */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

static const char *const scope_names[3] = { "global", "domain", "user" };

/* --enable / --disable / --inherit: 1, 0, or -1 for inherit; -2 after a usage error. */
static int read_state(struct ctl *c, const struct args *a, bool inherit_allowed)
{
    int on = arg_flag(a, "--enable"), off = arg_flag(a, "--disable");
    int inherit = inherit_allowed && arg_flag(a, "--inherit");
    if (on + off + inherit != 1) {
        ctl_usage(c, "give exactly one of --enable, --disable%s", inherit_allowed ? " or --inherit" : "");
        return -2;
    }
    return on ? 1 : off ? 0 : -1;
}

/* Upsert (state 0/1) or delete (-1) one policy row, audit it and commit. */
static int write_policy(struct ctl *c, int kind, const char *scope, int state, const char *what,
                        const char *action)
{
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    char kind_text[12];
    snprintf(kind_text, sizeof kind_text, "%d", kind);
    long rows;
    if (state < 0) {
        const char *p[] = { kind_text, scope };
        rows = db_do(c, "DELETE FROM chat_policies WHERE scope_kind = $1 AND scope = $2", 2, p);
    } else {
        const char *p[] = { kind_text, scope, state ? "t" : "f" };
        rows = db_do(c, "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES ($1, $2, $3)"
                        " ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = EXCLUDED.enabled,"
                        "   updated_at = now()", 3, p);
    }
    if (rows < 0)
        return ctl_db_fail(c, "change the policy");
    struct jv *record = jv_obj();
    jv_set_str(record, "action", action);
    jv_set_str(record, "scope", scope_names[kind]);
    if (kind)
        jv_set_str(record, "name", scope);
    jv_set_str(record, "state", state < 0 ? "inherit" : state ? "enabled" : "disabled");
    int rc = db_finish_change(c, what, true, record);
    if (rc)
        return rc;
    const char *label = kind == 0 ? "the global policy" : kind == 1 ? "domain" : "user";
    if (state < 0)
        ctl_say(c, "%s %s %s", label, scope, rows ? "now inherits the policy" : "already inherited the policy");
    else
        ctl_say(c, "persistent chat %s for %s%s%s", state ? "enabled" : "disabled", label,
                kind ? " " : "", scope);
    return 0;
}

static int policy_set(struct ctl *c, const struct args *a)
{
    bool global = arg_flag(a, "--global");
    const char *domain_arg = arg_value(a, "--domain");
    if (global == (domain_arg != NULL))
        return ctl_usage(c, "give exactly one of --global or --domain DOMAIN");
    if (global && arg_flag(a, "--inherit"))
        return ctl_usage(c, "the global policy has nothing to inherit from: give --enable or --disable");
    int state = read_state(c, a, domain_arg != NULL);
    if (state == -2)
        return EXIT_USAGE;
    char domain[300] = "";
    if (domain_arg) {
        const char *why = parse_domain(domain_arg, domain, sizeof domain);
        if (why)
            return ctl_usage(c, "--domain \"%s\": %s", domain_arg, why);
    }
    return write_policy(c, global ? 0 : 1, domain, state, "POLICY_CHANGED", "policy set");
}

static int policy_grant(struct ctl *c, const struct args *a)
{
    char uri[300];
    const char *why = parse_user_uri(a->pos[0], uri, sizeof uri);
    if (why)
        return ctl_usage(c, "user \"%s\": %s", a->pos[0], why);
    int state = read_state(c, a, true);
    if (state == -2)
        return EXIT_USAGE;
    return write_policy(c, 2, uri, state, "POLICY_GRANTED", "policy grant");
}

static int policy_get(struct ctl *c, const struct args *a)
{
    const char *user_arg = arg_value(a, "--user");
    if (!user_arg) {
        PGresult *r = db_exec(c, "SELECT scope_kind, scope, enabled, " SQL_ISO("updated_at")
                                 "  FROM chat_policies ORDER BY scope_kind, scope", 0, NULL);
        if (!r)
            return ctl_db_fail(c, "read the policies");
        struct jv *list = jv_set(c->out, "policies", jv_arr());
        for (int i = 0; i < PQntuples(r); i++) {
            int kind = (int)cell_i64(r, i, 0);
            struct jv *o = jv_push(list, jv_obj());
            jv_set_str(o, "scope", scope_names[kind >= 0 && kind < 3 ? kind : 0]);
            jv_set_str(o, "name", cell(r, i, 1));
            jv_set_bool(o, "enabled", cell_bool(r, i, 2));
            jv_set_str(o, "updated", cell(r, i, 3));
        }
        PQclear(r);
        return 0;
    }
    char uri[300];
    const char *why = parse_user_uri(user_arg, uri, sizeof uri);
    if (why)
        return ctl_usage(c, "--user \"%s\": %s", user_arg, why);
    const char *p[] = { uri };
    /* the most specific row wins: user, then the user's domain, then global */
    PGresult *r = db_exec(c, "SELECT scope_kind, scope, enabled FROM chat_policies"
                             " WHERE (scope_kind = 2 AND scope = $1)"
                             "    OR (scope_kind = 1 AND scope = split_part($1, '@', 2))"
                             "    OR scope_kind = 0 ORDER BY scope_kind DESC LIMIT 1", 1, p);
    if (!r)
        return ctl_db_fail(c, "read the policies");
    struct jv *o = jv_set(c->out, "policy", jv_obj());
    jv_set_str(o, "user", uri);
    if (PQntuples(r) == 0) {
        jv_set_bool(o, "enabled", false);
        jv_set_str(o, "source", "default");
        jv_set_str(o, "scope", "none (no global row; the shipped default is disabled)");
    } else {
        int kind = (int)cell_i64(r, 0, 0);
        jv_set_bool(o, "enabled", cell_bool(r, 0, 2));
        jv_set_str(o, "source", scope_names[kind >= 0 && kind < 3 ? kind : 0]);
        char scope[320];
        snprintf(scope, sizeof scope, "%s%s", kind == 1 ? "domain:" : "", kind ? cell(r, 0, 1) : "global");
        jv_set_str(o, "scope", scope);
    }
    PQclear(r);
    return 0;
}

static const struct opt_spec set_opts[] = {
    { "--global", OPT_FLAG, NULL, "the global policy (applies where nothing more specific does)" },
    { "--domain", OPT_VALUE, "DOMAIN", "the policy of one SIP domain (a site of the original)" },
    { "--enable", OPT_FLAG, NULL, "persistent chat on" },
    { "--disable", OPT_FLAG, NULL, "persistent chat off" },
    { "--inherit", OPT_FLAG, NULL, "--domain only: remove the domain's row" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec grant_opts[] = {
    { "--enable", OPT_FLAG, NULL, "persistent chat on for this user" },
    { "--disable", OPT_FLAG, NULL, "persistent chat off for this user" },
    { "--inherit", OPT_FLAG, NULL, "remove the user's own row (domain or global applies)" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec get_opts[] = {
    { "--user", OPT_VALUE, "URI", "show this user's effective policy and where it comes from" },
    { NULL, 0, NULL, NULL },
};

static const struct verb_spec policy_verbs[] = {
    { "set", "--global|--domain DOMAIN --enable|--disable|--inherit", 0, 0,
      "Set the global or a domain's policy.",
      "\nThe shipped global policy is disabled, as in the original product.\n",
      "  pchatctl policy set --global --enable\n  pchatctl policy set --domain partner.example --disable",
      set_opts, policy_set, true },
    { "grant", "URI --enable|--disable|--inherit", 1, 1, "Give one user their own policy "
      "(Grant-CsPersistentChatPolicy).", NULL,
      "  pchatctl policy grant sip:alice@example.com --enable", grant_opts, policy_grant, true },
    { "get", "[--user URI]", 0, 0, "List every policy row, or show a user's effective policy.", NULL,
      "  pchatctl policy get\n  pchatctl policy get --user sip:alice@example.com", get_opts,
      policy_get, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_policy = {
    "policy", "Who may use persistent chat at all: global, domain and user policies.",
    "\nThe most specific row wins: a user's own row, else their domain's, else the global one.\n",
    policy_verbs,
};
