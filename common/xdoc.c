/* xdoc.c — hardened expat parse of an untrusted XML body into a read-only tree that lives in
 * one arena per document, so xdoc_free is a single walk over a few big blocks. */
#include "xdoc.h"
#include "util.h"

#include <expat.h>
#include <limits.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct xdoc_limits xdoc_default_limits = {
    .max_bytes = 64 * 1024,
    .max_depth = 16,
    .max_attrs = 32,
    .max_text = 64 * 1024,
    .max_nodes = 4096,
};

/* Entity expansion cannot happen (any DOCTYPE stops the parse before its internal subset is
 * read); these expat limits are a second wall in case that ever changes. */
#define XDOC_AMPLIFICATION_MAX 2.0f
#define XDOC_AMPLIFICATION_THRESHOLD (16u * 1024u)

/* ---- arena --------------------------------------------------------------------------------- */

#define ARENA_ALIGN alignof(max_align_t)
#define ARENA_FIRST_BLOCK 4096u
#define ARENA_MAX_BLOCK (256u * 1024u)

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    alignas(max_align_t) char data[];
};

struct xdoc {
    struct arena_block *blocks;   /* newest first */
    size_t next_block_size;
    struct xnode *root;
};

static void *arena_alloc(struct xdoc *doc, size_t size)
{
    size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    struct arena_block *b = doc->blocks;
    if (!b || b->size - b->used < size) {
        size_t want = doc->next_block_size;
        if (want < size)
            want = size;
        b = malloc(sizeof *b + want);
        if (!b)
            return NULL;
        b->next = doc->blocks;
        b->used = 0;
        b->size = want;
        doc->blocks = b;
        /* Grow geometrically so a big document costs a handful of blocks, not hundreds. */
        if (doc->next_block_size < ARENA_MAX_BLOCK)
            doc->next_block_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

static char *arena_strndup(struct xdoc *doc, const char *s, size_t n)
{
    char *p = arena_alloc(doc, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void xdoc_free(struct xdoc *doc)
{
    if (!doc)
        return;
    struct arena_block *b = doc->blocks;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc);
}

/* ---- parse state ------------------------------------------------------------------------- */

/* One open element. Its direct text is gathered here because character data can be split
 * by child elements (<a>x<b/>y</a> has text "xy") and arrives in several callbacks. */
struct frame {
    struct xnode *node;
    struct xnode *last_child;
    char *text;
    size_t text_len;
    size_t text_cap;
};

struct parse_state {
    XML_Parser parser;
    struct xdoc *doc;
    const struct xdoc_limits *lim;
    struct frame *frames;   /* frames[0] is a sentinel above the root; max_depth + 1 entries */
    int depth;
    int nodes;
    enum xdoc_err err;
    char *errbuf;
    size_t errlen;
};

/* Record the first error with the parser's current position and stop expat for good. */
static void fail(struct parse_state *st, enum xdoc_err err, const char *what)
{
    if (st->err != XDOC_OK)
        return;
    st->err = err;
    set_error(st->errbuf, st->errlen, "line %lu, column %lu: %s",
            (unsigned long)XML_GetCurrentLineNumber(st->parser),
            (unsigned long)XML_GetCurrentColumnNumber(st->parser) + 1, what);
    XML_StopParser(st->parser, XML_FALSE);
}

static void failf(struct parse_state *st, enum xdoc_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void failf(struct parse_state *st, enum xdoc_err err, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fail(st, err, what);
}

/* SIPE ignores namespaces and strips "prefix:" (PROTOCOL §3.1); so do we. */
static const char *local_name(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? colon + 1 : name;
}

/* Namespace declarations are not data; keeping them would let "xmlns:id" shadow "id". */
static bool is_namespace_decl(const char *name)
{
    return strncmp(name, "xmlns", 5) == 0 && (name[5] == '\0' || name[5] == ':');
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse_state *st = ud;
    if (st->err != XDOC_OK)
        return;
    const struct xdoc_limits *lim = st->lim;

    if (st->depth >= lim->max_depth) {
        failf(st, XDOC_EDEPTH, "elements are nested deeper than %d levels", lim->max_depth);
        return;
    }
    if (st->nodes >= lim->max_nodes) {
        failf(st, XDOC_ENODES, "the document has more than %d elements", lim->max_nodes);
        return;
    }
    int n_raw = 0;
    while (atts[2 * n_raw])
        n_raw++;
    if (n_raw > lim->max_attrs) {
        failf(st, XDOC_EATTRS, "element <%.40s> has %d attributes; the limit is %d",
              local_name(name), n_raw, lim->max_attrs);
        return;
    }

    struct xdoc *doc = st->doc;
    const char *lname = local_name(name);
    struct xnode *node = arena_alloc(doc, sizeof *node);
    const char **attrs = arena_alloc(doc, sizeof *attrs * (2 * (size_t)n_raw + 1));
    const char *stored_name = arena_strndup(doc, lname, strlen(lname));
    if (!node || !attrs || !stored_name) {
        fail(st, XDOC_ENOMEM, "out of memory");
        return;
    }

    int n_attrs = 0;
    for (int i = 0; i < n_raw; i++) {
        const char *aname = atts[2 * i];
        const char *avalue = atts[2 * i + 1];
        size_t vlen = strlen(avalue);
        if (vlen > lim->max_text) {
            failf(st, XDOC_ETEXT, "attribute %.40s of <%.40s> has %zu bytes; the limit is %zu",
                  aname, lname, vlen, lim->max_text);
            return;
        }
        if (is_namespace_decl(aname))
            continue;
        const char *alocal = local_name(aname);
        const char *k = arena_strndup(doc, alocal, strlen(alocal));
        const char *v = arena_strndup(doc, avalue, vlen);
        if (!k || !v) {
            fail(st, XDOC_ENOMEM, "out of memory");
            return;
        }
        attrs[2 * n_attrs] = k;
        attrs[2 * n_attrs + 1] = v;
        n_attrs++;
    }
    attrs[2 * n_attrs] = NULL;

    node->name = stored_name;
    node->attrs = attrs;
    node->n_attrs = n_attrs;
    node->text = "";
    node->text_len = 0;
    node->children = NULL;
    node->next = NULL;

    struct frame *parent = &st->frames[st->depth];
    node->parent = parent->node;
    if (!parent->node)
        doc->root = node;
    else if (parent->last_child)
        parent->last_child->next = node;
    else
        parent->node->children = node;
    parent->last_child = node;

    st->depth++;
    st->nodes++;
    struct frame *f = &st->frames[st->depth];
    f->node = node;
    f->last_child = NULL;
    f->text_len = 0;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    struct parse_state *st = ud;
    if (st->err != XDOC_OK || st->depth == 0)
        return;
    struct frame *f = &st->frames[st->depth];
    if (f->text_len > 0) {
        char *t = arena_strndup(st->doc, f->text, f->text_len);
        if (!t) {
            fail(st, XDOC_ENOMEM, "out of memory");
            return;
        }
        f->node->text = t;
        f->node->text_len = f->text_len;
    }
    st->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct parse_state *st = ud;
    if (st->err != XDOC_OK || st->depth == 0 || len <= 0)
        return;
    struct frame *f = &st->frames[st->depth];
    size_t n = (size_t)len;
    if (n > st->lim->max_text || f->text_len > st->lim->max_text - n) {
        failf(st, XDOC_ETEXT, "the text of <%.40s> is longer than %zu bytes",
              f->node->name, st->lim->max_text);
        return;
    }
    if (f->text_len + n > f->text_cap) {
        size_t cap = f->text_cap ? f->text_cap : 256;
        while (cap < f->text_len + n)
            cap *= 2;
        char *p = realloc(f->text, cap);
        if (!p) {
            fail(st, XDOC_ENOMEM, "out of memory");
            return;
        }
        f->text = p;
        f->text_cap = cap;
    }
    memcpy(f->text + f->text_len, s, n);
    f->text_len += n;
}

/* Stopping here, before the internal subset is read, means no entity is ever declared:
 * no billion laughs, no quadratic blow-up, no external entity, no parameter entity. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, XDOC_EDOCTYPE, "DOCTYPE is not allowed in XCCOS");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
    (void)pubid, (void)notation;
    fail(ud, XDOC_EDOCTYPE, "entity declarations are not allowed in XCCOS");
}

static int XMLCALL on_external_entity(XML_Parser p, const XML_Char *context,
                                      const XML_Char *base, const XML_Char *sysid,
                                      const XML_Char *pubid)
{
    (void)p, (void)context, (void)base, (void)sysid, (void)pubid;
    return XML_STATUS_ERROR;   /* never open anything */
}

static XML_Parser create_parser(struct parse_state *st)
{
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (!p)
        return NULL;
    XML_SetUserData(p, st);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetExternalEntityRefHandler(p, on_external_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, XDOC_AMPLIFICATION_MAX);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(p, XDOC_AMPLIFICATION_THRESHOLD);
    return p;
}

static enum xdoc_err expat_failure(struct parse_state *st)
{
    enum XML_Error code = XML_GetErrorCode(st->parser);
    enum xdoc_err err = code == XML_ERROR_NO_MEMORY ? XDOC_ENOMEM : XDOC_EMALFORMED;
    const XML_LChar *msg = XML_ErrorString(code);
    set_error(st->errbuf, st->errlen, "line %lu, column %lu: %s",
            (unsigned long)XML_GetErrorLineNumber(st->parser),
            (unsigned long)XML_GetErrorColumnNumber(st->parser) + 1,
            msg ? msg : "not well-formed");
    return err;
}

enum xdoc_err xdoc_parse(const char *buf, size_t len, const struct xdoc_limits *lim,
                         struct xdoc **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!lim)
        lim = &xdoc_default_limits;

    if (len > lim->max_bytes || len > INT_MAX) {
        set_error(err, errlen, "document has %zu bytes; the limit is %zu", len,
                lim->max_bytes < INT_MAX ? lim->max_bytes : (size_t)INT_MAX);
        return XDOC_ETOOBIG;
    }
    if (len == 0 || !buf) {
        set_error(err, errlen, "document is empty");
        return XDOC_EMALFORMED;
    }
    if (lim->max_depth < 1 || lim->max_nodes < 1 || lim->max_attrs < 0) {
        set_error(err, errlen, "xdoc limits are invalid (depth %d, nodes %d, attributes %d)",
                lim->max_depth, lim->max_nodes, lim->max_attrs);
        return XDOC_EMALFORMED;
    }

    struct parse_state st = {
        .lim = lim,
        .errbuf = err,
        .errlen = errlen,
    };
    st.doc = calloc(1, sizeof *st.doc);
    st.frames = calloc((size_t)lim->max_depth + 1, sizeof *st.frames);
    if (st.doc)
        st.doc->next_block_size = ARENA_FIRST_BLOCK;
    st.parser = st.doc && st.frames ? create_parser(&st) : NULL;
    if (!st.parser) {
        free(st.frames);
        xdoc_free(st.doc);
        set_error(err, errlen, "out of memory");
        return XDOC_ENOMEM;
    }

    enum XML_Status status = XML_Parse(st.parser, buf, (int)len, XML_TRUE);
    enum xdoc_err result = st.err;
    if (result == XDOC_OK && status != XML_STATUS_OK)
        result = expat_failure(&st);
    if (result == XDOC_OK && !st.doc->root) {
        set_error(err, errlen, "document has no element");
        result = XDOC_EMALFORMED;
    }

    XML_ParserFree(st.parser);
    for (int i = 0; i <= lim->max_depth; i++)
        free(st.frames[i].text);
    free(st.frames);

    if (result != XDOC_OK) {
        xdoc_free(st.doc);
        return result;
    }
    *out = st.doc;
    return XDOC_OK;
}

/* ---- queries ------------------------------------------------------------------------------ */

const struct xnode *xdoc_root(const struct xdoc *doc)
{
    return doc ? doc->root : NULL;
}

const char *xnode_attr(const struct xnode *n, const char *name)
{
    if (!n || !name)
        return NULL;
    for (int i = 0; i < n->n_attrs; i++)
        if (strcasecmp(n->attrs[2 * i], name) == 0)
            return n->attrs[2 * i + 1];
    return NULL;
}

const struct xnode *xnode_next(const struct xnode *n, const char *name)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

const struct xnode *xnode_child(const struct xnode *n, const char *name)
{
    if (!n || !n->children)
        return NULL;
    const struct xnode *c = n->children;
    return strcmp(c->name, name) == 0 ? c : xnode_next(c, name);
}

const char *xdoc_strerror(enum xdoc_err e)
{
    switch (e) {
    case XDOC_OK: return "no error";
    case XDOC_ETOOBIG: return "document too large";
    case XDOC_EMALFORMED: return "document is not well-formed XML";
    case XDOC_EDOCTYPE: return "DOCTYPE not allowed";
    case XDOC_EDEPTH: return "elements nested too deeply";
    case XDOC_EATTRS: return "too many attributes on one element";
    case XDOC_ETEXT: return "text or attribute value too long";
    case XDOC_ENODES: return "too many elements";
    case XDOC_ENOMEM: return "out of memory";
    }
    return "unknown xdoc error";
}
