/* cmd_room.c — pchatctl room new|set (New-/Set-CsPersistentChatRoom): room properties, moves
 * between categories, and role grants checked against the category's scope; plus the room
 * noun's command table. */
#include "room.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Property options shared by new and set, read and checked before any transaction. */
struct room_props {
    const char *description, *topic, *category, *addin;
    const char *privacy, *type, *invitations, *disabled;   /* numbers / "t"/"f" as text */
    char privacy_text[12], type_text[12], invitations_text[12];
    bool no_addin;
};

static int read_props(struct ctl *c, const struct args *a, struct room_props *p)
{
    memset(p, 0, sizeof *p);
    const char *why;
    p->description = arg_value(a, "--description");
    p->topic = arg_value(a, "--topic");
    p->category = arg_value(a, "--category");
    p->addin = arg_value(a, "--addin");
    p->no_addin = arg_flag(a, "--no-addin");
    if (p->description && (why = check_text(p->description)))
        return ctl_usage(c, "--description: %s", why);
    if (p->topic && (why = check_text(p->topic)))
        return ctl_usage(c, "--topic: %s", why);
    if (p->addin && p->no_addin)
        return ctl_usage(c, "--addin and --no-addin contradict each other");
    const char *v;
    if ((v = arg_value(a, "--privacy"))) {
        int i = parse_word(v, privacy_names, 3);
        if (i < 0)
            return ctl_usage(c, "--privacy takes open, closed or secret (got \"%s\")", v);
        snprintf(p->privacy_text, sizeof p->privacy_text, "%d", i);
        p->privacy = p->privacy_text;
    }
    if ((v = arg_value(a, "--type"))) {
        int i = parse_word(v, type_names, 2);
        if (i < 0)
            return ctl_usage(c, "--type takes normal or auditorium (got \"%s\")", v);
        snprintf(p->type_text, sizeof p->type_text, "%d", i);
        p->type = p->type_text;
    }
    if ((v = arg_value(a, "--invitations"))) {
        int i = parse_word(v, room_invitation_names, 2);
        if (i < 0)
            return ctl_usage(c, "--invitations takes inherit or off (got \"%s\"); a room cannot "
                                "turn invitations on when its category has them off", v);
        snprintf(p->invitations_text, sizeof p->invitations_text, "%d", i);
        p->invitations = p->invitations_text;
    }
    bool dis = arg_flag(a, "--disabled"), en = arg_flag(a, "--enabled");
    if (dis && en)
        return ctl_usage(c, "--disabled and --enabled contradict each other");
    p->disabled = dis ? "t" : en ? "f" : NULL;
    return 0;
}

static void props_to_json(const struct room_props *p, struct jv *o)
{
    if (p->description)
        jv_set_str(o, "description", p->description);
    if (p->topic)
        jv_set_str(o, "topic", p->topic);
    if (p->category)
        jv_set_str(o, "category", p->category);
    if (p->privacy)
        jv_set_str(o, "privacy", privacy_names[atoi(p->privacy)]);
    if (p->type)
        jv_set_str(o, "type", type_names[atoi(p->type)]);
    if (p->invitations)
        jv_set_str(o, "invitations", room_invitation_names[atoi(p->invitations)]);
    if (p->addin)
        jv_set_str(o, "addin", p->addin);
    if (p->no_addin)
        jv_set(o, "addin", jv_null());
    if (p->disabled)
        jv_set_bool(o, "disabled", p->disabled[0] == 't');
}

int room_audit(struct ctl *c, const char *what, const struct room_ref *room, struct jv *content)
{
    if (db_audit(c, what, room->uri, room->name, content) < 0)
        return ctl_db_fail(c, "record the change in the compliance outbox");
    return 0;
}

/* --- room new ------------------------------------------------------------------------------- */

