/* test_netem_model.c — the netem link model on a virtual clock: the delay
 * process (stationary, correlated over τ, a function of seed and time only),
 * one direction's capacity, order and outages, the simulator API, and each
 * built-in profile against its reference (the round trips requests see under
 * the reference traffic, against the targets). No sockets.
 * Usage: test_netem_model [GROUP] (process, path, sim, reference). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>

#include "test_groups.h"
// clang-format on

#include <cjson/cJSON.h>

#include "specx/netem.h"

#include "netem/path.h"
#include "netem/profile.h"
#include "netem/sim.h"

static specx_netem_profile *parse(const char *text)
{
    specx_netem_profile *p = NULL;
    specx_err err = {{0}};
    if (specx_netem_profile_parse(text, "test", NULL, &p, &err) != SPECX_OK) {
        fail_msg("profile: %s", err.msg);
    }
    return p;
}

static specx_netem_profile *load(const char *name)
{
    specx_netem_profile *p = NULL;
    specx_err err = {{0}};
    if (specx_netem_profile_load(name, &p, &err) != SPECX_OK) {
        fail_msg("profile %s: %s", name, err.msg);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- the latent process -------------------------------------------------- */

/* The correlation the documented process has at lag n·τ (n >= 1), averaged
 * over the phase w within a knot interval: X(t) = (a·x_k + b·x_(k+1)) / √v
 * with a = 1 - w, b = w, v = a² + b² + 2abρ, and the x a chain with
 * corr(x_i, x_j) = ρ^|i-j|. */
static double model_corr(int n)
{
    const double rho = exp(-1.0);
    double sum = 0;
    const int steps = 10000;
    for (int i = 0; i < steps; i++) {
        double w = (i + 0.5) / steps, a = 1 - w, b = w;
        double v = a * a + b * b + 2 * a * b * rho;
        double cov = (a * a + b * b) * pow(rho, n) + a * b * (pow(rho, n - 1) + pow(rho, n + 1));
        sum += cov / v;
    }
    return sum / steps;
}

