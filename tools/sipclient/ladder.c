/* ladder.c — SIPE's sign-in ladder (PROTOCOL §2.10): REGISTER, provisioning SUBSCRIBE, lookup
 * INVITE + cmd:requri, BYE, channel INVITE + cmd:getinv; the checks on every answer; the
 * reconnect after a 481; sign-out; re-REGISTER, UPDATE and keep-alive timers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "sc_internal.h"

static const char provisioning_body[] =
    "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist\">"
    " <provisioningGroup name=\"ServerConfiguration\"/>"
    " <provisioningGroup name=\"meetingPolicy\"/>"
    " <provisioningGroup name=\"persistentChatConfiguration\"/>"
    " <provisioningGroup name=\"ucPolicy\"/>"
    "</provisioningGroupList>";

static void step_begin(struct sc_user *u, enum sc_state s)
{
    sc_set_state(u, s, NULL);
    sc_timer_arm(u->loop, &u->step_timer, sc_now_us() + (int64_t)u->opts.step_timeout_ms * 1000);
}

static void excerpt(const struct sc_msg *m, char *out, size_t len)
{
    sc_msg_excerpt(m, out, len);
}

/* Every line of one header, quoted: "'a, b' 'c'" or "(none)" — the part a sentence needs. */
static void header_lines(const struct sc_msg *m, const char *name, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; sc_msg_header_nth(m, name, i) && o + 4 < len; i++) {
        int n = snprintf(out + o, len - o, "%s'%s'", i ? " " : "", sc_msg_header_nth(m, name, i));
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (!out[0])
        snprintf(out, len, "(none)");
}

/* ---- REGISTER ------------------------------------------------------------------------------ */

void sc_ladder_start(struct sc_user *u)
{
    if (!u->contact) {
        char c[512];
        snprintf(c, sizeof(c), "<sip:%s:%d;maddr=%s;transport=tcp>;proxy=replace", u->username,
                 u->local_port, u->local_ip);
        u->contact = sc_strdup(c);
    }
    step_begin(u, SC_REGISTERING);
    sc_send_register(u, false, SC_TP_REGISTER);
}

static bool allow_events_has_provisioning(const struct sc_msg *m)
{
    /* split on ',' without trimming, like SIPE: " vnd-…" does not count */
    for (int i = 0; sc_msg_header_nth(m, "Allow-Events", i); i++) {
        const char *v = sc_msg_header_nth(m, "Allow-Events", i);
        const char *p = v;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (n == strlen("vnd-microsoft-provisioning-v2")
                && strncasecmp(p, "vnd-microsoft-provisioning-v2", n) == 0)
                return true;
            if (!c)
                break;
            p = c + 1;
        }
    }
    return false;
}

static void schedule_reregister(struct sc_user *u)
{
    int after = u->register_expires - 30;
    if (after < u->register_expires / 2)
        after = u->register_expires / 2;
    if (after < 1)
        after = 1;
    sc_timer_arm(u->loop, &u->reregister_timer, sc_now_us() + (int64_t)after * 1000000);
}

static void read_register_200(struct sc_user *u, const struct sc_msg *m)
{
    const char *exp = sc_msg_header(m, "Expires");
    u->register_expires = exp && isdigit((unsigned char)exp[0]) ? atoi(exp) : 0;

    const char *ka = sc_msg_header(m, "ms-keep-alive");
    char v[32];
    if (ka && sc_hdr_param(ka, "timeout=", v, sizeof(v)) == 0 && atoi(v) > 0)
        u->keepalive_s = atoi(v);

    /* a gruu for our own instance becomes SIPE's Contact */
    for (int i = 0; sc_msg_header_nth(m, "Contact", i); i++) {
        const char *c = sc_msg_header_nth(m, "Contact", i);
        const char *g = strstr(c, "gruu=\"");
        if (strstr(c, u->uuid) && g) {
            const char *e = strchr(g + 6, '"');
            if (e) {
                free(u->contact);
                size_t n = (size_t)(e - (g + 6));
                u->contact = malloc(n + 3);
                if (u->contact)
                    snprintf(u->contact, n + 3, "<%.*s>", (int)n, g + 6);
            }
        }
    }
    if (u->register_expires > 0)
        schedule_reregister(u);
}

