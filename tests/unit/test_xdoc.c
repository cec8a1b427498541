/* test_xdoc.c — the hardened XML reader: the tree SIPE-style code reads, and every hostile
 * body an attacker can put in an INFO (entities, bombs, deep nesting, huge nodes, bad UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xdoc.h"

/* A timing bound generous enough for valgrind yet far below what an unbounded parse of the
 * same input costs; the point is "rejected before the bulk of the input is looked at". */
#define FAST_REJECT_MS 500.0

static char err[256];

static enum xdoc_err parse_with(const char *s, size_t len, const struct xdoc_limits *lim,
                                struct xdoc **doc)
{
    err[0] = '\0';
    return xdoc_parse(s, len, lim, doc, err, sizeof err);
}

static enum xdoc_err parse(const char *s, struct xdoc **doc)
{
    return parse_with(s, strlen(s), NULL, doc);
}

/* Parse that must fail with `want`; checks the out pointer stays NULL and a sentence exists. */
static void expect_reject(const char *s, size_t len, const struct xdoc_limits *lim,
                          enum xdoc_err want)
{
    struct xdoc *doc = (struct xdoc *)0x1;
    enum xdoc_err got = parse_with(s, len, lim, &doc);
    if (got != want)
        print_error("expected %s, got %s (%s)\n", xdoc_strerror(want), xdoc_strerror(got), err);
    assert_int_equal(got, want);
    assert_null(doc);
    assert_true(strlen(err) > 0);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail, size_t *len)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    size_t total = hl + ul * n + tl;
    char *s = malloc(total + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl);
    s[total] = '\0';
    *len = total;
    return s;
}

/* ---- the tree ------------------------------------------------------------------------------ */

static void test_tree_has_root_children_and_siblings_in_document_order(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<r><a n=\"1\"/><b/><a n=\"2\"><c/></a></r>", &doc), XDOC_OK);
    const struct xnode *r = xdoc_root(doc);
    assert_string_equal(r->name, "r");
    assert_null(r->parent);
    const struct xnode *a1 = xnode_child(r, "a");
    assert_non_null(a1);
    assert_string_equal(xnode_attr(a1, "n"), "1");
    assert_ptr_equal(a1->parent, r);
    const struct xnode *b = xnode_child(r, "b");
    assert_ptr_equal(a1->next, b);
    const struct xnode *a2 = xnode_next(a1, "a");
    assert_non_null(a2);
    assert_string_equal(xnode_attr(a2, "n"), "2");
    assert_null(xnode_next(a2, "a"));
    assert_non_null(xnode_child(a2, "c"));
    assert_null(xnode_child(b, "c"));
    assert_null(xnode_child(r, "c"));   /* only direct children */
    xdoc_free(doc);
}

static void test_namespace_prefixes_are_stripped_like_sipe(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<x:xccos xmlns:x=\"urn:parlano:xml:ns:xccos\">"
                           "<x:cmd x:id=\"cmd:join\" seqid=\"7\"/></x:xccos>", &doc), XDOC_OK);
    const struct xnode *root = xdoc_root(doc);
    assert_string_equal(root->name, "xccos");
    const struct xnode *cmd = xnode_child(root, "cmd");
    assert_non_null(cmd);
    assert_string_equal(xnode_attr(cmd, "id"), "cmd:join");
    assert_string_equal(xnode_attr(cmd, "seqid"), "7");
    xdoc_free(doc);
}

static void test_namespace_declarations_are_not_attributes(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<xccos ver=\"1\" xmlns=\"urn:parlano:xml:ns:xccos\" "
                           "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
                           "xmlns:id=\"shadow\" id=\"real\"/>", &doc), XDOC_OK);
    const struct xnode *root = xdoc_root(doc);
    assert_int_equal(root->n_attrs, 2);
    assert_string_equal(xnode_attr(root, "ver"), "1");
    assert_string_equal(xnode_attr(root, "id"), "real");
    assert_null(xnode_attr(root, "xmlns"));
    assert_null(xnode_attr(root, "xsd"));
    assert_null(root->attrs[4]);
    xdoc_free(doc);
}

