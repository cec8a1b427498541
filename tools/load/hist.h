/* hist.h — an HDR-like latency histogram: exact below 128 µs, then 64 linear sub-buckets per
 * power of two (at most 1/64 = 1.6 % relative error), fixed size, no allocation. */
#ifndef PCHAT_LOAD_HIST_H
#define PCHAT_LOAD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_EXACT (2 << HIST_SUB_BITS)                       /* 128 values kept exactly */
#define HIST_MAX_MSB 42                                       /* 2^42 µs ≈ 50 days */
/* the exact values, 64 steps for each power of two from 2^7 to 2^41, one overflow bucket */
#define HIST_BUCKETS (HIST_EXACT + (HIST_MAX_MSB - HIST_SUB_BITS - 1) * (1 << HIST_SUB_BITS) + 1)

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min, max;
    uint32_t buckets[HIST_BUCKETS];
};

void hist_add(struct hist *h, int64_t value_us);     /* negative values count as 0 */
/* The value at quantile q (0..1): the midpoint of the bucket holding it, clamped to
 * [min, max]; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);
void hist_merge(struct hist *into, const struct hist *from);
/* Bucket arithmetic, exposed for the unit test. */
int hist_bucket_of(uint64_t v);
uint64_t hist_bucket_low(int b);
uint64_t hist_bucket_high(int b);                    /* inclusive */

#endif
