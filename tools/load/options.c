/* options.c — pchat-load's command line: one table (name, argument, default, help, type,
 * range) that parses, applies the defaults and prints --help, so the three never disagree. */
#include "load.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum opt_type { OT_INT, OT_DOUBLE, OT_STR, OT_FLAG, OT_SPECIAL };

struct opt {
    const char *name;
    const char *arg;               /* NULL: a flag */
    const char *def;               /* default as text ("" = none) */
    const char *help;
    enum opt_type type;
    size_t off, size;
    double min, max;
    int (*special)(struct load_opts *o, const char *v, char *err, size_t errlen);
};

static int set_frontends(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    o->n_fe = 0;
    char buf[2048];
    if (strlen(v) >= sizeof buf) {
        snprintf(err, errlen, "--frontend is too long (at most %zu characters)", sizeof buf - 1);
        return -1;
    }
    strcpy(buf, v);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_fe == LOAD_MAX_FRONTENDS) {
            snprintf(err, errlen, "--frontend lists more than %d front ends", LOAD_MAX_FRONTENDS);
            return -1;
        }
        char *colon = strrchr(tok, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!colon || colon == tok || !end || *end || port < 1 || port > 65535
            || (size_t)(colon - tok) >= sizeof o->fe[0].host) {
            snprintf(err, errlen, "--frontend wants HOST:PORT[,HOST:PORT...] with ports 1-65535 (got '%s')", tok);
            return -1;
        }
        struct frontend_addr *f = &o->fe[o->n_fe++];
        snprintf(f->host, sizeof f->host, "%.*s", (int)(colon - tok), tok);
        f->port = (int)port;
    }
    if (o->n_fe == 0) {
        snprintf(err, errlen, "--frontend needs at least one HOST:PORT");
        return -1;
    }
    return 0;
}

static int set_rooms(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    o->n_rooms = 0;
    const char *p = v;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long size = strtol(p, &end, 10);
        if (end == p || (*end != 'x' && *end != 'X'))
            goto bad;
        p = end + 1;
        long count = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || errno)
            goto bad;
        if (size < 2 || size > LOAD_MAX_USERS || count < 1 || count > 100000) {
            snprintf(err, errlen, "--rooms: a room needs 2 to %d members and a count of 1 to 100000 (got %ldx%ld)",
                     LOAD_MAX_USERS, size, count);
            return -1;
        }
        if (o->n_rooms == LOAD_MAX_ROOM_SPECS) {
            snprintf(err, errlen, "--rooms lists more than %d sizes", LOAD_MAX_ROOM_SPECS);
            return -1;
        }
        o->rooms[o->n_rooms++] = (struct room_spec){ (int)size, (int)count };
        p = *end ? end + 1 : end;
    }
    if (o->n_rooms == 0 && *v) {
bad:
        snprintf(err, errlen, "--rooms wants SIZExCOUNT[,SIZExCOUNT...], e.g. 30x100,150x10,2000x1 (got '%s')", v);
        return -1;
    }
    return 0;
}

static int parse_ipv4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

static int set_sources(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    o->src_given = false;
    o->src_first = o->src_last = 0;
    if (!*v)
        return 0;
    char a[64], b[64];
    const char *dash = strchr(v, '-');
    if (strlen(v) >= sizeof a)
        goto bad;
    if (dash) {
        snprintf(a, sizeof a, "%.*s", (int)(dash - v), v);
        snprintf(b, sizeof b, "%s", dash + 1);
    } else {
        snprintf(a, sizeof a, "%s", v);
        snprintf(b, sizeof b, "%s", v);
    }
    if (parse_ipv4(a, &o->src_first) < 0 || parse_ipv4(b, &o->src_last) < 0
        || o->src_last < o->src_first)
        goto bad;
    if (o->src_last - o->src_first >= LOAD_MAX_SOURCES) {
        snprintf(err, errlen, "--source-addrs spans more than %d addresses", LOAD_MAX_SOURCES);
        return -1;
    }
    o->src_given = true;
    return 0;
bad:
    snprintf(err, errlen, "--source-addrs wants an IPv4 address or a range FIRST-LAST such as 127.0.0.2-127.0.0.50 (got '%s')", v);
    return -1;
}

static int set_arrivals(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    if (strcasecmp(v, "poisson") == 0)
        o->arrivals = ARRIVALS_POISSON;
    else if (strcasecmp(v, "uniform") == 0)
        o->arrivals = ARRIVALS_UNIFORM;
    else {
        snprintf(err, errlen, "--arrivals is poisson or uniform (got '%s')", v);
        return -1;
    }
    return 0;
}

static int set_seed(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-') {
        snprintf(err, errlen, "--seed wants a non-negative integer (got '%s')", v);
        return -1;
    }
    o->seed = s;
    return 0;
}

