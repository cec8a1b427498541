/* test_xccos.c — the XCCOS codec: every command SIPE and the Microsoft clients send decodes
 * to the right struct, every reply/notice/post the server renders has the shape the clients
 * read (PROTOCOL.md §3), and hostile or broken bodies are refused with the right class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sbuf.h"
#include "xccos.h"
#include "xdoc.h"

#define ENVELOPE(envid, body) \
    "<xccos ver=\"1\" envid=\"" envid "\" xmlns=\"urn:parlano:xml:ns:xccos\">" body "</xccos>"

/* ---- fixtures: SIPE 1.25 bodies, verbatim from PROTOCOL.md §2.5 and §3.4 ------------------ */

static const char SIPE_REQURI[] =
    "<xccos ver=\"1\" envid=\"371169199\" xmlns=\"urn:parlano:xml:ns:xccos\"><cmd id=\"cmd:requri\" seqid=\"1\"><data/></cmd></xccos>";
static const char SIPE_GETINV[] = ENVELOPE("371169200",
    "<cmd id=\"cmd:getinv\" seqid=\"1\"><data><inv inviteId=\"1\" domain=\"example.com\"/></data></cmd>");
static const char SIPE_CHANSRCH[] = ENVELOPE("371169201",
    "<cmd id=\"cmd:chansrch\" seqid=\"1\"><data><qib qtype=\"BYNAME\" criteria=\"\" extended=\"false\"/></data></cmd>");
static const char SIPE_JOIN[] = ENVELOPE("371169202",
    "<cmd id=\"cmd:join\" seqid=\"1\"><data><chanid key=\"0\" domain=\"example.com\" value=\"7e1f0a52-3c1d-4f3e-9d2a-0123456789ab\"/></data></cmd>");
static const char SIPE_BJOIN[] = ENVELOPE("371169204",
    "<cmd id=\"cmd:bjoin\" seqid=\"1\"><data><chanid key=\"0\" domain=\"example.com\" value=\"7e1f0a52-…\"/><chanid key=\"1\" domain=\"example.com\" value=\"0b9d6c1e-…\"/></data></cmd>");
static const char SIPE_BCCONTEXT[] = ENVELOPE("371169203",
    "<cmd id=\"cmd:bccontext\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/7e1f0a52-…\"/><bcq><last cnt=\"25\"/></bcq></data></cmd>");
static const char SIPE_GRPCHAT[] = ENVELOPE("371169205",
    "<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://example.com/7e1f0a52-…\" author=\"sip:alice@example.com\" ts=\"2024-05-01T10:15:02Z\"><chat>hello world &amp; co</chat></grpchat>");
static const char SIPE_PART[] = ENVELOPE("371169206",
    "<cmd id=\"cmd:part\" seqid=\"1\"><data><chanib uri=\"ma-chan://example.com/7e1f0a52-…\"/></data></cmd>");

/* Microsoft clients (MS-OCSPROT 2.5.21 and third-party captures): schema namespaces on the
 * root, getserverinfo first, bjoin of followed rooms, paging history with before/after. */
#define MS_ROOT(envid) \
    "<xccos xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" " \
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ver=\"1\" envid=\"" envid "\" " \
    "xmlns=\"urn:parlano:xml:ns:xccos\">"
static const char MS_GETSERVERINFO[] = MS_ROOT("9000000001")
    "<cmd id=\"cmd:getserverinfo\" seqid=\"1\"><data><sib domain=\"example.com\" infoType=\"123\"/></data></cmd></xccos>";
static const char MS_GETASSOCIATIONS[] = MS_ROOT("9000000002")
    "<cmd id=\"cmd:getassociations\" seqid=\"2\"><data/></cmd></xccos>";
static const char MS_BJOIN[] = MS_ROOT("9000000003")
    "<cmd id=\"cmd:bjoin\" seqid=\"3\"><data>"
    "<chanid key=\"0\" domain=\"example.com\" value=\"58384137-ac90-43f3-b045-9bc0fc408d2b\"/>"
    "<chanid key=\"1\" domain=\"example.com\" value=\"300\"/>"
    "<chanid key=\"2\" domain=\"other.example.com\" value=\"team/ops\"/>"
    "</data></cmd></xccos>";
static const char MS_BCCONTEXT_BEFORE[] = MS_ROOT("9000000004")
    "<cmd id=\"cmd:bccontext\" seqid=\"4\"><data><chanib uri=\"ma-chan://example.com/300\"/>"
    "<bcq><before cnt=\"50\" msgid=\"1234\"/></bcq></data></cmd></xccos>";
static const char MS_BCCONTEXT_AFTER[] = MS_ROOT("9000000005")
    "<cmd id=\"cmd:bccontext\" seqid=\"5\"><data><chanib uri=\"ma-chan://example.com/300\"/>"
    "<bcq><after cnt=\"0\" msgid=\"99\"/></bcq></data></cmd></xccos>";

/* Exact bytes the server must produce (PROTOCOL §2.5 rpl:requri, §3.4.6 fan-out). */
static const char PROTOCOL_RPL_REQURI[] =
    "<xccos ver=\"1\" envid=\"5502318840\" xmlns=\"urn:parlano:xml:ns:xccos\"><rpl id=\"rpl:requri\" seqid=\"1\"><commandid seqid=\"1\" envid=\"371169199\"/><resp code=\"200\">SUCCESS_OK</resp><data><uib uri=\"sip:pchat-chan1@example.com\"/></data></rpl></xccos>";
static const char PROTOCOL_FANOUT_GRPCHAT[] =
    "<xccos ver=\"1\" envid=\"973160142\" xmlns=\"urn:parlano:xml:ns:xccos\"><grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://example.com/7e1f0a52-…\" author=\"sip:alice@example.com\" ts=\"2024-05-01T10:15:02.797Z\"><chat>hello world &amp; co</chat></grpchat></xccos>";

#define ROOM_GENERAL "ma-chan://example.com/7e1f0a52-3c1d-4f3e-9d2a-0123456789ab"
#define ROOM_SECRET "ma-chan://example.com/0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a"

static char err[256];

/* ---- helpers ------------------------------------------------------------------------------- */

static struct xccos_cmd *decode_ok(const char *body)
{
    struct xccos_cmd *c = NULL;
    enum xccos_err e = xccos_cmd_parse(body, strlen(body), NULL, &c, err, sizeof err);
    if (e != XCCOS_OK)
        print_error("decode failed (%d): %s\n", e, err);
    assert_int_equal(e, XCCOS_OK);
    assert_non_null(c);
    return c;
}

/* A schema error still yields the command so an error reply can be addressed. */
static struct xccos_cmd *decode_schema_error(const char *body, const char *sentence_part)
{
    struct xccos_cmd *c = NULL;
    enum xccos_err e = xccos_cmd_parse(body, strlen(body), NULL, &c, err, sizeof err);
    if (e != XCCOS_ESCHEMA)
        print_error("expected ESCHEMA, got %d (%s)\n", e, err);
    assert_int_equal(e, XCCOS_ESCHEMA);
    assert_non_null(c);
    assert_non_null(c->id);
    assert_non_null(c->seqid);
    assert_non_null(c->envid);
    if (!strstr(err, sentence_part))
        print_error("sentence \"%s\" lacks \"%s\"\n", err, sentence_part);
    assert_non_null(strstr(err, sentence_part));
    return c;
}

static void expect_refused(const char *body, size_t len, enum xccos_err want)
{
    struct xccos_cmd *c = (struct xccos_cmd *)0x1;
    enum xccos_err e = xccos_cmd_parse(body, len, NULL, &c, err, sizeof err);
    if (e != want)
        print_error("expected %d, got %d (%s)\n", want, e, err);
    assert_int_equal(e, want);
    assert_null(c);
    assert_true(strlen(err) > 0);
}

static struct sbuf out;

static int setup_buf(void **state)
{
    (void)state;
    sbuf_init(&out, 1 << 20);
    return 0;
}

static int teardown_buf(void **state)
{
    (void)state;
    sbuf_free(&out);
    return 0;
}

/* Parse what a renderer wrote and check the envelope every client document shares: root
 * <xccos ver="1" envid=… xmlns=…>, exactly one child named `kind`, no whitespace between
 * elements. Returns that child; *doc must be freed. */
