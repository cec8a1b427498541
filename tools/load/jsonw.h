/* jsonw.h — a streaming JSON writer: values go straight to a FILE with commas, escapes and
 * indentation handled here, so the report code only says what to write. */
#ifndef PCHAT_LOAD_JSONW_H
#define PCHAT_LOAD_JSONW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 32

struct jw {
    FILE *f;
    int depth;
    bool has_items[JW_MAX_DEPTH];
    bool compact[JW_MAX_DEPTH];    /* this container on one line */
    char closer[JW_MAX_DEPTH];     /* '}' or ']' */
};

void jw_init(struct jw *w, FILE *f);
/* key is NULL inside arrays and for the top-level value. */
void jw_obj(struct jw *w, const char *key);
void jw_obj_compact(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key);
void jw_end(struct jw *w);                     /* closes the innermost object or array */
void jw_str(struct jw *w, const char *key, const char *s);     /* NULL -> null */
void jw_int(struct jw *w, const char *key, int64_t v);
void jw_uint(struct jw *w, const char *key, uint64_t v);
void jw_num(struct jw *w, const char *key, double v);         /* not finite -> null */
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);

#endif