static void test_attribute_names_match_case_insensitively(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<grpchat chanUri=\"ma-chan://d/p\" AUTHOR=\"sip:a@d\"/>", &doc),
                     XDOC_OK);
    const struct xnode *g = xdoc_root(doc);
    assert_string_equal(xnode_attr(g, "chanuri"), "ma-chan://d/p");
    assert_string_equal(xnode_attr(g, "CHANURI"), "ma-chan://d/p");
    assert_string_equal(xnode_attr(g, "author"), "sip:a@d");
    assert_null(xnode_attr(g, "ts"));
    xdoc_free(doc);
}

static void test_element_names_match_case_sensitively(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<data><chanIB uri=\"x\"/><chanib uri=\"y\"/></data>", &doc), XDOC_OK);
    const struct xnode *c = xnode_child(xdoc_root(doc), "chanib");
    assert_non_null(c);
    assert_string_equal(xnode_attr(c, "uri"), "y");
    assert_null(xnode_child(xdoc_root(doc), "CHANIB"));
    xdoc_free(doc);
}

static void test_text_is_the_direct_character_data_only(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<a>one <b>inner</b>two<c/> three</a>", &doc), XDOC_OK);
    const struct xnode *a = xdoc_root(doc);
    assert_string_equal(a->text, "one two three");
    assert_int_equal(a->text_len, strlen("one two three"));
    assert_string_equal(xnode_child(a, "b")->text, "inner");
    assert_string_equal(xnode_child(a, "c")->text, "");
    assert_int_equal(xnode_child(a, "c")->text_len, 0);
    xdoc_free(doc);
}

static void test_entities_and_character_references_are_decoded(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<chat t=\"&quot;q&quot; &amp; &#x1F600;\">"
                           "&amp;&lt;&gt;&quot;&apos; &#233;&#x1F600;&#13;&#10;</chat>", &doc),
                     XDOC_OK);
    const struct xnode *c = xdoc_root(doc);
    assert_string_equal(c->text, "&<>\"' \xC3\xA9\xF0\x9F\x98\x80\r\n");
    assert_string_equal(xnode_attr(c, "t"), "\"q\" & \xF0\x9F\x98\x80");
    xdoc_free(doc);
}

static void test_cdata_section_is_text(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<chat>a<![CDATA[<b>&amp;</b>]]>c</chat>", &doc), XDOC_OK);
    assert_string_equal(xdoc_root(doc)->text, "a<b>&amp;</b>c");
    xdoc_free(doc);
}

static void test_raw_crlf_in_text_reads_as_lf(void **state)
{
    (void)state;
    /* XML end-of-line handling; why renderers send CR as &#13; (see xccos tests). */
    struct xdoc *doc;
    assert_int_equal(parse("<chat>line1\r\nline2\rline3</chat>", &doc), XDOC_OK);
    assert_string_equal(xdoc_root(doc)->text, "line1\nline2\nline3");
    xdoc_free(doc);
}

static void test_xml_declaration_comments_and_pis_are_accepted(void **state)
{
    (void)state;
    struct xdoc *doc;
    assert_int_equal(parse("<?xml version=\"1.0\" encoding=\"utf-8\"?><!-- c --><r><?pi x?>t</r>",
                           &doc), XDOC_OK);
    assert_string_equal(xdoc_root(doc)->name, "r");
    assert_string_equal(xdoc_root(doc)->text, "t");
    xdoc_free(doc);
}

static void test_document_exactly_at_every_limit_is_accepted(void **state)
{
    (void)state;
    const struct xdoc_limits lim = {
        .max_bytes = 4096, .max_depth = 3, .max_attrs = 2, .max_text = 5, .max_nodes = 4,
    };
    const char *s = "<a x=\"12345\" y=\"1\"><b><c>12345</c></b><d/></a>";
    struct xdoc *doc;
    assert_int_equal(parse_with(s, strlen(s), &lim, &doc), XDOC_OK);
    xdoc_free(doc);
    struct xdoc_limits exact = lim;
    exact.max_bytes = strlen(s);
    assert_int_equal(parse_with(s, strlen(s), &exact, &doc), XDOC_OK);
    xdoc_free(doc);
}

static void test_free_of_null_is_harmless_and_every_error_has_a_name(void **state)
{
    (void)state;
    xdoc_free(NULL);
    assert_null(xdoc_root(NULL));
    assert_null(xnode_attr(NULL, "x"));
    assert_null(xnode_child(NULL, "x"));
    for (int e = XDOC_OK; e <= XDOC_ENOMEM; e++)
        assert_true(strlen(xdoc_strerror((enum xdoc_err)e)) > 0);
}

/* ---- entities and DTDs --------------------------------------------------------------------- */

