/* config.c — the node's YAML configuration: one typed table of keys drives defaults, loading
 * (libyaml document API), --set overrides, cross-key checks and --print-config. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define CONFIG_FILE_MAX (1024 * 1024) /* a configuration is a page of text, never megabytes */
#define CONFIG_STRING_MAX 1024        /* longest value of any key (a libpq conninfo fits easily) */
#define CONFIG_KEY_MAX 160            /* longest dotted key we build, incl. "[31].output_dir" */
#define CONFIG_RECORD_KEYS_MAX 16     /* sub-keys of one list-of-records entry */
#define QUOTE_MAX 80                  /* how much of an offending value a message repeats */
#define QUOTE_BUF (4 * QUOTE_MAX + 8)
#define STRING_LIST_MAX 64            /* capacity of the widest list-of-strings field */
#define WHY_LEN 384                   /* one rule phrase: "must be between 1 and 9 (got 10)" */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FIELD_LEN(type, field) ARRAY_LEN(((type *)0)->field)

/* ---- one line, bounded, printable pieces of error messages ----------------------------------- */

/* Length of the UTF-8 sequence at s, or 0 if it is malformed (overlong, surrogate, > U+10FFFF). */
static size_t utf8_sequence(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if ((s[0] & 0xe0) == 0xc0) { n = 2; cp = s[0] & 0x1f; }
    else if ((s[0] & 0xf0) == 0xe0) { n = 3; cp = s[0] & 0x0f; }
    else if ((s[0] & 0xf8) == 0xf0) { n = 4; cp = s[0] & 0x07; }
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t smallest[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < smallest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* `s` in double quotes for a message: one line of valid UTF-8, at most QUOTE_MAX characters. */
static const char *quoted(char buf[QUOTE_BUF], const char *s)
{
    size_t o = 0, shown = 0;
    buf[o++] = '"';
    for (size_t i = 0; s[i] != '\0'; shown++) {
        if (shown == QUOTE_MAX) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        size_t n = utf8_sequence((const unsigned char *)s + i);
        if (n > 1) {
            if (o + n > QUOTE_BUF - 6)
                break;
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
            continue;
        }
        if (c == '"' || c == '\\')
            buf[o++] = '\\';
        buf[o++] = (n == 0 || c < 0x20 || c == 0x7f) ? '?' : (char)c;
        i++;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* ---- format rules for strings ---------------------------------------------------------------- */

/* A rule returns false and writes the phrase that completes "<key> ..." into `why`. */
typedef bool (*string_check)(const char *value, char *why, size_t whylen);

static bool check_not_empty(const char *v, char *why, size_t whylen)
{
    if (v[0] != '\0')
        return true;
    snprintf(why, whylen, "must not be empty");
    return false;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
}

/* Node and adapter names end up in ZeroMQ identities, metric labels and file names. */
static bool check_name(const char *v, char *why, size_t whylen)
{
    char q[QUOTE_BUF];
    size_t len = strlen(v);
    bool ok = len >= 1 && len <= 64;
    for (size_t i = 0; ok && i < len; i++)
        ok = is_name_char(v[i]);
    if (!ok)
        snprintf(why, whylen, "must be 1 to 64 letters, digits, '-', '_' or '.' (got %s)",
                 quoted(q, v));
    return ok;
}

static bool check_name_or_empty(const char *v, char *why, size_t whylen)
{
    return v[0] == '\0' || check_name(v, why, whylen);
}

static bool check_host_name(const char *v, char *why, size_t whylen)
{
    size_t len = strlen(v);
    bool ok = len >= 1 && len <= 253;
    size_t label = 0;
    for (size_t i = 0; ok && i <= len; i++) {
        char c = v[i];
        if (c == '.' || c == '\0') {
            ok = label >= 1 && label <= 63 && v[i - 1] != '-';
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            ok = label > 0 || c != '-';
            label++;
        } else {
            ok = false;
        }
    }
    if (!ok) {
        char q[QUOTE_BUF];
        snprintf(why, whylen, "must be a host name such as example.com (got %s)", quoted(q, v));
    }
    return ok;
}

/* IPv4, IPv6 or a host name; the SIP stack resolves it. */
static bool check_listen_address(const char *v, char *why, size_t whylen)
{
    bool ok = v[0] != '\0';
    for (const char *p = v; ok && *p; p++)
        ok = is_name_char(*p) || *p == ':';
    if (!ok) {
        char q[QUOTE_BUF];
        snprintf(why, whylen, "must be an address to listen on, such as 127.0.0.1 or 0.0.0.0 (got %s)",
                 quoted(q, v));
    }
    return ok;
}

/* tcp://host:port (host may be * for a bind), ipc://path or inproc://name. */
static bool check_zmq_endpoint(const char *v, char *why, size_t whylen)
{
    bool ok = false;
    if (strncmp(v, "tcp://", 6) == 0) {
        const char *colon = strrchr(v + 6, ':');
        const char *port = colon ? colon + 1 : NULL;
        ok = colon && colon > v + 6 && (strcmp(port, "*") == 0 || (port[0] != '\0' &&
             strspn(port, "0123456789") == strlen(port) && strlen(port) <= 5 &&
             atoi(port) >= 1 && atoi(port) <= 65535));
    } else if (strncmp(v, "ipc://", 6) == 0) {
        ok = v[6] != '\0';
    } else if (strncmp(v, "inproc://", 9) == 0) {
        ok = v[9] != '\0';
    }
    for (const char *p = v; ok && *p; p++)
        ok = *p != ' ';
    if (!ok) {
        char q[QUOTE_BUF];
        snprintf(why, whylen, "must be a ZeroMQ endpoint: tcp://host:port, ipc://path or "
                 "inproc://name (got %s)", quoted(q, v));
    }
    return ok;
}

/* Empty means "derive from pool.domain" (config_finish). */
static bool check_sip_uri_or_empty(const char *v, char *why, size_t whylen)
{
    if (v[0] == '\0')
        return true;
    const char *at = strchr(v, '@');
    bool ok = strncmp(v, "sip:", 4) == 0 && at && at > v + 4 && at[1] != '\0' && !strchr(v, ' ');
    if (!ok) {
        char q[QUOTE_BUF];
        snprintf(why, whylen, "must be a SIP URI such as sip:pchat@example.com, or empty (got %s)",
                 quoted(q, v));
    }
    return ok;
}

static bool check_log_level(const char *v, char *why, size_t whylen)
{
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    for (size_t i = 0; i < ARRAY_LEN(levels); i++)
        if (strcmp(v, levels[i]) == 0)
            return true;
    char q[QUOTE_BUF];
    snprintf(why, whylen, "must be one of debug, info, warn, error (got %s)", quoted(q, v));
    return false;
}

static bool check_auth_mode(const char *v, char *why, size_t whylen)
{
    if (strcmp(v, "none") == 0)
        return true;
    char q[QUOTE_BUF];
    snprintf(why, whylen, "%s is not supported yet; use \"none\"", quoted(q, v));
    return false;
}

/* Rules every string obeys, so that --print-config always writes YAML that loads back. */
static bool check_string(string_check rule, const char *v, char *why, size_t whylen)
{
    size_t len = strlen(v);
    if (len > CONFIG_STRING_MAX) {
        snprintf(why, whylen, "must be at most %d bytes long (got %zu)", CONFIG_STRING_MAX, len);
        return false;
    }
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)v[i];
        size_t n = utf8_sequence((const unsigned char *)v + i);
        if (c < 0x20 || c == 0x7f || n == 0) {
            char q[QUOTE_BUF];
            snprintf(why, whylen, "must be one line of UTF-8 text without control characters (got %s)",
                     quoted(q, v));
            return false;
        }
        i += n;
    }
    return rule ? rule(v, why, whylen) : true;
}

/* ---- the table --------------------------------------------------------------------------------- */

enum key_type { KEY_STRING, KEY_INT, KEY_BOOL, KEY_STRING_LIST, KEY_RECORDS };

struct record_table;

struct config_key {
    const char *name;                  /* dotted path; in a record table, the entry's sub-key */
    enum key_type type;
    size_t offset;                     /* of the field in pchat_config (or in one record) */
    const char *fallback;              /* the default, as an operator would write it on --set;
                                          NULL for a record sub-key that must be given */
    long long min, max;                /* KEY_INT range, inclusive */
    string_check check;                /* KEY_STRING, and each item of KEY_STRING_LIST */
    size_t count_offset;               /* lists: the int counting entries */
    int max_count;                     /* lists: capacity of the array */
    const struct record_table *record; /* KEY_RECORDS: what one entry holds */
};

struct record_table {
    const struct config_key *keys;
    size_t n_keys;
    size_t size;                       /* of one record */
    const char *unique;                /* sub-key whose value must differ between entries */
};

#define CFG(f) offsetof(struct pchat_config, f)
#define STRING_KEY(path, field, def, rule) \
    { .name = path, .type = KEY_STRING, .offset = CFG(field), .fallback = def, .check = rule }
#define INT_KEY(path, field, def, lo, hi) \
    { .name = path, .type = KEY_INT, .offset = CFG(field), .fallback = #def, .min = lo, .max = hi }
#define BOOL_KEY(path, field, def) \
    { .name = path, .type = KEY_BOOL, .offset = CFG(field), .fallback = #def }
#define LIST_KEY(path, field, count, def, rule) \
    { .name = path, .type = KEY_STRING_LIST, .offset = CFG(field), .count_offset = CFG(count), \
      .max_count = (int)FIELD_LEN(struct pchat_config, field), .fallback = def, .check = rule }
#define RECORDS_KEY(path, field, count, def, table) \
    { .name = path, .type = KEY_RECORDS, .offset = CFG(field), .count_offset = CFG(count), \
      .max_count = (int)FIELD_LEN(struct pchat_config, field), .fallback = def, .record = &table }

#define FE(f) offsetof(struct config_frontend_ref, f)
static const struct config_key frontend_ref_keys[] = {
    { .name = "id", .type = KEY_STRING, .offset = FE(id), .fallback = "", .check = check_name_or_empty },
    { .name = "router", .type = KEY_STRING, .offset = FE(router), .check = check_zmq_endpoint },
    { .name = "events", .type = KEY_STRING, .offset = FE(events), .check = check_zmq_endpoint },
};
/* Two entries with one router would connect a worker twice to the same front end. */
static const struct record_table frontend_ref_table = {
    frontend_ref_keys, ARRAY_LEN(frontend_ref_keys), sizeof(struct config_frontend_ref), "router"
};

#define AD(f) offsetof(struct config_adapter, f)
static const struct config_key adapter_keys[] = {
    { .name = "name", .type = KEY_STRING, .offset = AD(name), .check = check_name },
    { .name = "type", .type = KEY_STRING, .offset = AD(type), .check = check_not_empty },
    { .name = "output_dir", .type = KEY_STRING, .offset = AD(output_dir), .fallback = "var/compliance",
      .check = check_not_empty },
    { .name = "one_room_per_file", .type = KEY_BOOL, .offset = AD(one_room_per_file), .fallback = "false" },
    { .name = "add_room_details", .type = KEY_BOOL, .offset = AD(add_room_details), .fallback = "false" },
    { .name = "add_user_details", .type = KEY_BOOL, .offset = AD(add_user_details), .fallback = "false" },
};
static const struct record_table adapter_table = {
    adapter_keys, ARRAY_LEN(adapter_keys), sizeof(struct config_adapter), "name"
};

/* Rows are grouped by section, in the order --print-config writes them. */
static const struct config_key config_keys[] = {
    STRING_KEY("pool.domain", pool.domain, "example.com", check_host_name),
    STRING_KEY("pool.lookup_uri", pool.lookup_uri, "", check_sip_uri_or_empty),
    STRING_KEY("pool.channel_uri", pool.channel_uri, "", check_sip_uri_or_empty),

    STRING_KEY("log.level", log.level, "info", check_log_level),

    STRING_KEY("database.pchat", database.pchat,
               "host=127.0.0.1 port=55432 dbname=pchat user=pchat", NULL),
    STRING_KEY("database.mgccomp", database.mgccomp,
               "host=127.0.0.1 port=55432 dbname=mgccomp user=pchat", NULL),
    INT_KEY("database.connect_timeout_s", database.connect_timeout_s, 5, 1, 60),
    INT_KEY("database.statement_timeout_ms", database.statement_timeout_ms, 5000, 100, 600000),

    STRING_KEY("auth.mode", auth.mode, "none", check_auth_mode),

    STRING_KEY("frontend.id", frontend.id, "fe1", check_name),
    STRING_KEY("frontend.sip_address", frontend.sip_address, "127.0.0.1", check_listen_address),
    INT_KEY("frontend.sip_port", frontend.sip_port, 5060, 1, 65535),
    BOOL_KEY("frontend.sip_udp", frontend.sip_udp, true),
    STRING_KEY("frontend.router", frontend.router, "tcp://127.0.0.1:5570", check_zmq_endpoint),
    STRING_KEY("frontend.events", frontend.events, "tcp://127.0.0.1:5571", check_zmq_endpoint),
    INT_KEY("frontend.register_expires_s", frontend.register_expires_s, 3600, 60, 86400),
    INT_KEY("frontend.session_expires_s", frontend.session_expires_s, 300, 90, 86400),
    INT_KEY("frontend.keepalive_s", frontend.keepalive_s, 300, 10, 3600),
    INT_KEY("frontend.max_sessions", frontend.max_sessions, 50000, 1, 1000000),
    INT_KEY("frontend.max_body_bytes", frontend.max_body_bytes, 65536, 1024, 1048576),
    INT_KEY("frontend.queue_max", frontend.queue_max, 2000, 1, 1000000),
    INT_KEY("frontend.request_timeout_ms", frontend.request_timeout_ms, 5000, 100, 120000),
    INT_KEY("frontend.retry_after_min_s", frontend.retry_after_min_s, 2, 1, 3600),
    INT_KEY("frontend.retry_after_max_s", frontend.retry_after_max_s, 10, 1, 3600),
    LIST_KEY("frontend.non_retrying_agents", frontend.non_retrying_agents,
             frontend.n_non_retrying_agents, "Sipe/", check_not_empty),
    INT_KEY("frontend.session_queue_max", frontend.session_queue_max, 1000, 4, 100000),
    INT_KEY("frontend.heartbeat_ms", frontend.heartbeat_ms, 1000, 100, 60000),
    INT_KEY("frontend.worker_timeout_ms", frontend.worker_timeout_ms, 3000, 300, 600000),
    INT_KEY("frontend.metrics_port", frontend.metrics_port, 0, 0, 65535),
    INT_KEY("frontend.admit_delay_high_ms", frontend.admit_delay_high_ms, 50, 1, 60000),
    INT_KEY("frontend.admit_delay_low_ms", frontend.admit_delay_low_ms, 20, 0, 60000),
    INT_KEY("frontend.admit_hold_ms", frontend.admit_hold_ms, 500, 0, 60000),
    INT_KEY("frontend.admit_post_delay_ms", frontend.admit_post_delay_ms, 150, 1, 120000),
    INT_KEY("frontend.admit_delivery_high_ms", frontend.admit_delivery_high_ms, 50, 1, 60000),
    INT_KEY("frontend.outbound_high", frontend.outbound_high, 20000, 100, 10000000),

    RECORDS_KEY("channel.frontends", channel.frontends, channel.n_frontends,
                "[{id: fe1, router: \"tcp://127.0.0.1:5570\", events: \"tcp://127.0.0.1:5571\"}]",
                frontend_ref_table),
    INT_KEY("channel.credit", channel.credit, 16, 1, 1024),
    INT_KEY("channel.heartbeat_ms", channel.heartbeat_ms, 1000, 100, 60000),
    INT_KEY("channel.frontend_timeout_ms", channel.frontend_timeout_ms, 3000, 300, 600000),
    INT_KEY("channel.metrics_port", channel.metrics_port, 0, 0, 65535),

    INT_KEY("chat.history_on_join", chat.history_on_join, 30, 1, 500),
    INT_KEY("chat.max_message_bytes", chat.max_message_bytes, 8192, 16, 1048576),
    INT_KEY("chat.search_limit", chat.search_limit, 999, 1, 10000),
    INT_KEY("chat.participant_update_limit", chat.participant_update_limit, 75, 0, 100000),
    STRING_KEY("chat.demo_room", chat.demo_room, "Lobby", NULL),

    BOOL_KEY("compliance.enabled", compliance.enabled, false),
    INT_KEY("compliance.run_interval_s", compliance.run_interval_s, 900, 1, 2592000),
    INT_KEY("compliance.batch_size", compliance.batch_size, 500, 1, 100000),
    STRING_KEY("compliance.adapter_dir", compliance.adapter_dir, "build/lib/pchat/adapters",
               check_not_empty),
    RECORDS_KEY("compliance.adapters", compliance.adapters, compliance.n_adapters, "[]",
                adapter_table),
    INT_KEY("compliance.metrics_port", compliance.metrics_port, 0, 0, 65535),
};
#define N_KEYS ARRAY_LEN(config_keys)
_Static_assert(CONFIG_MAX_AGENTS <= STRING_LIST_MAX, "raise STRING_LIST_MAX");
_Static_assert(ARRAY_LEN(adapter_keys) <= CONFIG_RECORD_KEYS_MAX, "raise CONFIG_RECORD_KEYS_MAX");

static const char *const config_sections[] = {
    "pool", "log", "database", "auth", "frontend", "channel", "chat", "compliance",
};
#define N_SECTIONS ARRAY_LEN(config_sections)

/* Cross-key rules checked by config_finish: `low` must stay below (or not above) `high`. */
static const struct order_rule {
    const char *low, *high;
    bool strict;
    const char *why;
} order_rules[] = {
    { "frontend.retry_after_min_s", "frontend.retry_after_max_s", false,
      "Retry-After is drawn between the two" },
    { "frontend.heartbeat_ms", "frontend.worker_timeout_ms", true,
      "or a live worker is declared dead between two heartbeats" },
    { "channel.heartbeat_ms", "channel.frontend_timeout_ms", true,
      "or a live front end is declared dead between two heartbeats" },
    { "frontend.admit_delay_low_ms", "frontend.admit_delay_high_ms", true,
      "shedding stops below the low mark and starts above the high one" },
};

/* URIs that default to a fixed user at pool.domain. */
static const struct derived_uri {
    size_t offset;
    const char *user;
} derived_uris[] = {
    { CFG(pool.lookup_uri), "pchat" },
    { CFG(pool.channel_uri), "pchat-chan" },
};

static const struct config_key *find_key(const struct config_key *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Fields are reached through the table's offsets; `base` is the config or one record. */
static void *field(void *base, size_t offset)
{
    return (char *)base + offset;
}

static const void *field_c(const void *base, size_t offset)
{
    return (const char *)base + offset;
}

static char **string_slot(const struct config_key *row, void *base)
{
    return field(base, row->offset);
}

static int *int_at(void *base, size_t offset)
{
    return field(base, offset);
}

/* ---- did you mean ------------------------------------------------------------------------------ */

/* Edit distance counting a swap of neighbours as one edit ("prot" -> "port"). */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX || lb > MAX)
        return SIZE_MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

static const char *leaf_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : name;
}

/* The known name closest to `name`, or NULL when none is close enough to be a typo. */
static const char *closest(const char *name, const char *const *names, size_t n)
{
    size_t limit = 1 + strlen(name) / 5, best_d = SIZE_MAX;
    if (limit > 3)
        limit = 3;
    const char *best = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, names[i]);
        if (d > 0 && d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

/* A hint for an unknown key of the table: the same key name in another section first (a key
 * put under the wrong heading), else a near spelling. */
static void suggest_key(const char *name, char *hint, size_t hintlen)
{
    const char *names[N_KEYS > N_SECTIONS ? N_KEYS : N_SECTIONS];
    const char *found = NULL;
    for (size_t i = 0; i < N_KEYS && !found; i++)
        if (strcmp(leaf_of(config_keys[i].name), leaf_of(name)) == 0)
            found = config_keys[i].name;
    if (!found && strchr(name, '.')) {
        for (size_t i = 0; i < N_KEYS; i++)
            names[i] = config_keys[i].name;
        found = closest(name, names, N_KEYS);
    } else if (!found) {
        found = closest(name, config_sections, N_SECTIONS);
    }
    hint[0] = '\0';
    if (found && strcmp(found, name) == 0) /* "frontend.sip_port: 1" at the top level */
        snprintf(hint, hintlen, " (write it nested: \"%.*s:\" with \"%s:\" indented under it)",
                 (int)(leaf_of(found) - 1 - found), found, leaf_of(found));
    else if (found)
        snprintf(hint, hintlen, " (did you mean \"%s\"?)", found);
}

/* ---- where a value came from, for messages ----------------------------------------------------- */

struct source {
    const char *file;      /* the file being loaded; NULL while parsing a --set value */
    const char *set_key;   /* the key given to --set, when file is NULL */
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    int *key_line;         /* file loads: the line each table key was set on, 0 if not set */
};

/* "<file>:<line>: <sentence>" or "--set <key>: <sentence>". Returns -1. */
__attribute__((format(printf, 3, 4)))
static int fail_at(const struct source *src, int line, const char *fmt, ...)
{
    char sentence[CONFIG_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof sentence, fmt, ap);
    va_end(ap);
    if (!src->err || src->errlen == 0)
        return -1;
    if (src->file)
        snprintf(src->err, src->errlen, "%s:%d: %s", src->file, line, sentence);
    else
        snprintf(src->err, src->errlen, "--set %.*s: %s", CONFIG_KEY_MAX, src->set_key, sentence);
    return -1;
}

/* "<file>:<line>: <key> <why>" or "--set <key>: <why>". Returns -1. */
static int fail_key(const struct source *src, int line, const char *key, const char *why)
{
    if (!src->err || src->errlen == 0)
        return -1;
    if (src->file)
        snprintf(src->err, src->errlen, "%s:%d: %s %s", src->file, line, key, why);
    else
        snprintf(src->err, src->errlen, "--set %.*s: %s", CONFIG_KEY_MAX, key, why);
    return -1;
}

/* `hint` is "" or " (did you mean ...?)". */
static int fail_unknown(const struct source *src, int line, const char *key, const char *hint)
{
    char q[QUOTE_BUF], why[WHY_LEN];
    if (!src->file) {
        snprintf(why, sizeof why, "unknown key%s", hint);
        snprintf(src->err, src->errlen, "--set %.*s: %s", CONFIG_KEY_MAX, key, why);
        return -1;
    }
    return fail_at(src, line, "unknown key %s%s", quoted(q, key), hint);
}

/* ---- storing one value ------------------------------------------------------------------------- */

static bool parse_int(const struct config_key *row, const char *text, int *out, char *why, size_t whylen)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits)) {
        char q[QUOTE_BUF];
        snprintf(why, whylen, "must be a whole number between %lld and %lld (got %s)",
                 row->min, row->max, quoted(q, text));
        return false;
    }
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE || v < row->min || v > row->max) {
        snprintf(why, whylen, "must be between %lld and %lld (got %.40s%s)", row->min, row->max,
                 text, strlen(text) > 40 ? "..." : "");
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_bool(const char *text, bool *out, char *why, size_t whylen)
{
    static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    char q[QUOTE_BUF];
    snprintf(why, whylen, "must be true or false (got %s)", quoted(q, text));
    return false;
}

/* Parse `text` as the value of a scalar key and store it in `base`; the record is unchanged
 * when the value is refused. */
static bool store_scalar(const struct config_key *row, void *base, const char *text, char *why, size_t whylen)
{
    switch (row->type) {
    case KEY_INT:
        return parse_int(row, text, int_at(base, row->offset), why, whylen);
    case KEY_BOOL:
        return parse_bool(text, (bool *)field(base, row->offset), why, whylen);
    case KEY_STRING: {
        if (!check_string(row->check, text, why, whylen))
            return false;
        char *copy = strdup(text);
        if (!copy) {
            snprintf(why, whylen, "could not be stored: out of memory");
            return false;
        }
        char **slot = string_slot(row, base);
        free(*slot);
        *slot = copy;
        return true;
    }
    default:
        snprintf(why, whylen, "is a list, not a single value");
        return false;
    }
}

static void free_record(const struct record_table *rt, void *record)
{
    for (size_t k = 0; k < rt->n_keys; k++) {
        if (rt->keys[k].type == KEY_STRING) {
            char **slot = string_slot(&rt->keys[k], record);
            free(*slot);
            *slot = NULL;
        }
    }
    if (rt == &adapter_table) {
        struct config_adapter *a = record;
        for (int i = 0; i < a->n_options; i++) {
            free(a->options[i].key);
            free(a->options[i].value);
        }
        a->n_options = 0;
    }
}

static void *record_at(const struct record_table *rt, void *array, int i)
{
    return (char *)array + (size_t)i * rt->size;
}

/* Free what a list key holds and leave it empty. */
static void clear_list(const struct config_key *row, void *base)
{
    int *count = int_at(base, row->count_offset);
    for (int i = 0; i < *count; i++) {
        if (row->type == KEY_STRING_LIST) {
            free(string_slot(row, base)[i]);
            string_slot(row, base)[i] = NULL;
        } else {
            free_record(row->record, record_at(row->record, (char *)base + row->offset, i));
        }
    }
    *count = 0;
}

/* Replace a list key's entries by the `n` built in `items` (ownership moves to `base`). */
static void commit_list(const struct config_key *row, void *base, const void *items, int n)
{
    clear_list(row, base);
    size_t each = row->type == KEY_STRING_LIST ? sizeof(char *) : row->record->size;
    if (n > 0)
        memcpy((char *)base + row->offset, items, (size_t)n * each);
    *int_at(base, row->count_offset) = n;
}

static void free_strings(char **items, int n)
{
    for (int i = 0; i < n; i++)
        free(items[i]);
}

/* Index of the first entry before `i` whose unique sub-key equals entry i's, or -1. */
static int find_duplicate(const struct record_table *rt, void *array, int i)
{
    if (!rt->unique)
        return -1;
    const struct config_key *uk = find_key(rt->keys, rt->n_keys, rt->unique);
    const char *mine = *string_slot(uk, record_at(rt, array, i));
    for (int j = 0; mine && j < i; j++) {
        const char *theirs = *string_slot(uk, record_at(rt, array, j));
        if (theirs && strcmp(theirs, mine) == 0)
            return j;
    }
    return -1;
}

/* ---- values from YAML nodes -------------------------------------------------------------------- */

static int line_of(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

static const char *kind_of(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "a single value";
    }
}

/* An unquoted empty, ~ or null: YAML's way of writing nothing. */
static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static yaml_node_t *node_at(const struct source *src, int id)
{
    return yaml_document_get_node(src->doc, id);
}

/* The name in a mapping key node; NULL with a message when it is not a plain name. */
static const char *key_text(const struct source *src, const yaml_node_t *node, const char *where, int *rc)
{
    if (node->type != YAML_SCALAR_NODE) {
        *rc = fail_at(src, line_of(node), "keys %s must be plain names, not %s", where, kind_of(node));
        return NULL;
    }
    const char *v = (const char *)node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length) {
        *rc = fail_at(src, line_of(node), "keys %s must not contain a NUL character", where);
        return NULL;
    }
    return v;
}

/* The text of a scalar node ("" for a null); NULL with a message when it is not usable. */
static const char *scalar_text(const struct source *src, const yaml_node_t *node, const char *key, int *rc)
{
    char why[WHY_LEN];
    if (node->type != YAML_SCALAR_NODE) {
        snprintf(why, sizeof why, "must be a single value, not %s", kind_of(node));
        *rc = fail_key(src, line_of(node), key, why);
        return NULL;
    }
    const char *v = (const char *)node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length) {
        *rc = fail_key(src, line_of(node), key, "must not contain a NUL character");
        return NULL;
    }
    return is_null(node) ? "" : v;
}

