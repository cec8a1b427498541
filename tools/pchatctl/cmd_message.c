/* cmd_message.c — pchatctl message remove|replace (Remove-CsPersistentChatMessage): delete
 * posts, or replace their text, filtered by author, keywords and time. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char DEFAULT_TEXT[] = "This message was replaced by the Persistent Chat administrator.";
static const char *const match_names[3] = { "all", "any", "exact" };

/* A PostgreSQL array literal of the keywords: data passed as one parameter, never SQL. */
static void keyword_array(const char *const *words, int n, struct sbuf *out)
{
    sbuf_putc(out, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            sbuf_putc(out, ',');
        sbuf_putc(out, '"');
        for (const char *p = words[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                sbuf_putc(out, '\\');
            sbuf_putc(out, *p);
        }
        sbuf_putc(out, '"');
    }
    sbuf_putc(out, '}');
}

/* Selects the posts the filters match, locked; the statements below act on them. */
#define TARGET_CTE                                                                               \
    "WITH target AS (SELECT m.id FROM messages m JOIN users u ON u.id = m.author_id"             \
    " WHERE m.room_id = $1"                                                                      \
    "   AND ($2::text IS NULL OR lower(u.uri) = $2)"                                             \
    "   AND ($3::timestamptz IS NULL OR m.created_at >= $3)"                                     \
    "   AND ($4::timestamptz IS NULL OR m.created_at <= $4)"                                     \
    "   AND ($5::text[] IS NULL OR CASE $6"                                                      \
    "        WHEN 'all' THEN NOT EXISTS (SELECT 1 FROM unnest($5::text[]) k WHERE strpos("       \
    "             CASE WHEN $7::boolean THEN m.body ELSE lower(m.body) END,"                     \
    "             CASE WHEN $7::boolean THEN k ELSE lower(k) END) = 0)"                          \
    "        WHEN 'any' THEN EXISTS (SELECT 1 FROM unnest($5::text[]) k WHERE strpos("           \
    "             CASE WHEN $7::boolean THEN m.body ELSE lower(m.body) END,"                     \
    "             CASE WHEN $7::boolean THEN k ELSE lower(k) END) > 0)"                          \
    "        ELSE EXISTS (SELECT 1 FROM unnest($5::text[]) k WHERE"                              \
    "             CASE WHEN $7::boolean THEN m.body = k ELSE lower(m.body) = lower(k) END) END)" \
    " FOR UPDATE OF m) "

static int message_change(struct ctl *c, const struct args *a, bool replace)
{
    const char *room_name = arg_value(a, "--room");
    if (!room_name)
        return ctl_usage(c, "--room NAME is required: messages are removed from one room at a time");
    char user[300] = "", from[64] = "", to[64] = "";
    const char *v, *why;
    if ((v = arg_value(a, "--user")) && (why = parse_user_uri(v, user, sizeof user)))
        return ctl_usage(c, "--user \"%s\": %s", v, why);
    if ((v = arg_value(a, "--from")) && (why = parse_date(v, from, sizeof from)))
        return ctl_usage(c, "--from \"%s\": %s", v, why);
    if ((v = arg_value(a, "--to")) && (why = parse_date(v, to, sizeof to)))
        return ctl_usage(c, "--to \"%s\": %s", v, why);
    const char *words[CTL_MAX_ARGS];
    int n_words = arg_list(a, "--keyword", words, CTL_MAX_ARGS);
    for (int i = 0; i < n_words; i++)
        if (!*words[i] || check_text(words[i]))
            return ctl_usage(c, "--keyword \"%s\": a keyword is 1-4096 bytes of text", words[i]);
    int match = 0;
    if ((v = arg_value(a, "--match"))) {
        if ((match = parse_word(v, match_names, 3)) < 0)
            return ctl_usage(c, "--match takes all, any or exact (got \"%s\")", v);
        if (!n_words)
            return ctl_usage(c, "--match needs at least one --keyword");
    }
    bool case_sensitive = arg_flag(a, "--case-sensitive");
    if (case_sensitive && !n_words)
        return ctl_usage(c, "--case-sensitive needs at least one --keyword");
    const char *text = replace ? arg_value(a, "--text") : NULL;
    if (text && (why = check_text(text)))
        return ctl_usage(c, "--text: %s", why);
    if (text && !*text)
        return ctl_usage(c, "--text cannot be empty (use message remove to delete posts)");
    if (replace && !text)
        text = DEFAULT_TEXT;

    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    struct room_ref room;
    int rc = lookup_room(c, room_name, true, &room);
    if (rc)
        return rc;
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, room.id);
    struct sbuf kw;
    sbuf_init(&kw, 1u << 20);
    keyword_array(words, n_words, &kw);
    const char *p[] = { id, user[0] ? user : NULL, from[0] ? from : NULL, to[0] ? to : NULL,
                        n_words ? kw.data : NULL, match_names[match], case_sensitive ? "t" : "f", text };
    PGresult *r = replace
        ? db_exec(c, TARGET_CTE "UPDATE messages SET body = $8 WHERE id IN (SELECT id FROM target)"
                                " RETURNING id", 8, p)
        : db_exec(c, TARGET_CTE "DELETE FROM messages WHERE id IN (SELECT id FROM target)"
                                " RETURNING id", 7, p);
    sbuf_free(&kw);
    if (!r)
        return ctl_db_fail(c, replace ? "replace the messages" : "remove the messages");
    int n = PQntuples(r);
    struct sbuf ids;
    sbuf_init(&ids, 1u << 26);
    sbuf_putc(&ids, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            sbuf_putc(&ids, ',');
        sbuf_puts(&ids, PQgetvalue(r, i, 0));
    }
    sbuf_putc(&ids, '}');
    PQclear(r);

    struct jv *record = jv_obj();
    jv_set_str(record, "action", replace ? "message replace" : "message remove");
    jv_set_str(record, "room", room.name);
    jv_set_str(record, "uri", room.uri);
    if (user[0])
        jv_set_str(record, "user", user);
    if (n_words) {
        struct jv *k = jv_set(record, "keywords", jv_arr());
        for (int i = 0; i < n_words; i++)
            jv_push(k, jv_str(words[i]));
        jv_set_str(record, "match", match_names[match]);
        jv_set_bool(record, "case_sensitive", case_sensitive);
    }
    if (from[0])
        jv_set_str(record, "from", from);
    if (to[0])
        jv_set_str(record, "to", to);
    if (replace)
        jv_set_str(record, "text", text);
    jv_set_int(record, "count", n);

    /* one compliance record per post, naming it; a replacement carries the new text */
    if (n > 0 && c->cfg.compliance.enabled) {
        struct sbuf desc;
        sbuf_init(&desc, 1u << 20);
        jv_write(record, &desc);
        const char *pa[] = { replace ? "ADMIN_MESSAGE_REPLACED" : "ADMIN_MESSAGE_REMOVED",
                             c->operator_uri, c->operator_name[0] ? c->operator_name : NULL,
                             room.uri, room.name, ids.data, replace ? text : desc.data };
        if (db_do(c, "INSERT INTO compliance_outbox (event_type, user_uri, user_name, room_uri,"
                     " room_name, message_id, content)"
                     " SELECT $1, $2, $3, $4, $5, m, $7 FROM unnest($6::bigint[]) m", 7, pa) < 0)
            rc = ctl_db_fail(c, "record the change in the compliance outbox");
        sbuf_free(&desc);
    }
    sbuf_free(&ids);
    if ((rc = db_commit_result(c, rc, record)) != 0)
        return rc;
    ctl_say(c, "%s %d message%s in room \"%s\"", replace ? "replaced" : "removed", n, n == 1 ? "" : "s",
            room.name);
    return 0;
}