static void on_register(struct sc_user *u, const struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2];
    excerpt(m, ex, sizeof(ex));
    sc_check_pass(u, SC_CHK_REG_MATCH);
    if (m->status != 200) {
        sc_check_fail(u, SC_CHK_REG_200, "REGISTER answered %d, not 200 [%s]", m->status, ex);
        sc_fail(u, "REGISTER was answered %d %s", m->status, m->reason);
        return;
    }
    sc_check_pass(u, SC_CHK_REG_200);
    read_register_200(u, m);

    bool go = true;
    if (u->register_expires > 0) {
        sc_check_pass(u, SC_CHK_REG_EXPIRES);
    } else {
        sc_check_fail(u, SC_CHK_REG_EXPIRES,
                      "REGISTER 200 has no Expires header with a value > 0 (got '%s'): SIPE never completes sign-in [%s]",
                      sc_msg_header(m, "Expires") ? sc_msg_header(m, "Expires") : "(none)", ex);
        go = false;
    }
    bool ocs2007 = false;
    for (int i = 0; sc_msg_header_nth(m, "Supported", i); i++)
        if (strcasecmp(sc_msg_header_nth(m, "Supported", i), "msrtc-event-categories") == 0)
            ocs2007 = true;
    if (ocs2007) {
        sc_check_pass(u, SC_CHK_REG_SUPPORTED);
    } else {
        char lines[256];
        header_lines(m, "Supported", lines, sizeof(lines));
        sc_check_fail(u, SC_CHK_REG_SUPPORTED,
                      "no Supported header line whose whole value is msrtc-event-categories (Supported lines: %s): "
                      "SIPE never starts group chat [%s]", lines, ex);
        go = false;
    }
    if (allow_events_has_provisioning(m)) {
        sc_check_pass(u, SC_CHK_REG_ALLOW_EVENTS);
    } else {
        char lines[256];
        header_lines(m, "Allow-Events", lines, sizeof(lines));
        sc_check_fail(u, SC_CHK_REG_ALLOW_EVENTS,
                      "Allow-Events, split on ',' without trimming, has no token vnd-microsoft-provisioning-v2 "
                      "(Allow-Events lines: %s): SIPE does not subscribe [%s]", lines, ex);
        go = false;
    }
    if (!go && !u->opts.lenient) {
        sc_fail(u, "the REGISTER 200 lacks what SIPE needs to go on (see the checks)");
        return;
    }

    step_begin(u, SC_PROVISIONING);
    char hdr[1024];
    snprintf(hdr, sizeof(hdr),
             "Event: vnd-microsoft-provisioning-v2\r\n"
             "Accept: application/vnd-microsoft-roaming-provisioning-v2+xml\r\n"
             "Supported: com.microsoft.autoextend\r\n"
             "Supported: ms-benotify\r\n"
             "Proxy-Require: ms-benotify\r\n"
             "Supported: ms-piggyback-first-notify\r\n"
             "Expires: 0\r\n"
             "Content-Type: application/vnd-microsoft-roaming-provisioning-v2+xml\r\n"
             "Contact: %s\r\n", u->contact);
    sc_send_request(u, "SUBSCRIBE", u->aor, u->aor, NULL, hdr, provisioning_body,
                    SC_TP_SUBSCRIBE, SC_REQ_SUBSCRIBE, false);
}

/* ---- provisioning -------------------------------------------------------------------------- */