static int store_scalar_node(const struct source *src, const struct config_key *row, void *base,
                             const yaml_node_t *node, const char *key)
{
    int rc = -1;
    const char *text = scalar_text(src, node, key, &rc);
    if (!text)
        return rc;
    char why[WHY_LEN];
    if (!store_scalar(row, base, text, why, sizeof why))
        return fail_key(src, line_of(node), key, why);
    return 0;
}

/* A list key's value must be a sequence (a null is an empty one); returns its item count. */
static int list_items(const struct source *src, const struct config_key *row, const yaml_node_t *node,
                      const char *key, yaml_node_item_t **items)
{
    char why[WHY_LEN];
    *items = NULL;
    if (is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE) {
        snprintf(why, sizeof why, "must be a list, not %s", kind_of(node));
        return fail_key(src, line_of(node), key, why);
    }
    int n = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
    *items = node->data.sequence.items.start;
    if (n > row->max_count) {
        snprintf(why, sizeof why, "must have at most %d entries (got %d)", row->max_count, n);
        return fail_key(src, line_of(node_at(src, (*items)[row->max_count])), key, why);
    }
    return n;
}

static int load_string_list(const struct source *src, const struct config_key *row, void *base,
                            const yaml_node_t *node, const char *key)
{
    yaml_node_item_t *items;
    int n = list_items(src, row, node, key, &items);
    if (n < 0)
        return -1;
    char *built[STRING_LIST_MAX] = { NULL };
    struct config_key item_row = *row;
    item_row.type = KEY_STRING;
    item_row.offset = 0;
    for (int i = 0; i < n; i++) {
        char item_key[CONFIG_KEY_MAX];
        snprintf(item_key, sizeof item_key, "%s[%d]", key, i);
        built[i] = NULL;
        if (store_scalar_node(src, &item_row, &built[i], node_at(src, items[i]), item_key) < 0) {
            free_strings(built, i + 1);
            return -1;
        }
    }
    commit_list(row, base, built, n);
    return 0;
}

