/* t41_authz_matrix.c — the Lync room model seen by SIPE-like clients over real SIP: a table of
 * what each role may do (search, join, post, history, part) in open, closed and secret rooms,
 * normal and auditorium, checked cell by cell; then the chat policy switch, a category without
 * history, and operator changes that take people out of rooms while they are in them.
 *
 * Run by t41_authz_matrix.t, which starts the pool; rooms, roles and policies are made here
 * with pchatctl ($PCHATCTL -c $POOL_CONFIG) so the table below is the one source of truth. */
#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "itest.h"

extern char **environ;

#define WAIT_MS 10000
#define SETTLE_MS 1000          /* a delivery that has not come by then is not coming */
#define N_SEEDS 2               /* posts in every room before anyone else joins */

/* ---- the table ----------------------------------------------------------------------------- */

enum role { NONE, MEMBER, PRESENTER, PRESENTER_ONLY, MANAGER, DENIED, DENIED_MEMBER, N_ROLES };

static const struct role_def {
    const char *name;
    bool member, presenter, manager;     /* held in every matrix room */
    bool denied;                         /* named in the category's denied list, after the grants */
    const char *about;
} roles[N_ROLES] = {
    [NONE] = { "none", false, false, false, false, "in the category's scope, no role" },
    [MEMBER] = { "member", true, false, false, false, "member" },
    [PRESENTER] = { "presenter", true, true, false, false,
                    "member and presenter (Lync: a presenter must also be a member)" },
    [PRESENTER_ONLY] = { "presenter-only", false, true, false, false, "presenter, not a member" },
    [MANAGER] = { "manager", false, false, true, false,
                  "manager, not a member (Lync: managing a room is not being in it)" },
    [DENIED] = { "denied", false, false, false, true, "denied by the category, no role" },
    [DENIED_MEMBER] = { "denied-member", true, true, false, true,
                        "member and presenter, then denied by the category (inert grants)" },
};

enum privacy { OPEN, CLOSED, SECRET, N_PRIVACY };
enum kind { NORMAL, AUDITORIUM, N_KINDS };
static const char *const privacy_name[N_PRIVACY] = { "open", "closed", "secret" };
static const char *const kind_name[N_KINDS] = { "normal", "auditorium" };

enum command { SEARCH, JOIN, POST, HISTORY, PART, N_COMMANDS };
static const char *const command_name[N_COMMANDS] = { "search", "join", "post", "history", "part" };

enum { HIDDEN = 0, LISTED = 1 };        /* search: is the room in rpl:chansrch */
enum { EMPTY = 0, POSTS = 1 };          /* history: empty chanib, or the room's posts */

/* What the room model allows (anchors.md §1.2, docs/operations.md). join: resp code of
 * rpl:join. post: SIP answer to the grpchat INFO, 200 meaning stored and delivered to the
 * room; a session that did not get in may not post. part: rpl:part code, always 200 with the
 * room's URI echoed so the client forgets the room. */
