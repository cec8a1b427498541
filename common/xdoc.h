/* xdoc.h — hardened XML parsing (expat) into a small read-only tree.
 *
 * Built for untrusted XCCOS bodies: the size is checked before the parser starts, any DOCTYPE
 * stops the parse (so no entity can be declared: no billion laughs, no external entities),
 * and depth, attribute count, text length and node count are capped inside the callbacks.
 * Invalid UTF-8 is a parse error. Names are stored without their namespace prefix, the way
 * the SIPE client reads them (xccos/PROTOCOL.md §3.1). */
#ifndef PCHAT_XDOC_H
#define PCHAT_XDOC_H

#include <stddef.h>

struct xdoc_limits {
    size_t max_bytes;   /* whole document (checked before parsing) */
    int max_depth;      /* element nesting, root = 1 */
    int max_attrs;      /* attributes on one element */
    size_t max_text;    /* text of one element (after entity decoding) and of one attribute */
    int max_nodes;      /* elements in the document */
};

/* 64 KiB, depth 16, 32 attributes, 64 KiB text, 4096 elements. */
extern const struct xdoc_limits xdoc_default_limits;

enum xdoc_err {
    XDOC_OK = 0,
    XDOC_ETOOBIG,      /* document larger than max_bytes */
    XDOC_EMALFORMED,   /* not well-formed XML, invalid UTF-8, or empty */
    XDOC_EDOCTYPE,     /* a DOCTYPE (DTD) was present */
    XDOC_EDEPTH,
    XDOC_EATTRS,
    XDOC_ETEXT,
    XDOC_ENODES,
    XDOC_ENOMEM,
};

struct xnode {
    const char *name;          /* local name, prefix stripped */
    const char **attrs;        /* name0, value0, name1, value1, ..., NULL (prefixes stripped) */
    int n_attrs;
    const char *text;          /* concatenation of the direct text children, NUL-terminated */
    size_t text_len;
    struct xnode *parent;
    struct xnode *children;    /* first child element */
    struct xnode *next;        /* next sibling element */
};

struct xdoc;                   /* owns every node and string (one arena) */

/* Parse. Returns XDOC_OK and *out, or an error code with a sentence in err
 * ("line 1, column 12: not well-formed (invalid token)"). */
enum xdoc_err xdoc_parse(const char *buf, size_t len, const struct xdoc_limits *lim,
                         struct xdoc **out, char *err, size_t errlen);
void xdoc_free(struct xdoc *doc);
const struct xnode *xdoc_root(const struct xdoc *doc);

/* Attribute value by name, compared case-insensitively (as SIPE does); NULL if absent. */
const char *xnode_attr(const struct xnode *n, const char *name);
/* First child element with this exact (case-sensitive) name, or NULL. */
const struct xnode *xnode_child(const struct xnode *n, const char *name);
/* Next sibling element after n with this exact name, or NULL. */
const struct xnode *xnode_next(const struct xnode *n, const char *name);

const char *xdoc_strerror(enum xdoc_err e);

#endif
