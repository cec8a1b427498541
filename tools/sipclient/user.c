/* user.c — a user's life: creation from a sign-in name, the timers that drive it, state
 * changes, the record of checks and violations, and the accessors tests read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sc_internal.h"

#define container(ptr, field) ((struct sc_user *)((char *)(ptr) - offsetof(struct sc_user, field)))

char *sc_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *sc_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *const state_names[] = {
    [SC_IDLE] = "idle", [SC_CONNECTING] = "connecting", [SC_REGISTERING] = "registering",
    [SC_PROVISIONING] = "provisioning", [SC_LOOKUP] = "lookup", [SC_CHANNEL] = "channel",
    [SC_CONNECTED] = "connected", [SC_SIGNING_OUT] = "signing out", [SC_SIGNED_OUT] = "signed out",
    [SC_FAILED] = "failed",
};

const char *sc_state_name(enum sc_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) && state_names[s] ? state_names[s] : "?";
}

static const char *const check_names[SC_CHK__COUNT] = {
    [SC_CHK_FRAMING] = "#1 #2 every message has Content-Length with a body, a reason phrase, ':' in every header line, full header names",
    [SC_CHK_REG_MATCH] = "#3 the REGISTER answer carries our Call-ID and CSeq unchanged",
    [SC_CHK_REG_200] = "REGISTER is answered 200",
    [SC_CHK_REG_EXPIRES] = "#4 REGISTER 200 has an Expires header > 0",
    [SC_CHK_REG_SUPPORTED] = "#5 REGISTER 200 has a Supported line whose whole value is msrtc-event-categories",
    [SC_CHK_REG_ALLOW_EVENTS] = "#6 REGISTER 200 Allow-Events lists vnd-microsoft-provisioning-v2 (split on ',' without trimming)",
    [SC_CHK_SUB_200] = "#30 provisioning SUBSCRIBE (Proxy-Require: ms-benotify) is answered 200",
    [SC_CHK_PROV_DELIVERED] = "#8 provisioning arrives piggy-backed (ms-piggyback-cseq + Event) or in a NOTIFY/BENOTIFY",
    [SC_CHK_PROV_ENABLED] = "#9 EnablePersistentChat is exactly 'true'",
    [SC_CHK_PROV_POOL_URI] = "#9 DefaultPersistentChatPoolUri is a user@domain URI without whitespace",
    [SC_CHK_LOOKUP_200] = "#11 lookup INVITE answered exactly 200",
    [SC_CHK_LOOKUP_TO] = "#11 lookup 200 echoes the INVITEd To URI",
    [SC_CHK_LOOKUP_TAG] = "#11 lookup 200 has a To tag",
    [SC_CHK_SESSION_EXPIRES] = "#12 lookup 200 has Session-Expires (number first)",
    [SC_CHK_REQURI_ANSWER] = "#17 cmd:requri INFO answered 200",
    [SC_CHK_REQURI_REPLY] = "#13 rpl:requri in the lookup dialog with data/uib/@uri",
    [SC_CHK_INFO_FROM] = "#14 server INFO From URI equals the INVITEd URI, no URI parameters",
    [SC_CHK_INFO_CALLID] = "#14 server INFO Call-ID equals the dialog's Call-ID",
    [SC_CHK_LOOKUP_BYE_200] = "BYE of the lookup dialog answered 200",
    [SC_CHK_CHANNEL_200] = "#11 channel INVITE answered exactly 200",
    [SC_CHK_CHANNEL_TO] = "#11 channel 200 echoes the INVITEd To URI",
    [SC_CHK_CHANNEL_TAG] = "#11 channel 200 has a To tag",
    [SC_CHK_GETINV_ANSWER] = "#17 cmd:getinv INFO answered 200",
};

const char *sc_check_name(enum sc_check c)
{
    return (unsigned)c < SC_CHK__COUNT ? check_names[c] : "?";
}

enum sc_check_state sc_check_state(const struct sc_user *u, enum sc_check c)
{
    return (unsigned)c < SC_CHK__COUNT ? u->checks[c].state : SC_NOT_RUN;
}

const char *sc_check_detail(const struct sc_user *u, enum sc_check c)
{
    return (unsigned)c < SC_CHK__COUNT && u->checks[c].detail ? u->checks[c].detail : "";
}

/* ---- findings ------------------------------------------------------------------------------ */