static int room_new(struct ctl *c, const struct args *a)
{
    const char *name = a->pos[0];
    const char *why = check_name(name);
    if (why)
        return ctl_usage(c, "room name \"%s\": %s", name, why);
    struct room_props p;
    int rc = read_props(c, a, &p);
    if (rc)
        return rc;
    if (!p.category)
        return ctl_usage(c, "--category is required: every room belongs to a category "
                            "(list them with: pchatctl category get)");

    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    int64_t cat_id, addin_id = 0;
    char cat_name[CTL_MAX_NAME + 1], id_text[24], addin_text[24] = "";
    if ((rc = lookup_category(c, p.category, true, &cat_id, cat_name, sizeof cat_name)) != 0)
        return rc;
    if (p.addin && (rc = lookup_addin(c, p.addin, &addin_id, NULL, 0)) != 0)
        return rc;
    snprintf(id_text, sizeof id_text, "%" PRId64, cat_id);
    if (addin_id)
        snprintf(addin_text, sizeof addin_text, "%" PRId64, addin_id);
    const char *params[] = { name, p.description ? p.description : "", p.topic ? p.topic : "",
                             id_text, p.privacy ? p.privacy : "1", p.type ? p.type : "0",
                             p.invitations ? p.invitations : "0", addin_id ? addin_text : NULL,
                             p.disabled ? p.disabled : "f" };
    PGresult *r = db_exec(c, "INSERT INTO rooms (name, description, topic, category_id, privacy,"
                             " type, invitations, addin_id, disabled)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, guid", 9, params);
    if (!r && db_unique_violation(c))
        return ctl_fail(c, EXIT_REFUSED, "a room named \"%s\" already exists (room names are unique "
                        "in the pool, whatever their case); see it with: pchatctl room get \"%s\"",
                        name, name);
    if (!r)
        return ctl_db_fail(c, "create the room");
    struct room_ref room;
    memset(&room, 0, sizeof room);
    room.id = cell_i64(r, 0, 0);
    snprintf(room.name, sizeof room.name, "%s", name);
    snprintf(room.guid, sizeof room.guid, "%s", cell(r, 0, 1));
    room_uri(c, room.guid, room.uri, sizeof room.uri);
    PQclear(r);

    struct jv *changes = jv_obj();
    jv_set_str(changes, "action", "room new");
    jv_set_str(changes, "room", name);
    jv_set_str(changes, "uri", room.uri);
    p.category = cat_name;
    props_to_json(&p, changes);
    if ((rc = room_audit(c, "ROOM_CREATED", &room, changes)) == 0)
        rc = db_commit(c);
    if (rc) {
        jv_free(changes);
        return rc;
    }
    jv_set(c->out, "result", changes);
    struct jv *detail = room_detail(c, room.id);
    if (detail)
        jv_set(c->out, "room", detail);
    ctl_say(c, "created room \"%s\" (%s) in category \"%s\"", name, room.uri, cat_name);
    return 0;
}

/* --- room set ------------------------------------------------------------------------------- */

static const char *const role_opts[3][2] = {
    { "--add-member", "--remove-member" },
    { "--add-manager", "--remove-manager" },
    { "--add-presenter", "--remove-presenter" },
};

static int check_role_uris(struct ctl *c, const struct args *a)
{
    for (int role = 0; role < 3; role++)
        for (int k = 0; k < 2; k++) {
            const char *vals[CTL_MAX_ARGS];
            int n = arg_list(a, role_opts[role][k], vals, CTL_MAX_ARGS);
            for (int i = 0; i < n; i++) {
                char uri[300];
                const char *why = parse_user_uri(vals[i], uri, sizeof uri);
                if (why)
                    return ctl_usage(c, "%s \"%s\": %s", role_opts[role][k], vals[i], why);
            }
        }
    return 0;
}

static void list_append(struct sbuf *list, const char *uri)
{
    if (list->len)
        sbuf_putc(list, ',');
    sbuf_puts(list, uri);
}

struct grant_state {
    struct sbuf evict;        /* users whose role was taken: they leave the room's live audience */
    struct jv *changes;
    bool roles_changed;
};