static void on_subscribe(struct sc_user *u, const struct sc_txn *t, const struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2];
    excerpt(m, ex, sizeof(ex));
    (void)t;
    if (m->status != 200) {
        sc_check_fail(u, SC_CHK_SUB_200, "provisioning SUBSCRIBE answered %d (Proxy-Require: ms-benotify must be tolerated) [%s]",
                      m->status, ex);
        sc_fail(u, "the provisioning SUBSCRIBE was answered %d %s", m->status, m->reason);
        return;
    }
    sc_check_pass(u, SC_CHK_SUB_200);

    /* the subscription dialog SIPE unsubscribes at sign-out */
    const char *to = sc_msg_header(m, "To");
    char tag[128];
    struct sc_dialog *d = calloc(1, sizeof(*d));
    if (d) {
        d->role = SC_DLG_SUBSCRIPTION;
        d->remote_uri = sc_strdup(u->aor);
        d->call_id = sc_strdup(sc_msg_header(m, "Call-ID"));
        char ftag[128];
        d->our_tag = sc_strdup(sc_hdr_param(sc_msg_header(m, "From"), "tag=", ftag, sizeof(ftag)) == 0 ? ftag : "");
        if (sc_hdr_param(to, "tag=", tag, sizeof(tag)) == 0)
            d->their_tag = sc_strdup(tag);
        d->cseq = 1;
        d->established = true;
        sc_dialog_free(u->subscription);
        u->subscription = d;
    }

    const char *piggy = sc_msg_header(m, "ms-piggyback-cseq");
    const char *event = sc_msg_header(m, "Event");
    if (m->body_len > 0) {
        if (piggy && event && strcasecmp(event, "vnd-microsoft-provisioning-v2") == 0) {
            sc_ladder_provisioned(u, m->body, m->body_len);
            return;
        }
        /* remembered for the timeout sentence in case no NOTIFY follows */
        char why[SC_DETAIL_MAX];
        snprintf(why, sizeof(why), "the SUBSCRIBE 200 carries a body but %s: SIPE ignores the body [%s]",
                 !piggy ? "no ms-piggyback-cseq header" : !event ? "no Event header"
                                                                 : "an Event other than vnd-microsoft-provisioning-v2",
                 ex);
        free(u->checks[SC_CHK_PROV_DELIVERED].detail);
        u->checks[SC_CHK_PROV_DELIVERED].detail = sc_strdup(why);
    }
}

void sc_ladder_provisioned(struct sc_user *u, const char *body, size_t len)
{
    if (u->prov_seen) {
        sc_violation(u, "a second provisioning-v2 document arrived: SIPE restarts the whole chat connection sequence (#10)");
        return;
    }
    u->prov_seen = true;
    free(u->checks[SC_CHK_PROV_DELIVERED].detail);
    u->checks[SC_CHK_PROV_DELIVERED].detail = NULL;
    sc_check_pass(u, SC_CHK_PROV_DELIVERED);

    struct sc_provisioning p;
    char err[SC_DETAIL_MAX / 2] = "";
    bool go = true;
    if (sc_provisioning_read(body, len, &p, err, sizeof(err)) < 0 || !p.found_group) {
        sc_check_fail(u, SC_CHK_PROV_ENABLED, "%s", err);
        sc_check_fail(u, SC_CHK_PROV_POOL_URI, "%s", err);
        go = false;
    } else {
        if (p.enabled)
            sc_check_pass(u, SC_CHK_PROV_ENABLED);
        else {
            sc_check_fail(u, SC_CHK_PROV_ENABLED,
                          "EnablePersistentChat is '%s', not exactly 'true': SIPE ignores the pool URI", p.enable_text);
            go = false;
        }
        const char *pool = p.pool;
        if (strncasecmp(pool, "sip:", 4) == 0)
            pool += 4;
        const char *at = strchr(pool, '@');
        if (!p.has_pool)
            sc_check_fail(u, SC_CHK_PROV_POOL_URI, "no DefaultPersistentChatPoolUri property: SIPE falls back to sip:ocschat@<domain>");
        else if (strpbrk(p.pool, " \t\r\n"))
            sc_check_fail(u, SC_CHK_PROV_POOL_URI, "DefaultPersistentChatPoolUri '%s' contains whitespace: SIPE uses it verbatim", p.pool);
        else if (!at || at == pool || !at[1])
            sc_check_fail(u, SC_CHK_PROV_POOL_URI, "DefaultPersistentChatPoolUri '%s' is not user@domain: SIPE INVITEs sip:ocschat@… instead", p.pool);
        else
            sc_check_pass(u, SC_CHK_PROV_POOL_URI);
        if (u->checks[SC_CHK_PROV_POOL_URI].state != SC_PASS)
            go = false;
    }
    if (!go && !u->opts.lenient && !(u->opts.groupchat_proxy && u->opts.groupchat_proxy[0])) {
        sc_fail(u, "the provisioning document does not give SIPE a usable chat pool (see the checks)");
        return;
    }
    char target[300], domain[256];
    sc_groupchat_target(u->opts.groupchat_proxy, &p, u->username, target, sizeof(target),
                        domain, sizeof(domain));
    free(u->pool_uri);
    u->pool_uri = sc_strdup(target);
    free(u->lookup_domain);
    u->lookup_domain = sc_strdup(domain);
    sc_ladder_lookup_invite(u);
}

/* ---- the two INVITEs ----------------------------------------------------------------------- */