static const struct xnode *parse_envelope(uint64_t envid, const char *kind, struct xdoc **doc)
{
    assert_false(out.overflow);
    assert_non_null(out.data);
    char head[128];
    snprintf(head, sizeof head,
             "<xccos ver=\"1\" envid=\"%llu\" xmlns=\"urn:parlano:xml:ns:xccos\"><%s ",
             (unsigned long long)envid, kind);
    if (strncmp(out.data, head, strlen(head)) != 0)
        print_error("unexpected start: %.120s\n", out.data);
    assert_true(strncmp(out.data, head, strlen(head)) == 0);
    assert_null(strstr(out.data, "> <"));
    assert_null(strstr(out.data, ">\n"));

    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = 1 << 20;
    char xerr[256];
    enum xdoc_err e = xdoc_parse(out.data, out.len, &lim, doc, xerr, sizeof xerr);
    if (e != XDOC_OK)
        print_error("rendered document does not parse: %s\n%s\n", xerr, out.data);
    assert_int_equal(e, XDOC_OK);
    const struct xnode *root = xdoc_root(*doc);
    assert_string_equal(root->name, "xccos");
    assert_non_null(root->children);
    assert_null(root->children->next);
    assert_string_equal(root->children->name, kind);
    return root->children;
}

/* Checks the reply skeleton (PROTOCOL §3.2) and returns <data>. */
static const struct xnode *parse_reply(uint64_t envid, const char *rpl_id, const char *seqid,
                                       const char *client_envid, int code, const char *resp_text,
                                       struct xdoc **doc)
{
    const struct xnode *rpl = parse_envelope(envid, "rpl", doc);
    assert_string_equal(xnode_attr(rpl, "id"), rpl_id);
    assert_string_equal(xnode_attr(rpl, "seqid"), seqid);
    const struct xnode *cid = rpl->children;
    assert_non_null(cid);
    assert_string_equal(cid->name, "commandid");
    assert_string_equal(xnode_attr(cid, "seqid"), seqid);
    assert_string_equal(xnode_attr(cid, "envid"), client_envid);
    const struct xnode *resp = cid->next;
    assert_non_null(resp);
    assert_string_equal(resp->name, "resp");
    char code_s[16];
    snprintf(code_s, sizeof code_s, "%d", code);
    assert_string_equal(xnode_attr(resp, "code"), code_s);
    assert_string_equal(resp->text, resp_text);
    const struct xnode *data = resp->next;
    assert_non_null(data);
    assert_string_equal(data->name, "data");
    assert_null(data->next);
    return data;
}

static int count_children(const struct xnode *n, const char *name)
{
    int k = 0;
    for (const struct xnode *c = xnode_child(n, name); c; c = xnode_next(c, name))
        k++;
    return k;
}

static const struct xnode *child_with_attr(const struct xnode *n, const char *name,
                                           const char *attr, const char *value)
{
    for (const struct xnode *c = xnode_child(n, name); c; c = xnode_next(c, name)) {
        const char *v = xnode_attr(c, attr);
        if (v && strcmp(v, value) == 0)
            return c;
    }
    return NULL;
}

static int64_t utc_us(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    return (int64_t)timegm(&tm) * 1000000 + (int64_t)ms * 1000;
}

/* ---- decoding SIPE's commands ------------------------------------------------------------- */

static void test_sipe_requri_decodes_with_its_envid(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_REQURI);
    assert_int_equal(c->cmd, XCMD_REQURI);
    assert_string_equal(c->id, "cmd:requri");
    assert_string_equal(c->seqid, "1");
    assert_string_equal(c->envid, "371169199");
    assert_null(c->chan_uri);
    assert_int_equal(c->n_chanids, 0);
    xccos_cmd_free(c);
}

static void test_sipe_getinv_reads_invite_id_and_domain(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_GETINV);
    assert_int_equal(c->cmd, XCMD_GETINV);
    assert_string_equal(c->inv_id, "1");
    assert_string_equal(c->inv_domain, "example.com");
    xccos_cmd_free(c);
}

static void test_sipe_chansrch_reads_the_query_block(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_CHANSRCH);
    assert_int_equal(c->cmd, XCMD_CHANSRCH);
    assert_string_equal(c->qtype, "BYNAME");
    assert_string_equal(c->criteria, "");
    assert_false(c->extended);
    xccos_cmd_free(c);
}

static void test_sipe_join_gives_the_room_domain_and_path(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_JOIN);
    assert_int_equal(c->cmd, XCMD_JOIN);
    assert_string_equal(c->envid, "371169202");
    assert_int_equal(c->n_chanids, 1);
    assert_string_equal(c->chanids[0].key, "0");
    assert_string_equal(c->chanids[0].domain, "example.com");
    assert_string_equal(c->chanids[0].value, "7e1f0a52-3c1d-4f3e-9d2a-0123456789ab");
    xccos_cmd_free(c);
}

static void test_sipe_bjoin_gives_every_queued_room(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_BJOIN);
    assert_int_equal(c->cmd, XCMD_BJOIN);
    assert_int_equal(c->n_chanids, 2);
    assert_string_equal(c->chanids[0].value, "7e1f0a52-…");
    assert_string_equal(c->chanids[1].key, "1");
    assert_string_equal(c->chanids[1].domain, "example.com");
    assert_string_equal(c->chanids[1].value, "0b9d6c1e-…");
    xccos_cmd_free(c);
}

static void test_sipe_bccontext_asks_for_the_last_25(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_BCCONTEXT);
    assert_int_equal(c->cmd, XCMD_BCCONTEXT);
    assert_string_equal(c->chan_uri, "ma-chan://example.com/7e1f0a52-…");
    assert_int_equal(c->bcq, XCCOS_BCQ_LAST);
    assert_int_equal(c->bcq_cnt, 25);
    assert_null(c->bcq_msgid);
    xccos_cmd_free(c);
}

static void test_sipe_post_gives_room_author_ts_and_decoded_text(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_GRPCHAT);
    assert_int_equal(c->cmd, XCMD_GRPCHAT);
    assert_string_equal(c->id, "grpchat");
    assert_string_equal(c->seqid, "1");
    assert_string_equal(c->envid, "371169205");
    assert_string_equal(c->chan_uri, "ma-chan://example.com/7e1f0a52-…");
    assert_string_equal(c->author, "sip:alice@example.com");
    assert_string_equal(c->ts, "2024-05-01T10:15:02Z");
    assert_string_equal(c->text, "hello world & co");
    assert_int_equal(c->text_len, strlen("hello world & co"));
    xccos_cmd_free(c);
}

static void test_sipe_part_gives_the_room_uri(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_PART);
    assert_int_equal(c->cmd, XCMD_PART);
    assert_string_equal(c->chan_uri, "ma-chan://example.com/7e1f0a52-…");
    xccos_cmd_free(c);
}

/* ---- decoding the Microsoft clients' commands --------------------------------------------- */

static void test_ms_getserverinfo_reads_the_sib_query(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_GETSERVERINFO);
    assert_int_equal(c->cmd, XCMD_GETSERVERINFO);
    assert_string_equal(c->envid, "9000000001");
    assert_string_equal(c->sib_domain, "example.com");
    assert_string_equal(c->sib_info_type, "123");
    xccos_cmd_free(c);
}

static void test_ms_getassociations_needs_no_data(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_GETASSOCIATIONS);
    assert_int_equal(c->cmd, XCMD_GETASSOCIATIONS);
    assert_string_equal(c->seqid, "2");
    xccos_cmd_free(c);
}

static void test_ms_bjoin_of_followed_rooms_keeps_order_and_domains(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_BJOIN);
    assert_int_equal(c->cmd, XCMD_BJOIN);
    assert_int_equal(c->n_chanids, 3);
    assert_string_equal(c->chanids[0].value, "58384137-ac90-43f3-b045-9bc0fc408d2b");
    assert_string_equal(c->chanids[1].value, "300");
    assert_string_equal(c->chanids[2].domain, "other.example.com");
    assert_string_equal(c->chanids[2].value, "team/ops");
    assert_string_equal(c->chanids[2].key, "2");
    xccos_cmd_free(c);
}

static void test_ms_bccontext_before_and_after_carry_count_and_msgid(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_BCCONTEXT_BEFORE);
    assert_int_equal(c->bcq, XCCOS_BCQ_BEFORE);
    assert_int_equal(c->bcq_cnt, 50);
    assert_string_equal(c->bcq_msgid, "1234");
    assert_string_equal(c->chan_uri, "ma-chan://example.com/300");
    xccos_cmd_free(c);
    c = decode_ok(MS_BCCONTEXT_AFTER);
    assert_int_equal(c->bcq, XCCOS_BCQ_AFTER);
    assert_int_equal(c->bcq_cnt, 0);
    assert_string_equal(c->bcq_msgid, "99");
    xccos_cmd_free(c);
}

