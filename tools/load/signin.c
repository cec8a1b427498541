/* signin.c — the set-up phase: users signed in at --signin-rate with at most
 * --signin-concurrency in progress, a new source address when the ports of one run out
 * (EADDRNOTAVAIL), the rooms found (cmd:chansrch) when the tool did not create them, and every
 * user's rooms joined before the timetable starts. Also the client library's event callback. */
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LYNC_USER_AGENT "UCCAPI/15.0.4569.1503 OC/15.0.4569.1503 (Microsoft Lync)"

/* ---- pending per-user actions ------------------------------------------------------------------ */

void action_push(struct load *L, uint32_t user, enum user_action a)
{
    struct luser *lu = &L->users[user];
    lu->action = (uint8_t)a;
    if (lu->in_action_ring)
        return;
    if (!L->ring) {
        L->ring_cap = L->n_users;
        L->ring = calloc((size_t)L->ring_cap, sizeof *L->ring);
        if (!L->ring)
            return;
    }
    /* each user is in the ring at most once, so n_users entries always suffice */
    L->ring[(L->ring_head + L->ring_len) % L->ring_cap] = user;
    L->ring_len++;
    lu->in_action_ring = 1;
}

static void record_failure(struct load *L, const char *why)
{
    for (int i = 0; i < L->n_reasons; i++)
        if (strcmp(L->reason_text[i], why) == 0) {
            L->reason_count[i]++;
            return;
        }
    if (L->n_reasons < LOAD_MAX_REASONS) {
        snprintf(L->reason_text[L->n_reasons], sizeof L->reason_text[0], "%s", why);
        L->reason_count[L->n_reasons++] = 1;
    } else {
        L->reason_count[LOAD_MAX_REASONS - 1]++;
    }
}

static void signin_failed(struct load *L, struct luser *lu, const char *why)
{
    if (lu->phase == UP_SIGNING_IN || lu->phase == UP_JOINING) {
        L->signin_in_flight--;
        L->signin_failed++;
    }
    lu->phase = UP_FAILED;
    record_failure(L, why);
}

static int user_start(struct load *L, struct luser *lu)
{
    const struct load_opts *o = &L->o;
    char name[300], src[64], err[256];
    user_name(L, lu->idx, name, sizeof name);
    if (source_address(L, lu->src, src, sizeof src) < 0) {
        signin_failed(L, lu, "no source address left: pass more with --source-addrs");
        return -1;
    }
    struct sc_opts so = {
        .user_agent = o->user_agent,
        .bind_addr = src[0] ? src : NULL,
        .password = "load",
        .step_timeout_ms = o->step_timeout_ms,
        .txn_timeout_ms = o->timeout_ms,
        .no_auto_history = o->no_join_history,
        .no_sofia_check = !o->sofia_check,
        .max_violations = 2,
        .event_queue_max = -1,
        .on_event = on_client_event,
        .on_event_arg = L,
    };
    const struct frontend_addr *fe = &o->fe[lu->fe];
    lu->sc = sc_user_new(L->loop, name, fe->host, fe->port, &so, err, sizeof err);
    if (!lu->sc) {
        signin_failed(L, lu, err);
        return -1;
    }
    sc_user_set_data(lu->sc, lu);
    lu->connect_tries++;
    if (lu->src > L->src_used_max)
        L->src_used_max = lu->src;
    sc_user_signin(lu->sc);        /* a failure arrives as an SC_FAILED event */
    return 0;
}

static void user_begin(struct load *L, struct luser *lu)
{
    lu->phase = UP_SIGNING_IN;
    lu->src = (int16_t)L->src_current;
    lu->signin_start_us = sc_now_us();
    L->signin_started++;
    L->signin_in_flight++;
    user_start(L, lu);
}

/* EADDRNOTAVAIL: this source address has no port left towards the front end; the next one. */
static void retry_connect(struct load *L, struct luser *lu)
{
    if (lu->sc) {
        sc_user_free(lu->sc);
        lu->sc = NULL;
    }
    if (lu->src >= L->src_current) {
        if (L->src_current + 1 >= L->src_count) {
            signin_failed(L, lu, L->o.src_given
                          ? "every --source-addrs address ran out of ports (EADDRNOTAVAIL): give more addresses"
                          : "out of local ports (EADDRNOTAVAIL) and the front end is not on 127.0.0.0/8: "
                            "give local addresses with --source-addrs");
            return;
        }
        L->src_current++;
        fprintf(stderr, "pchat-load: local ports ran out (EADDRNOTAVAIL); user %u and later connect from source address #%d\n",
                (unsigned)lu->idx + 1, L->src_current + (L->o.src_given ? 1 : 2));
    }
    lu->src = (int16_t)L->src_current;
    user_start(L, lu);
}