static int set_pids(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    o->n_pids = 0;
    const char *p = v;
    while (*p) {
        char *end = NULL;
        long pid = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || pid < 1 || pid > 4194304) {
            snprintf(err, errlen, "--pids wants PID[,PID...] (got '%s')", v);
            return -1;
        }
        if (o->n_pids == LOAD_MAX_PIDS) {
            snprintf(err, errlen, "--pids lists more than %d processes", LOAD_MAX_PIDS);
            return -1;
        }
        o->pids[o->n_pids++] = (int)pid;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int set_progress(struct load_opts *o, const char *v, char *err, size_t errlen)
{
    if (strcasecmp(v, "auto") == 0)
        o->progress = -1;
    else if (strcasecmp(v, "on") == 0)
        o->progress = 1;
    else if (strcasecmp(v, "off") == 0)
        o->progress = 0;
    else {
        snprintf(err, errlen, "--progress is auto, on or off (got '%s')", v);
        return -1;
    }
    return 0;
}

#define O(field) offsetof(struct load_opts, field), sizeof(((struct load_opts *)0)->field)

static const struct opt opts[] = {
    { "frontend", "HOST:PORT[,...]", "127.0.0.1:5060",
      "front ends to sign in to; users are spread over them in turn", OT_SPECIAL, 0, 0, 0, 0, set_frontends },
    { "domain", "DOMAIN", "example.com", "SIP domain of the users and of the rooms' URIs",
      OT_STR, O(domain), 0, 0, NULL },
    { "users", "N", "50", "users to sign in (user00001@DOMAIN, ...)", OT_INT, O(users), 1, LOAD_MAX_USERS, NULL },
    { "first-user", "K", "1", "number of the first user (several tools can share a pool)",
      OT_INT, O(first_user), 0, 99999999, NULL },
    { "user-prefix", "TEXT", "user", "user names are TEXT followed by a 5-digit number",
      OT_STR, O(user_prefix), 0, 0, NULL },
    { "rooms", "SIZExCOUNT[,...]", "10x5",
      "rooms and their sizes, e.g. 30x100,150x10,2000x1; members are taken from the users in turn",
      OT_SPECIAL, 0, 0, 0, 0, set_rooms },
    { "room-prefix", "TEXT", "load", "rooms are named TEXT-SIZE-NNNN (load-30-0001)",
      OT_STR, O(room_prefix), 0, 0, NULL },
    { "setup-rooms", "CONNINFO", "",
      "create the rooms (and what they need: category, policy) in this chat store first; "
      "without it the rooms must exist and are found with cmd:chansrch",
      OT_STR, O(setup_conninfo), 0, 0, NULL },
    { "signin-rate", "PER_S", "200", "sign-ins started per second", OT_DOUBLE, O(signin_rate), 0.1, 100000, NULL },
    { "signin-concurrency", "N", "100", "sign-ins (with their room joins) in progress at once",
      OT_INT, O(signin_concurrency), 1, 100000, NULL },
    { "step-timeout", "MS", "10000", "time allowed for each sign-in step", OT_INT, O(step_timeout_ms), 100, 600000, NULL },
    { "setup-timeout", "S", "300", "time allowed for the whole set-up phase", OT_INT, O(setup_timeout_s), 1, 86400, NULL },
    { "source-addrs", "A[-B]", "",
      "source IPv4 addresses to connect from, used in turn as each runs out of ports; "
      "default: the kernel's choice, then 127.0.0.2, 127.0.0.3, ... on EADDRNOTAVAIL",
      OT_SPECIAL, 0, 0, 0, 0, set_sources },
    { "duration", "S", "10", "length of the open-loop schedule", OT_DOUBLE, O(duration_s), 0, 86400, NULL },
    { "post-rate", "PER_S", "10", "posts (grpchat) per second", OT_DOUBLE, O(rate[RK_POST]), 0, 1000000, NULL },
    { "join-rate", "PER_S", "0", "re-joins per second (cmd:part, then cmd:join of the same room)",
      OT_DOUBLE, O(rate[RK_JOIN]), 0, 1000000, NULL },
    { "history-rate", "PER_S", "0", "history reads (cmd:bccontext) per second",
      OT_DOUBLE, O(rate[RK_HISTORY]), 0, 1000000, NULL },
    { "search-rate", "PER_S", "0", "room searches (cmd:chansrch) per second",
      OT_DOUBLE, O(rate[RK_SEARCH]), 0, 1000000, NULL },
    { "arrivals", "poisson|uniform", "poisson", "spacing of the scheduled events", OT_SPECIAL, 0, 0, 0, 0, set_arrivals },
    { "seed", "N", "0", "seed of every random choice (0: from the clock; the report shows it)",
      OT_SPECIAL, 0, 0, 0, 0, set_seed },
    { "post-size", "BYTES", "100", "length of each post's text (at least 48)", OT_INT, O(post_size), 48, 60000, NULL },
    { "history-count", "N", "25", "messages asked for by each history read", OT_INT, O(history_count), 1, 10000, NULL },
    { "search-criteria", "TEXT", "", "room search text (\"\" lists every room, as SIPE does)",
      OT_STR, O(search_criteria), 0, 0, NULL },
    { "no-retry", NULL, "", "ignore Retry-After: a 503 fails the request (a pidgin-sipe-like client)",
      OT_FLAG, O(no_retry), 0, 0, NULL },
    { "max-retries", "N", "3", "retries of a request answered 503 (after its Retry-After)",
      OT_INT, O(max_retries), 0, 15, NULL },
    { "retry-after-default", "S", "5", "wait after a 503 without Retry-After", OT_INT, O(retry_after_default_s), 0, 3600, NULL },
    { "timeout", "MS", "10000", "a request without a final answer (or a command without its rpl) "
      "this long counts as timed out", OT_INT, O(timeout_ms), 100, 600000, NULL },
    { "drain", "S", "5", "after the schedule: time allowed for outstanding answers and deliveries",
      OT_DOUBLE, O(drain_s), 0, 3600, NULL },
    { "user-agent", "TEXT", "",
      "User-Agent of every user; default: a Lync-like retrying client, or pidgin-sipe's with --no-retry",
      OT_STR, O(user_agent), 0, 0, NULL },
    { "no-join-history", NULL, "", "do not send SIPE's cmd:bccontext (last 25) after each join",
      OT_FLAG, O(no_join_history), 0, 0, NULL },
    { "sofia-check", NULL, "", "also re-parse every received message with sofia-sip (costs CPU)",
      OT_FLAG, O(sofia_check), 0, 0, NULL },
    { "pids", "PID[,...]", "", "pool processes whose memory (VmRSS, VmHWM) is reported", OT_SPECIAL, 0, 0, 0, 0, set_pids },
    { "pool-pidfile-dir", "DIR", "", "read the pool's pids from DIR/*.pid (make run: var/run)",
      OT_STR, O(pidfile_dir), 0, 0, NULL },
    { "json", "FILE|-", "", "write every figure as JSON (docs/load-testing.md) to FILE or stdout",
      OT_STR, O(json_path), 0, 0, NULL },
    { "progress", "auto|on|off", "auto", "a line per second on stderr (auto: when it is a terminal)",
      OT_SPECIAL, 0, 0, 0, 0, set_progress },
    { "signout", NULL, "", "sign every user out the SIPE way at the end (default: just disconnect)",
      OT_FLAG, O(signout), 0, 0, NULL },
    { "max-outstanding", "N", "100000", "requests in flight (or waiting to retry) before new events are dropped",
      OT_INT, O(max_outstanding), 16, 10000000, NULL },
};
#define N_OPTS (sizeof opts / sizeof opts[0])

static int apply(struct load_opts *o, const struct opt *d, const char *v, char *err, size_t errlen)
{
    char *base = (char *)o;
    char *end = NULL;
    switch (d->type) {
    case OT_INT: {
        errno = 0;
        long n = strtol(v, &end, 10);
        if (!*v || *end || errno || n < (long)d->min || n > (long)d->max) {
            snprintf(err, errlen, "--%s wants a whole number from %.0f to %.0f (got '%s')", d->name, d->min, d->max, v);
            return -1;
        }
        *(int *)(base + d->off) = (int)n;
        return 0;
    }
    case OT_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x) || x < d->min || x > d->max) {
            snprintf(err, errlen, "--%s wants a number from %g to %g (got '%s')", d->name, d->min, d->max, v);
            return -1;
        }
        *(double *)(base + d->off) = x;
        return 0;
    }
    case OT_STR:
        if (strlen(v) >= d->size) {
            snprintf(err, errlen, "--%s is longer than %zu characters", d->name, d->size - 1);
            return -1;
        }
        snprintf(base + d->off, d->size, "%s", v);
        return 0;
    case OT_FLAG:
        *(bool *)(base + d->off) = true;
        return 0;
    case OT_SPECIAL:
        return d->special(o, v, err, errlen);
    }
    return -1;
}