static void send_invite(struct sc_user *u, struct sc_dialog *d, enum sc_txn_purpose purpose)
{
    char hdr[600], body[600];
    snprintf(hdr, sizeof(hdr),
             "Supported: ms-sender\r\n"
             "Contact: %s\r\n"
             "Content-Type: application/sdp\r\n", u->contact);
    snprintf(body, sizeof(body),
             "v=0\r\n"
             "o=- 0 0 IN IP4 %s\r\n"
             "s=session\r\n"
             "c=IN IP4 %s\r\n"
             "t=0 0\r\n"
             "m=message %d sip null\r\n"
             "a=accept-types:text/plain text/html image/gif application/im-iscomposing+xml "
             "application/ms-imdn+xml text/x-msmsgsinvite\r\n",
             u->local_ip, u->local_ip, u->port);
    sc_send_request(u, "INVITE", d->remote_uri, d->remote_uri, d, hdr, body, purpose,
                    SC_REQ_INVITE, false);
}

void sc_ladder_lookup_invite(struct sc_user *u)
{
    step_begin(u, SC_LOOKUP);
    if (u->lookup && !u->lookup->ended)
        sc_dialog_retire(u, u->lookup);
    u->lookup = sc_dialog_new(u, SC_DLG_LOOKUP, u->pool_uri);
    if (!u->lookup) {
        sc_fail(u, "out of memory");
        return;
    }
    send_invite(u, u->lookup, SC_TP_LOOKUP_INVITE);
}

/* Checks and dialog state from a 200 to one of our INVITEs (sipe-dialog.c sipe_dialog_parse);
 * returns false when SIPE would not go on. */
static bool invite_answer(struct sc_user *u, struct sc_dialog *d, const struct sc_msg *m,
                          enum sc_check c200, enum sc_check cto, enum sc_check ctag)
{
    char ex[SC_DETAIL_MAX / 2], uri[512], tag[128];
    const char *what = d->role == SC_DLG_LOOKUP ? "lookup" : "channel";
    excerpt(m, ex, sizeof(ex));
    if (m->status != 200) {
        sc_check_fail(u, c200, "%s INVITE to %s answered %d, and SIPE needs exactly 200 [%s]", what,
                      d->remote_uri, m->status, ex);
        return false;
    }
    sc_check_pass(u, c200);
    bool ok = true;
    const char *to = sc_msg_header(m, "To");
    if (to && sc_uri_of(to, uri, sizeof(uri)) == 0 && strcasecmp(uri, d->remote_uri) == 0) {
        sc_check_pass(u, cto);
    } else {
        sc_check_fail(u, cto, "%s INVITE 200: To URI '%s' is not the INVITEd %s: SIPE finds no session [%s]",
                      what, to ? uri : "(no To)", d->remote_uri, ex);
        ok = false;
    }
    if (to && sc_hdr_param(to, "tag=", tag, sizeof(tag)) == 0 && tag[0]) {
        sc_check_pass(u, ctag);
        free(d->their_tag);
        d->their_tag = sc_strdup(tag);
    } else {
        sc_check_fail(u, ctag, "%s INVITE 200 has no To tag: no dialog can be formed [%s]", what, ex);
        ok = false;
    }
    if (to && sc_hdr_param(to, "epid=", tag, sizeof(tag)) == 0) {
        free(d->their_epid);
        d->their_epid = sc_strdup(tag);
    }
    const char *contact = sc_msg_header(m, "Contact");
    if (contact && sc_uri_of(contact, uri, sizeof(uri)) == 0 && uri[0]) {
        free(d->request_uri);
        d->request_uri = sc_strdup(uri);
    }
    /* Record-Route becomes the route set, reversed for the UAC side */
    int nrr = sc_msg_header_count(m, "Record-Route");
    if (nrr > 0) {
        struct sbuf b;
        sbuf_init(&b, 8192);
        for (int i = nrr - 1; i >= 0; i--)
            sbuf_printf(&b, "Route: %s\r\n", sc_msg_header_nth(m, "Record-Route", i));
        free(d->routes);
        d->routes = b.overflow ? NULL : sbuf_steal(&b, NULL);
        sbuf_free(&b);
    }
    return ok || u->opts.lenient;
}

static void ack(struct sc_user *u, struct sc_dialog *d)
{
    d->cseq = 0;    /* SIPE resets after the 200: ACK = 1, then INFO 2, 3, ... */
    sc_send_request(u, "ACK", d->remote_uri, d->remote_uri, d, NULL, NULL, 0, SC_REQ_OTHER, true);
    d->established = true;
}