/* compliance.adapters[].options: `name: value` pairs the service hands to the adapter's init
 * as they are; the adapter says which it accepts. Names follow the adapter-name rule. */
static int load_adapter_options(const struct source *src, struct config_adapter *a,
                                const yaml_node_t *node, const char *key)
{
    char why[WHY_LEN], opt_key[3 * CONFIG_KEY_MAX];
    if (is_null(node))
        return 0;
    if (node->type != YAML_MAPPING_NODE) {
        snprintf(why, sizeof why, "must be a mapping of \"name: value\" lines, not %s", kind_of(node));
        return fail_key(src, line_of(node), key, why);
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(src, p->key), *vn = node_at(src, p->value);
        int rc = -1;
        char where[2 * CONFIG_KEY_MAX + 8];
        snprintf(where, sizeof where, "in %s", key);
        const char *name = key_text(src, kn, where, &rc);
        if (!name)
            return rc;
        snprintf(opt_key, sizeof opt_key, "%s.%s", key, name);
        if (!check_name(name, why, sizeof why))
            return fail_key(src, line_of(kn), opt_key, why);
        for (int i = 0; i < a->n_options; i++)
            if (strcmp(a->options[i].key, name) == 0)
                return fail_at(src, line_of(kn), "duplicate key \"%s\"", opt_key);
        if (a->n_options == CONFIG_MAX_ADAPTER_OPTIONS) {
            snprintf(why, sizeof why, "must have at most %d entries", CONFIG_MAX_ADAPTER_OPTIONS);
            return fail_key(src, line_of(kn), key, why);
        }
        const char *text = scalar_text(src, vn, opt_key, &rc);
        if (!text)
            return rc;
        if (!check_string(NULL, text, why, sizeof why))
            return fail_key(src, line_of(vn), opt_key, why);
        char *k = strdup(name), *v = strdup(text);
        if (!k || !v) {
            free(k);
            free(v);
            return fail_key(src, line_of(vn), opt_key, "could not be stored: out of memory");
        }
        a->options[a->n_options].key = k;
        a->options[a->n_options].value = v;
        a->n_options++;
    }
    return 0;
}

