/* sbuf.h — a growable byte buffer with a hard cap; appends past the cap set `overflow`
 * instead of growing, so a caller checks once at the end. */
#ifndef PCHAT_SBUF_H
#define PCHAT_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
    char *data;      /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;      /* hard cap on len */
    bool overflow;   /* an append was refused (cap reached or out of memory) */
};

void sbuf_init(struct sbuf *b, size_t max);
void sbuf_reset(struct sbuf *b);          /* len = 0, overflow = false, keeps memory */
void sbuf_free(struct sbuf *b);
void sbuf_append(struct sbuf *b, const void *data, size_t len);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_putc(struct sbuf *b, char c);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with the five XML special characters escaped (&amp; &lt; &gt; &quot; &apos;). */
void sbuf_xml_escaped(struct sbuf *b, const char *s);
void sbuf_xml_escaped_n(struct sbuf *b, const char *s, size_t n);
/* Hand the bytes to the caller (who frees them) and re-initialise b. */
char *sbuf_steal(struct sbuf *b, size_t *len);

#endif
