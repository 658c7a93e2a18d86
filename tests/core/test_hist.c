/* test_hist.c — the log-linear histogram: exact small values, bounded
 * relative error, quantile ranks, merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "specx/hist.h"

static void test_small_values_exact(void **state)
{
    (void)state;
    specx_hist h;
    specx_hist_init(&h);
    for (int v = 1; v <= 10; v++) {
        specx_hist_record(&h, v);
    }
    assert_int_equal(specx_hist_quantile(&h, 0.5), 5);
    assert_int_equal(specx_hist_quantile(&h, 0.9), 9);
    assert_int_equal(specx_hist_quantile(&h, 1.0), 10);
    assert_int_equal(specx_hist_quantile(&h, 0.0), 1);
}

static void test_relative_error(void **state)
{
    (void)state;
    specx_hist h;
    for (int64_t v = 100; v < INT64_MAX / 4; v = v * 3 + 7) {
        specx_hist_init(&h);
        specx_hist_record(&h, v);
        specx_hist_record(&h, v);
        int64_t q = specx_hist_quantile(&h, 0.5);
        assert_true(q >= v);
        assert_true((double)(q - v) <= (double)v / 32.0);
    }
}

static void test_percentiles_and_merge(void **state)
{
    (void)state;
    specx_hist a, b;
    specx_hist_init(&a);
    specx_hist_init(&b);
    for (int i = 1; i <= 1000; i++) {
        specx_hist_record(i <= 500 ? &a : &b, (int64_t)i * 1000);
    }
    specx_hist_merge(&a, &b);
    assert_int_equal(a.count, 1000);
    int64_t p99 = specx_hist_quantile(&a, 0.99);
    assert_true(p99 >= 990000 && p99 <= 990000 + 990000 / 32);
    assert_int_equal(specx_hist_quantile(&a, 1.0), 1000000);
    assert_true(specx_hist_mean(&a) > 500000.0 && specx_hist_mean(&a) < 501000.0);
}

static void test_negative_and_empty(void **state)
{
    (void)state;
    specx_hist h;
    specx_hist_init(&h);
    assert_int_equal(specx_hist_quantile(&h, 0.5), 0);
    specx_hist_record(&h, -5);
    assert_int_equal(specx_hist_quantile(&h, 0.5), 0);
}

/* sub: what was recorded between an earlier copy and now. */
static void test_sub_interval(void **state)
{
    (void)state;
    specx_hist h, before;
    specx_hist_init(&h);
    for (int i = 1; i <= 100; i++) {
        specx_hist_record(&h, 1000000); /* 1 ms */
    }
    before = h;
    for (int i = 1; i <= 100; i++) {
        specx_hist_record(&h, (int64_t)i * 10000); /* 10 us .. 1 ms */
    }
    specx_hist_record(&h, 5000000);
    specx_hist_sub(&h, &before);
    assert_int_equal(h.count, 101);
    int64_t p50 = specx_hist_quantile(&h, 0.5);
    assert_true(p50 >= 500000 && p50 <= 500000 + 500000 / 32);
    assert_int_equal(specx_hist_quantile(&h, 1.0), 5000000);
    assert_true(h.min >= 9000 && h.min <= 10000);
    assert_true(specx_hist_mean(&h) > 540000.0 && specx_hist_mean(&h) < 550000.0);
    specx_hist_sub(&h, &h);
    assert_int_equal(h.count, 0);
    assert_int_equal(specx_hist_quantile(&h, 0.5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_values_exact),    cmocka_unit_test(test_relative_error),
        cmocka_unit_test(test_percentiles_and_merge), cmocka_unit_test(test_negative_and_empty),
        cmocka_unit_test(test_sub_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