/* One entry of a list of records: a mapping of the record table's sub-keys. */
static int load_record(const struct source *src, const struct record_table *rt, void *record,
                       const yaml_node_t *node, const char *entry_key, int *unique_line)
{
    char why[WHY_LEN], sub_key[2 * CONFIG_KEY_MAX];
    if (node->type != YAML_MAPPING_NODE) {
        snprintf(why, sizeof why, "must be a mapping with keys such as %s: and %s:, not %s",
                 rt->keys[0].name, rt->keys[1].name, kind_of(node));
        return fail_key(src, line_of(node), entry_key, why);
    }
    for (size_t k = 0; k < rt->n_keys; k++) {
        if (rt->keys[k].fallback && !store_scalar(&rt->keys[k], record, rt->keys[k].fallback, why, sizeof why))
            return fail_key(src, line_of(node), entry_key, why);
    }
    int seen[CONFIG_RECORD_KEYS_MAX] = { 0 };
    int options_line = 0;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(src, p->key), *vn = node_at(src, p->value);
        int rc = -1;
        char where[CONFIG_KEY_MAX + 8];
        snprintf(where, sizeof where, "in %s", entry_key);
        const char *name = key_text(src, kn, where, &rc);
        if (!name)
            return rc;
        snprintf(sub_key, sizeof sub_key, "%s.%s", entry_key, name);
        if (rt == &adapter_table && strcmp(name, "options") == 0) {
            if (options_line)
                return fail_at(src, line_of(kn), "duplicate key \"%s\" (first set on line %d)",
                               sub_key, options_line);
            options_line = line_of(kn);
            if (load_adapter_options(src, record, vn, sub_key) < 0)
                return -1;
            continue;
        }
        const struct config_key *sub = find_key(rt->keys, rt->n_keys, name);
        if (!sub) {
            const char *names[CONFIG_RECORD_KEYS_MAX];
            for (size_t k = 0; k < rt->n_keys; k++)
                names[k] = rt->keys[k].name;
            const char *near = closest(name, names, rt->n_keys);
            char hint[CONFIG_KEY_MAX + 32] = "";
            if (near)
                snprintf(hint, sizeof hint, " (did you mean \"%s.%s\"?)", entry_key, near);
            return fail_unknown(src, line_of(kn), sub_key, hint);
        }
        size_t k = (size_t)(sub - rt->keys);
        if (seen[k])
            return fail_at(src, line_of(kn), "duplicate key \"%s\" (first set on line %d)", sub_key, seen[k]);
        seen[k] = line_of(kn);
        if (store_scalar_node(src, sub, record, vn, sub_key) < 0)
            return -1;
        if (rt->unique && strcmp(sub->name, rt->unique) == 0)
            *unique_line = line_of(vn);
    }
    for (size_t k = 0; k < rt->n_keys; k++) {
        if (!rt->keys[k].fallback && !seen[k]) {
            snprintf(why, sizeof why, "is missing \"%s:\" (every entry needs one)", rt->keys[k].name);
            return fail_key(src, line_of(node), entry_key, why);
        }
    }
    return 0;
}