static void send_joins(struct load *L, struct luser *lu, enum req_kind k)
{
    int64_t now = sc_now_us();
    for (int i = 0; i < lu->n_rooms; i++) {
        struct membership *ms = &lu->rooms[i];
        if (ms->state != MS_NONE)
            continue;
        if (!L->rooms[ms->room].uri)
            continue;
        if (request_send(L, lu->idx, k, (uint32_t)i, 0, now)) {
            if (k == RK_SETUP_JOIN)
                lu->setup_pending++;
        } else if (k == RK_SETUP_JOIN) {
            L->setup_join_failed++;
        }
    }
}

void setup_join_done(struct load *L, struct luser *lu)
{
    if (lu->setup_pending > 0)
        lu->setup_pending--;
    if (lu->phase != UP_JOINING || lu->setup_pending > 0)
        return;
    lu->phase = UP_READY;
    L->ready++;
    L->signin_in_flight--;
}

void actions_run(struct load *L)
{
    for (int budget = L->ring_len; budget > 0 && L->ring_len > 0; budget--) {
        uint32_t u = L->ring[L->ring_head];
        L->ring_head = (L->ring_head + 1) % L->ring_cap;
        L->ring_len--;
        struct luser *lu = &L->users[u];
        lu->in_action_ring = 0;
        enum user_action a = lu->action;
        lu->action = UA_NONE;
        switch (a) {
        case UA_SETUP_JOINS:
            if (lu->phase != UP_JOINING)
                break;
            lu->setup_pending++;          /* held while sending, so a quick reply cannot finish early */
            send_joins(L, lu, RK_SETUP_JOIN);
            setup_join_done(L, lu);
            break;
        case UA_RETRY_CONNECT:
            if (lu->phase == UP_SIGNING_IN)
                retry_connect(L, lu);
            break;
        case UA_REJOIN_ALL:
            if (lu->phase == UP_READY)
                send_joins(L, lu, RK_SETUP_JOIN);
            break;
        default:
            break;
        }
    }
}

/* ---- events from the client library (never send or free from here) ------------------------------ */

void user_state_changed(struct load *L, struct luser *lu, const struct sc_event *ev)
{
    switch (ev->state) {
    case SC_CONNECTED:
        if (lu->phase == UP_SIGNING_IN) {
            int64_t now = ev->at_us;
            hist_add(&L->signin_us, now - lu->signin_start_us);
            if (now > L->signin_all_us)
                L->signin_all_us = now;
            lu->phase = UP_JOINING;
            if (!L->discovering)
                action_push(L, lu->idx, UA_SETUP_JOINS);
        } else if (lu->phase == UP_READY) {
            /* SIPE reconnected after a 481; its rooms are gone on the server: join again */
            L->reconnects++;
            lu->reconnects++;
            action_push(L, lu->idx, UA_REJOIN_ALL);
        }
        break;
    case SC_LOOKUP:
        if (lu->phase == UP_READY || lu->phase == UP_JOINING) {
            /* reconnecting after a 481: the channel dialog is gone with its rooms, and what
               was in flight on it is over (the new dialog's CSeqs start again at 2) */
            membership_break(L, lu);
            requests_abandon_user(L, lu);
        }
        break;
    case SC_FAILED:
        if (lu->phase == UP_SIGNING_IN && sc_user_sys_errno(lu->sc) == EADDRNOTAVAIL
            && lu->connect_tries < 64) {
            action_push(L, lu->idx, UA_RETRY_CONNECT);
        } else if (lu->phase == UP_SIGNING_IN || lu->phase == UP_JOINING) {
            signin_failed(L, lu, ev->text ? ev->text : "failed");
        } else if (lu->phase == UP_READY) {
            L->users_lost++;
            lu->phase = UP_FAILED;
            L->ready--;
            membership_break(L, lu);
            record_failure(L, ev->text ? ev->text : "failed");
        }
        break;
    default:
        break;
    }
}