static void on_lookup_invite(struct sc_user *u, struct sc_txn *t, const struct sc_msg *m)
{
    struct sc_dialog *d = t->dlg;
    if (!d || d != u->lookup)
        return;
    if (!invite_answer(u, d, m, SC_CHK_LOOKUP_200, SC_CHK_LOOKUP_TO, SC_CHK_LOOKUP_TAG)) {
        sc_fail(u, "the lookup INVITE to %s did not get the 200 SIPE needs (see the checks)", d->remote_uri);
        return;
    }
    const char *se = sc_msg_header(m, "Session-Expires");
    if (se && isdigit((unsigned char)se[0]) && atoi(se) > 0) {
        u->session_expires = atoi(se);
        sc_check_pass(u, SC_CHK_SESSION_EXPIRES);
    } else {
        char ex[SC_DETAIL_MAX / 2];
        excerpt(m, ex, sizeof(ex));
        u->session_expires = 0;
        sc_check_fail(u, SC_CHK_SESSION_EXPIRES,
                      "lookup 200 has no Session-Expires starting with a number: SIPE never refreshes and storms UPDATEs after a non-200 INFO answer [%s]", ex);
    }
    ack(u, d);
    /* requri goes without a response handler in SIPE; we still watch its answer */
    sc_send_command(u, d, "<cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd>", SC_TP_REQURI);
}

void sc_ladder_requri_reply(struct sc_user *u, const struct xnode *rpl)
{
    if (u->state != SC_LOOKUP) {
        sc_violation(u, "an unsolicited rpl:requri arrived in state %s: SIPE would tear down and reconnect",
                     sc_state_name(u->state));
        return;
    }
    const struct xnode *data = xnode_child(rpl, "data");
    const struct xnode *uib = data ? xnode_child(data, "uib") : NULL;
    const char *uri = uib ? xnode_attr(uib, "uri") : NULL;
    if (!uri || !uri[0]) {
        sc_check_fail(u, SC_CHK_REQURI_REPLY, "rpl:requri has no data/uib/@uri: SIPE retries only after 5 minutes");
        sc_fail(u, "rpl:requri did not name the channel service");
        return;
    }
    sc_check_pass(u, SC_CHK_REQURI_REPLY);
    free(u->channel_uri);
    u->channel_uri = sc_strdup(uri);

    /* SIPE closes the lookup session and INVITEs at once, without waiting for the BYE's 200 */
    struct sc_dialog *lookup = u->lookup;
    sc_send_request(u, "BYE", lookup->remote_uri, lookup->remote_uri, lookup, NULL, NULL,
                    SC_TP_LOOKUP_BYE, SC_REQ_BYE, false);
    sc_dialog_retire(u, lookup);
    u->lookup = NULL;

    step_begin(u, SC_CHANNEL);
    if (u->channel && !u->channel->ended)
        sc_dialog_retire(u, u->channel);
    u->channel = sc_dialog_new(u, SC_DLG_CHANNEL, uri);
    if (!u->channel) {
        sc_fail(u, "out of memory");
        return;
    }
    send_invite(u, u->channel, SC_TP_CHANNEL_INVITE);
}

static void update_timer_arm(struct sc_user *u)
{
    if (u->opts.no_auto_update || u->session_expires <= 10)
        return;
    sc_timer_arm(u->loop, &u->update_timer, sc_now_us() + (int64_t)(u->session_expires - 10) * 1000000);
}

static void on_channel_invite(struct sc_user *u, struct sc_txn *t, const struct sc_msg *m)
{
    struct sc_dialog *d = t->dlg;
    if (!d || d != u->channel)
        return;
    if (!invite_answer(u, d, m, SC_CHK_CHANNEL_200, SC_CHK_CHANNEL_TO, SC_CHK_CHANNEL_TAG)) {
        sc_fail(u, "the channel INVITE to %s did not get the 200 SIPE needs (see the checks)", d->remote_uri);
        return;
    }
    ack(u, d);
    sc_timer_cancel(u->loop, &u->step_timer);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "<cmd id=\"cmd:getinv\" seqid=\"1\"><data><inv inviteId=\"1\" domain=\"%s\"/></data></cmd>",
             u->lookup_domain ? u->lookup_domain : u->domain);
    sc_send_command(u, d, cmd, SC_TP_GETINV);
    update_timer_arm(u);
    sc_set_state(u, SC_CONNECTED, u->reconnects ? "reconnected to the channel service" : "connected");
}