static int load_records(const struct source *src, const struct config_key *row, void *base,
                        const yaml_node_t *node, const char *key)
{
    const struct record_table *rt = row->record;
    yaml_node_item_t *items;
    int n = list_items(src, row, node, key, &items);
    if (n < 0)
        return -1;
    void *built = calloc((size_t)(n > 0 ? n : 1), rt->size);
    if (!built)
        return fail_key(src, line_of(node), key, "could not be stored: out of memory");
    int rc = 0, done = 0;
    for (; rc == 0 && done < n; done++) {
        char entry_key[CONFIG_KEY_MAX];
        snprintf(entry_key, sizeof entry_key, "%s[%d]", key, done);
        int unique_line = line_of(node_at(src, items[done]));
        rc = load_record(src, rt, record_at(rt, built, done), node_at(src, items[done]), entry_key,
                         &unique_line);
        int twin = rc == 0 ? find_duplicate(rt, built, done) : -1;
        if (twin >= 0) {
            char q[QUOTE_BUF], why[WHY_LEN];
            const struct config_key *uk = find_key(rt->keys, rt->n_keys, rt->unique);
            snprintf(why, sizeof why, "%s is already used by %s[%d]",
                     quoted(q, *string_slot(uk, record_at(rt, built, done))), key, twin);
            char unique_key[2 * CONFIG_KEY_MAX];
            snprintf(unique_key, sizeof unique_key, "%s.%s", entry_key, rt->unique);
            rc = fail_key(src, unique_line, unique_key, why);
        }
    }
    if (rc == 0) {
        commit_list(row, base, built, n);
    } else {
        for (int i = 0; i < done; i++)
            free_record(rt, record_at(rt, built, i));
    }
    free(built);
    return rc;
}