static void test_latent_process(void **state)
{
    (void)state;
    specx_netem_profile *p = parse("delay = lognormal median_ms=10 sigma=1\ntau_ms = 300\n");
    sx_netem_path a;
    sx_netem_path_init(&a, &p->dir[SPECX_NETEM_UP], 5, SPECX_NETEM_UP, 0);
    /* 10^6 samples 10 ms apart: X is standard normal; its correlation is
     * the documented one at lags τ, 2τ (0.56, 0.20), nothing by 5τ, and near
     * 1 between consecutive 30 Hz packets. */
    enum { N = 1000000, STEP_MS = 10 };
    double *x = malloc(N * sizeof *x);
    assert_non_null(x);
    double s = 0, s2 = 0;
    for (int i = 0; i < N; i++) {
        x[i] = sx_netem_path_latent(&a, SPECX_MS(STEP_MS) * i);
        s += x[i];
        s2 += x[i] * x[i];
    }
    double mean = s / N, var = s2 / N - mean * mean;
    /* lags in samples: 30 ms, τ, 2τ, 5τ; the last one τ again, but between
     * knots only (samples whose time is a multiple of τ = 30 samples) */
    double c[5] = {0};
    const int lags[5] = {3, 30, 60, 150, 30}, strides[5] = {1, 1, 1, 1, 30};
    for (int k = 0; k < 5; k++) {
        double m = 0;
        for (int i = 0; i + lags[k] < N; i += strides[k]) {
            c[k] += (x[i] - mean) * (x[i + lags[k]] - mean);
            m++;
        }
        c[k] /= m * var;
    }
    printf("latent: mean %.4f var %.4f corr 30ms %.3f tau %.3f (model %.3f) 2tau %.3f (model "
           "%.3f) 5tau %.3f; on knots, lag tau %.3f (model %.3f)\n",
           mean, var, c[0], c[1], model_corr(1), c[2], model_corr(2), c[3], c[4], exp(-1.0));
    assert_true(fabs(mean) < 0.05);
    assert_true(fabs(var - 1.0) < 0.05);
    assert_true(c[0] > 0.98);
    assert_true(fabs(c[1] - model_corr(1)) < 0.03);
    assert_true(fabs(c[2] - model_corr(2)) < 0.03);
    assert_true(fabs(c[3]) < 0.03);
    assert_true(fabs(c[4] - exp(-1.0)) < 0.04);

    /* A function of seed and time only: another path with the same seed,
     * queried at other times in between, has the same X at common times. */
    sx_netem_path b, other;
    sx_netem_path_init(&b, &p->dir[SPECX_NETEM_UP], 5, SPECX_NETEM_UP, 0);
    sx_netem_path_init(&other, &p->dir[SPECX_NETEM_UP], 6, SPECX_NETEM_UP, 0);
    int differ = 0;
    for (int i = 0; i < 20000; i += 7) {
        specx_time_t t = SPECX_MS(STEP_MS) * i;
        if (i % 3 == 0) {
            (void)sx_netem_path_latent(&b, t - SPECX_MS(1)); /* extra queries */
        }
        assert_true(sx_netem_path_latent(&b, t) == x[i]);
        differ += sx_netem_path_latent(&other, t) != x[i];
    }
    assert_int_equal(differ, (20000 + 6) / 7);
    free(x);
    sx_netem_path_clear(&a);
    sx_netem_path_clear(&b);
    sx_netem_path_clear(&other);
    specx_netem_profile_free(p);

    /* τ = 0: a fresh draw per query, uncorrelated. */
    p = parse("delay = lognormal median_ms=10 sigma=1\ntau_ms = 0\n");
    sx_netem_path_init(&a, &p->dir[SPECX_NETEM_UP], 5, SPECX_NETEM_UP, 0);
    double prev = sx_netem_path_latent(&a, 0), cxy = 0, cxx = 0;
    for (int i = 1; i < 100000; i++) {
        double v = sx_netem_path_latent(&a, 0);
        cxy += prev * v;
        cxx += v * v;
        prev = v;
    }
    assert_true(fabs(cxy / cxx) < 0.02);
    sx_netem_path_clear(&a);
    specx_netem_profile_free(p);
}

/* ---- one direction -------------------------------------------------------- */

static void test_path_send(void **state)
{
    (void)state;
    /* 8 Mbit/s, 10 ms: 1000 B take 1 ms to send, then 10 ms to arrive; a
     * second 1000 B handed over at the same time waits for the first. */
    specx_netem_profile *p = parse("delay = const ms=10\nrate_mbit = 8\n"
                                   "up.outage = periodic period_ms=1000 duration_ms=100 "
                                   "offset_ms=500\n");
    sx_netem_path up;
    sx_netem_path_init(&up, &p->dir[SPECX_NETEM_UP], 1, SPECX_NETEM_UP, 0);
    specx_time_t floor = 0;
    assert_int_equal(sx_netem_path_send(&up, 0, 1000, &floor), SPECX_MS(11));
    assert_int_equal(sx_netem_path_send(&up, 0, 1000, &floor), SPECX_MS(12));
    assert_int_equal(floor, SPECX_MS(12));
    /* Another connection shares the transmitter but has its own floor. */
    specx_time_t floor2 = 0;
    assert_int_equal(sx_netem_path_send(&up, SPECX_MS(1), 1000, &floor2), SPECX_MS(13));
    /* Handed over inside the outage [500, 600) ms: sent when it ends. */
    assert_int_equal(sx_netem_path_send(&up, SPECX_MS(550), 1000, &floor), SPECX_MS(611));
    /* In flight when the outage starts: delivered when it ends. */
    assert_int_equal(sx_netem_path_send(&up, SPECX_MS(1495), 1000, &floor), SPECX_MS(1600));
    assert_int_equal(sx_netem_path_chunk_max(&up), SX_NETEM_CHUNK_MAX_RATED);
    sx_netem_path_clear(&up);
    specx_netem_profile_free(p);

    /* Independent heavy-tailed draws per chunk: releases never go backwards
     * on a connection, and each is at least its own delay. */
    p = parse("delay = lognormal median_ms=20 sigma=1.5\ntau_ms = 0\n");
    sx_netem_path_init(&up, &p->dir[SPECX_NETEM_UP], 3, SPECX_NETEM_UP, 0);
    floor = 0;
    specx_time_t prev = 0;
    int held = 0;
    for (int i = 0; i < 10000; i++) {
        specx_time_t t = SPECX_MS(i);
        specx_time_t r = sx_netem_path_send(&up, t, 100, &floor);
        assert_true(r >= prev && r >= t);
        held += r == prev;
        prev = r;
    }
    assert_true(held > 1000); /* spikes hold up what follows */
    assert_int_equal(sx_netem_path_chunk_max(&up), SX_NETEM_CHUNK_MAX);
    sx_netem_path_clear(&up);
    specx_netem_profile_free(p);
}

