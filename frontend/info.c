/* info.c — an XCCOS INFO from a client: cheap checks first (dialog, size), then admission
 * (200 or 503) before any XML parse, then the request goes to a worker.
 *
 * Commands are answered 200 at once; their real answer comes back as an INFO. Posts are
 * answered only when the worker committed them (DESIGN.md §7: acknowledged = stored), so
 * their 200 is held with nua_save_event. cmd:requri needs no store and is answered here: it
 * is never shed, because pidgin-sipe never sends it twice (PROTOCOL.md §2.5). */
#include "fe.h"

#include <stdio.h>
#include <string.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "log.h"
#include "sbuf.h"
#include "util.h"

/* Requests one session may have waiting behind the one in flight. */
#define SESSION_REQUESTS_MAX 256

static void respond_error(struct fe *fe, nua_handle_t *nh, int status, const char *phrase,
                          const char *diagnostic)
{
    char diag[512];
    snprintf(diag, sizeof diag, "ms-diagnostics: %d;reason=\"%s\";source=\"%s\"",
             status == 503 ? 5000 : 4000 + status % 100, diagnostic, fe->id);
    nua_respond(nh, status, phrase, NUTAG_WITH_THIS(fe->nua), SIPTAG_HEADER_STR(diag), TAG_END());
}

static void answer_requri(struct fe *fe, struct fe_session *s, const char *body, size_t len)
{
    struct xccos_cmd *cmd = NULL;
    char err[256];
    if (xccos_cmd_parse(body, len, &xdoc_default_limits, &cmd, err, sizeof err) != XCCOS_OK) {
        log_info("session %llu of %s: unusable cmd:requri: %s", (unsigned long long)s->id,
                 s->user_uri, err);
        xccos_cmd_free(cmd);
        return;
    }
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_requri(&b, random_u64() >> 1, cmd, fe->cfg->pool.channel_uri);
    session_send(fe, s, b.data, b.len);
    sbuf_free(&b);
    xccos_cmd_free(cmd);
}

static enum xccos_cmd_id pl_cmd(sip_t const *sip)
{
    return sip && sip->sip_payload ? xccos_peek_cmd(sip->sip_payload->pl_data, sip->sip_payload->pl_len)
                                   : XCMD_UNKNOWN;
}

void info_received(struct fe *fe, nua_handle_t *nh, struct fe_session *s, sip_t const *sip)
{
    fe->stats.info_in++;
    if (!s || s->ended || !s->nh) {
        /* unknown, expired or cut session: pidgin-sipe re-connects on 481 (PROTOCOL §2.7) */
        fe->stats.info_481++;
        fe->stats.info_by_cmd[pl_cmd(sip)][OUT_NO_SESSION]++;
        nua_respond(nh, 481, "Call/Transaction Does Not Exist", NUTAG_WITH_THIS(fe->nua), TAG_END());
        if (!s)
            nua_handle_destroy(nh);
        return;
    }
    s->last_activity = mono_us();
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    if (!pl || pl->pl_len == 0) {
        fe->stats.info_by_cmd[XCMD_UNKNOWN][OUT_REJECTED_OTHER]++;
        respond_error(fe, nh, 400, "Bad Request", "the INFO carries no XCCOS document");
        return;
    }
    if (pl->pl_len > (size_t)fe->cfg->frontend.max_body_bytes) {
        char why[160];
        snprintf(why, sizeof why, "the XCCOS document has %zu bytes; the limit is %d",
                 (size_t)pl->pl_len, fe->cfg->frontend.max_body_bytes);
        fe->stats.info_by_cmd[XCMD_UNKNOWN][OUT_REJECTED_OTHER]++;
        respond_error(fe, nh, 413, "Request Entity Too Large", why);
        return;
    }
    enum xccos_cmd_id cmd = xccos_peek_cmd(pl->pl_data, pl->pl_len);
    if (cmd == XCMD_REQURI) {
        fe->stats.info_by_cmd[cmd][OUT_ACCEPTED]++;
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), TAG_END());
        answer_requri(fe, s, pl->pl_data, pl->pl_len);
        return;
    }
    if (s->req_len >= SESSION_REQUESTS_MAX || admit_decide(fe, s, cmd) == ADMIT_REJECT) {
        fe->stats.info_503++;
        fe->stats.info_by_cmd[cmd][OUT_REJECTED_503]++;
        char ra[16], diag[256];
        snprintf(ra, sizeof ra, "%d", admit_retry_after(fe));
        snprintf(diag, sizeof diag, "ms-diagnostics: 5000;reason=\"%s\";source=\"%s\"",
                 s->req_len >= SESSION_REQUESTS_MAX ? "too many requests waiting for this session"
                                                    : "chat service busy", fe->id);
        nua_respond(nh, 503, "Service Unavailable", NUTAG_WITH_THIS(fe->nua),
                    SIPTAG_RETRY_AFTER_STR(ra), SIPTAG_HEADER_STR(diag), TAG_END());
        return;
    }
    fe->stats.info_by_cmd[cmd][OUT_ACCEPTED]++;
    struct fe_request *r = request_new(fe, REQ_CLIENT, s->id);
    r->cmd = cmd;
    r->body = (uint8_t *)xstrndup(pl->pl_data, pl->pl_len);
    r->body_len = pl->pl_len;
    if (cmd == XCMD_GRPCHAT) {
        nua_save_event(fe->nua, r->saved);
        r->held = true;
    } else {
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(fe->nua), TAG_END());
    }
    router_submit(fe, r);
}
