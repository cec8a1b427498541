/* pg_array.h — PostgreSQL array literals ({"a","b",NULL}) built in an sbuf, so a whole batch
 * travels as a few text parameters of one fixed, parameterised statement (unnest($1::text[])). */
#ifndef PCHAT_PG_ARRAY_H
#define PCHAT_PG_ARRAY_H

#include "sbuf.h"

struct pg_array {
    struct sbuf buf;
    int count;
};

void pg_array_init(struct pg_array *a, size_t max_bytes);
void pg_array_reset(struct pg_array *a);
void pg_array_free(struct pg_array *a);
/* Append one element; NULL becomes an SQL NULL. */
void pg_array_add(struct pg_array *a, const char *value);
/* The finished literal ("{}" when empty), or NULL when max_bytes was exceeded. */
const char *pg_array_text(struct pg_array *a);

#endif