/* ---- the simulator ----------------------------------------------------------- */

static void test_sim_api(void **state)
{
    (void)state;
    specx_netem_profile *p = load("5g-sf");
    specx_err err = {{0}};
    specx_netem_sim *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(specx_netem_sim_create(p, 7, &a, &err), SPECX_OK);
    assert_int_equal(specx_netem_sim_create(p, 7, &b, &err), SPECX_OK);
    assert_int_equal(specx_netem_sim_create(p, 8, &c, &err), SPECX_OK);
    specx_netem_profile_free(p); /* the simulators keep copies */

    specx_time_t arr = 0, prev = 0;
    assert_int_equal(specx_netem_sim_send(a, SPECX_NETEM_UP, 0, 0, &arr, &err), SPECX_EINVAL);
    assert_int_equal(specx_netem_sim_send(a, (specx_netem_dir)2, 0, 1, &arr, &err), SPECX_EINVAL);
    int differ = 0;
    for (int i = 0; i < 3000; i++) {
        specx_time_t t = SPECX_MS(100) * i;
        specx_time_t ra, rb, rc;
        assert_int_equal(specx_netem_sim_send(a, SPECX_NETEM_UP, t, 157000, &ra, &err), SPECX_OK);
        assert_int_equal(specx_netem_sim_send(b, SPECX_NETEM_UP, t, 157000, &rb, &err), SPECX_OK);
        assert_int_equal(specx_netem_sim_send(c, SPECX_NETEM_UP, t, 157000, &rc, &err), SPECX_OK);
        assert_int_equal(ra, rb); /* deterministic */
        differ += ra != rc;
        /* 157 KB at 14.56 Mbit/s take 86 ms to send; arrivals stay in order. */
        assert_true(ra >= t + SPECX_MS(86));
        assert_true(ra >= prev);
        prev = ra;
        assert_int_equal(specx_netem_sim_send(a, SPECX_NETEM_DOWN, ra, 1000, &arr, &err), SPECX_OK);
        assert_true(arr >= ra + SPECX_MS(4));
    }
    assert_true(differ > 2900);
    /* Sends in one direction must be in time order. */
    assert_int_equal(specx_netem_sim_send(a, SPECX_NETEM_UP, SPECX_MS(5), 10, &arr, &err),
                     SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "time order"));
    specx_netem_sim_destroy(a);
    specx_netem_sim_destroy(b);
    specx_netem_sim_destroy(c);
    specx_netem_sim_destroy(NULL);

    /* The round-trip accumulator's quantiles are within its 0.1 % bins of
     * the exact ones, and its lag-1 autocorrelation is Pearson's. */
    sx_netem_rtt_acc acc;
    assert_int_equal(sx_netem_rtt_acc_init(&acc, &err), SPECX_OK);
    enum { N = 20001 };
    double *v = malloc(N * sizeof *v);
    assert_non_null(v);
    double x = 50;
    for (int i = 0; i < N; i++) {
        x = 0.9 * x + 0.1 * (20.0 + (double)((i * 7919) % 1000)); /* correlated */
        v[i] = x;
        sx_netem_rtt_acc_add(&acc, x);
    }
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i + 1 < N; i++) {
        sx += v[i];
        sy += v[i + 1];
        sxx += v[i] * v[i];
        syy += v[i + 1] * v[i + 1];
        sxy += v[i] * v[i + 1];
    }
    double m = N - 1;
    double r = (sxy - sx * sy / m) / sqrt((sxx - sx * sx / m) * (syy - sy * sy / m));
    assert_true(fabs(sx_netem_rtt_acc_lag1(&acc) - r) < 1e-6);
    qsort(v, N, sizeof *v, cmp_double);
    static const double qs[] = {0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double exact = v[(size_t)floor(qs[i] * (N - 1))];
        assert_true(fabs(sx_netem_rtt_acc_quantile(&acc, qs[i]) / exact - 1.0) < 0.001);
    }
    free(v);
    sx_netem_rtt_acc_clear(&acc);
}