/* ---- reconnect after 481 (sipe-groupchat.c groupchat_expired_session_response) --------------- */

static void reconnect_after_481(struct sc_user *u, const char *why)
{
    struct sc_dialog *d = u->channel;
    if (!d)
        return;
    u->reconnects++;
    sc_send_request(u, "BYE", d->remote_uri, d->remote_uri, d, NULL, NULL, SC_TP_DEAD_BYE,
                    SC_REQ_BYE, false);
    sc_dialog_retire(u, d);
    u->channel = NULL;
    sc_timer_cancel(u->loop, &u->update_timer);
    sc_set_state(u, SC_LOOKUP, why);
    sc_ladder_lookup_invite(u);
}

/* ---- responses ----------------------------------------------------------------------------- */

static struct sc_event *answer_event(const struct sc_txn *t, const struct sc_msg *m)
{
    struct sc_event *ev = sc_event_new(SC_EV_ANSWER);
    if (!ev)
        return NULL;
    ev->req = t->kind;
    ev->method = sc_strdup(t->method);
    ev->cseq = t->cseq;
    ev->envid = t->envid;
    ev->status = m ? m->status : 408;
    ev->local_timeout = m == NULL;
    ev->retry_after = -1;
    ev->rtt_us = sc_now_us() - t->sent_us;
    if (m) {
        const char *ra = sc_msg_header(m, "Retry-After");
        if (ra && isdigit((unsigned char)ra[0]))
            ev->retry_after = atoi(ra);
        char *raw = sc_strndup(m->raw, m->raw_len);
        ev->raw = raw;
        ev->raw_len = raw ? m->raw_len : 0;
    }
    return ev;
}

static void signout_progress(struct sc_user *u)
{
    if (u->state != SC_SIGNING_OUT || --u->signout_pending > 0)
        return;
    sc_timer_cancel(u->loop, &u->step_timer);
    sc_timer_cancel(u->loop, &u->keepalive_timer);
    sc_timer_cancel(u->loop, &u->reregister_timer);
    sc_timer_cancel(u->loop, &u->update_timer);
    sc_conn_close(u);
    sc_set_state(u, SC_SIGNED_OUT, "signed out");
}

void sc_ladder_on_response(struct sc_user *u, struct sc_txn *t, const struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2];
    switch (t->purpose) {
    case SC_TP_REGISTER:
        on_register(u, m);
        return;
    case SC_TP_REREGISTER:
        if (m->status == 200)
            read_register_200(u, m);
        else {
            excerpt(m, ex, sizeof(ex));
            sc_violation(u, "re-REGISTER answered %d: SIPE treats it as a sign-in failure [%s]", m->status, ex);
        }
        sc_emit(u, answer_event(t, m));
        return;
    case SC_TP_SUBSCRIBE:
        on_subscribe(u, t, m);
        return;
    case SC_TP_LOOKUP_INVITE:
        on_lookup_invite(u, t, m);
        return;
    case SC_TP_REQURI:
        excerpt(m, ex, sizeof(ex));
        if (m->status == 200)
            sc_check_pass(u, SC_CHK_REQURI_ANSWER);
        else
            sc_check_fail(u, SC_CHK_REQURI_ANSWER,
                          "cmd:requri INFO answered %d: SIPE ignores it and never re-sends requri (#29) [%s]", m->status, ex);
        return;
    case SC_TP_LOOKUP_BYE:
        excerpt(m, ex, sizeof(ex));
        if (m->status == 200)
            sc_check_pass(u, SC_CHK_LOOKUP_BYE_200);
        else
            sc_check_fail(u, SC_CHK_LOOKUP_BYE_200, "BYE of the lookup dialog answered %d [%s]", m->status, ex);
        return;
    case SC_TP_CHANNEL_INVITE:
        on_channel_invite(u, t, m);
        return;
    case SC_TP_GETINV:
        excerpt(m, ex, sizeof(ex));
        if (m->status == 200)
            sc_check_pass(u, SC_CHK_GETINV_ANSWER);
        else
            sc_check_fail(u, SC_CHK_GETINV_ANSWER, "cmd:getinv INFO answered %d [%s]", m->status, ex);
        sc_emit(u, answer_event(t, m));
        if (m->status == 481 && t->dlg == u->channel && !u->opts.no_reconnect_on_481)
            reconnect_after_481(u, "reconnecting: the server answered 481 to an INFO");
        return;
    case SC_TP_COMMAND:
        sc_emit(u, answer_event(t, m));
        if (m->status == 481 && t->dlg && t->dlg == u->channel && !u->opts.no_reconnect_on_481)
            reconnect_after_481(u, "reconnecting: the server answered 481 to an INFO");
        else if (m->status != 200 && u->session_expires == 0)
            sc_violation(u, "an INFO was answered %d while the lookup 200 had no Session-Expires: SIPE would now send UPDATEs back-to-back", m->status);
        return;
    case SC_TP_UPDATE:
        sc_emit(u, answer_event(t, m));
        if (m->status == 481 && t->dlg && t->dlg == u->channel && !u->opts.no_reconnect_on_481)
            reconnect_after_481(u, "reconnecting: the server answered 481 to an UPDATE");
        else if (t->dlg == u->channel)
            update_timer_arm(u);
        return;
    case SC_TP_CHANNEL_BYE:
    case SC_TP_UNSUBSCRIBE:
    case SC_TP_UNREGISTER:
        sc_emit(u, answer_event(t, m));
        signout_progress(u);
        return;
    case SC_TP_RAW:
    case SC_TP_DEAD_BYE:
        sc_emit(u, answer_event(t, m));
        return;
    }
}

