/* t10_signin.c — one SIPE-like user signs in against a real pool; one assertion per thing
 * pidgin-sipe depends on during sign-in (PROTOCOL §5 #1-#6, #8, #9, #11-#14, #17, #30), then
 * keep-alive, UPDATE, INFO outside any dialog, and sign-out. */
#include "itest.h"

static const enum sc_check signin_checks[] = {
    SC_CHK_REG_MATCH, SC_CHK_REG_200, SC_CHK_REG_EXPIRES, SC_CHK_REG_SUPPORTED,
    SC_CHK_REG_ALLOW_EVENTS, SC_CHK_SUB_200, SC_CHK_PROV_DELIVERED, SC_CHK_PROV_ENABLED,
    SC_CHK_PROV_POOL_URI, SC_CHK_LOOKUP_200, SC_CHK_LOOKUP_TO, SC_CHK_LOOKUP_TAG,
    SC_CHK_SESSION_EXPIRES, SC_CHK_REQURI_ANSWER, SC_CHK_REQURI_REPLY, SC_CHK_INFO_FROM,
    SC_CHK_INFO_CALLID, SC_CHK_LOOKUP_BYE_200, SC_CHK_CHANNEL_200, SC_CHK_CHANNEL_TO,
    SC_CHK_CHANNEL_TAG, SC_CHK_GETINV_ANSWER, SC_CHK_FRAMING,
};

static bool is_answer_to(const struct sc_event *ev, void *arg)
{
    return ev->kind == SC_EV_ANSWER && ev->req == *(enum sc_req_kind *)arg;
}

static bool getinv_answered(void *arg)
{
    return sc_check_state(arg, SC_CHK_GETINV_ANSWER) != SC_NOT_RUN;
}

static int answer_status(struct sc_user *u, enum sc_req_kind kind, int timeout_ms)
{
    struct sc_event *ev = sc_wait_for(u, is_answer_to, &kind, timeout_ms);
    int status = ev ? ev->status : 0;
    sc_event_free(ev);
    return status;
}

int main(int argc, char **argv)
{
    struct itest_args a;
    itest_args(argc, argv, &a);
    struct sc_loop *loop = sc_loop_new();
    if (!loop)
        bail_out("cannot create the client loop");
    struct sc_opts opts = { .step_timeout_ms = 10000, .lenient = true };
    struct sc_user *u = itest_user(loop, &a, "t10-alice", &opts);

    bool in = itest_signin(u, 45000);
    /* connected means getinv went out; its answer may still be on the way */
    sc_loop_run(loop, 5000, getinv_answered, u);
    for (size_t i = 0; i < sizeof(signin_checks) / sizeof(signin_checks[0]); i++) {
        enum sc_check c = signin_checks[i];
        if (!ok(sc_check_state(u, c) == SC_PASS, "%s", sc_check_name(c)))
            diag("  %s", sc_check_state(u, c) == SC_NOT_RUN ? "(not reached)" : sc_check_detail(u, c));
    }
    if (!in) {
        itest_no_violations(u);
        sc_loop_free(loop);
        return done_testing();
    }
    diag("pool URI %s, channel URI %s, Session-Expires %d, REGISTER Expires %d",
         sc_user_pool_uri(u), sc_user_channel_uri(u), sc_user_session_expires(u),
         sc_user_register_expires(u));

    /* the getinv SIPE sends after connecting: the ladder shows an rpl:getinv coming back */
    struct sc_event *ev = sc_wait_xid(u, "rpl:getinv", 5000);
    ok(ev && ev->resp_code == 200, "cmd:getinv gets an rpl:getinv with code 200");
    sc_event_free(ev);

    /* keep-alive: CRLFCRLF is skipped by the server and never answered */
    itest_drain(u);
    uint64_t rx = sc_user_rx_bytes(u);
    sc_user_send_keepalive(u);
    sc_user_send_keepalive(u);
    itest_run(loop, 800);
    if (!ok(sc_user_rx_bytes(u) == rx, "keep-alive CRLFs are not answered"))
        diag("  %llu bytes arrived after two keep-alives", (unsigned long long)(sc_user_rx_bytes(u) - rx));
    ok(sc_user_state(u) == SC_CONNECTED, "the connection survives keep-alives");

    /* session refresh as SIPE sends it: UPDATE without body or Session-Expires */
    uint32_t cseq = sc_user_update(u);
    ev = cseq ? sc_wait_answer(u, cseq, 5000) : NULL;
    if (!ok(ev && ev->status == 200, "UPDATE in the channel dialog is answered 200 (#18)"))
        diag("  got %d", ev ? ev->status : 0);
    sc_event_free(ev);

    /* an INFO for a dialog the server does not know, and one outside any dialog */
    char body[512];
    snprintf(body, sizeof(body), "<xccos ver=\"1\" envid=\"7\" xmlns=\"urn:parlano:xml:ns:xccos\">"
             "<cmd id=\"cmd:chansrch\" seqid=\"1\"><data><qib qtype=\"BYNAME\" criteria=\"\" extended=\"false\"/>"
             "</data></cmd></xccos>");
    struct sc_raw_request unknown_dialog = {
        .method = "INFO", .to_tag = "7c0ffee1", .cseq = 5,
        .extra_headers = "Content-Type: text/plain\r\n", .body = body,
    };
    cseq = sc_user_send_request(u, &unknown_dialog);
    ok(cseq != 0, "INFO for an unknown dialog sent");
    is_int(answer_status(u, SC_REQ_RAW, 5000), 481, "INFO for an unknown dialog is answered 481");
    struct sc_raw_request no_dialog = {
        .method = "INFO", .extra_headers = "Content-Type: text/plain\r\n", .body = body,
    };
    cseq = sc_user_send_request(u, &no_dialog);
    ok(cseq != 0, "out-of-dialog INFO sent");
    is_int(answer_status(u, SC_REQ_RAW, 5000), 481, "out-of-dialog INFO is answered 481");

    /* the real dialog still works after the strays */
    itest_drain(u);
    cseq = sc_user_chansrch(u, "");
    ev = cseq ? sc_wait_answer(u, cseq, 5000) : NULL;
    ok(ev && ev->status == 200, "cmd:chansrch in the channel dialog still answered 200");
    sc_event_free(ev);
    ev = sc_wait_xid(u, "rpl:chansrch", 5000);
    ok(ev && ev->resp_code == 200, "rpl:chansrch arrives with code 200");
    sc_event_free(ev);

    /* sign-out the SIPE way: BYE, SUBSCRIBE Expires 0, REGISTER Expires 0 */
    itest_drain(u);
    sc_user_signout(u);
    is_int(answer_status(u, SC_REQ_BYE, 5000), 200, "sign-out BYE of the channel dialog is answered 200");
    int unsub = answer_status(u, SC_REQ_UNSUBSCRIBE, 5000);
    if (!ok(unsub == 200 || unsub == 481, "sign-out SUBSCRIBE Expires: 0 is answered 200 or 481"))
        diag("  got %d", unsub);
    is_int(answer_status(u, SC_REQ_UNREGISTER, 5000), 200, "REGISTER Expires: 0 is answered 200");
    itest_run(loop, 200);
    ok(sc_user_state(u) == SC_SIGNED_OUT, "signed out once every sign-out request was answered");

    itest_no_violations(u);
    sc_loop_free(loop);
    return done_testing();
}
