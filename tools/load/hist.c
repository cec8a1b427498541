/* hist.c — log-linear latency buckets (HDR-like): a value v ≥ 128 lands in the power of two of
 * its top bit, split into 64 equal steps, so every percentile is within 1.6 % of the truth. */
#include "hist.h"

#include <string.h>

int hist_bucket_of(uint64_t v)
{
    if (v < HIST_EXACT)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);
    if (msb >= HIST_MAX_MSB)
        return HIST_BUCKETS - 1;
    int shift = msb - HIST_SUB_BITS;                  /* v >> shift lies in [64, 127] */
    int sub = (int)(v >> shift) - (1 << HIST_SUB_BITS);
    return HIST_EXACT + (shift - 1) * (1 << HIST_SUB_BITS) + sub;
}

uint64_t hist_bucket_low(int b)
{
    if (b < HIST_EXACT)
        return (uint64_t)b;
    int shift = (b - HIST_EXACT) / (1 << HIST_SUB_BITS) + 1;
    int sub = (b - HIST_EXACT) % (1 << HIST_SUB_BITS);
    return (uint64_t)((1 << HIST_SUB_BITS) + sub) << shift;
}

uint64_t hist_bucket_high(int b)
{
    if (b == HIST_BUCKETS - 1)
        return UINT64_MAX;
    if (b < HIST_EXACT)
        return (uint64_t)b;
    int shift = (b - HIST_EXACT) / (1 << HIST_SUB_BITS) + 1;
    return hist_bucket_low(b) + ((uint64_t)1 << shift) - 1;
}

void hist_add(struct hist *h, int64_t value_us)
{
    uint64_t v = value_us < 0 ? 0 : (uint64_t)value_us;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
    h->sum += v;
    h->buckets[hist_bucket_of(v)]++;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    /* the smallest value with at least ceil(q * count) values at or below it */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= rank) {
            uint64_t lo = hist_bucket_low(b), hi = hist_bucket_high(b);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    if (from->count == 0)
        return;
    if (into->count == 0 || from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
    into->count += from->count;
    into->sum += from->sum;
    for (int b = 0; b < HIST_BUCKETS; b++)
        into->buckets[b] += from->buckets[b];
}
