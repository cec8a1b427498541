/* render.c — how a command's document reaches the operator: one JSON document with --json,
 * otherwise aligned text (a list becomes a table, a single thing "key: value" lines). */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Columns a string takes on a terminal: code points, not bytes (good enough for names). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static bool is_scalar(const struct jv *v)
{
    return v->type != JV_ARR && v->type != JV_OBJ;
}

static bool is_scalar_list(const struct jv *v)
{
    if (v->type != JV_ARR)
        return false;
    for (const struct jv *m = v->first; m; m = m->next)
        if (!is_scalar(m))
            return false;
    return true;
}

/* A scalar as text; in a table cell control characters become spaces and "" becomes "-". */
static char *scalar_text(const struct jv *v, bool cell_form)
{
    char buf[64];
    switch (v->type) {
    case JV_NULL: return xstrdup("-");
    case JV_BOOL: return xstrdup(v->b ? "yes" : "no");
    case JV_INT: snprintf(buf, sizeof buf, "%" PRId64, v->i); return xstrdup(buf);
    case JV_NUM: snprintf(buf, sizeof buf, "%.1f", v->d); return xstrdup(buf);
    case JV_STR: {
        if (cell_form && !*v->s)
            return xstrdup("-");
        char *s = xstrdup(v->s);
        if (cell_form)
            for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20)
                    *p = ' ';
        return s;
    }
    default: return xstrdup("");
    }
}

static char *list_text(const struct jv *arr)
{
    if (arr->n == 0)
        return xstrdup("-");
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    for (const struct jv *m = arr->first; m; m = m->next) {
        char *t = scalar_text(m, true);
        if (m != arr->first)
            sbuf_puts(&b, ", ");
        sbuf_puts(&b, t);
        free(t);
    }
    char *out = sbuf_steal(&b, NULL);
    return out ? out : xstrdup("");
}

static char *label_of(const char *key, bool upper)
{
    char *l = xstrdup(key);
    for (char *p = l; *p; p++) {
        if (*p == '_')
            *p = ' ';
        else if (upper && *p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    }
    return l;
}

static void render_table(const struct jv *arr, int indent, FILE *out)
{
    if (arr->n == 0) {
        fprintf(out, "%*s(none)\n", indent, "");
        return;
    }
    const struct jv *head = arr->first;
    int n_cols = 0;
    for (const struct jv *m = head->first; m; m = m->next)
        if (is_scalar(m) || is_scalar_list(m))
            n_cols++;
    if (n_cols == 0)
        return;
    size_t *width = xcalloc((size_t)n_cols, sizeof *width);
    char **labels = xcalloc((size_t)n_cols, sizeof *labels);
    const char **keys = xcalloc((size_t)n_cols, sizeof *keys);
    int col = 0;
    for (const struct jv *m = head->first; m; m = m->next) {
        if (!(is_scalar(m) || is_scalar_list(m)))
            continue;
        keys[col] = m->key;
        labels[col] = label_of(m->key, true);
        width[col] = text_width(labels[col]);
        col++;
    }
    int n_rows = arr->n;
    char **cells = xcalloc((size_t)n_rows * (size_t)n_cols, sizeof *cells);
    int row = 0;
    for (const struct jv *o = arr->first; o; o = o->next, row++) {
        for (col = 0; col < n_cols; col++) {
            const struct jv *v = jv_get(o, keys[col]);
            char *t = !v ? xstrdup("-") : v->type == JV_ARR ? list_text(v) : scalar_text(v, true);
            cells[row * n_cols + col] = t;
            size_t w = text_width(t);
            if (w > width[col])
                width[col] = w;
        }
    }
    for (row = -1; row < n_rows; row++) {
        fprintf(out, "%*s", indent, "");
        for (col = 0; col < n_cols; col++) {
            const char *t = row < 0 ? labels[col] : cells[row * n_cols + col];
            if (col == n_cols - 1)
                fprintf(out, "%s\n", t);
            else
                fprintf(out, "%s%*s  ", t, (int)(width[col] - text_width(t)), "");
        }
    }
    for (int i = 0; i < n_rows * n_cols; i++)
        free(cells[i]);
    for (col = 0; col < n_cols; col++)
        free(labels[col]);
    free(cells);
    free(labels);
    free(keys);
    free(width);
}

static void render_detail(const struct jv *obj, int indent, FILE *out)
{
    size_t key_width = 0;
    for (const struct jv *m = obj->first; m; m = m->next) {
        size_t w = text_width(m->key) + 1;
        if (w > key_width)
            key_width = w;
    }
    for (const struct jv *m = obj->first; m; m = m->next) {
        char *label = label_of(m->key, false);
        size_t pad = key_width - text_width(label);
        if (is_scalar(m)) {
            /* "" shows as "-", like in tables, so no line ends in blanks */
            char *t = scalar_text(m, m->type == JV_STR && !*m->s);
            /* a multi-line text continues under its first line */
            fprintf(out, "%*s%s:%*s  ", indent, "", label, (int)pad - 1, "");
            for (const char *p = t; *p; p++) {
                fputc(*p, out);
                if (*p == '\n')
                    fprintf(out, "%*s", (int)(indent + key_width + 2), "");
            }
            fputc('\n', out);
            free(t);
        } else if (is_scalar_list(m)) {
            fprintf(out, "%*s%s:%*s  ", indent, "", label, (int)pad - 1, "");
            if (m->n == 0)
                fprintf(out, "-\n");
            for (const struct jv *e = m->first; e; e = e->next) {
                char *t = scalar_text(e, true);
                if (e != m->first)
                    fprintf(out, "%*s", (int)(indent + key_width + 2), "");
                fprintf(out, "%s\n", t);
                free(t);
            }
        } else if (m->type == JV_ARR) {
            fprintf(out, "%*s%s:\n", indent, "", label);
            render_table(m, indent + 2, out);
        } else {
            fprintf(out, "%*s%s:\n", indent, "", label);
            render_detail(m, indent + 2, out);
        }
        free(label);
    }
}

void render_output(struct ctl *c)
{
    if (c->json) {
        jv_print(c->out, stdout);
        return;
    }
    if (c->human.len) {
        fwrite(c->human.data, 1, c->human.len, stdout);
        return;
    }
    const struct jv *doc = c->out;
    if (doc->n == 1 && doc->first->type == JV_ARR)
        render_table(doc->first, 0, stdout);
    else if (doc->n == 1 && doc->first->type == JV_OBJ)
        render_detail(doc->first, 0, stdout);
    else
        render_detail(doc, 0, stdout);
}

struct jv *jv_from_pg_array(const char *text)
{
    struct jv *arr = jv_arr();
    if (!text || text[0] != '{')
        return arr;
    const char *p = text + 1;
    struct sbuf item;
    sbuf_init(&item, 1u << 24);
    while (*p && *p != '}') {
        sbuf_reset(&item);
        bool quoted = *p == '"';
        if (quoted) {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                sbuf_putc(&item, *p++);
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                sbuf_putc(&item, *p++);
        }
        if (!quoted && item.len == 4 && strcmp(item.data, "NULL") == 0)
            jv_push(arr, jv_null());
        else
            jv_push(arr, jv_str(item.data ? item.data : ""));
        if (*p == ',')
            p++;
    }
    sbuf_free(&item);
    return arr;
}