static void test_doctype_with_internal_entity_is_refused(void **state)
{
    (void)state;
    const char *s = "<!DOCTYPE xccos [<!ENTITY who \"mallory\">]><xccos>&who;</xccos>";
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
    assert_non_null(strstr(err, "DOCTYPE is not allowed in XCCOS"));
}

static void test_plain_doctype_without_subset_is_refused(void **state)
{
    (void)state;
    const char *s = "<!DOCTYPE xccos><xccos/>";
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
}

static void test_billion_laughs_is_refused_fast(void **state)
{
    (void)state;
    const char *s =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
        "]><lolz>&lol9;</lolz>";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
    assert_true(ms_since(&t0) < FAST_REJECT_MS);
}

static void test_quadratic_blowup_entity_is_refused(void **state)
{
    (void)state;
    size_t vlen, blen;
    char *value = repeat("", "A", 30000, "", &vlen);
    char *body = repeat("", "&a;", 10000, "", &blen);
    size_t cap = vlen + blen + 128;
    char *s = malloc(cap);
    assert_non_null(s);
    int n = snprintf(s, cap, "<!DOCTYPE r [<!ENTITY a \"%s\">]><r>%s</r>", value, body);
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = (size_t)n;
    expect_reject(s, (size_t)n, &lim, XDOC_EDOCTYPE);
    free(s);
    free(body);
    free(value);
}

static void test_external_entity_to_etc_passwd_is_never_read(void **state)
{
    (void)state;
    const char *s = "<?xml version=\"1.0\"?><!DOCTYPE xccos [<!ENTITY xxe SYSTEM "
                    "\"file:///etc/passwd\">]><xccos><chat>&xxe;</chat></xccos>";
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
    assert_null(strstr(err, "root:"));
}

static void test_external_dtd_reference_is_refused(void **state)
{
    (void)state;
    const char *s = "<!DOCTYPE xccos SYSTEM \"http://attacker.example/x.dtd\"><xccos/>";
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
}

static void test_parameter_entities_are_refused(void **state)
{
    (void)state;
    const char *s = "<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;"
                    "<!ENTITY % q \"<!ENTITY e 'x'>\"> %q;]><r>&e;</r>";
    expect_reject(s, strlen(s), NULL, XDOC_EDOCTYPE);
}

static void test_undeclared_entity_without_dtd_is_malformed(void **state)
{
    (void)state;
    const char *s = "<xccos><chat>&xxe;</chat></xccos>";
    expect_reject(s, strlen(s), NULL, XDOC_EMALFORMED);
    assert_non_null(strstr(err, "undefined entity"));
}

/* ---- size limits --------------------------------------------------------------------------- */

static void test_100k_deep_nesting_is_refused_fast(void **state)
{
    (void)state;
    size_t half;
    char *open = repeat("", "<a>", 100000, "", &half);
    char *s = malloc(half + 4 * 100000);
    assert_non_null(s);
    memcpy(s, open, half);
    size_t len = half;
    for (int i = 0; i < 100000; i++) {
        memcpy(s + len, "</a>", 4);
        len += 4;
    }
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = len;   /* let it past the size check so depth is what stops it */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_reject(s, len, &lim, XDOC_EDEPTH);
    double ms = ms_since(&t0);
    print_message("# 100k-deep document (%zu bytes) rejected in %.3f ms\n", len, ms);
    assert_true(ms < FAST_REJECT_MS);
    assert_non_null(strstr(err, "deeper than 16 levels"));
    free(s);
    free(open);
}

static void test_nesting_one_past_the_depth_limit_is_refused(void **state)
{
    (void)state;
    struct xdoc_limits lim = xdoc_default_limits;
    size_t len;
    char *ok = repeat("", "<a>", 16, "", &len);
    char *bad = repeat("", "<a>", 17, "", &len);
    struct xdoc *doc;
    /* 16 levels open and never closed: the depth is fine, the document is not well-formed. */
    assert_int_equal(parse_with(ok, strlen(ok), &lim, &doc), XDOC_EMALFORMED);
    expect_reject(bad, strlen(bad), &lim, XDOC_EDEPTH);
    free(ok);
    free(bad);
}

static void test_default_limits_refuse_deep_nesting_within_64k(void **state)
{
    (void)state;
    size_t len;
    char *s = repeat("", "<x:a>", 13000, "", &len);
    assert_true(len <= xdoc_default_limits.max_bytes);
    expect_reject(s, len, NULL, XDOC_EDEPTH);
    free(s);
}