static int message_remove(struct ctl *c, const struct args *a) { return message_change(c, a, false); }
static int message_replace(struct ctl *c, const struct args *a) { return message_change(c, a, true); }

#define FILTER_OPTS                                                                              \
    { "--room", OPT_VALUE, "NAME", "the room (required; name, ma-chan:// URI or GUID)" },        \
    { "--user", OPT_VALUE, "URI", "only posts by this user" },                                   \
    { "--keyword", OPT_LIST, "WORD", "only posts containing WORD (repeatable)" },                \
    { "--match", OPT_VALUE, "all|any|exact", "all keywords (default), any of them, or the "      \
                                             "whole post equals one of them" },                  \
    { "--case-sensitive", OPT_FLAG, NULL, "keywords match case-sensitively" },                    \
    { "--from", OPT_VALUE, "DATE", "only posts at or after DATE (UTC unless an offset is given)" }, \
    { "--to", OPT_VALUE, "DATE", "only posts at or before DATE" }

static const struct opt_spec remove_opts[] = { FILTER_OPTS, { NULL, 0, NULL, NULL } };
static const struct opt_spec replace_opts[] = {
    FILTER_OPTS,
    { "--text", OPT_VALUE, "TEXT", "the replacement (default: \"This message was replaced by "
                                   "the Persistent Chat administrator.\")" },
    { NULL, 0, NULL, NULL },
};

static const struct verb_spec message_verbs[] = {
    { "remove", "--room NAME [FILTERS]", 0, 0, "Delete posts of a room that match the filters.",
      "\nWithout filters every post of the room is deleted. Deleted posts cannot be recovered\n"
      "(the compliance store keeps what it archived). Prints how many were deleted.\n",
      "  pchatctl message remove --room \"Equity desk\" --user sip:bob@example.com \\\n"
      "      --keyword password --from 2024-03-01 --to 2024-03-02",
      remove_opts, message_remove, true },
    { "replace", "--room NAME [FILTERS] [--text TEXT]", 0, 0,
      "Replace the text of matching posts (they keep their author and time).", NULL,
      "  pchatctl message replace --room \"Equity desk\" --keyword \"inside tip\" --match any",
      replace_opts, message_replace, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_message = {
    "message", "Posts in rooms: remove them or replace their text (moderation).", NULL, message_verbs,
};