/* ---- each built-in profile against its reference ------------------------------ */

/* Hours of virtual time for the reference checks: long enough that the
 * sampling noise of p99 (a few multi-second episodes an hour) is well inside
 * ±5 % (docs/netem.md: 1-hour windows of 5g-sf spread by ±20 % at p99). */
#define REFERENCE_HOURS 100.0

static void check_reference(const char *name, uint64_t seed)
{
    specx_netem_profile *p = load(name);
    specx_netem_traffic t = *specx_netem_profile_reference(p);
    t.seconds = REFERENCE_HOURS * 3600;
    specx_netem_rtt_summary s;
    specx_err err = {{0}};
    assert_int_equal(specx_netem_simulate_traffic(p, seed, &t, &s, &err), SPECX_OK);
    printf("%s: %zu B at %g Hz for %g h, seed %llu: p1 %.2f p10 %.2f p50 %.2f p90 %.2f p99 "
           "%.2f ms, lag-1 autocorrelation %.3f\n",
           name, t.request_bytes, t.hz, REFERENCE_HOURS, (unsigned long long)seed, s.p1_ms,
           s.p10_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.lag1_autocorr);
    assert_int_equal(s.requests, (uint64_t)(t.hz * t.seconds));
    assert_true(p->ntargets >= 3);
    for (size_t i = 0; i < p->ntargets; i++) {
        double q = p->target_q[i], want = p->target_ms[i];
        double got = q == 0.01   ? s.p1_ms
                     : q == 0.5  ? s.p50_ms
                     : q == 0.9  ? s.p90_ms
                     : q == 0.99 ? s.p99_ms
                                 : NAN;
        printf("  p%g: %.2f ms, target %.2f ms (%+.1f %%)\n", q * 100, got, want,
               (got / want - 1) * 100);
        assert_true(got >= want * 0.95 && got <= want * 1.05);
    }
    specx_netem_profile_free(p);
}

static void test_reference_5g_sf(void **state)
{
    (void)state;
    /* The paper's 68 / 336 / 3027 ms for 33.3 KB at 30 Hz, with a seed the
     * calibration did not use. */
    check_reference("5g-sf", 42);
}

static void test_reference_lte_lan(void **state)
{
    (void)state;
    check_reference("lte", 42);
    check_reference("lan", 42);
}