static int check_name_chars(const char *what, const char *v, const char *extra, char *err, size_t errlen)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(extra, *p)) {
            snprintf(err, errlen, "%s '%s' may hold only letters, digits and '%s'", what, v, extra);
            return -1;
        }
    if (!*v) {
        snprintf(err, errlen, "%s must not be empty", what);
        return -1;
    }
    return 0;
}

static int finish(struct load_opts *o, char *err, size_t errlen)
{
    if (check_name_chars("--domain", o->domain, ".-", err, errlen) < 0
        || check_name_chars("--user-prefix", o->user_prefix, "._-", err, errlen) < 0
        || check_name_chars("--room-prefix", o->room_prefix, "._-", err, errlen) < 0)
        return -1;
    for (int i = 0; i < o->n_rooms; i++)
        if (o->rooms[i].size > o->users) {
            snprintf(err, errlen, "--rooms asks for rooms of %d members but there are only %d users (--users)",
                     o->rooms[i].size, o->users);
            return -1;
        }
    if (o->first_user == 0)
        o->first_user = 1;
    if ((long long)o->first_user + o->users - 1 > 99999999LL) {
        snprintf(err, errlen, "--first-user + --users must stay below 100000000");
        return -1;
    }
    for (int k = 0; k < RK_SCHEDULED; k++)
        if (o->rate[k] > 0 && o->duration_s <= 0) {
            snprintf(err, errlen, "rates are given but --duration is 0");
            return -1;
        }
    if (o->rate[RK_POST] + o->rate[RK_JOIN] + o->rate[RK_HISTORY] > 0 && o->n_rooms == 0) {
        snprintf(err, errlen, "posts, joins and history reads need rooms (--rooms)");
        return -1;
    }
    return 0;
}