/* Store the YAML value `node` into the key `row` of `base`. */
static int load_value(const struct source *src, const struct config_key *row, void *base,
                      const yaml_node_t *node, const char *key)
{
    switch (row->type) {
    case KEY_STRING_LIST:
        return load_string_list(src, row, base, node, key);
    case KEY_RECORDS:
        return load_records(src, row, base, node, key);
    default:
        return store_scalar_node(src, row, base, node, key);
    }
}

/* ---- YAML text to a document ------------------------------------------------------------------- */

static int line_of_offset(const char *text, size_t len, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static int fail_yaml(const struct source *src, const yaml_parser_t *parser, const char *text, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return fail_at(src, 1, "out of memory while reading YAML");
    int line = parser->error == YAML_READER_ERROR
                   ? line_of_offset(text, len, parser->problem_offset)
                   : (int)parser->problem_mark.line + 1;
    const char *problem = parser->problem ? parser->problem : "the text is not valid YAML";
    if (parser->context)
        return fail_at(src, line, "YAML syntax error: %s (%s on line %d)", problem, parser->context,
                       (int)parser->context_mark.line + 1);
    return fail_at(src, line, "YAML syntax error: %s", problem);
}

/* Parse `text` as exactly one YAML document (or none: an empty text). The caller deletes `doc`
 * on success; on failure there is nothing to delete. */
static int parse_document(const struct source *src, const char *text, size_t len, yaml_document_t *doc)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return fail_at(src, 1, "out of memory while reading YAML");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, doc)) {
        rc = fail_yaml(src, &parser, text, len);
    } else if (yaml_document_get_root_node(doc)) {
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            rc = fail_yaml(src, &parser, text, len);
        } else {
            bool more = yaml_document_get_root_node(&extra) != NULL;
            int line = (int)extra.start_mark.line + 1;
            yaml_document_delete(&extra);
            if (more)
                rc = fail_at(src, line, "a second YAML document starts here; a configuration is one "
                             "document (remove the extra \"---\")");
        }
        if (rc < 0)
            yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- the file ---------------------------------------------------------------------------------- */

static int load_section(const struct source *src, struct pchat_config *cfg, const char *section,
                        const yaml_node_t *node)
{
    char key[CONFIG_KEY_MAX], hint[CONFIG_KEY_MAX + 32];
    if (is_null(node))
        return 0; /* a heading with every key commented out */
    if (node->type != YAML_MAPPING_NODE)
        return fail_at(src, line_of(node), "%s must be a mapping of indented \"key: value\" lines, not %s",
                       section, kind_of(node));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(src, p->key), *vn = node_at(src, p->value);
        int rc = -1;
        char where[CONFIG_KEY_MAX];
        snprintf(where, sizeof where, "under %s:", section);
        const char *name = key_text(src, kn, where, &rc);
        if (!name)
            return rc;
        snprintf(key, sizeof key, "%s.%s", section, name);
        const struct config_key *row = find_key(config_keys, N_KEYS, key);
        if (!row) {
            suggest_key(key, hint, sizeof hint);
            return fail_unknown(src, line_of(kn), key, hint);
        }
        int *first = &src->key_line[row - config_keys];
        if (*first)
            return fail_at(src, line_of(kn), "duplicate key \"%s\" (first set on line %d)", key, *first);
        *first = line_of(kn);
        if (load_value(src, row, cfg, vn, key) < 0)
            return -1;
    }
    return 0;
}

