/* test_load_hist.c — pchat-load's latency histogram: buckets tile the whole range without gaps,
 * and every percentile it reports is within the 1.6 % the report and docs promise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the histogram is one small file of the load tool, built into this test directly */
#include "../../tools/load/hist.c"

static struct hist *hist_new(void)
{
    struct hist *h = calloc(1, sizeof *h);
    assert_non_null(h);
    return h;
}

static void buckets_tile_the_range(void **state)
{
    (void)state;
    /* every bucket starts right after the previous one ends, and values map back to it */
    for (int b = 1; b < HIST_BUCKETS - 1; b++) {
        assert_int_equal(hist_bucket_low(b), hist_bucket_high(b - 1) + 1);
        assert_int_equal(hist_bucket_of(hist_bucket_low(b)), b);
        assert_int_equal(hist_bucket_of(hist_bucket_high(b)), b);
    }
    for (uint64_t v = 0; v < HIST_EXACT; v++)
        assert_int_equal(hist_bucket_low(hist_bucket_of(v)), v);   /* exact below 128 µs */
    /* a bucket is never wider than 1/64 of its lower bound */
    for (int b = HIST_EXACT; b < HIST_BUCKETS - 1; b++) {
        uint64_t lo = hist_bucket_low(b), width = hist_bucket_high(b) - lo + 1;
        assert_true(width * 64 <= lo);
    }
    /* the overflow bucket follows on and takes everything from 2^42 µs up */
    assert_int_equal(hist_bucket_low(HIST_BUCKETS - 1), hist_bucket_high(HIST_BUCKETS - 2) + 1);
    assert_int_equal(hist_bucket_of(hist_bucket_low(HIST_BUCKETS - 1)), HIST_BUCKETS - 1);
    assert_int_equal(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void percentiles_within_promise(void **state)
{
    (void)state;
    enum { N = 200000 };
    uint64_t *v = malloc(N * sizeof *v);
    assert_non_null(v);
    struct hist *h = hist_new();
    /* a latency-like spread: log-uniform from 50 µs to 5 s */
    srand(42);
    for (int i = 0; i < N; i++) {
        double e = log(50.0) + (log(5e6) - log(50.0)) * ((double)rand() / RAND_MAX);
        v[i] = (uint64_t)exp(e);
        hist_add(h, (int64_t)v[i]);
    }
    qsort(v, N, sizeof *v, cmp_u64);
    const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        uint64_t want = v[(size_t)ceil(qs[i] * N) - 1];
        uint64_t got = hist_quantile(h, qs[i]);
        double err = fabs((double)got - (double)want) / (double)want;
        if (err > 1.0 / 64)
            fail_msg("p%g: histogram says %llu µs, the data %llu µs (%.2f %% off)", qs[i] * 100,
                     (unsigned long long)got, (unsigned long long)want, err * 100);
    }
    assert_int_equal(h->count, N);
    assert_int_equal(h->min, v[0]);
    assert_int_equal(h->max, v[N - 1]);
    assert_int_equal(hist_quantile(h, 1.0), v[N - 1]);
    free(v);
    free(h);
}

static void small_counts_and_edges(void **state)
{
    (void)state;
    struct hist *h = hist_new();
    assert_int_equal(hist_quantile(h, 0.99), 0);           /* empty: 0, not garbage */
    hist_add(h, -5);                                        /* clock skew counts as 0 */
    assert_int_equal(h->min, 0);
    hist_add(h, 1000000);
    /* two samples: the median is the lower one, p99 the upper (clamped to the real max) */
    assert_int_equal(hist_quantile(h, 0.5), 0);
    assert_int_equal(hist_quantile(h, 0.99), 1000000);
    assert_true(fabs(hist_mean(h) - 500000.0) < 1.0);
    free(h);
}

static void merge_adds_up(void **state)
{
    (void)state;
    struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();
    for (int i = 1; i <= 1000; i++) {
        hist_add(i % 2 ? a : b, i * 37);
        hist_add(all, i * 37);
    }
    hist_merge(a, b);
    assert_int_equal(a->count, all->count);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_int_equal(a->sum, all->sum);
    assert_int_equal(hist_quantile(a, 0.9), hist_quantile(all, 0.9));
    free(a);
    free(b);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_tile_the_range),
        cmocka_unit_test(percentiles_within_promise),
        cmocka_unit_test(small_counts_and_edges),
        cmocka_unit_test(merge_adds_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