/* Grants the new category does not allow are dropped when a room moves. */
static int drop_out_of_scope(struct ctl *c, const struct room_ref *room, struct grant_state *g)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room->id);
    const char *p[] = { id };
    PGresult *r = db_exec(c, "DELETE FROM room_roles g USING rooms r, users u"
                             " WHERE g.room_id = $1 AND r.id = g.room_id AND u.id = g.user_id"
                             "   AND NOT pchat_in_scope(r.category_id, u.uri)"
                             " RETURNING u.uri, g.role", 1, p);
    if (!r)
        return ctl_db_fail(c, "drop the grants the new category does not allow");
    if (PQntuples(r) > 0) {
        struct jv *dropped = jv_set(g->changes, "dropped", jv_arr());
        for (int i = 0; i < PQntuples(r); i++) {
            struct jv *o = jv_push(dropped, jv_obj());
            int role = (int)cell_i64(r, i, 1);
            jv_set_str(o, "user", cell(r, i, 0));
            jv_set_str(o, "role", role_names[role]);
            list_append(&g->evict, cell(r, i, 0));
            ctl_say(c, "dropped: %s was a %s, but category \"%s\" does not allow them",
                    cell(r, i, 0), role_names[role], room->category);
        }
        g->roles_changed = true;
    }
    PQclear(r);
    return 0;
}

static int remove_grants(struct ctl *c, const struct args *a, const struct room_ref *room,
                         struct grant_state *g)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room->id);
    for (int role = 0; role < 3; role++) {
        const char *vals[CTL_MAX_ARGS];
        int n = arg_list(a, role_opts[role][1], vals, CTL_MAX_ARGS);
        if (n == 0)
            continue;
        char key[48];
        struct jv *done = jv_set(g->changes, opt_key(role_opts[role][1], key, sizeof key), jv_arr());
        for (int i = 0; i < n; i++) {
            char uri[300], role_text[12];
            parse_user_uri(vals[i], uri, sizeof uri);
            snprintf(role_text, sizeof role_text, "%d", role);
            const char *p[] = { id, uri, role_text };
            long rows = db_do(c, "DELETE FROM room_roles g USING users u"
                                 " WHERE g.room_id = $1 AND u.id = g.user_id"
                                 "   AND lower(u.uri) = $2 AND g.role = $3", 3, p);
            if (rows < 0)
                return ctl_db_fail(c, "remove the role");
            if (rows == 0)
                return ctl_fail(c, EXIT_NOT_FOUND, "%s is not a %s of room \"%s\"; see its roles "
                                "with: pchatctl room get \"%s\"", uri, role_names[role], room->name,
                                room->name);
            jv_push(done, jv_str(uri));
            list_append(&g->evict, uri);
            g->roles_changed = true;
        }
    }
    return 0;
}

static int add_grants(struct ctl *c, const struct args *a, const struct room_ref *room,
                      bool invitations_on, struct grant_state *g)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room->id);
    struct jv *invited = NULL;
    for (int role = 0; role < 3; role++) {
        const char *vals[CTL_MAX_ARGS];
        int n = arg_list(a, role_opts[role][0], vals, CTL_MAX_ARGS);
        if (n == 0)
            continue;
        char key[48];
        struct jv *done = jv_set(g->changes, opt_key(role_opts[role][0], key, sizeof key), jv_arr());
        for (int i = 0; i < n; i++) {
            char uri[300], why[1024], role_text[12], user_text[24];
            parse_user_uri(vals[i], uri, sizeof uri);
            int ok = principal_scope_check(c, room->category_id, room->category, uri, why, sizeof why);
            if (ok < 0)
                return ctl_db_fail(c, "check the category's scope");
            if (ok == 0)
                return ctl_fail(c, EXIT_REFUSED, "cannot make %s a %s of room \"%s\": %s", uri,
                                role_names[role], room->name, why);
            int64_t user = db_user_id(c, uri);
            if (user < 0)
                return ctl_db_fail(c, "add the user");
            snprintf(user_text, sizeof user_text, "%" PRId64, user);
            snprintf(role_text, sizeof role_text, "%d", role);
            const char *p[] = { id, user_text, role_text };
            long rows = db_do(c, "INSERT INTO room_roles (room_id, user_id, role) VALUES ($1, $2, $3)"
                                 " ON CONFLICT DO NOTHING", 3, p);
            if (rows < 0)
                return ctl_db_fail(c, "grant the role");
            if (rows == 0) {
                ctl_verbose(c, "%s already was a %s of room \"%s\"", uri, role_names[role], room->name);
                continue;
            }
            jv_push(done, jv_str(uri));
            g->roles_changed = true;
            if (role != 0 || !invitations_on)
                continue;
            /* a new member of a room with invitations on learns of it from the client */
            const char *pi[] = { id, user_text, c->operator_uri };
            if (db_do(c, "INSERT INTO invitations (room_id, user_id, invited_by) VALUES ($1, $2, $3)"
                         " ON CONFLICT (room_id, user_id) DO UPDATE SET invited_by = EXCLUDED.invited_by,"
                         "   created_at = now(), seen_at = NULL", 3, pi) < 0)
                return ctl_db_fail(c, "invite the new member");
            if (!invited)
                invited = jv_set(g->changes, "invited", jv_arr());
            jv_push(invited, jv_str(uri));
        }
    }
    return 0;
}

