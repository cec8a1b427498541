/* jsonw.c — streaming JSON output (RFC 8259 strings: control characters, quote and backslash
 * escaped; everything else passed as UTF-8). */
#include "jsonw.h"

#include <math.h>

void jw_init(struct jw *w, FILE *f)
{
    w->f = f;
    w->depth = 0;
    w->has_items[0] = false;
    w->compact[0] = false;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* Comma, newline and indentation before a value, then its key. */
static void lead(struct jw *w, const char *key)
{
    if (w->depth > 0) {
        if (w->has_items[w->depth])
            fputc(',', w->f);
        if (w->compact[w->depth]) {
            if (w->has_items[w->depth])
                fputc(' ', w->f);
        } else {
            fputc('\n', w->f);
            for (int i = 0; i < w->depth; i++)
                fputs("  ", w->f);
        }
        w->has_items[w->depth] = true;
    }
    if (key) {
        put_string(w->f, key);
        fputs(": ", w->f);
    }
}

static void open_container(struct jw *w, const char *key, char c, bool compact)
{
    lead(w, key);
    fputc(c, w->f);
    if (w->depth + 1 < JW_MAX_DEPTH) {
        w->depth++;
        w->has_items[w->depth] = false;
        w->compact[w->depth] = compact || w->compact[w->depth - 1];
        w->closer[w->depth] = c == '{' ? '}' : ']';
    }
}

void jw_obj(struct jw *w, const char *key) { open_container(w, key, '{', false); }
void jw_obj_compact(struct jw *w, const char *key) { open_container(w, key, '{', true); }
void jw_arr(struct jw *w, const char *key) { open_container(w, key, '[', false); }

void jw_end(struct jw *w)
{
    if (w->depth == 0)
        return;
    bool had = w->has_items[w->depth];
    bool compact = w->compact[w->depth];
    w->depth--;
    if (had && !compact) {
        fputc('\n', w->f);
        for (int i = 0; i < w->depth; i++)
            fputs("  ", w->f);
    }
    fputc(w->closer[w->depth + 1], w->f);
}

void jw_str(struct jw *w, const char *key, const char *s)
{
    lead(w, key);
    if (s)
        put_string(w->f, s);
    else
        fputs("null", w->f);
}

void jw_int(struct jw *w, const char *key, int64_t v)
{
    lead(w, key);
    fprintf(w->f, "%lld", (long long)v);
}

void jw_uint(struct jw *w, const char *key, uint64_t v)
{
    lead(w, key);
    fprintf(w->f, "%llu", (unsigned long long)v);
}

void jw_num(struct jw *w, const char *key, double v)
{
    lead(w, key);
    if (isfinite(v))
        fprintf(w->f, "%.6g", v);
    else
        fputs("null", w->f);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    lead(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
    lead(w, key);
    fputs("null", w->f);
}
