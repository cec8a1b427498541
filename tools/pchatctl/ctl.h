/* ctl.h — pchatctl, the operator's CLI over the Persistent Chat Store: the command table,
 * the run context every command gets, and the helpers the command files share. */
#ifndef PCHATCTL_CTL_H
#define PCHATCTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "config.h"
#include "jv.h"
#include "sbuf.h"

/* Exit codes: stable, documented in docs/operations.md and in --help. */
enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,    /* database unreachable, SQL failed, config unreadable */
    EXIT_USAGE = 2,      /* bad option or argument */
    EXIT_NOT_FOUND = 3,  /* a named category, room, user, ... does not exist */
    EXIT_REFUSED = 4,    /* refused by a rule: not empty, denied by a category, duplicate name */
};

#define CTL_SCHEMA_VERSION 2   /* sql/pchat migrations pchatctl needs */
#define CTL_MAX_ARGS 64        /* positional arguments and option occurrences per command */
#define CTL_MAX_TEXT 4096      /* longest description / topic / text accepted */
#define CTL_MAX_NAME 256       /* longest category / room / group / add-in name */

/* --- command table -------------------------------------------------------------------------- */

enum opt_kind { OPT_FLAG, OPT_VALUE, OPT_LIST };

struct opt_spec {
    const char *name;     /* "--category" */
    enum opt_kind kind;
    const char *arg;      /* placeholder shown in help ("NAME"); NULL for flags */
    const char *help;
};

struct args;
struct ctl;
typedef int (*verb_fn)(struct ctl *c, const struct args *a);

struct verb_spec {
    const char *name;          /* "new" */
    const char *synopsis;      /* "NAME --category CATEGORY [OPTIONS]" */
    int min_pos, max_pos;      /* positional arguments accepted */
    const char *summary;       /* one line */
    const char *details;       /* more lines, may be NULL */
    const char *example;       /* one or more example command lines */
    const struct opt_spec *opts; /* terminated by { NULL } */
    verb_fn run;
    bool needs_db;
};

struct noun_spec {
    const char *name;
    const char *summary;
    const char *details;       /* may be NULL */
    const struct verb_spec *verbs; /* terminated by { NULL } */
};

extern const struct noun_spec noun_category, noun_room, noun_message, noun_policy, noun_addin,
    noun_group, noun_config, noun_user, noun_pool, noun_compliance;

/* Parsed command line of one verb. */
struct args {
    const struct verb_spec *verb;
    const char *pos[CTL_MAX_ARGS];
    int n_pos;
    struct { const struct opt_spec *opt; const char *value; } occ[CTL_MAX_ARGS];
    int n_occ;
};

/* The value of a value option (last occurrence wins), or NULL. */
const char *arg_value(const struct args *a, const char *name);
bool arg_flag(const struct args *a, const char *name);
/* Occurrences of a list option, in order: fills out (up to max) and returns the count. */
int arg_list(const struct args *a, const char *name, const char **out, int max);
int arg_count(const struct args *a, const char *name);
/* "--add-member" -> "add_member": an option as a JSON key. Returns out. */
const char *opt_key(const char *opt, char *out, size_t outlen);

/* --- run context ---------------------------------------------------------------------------- */

struct notice {
    int64_t room_id;
    int64_t seq;
    char *room_name;
    char *evict;               /* comma-separated URIs ("" for none) */
    struct notice *next;
};

struct ctl {
    const char *program;       /* "pchatctl" */
    const char *noun, *verb;   /* for messages */
    const struct noun_spec *noun_spec;
    const struct verb_spec *verb_spec;
    const char *config_path;
    struct pchat_config cfg;
    bool cfg_loaded;
    bool json, verbose;
    char operator_uri[256];    /* compliance_outbox.user_uri */
    char operator_name[128];   /* compliance_outbox.user_name: the login that ran us */
    PGconn *db;
    bool in_tx;
    char db_error[1024];       /* last failed statement's message */
    char sqlstate[8];
    struct jv *out;            /* the JSON document (also rendered as text) */
    struct sbuf human;         /* sentences printed instead of the document, in text mode */
    struct notice *notices;    /* told to the front ends after COMMIT */
};