void sc_ladder_on_timeout(struct sc_user *u, struct sc_txn *t)
{
    switch (t->purpose) {
    case SC_TP_REGISTER: case SC_TP_SUBSCRIBE: case SC_TP_LOOKUP_INVITE: case SC_TP_CHANNEL_INVITE:
        return;   /* the step timer speaks for these */
    case SC_TP_REQURI:
        sc_check_fail(u, SC_CHK_REQURI_ANSWER, "cmd:requri INFO got no final response within %d ms", u->opts.txn_timeout_ms);
        return;
    case SC_TP_LOOKUP_BYE:
        sc_check_fail(u, SC_CHK_LOOKUP_BYE_200, "BYE of the lookup dialog got no final response within %d ms", u->opts.txn_timeout_ms);
        return;
    case SC_TP_GETINV:
        sc_check_fail(u, SC_CHK_GETINV_ANSWER, "cmd:getinv INFO got no final response within %d ms", u->opts.txn_timeout_ms);
        break;
    default:
        break;
    }
    sc_violation(u, "%s CSeq %u got no final response within %d ms", t->method, t->cseq, u->opts.txn_timeout_ms);
    sc_emit(u, answer_event(t, NULL));
    if (t->purpose == SC_TP_CHANNEL_BYE || t->purpose == SC_TP_UNSUBSCRIBE || t->purpose == SC_TP_UNREGISTER)
        signout_progress(u);
}

void sc_ladder_step_deadline(struct sc_user *u)
{
    int ms = u->opts.step_timeout_ms;
    switch (u->state) {
    case SC_REGISTERING:
        if (u->checks[SC_CHK_REG_MATCH].state == SC_NOT_RUN)
            sc_check_fail(u, SC_CHK_REG_MATCH, "no answer to REGISTER carrying its Call-ID and CSeq within %d ms", ms);
        sc_fail(u, "REGISTER got no usable answer within %d ms", ms);
        break;
    case SC_PROVISIONING:
        if (u->checks[SC_CHK_SUB_200].state == SC_NOT_RUN)
            sc_check_fail(u, SC_CHK_SUB_200, "the provisioning SUBSCRIBE got no answer within %d ms", ms);
        if (u->checks[SC_CHK_PROV_DELIVERED].state != SC_PASS) {
            const char *prev = u->checks[SC_CHK_PROV_DELIVERED].detail;
            char d[SC_DETAIL_MAX];
            snprintf(d, sizeof(d), "%s", prev ? prev : "no provisioning document: neither a piggy-backed 200 (ms-piggyback-cseq + Event) nor a NOTIFY/BENOTIFY");
            sc_check_fail(u, SC_CHK_PROV_DELIVERED, "%s (waited %d ms)", d, ms);
        }
        sc_fail(u, "no provisioning document SIPE would read within %d ms", ms);
        break;
    case SC_LOOKUP:
        if (u->checks[SC_CHK_LOOKUP_200].state == SC_NOT_RUN)
            sc_check_fail(u, SC_CHK_LOOKUP_200, "the lookup INVITE to %s got no final response within %d ms",
                          u->pool_uri ? u->pool_uri : "?", ms);
        else if (u->checks[SC_CHK_REQURI_REPLY].state == SC_NOT_RUN)
            sc_check_fail(u, SC_CHK_REQURI_REPLY, "no rpl:requri INFO in the lookup dialog within %d ms", ms);
        sc_fail(u, "the lookup step did not finish within %d ms", ms);
        break;
    case SC_CHANNEL:
        if (u->checks[SC_CHK_CHANNEL_200].state == SC_NOT_RUN)
            sc_check_fail(u, SC_CHK_CHANNEL_200, "the channel INVITE to %s got no final response within %d ms",
                          u->channel_uri ? u->channel_uri : "?", ms);
        sc_fail(u, "the channel INVITE did not finish within %d ms", ms);
        break;
    case SC_SIGNING_OUT:
        sc_violation(u, "sign-out: %d answers still missing after %d ms", u->signout_pending, ms);
        sc_conn_close(u);
        sc_set_state(u, SC_SIGNED_OUT, "signed out (answers missing)");
        break;
    default:
        break;
    }
}

