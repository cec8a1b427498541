/* t20_chat.c — three SIPE-like users against a real pool: room list, join with member lists and
 * notices, 50 posts in order exactly once with the author's echo, a bystander who hears nothing,
 * part and rejoin with history, and the answers to bad input (unknown command, post to a room
 * not joined, DOCTYPE, malformed XML) after which the server still serves. */
#include "itest.h"

#define N_POSTS 50
#define WAIT_MS 10000

static struct itest_args args;
static char room_uri[512];

/* ---- event predicates ---------------------------------------------------------------------- */

struct post_match {
    const char *room;
    const char *prefix;       /* text prefix that marks this run's posts */
};

static bool is_post(const struct sc_event *ev, void *arg)
{
    const struct post_match *pm = arg;
    struct sc_post p;
    return ev->kind == SC_EV_SERVER_INFO && strcmp(ev->xid, "grpchat") == 0 && sc_post_of(ev->item, &p)
           && strcmp(p.chan_uri, pm->room) == 0 && p.text && strncmp(p.text, pm->prefix, strlen(pm->prefix)) == 0;
}

static bool is_room_traffic(const struct sc_event *ev, void *arg)
{
    (void)arg;
    return ev->kind == SC_EV_SERVER_INFO
           && (strcmp(ev->xid, "grpchat") == 0 || strncasecmp(ev->xid, "ntc:", 4) == 0);
}

static bool is_any_rpl(const struct sc_event *ev, void *arg)
{
    (void)arg;
    return ev->kind == SC_EV_SERVER_INFO && strncasecmp(ev->xid, "rpl:", 4) == 0;
}

static int count_queued(struct sc_user *u, sc_event_pred pred, void *arg)
{
    /* take everything matching, count it, free it */
    int n = 0;
    struct sc_event *ev;
    while ((ev = sc_wait_for(u, pred, arg, 0))) {
        n++;
        sc_event_free(ev);
    }
    return n;
}

/* SIP answer of one INFO, or 0 when none came. */
static int answer_of(struct sc_user *u, uint32_t cseq)
{
    if (!cseq)
        return 0;
    struct sc_event *ev = sc_wait_answer(u, cseq, WAIT_MS);
    int s = ev ? ev->status : 0;
    sc_event_free(ev);
    return s;
}

/* ---- steps --------------------------------------------------------------------------------- */

static bool find_room(struct sc_user *a)
{
    uint32_t cseq = sc_user_chansrch(a, "");
    is_int(answer_of(a, cseq), 200, "cmd:chansrch is answered 200");
    struct sc_event *ev = sc_wait_xid(a, "rpl:chansrch", WAIT_MS);
    ok(ev && ev->resp_code == 200, "rpl:chansrch arrives with code 200 (#21)");
    const struct xnode *data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    const struct xnode *found = NULL;
    int n = 0;
    for (const struct xnode *c = data ? xnode_child(data, "chanib") : NULL; c; c = xnode_next(c, "chanib")) {
        n++;
        if (xnode_attr(c, "name") && strcmp(xnode_attr(c, "name"), args.room) == 0)
            found = c;
    }
    if (!ok(found != NULL, "the room list names the demo room '%s' (#22)", args.room))
        diag("  %d rooms listed; body: %.600s", n, ev && ev->raw ? ev->raw : "(no reply)");
    const char *uri = found ? xnode_attr(found, "uri") : NULL;
    ok(uri && strncmp(uri, "ma-chan://", 10) == 0 && strchr(uri + 10, '/'),
       "the room's uri is ma-chan://domain/path (#27): %s", uri ? uri : "(none)");
    if (uri)
        snprintf(room_uri, sizeof(room_uri), "%s", uri);
    sc_event_free(ev);
    return uri != NULL;
}

/* join and check rpl:join; returns the reply event (caller frees) or NULL */
static struct sc_event *join(struct sc_user *u)
{
    uint32_t cseq = sc_user_join(u, room_uri);
    is_int(answer_of(u, cseq), 200, "cmd:join is answered 200");
    struct sc_event *ev = sc_wait_xid(u, "rpl:join", WAIT_MS);
    if (!ok(ev && ev->resp_code == 200, "%s gets rpl:join with code 200", sc_user_uri(u)))
        diag("  %s", ev ? ev->raw : "(no rpl:join)");
    return ev;
}