static void test_request_size(void **state)
{
    (void)state;
    /* Bytes pay for the uplink capacity: at 10 Hz a 157 KB request's median
     * round trip is about the 68 ms of serialization more than a 33.3 KB
     * one's; at 30 Hz 157 KB (37.7 Mbit/s) overloads 14.56 Mbit/s and the
     * queue grows without bound. */
    specx_netem_profile *p = load("5g-sf");
    specx_err err = {{0}};
    specx_netem_traffic small = {
        .request_bytes = 33300, .reply_bytes = 1000, .hz = 10, .seconds = 36000};
    specx_netem_traffic big = small;
    big.request_bytes = 157000;
    specx_netem_rtt_summary a, b, over;
    assert_int_equal(specx_netem_simulate_traffic(p, 3, &small, &a, &err), SPECX_OK);
    assert_int_equal(specx_netem_simulate_traffic(p, 3, &big, &b, &err), SPECX_OK);
    double ser = (157000.0 - 33300.0) * 8 / 14.56e6 * 1e3;
    printf("size: p50 %.1f ms (33.3 KB) vs %.1f ms (157 KB) at 10 Hz; extra serialization %.1f "
           "ms\n",
           a.p50_ms, b.p50_ms, ser);
    assert_true(b.p50_ms - a.p50_ms > ser * 0.9 && b.p50_ms - a.p50_ms < ser * 1.5);
    big.hz = 30;
    big.seconds = 60;
    assert_int_equal(specx_netem_simulate_traffic(p, 3, &big, &over, &err), SPECX_OK);
    printf("size: 157 KB at 30 Hz for 60 s: p50 %.0f ms, max %.0f ms\n", over.p50_ms, over.max_ms);
    assert_true(over.p50_ms > 10000 && over.max_ms > 30000);
    specx_netem_profile_free(p);
}

static void test_describe_json(void **state)
{
    (void)state;
    /* One line with exactly the documented keys, the same figures as
     * specx_netem_simulate_traffic for the same seed and traffic. */
    specx_netem_profile *p = load("5g-sf");
    specx_netem_traffic t = {
        .request_bytes = 157000, .reply_bytes = 1000, .hz = 10, .seconds = 600};
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    specx_err err = {{0}};
    assert_int_equal(specx_netem_profile_describe(p, 9, &t, true, m, &err), SPECX_OK);
    fclose(m);
    assert_true(len > 0 && strchr(buf, '\n') == buf + len - 1); /* one line */
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 4);
    assert_string_equal(cJSON_GetObjectItem(j, "profile")->valuestring, "5g-sf");
    cJSON *tr = cJSON_GetObjectItem(j, "traffic");
    assert_int_equal(cJSON_GetArraySize(tr), 2);
    assert_true(cJSON_GetObjectItem(tr, "bytes")->valuedouble == 157000);
    assert_true(cJSON_GetObjectItem(tr, "hz")->valuedouble == 10);
    cJSON *rtt = cJSON_GetObjectItem(j, "rtt_ms");
    assert_int_equal(cJSON_GetArraySize(rtt), 5);
    specx_netem_rtt_summary s;
    assert_int_equal(specx_netem_simulate_traffic(p, 9, &t, &s, &err), SPECX_OK);
    const double want[5] = {s.p1_ms, s.p10_ms, s.p50_ms, s.p90_ms, s.p99_ms};
    const char *keys[5] = {"p1", "p10", "p50", "p90", "p99"};
    for (int i = 0; i < 5; i++) {
        assert_true(fabs(cJSON_GetObjectItem(rtt, keys[i])->valuedouble - want[i]) < 0.006);
    }
    assert_true(fabs(cJSON_GetObjectItem(j, "lag1_autocorr")->valuedouble - s.lag1_autocorr) <
                0.0001);
    cJSON_Delete(j);
    free(buf);

    /* Traffic that sends nothing is refused with a reason. */
    t.seconds = 0.01;
    assert_int_equal(specx_netem_simulate_traffic(p, 9, &t, &s, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "sends no request"));
    specx_netem_profile_free(p);
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "all";
    const specx_test_in_group all[] = {
        {"process", cmocka_unit_test(test_latent_process)},
        {"path", cmocka_unit_test(test_path_send)},
        {"sim", cmocka_unit_test(test_sim_api)},
        {"sim", cmocka_unit_test(test_describe_json)},
        {"sim", cmocka_unit_test(test_request_size)},
        {"reference", cmocka_unit_test(test_reference_5g_sf)},
        {"reference", cmocka_unit_test(test_reference_lte_lan)},
    };
    return specx_test_run_group(group, all, sizeof all / sizeof all[0]);
}