static void discovery_reply(struct load *L, const struct sc_event *ev)
{
    L->discover_code = ev->resp_code;
    snprintf(L->discover_text, sizeof L->discover_text, "%s", ev->resp_text);
    const struct xnode *data = ev->item ? xnode_child(ev->item, "data") : NULL;
    for (const struct xnode *c = data ? xnode_child(data, "chanib") : NULL; c; c = xnode_next(c, "chanib")) {
        const char *name = xnode_attr(c, "name"), *uri = xnode_attr(c, "uri");
        if (!name || !uri)
            continue;
        for (int i = 0; i < L->n_rooms; i++) {
            struct room *rm = &L->rooms[i];
            if (!rm->uri && strcasecmp(rm->name, name) == 0) {
                rm->uri = strdup(uri);
                if (rm->uri)
                    L->rooms_found++;
                break;
            }
        }
    }
}

void on_client_event(struct sc_user *u, const struct sc_event *ev, void *arg)
{
    struct load *L = arg;
    struct luser *lu = sc_user_data(u);
    if (!lu)
        return;
    switch (ev->kind) {
    case SC_EV_STATE:
        user_state_changed(L, lu, ev);
        break;
    case SC_EV_ANSWER:
        if (L->discovering && lu->idx == 0 && ev->cseq == L->discover_cseq) {
            L->discover_status = ev->status;
            L->discover_retry_after = ev->retry_after;
        } else {
            request_on_answer(L, lu, ev);
        }
        break;
    case SC_EV_SERVER_INFO:
        if (strncasecmp(ev->xid, "rpl:", 4) == 0) {
            if (L->discovering && lu->idx == 0 && strcasecmp(ev->xid, "rpl:chansrch") == 0)
                discovery_reply(L, ev);
            else
                request_on_reply(L, lu, ev);
        } else if (strcasecmp(ev->xid, "grpchat") == 0) {
            delivery_received(L, lu, ev);
        } else {
            L->ntc_seen++;
        }
        break;
    }
}

/* ---- the phase --------------------------------------------------------------------------------- */

static bool search_settled(void *arg)
{
    const struct load *L = arg;
    return L->discover_code != 0 || (L->discover_status != 0 && L->discover_status != 200);
}

static bool due_or_action(void *arg)
{
    const struct load *L = arg;
    return L->ring_len > 0 || sc_now_us() >= L->next_due_us;
}

void loop_turn(struct load *L, int64_t due_us)
{
    int64_t now = sc_now_us();
    int wait_ms = (int)((due_us - now + 999) / 1000);
    if (wait_ms < 1)
        wait_ms = 1;        /* sc_loop_run does no I/O at all with 0 */
    if (wait_ms > 100)
        wait_ms = 100;
    L->next_due_us = due_us;
    sc_loop_run(L->loop, wait_ms, due_or_action, L);
}

static bool first_user_settled(void *arg)
{
    const struct load *L = arg;
    return L->users[0].phase != UP_SIGNING_IN || L->ring_len > 0;
}

/* Without --setup-rooms: the first user lists the rooms of each size by name. */
static int discover_rooms(struct load *L, int64_t deadline, char *err, size_t errlen)
{
    struct luser *first = &L->users[0];
    L->discovering = true;
    user_begin(L, first);
    while (first->phase == UP_SIGNING_IN && sc_now_us() < deadline && !load_interrupted) {
        sc_loop_run(L->loop, 100, first_user_settled, L);
        if (L->ring_len > 0 && first->action == UA_RETRY_CONNECT)
            actions_run(L);
    }
    if (first->phase != UP_JOINING) {
        snprintf(err, errlen, "the first user could not sign in, so the rooms cannot be looked up: %s",
                 first->sc ? sc_user_error(first->sc) : "no connection");
        return -1;
    }
    /* one search per room size, each retried after a 503 as a retrying client would */
    for (int s = 0; s < L->o.n_rooms; s++) {
        char criteria[96];
        snprintf(criteria, sizeof criteria, "%s-%d-", L->o.room_prefix, L->o.rooms[s].size);
        for (int attempt = 0;; attempt++) {
            L->discover_status = L->discover_code = 0;
            L->discover_cseq = sc_user_chansrch(first->sc, criteria);
            if (!L->discover_cseq) {
                snprintf(err, errlen, "the room search could not be sent: %s", sc_user_error(first->sc));
                return -1;
            }
            int64_t until = sc_now_us() + (int64_t)L->o.timeout_ms * 1000;
            while (!search_settled(L) && sc_now_us() < until && !load_interrupted)
                sc_loop_run(L->loop, 100, search_settled, L);
            if (L->discover_status == 503 && attempt < 10) {
                int wait_s = L->discover_retry_after >= 0 ? L->discover_retry_after : L->o.retry_after_default_s;
                sc_loop_run(L->loop, wait_s * 1000, NULL, NULL);
                continue;
            }
            if (L->discover_code == 200)
                break;
            if (L->discover_code != 0)
                snprintf(err, errlen, "the room search for '%s' was answered rpl code %d (%s)", criteria,
                         L->discover_code, L->discover_text);
            else if (L->discover_status != 0 && L->discover_status != 200)
                snprintf(err, errlen, "the room search for '%s' was answered %d", criteria, L->discover_status);
            else
                snprintf(err, errlen, "the room search for '%s' got no rpl:chansrch within %d ms", criteria,
                         L->o.timeout_ms);
            return -1;
        }
    }
    L->discovering = false;
    for (int i = 0; i < L->n_rooms; i++)
        if (!L->rooms[i].uri) {
            snprintf(err, errlen,
                     "room %s was not found by cmd:chansrch as %s (%llu of %d rooms found): create the rooms "
                     "with --setup-rooms CONNINFO (a search returns at most chat.search_limit rooms)",
                     L->rooms[i].name, sc_user_uri(first->sc), (unsigned long long)L->rooms_found, L->n_rooms);
            return -1;
        }
    action_push(L, 0, UA_SETUP_JOINS);
    return 0;
}