static void test_1mb_text_node_is_refused(void **state)
{
    (void)state;
    size_t len;
    char *s = repeat("<xccos><chat>", "x", 1024 * 1024, "</chat></xccos>", &len);
    expect_reject(s, len, NULL, XDOC_ETOOBIG);   /* the cap stops it before parsing */
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = len;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_reject(s, len, &lim, XDOC_ETEXT);     /* and the text limit inside the parser */
    assert_true(ms_since(&t0) < FAST_REJECT_MS);
    assert_non_null(strstr(err, "<chat>"));
    free(s);
}

static void test_text_limit_counts_decoded_text_across_children(void **state)
{
    (void)state;
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_text = 6;
    struct xdoc *doc;
    const char *ok = "<a>&amp;&amp;&amp;<b/>&lt;&lt;&lt;</a>";   /* 6 decoded bytes */
    assert_int_equal(parse_with(ok, strlen(ok), &lim, &doc), XDOC_OK);
    assert_string_equal(xdoc_root(doc)->text, "&&&<<<");
    xdoc_free(doc);
    const char *bad = "<a>abc<b/>defg</a>";
    expect_reject(bad, strlen(bad), &lim, XDOC_ETEXT);
}

static void test_overlong_attribute_value_is_refused(void **state)
{
    (void)state;
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_text = 8;
    const char *s = "<a uri=\"ma-chan://example.com/x\"/>";
    expect_reject(s, strlen(s), &lim, XDOC_ETEXT);
    assert_non_null(strstr(err, "uri"));
}

static void test_10k_attributes_are_refused(void **state)
{
    (void)state;
    size_t cap = 10000 * 16 + 64, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)snprintf(s, cap, "<xccos");
    for (int i = 0; i < 10000; i++)
        len += (size_t)snprintf(s + len, cap - len, " a%d=\"v\"", i);
    len += (size_t)snprintf(s + len, cap - len, "/>");
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = len;
    expect_reject(s, len, &lim, XDOC_EATTRS);
    assert_non_null(strstr(err, "10000 attributes; the limit is 32"));
    free(s);
}

static void test_attribute_count_one_past_the_limit_is_refused(void **state)
{
    (void)state;
    char s[1024];
    size_t len = (size_t)snprintf(s, sizeof s, "<a");
    for (int i = 0; i < 33; i++)
        len += (size_t)snprintf(s + len, sizeof s - len, " k%d=\"\"", i);
    snprintf(s + len, sizeof s - len, "/>");
    expect_reject(s, strlen(s), NULL, XDOC_EATTRS);
}

static void test_too_many_elements_are_refused(void **state)
{
    (void)state;
    size_t len;
    char *ok = repeat("<r>", "<a/>", 4095, "</r>", &len);
    struct xdoc *doc;
    assert_int_equal(parse_with(ok, len, NULL, &doc), XDOC_OK);
    xdoc_free(doc);
    char *bad = repeat("<r>", "<a/>", 4096, "</r>", &len);
    expect_reject(bad, len, NULL, XDOC_ENODES);
    free(ok);
    free(bad);
}

static void test_body_larger_than_the_cap_is_refused_before_parsing(void **state)
{
    (void)state;
    size_t len;
    char *s = repeat("<xccos>", " ", 70000 - 15, "</xccos>", &len);
    assert_int_equal(len, 70000);
    expect_reject(s, len, NULL, XDOC_ETOOBIG);
    assert_string_equal(err, "document has 70000 bytes; the limit is 65536");
    /* Garbage of the same size gets the same answer: nothing was parsed. */
    memset(s, '\x01', len);
    expect_reject(s, len, NULL, XDOC_ETOOBIG);
    free(s);
}

/* ---- malformed input ----------------------------------------------------------------------- */

static void test_empty_and_blank_bodies_are_malformed(void **state)
{
    (void)state;
    expect_reject("", 0, NULL, XDOC_EMALFORMED);
    assert_string_equal(err, "document is empty");
    expect_reject(NULL, 0, NULL, XDOC_EMALFORMED);
    expect_reject(" \r\n", 3, NULL, XDOC_EMALFORMED);
}