static void check_join_reply(struct sc_user *u, const struct sc_event *ev, struct sc_user *const *members, int n)
{
    const struct xnode *data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    const struct xnode *chanib = data ? xnode_child(data, "chanib") : NULL;
    ok(chanib && xnode_attr(chanib, "uri") && strcmp(xnode_attr(chanib, "uri"), room_uri) == 0,
       "rpl:join chanib carries the room uri byte-exactly (#23)");
    ok(chanib && xnode_attr(chanib, "name") && xnode_attr(chanib, "name")[0], "rpl:join chanib has a name (#23)");
    for (int i = 0; i < n; i++) {
        const char *id = data ? itest_uib_id(data, sc_user_uri(members[i])) : NULL;
        ok(id != NULL, "rpl:join to %s lists %s as a uib under data (#23)", sc_user_uri(u), sc_user_uri(members[i]));
        if (!ok(chanib && itest_aib_has(chanib, id), "an aib of the chanib lists %s's uib id", sc_user_uri(members[i])))
            diag("  %s", ev && ev->raw ? ev->raw : "");
    }
    ok(sc_user_in_room(u, room_uri), "%s has the room open afterwards", sc_user_uri(u));
}

static void check_ntc_join(struct sc_user *at, struct sc_user *joiner)
{
    struct sc_event *ev = sc_wait_xid(at, "ntc:join", WAIT_MS);
    const struct xnode *data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    const struct xnode *uib = data ? xnode_child(data, "uib") : NULL;
    const struct xnode *aib = uib ? xnode_child(uib, "aib") : NULL;
    char rebuilt[600] = "";
    if (aib && xnode_attr(aib, "domain") && xnode_attr(aib, "value"))
        snprintf(rebuilt, sizeof(rebuilt), "ma-chan://%s/%s", xnode_attr(aib, "domain"), xnode_attr(aib, "value"));
    bool r = ok(uib && xnode_attr(uib, "uri") && strcasecmp(xnode_attr(uib, "uri"), sc_user_uri(joiner)) == 0
                && strcmp(rebuilt, room_uri) == 0,
                "%s's join causes ntc:join at %s with uib uri and aib domain/value of the room (#28)",
                sc_user_uri(joiner), sc_user_uri(at));
    if (!r)
        diag("  %s", ev ? ev->raw : "(no ntc:join)");
    sc_event_free(ev);
}

/* Post N numbered messages back-to-back from a; check every answer, b's copies, a's echoes. */
static void fifty_posts(struct sc_user *a, struct sc_user *b, char texts[][64])
{
    uint32_t cseqs[N_POSTS];
    for (int i = 0; i < N_POSTS; i++) {
        snprintf(texts[i], 64, "t20-%s A#%02d <&>", args.run_id, i + 1);
        cseqs[i] = sc_user_post(a, room_uri, texts[i]);
    }
    int answered_200 = 0, other = 0;
    for (int i = 0; i < N_POSTS; i++) {
        int s = answer_of(a, cseqs[i]);
        if (s == 200)
            answered_200++;
        else {
            if (other++ < 5)
                diag("  post %d answered %d", i + 1, s);
        }
    }
    is_int(answered_200, N_POSTS, "every one of 50 back-to-back posts is answered 200");

    char prefix[64];
    snprintf(prefix, sizeof(prefix), "t20-%s A#", args.run_id);
    struct post_match pm = { room_uri, prefix };
    int got = 0, in_order = 0, authored = 0;
    for (;;) {
        struct sc_event *ev = sc_wait_for(b, is_post, &pm, got < N_POSTS ? WAIT_MS : 500);
        if (!ev)
            break;
        struct sc_post p;
        sc_post_of(ev->item, &p);
        if (got < N_POSTS && strcmp(p.text, texts[got]) == 0)
            in_order++;
        if (strcasecmp(p.author, sc_user_uri(a)) == 0)
            authored++;
        got++;
        sc_event_free(ev);
    }
    is_int(got, N_POSTS, "B receives exactly 50 grpchat (no loss, no duplicate)");
    is_int(in_order, N_POSTS, "B receives them in the order they were posted, text intact");
    is_int(authored, got, "every post at B carries A as author (#25)");

    int echoes = 0, echo_order = 0;
    for (;;) {
        struct sc_event *ev = sc_wait_for(a, is_post, &pm, echoes < N_POSTS ? WAIT_MS : 500);
        if (!ev)
            break;
        struct sc_post p;
        sc_post_of(ev->item, &p);
        if (echoes < N_POSTS && strcmp(p.text, texts[echoes]) == 0 && strcasecmp(p.author, sc_user_uri(a)) == 0)
            echo_order++;
        echoes++;
        sc_event_free(ev);
    }
    is_int(echoes, N_POSTS, "A receives the echo of each of its 50 posts exactly once (#26)");
    is_int(echo_order, N_POSTS, "A's echoes are in order with author = A");
}