/* ---- sign-out and periodic requests -------------------------------------------------------- */

int sc_user_signout(struct sc_user *u)
{
    if (u->fd.fd < 0 || u->state == SC_SIGNING_OUT || u->state == SC_SIGNED_OUT)
        return -1;
    sc_timer_cancel(u->loop, &u->update_timer);
    sc_timer_cancel(u->loop, &u->reregister_timer);
    step_begin(u, SC_SIGNING_OUT);
    u->signout_pending = 1;    /* held until everything is sent */
    struct sc_dialog *dl[2] = { u->channel, u->lookup };
    for (int i = 0; i < 2; i++) {
        struct sc_dialog *d = dl[i];
        if (!d || d->ended || !d->established)
            continue;
        if (sc_send_request(u, "BYE", d->remote_uri, d->remote_uri, d, NULL, NULL,
                            SC_TP_CHANNEL_BYE, SC_REQ_BYE, false))
            u->signout_pending++;
        sc_dialog_retire(u, d);
    }
    u->channel = NULL;
    u->lookup = NULL;
    if (u->subscription) {
        char hdr[512];
        snprintf(hdr, sizeof(hdr), "Event: vnd-microsoft-provisioning-v2\r\nExpires: 0\r\nContact: %s\r\n", u->contact);
        if (sc_send_request(u, "SUBSCRIBE", u->aor, u->aor, u->subscription, hdr, NULL,
                            SC_TP_UNSUBSCRIBE, SC_REQ_UNSUBSCRIBE, false))
            u->signout_pending++;
    }
    int before = u->n_txns;
    sc_send_register(u, true, SC_TP_UNREGISTER);
    if (u->n_txns > before)
        u->signout_pending++;
    signout_progress(u);
    return 0;
}

uint32_t sc_user_end_channel(struct sc_user *u)
{
    struct sc_dialog *d = u->channel;
    if (!d || !d->established || d->ended)
        return 0;
    struct sc_txn *t = sc_send_request(u, "BYE", d->remote_uri, d->remote_uri, d, NULL, NULL,
                                       SC_TP_DEAD_BYE, SC_REQ_BYE, false);
    uint32_t cseq = t ? t->cseq : 0;
    sc_timer_cancel(u->loop, &u->update_timer);
    sc_dialog_retire(u, d);
    u->channel = NULL;
    return cseq;
}

uint32_t sc_user_update(struct sc_user *u)
{
    struct sc_dialog *d = u->channel;
    if (!d || !d->established || d->ended)
        return 0;
    struct sc_txn *t = sc_send_request(u, "UPDATE", d->remote_uri, d->remote_uri, d, NULL, NULL,
                                       SC_TP_UPDATE, SC_REQ_UPDATE, false);
    return t ? t->cseq : 0;
}

void sc_ladder_update_due(struct sc_user *u)
{
    sc_user_update(u);
}

void sc_ladder_reregister_due(struct sc_user *u)
{
    if (u->state == SC_SIGNING_OUT || u->state == SC_SIGNED_OUT || u->state == SC_FAILED)
        return;
    sc_send_register(u, false, SC_TP_REREGISTER);
}

int sc_user_send_keepalive(struct sc_user *u)
{
    return sc_conn_send(u, "\r\n\r\n", 4);
}
