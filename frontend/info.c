/* info.c — an XCCOS INFO from a client: cheap checks first (dialog, size), then admission
 * (200 or 503) before any XML parse, then the request goes to a worker.
 *
 * INFOs arrive two ways: through the SIP stack (info_received), or on the edge's fast path
 * for established dialogs (edge.c), which hands over the body and where the answer goes.
 * Commands are answered 200 at once; their real answer comes back as an INFO. Posts are
 * answered only when the worker committed them (DESIGN.md §7: acknowledged = stored), so
 * their answer is held. cmd:requri needs no store and is answered here: it is never shed,
 * because pidgin-sipe never sends it twice (PROTOCOL.md §2.5). */
#include "fe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "edge.h"
#include "log.h"
#include "sbuf.h"
#include "util.h"

/* Requests one session may have waiting behind the ones in its pipeline. */
#define SESSION_REQUESTS_MAX 256

void answer_send(struct fe *fe, struct fe_session *s, struct fe_answer *ans, int status,
                 const char *reason, int retry_after)
{
    const char *phrase = sip_status_phrase(status) ? sip_status_phrase(status) : "Error";
    char diag[512] = "", ra[32] = "";
    if (status >= 300 && reason && *reason)
        snprintf(diag, sizeof diag, "ms-diagnostics: %d;reason=\"%s\";source=\"%s\"",
                 status == 503 ? 5000 : 4000 + status % 100, reason, fe->id);
    if (status == 503 && retry_after > 0)
        snprintf(ra, sizeof ra, "%d", retry_after);
    if (ans->edge) {
        char extra[600];
        snprintf(extra, sizeof extra, "%s%s%s%s%s", *ra ? "Retry-After: " : "", ra, *ra ? "\r\n" : "",
                 diag, *diag ? "\r\n" : "");
        edge_respond(fe, ans->conn_id, ans->headers, status, phrase, extra);
        free(ans->headers);
        ans->headers = NULL;
        ans->edge = false;
        return;
    }
    if (!ans->saved_valid)
        return;
    if (s && s->nh)
        nua_respond(s->nh, status, phrase, NUTAG_WITH_SAVED(ans->saved),
                    TAG_IF(*diag, SIPTAG_HEADER_STR(diag)), TAG_IF(*ra, SIPTAG_RETRY_AFTER_STR(ra)),
                    TAG_END());
    nua_destroy_event(ans->saved);
    ans->saved_valid = false;
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

void info_handle(struct fe *fe, struct fe_session *s, const char *body, size_t len,
                 struct fe_answer *ans)
{
    fe->stats.info_in++;
    s->last_activity = mono_us();
    if (len == 0) {
        fe->stats.info_by_cmd[XCMD_UNKNOWN][OUT_REJECTED_OTHER]++;
        answer_send(fe, s, ans, 400, "the INFO carries no XCCOS document", 0);
        return;
    }
    if (len > (size_t)fe->cfg->frontend.max_body_bytes) {
        char why[160];
        snprintf(why, sizeof why, "the XCCOS document has %zu bytes; the limit is %d", len,
                 fe->cfg->frontend.max_body_bytes);
        fe->stats.info_by_cmd[XCMD_UNKNOWN][OUT_REJECTED_OTHER]++;
        answer_send(fe, s, ans, 413, why, 0);
        return;
    }
    enum xccos_cmd_id cmd = xccos_peek_cmd(body, len);
    if (cmd == XCMD_REQURI) {
        fe->stats.info_by_cmd[cmd][OUT_ACCEPTED]++;
        answer_send(fe, s, ans, 200, NULL, 0);
        answer_requri(fe, s, body, len);
        return;
    }
    if (s->req_len >= SESSION_REQUESTS_MAX || admit_decide(fe, s, cmd) == ADMIT_REJECT) {
        fe->stats.info_503++;
        fe->stats.info_by_cmd[cmd][OUT_REJECTED_503]++;
        answer_send(fe, s, ans, 503,
                    s->req_len >= SESSION_REQUESTS_MAX ? "too many requests waiting for this session"
                                                       : "chat service busy",
                    admit_retry_after(fe));
        return;
    }
    fe->stats.info_by_cmd[cmd][OUT_ACCEPTED]++;
    struct fe_request *r = request_new(fe, REQ_CLIENT, s->id);
    r->cmd = cmd;
    r->body = (uint8_t *)xstrndup(body, len);
    r->body_len = len;
    if (cmd == XCMD_GRPCHAT) {
        r->answer = *ans;   /* the request holds the answer until the post is stored */
        r->held = true;
    } else {
        answer_send(fe, s, ans, 200, NULL, 0);
    }
    router_submit(fe, r);
}

void info_received(struct fe *fe, nua_handle_t *nh, struct fe_session *s, sip_t const *sip)
{
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    if (!s || s->ended || !s->nh) {
        /* unknown, expired or cut session: pidgin-sipe re-connects on 481 (PROTOCOL §2.7) */
        fe->stats.info_in++;
        fe->stats.info_481++;
        fe->stats.info_by_cmd[pl ? xccos_peek_cmd(pl->pl_data, pl->pl_len) : XCMD_UNKNOWN][OUT_NO_SESSION]++;
        nua_respond(nh, 481, "Call/Transaction Does Not Exist", NUTAG_WITH_THIS(fe->nua), TAG_END());
        if (!s)
            nua_handle_destroy(nh);
        return;
    }
    session_learn_dialog(s, sip);
    struct fe_answer ans = { .saved_valid = true };
    nua_save_event(fe->nua, ans.saved);
    info_handle(fe, s, pl ? pl->pl_data : "", pl ? pl->pl_len : 0, &ans);
}