static void test_truncated_document_is_malformed_with_position(void **state)
{
    (void)state;
    const char *s = "<xccos ver=\"1\"><cmd id=\"cmd:join\" seqid=\"1\"><data>";
    expect_reject(s, strlen(s), NULL, XDOC_EMALFORMED);
    assert_true(strncmp(err, "line 1, column ", 15) == 0);
    const char *mid_tag = "<xccos ver=\"1\"><cmd id=\"cmd:j";
    expect_reject(mid_tag, strlen(mid_tag), NULL, XDOC_EMALFORMED);
}

static void test_error_sentence_names_line_and_column(void **state)
{
    (void)state;
    const char *s = "<xccos>\n  <cmd id=\"a\" <data/></cmd></xccos>";
    expect_reject(s, strlen(s), NULL, XDOC_EMALFORMED);
    /* columns count from 1: the stray '<' is the 15th character of line 2 */
    assert_string_equal(err, "line 2, column 15: not well-formed (invalid token)");
}

static void test_overlong_utf8_is_malformed(void **state)
{
    (void)state;
    const char *slash = "<chat>\xC0\xAF</chat>";          /* overlong '/' */
    expect_reject(slash, strlen(slash), NULL, XDOC_EMALFORMED);
    const char *three = "<chat>\xE0\x80\xAF</chat>";      /* 3-byte overlong */
    expect_reject(three, strlen(three), NULL, XDOC_EMALFORMED);
    const char *in_attr = "<a v=\"\xC0\x80\"/>";           /* overlong NUL in an attribute */
    expect_reject(in_attr, strlen(in_attr), NULL, XDOC_EMALFORMED);
}

static void test_lone_continuation_byte_is_malformed(void **state)
{
    (void)state;
    const char *s = "<chat>ok \x80 not ok</chat>";
    expect_reject(s, strlen(s), NULL, XDOC_EMALFORMED);
}

static void test_truncated_utf8_sequence_is_malformed(void **state)
{
    (void)state;
    const char *inner = "<chat>\xE2\x82</chat>";          /* euro sign missing its last byte */
    expect_reject(inner, strlen(inner), NULL, XDOC_EMALFORMED);
    const char *at_end = "<chat>\xF0\x9F\x98";             /* body cut inside an emoji */
    expect_reject(at_end, strlen(at_end), NULL, XDOC_EMALFORMED);
}

static void test_surrogates_and_out_of_range_code_points_are_malformed(void **state)
{
    (void)state;
    const char *surrogate = "<chat>\xED\xA0\x80</chat>";
    expect_reject(surrogate, strlen(surrogate), NULL, XDOC_EMALFORMED);
    const char *too_high = "<chat>\xF4\x90\x80\x80</chat>";
    expect_reject(too_high, strlen(too_high), NULL, XDOC_EMALFORMED);
    const char *ref = "<chat>&#xD800;</chat>";
    expect_reject(ref, strlen(ref), NULL, XDOC_EMALFORMED);
}

static void test_declared_latin1_cannot_switch_off_utf8_checking(void **state)
{
    (void)state;
    const char *s = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><chat>caf\xE9</chat>";
    expect_reject(s, strlen(s), NULL, XDOC_EMALFORMED);
}

static void test_nul_byte_and_control_characters_are_malformed(void **state)
{
    (void)state;
    const char nul[] = "<chat>a\0b</chat>";
    expect_reject(nul, sizeof nul - 1, NULL, XDOC_EMALFORMED);
    const char *ctl = "<chat>a\x01</chat>";
    expect_reject(ctl, strlen(ctl), NULL, XDOC_EMALFORMED);
}

static void test_two_roots_and_stray_text_are_malformed(void **state)
{
    (void)state;
    const char *two = "<a/><b/>";
    expect_reject(two, strlen(two), NULL, XDOC_EMALFORMED);
    const char *text = "hello";
    expect_reject(text, strlen(text), NULL, XDOC_EMALFORMED);
    const char *mismatch = "<a></b>";
    expect_reject(mismatch, strlen(mismatch), NULL, XDOC_EMALFORMED);
}

static void test_valid_multibyte_utf8_survives_unchanged(void **state)
{
    (void)state;
    struct xdoc *doc;
    const char *s = "<chat n=\"\xE2\x82\xAC\">gr\xC3\xBC\xC3\x9F \xF0\x9F\x8E\x89 "
                    "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D</chat>";
    assert_int_equal(parse(s, &doc), XDOC_OK);
    assert_string_equal(xdoc_root(doc)->text,
                        "gr\xC3\xBC\xC3\x9F \xF0\x9F\x8E\x89 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D");
    assert_string_equal(xnode_attr(xdoc_root(doc), "n"), "\xE2\x82\xAC");
    xdoc_free(doc);
}