static bool has_props(const struct room_props *p, const char *new_name)
{
    return new_name || p->description || p->topic || p->category || p->addin || p->no_addin ||
           p->privacy || p->type || p->invitations || p->disabled;
}

static int room_set(struct ctl *c, const struct args *a)
{
    struct room_props p;
    int rc = read_props(c, a, &p);
    if (rc)
        return rc;
    const char *new_name = arg_value(a, "--name");
    const char *why;
    if (new_name && (why = check_name(new_name)))
        return ctl_usage(c, "--name \"%s\": %s", new_name, why);
    if ((rc = check_role_uris(c, a)) != 0)
        return rc;
    if (a->n_occ == 0)
        return ctl_usage(c, "nothing to change: give at least one option");

    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    if ((rc = lookup_room(c, a->pos[0], true, &room)) != 0)
        return rc;
    int64_t cat_id = 0, addin_id = 0;
    char cat_name[CTL_MAX_NAME + 1] = "";
    if (p.category && (rc = lookup_category(c, p.category, true, &cat_id, cat_name, sizeof cat_name)) != 0)
        return rc;
    if (p.addin && (rc = lookup_addin(c, p.addin, &addin_id, NULL, 0)) != 0)
        return rc;
    bool moving = cat_id && cat_id != room.category_id;
    bool disabling = p.disabled && p.disabled[0] == 't' && !room.disabled;

    char id[24], cat_text[24] = "", addin_text[24] = "";
    snprintf(id, sizeof id, "%" PRId64, room.id);
    if (cat_id)
        snprintf(cat_text, sizeof cat_text, "%" PRId64, cat_id);
    if (addin_id)
        snprintf(addin_text, sizeof addin_text, "%" PRId64, addin_id);
    const char *params[] = { id, new_name, p.description, p.topic, cat_id ? cat_text : NULL,
                             p.privacy, p.type, p.invitations, p.no_addin ? "t" : "f",
                             addin_id ? addin_text : NULL, p.disabled };
    PGresult *r = db_exec(c, "UPDATE rooms r SET name = coalesce($2, r.name),"
                             " description = coalesce($3, r.description), topic = coalesce($4, r.topic),"
                             " category_id = coalesce($5::bigint, r.category_id),"
                             " privacy = coalesce($6::smallint, r.privacy), type = coalesce($7::smallint, r.type),"
                             " invitations = coalesce($8::smallint, r.invitations),"
                             " addin_id = CASE WHEN $9::boolean THEN NULL ELSE coalesce($10::bigint, r.addin_id) END,"
                             " disabled = coalesce($11::boolean, r.disabled)"
                             " FROM categories c WHERE r.id = $1 AND c.id = coalesce($5::bigint, r.category_id)"
                             " RETURNING r.privacy, r.disabled, c.invitations AND r.invitations = 0", 11, params);
    if (!r && db_unique_violation(c))
        return ctl_fail(c, EXIT_REFUSED, "a room named \"%s\" already exists (room names are unique "
                        "in the pool, whatever their case); choose another --name", new_name);
    if (!r)
        return ctl_db_fail(c, "change the room");
    int privacy = (int)cell_i64(r, 0, 0);
    bool invitations_on = cell_bool(r, 0, 2);
    PQclear(r);
    char old_name[sizeof room.name];
    snprintf(old_name, sizeof old_name, "%s", room.name);
    if (new_name)
        snprintf(room.name, sizeof room.name, "%s", new_name);
    if (moving) {
        room.category_id = cat_id;
        snprintf(room.category, sizeof room.category, "%s", cat_name);
    }

    struct grant_state g;
    memset(&g, 0, sizeof g);
    sbuf_init(&g.evict, 1u << 24);
    g.changes = jv_obj();
    jv_set_str(g.changes, "action", "room set");
    jv_set_str(g.changes, "room", old_name);
    jv_set_str(g.changes, "uri", room.uri);
    if (new_name)
        jv_set_str(g.changes, "name", new_name);
    if (p.category)
        p.category = cat_name;
    props_to_json(&p, g.changes);

    if (moving)
        rc = drop_out_of_scope(c, &room, &g);
    if (!rc)
        rc = remove_grants(c, a, &room, &g);
    if (!rc)
        rc = add_grants(c, a, &room, invitations_on, &g);
    if (!rc) {
        /* removed roles take those users out of a closed or secret room; dropped grants,
           a narrower privacy and disabling take out whoever may no longer be there */
        const char *extra = NULL;
        if (g.evict.len && (privacy > 0 || moving))
            extra = g.evict.data;
        else if (disabling)
            extra = "";
        if (live_recheck(c, "r.id = $1::bigint", id, room.id, extra) < 0)
            rc = ctl_db_fail(c, "take the users who lost access out of the room");
    }
    if (!rc && has_props(&p, new_name))
        rc = room_audit(c, disabling ? "ROOM_DISABLED" : "ROOM_CHANGED", &room, g.changes);
    if (!rc && g.roles_changed)
        rc = room_audit(c, "MEMBERSHIP_CHANGED", &room, g.changes);
    if (!rc)
        rc = db_commit(c);
    sbuf_free(&g.evict);
    if (rc) {
        jv_free(g.changes);
        return rc;
    }
    jv_set(c->out, "result", g.changes);
    struct jv *detail = room_detail(c, room.id);
    if (detail)
        jv_set(c->out, "room", detail);
    ctl_say(c, "changed room \"%s\"%s%s%s", old_name, new_name ? " (now \"" : "",
            new_name ? new_name : "", new_name ? "\")" : "");
    struct jv *invited = jv_get(g.changes, "invited");
    if (invited && invited->n)
        ctl_say(c, "invited %d new member%s (their clients show the room)", invited->n,
                invited->n == 1 ? "" : "s");
    return 0;
}