/* ---- decoding rules ------------------------------------------------------------------------ */

static void test_command_ids_match_case_insensitively(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("1", "<cmd id=\"CMD:Join\" seqid=\"1\"><data>"
        "<chanid key=\"0\" domain=\"d\" value=\"v\"/></data></cmd>"));
    assert_int_equal(c->cmd, XCMD_JOIN);
    assert_string_equal(c->id, "CMD:Join");   /* kept as sent for the reply id */
    xccos_cmd_free(c);
}

static void test_unknown_command_decodes_so_it_can_be_answered_not_implemented(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("77", "<cmd id=\"cmd:getpref\" seqid=\"71\">"
        "<data><pref label=\"x\" seqid=\"71\" createdefault=\"true\"/></data></cmd>"));
    assert_int_equal(c->cmd, XCMD_UNKNOWN);
    assert_string_equal(c->id, "cmd:getpref");
    assert_string_equal(c->seqid, "71");
    assert_string_equal(c->envid, "77");
    xccos_cmd_free(c);
}

static void test_seqid_defaults_to_1_and_envid_to_empty(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok("<xccos><cmd id=\"cmd:getinv\"/></xccos>");
    assert_string_equal(c->seqid, "1");
    assert_string_equal(c->envid, "");
    assert_null(c->inv_id);
    assert_null(c->inv_domain);
    xccos_cmd_free(c);
}

static void test_prefixed_elements_and_attributes_decode_like_plain_ones(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(
        "<x:xccos xmlns:x=\"urn:parlano:xml:ns:xccos\" x:envid=\"5\"><x:cmd x:id=\"cmd:part\">"
        "<x:data><x:chanib x:uri=\"ma-chan://d/p\"/></x:data></x:cmd></x:xccos>");
    assert_int_equal(c->cmd, XCMD_PART);
    assert_string_equal(c->envid, "5");
    assert_string_equal(c->chan_uri, "ma-chan://d/p");
    xccos_cmd_free(c);
}

static void test_bccontext_without_bcq_asks_for_the_server_default(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("1", "<cmd id=\"cmd:bccontext\" seqid=\"1\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/></data></cmd>"));
    assert_int_equal(c->bcq, XCCOS_BCQ_LAST);
    assert_int_equal(c->bcq_cnt, -1);
    assert_null(c->bcq_msgid);
    xccos_cmd_free(c);
}

static void test_bccontext_count_bounds_are_0_and_10000(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/><bcq><last cnt=\"10000\"/></bcq></data></cmd>"));
    assert_int_equal(c->bcq_cnt, 10000);
    xccos_cmd_free(c);
    const char *bad[] = { "10001", "-1", "", "25x", " 25", "+5", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
                 "<chanib uri=\"ma-chan://d/p\"/><bcq><last cnt=\"%s\"/></bcq></data></cmd>"),
                 bad[i]);
        xccos_cmd_free(decode_schema_error(body, "from 0 to 10000"));
    }
}

static void test_chansrch_without_qib_lists_every_room(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("1", "<cmd id=\"cmd:chansrch\" seqid=\"1\"/>"));
    assert_string_equal(c->qtype, "BYNAME");
    assert_string_equal(c->criteria, "");
    assert_false(c->extended);
    xccos_cmd_free(c);
    c = decode_ok(ENVELOPE("1", "<cmd id=\"cmd:chansrch\"><data><qib qtype=\"BYDESC\" "
        "criteria=\"ops &amp; dev\" extended=\"TRUE\"/></data></cmd>"));
    assert_string_equal(c->qtype, "BYDESC");
    assert_string_equal(c->criteria, "ops & dev");
    assert_true(c->extended);
    xccos_cmd_free(c);
}

static void test_post_with_empty_chat_and_no_author_or_ts_is_accepted(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("1",
        "<grpchat chanUri=\"ma-chan://d/p\"><chat/></grpchat>"));
    assert_int_equal(c->cmd, XCMD_GRPCHAT);
    assert_string_equal(c->id, "grpchat");
    assert_string_equal(c->author, "");
    assert_string_equal(c->ts, "");
    assert_string_equal(c->text, "");
    assert_int_equal(c->text_len, 0);
    xccos_cmd_free(c);
}

static void test_bjoin_of_exactly_64_rooms_is_accepted(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 1 << 16);
    sbuf_puts(&b, "<xccos envid=\"1\"><cmd id=\"cmd:bjoin\"><data>");
    for (int i = 0; i < XCCOS_MAX_CHANIDS; i++)
        sbuf_printf(&b, "<chanid key=\"%d\" domain=\"example.com\" value=\"room-%d\"/>", i, i);
    sbuf_puts(&b, "</data></cmd></xccos>");
    struct xccos_cmd *c = decode_ok(b.data);
    assert_int_equal(c->n_chanids, XCCOS_MAX_CHANIDS);
    assert_string_equal(c->chanids[63].value, "room-63");
    xccos_cmd_free(c);
    sbuf_free(&b);
}

/* ---- schema errors: the command is known, a required part is missing or bad -------------- */

static void test_bjoin_of_65_rooms_is_refused_naming_the_limit(void **state)
{
    (void)state;
    struct sbuf b;
    sbuf_init(&b, 1 << 16);
    sbuf_puts(&b, "<xccos envid=\"42\"><cmd id=\"cmd:bjoin\" seqid=\"9\"><data>");
    for (int i = 0; i < XCCOS_MAX_CHANIDS + 1; i++)
        sbuf_printf(&b, "<chanid key=\"%d\" domain=\"example.com\" value=\"room-%d\"/>", i, i);
    sbuf_puts(&b, "</data></cmd></xccos>");
    struct xccos_cmd *c = decode_schema_error(b.data, "at most 64 rooms");
    assert_int_equal(c->cmd, XCMD_BJOIN);
    assert_string_equal(c->seqid, "9");
    assert_string_equal(c->envid, "42");
    assert_non_null(strstr(err, "65 rooms"));
    xccos_cmd_free(c);
    sbuf_free(&b);
}

static void test_join_without_rooms_or_with_incomplete_chanid_is_a_schema_error(void **state)
{
    (void)state;
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:join\"><data/></cmd>"),
                                       "at least one data/chanid"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:join\"/>"),
                                       "at least one data/chanid"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:bjoin\"><data>"
        "<chanid key=\"0\" domain=\"d\" value=\"v\"/><chanid key=\"1\" value=\"v\"/></data></cmd>"),
        "chanid 1 needs a domain"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:join\"><data>"
        "<chanid key=\"0\" domain=\"d\"/></data></cmd>"), "value"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:join\"><data>"
        "<chanid key=\"0\" domain=\"d\" value=\"\"/></data></cmd>"), "value"));
    /* A '/' in the domain would make ma-chan://domain/value name a different room. */
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:join\"><data>"
        "<chanid key=\"0\" domain=\"evil.example.com/other\" value=\"v\"/></data></cmd>"),
        "domain"));
}

static void test_part_and_bccontext_without_room_uri_are_schema_errors(void **state)
{
    (void)state;
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:part\"><data/></cmd>"),
                                       "data/chanib with a uri"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1",
        "<cmd id=\"cmd:part\"><data><chanib/></data></cmd>"), "data/chanib with a uri"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1",
        "<cmd id=\"cmd:bccontext\"><data><bcq><last cnt=\"25\"/></bcq></data></cmd>"),
        "data/chanib with a uri"));
}

static void test_bccontext_query_needs_count_and_msgid(void **state)
{
    (void)state;
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/><bcq><last/></bcq></data></cmd>"), "cnt"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/><bcq><before cnt=\"5\"/></bcq></data></cmd>"),
        "bcq/before needs a msgid"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/><bcq><after cnt=\"5\" msgid=\"\"/></bcq></data></cmd>"),
        "bcq/after needs a msgid"));
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:bccontext\"><data>"
        "<chanib uri=\"ma-chan://d/p\"/><bcq><newest cnt=\"5\"/></bcq></data></cmd>"),
        "last, before or after"));
}

