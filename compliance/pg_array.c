/* pg_array.c — array literal encoding: every element double-quoted with '"' and '\' escaped,
 * which is valid whatever the element holds (commas, braces, spaces, "NULL"). */
#include "pg_array.h"

#include <string.h>

void pg_array_init(struct pg_array *a, size_t max_bytes)
{
    sbuf_init(&a->buf, max_bytes);
    a->count = 0;
}

void pg_array_reset(struct pg_array *a)
{
    sbuf_reset(&a->buf);
    a->count = 0;
}

void pg_array_free(struct pg_array *a)
{
    sbuf_free(&a->buf);
    a->count = 0;
}

void pg_array_add(struct pg_array *a, const char *value)
{
    sbuf_putc(&a->buf, a->count++ ? ',' : '{');
    if (!value) {
        sbuf_puts(&a->buf, "NULL");
        return;
    }
    sbuf_putc(&a->buf, '"');
    const char *run = value;
    for (const char *p = value;; p++) {
        if (*p == '"' || *p == '\\' || *p == '\0') {
            sbuf_append(&a->buf, run, (size_t)(p - run));
            if (*p == '\0')
                break;
            sbuf_putc(&a->buf, '\\');
            sbuf_putc(&a->buf, *p);
            run = p + 1;
        }
    }
    sbuf_putc(&a->buf, '"');
}

const char *pg_array_text(struct pg_array *a)
{
    if (a->count == 0) {
        sbuf_reset(&a->buf);
        sbuf_puts(&a->buf, "{}");
        a->count = 0;
    } else {
        sbuf_putc(&a->buf, '}');
    }
    return a->buf.overflow ? NULL : a->buf.data;
}