static int load_root(const struct source *src, struct pchat_config *cfg, const yaml_node_t *root)
{
    if (is_null(root))
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(src, line_of(root), "the file must be a mapping of sections such as \"frontend:\", "
                       "not %s", kind_of(root));
    int section_line[N_SECTIONS] = { 0 };
    char hint[CONFIG_KEY_MAX + 32];
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = node_at(src, p->key), *vn = node_at(src, p->value);
        int rc = -1;
        const char *name = key_text(src, kn, "at the top level", &rc);
        if (!name)
            return rc;
        size_t s = 0;
        while (s < N_SECTIONS && strcmp(config_sections[s], name) != 0)
            s++;
        if (s == N_SECTIONS) {
            suggest_key(name, hint, sizeof hint);
            return fail_unknown(src, line_of(kn), name, hint);
        }
        if (section_line[s])
            return fail_at(src, line_of(kn), "duplicate key \"%s\" (first set on line %d)", name,
                           section_line[s]);
        section_line[s] = line_of(kn);
        if (load_section(src, cfg, config_sections[s], vn) < 0)
            return -1;
    }
    return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: cannot read: out of memory", path);
        return -1;
    }
    errno = 0;
    size_t n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
    int read_errno = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (read_errno || n > CONFIG_FILE_MAX) {
        if (read_errno)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_errno));
        else
            snprintf(err, errlen, "%s: is larger than %d bytes; is it really a configuration file?",
                     path, CONFIG_FILE_MAX);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* ---- cross-key checks -------------------------------------------------------------------------- */

/* "<file>:<line>: ", "<file>: " or nothing, depending on what is known. */
static void finish_prefix(const struct pchat_config *cfg, const int *key_line, const char *a,
                          const char *b, char *out, size_t outlen)
{
    int line = 0;
    for (size_t i = 0; key_line && i < N_KEYS; i++)
        if ((strcmp(config_keys[i].name, a) == 0 || strcmp(config_keys[i].name, b) == 0) &&
            key_line[i] > line)
            line = key_line[i];
    if (cfg->path && line)
        snprintf(out, outlen, "%s:%d: ", cfg->path, line);
    else if (cfg->path)
        snprintf(out, outlen, "%s: ", cfg->path);
    else
        out[0] = '\0';
}

static int set_derived_uris(struct pchat_config *cfg, bool only_empty, const char *old_domain)
{
    for (size_t i = 0; i < ARRAY_LEN(derived_uris); i++) {
        char **slot = (char **)(void *)((char *)cfg + derived_uris[i].offset);
        if (only_empty && *slot && (*slot)[0] != '\0')
            continue;
        if (old_domain) {
            /* --set pool.domain moves URIs that still follow the old domain */
            char old[CONFIG_STRING_MAX + 32];
            snprintf(old, sizeof old, "sip:%s@%s", derived_uris[i].user, old_domain);
            if (*slot && (*slot)[0] != '\0' && strcmp(*slot, old) != 0)
                continue;
        }
        char *uri;
        if (asprintf(&uri, "sip:%s@%s", derived_uris[i].user, cfg->pool.domain) < 0)
            return -1;
        free(*slot);
        *slot = uri;
    }
    return 0;
}

static int finish_checks(struct pchat_config *cfg, const int *key_line, char *err, size_t errlen)
{
    char prefix[CONFIG_ERR_LEN / 2];
    for (size_t i = 0; i < ARRAY_LEN(order_rules); i++) {
        const struct order_rule *r = &order_rules[i];
        const struct config_key *lo = find_key(config_keys, N_KEYS, r->low);
        const struct config_key *hi = find_key(config_keys, N_KEYS, r->high);
        int low = *int_at(cfg, lo->offset), high = *int_at(cfg, hi->offset);
        if (r->strict ? low < high : low <= high)
            continue;
        finish_prefix(cfg, key_line, r->low, r->high, prefix, sizeof prefix);
        if (r->strict)
            snprintf(err, errlen, "%s%s (%d) must be greater than %s (%d), %s", prefix, r->high, high,
                     r->low, low, r->why);
        else
            snprintf(err, errlen, "%s%s (%d) must not be greater than %s (%d): %s", prefix, r->low,
                     low, r->high, high, r->why);
        return -1;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct config_key *row = &config_keys[i];
        if (row->type != KEY_RECORDS)
            continue;
        void *array = (char *)cfg + row->offset;
        int n = *int_at(cfg, row->count_offset);
        for (int j = 1; j < n; j++) {
            int twin = find_duplicate(row->record, array, j);
            if (twin < 0)
                continue;
            const struct config_key *uk = find_key(row->record->keys, row->record->n_keys, row->record->unique);
            char q[QUOTE_BUF];
            finish_prefix(cfg, key_line, row->name, row->name, prefix, sizeof prefix);
            snprintf(err, errlen, "%s%s[%d].%s %s is already used by %s[%d]", prefix, row->name, j,
                     row->record->unique, quoted(q, *string_slot(uk, record_at(row->record, array, j))),
                     row->name, twin);
            return -1;
        }
    }
    if (set_derived_uris(cfg, true, NULL) < 0) {
        snprintf(err, errlen, "deriving pool URIs: out of memory");
        return -1;
    }
    return 0;
}

/* ---- public interface -------------------------------------------------------------------------- */

/* "a, b,c" -> ["a", "b", "c"]; "" is the empty list. */
static int set_list_from_commas(const struct source *src, const struct config_key *row,
                                struct pchat_config *cfg, const char *text)
{
    char why[WHY_LEN], item_key[CONFIG_KEY_MAX];
    int n = 0;
    if (text[0] != '\0') {
        n = 1;
        for (const char *p = text; *p; p++)
            n += *p == ',';
    }
    if (n > row->max_count) {
        snprintf(why, sizeof why, "must have at most %d entries (got %d)", row->max_count, n);
        return fail_key(src, 0, row->name, why);
    }
    char *built[STRING_LIST_MAX] = { NULL };
    struct config_key item_row = *row;
    item_row.type = KEY_STRING;
    item_row.offset = 0;
    const char *p = text;
    for (int i = 0; i < n; i++) {
        const char *end = strchrnul(p, ',');
        const char *stop = end;
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        char *item = strndup(p, (size_t)(stop - p));
        bool ok = item && store_scalar(&item_row, &built[i], item, why, sizeof why);
        free(item);
        if (!ok) {
            free_strings(built, i + 1);
            snprintf(item_key, sizeof item_key, "%s[%d]", row->name, i);
            return fail_key(src, 0, item_key, item ? why : "could not be stored: out of memory");
        }
        p = end + 1;
    }
    commit_list(row, cfg, built, n);
    return 0;
}