static void test_chansrch_extended_must_be_true_or_false(void **state)
{
    (void)state;
    xccos_cmd_free(decode_schema_error(ENVELOPE("1", "<cmd id=\"cmd:chansrch\"><data>"
        "<qib extended=\"yes\"/></data></cmd>"), "true or false"));
}

static void test_post_without_room_or_chat_is_a_schema_error(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_schema_error(ENVELOPE("3",
        "<grpchat id=\"grpchat\" seqid=\"1\"><chat>hi</chat></grpchat>"), "chanUri");
    assert_int_equal(c->cmd, XCMD_GRPCHAT);
    assert_string_equal(c->envid, "3");
    xccos_cmd_free(c);
    xccos_cmd_free(decode_schema_error(ENVELOPE("3",
        "<grpchat id=\"grpchat\" chanUri=\"ma-chan://d/p\"/>"), "chat element"));
}

/* ---- refused documents --------------------------------------------------------------------- */

static void test_root_other_than_xccos_is_refused(void **state)
{
    (void)state;
    const char *s = "<envelope><cmd id=\"cmd:join\"/></envelope>";
    expect_refused(s, strlen(s), XCCOS_EROOT);
    assert_non_null(strstr(err, "<envelope>"));
}

static void test_reply_sent_by_a_client_is_refused(void **state)
{
    (void)state;
    const char *s = ENVELOPE("1", "<rpl id=\"rpl:join\" seqid=\"1\"><data/></rpl>");
    expect_refused(s, strlen(s), XCCOS_EROOT);
    assert_non_null(strstr(err, "<rpl>"));
}

static void test_empty_envelope_and_cmd_without_id_are_refused(void **state)
{
    (void)state;
    const char *empty = "<xccos ver=\"1\" envid=\"1\"/>";
    expect_refused(empty, strlen(empty), XCCOS_EROOT);
    const char *noid = ENVELOPE("1", "<cmd seqid=\"1\"><data/></cmd>");
    expect_refused(noid, strlen(noid), XCCOS_EROOT);
    assert_non_null(strstr(err, "no id"));
}

static void test_unparseable_bodies_are_xml_errors(void **state)
{
    (void)state;
    expect_refused("", 0, XCCOS_EXML);
    const char *truncated = "<xccos ver=\"1\"><cmd id=\"cmd:join\"";
    expect_refused(truncated, strlen(truncated), XCCOS_EXML);
    const char *doctype = "<!DOCTYPE xccos [<!ENTITY x \"y\">]>" ENVELOPE("1",
        "<cmd id=\"cmd:requri\"/>");
    expect_refused(doctype, strlen(doctype), XCCOS_EXML);
    assert_non_null(strstr(err, "DOCTYPE"));
    const char *bad_utf8 = ENVELOPE("1", "<grpchat chanUri=\"ma-chan://d/p\"><chat>\xC0\xAF</chat></grpchat>");
    expect_refused(bad_utf8, strlen(bad_utf8), XCCOS_EXML);
}

static void test_body_over_the_limit_is_refused_before_parsing(void **state)
{
    (void)state;
    size_t len = 70000;
    char *s = malloc(len);
    assert_non_null(s);
    memset(s, ' ', len);
    memcpy(s, SIPE_REQURI, strlen(SIPE_REQURI));
    expect_refused(s, len, XCCOS_EXML);
    assert_string_equal(err, "document has 70000 bytes; the limit is 65536");
    /* The caller's limits are the ones applied. */
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = 100;
    struct xccos_cmd *c = (struct xccos_cmd *)0x1;
    assert_int_equal(xccos_cmd_parse(SIPE_BCCONTEXT, strlen(SIPE_BCCONTEXT), &lim, &c, err,
                                     sizeof err), XCCOS_EXML);
    assert_null(c);
    free(s);
}

static void test_free_of_null_command_is_harmless(void **state)
{
    (void)state;
    xccos_cmd_free(NULL);
}

/* ---- peek: classification before any XML work -------------------------------------------- */

static void test_peek_classifies_every_fixture_like_the_full_parse(void **state)
{
    (void)state;
    const char *fixtures[] = {
        SIPE_REQURI, SIPE_GETINV, SIPE_CHANSRCH, SIPE_JOIN, SIPE_BJOIN, SIPE_BCCONTEXT,
        SIPE_GRPCHAT, SIPE_PART, MS_GETSERVERINFO, MS_GETASSOCIATIONS, MS_BJOIN,
        MS_BCCONTEXT_BEFORE, MS_BCCONTEXT_AFTER,
    };
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        struct xccos_cmd *c = decode_ok(fixtures[i]);
        enum xccos_cmd_id peeked = xccos_peek_cmd(fixtures[i], strlen(fixtures[i]));
        if (peeked != c->cmd)
            print_error("fixture %zu: peek %d, parse %d\n", i, peeked, c->cmd);
        assert_int_equal(peeked, c->cmd);
        assert_int_not_equal(peeked, XCMD_UNKNOWN);
        xccos_cmd_free(c);
    }
}

static void test_peek_tolerates_quotes_spacing_case_and_prefixes(void **state)
{
    (void)state;
    const char *a = "<xccos><cmd seqid='1' id = 'cmd:part'>";
    assert_int_equal(xccos_peek_cmd(a, strlen(a)), XCMD_PART);
    const char *b = "<xccos><cmd\n\tID=\"CMD:CHANSRCH\">";
    assert_int_equal(xccos_peek_cmd(b, strlen(b)), XCMD_CHANSRCH);
    const char *g = "<x:xccos xmlns:x=\"u\"><x:grpchat x:chanUri=\"ma-chan://d/p\">";
    assert_int_equal(xccos_peek_cmd(g, strlen(g)), XCMD_GRPCHAT);
}

static void test_peek_is_not_fooled_by_lookalikes(void **state)
{
    (void)state;
    /* envid and chanUri values that look like command ids are not the id attribute. */
    const char *envid = "<xccos envid=\"cmd:join\"><cmd xid=\"cmd:part\">";
    assert_int_equal(xccos_peek_cmd(envid, strlen(envid)), XCMD_UNKNOWN);
    const char *prefix = "<xccos><cmd id=\"cmd:joinx\">";
    assert_int_equal(xccos_peek_cmd(prefix, strlen(prefix)), XCMD_UNKNOWN);
    const char *unclosed = "<xccos><cmd id=\"cmd:join";
    assert_int_equal(xccos_peek_cmd(unclosed, strlen(unclosed)), XCMD_UNKNOWN);
    const char *mixed = "<xccos><cmd id=\"cmd:join'>";
    assert_int_equal(xccos_peek_cmd(mixed, strlen(mixed)), XCMD_UNKNOWN);
    const char *grpchatx = "<xccos><grpchatx id=\"grpchat\">";
    assert_int_equal(xccos_peek_cmd(grpchatx, strlen(grpchatx)), XCMD_UNKNOWN);
    const char *unknown = "<xccos><cmd id=\"cmd:getpref\">";
    assert_int_equal(xccos_peek_cmd(unknown, strlen(unknown)), XCMD_UNKNOWN);
    assert_int_equal(xccos_peek_cmd(NULL, 0), XCMD_UNKNOWN);
    assert_int_equal(xccos_peek_cmd("", 0), XCMD_UNKNOWN);
}

static void test_peek_looks_only_at_the_first_512_bytes(void **state)
{
    (void)state;
    char s[1024];
    memset(s, ' ', sizeof s);
    const char *tag = "<cmd id=\"cmd:join\">";
    memcpy(s + 600, tag, strlen(tag));
    assert_int_equal(xccos_peek_cmd(s, sizeof s), XCMD_UNKNOWN);
    memcpy(s + 400, tag, strlen(tag));
    assert_int_equal(xccos_peek_cmd(s, sizeof s), XCMD_JOIN);
    /* An id straddling the window edge is "unsure", not a guess. */
    memset(s, ' ', sizeof s);
    memcpy(s + 512 - 12, tag, strlen(tag));
    assert_int_equal(xccos_peek_cmd(s, sizeof s), XCMD_UNKNOWN);
    /* The length given is respected even when more bytes follow in memory. */
    memset(s, ' ', sizeof s);
    memcpy(s, tag, strlen(tag));
    assert_int_equal(xccos_peek_cmd(s, 14), XCMD_UNKNOWN);
}

/* ---- identifiers and formats --------------------------------------------------------------- */