static void test_large_valid_document_builds_a_complete_tree(void **state)
{
    (void)state;
    /* Many nodes and a long text force several arena blocks; everything must stay readable. */
    size_t len;
    char *s = repeat("<r>", "<m id=\"grpchat\"><chat>0123456789</chat></m>", 1300, "</r>", &len);
    assert_true(len < xdoc_default_limits.max_bytes);
    struct xdoc *doc;
    assert_int_equal(parse_with(s, len, NULL, &doc), XDOC_OK);
    int count = 0;
    for (const struct xnode *m = xnode_child(xdoc_root(doc), "m"); m; m = xnode_next(m, "m")) {
        assert_string_equal(xnode_attr(m, "id"), "grpchat");
        assert_string_equal(xnode_child(m, "chat")->text, "0123456789");
        count++;
    }
    assert_int_equal(count, 1300);
    xdoc_free(doc);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_has_root_children_and_siblings_in_document_order),
        cmocka_unit_test(test_namespace_prefixes_are_stripped_like_sipe),
        cmocka_unit_test(test_namespace_declarations_are_not_attributes),
        cmocka_unit_test(test_attribute_names_match_case_insensitively),
        cmocka_unit_test(test_element_names_match_case_sensitively),
        cmocka_unit_test(test_text_is_the_direct_character_data_only),
        cmocka_unit_test(test_entities_and_character_references_are_decoded),
        cmocka_unit_test(test_cdata_section_is_text),
        cmocka_unit_test(test_raw_crlf_in_text_reads_as_lf),
        cmocka_unit_test(test_xml_declaration_comments_and_pis_are_accepted),
        cmocka_unit_test(test_document_exactly_at_every_limit_is_accepted),
        cmocka_unit_test(test_free_of_null_is_harmless_and_every_error_has_a_name),
        cmocka_unit_test(test_doctype_with_internal_entity_is_refused),
        cmocka_unit_test(test_plain_doctype_without_subset_is_refused),
        cmocka_unit_test(test_billion_laughs_is_refused_fast),
        cmocka_unit_test(test_quadratic_blowup_entity_is_refused),
        cmocka_unit_test(test_external_entity_to_etc_passwd_is_never_read),
        cmocka_unit_test(test_external_dtd_reference_is_refused),
        cmocka_unit_test(test_parameter_entities_are_refused),
        cmocka_unit_test(test_undeclared_entity_without_dtd_is_malformed),
        cmocka_unit_test(test_100k_deep_nesting_is_refused_fast),
        cmocka_unit_test(test_nesting_one_past_the_depth_limit_is_refused),
        cmocka_unit_test(test_default_limits_refuse_deep_nesting_within_64k),
        cmocka_unit_test(test_1mb_text_node_is_refused),
        cmocka_unit_test(test_text_limit_counts_decoded_text_across_children),
        cmocka_unit_test(test_overlong_attribute_value_is_refused),
        cmocka_unit_test(test_10k_attributes_are_refused),
        cmocka_unit_test(test_attribute_count_one_past_the_limit_is_refused),
        cmocka_unit_test(test_too_many_elements_are_refused),
        cmocka_unit_test(test_body_larger_than_the_cap_is_refused_before_parsing),
        cmocka_unit_test(test_empty_and_blank_bodies_are_malformed),
        cmocka_unit_test(test_truncated_document_is_malformed_with_position),
        cmocka_unit_test(test_error_sentence_names_line_and_column),
        cmocka_unit_test(test_overlong_utf8_is_malformed),
        cmocka_unit_test(test_lone_continuation_byte_is_malformed),
        cmocka_unit_test(test_truncated_utf8_sequence_is_malformed),
        cmocka_unit_test(test_surrogates_and_out_of_range_code_points_are_malformed),
        cmocka_unit_test(test_declared_latin1_cannot_switch_off_utf8_checking),
        cmocka_unit_test(test_nul_byte_and_control_characters_are_malformed),
        cmocka_unit_test(test_two_roots_and_stray_text_are_malformed),
        cmocka_unit_test(test_valid_multibyte_utf8_survives_unchanged),
        cmocka_unit_test(test_large_valid_document_builds_a_complete_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
