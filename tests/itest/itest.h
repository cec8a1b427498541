/* itest.h — what the integration tests share: arguments, signing users in with every check
 * reported, draining and counting events, and the violation report. Header-only because the
 * Makefile builds every tests/itest/<name>.c into its own program. */
#ifndef PCHAT_ITEST_H
#define PCHAT_ITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../tools/sipclient/sipclient.h"
#include "../lib/tap.h"

struct itest_args {
    const char *host;
    int port;
    const char *domain;
    const char *room;          /* demo room name (PCHAT_DEMO_ROOM, default Lobby) */
    char run_id[32];           /* makes user names and texts unique per run */
};

static inline void itest_args(int argc, char **argv, struct itest_args *a)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s HOST PORT DOMAIN\n"
                        "  (normally run by its .t wrapper, which starts a pool first)\n", argv[0]);
        exit(2);
    }
    a->host = argv[1];
    a->port = atoi(argv[2]);
    a->domain = argv[3];
    a->room = getenv("PCHAT_DEMO_ROOM") ? getenv("PCHAT_DEMO_ROOM") : "Lobby";
    snprintf(a->run_id, sizeof(a->run_id), "%ld", (long)getpid());
}

static inline struct sc_user *itest_user(struct sc_loop *loop, const struct itest_args *a,
                                         const char *name, const struct sc_opts *opts)
{
    char uri[256], err[256];
    snprintf(uri, sizeof(uri), "sip:%s-%s@%s", name, a->run_id, a->domain);
    struct sc_user *u = sc_user_new(loop, uri, a->host, a->port, opts, err, sizeof(err));
    if (!u)
        bail_out(err);
    return u;
}

/* Sign in and report the outcome as one test; on failure also every failed check. */
static inline bool itest_signin(struct sc_user *u, int timeout_ms)
{
    bool r = ok(sc_user_signin_wait(u, timeout_ms), "%s signs in (the whole SIPE ladder)", sc_user_uri(u));
    if (!r) {
        diag("  state: %s; error: %s", sc_state_name(sc_user_state(u)), sc_user_error(u));
        for (int c = 0; c < SC_CHK__COUNT; c++)
            if (sc_check_state(u, (enum sc_check)c) == SC_FAIL)
                diag("  failed check: %s\n    %s", sc_check_name((enum sc_check)c), sc_check_detail(u, (enum sc_check)c));
    }
    return r;
}

static inline void itest_diag_violations(const struct sc_user *u)
{
    int n = sc_user_violations_stored(u);
    for (int i = 0; i < n; i++)
        diag("  %s: %s", sc_user_uri(u), sc_user_violation(u, i));
    if (sc_user_violation_count(u) > n)
        diag("  %s: ... and %d more", sc_user_uri(u), sc_user_violation_count(u) - n);
}

static inline bool itest_no_violations(const struct sc_user *u)
{
    bool r = ok(sc_user_violation_count(u) == 0, "%s saw no protocol violation", sc_user_uri(u));
    if (!r)
        itest_diag_violations(u);
    return r;
}

/* Events are kept in order; tests take what they wait for and drop the rest here. */
static inline void itest_drain(struct sc_user *u)
{
    struct sc_event *ev;
    while ((ev = sc_user_next_event(u)))
        sc_event_free(ev);
}

static inline void itest_run(struct sc_loop *loop, int ms)
{
    sc_loop_run(loop, ms, NULL, NULL);
}

/* "sip:x" in "a,b,c" id lists: the uib id of a user URI in a join reply's data, or NULL. */
static inline const char *itest_uib_id(const struct xnode *data, const char *uri)
{
    for (const struct xnode *u = xnode_child(data, "uib"); u; u = xnode_next(u, "uib"))
        if (xnode_attr(u, "uri") && strcasecmp(xnode_attr(u, "uri"), uri) == 0)
            return xnode_attr(u, "id");
    return NULL;
}

/* Whether id appears in the comma-separated value of any aib child of chanib. */
static inline bool itest_aib_has(const struct xnode *chanib, const char *id)
{
    if (!id)
        return false;
    size_t n = strlen(id);
    for (const struct xnode *a = xnode_child(chanib, "aib"); a; a = xnode_next(a, "aib")) {
        const char *v = xnode_attr(a, "value");
        for (const char *p = v; p && *p;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (len == n && strncmp(p, id, n) == 0)
                return true;
            p = c ? c + 1 : NULL;
        }
    }
    return false;
}

#endif