static void test_reply_id_replaces_the_prefix_with_rpl(void **state)
{
    (void)state;
    char id[64];
    xccos_reply_id("cmd:join", id, sizeof id);
    assert_string_equal(id, "rpl:join");
    xccos_reply_id("cmd:getserverinfo", id, sizeof id);
    assert_string_equal(id, "rpl:getserverinfo");
    xccos_reply_id("cmd:frob", id, sizeof id);
    assert_string_equal(id, "rpl:frob");
    xccos_reply_id("grpchat", id, sizeof id);
    assert_string_equal(id, "rpl:grpchat");
    xccos_reply_id("x:y:z", id, sizeof id);
    assert_string_equal(id, "rpl:y:z");
    xccos_reply_id("cmd:bccontext", id, 8);
    assert_string_equal(id, "rpl:bcc");   /* truncated, still terminated */
}

static void test_timestamps_are_utc_with_milliseconds_and_z(void **state)
{
    (void)state;
    char ts[32];
    xccos_format_ts(utc_us(2024, 5, 1, 10, 15, 2, 797) + 999, ts, sizeof ts);
    assert_string_equal(ts, "2024-05-01T10:15:02.797Z");
    xccos_format_ts(0, ts, sizeof ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    xccos_format_ts(-1000, ts, sizeof ts);
    assert_string_equal(ts, "1969-12-31T23:59:59.999Z");
    xccos_format_ts(utc_us(2038, 1, 19, 3, 14, 8, 0), ts, sizeof ts);
    assert_string_equal(ts, "2038-01-19T03:14:08.000Z");
}

static void test_room_uri_splits_into_domain_and_path_like_sipe(void **state)
{
    (void)state;
    const char *domain, *path;
    size_t dlen;
    assert_int_equal(xccos_split_room_uri(ROOM_GENERAL, &domain, &dlen, &path), 0);
    assert_int_equal(dlen, strlen("example.com"));
    assert_memory_equal(domain, "example.com", dlen);
    assert_string_equal(path, "7e1f0a52-3c1d-4f3e-9d2a-0123456789ab");
    assert_int_equal(xccos_split_room_uri("ma-chan://d.example/team/ops/1", &domain, &dlen,
                                          &path), 0);
    assert_int_equal(dlen, strlen("d.example"));
    assert_string_equal(path, "team/ops/1");
    const char *bad[] = { "ma-chan://", "ma-chan://example.com", "ma-chan://example.com/",
                          "ma-chan:///path", "ma-cat://example.com/x", "MA-CHAN://d/p",
                          "sip:alice@example.com", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(xccos_split_room_uri(bad[i], &domain, &dlen, &path), -1);
    assert_int_equal(xccos_split_room_uri(NULL, &domain, &dlen, &path), -1);
}

/* ---- rendering: exact bytes ---------------------------------------------------------------- */

static void test_requri_reply_matches_the_protocol_bytes(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_REQURI);
    xccos_render_rpl_requri(&out, 5502318840ull, c, "sip:pchat-chan1@example.com");
    assert_false(out.overflow);
    assert_string_equal(out.data, PROTOCOL_RPL_REQURI);
    assert_int_equal(out.len, strlen(PROTOCOL_RPL_REQURI));
    struct xdoc *doc;
    const struct xnode *data = parse_reply(5502318840ull, "rpl:requri", "1", "371169199", 200,
                                           "SUCCESS_OK", &doc);
    assert_string_equal(xnode_attr(xnode_child(data, "uib"), "uri"), "sip:pchat-chan1@example.com");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_fanout_post_matches_the_protocol_bytes(void **state)
{
    (void)state;
    /* The whole path: SIPE's post decoded, re-sent with the server's time. */
    struct xccos_cmd *c = decode_ok(SIPE_GRPCHAT);
    char ts[32];
    xccos_format_ts(utc_us(2024, 5, 1, 10, 15, 2, 797), ts, sizeof ts);
    struct xccos_msg m = {
        .chan_uri = c->chan_uri, .author = "sip:alice@example.com", .ts = ts,
        .text = c->text, .text_len = c->text_len, .msgid = 0,
    };
    xccos_render_grpchat(&out, 973160142, &m);
    assert_false(out.overflow);
    assert_string_equal(out.data, PROTOCOL_FANOUT_GRPCHAT);
    xccos_cmd_free(c);
}

static void test_post_carries_msgid_only_when_positive(void **state)
{
    (void)state;
    struct xccos_msg m = {
        .chan_uri = ROOM_GENERAL, .author = "sip:bob@example.com",
        .ts = "2024-05-01T09:05:00.000Z", .text = "hi", .text_len = 2, .msgid = 9007199254740993,
    };
    xccos_render_grpchat(&out, 1, &m);
    struct xdoc *doc;
    const struct xnode *g = parse_envelope(1, "grpchat", &doc);
    assert_string_equal(xnode_attr(g, "id"), "grpchat");
    assert_string_equal(xnode_attr(g, "seqid"), "1");
    assert_string_equal(xnode_attr(g, "chanUri"), ROOM_GENERAL);
    assert_string_equal(xnode_attr(g, "author"), "sip:bob@example.com");
    assert_string_equal(xnode_attr(g, "ts"), "2024-05-01T09:05:00.000Z");
    assert_string_equal(xnode_attr(g, "msgid"), "9007199254740993");
    assert_string_equal(xnode_child(g, "chat")->text, "hi");
    xdoc_free(doc);
    sbuf_reset(&out);
    m.msgid = -5;
    xccos_render_grpchat(&out, 1, &m);
    assert_null(strstr(out.data, "msgid"));
}

/* ---- rendering: structure ------------------------------------------------------------------ */

static void test_error_reply_has_code_sentence_and_empty_data(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_JOIN);
    xccos_render_error(&out, 12, c, 404, "no such room: \"General\" & co");
    assert_non_null(strstr(out.data, "<resp code=\"404\">no such room: &quot;General&quot; &amp; co</resp><data/></rpl>"));
    struct xdoc *doc;
    const struct xnode *data = parse_reply(12, "rpl:join", "1", "371169202", 404,
                                           "no such room: \"General\" & co", &doc);
    assert_null(data->children);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_unknown_command_gets_a_reply_with_its_own_suffix(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("88", "<cmd id=\"cmd:getpref\" seqid=\"71\"/>"));
    xccos_render_error(&out, 13, c, 501, "cmd:getpref is not implemented");
    struct xdoc *doc;
    parse_reply(13, "rpl:getpref", "71", "88", 501, "cmd:getpref is not implemented", &doc);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_schema_error_can_still_be_answered(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_schema_error(ENVELOPE("31", "<cmd id=\"cmd:part\" seqid=\"4\"/>"),
                                              "uri");
    xccos_render_error(&out, 14, c, 400, err);
    struct xdoc *doc;
    parse_reply(14, "rpl:part", "4", "31", 400, err, &doc);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_generic_open_close_wraps_caller_data(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(ENVELOPE("5", "<cmd id=\"cmd:nodespermcreatechild\"/>"));
    xccos_rpl_open(&out, 15, c, 200, NULL);
    xccos_rpl_close(&out);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(15, "rpl:nodespermcreatechild", "1", "5", 200,
                                           "SUCCESS_OK", &doc);
    assert_null(data->children);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_room_list_reply_has_everything_sipe_reads(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_CHANSRCH);
    const struct xccos_room rooms[] = {
        { .uri = ROOM_GENERAL, .name = "General", .description = "General talk", .user_count = 3,
          .is_private = false, .logged = true, .invite = false, .filepost = true },
        { .uri = ROOM_SECRET, .name = "Secret", .description = NULL, .user_count = -1,
          .is_private = true, .logged = false, .invite = true, .filepost = false },
    };
    xccos_render_rpl_chansrch(&out, 16, c, rooms, 2);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(16, "rpl:chansrch", "1", "371169201", 200,
                                           "SUCCESS_OK", &doc);
    assert_int_equal(count_children(data, "chanib"), 2);

    const struct xnode *g = xnode_child(data, "chanib");
    assert_string_equal(xnode_attr(g, "name"), "General");
    assert_string_equal(xnode_attr(g, "description"), "General talk");
    assert_string_equal(xnode_attr(g, "uri"), ROOM_GENERAL);
    assert_string_equal(child_with_attr(g, "info", "id", "urn:parlano:ma:info:ucnt")->text, "3");
    assert_string_equal(child_with_attr(g, "info", "id", "urn:parlano:ma:info:visibilty")->text,
                        "public");
    assert_string_equal(child_with_attr(g, "info", "id", "urn:parlano:ma:info:visibility")->text,
                        "public");
    assert_string_equal(child_with_attr(g, "prop", "id", "urn:parlano:ma:prop:logged")->text, "true");
    assert_string_equal(child_with_attr(g, "prop", "id", "urn:parlano:ma:prop:invite")->text, "false");
    assert_string_equal(child_with_attr(g, "prop", "id", "urn:parlano:ma:prop:filepost")->text, "true");

    const struct xnode *s = xnode_next(g, "chanib");
    assert_string_equal(xnode_attr(s, "name"), "Secret");
    assert_string_equal(xnode_attr(s, "description"), "");
    assert_null(child_with_attr(s, "info", "id", "urn:parlano:ma:info:ucnt"));
    assert_string_equal(child_with_attr(s, "info", "id", "urn:parlano:ma:info:visibilty")->text,
                        "private");
    assert_string_equal(child_with_attr(s, "info", "id", "urn:parlano:ma:info:visibility")->text,
                        "private");
    assert_string_equal(child_with_attr(s, "prop", "id", "urn:parlano:ma:prop:logged")->text, "false");
    assert_string_equal(child_with_attr(s, "prop", "id", "urn:parlano:ma:prop:invite")->text, "true");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_empty_room_list_is_a_success_with_empty_data(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_CHANSRCH);
    xccos_render_rpl_chansrch(&out, 17, c, NULL, 0);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(17, "rpl:chansrch", "1", "371169201", 200,
                                           "SUCCESS_OK", &doc);
    assert_null(data->children);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_join_reply_lists_users_then_rooms_with_roles(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_JOIN);
    const struct xccos_user users[] = {
        { "sip:alice@example.com", "Alice" }, { "sip:bob@example.com", NULL },
        { "sip:carol@example.com", NULL },
    };
    const int members[] = { 0, 1 }, managers[] = { 2 };
    const struct xccos_join_room room = {
        .room = { .uri = ROOM_GENERAL, .name = "General", .topic = "Welcome to General" },
        .member_ids = members, .n_members = 2, .manager_ids = managers, .n_managers = 1,
    };
    xccos_render_rpl_join(&out, 18, c, users, 3, &room, 1, NULL, 0);
    assert_non_null(strstr(out.data, "<aib key=\"3984\" value=\"0,1\"/><aib key=\"12276\" value=\"2\"/>"));
    struct xdoc *doc;
    const struct xnode *data = parse_reply(18, "rpl:join", "1", "371169202", 200, "SUCCESS_OK",
                                           &doc);
    /* uib elements first and directly under data, ids matching the aib lists */
    const struct xnode *n = data->children;
    for (int i = 0; i < 3; i++, n = n->next) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        assert_string_equal(n->name, "uib");
        assert_string_equal(xnode_attr(n, "id"), id);
        assert_string_equal(xnode_attr(n, "uri"), users[i].uri);
    }
    assert_string_equal(n->name, "chanib");
    assert_null(n->next);
    assert_string_equal(xnode_attr(n, "uri"), ROOM_GENERAL);
    assert_string_equal(xnode_attr(n, "name"), "General");
    assert_string_equal(xnode_attr(n, "topic"), "Welcome to General");
    assert_string_equal(xnode_attr(child_with_attr(n, "aib", "key", "3984"), "value"), "0,1");
    assert_string_equal(xnode_attr(child_with_attr(n, "aib", "key", "12276"), "value"), "2");
    assert_int_equal(count_children(n, "aib"), 2);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_join_reply_omits_empty_role_lists_and_missing_topic(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_JOIN);
    const struct xccos_user users[] = { { "sip:alice@example.com", NULL } };
    const int members[] = { 0 };
    const struct xccos_join_room room = {
        .room = { .uri = ROOM_GENERAL, .name = "General", .topic = NULL },
        .member_ids = members, .n_members = 1, .manager_ids = NULL, .n_managers = 0,
    };
    xccos_render_rpl_join(&out, 19, c, users, 1, &room, 1, NULL, 0);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(19, "rpl:join", "1", "371169202", 200, "SUCCESS_OK",
                                           &doc);
    const struct xnode *ch = xnode_child(data, "chanib");
    assert_null(xnode_attr(ch, "topic"));
    assert_int_equal(count_children(ch, "aib"), 1);
    assert_null(child_with_attr(ch, "aib", "key", "12276"));
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_bjoin_reply_shares_users_and_reports_failed_rooms(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_BJOIN);
    const struct xccos_user users[] = { { "sip:alice@example.com", NULL },
                                        { "sip:bob@example.com", NULL } };
    const int r1_members[] = { 0, 1 }, r2_managers[] = { 0 }, r2_members[] = { 1 };
    const struct xccos_join_room rooms[] = {
        { .room = { .uri = "ma-chan://example.com/58384137-ac90-43f3-b045-9bc0fc408d2b",
                    .name = "One" },
          .member_ids = r1_members, .n_members = 2 },
        { .room = { .uri = "ma-chan://example.com/300", .name = "Two", .topic = "" },
          .member_ids = r2_members, .n_members = 1, .manager_ids = r2_managers, .n_managers = 1 },
    };
    const char *const failed[] = { "ma-chan://other.example.com/team/ops" };
    xccos_render_rpl_join(&out, 20, c, users, 2, rooms, 2, failed, 1);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(20, "rpl:bjoin", "3", "9000000003", 200,
                                           "SUCCESS_OK", &doc);
    assert_int_equal(count_children(data, "uib"), 2);
    assert_int_equal(count_children(data, "chanib"), 2);
    const struct xnode *two = child_with_attr(data, "chanib", "uri", "ma-chan://example.com/300");
    assert_non_null(two);
    assert_string_equal(xnode_attr(two, "topic"), "");
    assert_string_equal(xnode_attr(child_with_attr(two, "aib", "key", "12276"), "value"), "0");
    const struct xnode *fib = xnode_child(data, "fib");
    assert_non_null(fib);
    assert_string_equal(xnode_attr(fib, "key"), "OPERATION_FAILED");
    assert_string_equal(xnode_attr(fib, "value"), "team/ops");
    assert_string_equal(xnode_attr(fib, "domain"), "other.example.com");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_history_reply_holds_messages_oldest_first_in_one_chanib(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_BCCONTEXT);
    const struct xccos_msg msgs[] = {
        { .chan_uri = c->chan_uri, .author = "sip:carol@example.com",
          .ts = "2024-05-01T09:00:00.123Z", .text = "first message & more",
          .text_len = strlen("first message & more"), .msgid = 41 },
        { .chan_uri = NULL, .author = "sip:bob@example.com", .ts = "2024-05-01T09:05:00.000Z",
          .text = "second message", .text_len = strlen("second message"), .msgid = 0 },
    };
    xccos_render_rpl_bccontext(&out, 21, c, NULL, msgs, 2);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(21, "rpl:bccontext", "1", "371169203", 200,
                                           "SUCCESS_OK", &doc);
    assert_int_equal(count_children(data, "chanib"), 1);
    const struct xnode *ch = xnode_child(data, "chanib");
    assert_string_equal(xnode_attr(ch, "uri"), "ma-chan://example.com/7e1f0a52-…");
    const struct xnode *m1 = xnode_child(ch, "msg");
    const struct xnode *m2 = xnode_next(m1, "msg");
    assert_non_null(m2);
    assert_null(xnode_next(m2, "msg"));
    assert_string_equal(xnode_attr(m1, "id"), "grpchat");
    assert_string_equal(xnode_attr(m1, "chanUri"), "ma-chan://example.com/7e1f0a52-…");
    assert_string_equal(xnode_attr(m1, "author"), "sip:carol@example.com");
    assert_string_equal(xnode_attr(m1, "ts"), "2024-05-01T09:00:00.123Z");
    assert_string_equal(xnode_attr(m1, "msgid"), "41");
    assert_string_equal(xnode_child(m1, "chat")->text, "first message & more");
    assert_string_equal(xnode_attr(m2, "chanUri"), "ma-chan://example.com/7e1f0a52-…");
    assert_null(xnode_attr(m2, "msgid"));
    assert_string_equal(xnode_child(m2, "chat")->text, "second message");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_empty_history_is_an_empty_chanib(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_BCCONTEXT);
    xccos_render_rpl_bccontext(&out, 22, c, ROOM_SECRET, NULL, 0);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(22, "rpl:bccontext", "1", "371169203", 200,
                                           "SUCCESS_OK", &doc);
    const struct xnode *ch = xnode_child(data, "chanib");
    assert_string_equal(xnode_attr(ch, "uri"), ROOM_SECRET);
    assert_null(ch->children);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_part_reply_echoes_the_room_uri(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_PART);
    xccos_render_rpl_part(&out, 23, c, NULL);
    assert_non_null(strstr(out.data, "<data><chanib uri=\"ma-chan://example.com/7e1f0a52-…\"/></data>"));
    struct xdoc *doc;
    const struct xnode *data = parse_reply(23, "rpl:part", "1", "371169206", 200, "SUCCESS_OK",
                                           &doc);
    assert_string_equal(xnode_attr(xnode_child(data, "chanib"), "uri"),
                        "ma-chan://example.com/7e1f0a52-…");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_invitation_reply_lists_each_invitation(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(SIPE_GETINV);
    const struct xccos_invitation invs[] = {
        { "7", ROOM_SECRET, "Secret", "sip:carol@example.com", "2024-05-01T08:00:00.000Z" },
        { "8", ROOM_GENERAL, "General", NULL, "2024-05-02T08:00:00.000Z" },
    };
    xccos_render_rpl_getinv(&out, 24, c, invs, 2);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(24, "rpl:getinv", "1", "371169200", 200,
                                           "SUCCESS_OK", &doc);
    assert_int_equal(count_children(data, "inv"), 2);
    const struct xnode *i1 = xnode_child(data, "inv");
    assert_string_equal(xnode_attr(i1, "inviteId"), "7");
    assert_string_equal(xnode_attr(i1, "chanUri"), ROOM_SECRET);
    assert_string_equal(xnode_attr(i1, "name"), "Secret");
    assert_string_equal(xnode_attr(i1, "inviter"), "sip:carol@example.com");
    assert_string_equal(xnode_attr(i1, "ts"), "2024-05-01T08:00:00.000Z");
    assert_null(xnode_attr(xnode_next(i1, "inv"), "inviter"));
    xdoc_free(doc);
    sbuf_reset(&out);
    xccos_render_rpl_getinv(&out, 25, c, NULL, 0);
    data = parse_reply(25, "rpl:getinv", "1", "371169200", 200, "SUCCESS_OK", &doc);
    assert_null(data->children);
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_associations_reply_gives_role_per_room(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_GETASSOCIATIONS);
    const struct xccos_association a[] = {
        { .room = { .uri = ROOM_GENERAL, .name = "General", .description = "General talk" },
          .manager = false },
        { .room = { .uri = ROOM_SECRET, .name = "Secret" }, .manager = true },
    };
    xccos_render_rpl_getassociations(&out, 26, c, a, 2);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(26, "rpl:getassociations", "2", "9000000002", 200,
                                           "SUCCESS_OK", &doc);
    const struct xnode *g = child_with_attr(data, "chanib", "uri", ROOM_GENERAL);
    const struct xnode *s = child_with_attr(data, "chanib", "uri", ROOM_SECRET);
    assert_string_equal(xnode_attr(g, "name"), "General");
    assert_string_equal(xnode_attr(g, "description"), "General talk");
    assert_string_equal(child_with_attr(g, "info", "id", "urn:parlano:ma:info:role")->text, "member");
    assert_string_equal(child_with_attr(s, "info", "id", "urn:parlano:ma:info:role")->text, "manager");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_server_info_reply_has_the_sib_attributes(void **state)
{
    (void)state;
    struct xccos_cmd *c = decode_ok(MS_GETSERVERINFO);
    struct xccos_server_info info = {
        .domain = "example.com", .server_time = "2024-05-01T10:00:00.000Z",
        .root_uri = "ma-cat://example.com/6c1e2f3a-0000-4000-8000-000000000001",
        .db_version = "00000000-0000-0000-0000-000000000007",
        .display_name = "Example & Co chat", .room_management_url = "https://chat.example.com/rooms",
        .search_limit = 999, .message_size_limit = 512, .story_size_limit = 4096,
    };
    xccos_render_rpl_getserverinfo(&out, 27, c, &info);
    struct xdoc *doc;
    const struct xnode *data = parse_reply(27, "rpl:getserverinfo", "1", "9000000001", 200,
                                           "SUCCESS_OK", &doc);
    const struct xnode *sib = xnode_child(data, "sib");
    assert_non_null(sib);
    assert_null(sib->next);
    assert_string_equal(xnode_attr(sib, "infoType"), "123");
    assert_string_equal(xnode_attr(sib, "serverTime"), "2024-05-01T10:00:00.000Z");
    assert_string_equal(xnode_attr(sib, "searchLimit"), "999");
    assert_string_equal(xnode_attr(sib, "messageSizeLimit"), "512");
    assert_string_equal(xnode_attr(sib, "storySizeLimit"), "4096");
    assert_string_equal(xnode_attr(sib, "rootUri"), info.root_uri);
    assert_string_equal(xnode_attr(sib, "dbVersion"), info.db_version);
    assert_string_equal(xnode_attr(sib, "displayName"), "Example & Co chat");
    assert_string_equal(xnode_attr(sib, "roomManagementUrl"), info.room_management_url);
    xdoc_free(doc);
    sbuf_reset(&out);
    info.display_name = NULL;
    info.room_management_url = NULL;
    xccos_render_rpl_getserverinfo(&out, 28, c, &info);
    data = parse_reply(28, "rpl:getserverinfo", "1", "9000000001", 200, "SUCCESS_OK", &doc);
    sib = xnode_child(data, "sib");
    assert_null(xnode_attr(sib, "displayName"));
    assert_null(xnode_attr(sib, "roomManagementUrl"));
    assert_string_equal(xnode_attr(sib, "infoType"), "123");
    xdoc_free(doc);
    xccos_cmd_free(c);
}

static void test_join_notice_rebuilds_to_the_room_uri_with_the_role_key(void **state)
{
    (void)state;
    xccos_render_ntc_join(&out, 29, "sip:bob@example.com", ROOM_GENERAL, false);
    struct xdoc *doc;
    const struct xnode *ntc = parse_envelope(29, "ntc", &doc);
    assert_string_equal(xnode_attr(ntc, "id"), "ntc:join");
    assert_string_equal(xnode_attr(ntc, "seqid"), "1");
    assert_null(xnode_child(ntc, "resp"));
    const struct xnode *uib = xnode_child(xnode_child(ntc, "data"), "uib");
    assert_string_equal(xnode_attr(uib, "uri"), "sip:bob@example.com");
    const struct xnode *aib = xnode_child(uib, "aib");
    assert_string_equal(xnode_attr(aib, "key"), "3984");
    /* SIPE rebuilds ma-chan://domain/value and must get the URI it was given byte-exactly. */
    char rebuilt[256];
    snprintf(rebuilt, sizeof rebuilt, "ma-chan://%s/%s", xnode_attr(aib, "domain"),
             xnode_attr(aib, "value"));
    assert_string_equal(rebuilt, ROOM_GENERAL);
    xdoc_free(doc);

    sbuf_reset(&out);
    xccos_render_ntc_join(&out, 30, "sip:carol@example.com", "ma-chan://d.example/team/ops", true);
    ntc = parse_envelope(30, "ntc", &doc);
    aib = xnode_child(xnode_child(xnode_child(ntc, "data"), "uib"), "aib");
    assert_string_equal(xnode_attr(aib, "key"), "12276");
    assert_string_equal(xnode_attr(aib, "domain"), "d.example");
    assert_string_equal(xnode_attr(aib, "value"), "team/ops");
    xdoc_free(doc);
}

static void test_part_notice_names_room_and_user(void **state)
{
    (void)state;
    xccos_render_ntc_part(&out, 31, "sip:alice@example.com", ROOM_GENERAL);
    struct xdoc *doc;
    const struct xnode *ntc = parse_envelope(31, "ntc", &doc);
    assert_string_equal(xnode_attr(ntc, "id"), "ntc:part");
    const struct xnode *ch = xnode_child(xnode_child(ntc, "data"), "chanib");
    assert_string_equal(xnode_attr(ch, "uri"), ROOM_GENERAL);
    assert_string_equal(xnode_attr(xnode_child(ch, "uib"), "uri"), "sip:alice@example.com");
    xdoc_free(doc);
}

/* ---- escaping ------------------------------------------------------------------------------ */

static void test_post_text_round_trips_exactly(void **state)
{
    (void)state;
    const char *text = "&amp; <b>bold</b> \"quoted\" 'single' a&b\r\nline two\ttab \xF0\x9F\x98\x80 "
                       "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D";
    struct xccos_msg m = {
        .chan_uri = "ma-chan://example.com/a&b\"c'<d>", .author = "sip:o'neil@example.com",
        .ts = "2024-05-01T10:15:02.797Z", .text = text, .text_len = strlen(text),
    };
    xccos_render_grpchat(&out, 32, &m);
    assert_null(strstr(out.data, "<b>"));
    struct xdoc *doc;
    const struct xnode *g = parse_envelope(32, "grpchat", &doc);
    assert_string_equal(xnode_attr(g, "chanUri"), m.chan_uri);
    assert_string_equal(xnode_attr(g, "author"), m.author);
    const struct xnode *chat = xnode_child(g, "chat");
    assert_int_equal(chat->text_len, strlen(text));
    assert_string_equal(chat->text, text);
    xdoc_free(doc);
}

static void test_decoded_post_re_rendered_keeps_its_text(void **state)
{
    (void)state;
    /* What SIPE sends (escaped once, CR LF as character references) survives the trip. */
    struct xccos_cmd *c = decode_ok(ENVELOPE("1", "<grpchat chanUri=\"ma-chan://d/p\" "
        "author=\"sip:a@d\" ts=\"\"><chat>1 &lt; 2 &amp;&amp; &quot;x&quot;&#13;&#10;ok &#x1F600;</chat></grpchat>"));
    assert_string_equal(c->text, "1 < 2 && \"x\"\r\nok \xF0\x9F\x98\x80");
    struct xccos_msg m = { .chan_uri = c->chan_uri, .author = c->author, .ts = "t",
                           .text = c->text, .text_len = c->text_len };
    xccos_render_grpchat(&out, 33, &m);
    struct xccos_cmd *back = decode_ok(out.data);
    assert_int_equal(back->cmd, XCMD_GRPCHAT);
    assert_int_equal(back->text_len, c->text_len);
    assert_memory_equal(back->text, c->text, c->text_len);
    xccos_cmd_free(back);
    xccos_cmd_free(c);
}

static void test_attribute_newlines_survive_and_control_bytes_cannot_break_the_document(void **state)
{
    (void)state;
    const struct xccos_room room = {
        .uri = ROOM_GENERAL, .name = "two\nlines\tand\rcr", .description = "bell\x07 nul-free\x1b",
        .user_count = 0,
    };
    xccos_render_rpl_chansrch(&out, 34, NULL, &room, 1);
    struct xdoc *doc;
    const struct xnode *rpl = parse_envelope(34, "rpl", &doc);
    const struct xnode *ch = xnode_child(xnode_child(rpl, "data"), "chanib");
    assert_string_equal(xnode_attr(ch, "name"), "two\nlines\tand\rcr");
    assert_string_equal(xnode_attr(ch, "description"), "bell\xEF\xBF\xBD nul-free\xEF\xBF\xBD");
    xdoc_free(doc);
}

static void test_message_text_without_length_is_taken_to_its_end(void **state)
{
    (void)state;
    struct xccos_msg m = { .chan_uri = "ma-chan://d/p", .author = "sip:a@d", .ts = "t",
                           .text = "no length given", .text_len = 0 };
    xccos_render_grpchat(&out, 35, &m);
    assert_non_null(strstr(out.data, "<chat>no length given</chat>"));
}

static void test_render_past_the_buffer_cap_reports_overflow(void **state)
{
    (void)state;
    struct sbuf small;
    sbuf_init(&small, 64);
    struct xccos_cmd *c = decode_ok(SIPE_REQURI);
    xccos_render_rpl_requri(&small, 1, c, "sip:pchat-chan1@example.com");
    assert_true(small.overflow);
    sbuf_free(&small);
    xccos_cmd_free(c);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup_buf, teardown_buf)
    const struct CMUnitTest tests[] = {
        T(test_sipe_requri_decodes_with_its_envid),
        T(test_sipe_getinv_reads_invite_id_and_domain),
        T(test_sipe_chansrch_reads_the_query_block),
        T(test_sipe_join_gives_the_room_domain_and_path),
        T(test_sipe_bjoin_gives_every_queued_room),
        T(test_sipe_bccontext_asks_for_the_last_25),
        T(test_sipe_post_gives_room_author_ts_and_decoded_text),
        T(test_sipe_part_gives_the_room_uri),
        T(test_ms_getserverinfo_reads_the_sib_query),
        T(test_ms_getassociations_needs_no_data),
        T(test_ms_bjoin_of_followed_rooms_keeps_order_and_domains),
        T(test_ms_bccontext_before_and_after_carry_count_and_msgid),
        T(test_command_ids_match_case_insensitively),
        T(test_unknown_command_decodes_so_it_can_be_answered_not_implemented),
        T(test_seqid_defaults_to_1_and_envid_to_empty),
        T(test_prefixed_elements_and_attributes_decode_like_plain_ones),
        T(test_bccontext_without_bcq_asks_for_the_server_default),
        T(test_bccontext_count_bounds_are_0_and_10000),
        T(test_chansrch_without_qib_lists_every_room),
        T(test_post_with_empty_chat_and_no_author_or_ts_is_accepted),
        T(test_bjoin_of_exactly_64_rooms_is_accepted),
        T(test_bjoin_of_65_rooms_is_refused_naming_the_limit),
        T(test_join_without_rooms_or_with_incomplete_chanid_is_a_schema_error),
        T(test_part_and_bccontext_without_room_uri_are_schema_errors),
        T(test_bccontext_query_needs_count_and_msgid),
        T(test_chansrch_extended_must_be_true_or_false),
        T(test_post_without_room_or_chat_is_a_schema_error),
        T(test_root_other_than_xccos_is_refused),
        T(test_reply_sent_by_a_client_is_refused),
        T(test_empty_envelope_and_cmd_without_id_are_refused),
        T(test_unparseable_bodies_are_xml_errors),
        T(test_body_over_the_limit_is_refused_before_parsing),
        T(test_free_of_null_command_is_harmless),
        T(test_peek_classifies_every_fixture_like_the_full_parse),
        T(test_peek_tolerates_quotes_spacing_case_and_prefixes),
        T(test_peek_is_not_fooled_by_lookalikes),
        T(test_peek_looks_only_at_the_first_512_bytes),
        T(test_reply_id_replaces_the_prefix_with_rpl),
        T(test_timestamps_are_utc_with_milliseconds_and_z),
        T(test_room_uri_splits_into_domain_and_path_like_sipe),
        T(test_requri_reply_matches_the_protocol_bytes),
        T(test_fanout_post_matches_the_protocol_bytes),
        T(test_post_carries_msgid_only_when_positive),
        T(test_error_reply_has_code_sentence_and_empty_data),
        T(test_unknown_command_gets_a_reply_with_its_own_suffix),
        T(test_schema_error_can_still_be_answered),
        T(test_generic_open_close_wraps_caller_data),
        T(test_room_list_reply_has_everything_sipe_reads),
        T(test_empty_room_list_is_a_success_with_empty_data),
        T(test_join_reply_lists_users_then_rooms_with_roles),
        T(test_join_reply_omits_empty_role_lists_and_missing_topic),
        T(test_bjoin_reply_shares_users_and_reports_failed_rooms),
        T(test_history_reply_holds_messages_oldest_first_in_one_chanib),
        T(test_empty_history_is_an_empty_chanib),
        T(test_part_reply_echoes_the_room_uri),
        T(test_invitation_reply_lists_each_invitation),
        T(test_associations_reply_gives_role_per_room),
        T(test_server_info_reply_has_the_sib_attributes),
        T(test_join_notice_rebuilds_to_the_room_uri_with_the_role_key),
        T(test_part_notice_names_room_and_user),
        T(test_post_text_round_trips_exactly),
        T(test_decoded_post_re_rendered_keeps_its_text),
        T(test_attribute_newlines_survive_and_control_bytes_cannot_break_the_document),
        T(test_message_text_without_length_is_taken_to_its_end),
        T(test_render_past_the_buffer_cap_reports_overflow),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
