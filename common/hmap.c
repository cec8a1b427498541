/* hmap.c — linear probing with tombstones; rehash when live+deleted passes 70 %. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HMAP_DELETED UINT64_MAX

static size_t slot_of(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void hmap_init(struct hmap *m) { memset(m, 0, sizeof *m); }

void hmap_free(struct hmap *m)
{
    free(m->keys);
    free(m->vals);
    hmap_init(m);
}

static void hmap_rehash(struct hmap *m, size_t cap)
{
    struct hmap n = { xcalloc(cap, sizeof(uint64_t)), xcalloc(cap, sizeof(void *)), cap, 0, 0 };
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k = m->keys[i];
        if (k == 0 || k == HMAP_DELETED)
            continue;
        size_t s = slot_of(k, cap);
        while (n.keys[s] != 0)
            s = (s + 1) & (cap - 1);
        n.keys[s] = k;
        n.vals[s] = m->vals[i];
        n.count++;
        n.used++;
    }
    free(m->keys);
    free(m->vals);
    *m = n;
}

void *hmap_get(const struct hmap *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t s = slot_of(key, m->cap);; s = (s + 1) & (m->cap - 1)) {
        if (m->keys[s] == key)
            return m->vals[s];
        if (m->keys[s] == 0)
            return NULL;
    }
}

void hmap_put(struct hmap *m, uint64_t key, void *val)
{
    if ((m->used + 1) * 10 >= m->cap * 7)
        hmap_rehash(m, m->cap ? (m->count * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t tomb = SIZE_MAX;
    for (size_t s = slot_of(key, m->cap);; s = (s + 1) & (m->cap - 1)) {
        if (m->keys[s] == key) {
            m->vals[s] = val;
            return;
        }
        if (m->keys[s] == HMAP_DELETED && tomb == SIZE_MAX)
            tomb = s;
        if (m->keys[s] == 0) {
            if (tomb != SIZE_MAX)
                s = tomb;
            else
                m->used++;
            m->keys[s] = key;
            m->vals[s] = val;
            m->count++;
            return;
        }
    }
}

void *hmap_del(struct hmap *m, uint64_t key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t s = slot_of(key, m->cap);; s = (s + 1) & (m->cap - 1)) {
        if (m->keys[s] == key) {
            void *v = m->vals[s];
            m->keys[s] = HMAP_DELETED;
            m->vals[s] = NULL;
            m->count--;
            return v;
        }
        if (m->keys[s] == 0)
            return NULL;
    }
}

int hmap_next(const struct hmap *m, size_t *pos, uint64_t *key, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->keys[i] != 0 && m->keys[i] != HMAP_DELETED) {
            if (key)
                *key = m->keys[i];
            if (val)
                *val = m->vals[i];
            *pos = i + 1;
            return 1;
        }
    }
    *pos = m->cap;
    return 0;
}

uint64_t hmap_hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    if (h == 0 || h == HMAP_DELETED)
        h = 1;
    return h;
}