static void check_history(struct sc_user *a, char texts[][64], const char *b_text)
{
    /* SIPE sends cmd:bccontext last 25 by itself right after rpl:join (PROTOCOL §3.4.4) */
    struct sc_event *ev = sc_wait_xid(a, "rpl:bccontext", WAIT_MS);
    ok(ev && ev->resp_code == 200, "the bccontext SIPE sends after the rejoin gets rpl:bccontext with code 200");
    const struct xnode *data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    const struct xnode *chanib = data ? xnode_child(data, "chanib") : NULL;
    ok(chanib && xnode_attr(chanib, "uri") && strcmp(xnode_attr(chanib, "uri"), room_uri) == 0,
       "history: the first data/chanib is the room (#24)");
    /* expected: the newest 25 posts, oldest first: A#27..A#50 then B's */
    const char *want[25];
    for (int i = 0; i < 24; i++)
        want[i] = texts[26 + i];
    want[24] = b_text;
    int n = 0, match = 0, complete = 0;
    for (const struct xnode *m = chanib ? xnode_child(chanib, "msg") : NULL; m; m = xnode_next(m, "msg")) {
        struct sc_post p;
        if (!xnode_attr(m, "id") || strcmp(xnode_attr(m, "id"), "grpchat") != 0)
            continue;
        bool full = sc_post_of(m, &p) && strcmp(p.chan_uri, room_uri) == 0 && p.ts && p.ts[0] && p.text;
        if (full)
            complete++;
        if (n < 25 && full && strcmp(p.text, want[n]) == 0)
            match++;
        else if (n < 25 && match == n)
            diag("  history entry %d: got '%s', expected '%s'", n + 1, p.text ? p.text : "(none)", want[n]);
        n++;
    }
    is_int(n, 25, "bccontext last 25 returns 25 msg id=grpchat entries");
    is_int(complete, n, "every history entry has chanUri (the room), author, ts and chat (#24)");
    is_int(match, 25, "history is the latest 25 posts, oldest first");
    sc_event_free(ev);
}

/* A bad INFO body is refused by a non-200 answer, or answered 200 plus an error rpl. */
static void refused(struct sc_user *a, const char *body, const char *what)
{
    itest_drain(a);
    uint32_t cseq = sc_user_send_info_body(a, body, strlen(body));
    int s = answer_of(a, cseq);
    struct sc_event *rpl = NULL;
    if (s == 200)
        rpl = sc_wait_for(a, is_any_rpl, NULL, 3000);
    bool r = ok((s != 200 && s != 0) || (rpl && rpl->resp_code != 200),
                "%s gets a clear refusal (non-200 answer or an error rpl)", what);
    if (!r)
        diag("  SIP answer %d, rpl: %s", s, rpl ? rpl->raw : "(none)");
    sc_event_free(rpl);
}

