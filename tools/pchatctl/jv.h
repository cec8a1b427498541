/* jv.h — a small JSON value tree: commands build one document, which is then written as
 * JSON (--json) or rendered as text. Strings are copied; one jv_free releases a tree. */
#ifndef PCHATCTL_JV_H
#define PCHATCTL_JV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sbuf.h"

enum jv_type { JV_NULL, JV_BOOL, JV_INT, JV_NUM, JV_STR, JV_ARR, JV_OBJ };

struct jv {
    enum jv_type type;
    char *key;                 /* member name inside an object */
    bool b;
    int64_t i;
    double d;
    char *s;
    struct jv *first, *last, *next;
    int n;                     /* children */
};

struct jv *jv_obj(void);
struct jv *jv_arr(void);
struct jv *jv_str(const char *s);          /* NULL -> null */
struct jv *jv_int(int64_t i);
struct jv *jv_num(double d);
struct jv *jv_bool(bool b);
struct jv *jv_null(void);
void jv_free(struct jv *v);

/* Append to an array; returns child. */
struct jv *jv_push(struct jv *arr, struct jv *child);
/* Set an object member (appended; keys are not checked for duplicates); returns child. */
struct jv *jv_set(struct jv *obj, const char *key, struct jv *child);
struct jv *jv_set_str(struct jv *obj, const char *key, const char *s);
struct jv *jv_set_int(struct jv *obj, const char *key, int64_t i);
struct jv *jv_set_bool(struct jv *obj, const char *key, bool b);
/* Member by key, or NULL. */
struct jv *jv_get(const struct jv *obj, const char *key);

/* JSON text (UTF-8; control characters and invalid UTF-8 escaped, never raw). */
void jv_write(const struct jv *v, struct sbuf *out);
void jv_print(const struct jv *v, FILE *out);   /* with a trailing newline */
/* A JSON string literal for s, quotes included. */
void json_string(struct sbuf *out, const char *s);

#endif