static void violation_v(struct sc_user *u, const char *fmt, va_list ap)
{
    char buf[SC_DETAIL_MAX * 2];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    u->n_violations++;
    if (u->opts.trace)
        fprintf(stderr, "!!!! %s violation: %s\n", u->aor, buf);
    int keep = u->opts.max_violations > 0 && u->opts.max_violations < SC_MAX_VIOLATIONS
                   ? u->opts.max_violations : SC_MAX_VIOLATIONS;
    if (u->n_stored_violations < keep) {
        u->violations[u->n_stored_violations] = sc_strdup(buf);
        if (u->violations[u->n_stored_violations])
            u->n_stored_violations++;
    }
}

void sc_violation(struct sc_user *u, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    violation_v(u, fmt, ap);
    va_end(ap);
}

void sc_check_pass(struct sc_user *u, enum sc_check c)
{
    if (u->checks[c].state != SC_FAIL)
        u->checks[c].state = SC_PASS;
}

void sc_check_fail(struct sc_user *u, enum sc_check c, const char *fmt, ...)
{
    char buf[SC_DETAIL_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (u->checks[c].state != SC_FAIL) {
        free(u->checks[c].detail);
        u->checks[c].detail = sc_strdup(buf);
        u->checks[c].state = SC_FAIL;
    }
    sc_violation(u, "%s", buf);
}

int sc_user_violation_count(const struct sc_user *u)
{
    return u->n_violations;
}

int sc_user_violations_stored(const struct sc_user *u)
{
    return u->n_stored_violations;
}

const char *sc_user_violation(const struct sc_user *u, int i)
{
    return i >= 0 && i < u->n_stored_violations ? u->violations[i] : "";
}

/* ---- state --------------------------------------------------------------------------------- */

void sc_set_state(struct sc_user *u, enum sc_state s, const char *text)
{
    if (u->state == s && !text)
        return;
    u->state = s;
    struct sc_event *ev = sc_event_new(SC_EV_STATE);
    if (!ev)
        return;
    ev->state = s;
    ev->text = sc_strdup(text ? text : sc_state_name(s));
    sc_emit(u, ev);
}

void sc_fail(struct sc_user *u, const char *fmt, ...)
{
    if (u->state == SC_FAILED || u->state == SC_SIGNED_OUT)
        return;
    char buf[SC_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(u->error);
    u->error = sc_strdup(buf);
    if (u->opts.trace)
        fprintf(stderr, "!!!! %s failed: %s\n", u->aor, buf);
    sc_timer_cancel(u->loop, &u->step_timer);
    sc_timer_cancel(u->loop, &u->update_timer);
    sc_timer_cancel(u->loop, &u->reregister_timer);
    sc_timer_cancel(u->loop, &u->keepalive_timer);
    sc_conn_close(u);
    sc_set_state(u, SC_FAILED, buf);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void step_fired(struct sc_timer *t)
{
    sc_ladder_step_deadline(container(t, step_timer));
}

static int keepalive_interval_ms(const struct sc_user *u)
{
    if (u->opts.keepalive_ms > 0)
        return u->opts.keepalive_ms;
    return u->keepalive_s > 0 ? u->keepalive_s * 1000 : 60000;
}

static void keepalive_fired(struct sc_timer *t)
{
    struct sc_user *u = container(t, keepalive_timer);
    if (u->fd.fd < 0)
        return;
    int64_t interval = (int64_t)keepalive_interval_ms(u) * 1000;
    int64_t now = sc_now_us();
    if (now - u->last_tx_us >= interval)
        sc_user_send_keepalive(u);
    if (u->fd.fd >= 0)
        sc_timer_arm(u->loop, t, u->last_tx_us + interval);
}

static void txn_fired(struct sc_timer *t)
{
    struct sc_user *u = container(t, txn_timer);
    int64_t now = sc_now_us();
    for (int i = 0; i < u->n_txns;) {
        if (u->txns[i].deadline_us > now) {
            i++;
            continue;
        }
        struct sc_txn copy = u->txns[i];
        u->txns[i].key = NULL;
        sc_txn_remove(u, &u->txns[i]);
        sc_ladder_on_timeout(u, &copy);
        free(copy.key);
        i = 0;      /* the handler may have changed the table */
    }
    sc_txn_rearm(u);
}

static void update_fired(struct sc_timer *t)
{
    sc_ladder_update_due(container(t, update_timer));
}

static void reregister_fired(struct sc_timer *t)
{
    sc_ladder_reregister_due(container(t, reregister_timer));
}

/* ---- life ---------------------------------------------------------------------------------- */

struct sc_user *sc_user_new(struct sc_loop *loop, const char *uri, const char *host, int port,
                            const struct sc_opts *opts, char *err, size_t errlen)
{
    const char *name = uri;
    if (!uri || !host || port <= 0 || port > 65535) {
        snprintf(err, errlen, "a user needs a sign-in name, a front end host and a port (1-65535)");
        return NULL;
    }
    if (strncasecmp(name, "sip:", 4) == 0)
        name += 4;
    const char *at = strchr(name, '@');
    if (!at || at == name || !at[1] || strpbrk(name, " \t\r\n<>;\"") || strlen(name) > 200) {
        snprintf(err, errlen, "sign-in name '%s' must be user@domain (SIPE requires it)", uri);
        return NULL;
    }
    struct sc_user *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    u->loop = loop;
    if (opts)
        u->opts = *opts;
    if (u->opts.step_timeout_ms <= 0)
        u->opts.step_timeout_ms = 10000;
    if (u->opts.txn_timeout_ms <= 0)
        u->opts.txn_timeout_ms = 32000;
    if (u->opts.max_message == 0)
        u->opts.max_message = 1 << 20;
    if (u->opts.max_send_buffer == 0)
        u->opts.max_send_buffer = 4 << 20;
    if (u->opts.event_queue_max == 0)
        u->opts.event_queue_max = 16384;
    const char *tr = getenv("SC_TRACE");
    if (tr && tr[0] == '1')
        u->opts.trace = true;
    u->user_agent = sc_strdup(u->opts.user_agent ? u->opts.user_agent : SC_DEFAULT_USER_AGENT);
    u->username = sc_strdup(name);
    u->domain = sc_strdup(at + 1);
    size_t al = strlen(name) + 5;
    u->aor = malloc(al);
    if (u->aor)
        snprintf(u->aor, al, "sip:%s", name);
    u->host = sc_strdup(host);
    u->port = port;
    u->fd.fd = -1;
    snprintf(u->epid, sizeof(u->epid), "%08x%02x", sc_random(loop), sc_random(loop) & 0xff);
    snprintf(u->uuid, sizeof(u->uuid), "%08x-%04x-5%03x-%04x-%08x%04x", sc_random(loop),
             sc_random(loop) & 0xffff, sc_random(loop) & 0xfff, (sc_random(loop) & 0x3fff) | 0x8000,
             sc_random(loop), sc_random(loop) & 0xffff);
    u->envid = sc_random(loop) & 0x7fffffff;
    struct sc_timer *timers[] = { &u->step_timer, &u->keepalive_timer, &u->txn_timer, &u->update_timer,
                                  &u->reregister_timer };
    void (*fires[])(struct sc_timer *) = { step_fired, keepalive_fired, txn_fired, update_fired, reregister_fired };
    for (int i = 0; i < 5; i++) {
        timers[i]->heap_idx = -1;
        timers[i]->fire = fires[i];
    }
    if (!u->user_agent || !u->username || !u->domain || !u->aor || !u->host) {
        sc_user_free(u);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    u->next_in_loop = loop->users;
    if (loop->users)
        loop->users->prev_in_loop = u;
    loop->users = u;
    return u;
}

void sc_user_free(struct sc_user *u)
{
    if (!u)
        return;
    struct sc_loop *l = u->loop;
    sc_conn_close(u);
    struct sc_timer *timers[] = { &u->step_timer, &u->keepalive_timer, &u->txn_timer, &u->update_timer,
                                  &u->reregister_timer };
    for (int i = 0; i < 5; i++)
        sc_timer_cancel(l, timers[i]);
    if (u->prev_in_loop)
        u->prev_in_loop->next_in_loop = u->next_in_loop;
    else if (l->users == u)
        l->users = u->next_in_loop;
    if (u->next_in_loop)
        u->next_in_loop->prev_in_loop = u->prev_in_loop;
    for (int i = 0; i < u->n_txns; i++)
        free(u->txns[i].key);
    free(u->txns);
    sc_dialog_free(u->lookup);
    sc_dialog_free(u->channel);
    sc_dialog_free(u->subscription);
    for (int i = 0; i < SC_OLD_DIALOGS; i++)
        sc_dialog_free(u->old_dialogs[i]);
    sc_rooms_clear(u);
    for (int i = 0; i < u->q_len; i++)
        sc_event_free(u->q[i]);
    free(u->q);
    for (int i = 0; i < SC_CHK__COUNT; i++)
        free(u->checks[i].detail);
    for (int i = 0; i < u->n_stored_violations; i++)
        free(u->violations[i]);
    free(u->rbuf);
    free(u->wbuf);
    free(u->user_agent);
    free(u->aor);
    free(u->username);
    free(u->domain);
    free(u->host);
    free(u->contact);
    free(u->register_call_id);
    free(u->pool_uri);
    free(u->lookup_domain);
    free(u->channel_uri);
    free(u->error);
    free(u);
}

int sc_user_signin(struct sc_user *u)
{
    if (u->state != SC_IDLE)
        return -1;
    sc_set_state(u, SC_CONNECTING, NULL);
    if (sc_conn_open(u) < 0)
        return -1;
    u->last_tx_us = sc_now_us();
    sc_timer_arm(u->loop, &u->step_timer, sc_now_us() + (int64_t)u->opts.step_timeout_ms * 1000);
    sc_timer_arm(u->loop, &u->keepalive_timer, u->last_tx_us + (int64_t)keepalive_interval_ms(u) * 1000);
    return 0;
}

static bool signin_done(void *arg)
{
    struct sc_user *u = arg;
    return u->state == SC_CONNECTED || u->state == SC_FAILED || u->state == SC_SIGNED_OUT;
}

bool sc_user_signin_wait(struct sc_user *u, int timeout_ms)
{
    if (u->state == SC_IDLE && sc_user_signin(u) < 0)
        return false;
    sc_loop_run(u->loop, timeout_ms, signin_done, u);
    return u->state == SC_CONNECTED;
}

static bool signout_done(void *arg)
{
    struct sc_user *u = arg;
    return u->state == SC_SIGNED_OUT || u->state == SC_FAILED;
}

bool sc_user_signout_wait(struct sc_user *u, int timeout_ms)
{
    if (u->state != SC_SIGNING_OUT && sc_user_signout(u) < 0)
        return false;
    sc_loop_run(u->loop, timeout_ms, signout_done, u);
    return u->state == SC_SIGNED_OUT;
}

/* ---- accessors ----------------------------------------------------------------------------- */

enum sc_state sc_user_state(const struct sc_user *u) { return u->state; }
const char *sc_user_error(const struct sc_user *u) { return u->error ? u->error : ""; }
const char *sc_user_uri(const struct sc_user *u) { return u->aor; }
const char *sc_user_pool_uri(const struct sc_user *u) { return u->pool_uri ? u->pool_uri : ""; }
const char *sc_user_channel_uri(const struct sc_user *u) { return u->channel_uri ? u->channel_uri : ""; }
int sc_user_session_expires(const struct sc_user *u) { return u->session_expires; }
int sc_user_register_expires(const struct sc_user *u) { return u->register_expires; }
uint64_t sc_user_rx_bytes(const struct sc_user *u) { return u->rx_bytes; }
int sc_user_sys_errno(const struct sc_user *u) { return u->sys_errno; }
uint32_t sc_user_last_envid(const struct sc_user *u) { return u->envid - 1; }
void *sc_user_data(const struct sc_user *u) { return u->data; }
void sc_user_set_data(struct sc_user *u, void *data) { u->data = data; }

uint32_t sc_user_send_request(struct sc_user *u, const struct sc_raw_request *r)
{
    const char *ruri = r->request_uri ? r->request_uri : u->channel_uri;
    if (!ruri || !r->method)
        return 0;
    const char *to = r->to_uri ? r->to_uri : ruri;
    struct sc_txn *t;
    if (!r->to_tag && !r->call_id && r->cseq <= 1) {
        /* out of dialog, like SIPE's first requests: fresh Call-ID and tag, Via branch */
        t = sc_send_request(u, r->method, ruri, to, NULL, r->extra_headers, r->body, SC_TP_RAW,
                            SC_REQ_RAW, false);
    } else {
        /* a throw-away dialog: no Via branch, as SIPE sends in-dialog requests */
        char cid[80], tag[32];
        sc_gen_callid(u, cid, sizeof(cid));
        sc_gen_tag(u, tag, sizeof(tag));
        struct sc_dialog d = {
            .remote_uri = (char *)ruri,
            .call_id = (char *)(r->call_id ? r->call_id : cid),
            .our_tag = tag,
            .their_tag = (char *)r->to_tag,
            .cseq = r->cseq ? r->cseq - 1 : 0,
        };
        t = sc_send_request(u, r->method, ruri, to, &d, r->extra_headers, r->body, SC_TP_RAW,
                            SC_REQ_RAW, false);
        if (t)
            t->dlg = NULL;      /* d lives on this stack frame only */
    }
    return t ? t->cseq : 0;
}