/* --- command table -------------------------------------------------------------------------- */

#define ROOM_PROP_OPTS                                                                           \
    { "--description", OPT_VALUE, "TEXT", "what the room is for" },                              \
    { "--topic", OPT_VALUE, "TEXT", "the room's topic" },                                        \
    { "--privacy", OPT_VALUE, "open|closed|secret", "open: anyone in scope joins; closed: "      \
      "anyone in scope finds it, members join (new: closed); secret: only members find it" },    \
    { "--type", OPT_VALUE, "normal|auditorium", "auditorium: only presenters post (new: normal)" }, \
    { "--invitations", OPT_VALUE, "inherit|off", "invite new members when the category does "    \
      "(new: inherit)" },                                                                        \
    { "--addin", OPT_VALUE, "NAME", "attach a registered add-in (pchatctl addin get)" },          \
    { "--disabled", OPT_FLAG, NULL, "disable the room: members are taken out, content kept" }

#define ROLE_OPTS                                                                                \
    { "--add-member", OPT_LIST, "URI", "grant membership (sip:alice@example.com)" },             \
    { "--remove-member", OPT_LIST, "URI", "take membership away" },                              \
    { "--add-manager", OPT_LIST, "URI", "grant the manager role" },                              \
    { "--remove-manager", OPT_LIST, "URI", "take the manager role away" },                       \
    { "--add-presenter", OPT_LIST, "URI", "grant the presenter role (auditoriums)" },             \
    { "--remove-presenter", OPT_LIST, "URI", "take the presenter role away" }

