/* test_quota.c — per-identity token buckets on a manual clock: burst then
 * refusal with the right retry time, refill, which limit is reported, a
 * refused request consuming nothing, identities kept apart, the bounded
 * table (idle entries reused, overflow counted), the message, config
 * checks, and exact admission counts under threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/quota.h"

#define T0 SPECX_SEC(1000)

static sx_auth_quota *make(double rps, double rb, double bps, double bb, size_t max)
{
    sx_auth_quota *q = NULL;
    sx_auth_quota_config c = {
        .rps = rps, .rps_burst = rb, .bps = bps, .bps_burst = bb, .max_identities = max};
    assert_int_equal(sx_auth_quota_create(&c, &q, NULL), SPECX_OK);
    return q;
}

static sx_auth_quota_limit take(sx_auth_quota *q, const char *id, uint64_t bytes, specx_time_t t)
{
    return sx_auth_quota_take(q, id, bytes, t).limit;
}

static void test_requests_bucket(void **state)
{
    (void)state;
    sx_auth_quota *q = make(10, 2, 0, 0, 0);
    assert_int_equal(take(q, "v", 0, T0), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "v", 0, T0), SX_AUTH_QUOTA_OK);
    sx_auth_quota_verdict v = sx_auth_quota_take(q, "v", 0, T0);
    assert_int_equal(v.limit, SX_AUTH_QUOTA_REQUESTS);
    assert_int_equal(v.retry_after, SPECX_MS(100));
    v = sx_auth_quota_take(q, "v", 0, T0 + SPECX_MS(40));
    assert_int_equal(v.limit, SX_AUTH_QUOTA_REQUESTS);
    assert_int_equal(v.retry_after, SPECX_MS(60));
    assert_int_equal(take(q, "v", 0, T0 + SPECX_MS(100)), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "v", 0, T0 + SPECX_MS(100)), SX_AUTH_QUOTA_REQUESTS);
    /* another identity has its own bucket */
    assert_int_equal(take(q, "w", 0, T0 + SPECX_MS(100)), SX_AUTH_QUOTA_OK);
    /* an hour idle refills to the burst, not beyond */
    specx_time_t t = T0 + SPECX_SEC(3600);
    assert_int_equal(take(q, "v", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "v", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "v", 0, t), SX_AUTH_QUOTA_REQUESTS);
    /* a clock going backwards refills nothing */
    assert_int_equal(take(q, "v", 0, T0), SX_AUTH_QUOTA_REQUESTS);
    /* a steady 10/s passes exactly, 20/s passes half */
    int passed = 0;
    for (int i = 1; i <= 100; i++) {
        passed += take(q, "v", 0, t + SPECX_MS(50) * i) == SX_AUTH_QUOTA_OK;
    }
    assert_int_equal(passed, 50);
    sx_auth_quota_destroy(q);
}

static void test_bytes_bucket(void **state)
{
    (void)state;
    sx_auth_quota *q = make(100, 1, 1000, 1500, 0);
    assert_int_equal(take(q, "v", 1000, T0), SX_AUTH_QUOTA_OK);
    sx_auth_quota_verdict v = sx_auth_quota_take(q, "v", 600, T0 + SPECX_MS(10));
    assert_int_equal(v.limit, SX_AUTH_QUOTA_BYTES);
    /* 500 left + 10 ms at 1000 B/s = 510; 90 missing = 90 ms */
    assert_int_equal(v.retry_after, SPECX_MS(90));
    /* the refused request took no request token: a small one passes now */
    assert_int_equal(take(q, "v", 10, T0 + SPECX_MS(10)), SX_AUTH_QUOTA_OK);
    /* larger than the byte burst: never */
    v = sx_auth_quota_take(q, "v", 1501, T0 + SPECX_SEC(60));
    assert_int_equal(v.limit, SX_AUTH_QUOTA_BYTES);
    assert_int_equal(v.retry_after, SPECX_TIME_NEVER);
    assert_int_equal(take(q, "v", 1500, T0 + SPECX_SEC(60)), SX_AUTH_QUOTA_OK);
    /* both exhausted: the request limit is reported */
    assert_int_equal(take(q, "v", 1, T0 + SPECX_SEC(60)), SX_AUTH_QUOTA_REQUESTS);
    sx_auth_quota_destroy(q);
}

