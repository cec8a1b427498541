/* hmap.h — open-addressing hash map from a non-zero uint64 key to a pointer.
 * Used for sessions, rooms and requests by id; grows by doubling, never shrinks. */
#ifndef PCHAT_HMAP_H
#define PCHAT_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap {
    uint64_t *keys;    /* 0 = empty, UINT64_MAX = deleted */
    void **vals;
    size_t cap;        /* power of two */
    size_t count;
    size_t used;       /* live + deleted slots */
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, uint64_t key);
/* Insert or replace; key must be neither 0 nor UINT64_MAX. */
void hmap_put(struct hmap *m, uint64_t key, void *val);
/* Remove; returns the value that was there or NULL. */
void *hmap_del(struct hmap *m, uint64_t key);
/* Iterate: for (size_t i = 0; hmap_next(m, &i, &k, &v);) — do not insert while iterating
 * (deleting the current key is fine). */
int hmap_next(const struct hmap *m, size_t *pos, uint64_t *key, void **val);
/* A 64-bit hash of a byte string (FNV-1a), never 0 or UINT64_MAX: for string keys. */
uint64_t hmap_hash_bytes(const void *data, size_t len);

#endif
