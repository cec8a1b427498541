/* jv.c — the JSON value tree and its writer. The writer never emits a raw control character
 * or an invalid UTF-8 byte: the first are \u escapes, the second become U+FFFD. */
#include "jv.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static struct jv *jv_new(enum jv_type type)
{
    struct jv *v = xcalloc(1, sizeof *v);
    v->type = type;
    return v;
}

struct jv *jv_obj(void) { return jv_new(JV_OBJ); }
struct jv *jv_arr(void) { return jv_new(JV_ARR); }
struct jv *jv_null(void) { return jv_new(JV_NULL); }

struct jv *jv_str(const char *s)
{
    if (!s)
        return jv_null();
    struct jv *v = jv_new(JV_STR);
    v->s = xstrdup(s);
    return v;
}

struct jv *jv_int(int64_t i)
{
    struct jv *v = jv_new(JV_INT);
    v->i = i;
    return v;
}

struct jv *jv_num(double d)
{
    struct jv *v = jv_new(JV_NUM);
    v->d = d;
    return v;
}

struct jv *jv_bool(bool b)
{
    struct jv *v = jv_new(JV_BOOL);
    v->b = b;
    return v;
}

void jv_free(struct jv *v)
{
    while (v) {
        struct jv *next = v->next;
        jv_free(v->first);
        free(v->key);
        free(v->s);
        free(v);
        v = next;
    }
}

struct jv *jv_push(struct jv *arr, struct jv *child)
{
    child->next = NULL;
    if (arr->last)
        arr->last->next = child;
    else
        arr->first = child;
    arr->last = child;
    arr->n++;
    return child;
}

struct jv *jv_set(struct jv *obj, const char *key, struct jv *child)
{
    free(child->key);
    child->key = xstrdup(key);
    return jv_push(obj, child);
}

struct jv *jv_set_str(struct jv *obj, const char *key, const char *s) { return jv_set(obj, key, jv_str(s)); }
struct jv *jv_set_int(struct jv *obj, const char *key, int64_t i) { return jv_set(obj, key, jv_int(i)); }
struct jv *jv_set_bool(struct jv *obj, const char *key, bool b) { return jv_set(obj, key, jv_bool(b)); }

struct jv *jv_get(const struct jv *obj, const char *key)
{
    if (!obj || obj->type != JV_OBJ)
        return NULL;
    for (struct jv *m = obj->first; m; m = m->next)
        if (strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void json_string(struct sbuf *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    sbuf_putc(out, '"');
    while (*s) {
        unsigned char ch = *s;
        switch (ch) {
        case '"': sbuf_puts(out, "\\\""); s++; continue;
        case '\\': sbuf_puts(out, "\\\\"); s++; continue;
        case '\n': sbuf_puts(out, "\\n"); s++; continue;
        case '\r': sbuf_puts(out, "\\r"); s++; continue;
        case '\t': sbuf_puts(out, "\\t"); s++; continue;
        case '\b': sbuf_puts(out, "\\b"); s++; continue;
        case '\f': sbuf_puts(out, "\\f"); s++; continue;
        default: break;
        }
        if (ch < 0x20 || ch == 0x7F) {
            sbuf_printf(out, "\\u%04x", ch);
            s++;
            continue;
        }
        size_t n = utf8_seq_len(s);
        if (n == 0) {
            sbuf_puts(out, "\\ufffd");
            s++;
            continue;
        }
        sbuf_append(out, s, n);
        s += n;
    }
    sbuf_putc(out, '"');
}

void jv_write(const struct jv *v, struct sbuf *out)
{
    switch (v->type) {
    case JV_NULL: sbuf_puts(out, "null"); break;
    case JV_BOOL: sbuf_puts(out, v->b ? "true" : "false"); break;
    case JV_INT: sbuf_printf(out, "%" PRId64, v->i); break;
    case JV_NUM:
        if (isfinite(v->d))
            sbuf_printf(out, "%.15g", v->d);
        else
            sbuf_puts(out, "null");   /* JSON has no NaN or infinity */
        break;
    case JV_STR: json_string(out, v->s); break;
    case JV_ARR:
    case JV_OBJ:
        sbuf_putc(out, v->type == JV_ARR ? '[' : '{');
        for (const struct jv *m = v->first; m; m = m->next) {
            if (m != v->first)
                sbuf_putc(out, ',');
            if (v->type == JV_OBJ) {
                json_string(out, m->key);
                sbuf_putc(out, ':');
            }
            jv_write(m, out);
        }
        sbuf_putc(out, v->type == JV_ARR ? ']' : '}');
        break;
    }
}

void jv_print(const struct jv *v, FILE *out)
{
    struct sbuf b;
    sbuf_init(&b, (size_t)1 << 30);
    jv_write(v, &b);
    if (b.data)
        fwrite(b.data, 1, b.len, out);
    fputc('\n', out);
    sbuf_free(&b);
}
