/* sip.c — the NUA callback: one small function per SIP event. REGISTER and the provisioning
 * SUBSCRIBE are answered here in the exact shapes pidgin-sipe insists on (PROTOCOL.md §2.2,
 * §2.4; research/sofia-sip-wire-notes.md); chat INVITE sessions are in session.c, INFO in
 * info.c. */
#include "fe.h"
#include "edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tag_io.h>

#include "log.h"
#include "sbuf.h"
#include "util.h"

/* "sip:user@host" of a URL, without parameters or port; false if it has no user part. */
static bool url_to_aor(const url_t *u, char *out, size_t outlen)
{
    if (!u || !u->url_user || !u->url_host || !*u->url_user)
        return false;
    snprintf(out, outlen, "sip:%s@%s", u->url_user, u->url_host);
    for (char *p = out + 4; *p; p++)
        if (*p >= 'A' && *p <= 'Z' && strchr(out, '@') < p)
            *p = (char)(*p - 'A' + 'a');  /* host part is case-insensitive: normalise it */
    return true;
}

static bool user_in_domain(const struct fe *fe, const url_t *u)
{
    return u && u->url_host && strcasecmp(u->url_host, fe->cfg->pool.domain) == 0;
}

static void on_register(struct fe *fe, nua_handle_t *nh, sip_t const *sip)
{
    char aor[512];
    if (!sip || !sip->sip_to || !url_to_aor(sip->sip_to->a_url, aor, sizeof aor)) {
        nua_respond(nh, 400, "Missing or unusable To header", NUTAG_WITH_THIS(fe->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    if (!user_in_domain(fe, sip->sip_to->a_url)) {
        char reason[600];
        snprintf(reason, sizeof reason, "ms-diagnostics: 4005;reason=\"%s is not a user of %s\"",
                 aor, fe->cfg->pool.domain);
        nua_respond(nh, 403, "Forbidden", NUTAG_WITH_THIS(fe->nua), SIPTAG_HEADER_STR(reason),
                    TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    /* Expires: 0 signs out; otherwise grant our registration time. */
    bool signout = sip->sip_expires && sip->sip_expires->ex_delta == 0;
    char expires[16], keepalive[128];
    snprintf(expires, sizeof expires, "%d", signout ? 0 : fe->cfg->frontend.register_expires_s);
    snprintf(keepalive, sizeof keepalive,
             "ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=%d",
             fe->cfg->frontend.keepalive_s);
    /* PROTOCOL §2.2: exactly one Supported value, msrtc-event-categories, and Allow-Events
       with vnd-microsoft-provisioning-v2 as its only value (sofia joins lists with ", "). */
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua),
                SIPTAG_EXPIRES_STR(expires),
                SIPTAG_SUPPORTED_STR("msrtc-event-categories"),
                SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"),
                TAG_IF(sip->sip_contact, SIPTAG_CONTACT(sip->sip_contact)),
                SIPTAG_HEADER_STR(keepalive),
                TAG_END());
    nua_handle_destroy(nh);
    log_debug("REGISTER %s %s", aor, signout ? "signed out" : "accepted");
}

static void provisioning_document(struct fe *fe, struct sbuf *b, bool enabled)
{
    /* EnablePersistentChat must be exactly "true" without whitespace (PROTOCOL §2.4) */
    sbuf_puts(b, "<provisionGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
                 "provisiongrouplist-notification\"><provisionGroup name=\"persistentChatConfiguration\">"
                 "<propertyEntryList><property name=\"EnablePersistentChat\">");
    sbuf_puts(b, enabled ? "true" : "false");
    sbuf_puts(b, "</property><property name=\"DefaultPersistentChatPoolUri\">");
    sbuf_xml_escaped(b, fe->cfg->pool.lookup_uri);
    sbuf_puts(b, "</property></propertyEntryList></provisionGroup></provisionGroupList>");
}

/* ---- the persistent chat policy, asked of the store and cached for a minute ---------- */

#define POLICY_TTL_US (60 * 1000000LL)
#define POLICY_DEADLINE_US (10 * 1000000LL)

struct policy_entry {
    bool enabled;
    int64_t expires;
};

/* 1 enabled, 0 disabled, -1 not known (ask the store) */
static int policy_cached(struct fe *fe, const char *user)
{
    struct policy_entry *e = hmap_get(&fe->policies, hmap_hash_bytes(user, strlen(user)));
    if (!e || e->expires < mono_us())
        return -1;
    return e->enabled;
}

static void policy_remember(struct fe *fe, const char *user, bool enabled)
{
    uint64_t k = hmap_hash_bytes(user, strlen(user));
    struct policy_entry *e = hmap_get(&fe->policies, k);
    if (!e) {
        if (fe->policies.count > 100000)   /* bounded: forget everything, ask again */
            sip_janitor(fe);
        e = xcalloc(1, sizeof *e);
        hmap_put(&fe->policies, k, e);
    }
    e->enabled = enabled;
    e->expires = mono_us() + POLICY_TTL_US;
}

void sip_janitor(struct fe *fe)
{
    int64_t now = mono_us();
    size_t pos = 0;
    uint64_t k;
    void *v;
    bool all = fe->policies.count > 100000;
    while (hmap_next(&fe->policies, &pos, &k, &v)) {
        struct policy_entry *e = v;
        if (all || e->expires < now) {
            hmap_del(&fe->policies, k);
            free(e);
        }
    }
}

void sip_pending_free(struct fe_pending_sip *p)
{
    if (!p)
        return;
    free(p->user);
    free(p->user_agent);
    free(p->target);
    free(p);
}

static struct fe_pending_sip *pending_new(struct fe *fe, nua_handle_t *nh, sip_method_t method,
                                          const char *user, const char *ua, const char *target,
                                          uint32_t cseq)
{
    struct fe_pending_sip *p = xcalloc(1, sizeof *p);
    p->nh = nh;
    nua_save_event(fe->nua, p->saved);
    p->method = method;
    p->user = xstrdup(user);
    p->user_agent = xstrdup(ua ? ua : "");
    p->target = xstrdup(target ? target : "");
    p->cseq = cseq;
    return p;
}

static void ask_policy(struct fe *fe, struct fe_pending_sip *p)
{
    struct fe_request *r = request_new(fe, REQ_POLICY, 0);
    r->pending = p;
    r->user_uri = xstrdup(p->user);
    r->deadline = r->created + POLICY_DEADLINE_US;
    router_submit(fe, r);
}

/* ---- provisioning -------------------------------------------------------------------- */

static void finish_subscribe(struct fe *fe, nua_handle_t *nh, nua_saved_event_t *saved, bool enabled)
{
    /* (b) of PROTOCOL §2.4: 200 without a body, then one NOTIFY carrying the document and
       terminating the subscription. Not (a), the piggy-backed 200: sofia's notifier would
       follow it with a body-less NOTIFY of its own when the handle goes, and pidgin-sipe
       restarts its whole chat sign-in for every provisioning NOTIFY it gets (check #10). */
    nua_respond(nh, SIP_200_OK, TAG_IF(saved, NUTAG_WITH_SAVED(saved)),
                TAG_IF(!saved, NUTAG_WITH_THIS(fe->nua)), SIPTAG_EXPIRES_STR("0"), TAG_END());
    struct sbuf body;
    sbuf_init(&body, 8192);
    provisioning_document(fe, &body, enabled);
    nua_notify(nh, SIPTAG_EVENT_STR("vnd-microsoft-provisioning-v2"),
               SIPTAG_SUBSCRIPTION_STATE_STR("terminated;expires=0"),
               SIPTAG_CONTENT_TYPE_STR("application/vnd-microsoft-roaming-provisioning-v2+xml"),
               SIPTAG_PAYLOAD_STR(body.data),
               TAG_END());
    sbuf_free(&body);
    /* the handle is destroyed when the NOTIFY is answered (nua_r_notify) */
}

static void on_subscribe(struct fe *fe, nua_handle_t *nh, sip_t const *sip)
{
    if (!sip || !sip->sip_event || strcmp(sip->sip_event->o_type, "vnd-microsoft-provisioning-v2") != 0) {
        /* 489: we serve only in-band provisioning (PROTOCOL §2.2: no roaming-contacts, whose
           488 would switch pidgin-sipe into Exchange lookups) */
        nua_respond(nh, 489, "Bad Event", NUTAG_WITH_THIS(fe->nua),
                    SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    char user[512];
    if (sip->sip_expires && sip->sip_expires->ex_delta == 0 && !sip->sip_payload) {
        /* the un-SUBSCRIBE of sign-out (PROTOCOL §2.9) */
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), SIPTAG_EXPIRES_STR("0"), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    if (!sip->sip_from || !url_to_aor(sip->sip_from->a_url, user, sizeof user)) {
        nua_respond(nh, 400, "From needs a sip:user@host URI", NUTAG_WITH_THIS(fe->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    int enabled = policy_cached(fe, user);
    if (enabled >= 0) {
        finish_subscribe(fe, nh, NULL, enabled);
        return;
    }
    ask_policy(fe, pending_new(fe, nh, sip_method_subscribe, user, NULL, NULL,
                               sip->sip_cseq ? sip->sip_cseq->cs_seq : 1));
}

/* Accept or refuse a chat INVITE once the user's policy is known (status 200 enabled, 403
 * disabled, anything else: the store could not say). Takes p. */
static void finish_invite(struct fe *fe, struct fe_pending_sip *p, int status)
{
    nua_handle_t *nh = p->nh;
    if (status == 200) {
        struct fe_session *s = session_new(fe, nh, p->role, p->user, p->user_agent, p->target);
        s->conn_id = p->conn_id;
        edge_session_opened(fe, p->conn_id, s->id);
        nua_handle_bind(nh, s);
        char se[64];
        snprintf(se, sizeof se, "%d;refresher=uac", fe->cfg->frontend.session_expires_s);
        /* Session-Expires on the 200 is what makes pidgin-sipe refresh with UPDATE instead
           of storming after a non-200 INFO answer (PROTOCOL §2.5, §2.7). */
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_SAVED(p->saved), SIPTAG_SESSION_EXPIRES_STR(se),
                    TAG_END());
        log_debug("session %llu: %s INVITEd %s (%s)", (unsigned long long)s->id, p->user, p->target,
                  p->role == SESSION_LOOKUP ? "lookup" : "channel");
    } else if (status == 403) {
        nua_respond(nh, 403, "Forbidden", NUTAG_WITH_SAVED(p->saved),
                    SIPTAG_HEADER_STR("ms-diagnostics: 4007;reason=\"Persistent Chat is not "
                                      "enabled for this user\""), TAG_END());
        nua_handle_destroy(nh);
    } else {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", fe ? admit_retry_after(fe) : 5);
        nua_respond(nh, 503, "Service Unavailable", NUTAG_WITH_SAVED(p->saved),
                    SIPTAG_RETRY_AFTER_STR(ra),
                    SIPTAG_HEADER_STR("ms-diagnostics: 5000;reason=\"the chat store is unavailable\""),
                    TAG_END());
        nua_handle_destroy(nh);
    }
    nua_destroy_event(p->saved);
    sip_pending_free(p);
}

void sip_policy_answered(struct fe *fe, struct fe_request *r, int status)
{
    struct fe_pending_sip *p = r->pending;
    r->pending = NULL;
    if (!p)
        return;
    if (status == 200 || status == 403)
        policy_remember(fe, p->user, status == 200);
    if (p->method == sip_method_invite) {
        finish_invite(fe, p, status);
        return;
    }
    if (status == 200 || status == 403) {
        finish_subscribe(fe, p->nh, p->saved, status == 200);
    } else {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", fe ? admit_retry_after(fe) : 5);
        nua_respond(p->nh, 503, "Service Unavailable", NUTAG_WITH_SAVED(p->saved),
                    SIPTAG_RETRY_AFTER_STR(ra), TAG_END());
        nua_handle_destroy(p->nh);
    }
    nua_destroy_event(p->saved);
    sip_pending_free(p);
}

static void on_invite(struct fe *fe, nua_handle_t *nh, sip_t const *sip)
{
    char user[512], target[512];
    if (!sip || !sip->sip_from || !url_to_aor(sip->sip_from->a_url, user, sizeof user) ||
        !sip->sip_to || !url_to_aor(sip->sip_to->a_url, target, sizeof target)) {
        nua_respond(nh, 400, "From and To need sip:user@host URIs", NUTAG_WITH_THIS(fe->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    enum session_role role;
    if (strcasecmp(target, fe->cfg->pool.lookup_uri) == 0)
        role = SESSION_LOOKUP;
    else if (strcasecmp(target, fe->cfg->pool.channel_uri) == 0)
        role = SESSION_CHANNEL;
    else {
        nua_respond(nh, 404, "Not Found", NUTAG_WITH_THIS(fe->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    if (!user_in_domain(fe, sip->sip_from->a_url)) {
        nua_respond(nh, 403, "Forbidden", NUTAG_WITH_THIS(fe->nua),
                    SIPTAG_HEADER_STR("ms-diagnostics: 4005;reason=\"user is not in this pool's domain\""),
                    TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    if ((int)fe->sessions.count >= fe->cfg->frontend.max_sessions || strcmp(fe->state, "active") != 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", fe ? admit_retry_after(fe) : 5);
        bool draining = strcmp(fe->state, "active") != 0;
        nua_respond(nh, 503, "Service Unavailable", NUTAG_WITH_THIS(fe->nua),
                    SIPTAG_RETRY_AFTER_STR(ra),
                    SIPTAG_HEADER_STR(draining ? "ms-diagnostics: 5001;reason=\"this front end is "
                                                 "draining: no new sessions (pchatctl pool activate)\""
                                               : "ms-diagnostics: 5000;reason=\"session limit reached "
                                                 "(frontend.max_sessions)\""),
                    TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    const char *ua = sip->sip_user_agent ? sip->sip_user_agent->g_string : "";
    int enabled = policy_cached(fe, user);
    struct fe_pending_sip *p = pending_new(fe, nh, sip_method_invite, user, ua, target, 1);
    p->role = role;
    p->conn_id = edge_conn_of_callid(sip->sip_call_id ? sip->sip_call_id->i_id : NULL);
    if (enabled >= 0) {
        finish_invite(fe, p, enabled ? 200 : 403);
        return;
    }
    ask_policy(fe, p);
}

static void on_state(struct fe *fe, nua_handle_t *nh, struct fe_session *s, tagi_t tags[])
{
    int callstate = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(callstate), TAG_END());
    if (callstate != nua_callstate_terminated)
        return;
    if (s) {
        nua_handle_bind(nh, NULL);
        s->nh = NULL;
        session_end(fe, s, "dialog terminated");
    }
    nua_handle_destroy(nh);
}

void fe_nua_callback(nua_event_t event, int status, char const *phrase, nua_t *nua,
                     struct fe *fe, nua_handle_t *nh, struct fe_session *s,
                     sip_t const *sip, tagi_t tags[])
{
    (void)nua;
    switch (event) {
    case nua_i_register:
        on_register(fe, nh, sip);
        break;
    case nua_i_subscribe:
        on_subscribe(fe, nh, sip);
        break;
    case nua_i_invite:
        if (s) {   /* re-INVITE in an existing session: accept, nothing changes */
            nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), TAG_END());
            break;
        }
        on_invite(fe, nh, sip);
        break;
    case nua_i_info:
        info_received(fe, nh, s, sip);
        break;
    case nua_i_update:
        /* the session refresh; a session we cut gets 481 so the client re-connects */
        if (s && !s->ended) {
            s->last_activity = mono_us();
            session_learn_dialog(s, sip);
            nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), TAG_END());
        } else {
            nua_respond(nh, 481, "Call/Transaction Does Not Exist", NUTAG_WITH_THIS(fe->nua),
                        TAG_END());
        }
        break;
    case nua_i_ack:
        if (s) {
            s->last_activity = mono_us();
            session_learn_dialog(s, sip);
        }
        break;
    case nua_i_bye:
        if (s) {
            s->last_activity = mono_us();
            session_end(fe, s, "BYE from the client");
        }
        break;
    case nua_i_state:
        on_state(fe, nh, s, tags);
        break;
    case nua_i_method:
        /* SERVICE (presence publication after sign-in, PROTOCOL §2.3): a final answer is
           all the client needs */
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), TAG_END());
        if (!s)
            nua_handle_destroy(nh);
        break;
    case nua_i_publish:
        nua_respond(nh, 489, "Bad Event", NUTAG_WITH_THIS(fe->nua), TAG_END());
        if (!s)
            nua_handle_destroy(nh);
        break;
    case nua_i_message:
        nua_respond(nh, 405, "Method Not Allowed", NUTAG_WITH_THIS(fe->nua), TAG_END());
        if (!s)
            nua_handle_destroy(nh);
        break;
    case nua_r_notify:
        /* the provisioning NOTIFY ended the subscription: nothing more goes on this handle */
        if (status >= 200 && !s)
            nua_handle_destroy(nh);
        break;
    case nua_r_info:
        if (s)
            session_info_answered(fe, s, status);
        break;
    case nua_r_shutdown:
        if (status >= 200)
            fe->nua_down = true;
        break;
    case nua_i_terminated:
    case nua_i_active:
    case nua_i_options:
    case nua_r_set_params:
    case nua_r_destroy:
        break;
    case nua_i_error:
        log_warn("SIP stack error %d %s", status, phrase ? phrase : "");
        break;
    default:
        if (status >= 300)
            log_debug("%s: %d %s", nua_event_name(event), status, phrase ? phrase : "");
        /* an incoming request of a kind we do not serve, on a handle nobody owns */
        if (event < nua_r_set_params && !s && nh && event != nua_i_outbound)
            nua_handle_destroy(nh);
        break;
    }
}