static void setup_progress(const struct load *L, int64_t now)
{
    fprintf(stderr, "pchat-load: set-up %5.1f s: %d of %d started, %d ready, %d failed, %d in progress\n",
            (double)(now - L->setup_start_us) / 1e6, L->signin_started, L->n_users, L->ready,
            L->signin_failed, L->signin_in_flight);
}

int signin_phase(struct load *L, char *err, size_t errlen)
{
    struct load_opts *o = &L->o;
    if (!o->user_agent[0])
        snprintf(o->user_agent, sizeof o->user_agent, "%s", o->no_retry ? SC_DEFAULT_USER_AGENT : LYNC_USER_AGENT);
    L->setup_start_us = sc_now_us();
    int64_t deadline = L->setup_start_us + (int64_t)o->setup_timeout_s * 1000000;
    bool progress = o->progress > 0 || (o->progress < 0 && isatty(2));

    if (L->n_rooms > 0 && o->setup_conninfo[0] == '\0' && discover_rooms(L, deadline, err, errlen) < 0)
        return -1;

    int next = L->signin_started;       /* the first user may be signed in already */
    double interval_us = 1e6 / o->signin_rate;
    int64_t last_progress = L->setup_start_us, last_sweep = L->setup_start_us;
    for (;;) {
        int64_t now = sc_now_us();
        /* a token bucket: sign-ins started so far may not run ahead of rate × elapsed */
        double allowed = (double)(now - L->setup_start_us) / interval_us + 1;
        while (next < L->n_users && L->signin_in_flight < o->signin_concurrency && (double)L->signin_started < allowed)
            user_begin(L, &L->users[next++]);
        actions_run(L);
        if (L->ready + L->signin_failed + (int)L->users_lost >= L->n_users)   /* everyone settled */
            break;
        if (load_interrupted) {
            fprintf(stderr, "pchat-load: interrupted during the set-up phase (%d users ready)\n", L->ready);
            break;
        }
        if (now >= deadline) {
            fprintf(stderr, "pchat-load: the set-up phase did not finish within %d s (--setup-timeout); "
                    "going on with %d ready users\n", o->setup_timeout_s, L->ready);
            break;
        }
        if (now - last_sweep >= 250000) {
            requests_sweep(L, now);         /* joins answered 200 whose rpl:join never came */
            last_sweep = now;
        }
        if (progress && now - last_progress >= 1000000) {
            setup_progress(L, now);
            last_progress = now;
        }
        /* back here for the next sign-in token, a retry due (Retry-After), or a pending action */
        int64_t due = now + 100000;
        if (next < L->n_users && L->signin_in_flight < o->signin_concurrency) {
            int64_t token = L->setup_start_us + (int64_t)((double)L->signin_started * interval_us);
            if (token < due)
                due = token;
        }
        if (timed_next_due(L) < due)
            due = timed_next_due(L);
        loop_turn(L, due);
        timed_run_due(L, sc_now_us());
    }
    L->setup_end_us = sc_now_us();
    if (progress)
        setup_progress(L, L->setup_end_us);
    if (L->ready == 0) {
        snprintf(err, errlen, "no user finished signing in and joining its rooms%s%s",
                 L->n_reasons ? "; first reason: " : "", L->n_reasons ? L->reason_text[0] : "");
        return -1;
    }
    return 0;
}