static const struct opt_spec new_opts[] = {
    { "--category", OPT_VALUE, "CATEGORY", "the category the room belongs to (required)" },
    ROOM_PROP_OPTS,
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec set_opts[] = {
    { "--name", OPT_VALUE, "NEW", "rename the room" },
    { "--category", OPT_VALUE, "CATEGORY", "move the room; grants the new category does not "
                                           "allow are dropped (and listed)" },
    ROOM_PROP_OPTS,
    { "--enabled", OPT_FLAG, NULL, "enable a disabled room" },
    { "--no-addin", OPT_FLAG, NULL, "detach the room's add-in" },
    ROLE_OPTS,
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec get_opts[] = {
    { "--category", OPT_VALUE, "CATEGORY", "only rooms of this category" },
    { "--member", OPT_VALUE, "URI", "only rooms this user is a member of" },
    { "--manager", OPT_VALUE, "URI", "only rooms this user manages" },
    { "--presenter", OPT_VALUE, "URI", "only rooms this user presents in" },
    { "--privacy", OPT_VALUE, "open|closed|secret", "only rooms of this privacy" },
    { "--type", OPT_VALUE, "normal|auditorium", "only rooms of this type" },
    { "--addin", OPT_VALUE, "NAME", "only rooms with this add-in" },
    { "--disabled", OPT_FLAG, NULL, "only disabled rooms" },
    { "--enabled", OPT_FLAG, NULL, "only enabled rooms" },
    { "--name-like", OPT_VALUE, "PATTERN", "name contains PATTERN (case-insensitive; * matches "
                                           "anything)" },
    { "--limit", OPT_VALUE, "N", "at most N rooms (1-100000, default 1000)" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec clear_opts[] = {
    { "--before", OPT_VALUE, "DATE", "delete the posts older than DATE (required; YYYY-MM-DD or "
                                     "YYYY-MM-DDTHH:MM:SS, UTC unless an offset is given)" },
    { NULL, 0, NULL, NULL },
};

static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec room_verbs[] = {
    { "new", "NAME --category CATEGORY [OPTIONS]", 1, 1,
      "Create a room (New-CsPersistentChatRoom); it starts with no members.",
      "\nRoles are granted with pchatctl room set NAME --add-member URI ...\n",
      "  pchatctl room new \"Equity desk\" --category Trading --privacy closed \\\n"
      "      --description \"Equity traders only\"",
      new_opts, room_new, true },
    { "set", "NAME [OPTIONS]", 1, 1, "Change a room, move it, or grant and take roles "
      "(Set-CsPersistentChatRoom).",
      "\nNAME may also be the room's ma-chan:// URI or GUID. A user may hold a role only if the\n"
      "room's category allows them (exit 4 names the rule otherwise). A new member of a room\n"
      "whose invitations are on is invited. Users whose role is taken from a closed or secret\n"
      "room, and everyone when the room is disabled, leave the room at once.\n",
      "  pchatctl room set \"Equity desk\" --add-member sip:alice@example.com \\\n"
      "      --add-manager sip:lead@example.com --remove-member sip:bob@example.com",
      set_opts, room_set, true },
    { "get", "[NAME] [FILTERS]", 0, 1, "Show one room in detail, or list rooms "
      "(Get-CsPersistentChatRoom).", NULL,
      "  pchatctl room get \"Equity desk\"\n"
      "  pchatctl room get --category Trading --privacy secret --limit 50\n"
      "  pchatctl --json room get --member sip:alice@example.com",
      get_opts, room_get, true },
    { "remove", "NAME", 1, 1, "Delete a room and everything in it (Remove-CsPersistentChatRoom).",
      "\nIts posts, roles, invitations and followers go with it; whoever is in it leaves at once.\n",
      "  pchatctl room remove \"Old project\"", no_opts, room_remove, true },
    { "disable", "NAME", 1, 1, "Disable a room: everyone in it leaves at once; content is kept.",
      NULL, "  pchatctl room disable \"Equity desk\"", no_opts, room_disable, true },
    { "enable", "NAME", 1, 1, "Enable a disabled room again.", NULL,
      "  pchatctl room enable \"Equity desk\"", no_opts, room_enable, true },
    { "clear", "NAME --before DATE", 1, 1, "Delete a room's posts older than DATE "
      "(Clear-CsPersistentChatRoom).", NULL,
      "  pchatctl room clear \"Equity desk\" --before 2024-01-01", clear_opts, room_clear, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_room = {
    "room", "Chat rooms: properties, category, roles (member, manager, presenter), content.",
    "\nRooms are named by name (case-insensitive), ma-chan://DOMAIN/GUID or GUID.\n",
    room_verbs,
};