static void test_unlimited_and_config(void **state)
{
    (void)state;
    sx_auth_quota *q = make(0, 0, 0, 0, 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(take(q, "v", 1u << 30, T0), SX_AUTH_QUOTA_OK);
    }
    sx_auth_quota_destroy(q);
    q = make(0, 0, 100, 0, 0); /* bytes only; burst defaults to one second */
    assert_int_equal(take(q, "v", 100, T0), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "v", 1, T0), SX_AUTH_QUOTA_BYTES);
    assert_int_equal(take(q, "v", 0, T0), SX_AUTH_QUOTA_OK);
    sx_auth_quota_destroy(q);
    static const sx_auth_quota_config bad[] = {
        {.rps = -1}, {.bps = 1.0 / 0.0}, {.rps = 5, .rps_burst = 0.5}, {.bps_burst = -3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        specx_err err = {{0}};
        assert_int_equal(sx_auth_quota_create(&bad[i], &q, &err), SPECX_EINVAL);
        assert_true(strlen(err.msg) > 0);
    }
}

static void test_bounded_identities(void **state)
{
    (void)state;
    sx_auth_quota *q = make(10, 2, 0, 0, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(take(q, "a", 0, T0), SX_AUTH_QUOTA_OK);
        assert_int_equal(take(q, "b", 0, T0), SX_AUTH_QUOTA_OK);
    }
    /* a and b are active: c shares the overflow entry */
    assert_int_equal(take(q, "c", 0, T0), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "d", 0, T0), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "e", 0, T0), SX_AUTH_QUOTA_REQUESTS); /* overflow bucket spent */
    assert_int_equal(sx_auth_quota_overflows(q), 3);
    /* once a and b refilled, a new identity reuses an idle entry, fresh */
    specx_time_t t = T0 + SPECX_SEC(1);
    assert_int_equal(take(q, "f", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "f", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(take(q, "f", 0, t), SX_AUTH_QUOTA_REQUESTS);
    assert_int_equal(sx_auth_quota_overflows(q), 3);
    /* the evicted one comes back fresh (it was idle: nothing lost), taking
     * idle b's entry; then b finds f and a active and shares the overflow */
    assert_int_equal(take(q, "a", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(sx_auth_quota_overflows(q), 3);
    assert_int_equal(take(q, "b", 0, t), SX_AUTH_QUOTA_OK);
    assert_int_equal(sx_auth_quota_overflows(q), 4);
    sx_auth_quota_destroy(q);
}

static void test_describe(void **state)
{
    (void)state;
    sx_auth_quota *q = make(10, 20, 1e6, 2e6, 0);
    char msg[256];
    sx_auth_quota_verdict v = {SX_AUTH_QUOTA_REQUESTS, SPECX_MS(100)};
    sx_auth_quota_describe(q, "vehicle-7", 0, v, msg, sizeof msg);
    assert_string_equal(
        msg, "over the quota of 10 requests/s (burst 20) for vehicle-7; retry in 100 ms");
    v = (sx_auth_quota_verdict){SX_AUTH_QUOTA_BYTES, SPECX_US(1500)};
    sx_auth_quota_describe(q, "vehicle-7", 5000, v, msg, sizeof msg);
    assert_string_equal(msg, "over the quota of 1000000 bytes/s (burst 2000000) for vehicle-7; "
                             "retry in 2 ms");
    v = (sx_auth_quota_verdict){SX_AUTH_QUOTA_BYTES, SPECX_TIME_NEVER};
    sx_auth_quota_describe(q, NULL, 3000000, v, msg, sizeof msg);
    assert_non_null(strstr(msg, "3000000 bytes exceeds"));
    assert_non_null(strstr(msg, "this client"));
    sx_auth_quota_destroy(q);
}

typedef struct racer {
    sx_auth_quota *q;
    int admitted;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 5000; i++) {
        r->admitted += take(r->q, i % 2 ? "x" : "y", 1, T0) == SX_AUTH_QUOTA_OK;
    }
    return NULL;
}

static void test_threads_exact(void **state)
{
    (void)state;
    sx_auth_quota *q = make(1, 1000, 1e9, 1e9, 0);
    racer r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (racer){q, 0};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += r[i].admitted;
    }
    assert_int_equal(total, 2 * 1000); /* each identity's burst, exactly */
    sx_auth_quota_destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_bucket),
        cmocka_unit_test(test_bytes_bucket),
        cmocka_unit_test(test_unlimited_and_config),
        cmocka_unit_test(test_bounded_identities),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_threads_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