static const struct cell_row {
    enum role role;
    enum privacy privacy;
    enum kind kind;
    int search, join, post, history, part;
} matrix[] = {
    /* role            privacy kind         search  join post history part */
    { NONE,            OPEN,   NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { NONE,            OPEN,   AUDITORIUM,  LISTED, 200, 403, POSTS, 200 },
    { NONE,            CLOSED, NORMAL,      LISTED, 403, 403, EMPTY, 200 },
    { NONE,            CLOSED, AUDITORIUM,  LISTED, 403, 403, EMPTY, 200 },
    { NONE,            SECRET, NORMAL,      HIDDEN, 404, 403, EMPTY, 200 },
    { NONE,            SECRET, AUDITORIUM,  HIDDEN, 404, 403, EMPTY, 200 },

    { MEMBER,          OPEN,   NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { MEMBER,          OPEN,   AUDITORIUM,  LISTED, 200, 403, POSTS, 200 },
    { MEMBER,          CLOSED, NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { MEMBER,          CLOSED, AUDITORIUM,  LISTED, 200, 403, POSTS, 200 },
    { MEMBER,          SECRET, NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { MEMBER,          SECRET, AUDITORIUM,  LISTED, 200, 403, POSTS, 200 },

    { PRESENTER,       OPEN,   NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { PRESENTER,       OPEN,   AUDITORIUM,  LISTED, 200, 200, POSTS, 200 },
    { PRESENTER,       CLOSED, NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { PRESENTER,       CLOSED, AUDITORIUM,  LISTED, 200, 200, POSTS, 200 },
    { PRESENTER,       SECRET, NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { PRESENTER,       SECRET, AUDITORIUM,  LISTED, 200, 200, POSTS, 200 },

    { PRESENTER_ONLY,  OPEN,   NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { PRESENTER_ONLY,  OPEN,   AUDITORIUM,  LISTED, 200, 200, POSTS, 200 },
    { PRESENTER_ONLY,  CLOSED, NORMAL,      LISTED, 403, 403, EMPTY, 200 },
    { PRESENTER_ONLY,  CLOSED, AUDITORIUM,  LISTED, 403, 403, EMPTY, 200 },
    { PRESENTER_ONLY,  SECRET, NORMAL,      HIDDEN, 404, 403, EMPTY, 200 },
    { PRESENTER_ONLY,  SECRET, AUDITORIUM,  HIDDEN, 404, 403, EMPTY, 200 },

    { MANAGER,         OPEN,   NORMAL,      LISTED, 200, 200, POSTS, 200 },
    { MANAGER,         OPEN,   AUDITORIUM,  LISTED, 200, 403, POSTS, 200 },
    { MANAGER,         CLOSED, NORMAL,      LISTED, 403, 403, EMPTY, 200 },
    { MANAGER,         CLOSED, AUDITORIUM,  LISTED, 403, 403, EMPTY, 200 },
    { MANAGER,         SECRET, NORMAL,      HIDDEN, 404, 403, EMPTY, 200 },
    { MANAGER,         SECRET, AUDITORIUM,  HIDDEN, 404, 403, EMPTY, 200 },

    { DENIED,          OPEN,   NORMAL,      HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED,          OPEN,   AUDITORIUM,  HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED,          CLOSED, NORMAL,      HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED,          CLOSED, AUDITORIUM,  HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED,          SECRET, NORMAL,      HIDDEN, 404, 403, EMPTY, 200 },
    { DENIED,          SECRET, AUDITORIUM,  HIDDEN, 404, 403, EMPTY, 200 },

    { DENIED_MEMBER,   OPEN,   NORMAL,      HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED_MEMBER,   OPEN,   AUDITORIUM,  HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED_MEMBER,   CLOSED, NORMAL,      HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED_MEMBER,   CLOSED, AUDITORIUM,  HIDDEN, 403, 403, EMPTY, 200 },
    { DENIED_MEMBER,   SECRET, NORMAL,      HIDDEN, 404, 403, EMPTY, 200 },
    { DENIED_MEMBER,   SECRET, AUDITORIUM,  HIDDEN, 404, 403, EMPTY, 200 },
};
#define N_ROWS ((int)(sizeof matrix / sizeof matrix[0]))

/* ---- the pool: pchatctl and the store ------------------------------------------------------ */

static struct itest_args args;
static const char *pchatctl_path, *pool_config;
static char ctl_log[512];
static PGconn *db;

static void log_tail_diag(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[2048];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    diag("  last lines of %s:\n%s", path, buf);
}

/* pchatctl -c $POOL_CONFIG ARGS... (NULL-terminated); the set-up cannot go on if it fails. */
static void ctl(const char *first, ...)
{
    const char *argv[48];
    int n = 0;
    argv[n++] = pchatctl_path;
    argv[n++] = "-c";
    argv[n++] = pool_config;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        if (n == 46)
            bail_out("ctl(): too many pchatctl arguments");
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;

    FILE *log = fopen(ctl_log, "a");
    if (log) {
        fputs("$ pchatctl", log);
        for (int i = 3; i < n; i++)
            fprintf(log, " '%s'", argv[i]);
        fputc('\n', log);
        fclose(log);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, ctl_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, pchatctl_path, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) < 0)
        rc = -1;
    if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        diag("pchatctl %s %s ... failed (spawn %d, wait status %d)", argv[3], n > 4 ? argv[4] : "",
             rc, status);
        log_tail_diag(ctl_log);
        bail_out("the set-up with pchatctl failed; see the diagnostics above");
    }
}

static void room_uri_of(const char *name, char *out, size_t outlen)
{
    const char *p[] = { name };
    PGresult *r = PQexecParams(db, "SELECT guid FROM rooms WHERE lower(name) = lower($1)", 1, NULL,
                               p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        diag("looking up room '%s': %s", name, PQerrorMessage(db));
        PQclear(r);
        bail_out("a room pchatctl created is not in the store");
    }
    snprintf(out, outlen, "ma-chan://%s/%s", args.domain, PQgetvalue(r, 0, 0));
    PQclear(r);
}

/* ---- waiting for what the server sends ------------------------------------------------------ */

static int answer_of(struct sc_user *u, uint32_t cseq)
{
    if (!cseq)
        return 0;
    struct sc_event *ev = sc_wait_answer(u, cseq, WAIT_MS);
    int s = ev ? ev->status : 0;
    sc_event_free(ev);
    return s;
}

struct reply_match {
    const char *xid;
    uint32_t envid;
};

static bool is_reply(const struct sc_event *ev, void *arg)
{
    const struct reply_match *m = arg;
    if (ev->kind != SC_EV_SERVER_INFO || strcasecmp(ev->xid, m->xid) != 0 || !ev->item)
        return false;
    const struct xnode *c = xnode_child(ev->item, "commandid");
    const char *e = c ? xnode_attr(c, "envid") : NULL;
    return e && strtoul(e, NULL, 10) == m->envid;
}

/* Send a command (its INFO answered 200) and take its reply; NULL when none came. */
static struct sc_event *command(struct sc_user *u, uint32_t cseq, const char *xid)
{
    struct reply_match m = { xid, sc_user_last_envid(u) };
    if (!cseq)
        return NULL;
    int s = answer_of(u, cseq);
    if (s != 200)
        diag("  %s: the INFO carrying the command for %s was answered %d", sc_user_uri(u), xid, s);
    return sc_wait_for(u, is_reply, &m, WAIT_MS);
}

struct post_match {
    const char *room;
    const char *text;           /* exact text, or NULL for any */
    const char *author;         /* or NULL for any */
};

static bool is_post(const struct sc_event *ev, void *arg)
{
    const struct post_match *pm = arg;
    struct sc_post p;
    return ev->kind == SC_EV_SERVER_INFO && strcmp(ev->xid, "grpchat") == 0 && sc_post_of(ev->item, &p) &&
           strcmp(p.chan_uri, pm->room) == 0 && p.text && (!pm->text || strcmp(p.text, pm->text) == 0) &&
           (!pm->author || strcasecmp(p.author, pm->author) == 0);
}

struct part_match {
    const char *room;
    const char *user;
};

static bool is_ntc_part(const struct sc_event *ev, void *arg)
{
    const struct part_match *pm = arg;
    if (ev->kind != SC_EV_SERVER_INFO || strcasecmp(ev->xid, "ntc:part") != 0 || !ev->item)
        return false;
    const struct xnode *data = xnode_child(ev->item, "data");
    const struct xnode *ch = data ? xnode_child(data, "chanib") : NULL;
    const struct xnode *uib = ch ? xnode_child(ch, "uib") : NULL;
    return uib && xnode_attr(ch, "uri") && strcmp(xnode_attr(ch, "uri"), pm->room) == 0 &&
           xnode_attr(uib, "uri") && strcasecmp(xnode_attr(uib, "uri"), pm->user) == 0;
}

static bool is_ntc_join(const struct sc_event *ev, void *arg)
{
    (void)arg;
    return ev->kind == SC_EV_SERVER_INFO && strcasecmp(ev->xid, "ntc:join") == 0;
}

/* Room traffic of one room (grpchat, ntc:join/part naming it) still queued: taken and counted. */
static bool is_traffic_of(const struct sc_event *ev, void *arg)
{
    const char *room = arg;
    if (ev->kind != SC_EV_SERVER_INFO || !ev->item)
        return false;
    if (strcmp(ev->xid, "grpchat") == 0) {
        const char *c = xnode_attr(ev->item, "chanUri");
        return c && strcmp(c, room) == 0;
    }
    if (strncasecmp(ev->xid, "ntc:", 4) != 0)
        return false;
    return ev->raw && strstr(ev->raw, room) != NULL;
}

static int count_taken(struct sc_user *u, sc_event_pred pred, void *arg, const char *why)
{
    int n = 0;
    struct sc_event *ev;
    while ((ev = sc_wait_for(u, pred, arg, 0))) {
        if (n++ < 3 && why)
            diag("  %s got (%s): %.400s", sc_user_uri(u), why, ev->raw ? ev->raw : "");
        sc_event_free(ev);
    }
    return n;
}

/* The rooms a rpl:chansrch lists. */
static bool chansrch_lists(const struct sc_event *rpl, const char *room_uri)
{
    const struct xnode *data = rpl && rpl->item ? xnode_child(rpl->item, "data") : NULL;
    for (const struct xnode *c = data ? xnode_child(data, "chanib") : NULL; c; c = xnode_next(c, "chanib"))
        if (xnode_attr(c, "uri") && strcmp(xnode_attr(c, "uri"), room_uri) == 0)
            return true;
    return false;
}

static struct sc_event *search(struct sc_user *u, const char *criteria)
{
    return command(u, sc_user_chansrch(u, criteria), "rpl:chansrch");
}

/* The grpchat msg entries of a rpl:bccontext; texts[] gets up to max of them. */
static int history_of(const struct sc_event *rpl, const char *room_uri, const char **texts, int max,
                      bool *all_of_room)
{
    const struct xnode *data = rpl && rpl->item ? xnode_child(rpl->item, "data") : NULL;
    const struct xnode *ch = data ? xnode_child(data, "chanib") : NULL;
    int n = 0;
    *all_of_room = true;
    for (const struct xnode *m = ch ? xnode_child(ch, "msg") : NULL; m; m = xnode_next(m, "msg")) {
        struct sc_post p;
        if (!xnode_attr(m, "id") || strcmp(xnode_attr(m, "id"), "grpchat") != 0)
            continue;
        if (!sc_post_of(m, &p) || strcmp(p.chan_uri, room_uri) != 0)
            *all_of_room = false;
        if (n < max)
            texts[n] = p.text ? p.text : "";
        n++;
    }
    return n;
}

static struct sc_event *history(struct sc_user *u, const char *room_uri, int count)
{
    return command(u, sc_user_bccontext(u, room_uri, count), "rpl:bccontext");
}

static bool chanib_echoes(const struct sc_event *rpl, const char *room_uri)
{
    const struct xnode *data = rpl && rpl->item ? xnode_child(rpl->item, "data") : NULL;
    const struct xnode *ch = data ? xnode_child(data, "chanib") : NULL;
    return ch && xnode_attr(ch, "uri") && strcmp(xnode_attr(ch, "uri"), room_uri) == 0;
}

static int join_code(struct sc_user *u, const char *room_uri, char *raw, size_t rawlen)
{
    struct sc_event *ev = command(u, sc_user_join(u, room_uri), "rpl:join");
    int code = ev ? ev->resp_code : 0;
    if (raw)
        snprintf(raw, rawlen, "%s", ev && ev->raw ? ev->raw : "(no rpl:join)");
    sc_event_free(ev);
    return code;
}

/* Violations other than the rpl:part for a room not joined that this test provokes on
 * purpose (SIPE only parts rooms it has open; the server echoes every part, PROTOCOL §4). */
static bool no_unexpected_violations(const struct sc_user *u)
{
    int n = sc_user_violations_stored(u), bad = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(sc_user_violation(u, i), "rpl:part names room", 19) != 0 && bad++ < 5)
            diag("  %s: %s", sc_user_uri(u), sc_user_violation(u, i));
    bad += sc_user_violation_count(u) - n;   /* not stored: counted as unexpected */
    return ok(bad == 0, "%s saw no protocol violation besides rpl:part for rooms it was refused",
              sc_user_uri(u));
}

/* ---- the matrix ---------------------------------------------------------------------------- */

struct room {
    char name[160];
    char uri[200];
};
static struct room matrix_rooms[N_PRIVACY][N_KINDS];
static char matrix_prefix[64];

struct outcome {
    bool listed;
    int join;
    char join_raw[1200];
    int hist_n;
    bool hist_of_room, hist_seeds;
    char hist_raw[1200];
    char post_text[160];
    int post_status;
    char post_raw[600];
    int echoes, seen_by_host, stored, foreign;
    int part;
    bool part_echo;
};
static struct outcome outcomes[N_ROWS];

static void seed_text(char *out, size_t len, const struct room *r, int i)
{
    if (snprintf(out, len, "t41-%s seed %d of %s", args.run_id, i, r->name) >= (int)len)
        bail_out("a seed text does not fit its buffer");
}

static void make_matrix_rooms(struct sc_user *host, struct sc_user *const *users)
{
    char category[80], domain_principal[300];
    snprintf(matrix_prefix, sizeof matrix_prefix, "t41m-%s", args.run_id);
    snprintf(category, sizeof category, "t41 matrix %s", args.run_id);
    snprintf(domain_principal, sizeof domain_principal, "domain:%s", args.domain);
    ctl("category", "new", category, "--allow", domain_principal, NULL);
    for (int p = 0; p < N_PRIVACY; p++) {
        for (int k = 0; k < N_KINDS; k++) {
            struct room *r = &matrix_rooms[p][k];
            snprintf(r->name, sizeof r->name, "%s %s %s", matrix_prefix, privacy_name[p], kind_name[k]);
            ctl("room", "new", r->name, "--category", category, "--privacy", privacy_name[p], "--type",
                kind_name[k], NULL);
            room_uri_of(r->name, r->uri, sizeof r->uri);
            ctl("room", "set", r->name, "--add-member", sc_user_uri(host), "--add-presenter",
                sc_user_uri(host), NULL);
            for (int i = 0; i < N_ROLES; i++) {
                const char *who = sc_user_uri(users[i]);
                if (roles[i].member)
                    ctl("room", "set", r->name, "--add-member", who, NULL);
                if (roles[i].presenter)
                    ctl("room", "set", r->name, "--add-presenter", who, NULL);
                if (roles[i].manager)
                    ctl("room", "set", r->name, "--add-manager", who, NULL);
            }
        }
    }
    /* the wall goes up after the grants: a denied member keeps grants that must be inert */
    for (int i = 0; i < N_ROLES; i++)
        if (roles[i].denied)
            ctl("category", "set", category, "--add-denied", sc_user_uri(users[i]), NULL);
}

/* The host, member and presenter everywhere, joins every room, posts the seeds and stays: it
 * is the witness of what each cell's post did. */
static bool host_seeds_rooms(struct sc_user *host)
{
    bool all = true;
    for (int p = 0; p < N_PRIVACY; p++) {
        for (int k = 0; k < N_KINDS; k++) {
            struct room *r = &matrix_rooms[p][k];
            char raw[600];
            int code = join_code(host, r->uri, raw, sizeof raw);
            if (code != 200) {
                diag("  host join of %s: %s", r->name, raw);
                all = false;
                continue;
            }
            for (int i = 1; i <= N_SEEDS; i++) {
                char text[200];
                seed_text(text, sizeof text, r, i);
                int s = answer_of(host, sc_user_post(host, r->uri, text));
                struct post_match pm = { r->uri, text, NULL };
                struct sc_event *echo = sc_wait_for(host, is_post, &pm, WAIT_MS);
                if (s != 200 || !echo) {
                    diag("  host seed post in %s: answer %d, echo %s", r->name, s, echo ? "yes" : "no");
                    all = false;
                }
                sc_event_free(echo);
            }
        }
    }
    return all;
}

static void run_row(struct sc_user *u, int row_index)
{
    const struct cell_row *row = &matrix[row_index];
    const struct room *r = &matrix_rooms[row->privacy][row->kind];
    struct outcome *o = &outcomes[row_index];

    o->join = join_code(u, r->uri, o->join_raw, sizeof o->join_raw);

    struct sc_event *h = history(u, r->uri, 25);
    const char *texts[N_SEEDS] = { 0 };
    o->hist_n = history_of(h, r->uri, texts, N_SEEDS, &o->hist_of_room);
    o->hist_of_room = o->hist_of_room && h && h->resp_code == 200 && chanib_echoes(h, r->uri);
    o->hist_seeds = o->hist_n >= N_SEEDS;
    for (int i = 0; i < N_SEEDS && o->hist_seeds; i++) {
        char want[200];
        seed_text(want, sizeof want, r, i + 1);
        o->hist_seeds = texts[i] && strcmp(texts[i], want) == 0;
    }
    snprintf(o->hist_raw, sizeof o->hist_raw, "%s", h && h->raw ? h->raw : "(no rpl:bccontext)");
    sc_event_free(h);

    snprintf(o->post_text, sizeof o->post_text, "t41-%s post of %s in %s %s", args.run_id,
             roles[row->role].name, privacy_name[row->privacy], kind_name[row->kind]);
    uint32_t cseq = sc_user_post(u, r->uri, o->post_text);
    struct sc_event *ans = cseq ? sc_wait_answer(u, cseq, WAIT_MS) : NULL;
    o->post_status = ans ? ans->status : 0;
    snprintf(o->post_raw, sizeof o->post_raw, "%.*s", ans && ans->raw ? (int)strcspn(ans->raw, "\r\n") : 0,
             ans && ans->raw ? ans->raw : "");
    sc_event_free(ans);

    struct sc_event *pr = command(u, sc_user_part(u, r->uri), "rpl:part");
    o->part = pr ? pr->resp_code : 0;
    o->part_echo = chanib_echoes(pr, r->uri);
    sc_event_free(pr);
}

/* After every row: what each user and the host received, and what the store kept. */
static void collect_deliveries(struct sc_loop *loop, struct sc_user *host, struct sc_user *const *users)
{
    /* an accepted post may take its time to arrive; then wait for duplicates and strays */
    for (int i = 0; i < N_ROWS; i++) {
        struct outcome *o = &outcomes[i];
        const struct room *r = &matrix_rooms[matrix[i].privacy][matrix[i].kind];
        struct sc_user *u = users[matrix[i].role];
        struct post_match own = { r->uri, o->post_text, sc_user_uri(u) };
        if (o->post_status != 200)
            continue;
        struct sc_event *ev = sc_wait_for(u, is_post, &own, WAIT_MS);
        o->echoes = ev != NULL;
        sc_event_free(ev);
        ev = sc_wait_for(host, is_post, &own, WAIT_MS);
        o->seen_by_host = ev != NULL;
        sc_event_free(ev);
    }
    itest_run(loop, SETTLE_MS);
    for (int i = 0; i < N_ROWS; i++) {
        struct outcome *o = &outcomes[i];
        const struct room *r = &matrix_rooms[matrix[i].privacy][matrix[i].kind];
        struct sc_user *u = users[matrix[i].role];
        struct post_match own = { r->uri, o->post_text, sc_user_uri(u) };
        o->echoes += count_taken(u, is_post, &own, NULL);
        o->seen_by_host += count_taken(host, is_post, &own, NULL);
        struct post_match any = { r->uri, NULL, NULL };
        o->foreign = count_taken(u, is_post, &any, "room traffic not its own");
    }
    /* the store: the host leaves and comes back, and reads everything up to its new join */
    for (int p = 0; p < N_PRIVACY; p++) {
        for (int k = 0; k < N_KINDS; k++) {
            const struct room *r = &matrix_rooms[p][k];
            sc_event_free(command(host, sc_user_part(host, r->uri), "rpl:part"));
            int code = join_code(host, r->uri, NULL, 0);
            struct sc_event *h = history(host, r->uri, 100);
            const char *texts[100];
            bool of_room;
            int n = history_of(h, r->uri, texts, 100, &of_room);
            if (code != 200 || !h)
                diag("  host could not read back %s (rejoin %d, history %s)", r->name, code, h ? "yes" : "none");
            for (int i = 0; i < N_ROWS; i++) {
                if (matrix[i].privacy != (enum privacy)p || matrix[i].kind != (enum kind)k)
                    continue;
                for (int j = 0; j < n && j < 100; j++)
                    outcomes[i].stored += strcmp(texts[j], outcomes[i].post_text) == 0;
            }
            sc_event_free(h);
        }
    }
}

static const char *code_name(int code)
{
    return code == 200 ? "200" : code == 403 ? "403" : code == 404 ? "404" : code == 0 ? "nothing" : "other";
}

static void report_row(int row_index, struct sc_user *u)
{
    const struct cell_row *row = &matrix[row_index];
    const struct room *r = &matrix_rooms[row->privacy][row->kind];
    const struct outcome *o = &outcomes[row_index];
    char cell[96];
    snprintf(cell, sizeof cell, "[%s | %s %s]", roles[row->role].name, privacy_name[row->privacy],
             kind_name[row->kind]);

    if (!ok(o->listed == (row->search == LISTED), "%s %s: %s", cell, command_name[SEARCH],
                 row->search == LISTED ? "the room is listed" : "the room is not listed"))
        diag("  %s: rpl:chansrch %s the room %s", sc_user_uri(u), o->listed ? "lists" : "does not list", r->uri);

    /* a refusal is a sentence; "No such room" must not give the room's name away */
    bool join_ok = o->join == row->join && o->foreign == 0;
    if (row->join == 404)
        join_ok = join_ok && strstr(o->join_raw, r->name) == NULL;
    if (row->join == 403)
        join_ok = join_ok && strstr(o->join_raw, "<resp code=\"403\"></resp>") == NULL;
    if (!ok(join_ok, "%s %s: rpl:join %d%s%s", cell, command_name[JOIN], row->join,
                 row->join == 404 ? " \"No such room\" (its name not given away)" : "",
                 row->join == 200 ? "" : ", and no traffic of the room reaches the user"))
        diag("  got rpl:join %s (%d), %d foreign posts of the room; wire: %.600s", code_name(o->join), o->join,
             o->foreign, o->join_raw);

    bool delivered = o->post_status == 200 && o->echoes == 1 && o->seen_by_host == 1 && o->stored == 1;
    bool refused = o->post_status == row->post && o->echoes == 0 && o->seen_by_host == 0 && o->stored == 0;
    if (!ok(row->post == 200 ? delivered : refused, "%s %s: %s", cell, command_name[POST],
                 row->post == 200 ? "answered 200, echoed once, reaches the room once, stored"
                                  : "answered 403, reaches nobody, not stored"))
        diag("  SIP answer %d (%s); echoes %d, host saw it %d times, stored %d times", o->post_status,
             o->post_raw, o->echoes, o->seen_by_host, o->stored);

    bool hist_ok = row->history == POSTS ? o->hist_of_room && o->hist_seeds
                                         : o->hist_of_room && o->hist_n == 0;
    if (!ok(hist_ok, "%s %s: %s", cell, command_name[HISTORY],
                 row->history == POSTS ? "rpl:bccontext has the room's posts up to the join, oldest first"
                                       : "rpl:bccontext is an empty chanib of the room"))
        diag("  %d entries, all of the room: %s, seeds first: %s; wire: %.600s", o->hist_n,
             o->hist_of_room ? "yes" : "no", o->hist_seeds ? "yes" : "no", o->hist_raw);

    if (!ok(o->part == row->part && o->part_echo, "%s %s: rpl:part %d echoing the room URI",
                 cell, command_name[PART], row->part))
        diag("  got rpl:part %d, URI echoed: %s", o->part, o->part_echo ? "yes" : "no");
}

static void run_matrix(struct sc_loop *loop, struct sc_user *host, struct sc_user *const *users)
{
    diag("matrix: %d roles x %d privacies x %d room types x %d commands = %d cells (%d rows)", N_ROLES,
         N_PRIVACY, N_KINDS, N_COMMANDS, N_ROLES * N_PRIVACY * N_KINDS * N_COMMANDS, N_ROWS);
    if (N_ROWS != N_ROLES * N_PRIVACY * N_KINDS)
        bail_out("the matrix table does not have one row per role, privacy and room type");
    ok(host_seeds_rooms(host), "the host joins all %d matrix rooms and posts %d seeds in each",
       N_PRIVACY * N_KINDS, N_SEEDS);
    itest_drain(host);
    for (int i = 0; i < N_ROLES; i++) {
        itest_drain(users[i]);
        struct sc_event *rpl = search(users[i], matrix_prefix);
        if (!rpl || rpl->resp_code != 200)
            diag("  %s: no rpl:chansrch 200: %s", sc_user_uri(users[i]), rpl && rpl->raw ? rpl->raw : "(none)");
        for (int j = 0; j < N_ROWS; j++)
            if (matrix[j].role == (enum role)i)
                outcomes[j].listed = chansrch_lists(rpl, matrix_rooms[matrix[j].privacy][matrix[j].kind].uri);
        sc_event_free(rpl);
        for (int j = 0; j < N_ROWS; j++)
            if (matrix[j].role == (enum role)i)
                run_row(users[i], j);
    }
    collect_deliveries(loop, host, users);
    for (int j = 0; j < N_ROWS; j++)
        report_row(j, users[matrix[j].role]);
}

/* ---- the policy switch --------------------------------------------------------------------- */

/* off: SIPE as shipped; off_by_hand: the same user with SIPE's "Group Chat Proxy" setting
 * naming the pool, so the chat INVITE reaches the pool although provisioning says no. */
static void check_policy_off(struct sc_user *off, struct sc_user *off_by_hand)
{
    bool in = sc_user_signin_wait(off, 30000);
    ok(!in, "a user whose policy is disabled (policy grant --disable) does not get into the chat service");
    const char *prov = sc_check_detail(off, SC_CHK_PROV_ENABLED);
    if (!ok(sc_check_state(off, SC_CHK_PROV_ENABLED) == SC_FAIL && prov && strstr(prov, "'false'"),
            "their provisioning says EnablePersistentChat false"))
        diag("  check: %s", prov ? prov : "(passed or not run)");
    in = sc_user_signin_wait(off_by_hand, 30000);
    const char *inv = sc_check_detail(off_by_hand, SC_CHK_LOOKUP_200);
    if (!ok(!in && sc_check_state(off_by_hand, SC_CHK_LOOKUP_200) == SC_FAIL && inv &&
            strstr(inv, "answered 403"),
            "with the pool configured by hand (Group Chat Proxy), their chat INVITE is refused with 403"))
        diag("  check: %s; state %s, error %s", inv ? inv : "(passed or not run)",
             sc_state_name(sc_user_state(off_by_hand)), sc_user_error(off_by_hand));
}

/* ---- a category that keeps no history ------------------------------------------------------ */

static void check_history_off(struct sc_user *host, struct sc_user *reader)
{
    char category[80], name[120], uri[200], domain_principal[300];
    snprintf(category, sizeof category, "t41 no history %s", args.run_id);
    snprintf(name, sizeof name, "t41h-%s announcements", args.run_id);
    snprintf(domain_principal, sizeof domain_principal, "domain:%s", args.domain);
    ctl("category", "new", category, "--history", "off", "--allow", domain_principal, NULL);
    ctl("room", "new", name, "--category", category, "--privacy", "open", NULL);
    room_uri_of(name, uri, sizeof uri);

    int host_in = join_code(host, uri, NULL, 0);
    char text[160];
    snprintf(text, sizeof text, "t41-%s before the reader came", args.run_id);
    int s = answer_of(host, sc_user_post(host, uri, text));
    ok(host_in == 200 && s == 200, "with history off a post is still accepted (join %d, post %d)", host_in, s);
    char raw[600];
    int code = join_code(reader, uri, raw, sizeof raw);
    struct sc_event *h = history(reader, uri, 25);
    const char *texts[1];
    bool of_room;
    int n = history_of(h, uri, texts, 1, &of_room);
    if (!ok(code == 200 && h && h->resp_code == 200 && chanib_echoes(h, uri) && n == 0,
            "category history off: a member who joins later gets an empty chanib from rpl:bccontext"))
        diag("  join %d; history: %s", code, h && h->raw ? h->raw : "(none)");
    sc_event_free(h);
    snprintf(text, sizeof text, "t41-%s live with history off", args.run_id);
    answer_of(host, sc_user_post(host, uri, text));
    struct post_match pm = { uri, text, sc_user_uri(host) };
    struct sc_event *live = sc_wait_for(reader, is_post, &pm, WAIT_MS);
    ok(live != NULL, "category history off: live posts still reach the members in the room");
    sc_event_free(live);
}

/* ---- operator changes reach live sessions -------------------------------------------------- */

static bool wait_ntc_part(struct sc_user *at, const char *room, struct sc_user *who)
{
    struct part_match pm = { room, sc_user_uri(who) };
    struct sc_event *ev = sc_wait_for(at, is_ntc_part, &pm, WAIT_MS);
    bool got = ev != NULL;
    sc_event_free(ev);
    return got;
}

static void check_member_removed(struct sc_loop *loop, struct sc_user *gone, struct sc_user *stays)
{
    char category[80], name[120], uri[200], domain_principal[300];
    snprintf(category, sizeof category, "t41 live %s", args.run_id);
    snprintf(name, sizeof name, "t41e-%s desk", args.run_id);
    snprintf(domain_principal, sizeof domain_principal, "domain:%s", args.domain);
    ctl("category", "new", category, "--allow", domain_principal, NULL);
    ctl("room", "new", name, "--category", category, "--privacy", "closed", NULL);
    ctl("room", "set", name, "--add-member", sc_user_uri(gone), "--add-member", sc_user_uri(stays), NULL);
    room_uri_of(name, uri, sizeof uri);

    int a = join_code(stays, uri, NULL, 0), b = join_code(gone, uri, NULL, 0);
    ok(a == 200 && b == 200, "two members join the closed room (rpl:join %d, %d)", a, b);
    char before[160], after[160], witness[160];
    snprintf(before, sizeof before, "t41-%s removed member, before", args.run_id);
    snprintf(after, sizeof after, "t41-%s removed member, after", args.run_id);
    snprintf(witness, sizeof witness, "t41-%s remaining member, after", args.run_id);
    int s = answer_of(gone, sc_user_post(gone, uri, before));
    struct post_match pm_before = { uri, before, NULL };
    struct sc_event *ev = sc_wait_for(stays, is_post, &pm_before, WAIT_MS);
    ok(s == 200 && ev, "while a member: their post is answered 200 (%d) and reaches the other member", s);
    sc_event_free(ev);
    itest_run(loop, 300);
    itest_drain(gone);
    itest_drain(stays);

    ctl("room", "set", name, "--remove-member", sc_user_uri(gone), NULL);
    ok(wait_ntc_part(stays, uri, gone),
       "the operator removes a member of a closed room: the remaining member gets ntc:part for them at once");
    ok(wait_ntc_part(gone, uri, gone), "the removed member's own session gets ntc:part for itself");
    s = answer_of(gone, sc_user_post(gone, uri, after));
    is_int(s, 403, "the removed member's next post is answered 403");
    s = answer_of(stays, sc_user_post(stays, uri, witness));
    struct post_match pm_w = { uri, witness, NULL };
    ev = sc_wait_for(stays, is_post, &pm_w, WAIT_MS);
    ok(s == 200 && ev, "the remaining member still posts (answer %d, echo %s)", s, ev ? "yes" : "no");
    sc_event_free(ev);
    struct sc_event *h = history(gone, uri, 25);
    const char *texts[1];
    bool of_room;
    int n = history_of(h, uri, texts, 1, &of_room);
    if (!ok(h && h->resp_code == 200 && chanib_echoes(h, uri) && n == 0,
            "the removed member's history request gets an empty chanib"))
        diag("  %s", h && h->raw ? h->raw : "(no rpl:bccontext)");
    sc_event_free(h);
    char raw[600];
    int code = join_code(gone, uri, raw, sizeof raw);
    if (!is_int(code, 403, "the removed member's rejoin is refused with rpl:join 403"))
        diag("  %s", raw);
    itest_run(loop, SETTLE_MS);
    struct post_match pm_after = { uri, after, NULL };
    is_int(count_taken(stays, is_post, &pm_after, "the removed member's refused post"), 0,
           "the removed member's refused post reached nobody");
    is_int(count_taken(stays, is_ntc_join, NULL, "a join"), 0, "the refused rejoin is not announced");
    is_int(count_taken(gone, is_traffic_of, uri, "after eviction"), 0,
           "nothing more of the room reaches the removed member's session");
}

/* A 404 to an INFO would end the SIP dialog (RFC 5057 §5.1; sofia-sip's nua does it): the
 * client's next INFO would get 481 and SIPE would start over without its rooms. */

static bool is_connected(void *arg)
{
    return sc_user_state(arg) == SC_CONNECTED;
}

/* Is the chat session still there? A cheap command must be answered 200. When it was not,
 * the client has started over (SIPE's answer to 481): wait for that, so later checks run. */
static bool session_usable(struct sc_loop *loop, struct sc_user *u)
{
    int s = answer_of(u, sc_user_getserverinfo(u));
    if (s != 200) {
        diag("  %s: cmd:getserverinfo answered %d; waiting for the client to reconnect", sc_user_uri(u), s);
        sc_loop_run(loop, 30000, is_connected, u);
    }
    itest_run(loop, 200);
    itest_drain(u);
    return s == 200;
}

static void check_room_disabled(struct sc_loop *loop, struct sc_user *b, struct sc_user *c)
{
    char category[80], name[120], uri[200], desk[120], desk_uri[200], criteria[64];
    snprintf(category, sizeof category, "t41 live %s", args.run_id);
    snprintf(name, sizeof name, "t41e-%s lounge", args.run_id);
    snprintf(desk, sizeof desk, "t41e-%s desk", args.run_id);
    snprintf(criteria, sizeof criteria, "t41e-%s", args.run_id);
    ctl("room", "new", name, "--category", category, "--privacy", "open", NULL);
    room_uri_of(name, uri, sizeof uri);
    room_uri_of(desk, desk_uri, sizeof desk_uri);

    int jb = join_code(b, uri, NULL, 0), jc = join_code(c, uri, NULL, 0);
    ok(jb == 200 && jc == 200, "two users join the open room (rpl:join %d, %d)", jb, jc);
    char before[160], after_b[160], after_c[160];
    snprintf(before, sizeof before, "t41-%s lounge before", args.run_id);
    snprintf(after_b, sizeof after_b, "t41-%s lounge after, b", args.run_id);
    snprintf(after_c, sizeof after_c, "t41-%s lounge after, c", args.run_id);
    int s = answer_of(b, sc_user_post(b, uri, before));
    struct post_match pm_before = { uri, before, NULL };
    struct sc_event *ev = sc_wait_for(c, is_post, &pm_before, WAIT_MS);
    ok(s == 200 && ev, "before the change a post is answered 200 (%d) and reaches the other user", s);
    sc_event_free(ev);
    itest_run(loop, 300);
    itest_drain(b);
    itest_drain(c);

    ctl("room", "disable", name, NULL);
    struct sc_user *both[] = { b, c };
    for (int i = 0; i < 2; i++)
        ok(wait_ntc_part(both[i], uri, b) && wait_ntc_part(both[i], uri, c),
           "the room is disabled: %s gets ntc:part for both users in it", sc_user_uri(both[i]));
    int sb = answer_of(b, sc_user_post(b, uri, after_b));
    int sc = answer_of(c, sc_user_post(c, uri, after_c));
    ok(sb == 403 && sc == 403, "posts to the disabled room are refused with 403 (answers %d and %d)",
       sb, sc);
    for (int i = 0; i < 2; i++)
        ok(session_usable(loop, both[i]),
           "after that refusal %s's chat session still works (its next INFO is not 481)",
           sc_user_uri(both[i]));

    struct sc_event *rpl = search(b, criteria);
    ok(rpl && rpl->resp_code == 200 && chansrch_lists(rpl, desk_uri) && !chansrch_lists(rpl, uri),
       "a disabled room is not in the room list (the closed room next to it is)");
    sc_event_free(rpl);
    char raw[600];
    int code = join_code(b, uri, raw, sizeof raw);
    if (!is_int(code, 404, "joining a disabled room: rpl:join 404"))
        diag("  %s", raw);
    struct sc_event *h = history(b, uri, 25);
    const char *texts[1];
    bool of_room;
    int n = history_of(h, uri, texts, 1, &of_room);
    ok(h && h->resp_code == 200 && n == 0, "a disabled room's history is an empty chanib");
    sc_event_free(h);

    itest_run(loop, SETTLE_MS);
    for (int i = 0; i < 2; i++)
        is_int(count_taken(both[i], is_traffic_of, uri, "after the room was disabled"), 0,
               "nothing more of the disabled room reaches the evicted session");

    ctl("room", "enable", name, NULL);
    rpl = search(b, criteria);
    ok(rpl && chansrch_lists(rpl, uri), "enabled again, the room is back in the room list");
    sc_event_free(rpl);
    code = join_code(b, uri, NULL, 0);
    h = history(b, uri, 25);
    const char *kept[4] = { 0 };
    n = history_of(h, uri, kept, 4, &of_room);
    bool has_before = false, has_refused = false;
    for (int i = 0; i < n && i < 4; i++) {
        has_before = has_before || strcmp(kept[i], before) == 0;
        has_refused = has_refused || strcmp(kept[i], after_b) == 0 || strcmp(kept[i], after_c) == 0;
    }
    if (!ok(code == 200 && has_before && !has_refused,
            "enabled again: join 200 and the history has the earlier post, not the refused ones"))
        diag("  join %d; history: %s", code, h && h->raw ? h->raw : "(none)");
    sc_event_free(h);
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    itest_args(argc, argv, &args);
    pchatctl_path = getenv("PCHATCTL");
    pool_config = getenv("POOL_CONFIG");
    const char *conninfo = getenv("POOL_DB_CONNINFO");
    const char *dir = getenv("POOL_DIR");
    if (!pchatctl_path || !pool_config || !conninfo || !dir)
        bail_out("PCHATCTL, POOL_CONFIG, POOL_DB_CONNINFO and POOL_DIR must be set (run t41_authz_matrix.t)");
    snprintf(ctl_log, sizeof ctl_log, "%s/t41-pchatctl.log", dir);
    db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK)
        bail_out("cannot connect to the chat store named by POOL_DB_CONNINFO");

    struct sc_loop *loop = sc_loop_new();
    if (!loop)
        bail_out("cannot create the client loop");
    struct sc_opts opts = { .step_timeout_ms = 10000, .no_auto_history = true };
    struct sc_opts lenient = opts;
    lenient.lenient = true;

    struct sc_user *host = itest_user(loop, &args, "t41-host", &opts);
    struct sc_user *users[N_ROLES];
    for (int i = 0; i < N_ROLES; i++) {
        char name[64];
        snprintf(name, sizeof name, "t41-%s", roles[i].name);
        users[i] = itest_user(loop, &args, name, &opts);
    }
    struct sc_user *off = itest_user(loop, &args, "t41-off", &lenient);
    struct sc_opts by_hand = lenient;    /* its groupchat_proxy is set once the pool URI is known */
    struct sc_user *reader = itest_user(loop, &args, "t41-reader", &opts);
    struct sc_user *gone = itest_user(loop, &args, "t41-gone", &opts);
    struct sc_user *stays = itest_user(loop, &args, "t41-stays", &opts);
    struct sc_user *lb = itest_user(loop, &args, "t41-lounge-b", &opts);
    struct sc_user *lc = itest_user(loop, &args, "t41-lounge-c", &opts);
    struct sc_user *everyone[] = { host, users[0], users[1], users[2], users[3], users[4], users[5],
                                   users[6], reader, gone, stays, lb, lc };
    int n_everyone = (int)(sizeof everyone / sizeof everyone[0]);

    ctl("policy", "grant", sc_user_uri(off), "--disable", NULL);
    make_matrix_rooms(host, users);

    for (int i = 0; i < n_everyone; i++)
        sc_user_signin(everyone[i]);
    bool in = true;
    for (int i = 0; i < n_everyone; i++)
        in = itest_signin(everyone[i], 30000) && in;
    if (!in) {
        sc_loop_free(loop);
        PQfinish(db);
        bail_out("cannot go on without every user signed in");
    }

    run_matrix(loop, host, users);
    static char pool_uri[300];
    snprintf(pool_uri, sizeof pool_uri, "%s", sc_user_pool_uri(host));
    by_hand.groupchat_proxy = pool_uri;
    check_policy_off(off, itest_user(loop, &args, "t41-off", &by_hand));
    check_history_off(host, reader);
    check_member_removed(loop, gone, stays);
    check_room_disabled(loop, lb, lc);

    for (int i = 0; i < n_everyone; i++)
        no_unexpected_violations(everyone[i]);
    for (int i = 0; i < n_everyone; i++)
        sc_user_signout(everyone[i]);
    for (int i = 0; i < n_everyone; i++)
        sc_user_signout_wait(everyone[i], 5000);
    sc_loop_free(loop);
    PQfinish(db);
    return done_testing();
}