/* --- messages (main.c) ---------------------------------------------------------------------- */

/* "pchatctl: <sentence>" on stderr; returns code. */
int ctl_fail(struct ctl *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A usage error: the sentence, then the verb's usage line and where help is; returns 2. */
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed SQL statement: "cannot <what>: <database message>"; returns 1. */
int ctl_db_fail(struct ctl *c, const char *what);
/* Text-mode output line (ignored with --json). */
void ctl_say(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Progress on stderr with --verbose. */
void ctl_verbose(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- database (db.c) ------------------------------------------------------------------------ */

int db_open(struct ctl *c);
void db_close(struct ctl *c);
/* PQexecParams with text parameters (NULL = SQL NULL). Returns the result, or NULL with
 * c->db_error / c->sqlstate set. */
PGresult *db_exec(struct ctl *c, const char *sql, int n, const char *const *params);
/* Like db_exec, for statements whose rows are not needed; returns rows affected or -1. */
long db_do(struct ctl *c, const char *sql, int n, const char *const *params);
bool db_unique_violation(const struct ctl *c);
int db_begin(struct ctl *c);
/* COMMIT, then tell the front ends about queued notices. Returns 0 or an exit code. */
int db_commit(struct ctl *c);
void db_rollback(struct ctl *c);
/* The id of a user, creating the users row when missing (a user need not have signed in).
 * Returns the id or -1 (db error). */
int64_t db_user_id(struct ctl *c, const char *uri);
/* The id of an existing user row (case-insensitive), 0 when none, -1 on error. */
int64_t db_user_find(struct ctl *c, const char *uri);
/* Insert the compliance_outbox row of an operator action when compliance.enabled: event_type
 * "ADMIN_<what>", user = the operator, content = `content` serialised; room_uri/room_name may
 * be NULL. Does nothing when compliance is off. Returns 0 or -1. */
/* The end of a change that is not about one room: its outbox row (when `audit`), the commit,
 * and `record` as the JSON result (taken over). Returns 0 or an exit code. */
int db_finish_change(struct ctl *c, const char *what, bool audit, struct jv *record);
/* The tail of every change: commit unless `rc` already failed, then `record` becomes the JSON
 * result (taken over; freed on failure). Returns 0 or the exit code. */
int db_commit_result(struct ctl *c, int rc, struct jv *record);
int db_audit(struct ctl *c, const char *what, const char *room_uri, const char *room_name,
             struct jv *content);
/* Helpers over result cells. */
const char *cell(PGresult *r, int row, int col);      /* NULL for SQL NULL */
int64_t cell_i64(PGresult *r, int row, int col);
bool cell_bool(PGresult *r, int row, int col);

/* --- parsing (parse.c) ---------------------------------------------------------------------- */

/* A name (category, room, group, add-in): 1..CTL_MAX_NAME bytes, no control characters.
 * Returns NULL when valid, else what is wrong. */
const char *check_name(const char *s);
const char *check_text(const char *s);            /* description, topic, text */
/* sip:user@domain, lower-cased into out. Returns NULL or what is wrong. */
const char *parse_user_uri(const char *s, char *out, size_t outlen);
const char *parse_domain(const char *s, char *out, size_t outlen);
const char *check_url(const char *s);             /* http:// or https:// */
/* on|off|true|false|yes|no|1|0 -> 1/0; -1 when none of them. */
int parse_onoff(const char *s);
/* An ISO 8601 date or date-time (UTC unless an offset is given); normalises into out
 * as text PostgreSQL reads as timestamptz. Returns NULL or what is wrong. */
const char *parse_date(const char *s, char *out, size_t outlen);
/* A whole decimal number in [lo, hi]. */
bool parse_int(const char *s, long long lo, long long hi, long long *out);
/* One of words[] (case-insensitive): its index, or -1. */
int parse_word(const char *s, const char *const *words, int n);

/* Privacy / type / invitations names <-> numbers. */
extern const char *const privacy_names[3];   /* open closed secret */
extern const char *const type_names[2];      /* normal auditorium */
extern const char *const room_invitation_names[2]; /* inherit off */
extern const char *const role_names[3];      /* member manager presenter */

/* --- principals (principal.c) --------------------------------------------------------------- */

struct principal {
    int kind;                  /* 0 user, 1 domain, 2 group */
    char value[520];           /* lower-case */
};

/* "sip:a@b" | "domain:b" | "group:name". Returns NULL or what is wrong. */
const char *principal_parse(const char *s, struct principal *p);
/* The written form of a stored principal ("domain:example.com"). */
void principal_format(int kind, const char *value, char *out, size_t outlen);
/* May `uri` hold a role in a room of category `category_id`? Returns 1 yes, 0 no (with the
 * rule in why: "category \"X\" denies them through domain:y"), -1 on db error. */
int principal_scope_check(struct ctl *c, int64_t category_id, const char *category_name,
                          const char *uri, char *why, size_t whylen);

/* --- live effects (live.c) ------------------------------------------------------------------ */

/* Remove users from a room's live audience inside the open transaction: next sequence number,
 * a room_events row (kind 3, detail = the URIs), their participants rows deleted; queues the
 * notice for the front ends. `uris` is comma-separated and may be "" (a change nobody is
 * evicted by, like disabling an empty room). Returns 0 or -1. */
int live_evict(struct ctl *c, int64_t room_id, const char *uris);
/* Evict from every room in `room_filter_sql` (a fixed WHERE over rooms r, with $1 = param)
 * the participants who may no longer be there: room disabled, user out of the category's
 * scope, or not a member of a closed/secret room. `extra` (comma-separated, may be NULL)
 * names users to evict from `extra_room` as well. Returns evicted user count or -1. */
int live_recheck(struct ctl *c, const char *room_filter_sql, const char *param,
                 int64_t extra_room, const char *extra);
/* Tell the front ends in channel.frontends about the committed notices. */
void live_notify(struct ctl *c);

/* --- lookups shared by the commands (lookup.c) ---------------------------------------------- */

struct room_ref {
    int64_t id;
    char name[CTL_MAX_NAME + 1];
    char guid[40];
    char uri[320];
    int64_t category_id;
    char category[CTL_MAX_NAME + 1];
    int privacy, type;
    bool disabled;
};

/* Find a room by name (case-insensitive), ma-chan:// URI or GUID; `lock` takes FOR UPDATE.
 * Returns 0 found, EXIT_NOT_FOUND (after printing the sentence) or EXIT_RUNTIME. */
int lookup_room(struct ctl *c, const char *name, bool lock, struct room_ref *out);
/* Category by name: id and canonical name. Returns 0, EXIT_NOT_FOUND or EXIT_RUNTIME. */
int lookup_category(struct ctl *c, const char *name, bool lock, int64_t *id, char *canon,
                    size_t canonlen);
int lookup_addin(struct ctl *c, const char *name, int64_t *id, char *canon, size_t canonlen);
int lookup_group(struct ctl *c, const char *name, bool lock, int64_t *id, char *canon,
                 size_t canonlen);
/* ma-chan://<domain>/<guid> */
void room_uri(const struct ctl *c, const char *guid, char *out, size_t outlen);

/* --- output (render.c) ---------------------------------------------------------------------- */

/* Print c->out as JSON (--json) or as aligned text, unless text-mode sentences were said. */
void render_output(struct ctl *c);

/* A text[] column (PostgreSQL array text form) as a JSON array of strings. */
struct jv *jv_from_pg_array(const char *text);

/* Append a SQL ISO-8601 UTC rendering of a timestamptz expression. */
#define SQL_ISO(expr) "to_char((" expr ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#endif