int options_parse(struct load_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].arg && apply(o, &opts[i], opts[i].def, err, errlen) < 0)
            return -1;      /* a default that does not parse is a bug in the table */

    /* the command line for the report, with the store's conninfo (it may hold a password) left out */
    size_t line_len = 1;
    for (int i = 0; i < argc; i++)
        line_len += strlen(argv[i]) + 16;
    o->argv_line = calloc(1, line_len);
    for (int i = 0; o->argv_line && i < argc; i++) {
        bool secret = i > 0 && strcmp(argv[i - 1], "--setup-rooms") == 0;
        if (i)
            strcat(o->argv_line, " ");
        if (strncmp(argv[i], "--setup-rooms=", 14) == 0)
            strcat(o->argv_line, "--setup-rooms=CONNINFO");
        else
            strcat(o->argv_line, secret ? "CONNINFO" : argv[i]);
    }

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --; see --help)", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *d = NULL;
        for (size_t k = 0; k < N_OPTS; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                d = &opts[k];
        if (!d) {
            snprintf(err, errlen, "unknown option '%.*s' (see --help)", (int)(nlen + 2), a);
            return -1;
        }
        const char *v;
        if (!d->arg) {
            if (eq) {
                snprintf(err, errlen, "--%s takes no value", d->name);
                return -1;
            }
            v = "";
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            snprintf(err, errlen, "--%s needs a value (%s)", d->name, d->arg);
            return -1;
        }
        if (apply(o, d, v, err, errlen) < 0)
            return -1;
    }
    return finish(o, err, errlen);
}

void options_free(struct load_opts *o)
{
    free(o->argv_line);
    o->argv_line = NULL;
}

void options_help(FILE *f)
{
    fprintf(f,
            "usage: pchat-load [OPTION]...\n"
            "\n"
            "Signs in many SIPE-like users to a pchat pool, joins them to rooms, runs an open-loop\n"
            "schedule of posts, re-joins, history reads and searches, and reports throughput,\n"
            "503s, timeouts, latency percentiles, deliveries, losses and the pool's memory.\n"
            "docs/load-testing.md explains every figure and the --json schema.\n"
            "\n"
            "Options (default in brackets):\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *d = &opts[i];
        char head[96], text[600];
        snprintf(head, sizeof head, "--%s%s%s", d->name, d->arg ? " " : "", d->arg ? d->arg : "");
        snprintf(text, sizeof text, "%s [%s]", d->help, d->arg ? (d->def[0] ? d->def : "none") : "off");
        /* words wrapped at 100 columns under the help column */
        fprintf(f, "  %-32s", head);
        int col = 34;
        for (const char *w = text; *w;) {
            size_t n = strcspn(w, " ");
            if (col > 34 && col + 1 + (int)n > 100) {
                fprintf(f, "\n%34s", "");
                col = 34;
            }
            fprintf(f, " %.*s", (int)n, w);
            col += (int)n + 1;
            w += n;
            while (*w == ' ')
                w++;
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-32s  %s\n", "-h, --help", "this text");
    fprintf(f,
            "\n"
            "Exit status: 0 when the run completed (losses and failures are reported, not fatal),\n"
            "1 when it could not run (no user signed in, store or rooms unusable), 2 on usage errors.\n");
}

const char *req_kind_name(enum req_kind k)
{
    static const char *const names[RK__COUNT] = {
        [RK_POST] = "post", [RK_JOIN] = "join", [RK_HISTORY] = "history", [RK_SEARCH] = "search",
        [RK_PART] = "part", [RK_SETUP_JOIN] = "setup_join",
    };
    return (unsigned)k < RK__COUNT ? names[k] : "?";
}