/* Parse `text` as --set would for `row`: a scalar, a comma-separated list, or YAML flow text for
 * lists ("[a, b]") and lists of records ("[{id: fe2, router: ..., events: ...}]"). */
static int set_from_text(const struct source *src, const struct config_key *row, struct pchat_config *cfg,
                         const char *text)
{
    char why[WHY_LEN];
    if (row->type == KEY_STRING || row->type == KEY_INT || row->type == KEY_BOOL) {
        if (!store_scalar(row, cfg, text, why, sizeof why))
            return fail_key(src, 0, row->name, why);
        return 0;
    }
    size_t len = strlen(text);
    if (len > CONFIG_FILE_MAX)
        return fail_key(src, 0, row->name, "is too long");
    if (row->type == KEY_STRING_LIST && text[strspn(text, " \t")] != '[')
        return set_list_from_commas(src, row, cfg, text);
    yaml_document_t doc;
    if (parse_document(src, text, len, &doc) < 0)
        return -1;
    struct source in_doc = *src;
    in_doc.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc;
    if (root) {
        rc = load_value(&in_doc, row, cfg, root, row->name);
    } else {
        commit_list(row, cfg, NULL, 0);
        rc = 0;
    }
    yaml_document_delete(&doc);
    return rc;
}

void config_defaults(struct pchat_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_KEYS; i++) {
        char err[CONFIG_ERR_LEN];
        struct source src = { .set_key = config_keys[i].name, .err = err, .errlen = sizeof err };
        if (set_from_text(&src, &config_keys[i], cfg, config_keys[i].fallback) < 0) {
            /* a default outside its own rules is a bug in the table above */
            fprintf(stderr, "config.c: built-in default is invalid: %s\n", err);
            abort();
        }
    }
}

int config_load(const char *path, struct pchat_config *cfg, char *err, size_t errlen)
{
    char *text;
    size_t len;
    if (errlen > 0)
        err[0] = '\0';
    if (read_file(path, &text, &len, err, errlen) < 0)
        return -1;
    char *copy = strdup(path);
    if (!copy) {
        free(text);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    free(cfg->path);
    cfg->path = copy;

    int key_line[N_KEYS] = { 0 };
    yaml_document_t doc;
    struct source src = { .file = path, .doc = &doc, .err = err, .errlen = errlen, .key_line = key_line };
    int rc = parse_document(&src, text, len, &doc);
    if (rc == 0) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root)
            rc = load_root(&src, cfg, root);
        yaml_document_delete(&doc);
    }
    free(text);
    if (rc == 0)
        rc = finish_checks(cfg, key_line, err, errlen);
    return rc;
}

int config_set(struct pchat_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    struct source src = { .set_key = key ? key : "", .err = err, .errlen = errlen };
    if (errlen > 0)
        err[0] = '\0';
    if (!key || !value)
        return fail_at(&src, 0, "needs the form key=value");
    const struct config_key *row = find_key(config_keys, N_KEYS, key);
    if (!row) {
        char hint[CONFIG_KEY_MAX + 32];
        suggest_key(key, hint, sizeof hint);
        return fail_unknown(&src, 0, key, hint);
    }
    char *old_domain = NULL;
    if (strcmp(row->name, "pool.domain") == 0 && cfg->pool.domain && !(old_domain = strdup(cfg->pool.domain)))
        return fail_at(&src, 0, "out of memory");
    int rc = set_from_text(&src, row, cfg, value);
    if (rc == 0 && old_domain && set_derived_uris(cfg, false, old_domain) < 0)
        rc = fail_at(&src, 0, "out of memory");
    free(old_domain);
    return rc;
}

int config_finish(struct pchat_config *cfg, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    return finish_checks(cfg, NULL, err, errlen);
}

void config_free(struct pchat_config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct config_key *row = &config_keys[i];
        if (row->type == KEY_STRING) {
            free(*string_slot(row, cfg));
        } else if (row->type == KEY_STRING_LIST || row->type == KEY_RECORDS) {
            clear_list(row, cfg);
        }
    }
    free(cfg->path);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- --print-config ---------------------------------------------------------------------------- */

/* Double-quoted YAML; check_string keeps control characters out, so only " and \ need escapes. */
static void dump_string(const char *s, FILE *out)
{
    fputc('"', out);
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            fputc('\\', out);
        if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void dump_scalar(const struct config_key *row, const void *base, FILE *out)
{
    const void *at = field_c(base, row->offset);
    switch (row->type) {
    case KEY_INT: fprintf(out, "%d", *(const int *)at); break;
    case KEY_BOOL: fputs(*(const bool *)at ? "true" : "false", out); break;
    default: dump_string(*(char *const *)at, out); break;
    }
}

void config_dump(const struct pchat_config *cfg, FILE *out)
{
    const void *base = cfg;
    size_t section_len = 0;
    const char *section = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct config_key *row = &config_keys[i];
        const char *leaf = leaf_of(row->name);
        size_t len = (size_t)(leaf - 1 - row->name);
        if (!section || len != section_len || strncmp(section, row->name, len) != 0) {
            section = row->name;
            section_len = len;
            fprintf(out, "%.*s:\n", (int)len, section);
        }
        fprintf(out, "  %s:", leaf);
        if (row->type != KEY_STRING_LIST && row->type != KEY_RECORDS) {
            fputc(' ', out);
            dump_scalar(row, base, out);
            fputc('\n', out);
            continue;
        }
        int n = *(const int *)field_c(base, row->count_offset);
        fputs(n == 0 ? " []\n" : "\n", out);
        for (int j = 0; j < n; j++) {
            if (row->type == KEY_STRING_LIST) {
                fputs("    - ", out);
                dump_string(((char *const *)field_c(base, row->offset))[j], out);
                fputc('\n', out);
                continue;
            }
            const struct record_table *rt = row->record;
            const void *record = field_c(base, row->offset + (size_t)j * rt->size);
            for (size_t k = 0; k < rt->n_keys; k++) {
                fprintf(out, "%s%s: ", k == 0 ? "    - " : "      ", rt->keys[k].name);
                dump_scalar(&rt->keys[k], record, out);
                fputc('\n', out);
            }
            if (rt == &adapter_table) {
                const struct config_adapter *a = record;
                fputs(a->n_options == 0 ? "      options: {}\n" : "      options:\n", out);
                for (int o = 0; o < a->n_options; o++) {
                    fprintf(out, "        %s: ", a->options[o].key);
                    dump_string(a->options[o].value, out);
                    fputc('\n', out);
                }
            }
        }
    }
}