int main(int argc, char **argv)
{
    itest_args(argc, argv, &args);
    struct sc_loop *loop = sc_loop_new();
    if (!loop)
        bail_out("cannot create the client loop");
    struct sc_opts opts = { .step_timeout_ms = 10000 };
    struct sc_user *a = itest_user(loop, &args, "t20-alice", &opts);
    struct sc_user *b = itest_user(loop, &args, "t20-bob", &opts);
    struct sc_user *c = itest_user(loop, &args, "t20-carol", &opts);
    struct sc_user *d = itest_user(loop, &args, "t20-dave", &opts);
    sc_user_signin(a);
    sc_user_signin(b);
    sc_user_signin(c);
    bool in = itest_signin(a, 30000);
    in = itest_signin(b, 30000) && in;
    in = itest_signin(c, 30000) && in;
    if (!in || !find_room(a)) {
        itest_no_violations(a);
        sc_loop_free(loop);
        bail_out("cannot go on without three signed-in users and the demo room");
    }
    itest_drain(a);
    itest_drain(b);

    /* joins */
    struct sc_event *ja = join(a);
    struct sc_user *only_a[] = { a };
    check_join_reply(a, ja, only_a, 1);
    sc_event_free(ja);
    struct sc_event *jb = join(b);
    struct sc_user *both[] = { a, b };
    check_join_reply(b, jb, both, 2);
    sc_event_free(jb);
    check_ntc_join(a, b);

    /* 50 posts, then one back */
    static char texts[N_POSTS][64];
    fifty_posts(a, b, texts);
    char b_text[64];
    snprintf(b_text, sizeof(b_text), "t20-%s B#1", args.run_id);
    is_int(answer_of(b, sc_user_post(b, room_uri, b_text)), 200, "B's post is answered 200");
    struct post_match pm_b = { room_uri, b_text };
    struct sc_event *ev = sc_wait_for(a, is_post, &pm_b, WAIT_MS);
    struct sc_post p;
    ok(ev && sc_post_of(ev->item, &p) && strcasecmp(p.author, sc_user_uri(b)) == 0, "A receives B's post with author B");
    ok(ev && sc_post_of(ev->item, &p) && p.ts && p.ts[strlen(p.ts) - 1] == 'Z', "the post's ts ends in Z (#25): %s",
       ev && p.ts ? p.ts : "(none)");
    sc_event_free(ev);

    /* part: rpl:part echoes the URI, ntc:part at B */
    itest_run(loop, 300);
    itest_drain(a);      /* the history replies to the first joins, among others */
    itest_drain(b);
    is_int(answer_of(a, sc_user_part(a, room_uri)), 200, "cmd:part is answered 200");
    ev = sc_wait_xid(a, "rpl:part", WAIT_MS);
    const struct xnode *data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    const struct xnode *ch = data ? xnode_child(data, "chanib") : NULL;
    ok(ev && ev->resp_code == 200 && ch && xnode_attr(ch, "uri") && strcmp(xnode_attr(ch, "uri"), room_uri) == 0,
       "rpl:part with code 200 echoes the room uri (#21)");
    ok(!sc_user_in_room(a, room_uri), "A has the room closed afterwards");
    sc_event_free(ev);
    ev = sc_wait_xid(b, "ntc:part", WAIT_MS);
    data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    ch = data ? xnode_child(data, "chanib") : NULL;
    const struct xnode *uib = ch ? xnode_child(ch, "uib") : NULL;
    ok(ch && uib && strcmp(xnode_attr(ch, "uri") ? xnode_attr(ch, "uri") : "", room_uri) == 0
       && xnode_attr(uib, "uri") && strcasecmp(xnode_attr(uib, "uri"), sc_user_uri(a)) == 0,
       "B gets ntc:part with chanib uri and uib uri of A (#28)");
    sc_event_free(ev);

    /* rejoin and history, the way SIPE asks for it right after a join */
    ev = join(a);
    sc_event_free(ev);
    check_history(a, texts, b_text);

    /* an unknown command gets an error reply, never silence */
    itest_drain(a);
    uint32_t cseq = sc_user_send_xccos(a, "<cmd id=\"cmd:frobnicate\" seqid=\"1\"><data/></cmd>");
    is_int(answer_of(a, cseq), 200, "an unknown command is answered 200 at the SIP level");
    ev = sc_wait_xid(a, "rpl:frobnicate", WAIT_MS);
    if (!ok(ev && ev->resp_code != 200, "an unknown command gets rpl:frobnicate with a code other than 200"))
        diag("  %s", ev ? ev->raw : "(no reply within 10 s)");
    else
        diag("  code %d: %s", ev->resp_code, ev->resp_text);
    sc_event_free(ev);

    /* C never joined: a post from C is refused with 403, and nobody gets it */
    char c_text[64];
    snprintf(c_text, sizeof(c_text), "t20-%s C#1", args.run_id);
    is_int(answer_of(c, sc_user_post(c, room_uri, c_text)), 403, "a post to a room not joined is answered 403");

    /* DOCTYPE and malformed XML */
    char body[2048];
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\"?><!DOCTYPE xccos [<!ENTITY x \"t20-%s DOCTYPE\">]>"
             "<xccos ver=\"1\" envid=\"9\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" seqid=\"1\" "
             "chanUri=\"%s\" author=\"%s\" ts=\"2024-05-01T10:15:02Z\"><chat>&x;</chat></grpchat></xccos>",
             args.run_id, room_uri, sc_user_uri(a));
    refused(a, body, "a post whose body has a DOCTYPE");
    snprintf(body, sizeof(body),
             "<xccos ver=\"1\" envid=\"10\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" seqid=\"1\" "
             "chanUri=\"%s\" author=\"%s\"><chat>t20-%s broken</grpchat></xccos>",
             room_uri, sc_user_uri(a), args.run_id);
    refused(a, body, "a post with malformed XML");

    /* and the server still serves */
    char after[64];
    snprintf(after, sizeof(after), "t20-%s A#after", args.run_id);
    is_int(answer_of(a, sc_user_post(a, room_uri, after)), 200, "a normal post afterwards is answered 200");
    struct post_match pm_after = { room_uri, after };
    ev = sc_wait_for(b, is_post, &pm_after, WAIT_MS);
    ok(ev != NULL, "B receives the post made after the bad input");
    sc_event_free(ev);

    /* nothing of the refused ones reached B; C heard nothing at all */
    itest_run(loop, 500);
    static const char *const refused_texts[] = { "C#1", "DOCTYPE", "broken" };
    int stray = 0;
    for (int i = 0; i < 3; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "t20-%s %s", args.run_id, refused_texts[i]);
        struct post_match pm_refused = { room_uri, prefix };
        stray += count_queued(b, is_post, &pm_refused);
    }
    is_int(stray, 0, "B got no post from the refused INFOs (C's, DOCTYPE, malformed)");
    is_int(count_queued(c, is_room_traffic, NULL), 0, "C, who never joined, received no grpchat and no ntc at all");

    /* a user whose TCP connection is lost has left every room (PROTOCOL §6) */
    itest_drain(b);
    if (itest_signin(d, 30000)) {
        struct sc_event *jd = join(d);
        sc_event_free(jd);
        check_ntc_join(b, d);
        char d_uri[256];
        snprintf(d_uri, sizeof(d_uri), "%s", sc_user_uri(d));
        sc_user_free(d);            /* the connection drops, no BYE */
        d = NULL;
        struct sc_user *members[] = { a, b };
        for (int i = 0; i < 2; i++) {
            ev = sc_wait_xid(members[i], "ntc:part", WAIT_MS);
            data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
            ch = data ? xnode_child(data, "chanib") : NULL;
            uib = ch ? xnode_child(ch, "uib") : NULL;
            ok(uib && xnode_attr(uib, "uri") && strcasecmp(xnode_attr(uib, "uri"), d_uri) == 0,
               "%s gets ntc:part for a user whose connection dropped (PROTOCOL §6)", sc_user_uri(members[i]));
            sc_event_free(ev);
        }
    }
    itest_run(loop, 300);       /* let in-flight traffic land: the BYE below must not cross it */

    /* SIPE's sign-out starts with a BYE of the channel dialog (no cmd:part): the others are
       told, and nothing more may arrive on the ended dialog (it would crash SIPE, #15) */
    itest_drain(a);
    itest_drain(b);
    is_int(answer_of(a, sc_user_end_channel(a)), 200, "A's BYE of the channel dialog is answered 200");
    ev = sc_wait_xid(b, "ntc:part", WAIT_MS);
    data = ev && ev->item ? xnode_child(ev->item, "data") : NULL;
    ch = data ? xnode_child(data, "chanib") : NULL;
    uib = ch ? xnode_child(ch, "uib") : NULL;
    ok(uib && xnode_attr(uib, "uri") && strcasecmp(xnode_attr(uib, "uri"), sc_user_uri(a)) == 0,
       "B gets ntc:part for A when A's channel dialog ends (PROTOCOL §2.9)");
    sc_event_free(ev);
    char last[64];
    snprintf(last, sizeof(last), "t20-%s B#2", args.run_id);
    is_int(answer_of(b, sc_user_post(b, room_uri, last)), 200, "B's post after A left is answered 200");
    itest_run(loop, 1000);
    int late = 0;
    while ((ev = sc_user_next_event(a))) {
        if (ev->kind == SC_EV_SERVER_INFO && late++ < 3)
            diag("  after BYE A got: %s", ev->raw);
        sc_event_free(ev);
    }
    is_int(late, 0, "after its BYE, A gets no INFO on the ended dialog (#15)");

    itest_no_violations(a);
    itest_no_violations(b);
    itest_no_violations(c);

    sc_user_signout(a);
    sc_user_signout(b);
    sc_user_signout(c);
    sc_user_signout_wait(a, 5000);
    sc_user_signout_wait(b, 5000);
    sc_user_signout_wait(c, 5000);
    sc_loop_free(loop);
    return done_testing();
}
