/* test_netem_profile.c — netem profiles: parsing (and its errors), built-in
 * fits, deterministic sampling, outage schedules. No sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/netem.h"

#include "netem_internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void expect_error(const char *text, specx_status want, const char *needle)
{
    specx_err err = {{0}};
    specx_netem_profile *p = (specx_netem_profile *)0x1;
    specx_status st = specx_netem_profile_parse(text, "t.prof", NULL, &p, &err);
    if (st != want || strstr(err.msg, needle) == NULL) {
        fprintf(stderr, "text: %s\nstatus %d (want %d), message: %s (want '%s')\n", text, st, want,
                err.msg, needle);
    }
    assert_int_equal(st, want);
    assert_null(p);
    assert_non_null(strstr(err.msg, needle));
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("bogus = 1\n", SPECX_EFORMAT, "t.prof:1: unknown key 'bogus'");
    expect_error("# c\n\nrate_mbit = fast\n", SPECX_EFORMAT, "t.prof:3:");
    expect_error("delay = weibull k=1\n", SPECX_EFORMAT, "unknown delay kind 'weibull'");
    expect_error("delay = const\nup.delay = normal mean_ms=1 sdev=2\n", SPECX_EFORMAT,
                 "t.prof:2: unknown delay parameter 'sdev'");
    expect_error("delay = quantiles p50=68 p10=336\n", SPECX_EINVAL, "increasing order");
    expect_error("delay = quantiles p50=68\n", SPECX_EINVAL, "at least two");
    expect_error("delay = quantiles p100=3\n", SPECX_EFORMAT, "pNN");
    expect_error("delay = lognormal sigma=1\n", SPECX_EINVAL, "median_ms > 0");
    expect_error("delay = const ms=-3\n", SPECX_EINVAL, "must not be negative");
    expect_error("delay = trace\n", SPECX_EINVAL, "file=PATH");
    expect_error("delay = trace file=/nonexistent/rtt.txt\n", SPECX_ENOTFOUND,
                 "cannot open trace file");
    expect_error("outage = periodic period_ms=100 duration_ms=200\n", SPECX_EINVAL,
                 "period_ms > duration_ms");
    expect_error("outage = random duration_ms=200\n", SPECX_EINVAL, "mean_interval_ms > 0");
    expect_error("outage = sometimes\n", SPECX_EFORMAT, "unknown outage kind");
    expect_error("up.name = x\n", SPECX_EFORMAT, "cannot take an up./down. prefix");
    expect_error("delay const ms=1\n", SPECX_EFORMAT, "expected 'key = value'");
    expect_error("delay = const ms\n", SPECX_EFORMAT, "expected key=value");
    expect_error("target_rtt_ms = median=3\n", SPECX_EFORMAT, "pNN");

    specx_err err = {{0}};
    specx_netem_profile *p = NULL;
    assert_int_equal(specx_netem_profile_load("no-such-profile-or-file", &p, &err),
                     SPECX_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(err.msg, "neither a built-in profile"));
}

static void test_parse_full_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/specx_netem_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char trace[256], prof[256];
    snprintf(trace, sizeof trace, "%s/rtt.txt", dir);
    snprintf(prof, sizeof prof, "%s/my.prof", dir);
    FILE *f = fopen(trace, "w");
    assert_non_null(f);
    fputs("# RTT samples in ms\n40\n60\n100, extra column\n\n", f);
    fclose(f);
    f = fopen(prof, "w");
    assert_non_null(f);
    fputs("name = custom  # a comment\n"
          "up.delay = trace file=rtt.txt\n"
          "down.delay = lognormal median_ms=5 sigma=0.2 max_ms=9\n"
          "up.rate_mbit = 10\n"
          "down.rate_kbit = 500\n"
          "outage = random mean_interval_ms=1000 duration_ms=50 duration=exp\n"
          "burst_gap_ms = 2\n"
          "describe_bytes = up=1000 down=100\n"
          "target_rtt_ms = p50=60 p95=110\n",
          f);
    fclose(f);

    specx_err err = {{0}};
    specx_netem_profile *p = NULL;
    assert_int_equal(specx_netem_profile_load(prof, &p, &err), SPECX_OK);
    assert_string_equal(specx_netem_profile_name(p), "custom");
    const nx_dir_cfg *up = &p->dir[SPECX_NETEM_UP], *down = &p->dir[SPECX_NETEM_DOWN];
    assert_int_equal(up->delay.kind, NX_DIST_TRACE);
    assert_int_equal(up->delay.ntrace, 3);
    assert_true(up->rate_bps == 10e6);
    assert_true(down->rate_bps == 500e3);
    assert_int_equal(up->outage.kind, NX_OUTAGE_RANDOM);
    assert_int_equal(down->outage.kind, NX_OUTAGE_RANDOM);
    assert_true(up->outage.exp_duration);
    assert_true(p->burst_gap_ms == 2.0);
    assert_int_equal(p->describe_bytes[0], 1000);
    assert_int_equal(p->ntargets, 2);

    /* Trace draws are RTT/2 of the listed samples; lognormal draws respect max. */
    nx_rng r;
    nx_rng_seed(&r, 5, 0);
    int seen[3] = {0};
    for (int i = 0; i < 300; i++) {
        double v = nx_dist_sample_ms(&up->delay, &r);
        assert_true(v == 20.0 || v == 30.0 || v == 50.0);
        seen[v == 20.0 ? 0 : v == 30.0 ? 1 : 2]++;
        double w = nx_dist_sample_ms(&down->delay, &r);
        assert_true(w > 0 && w <= 9.0);
    }
    assert_true(seen[0] > 50 && seen[1] > 50 && seen[2] > 50);

    /* Round trip: one-way draws plus serialisation (1000 B at 10 Mbit/s =
     * 0.8 ms, 100 B at 500 kbit/s = 1.6 ms). */
    double rtt[50];
    assert_int_equal(specx_netem_profile_sample_rtt(p, 3, 1000, 100, rtt, 50, &err), SPECX_OK);
    for (int i = 0; i < 50; i++) {
        assert_true(rtt[i] >= 20.0 + 0.8 + 1.6 - 1e-9);
        assert_true(rtt[i] <= 50.0 + 9.0 + 0.8 + 1.6 + 1e-9);
    }

    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_int_equal(specx_netem_profile_describe(p, 1, 1000, m, &err), SPECX_OK);
    fclose(m);
    assert_non_null(strstr(buf, "profile custom"));
    assert_non_null(strstr(buf, "p95"));
    assert_non_null(strstr(buf, "110.0")); /* the target is listed */
    free(buf);

    specx_netem_profile_free(p);
    /* A trace file with a bad line is rejected with its line number. */
    f = fopen(trace, "w");
    assert_non_null(f);
    fputs("40\nabc\n", f);
    fclose(f);
    assert_int_equal(specx_netem_profile_load(prof, &p, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "line 2"));
    unlink(trace);
    unlink(prof);
    rmdir(dir);
}

static void quantiles_of(const specx_netem_profile *p, uint64_t seed, size_t n, double *q50,
                         double *q90, double *q99)
{
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    specx_err err;
    assert_int_equal(specx_netem_profile_sample_rtt(p, seed, p->describe_bytes[0],
                                                    p->describe_bytes[1], v, n, &err),
                     SPECX_OK);
    qsort(v, n, sizeof *v, cmp_double);
    *q50 = v[n / 2];
    *q90 = v[n * 90 / 100];
    *q99 = v[n * 99 / 100];
    free(v);
}

static void test_builtins_fit(void **state)
{
    (void)state;
    const char *const *names = specx_netem_builtin_names();
    int count = 0;
    for (; names[count]; count++) {
        specx_netem_profile *p = NULL;
        specx_err err = {{0}};
        assert_int_equal(specx_netem_profile_load(names[count], &p, &err), SPECX_OK);
        assert_string_equal(specx_netem_profile_name(p), names[count]);
        specx_netem_profile_free(p);
    }
    assert_true(count >= 3);

    /* 5g-sf reproduces the paper's 68 / 336 / 3027 ms RTT quantiles. */
    specx_netem_profile *p = NULL;
    specx_err err;
    assert_int_equal(specx_netem_profile_load("5g-sf", &p, &err), SPECX_OK);
    double q50, q90, q99;
    quantiles_of(p, 11, 400000, &q50, &q90, &q99);
    assert_true(q50 > 68 * 0.97 && q50 < 68 * 1.03);
    assert_true(q90 > 336 * 0.95 && q90 < 336 * 1.05);
    assert_true(q99 > 3027 * 0.92 && q99 < 3027 * 1.08);
    specx_netem_profile_free(p);

    /* lan is about a millisecond; lte's 33.3 KB frame pays the 8 Mbit/s uplink. */
    assert_int_equal(specx_netem_profile_load("lan", &p, &err), SPECX_OK);
    quantiles_of(p, 11, 20000, &q50, &q90, &q99);
    assert_true(q50 > 0.8 && q50 < 1.6);
    specx_netem_profile_free(p);
    assert_int_equal(specx_netem_profile_load("lte", &p, &err), SPECX_OK);
    quantiles_of(p, 11, 20000, &q50, &q90, &q99);
    assert_true(q50 > 44 + 33 && q50 < 90);
    specx_netem_profile_free(p);
}

static void test_deterministic_sampling(void **state)
{
    (void)state;
    specx_netem_profile *p = NULL;
    specx_err err;
    assert_int_equal(specx_netem_profile_load("5g-sf", &p, &err), SPECX_OK);
    double a[256], b[256], c[256];
    assert_int_equal(specx_netem_profile_sample_rtt(p, 42, 0, 0, a, 256, &err), SPECX_OK);
    assert_int_equal(specx_netem_profile_sample_rtt(p, 42, 0, 0, b, 256, &err), SPECX_OK);
    assert_int_equal(specx_netem_profile_sample_rtt(p, 43, 0, 0, c, 256, &err), SPECX_OK);
    assert_memory_equal(a, b, sizeof a);
    int differ = 0;
    for (int i = 0; i < 256; i++) {
        differ += a[i] != c[i];
    }
    assert_true(differ > 200);
    specx_netem_profile_free(p);

    /* Per-connection streams: same (seed, conn, dir) → same draws; another
     * connection or direction → another stream. */
    nx_rng r1, r2, r3, r4;
    nx_rng_seed(&r1, 9, NX_STREAM_CONN(3, SPECX_NETEM_UP));
    nx_rng_seed(&r2, 9, NX_STREAM_CONN(3, SPECX_NETEM_UP));
    nx_rng_seed(&r3, 9, NX_STREAM_CONN(4, SPECX_NETEM_UP));
    nx_rng_seed(&r4, 9, NX_STREAM_CONN(3, SPECX_NETEM_DOWN));
    int same = 0, d3 = 0, d4 = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x1 = nx_rng_next(&r1), x2 = nx_rng_next(&r2);
        same += x1 == x2;
        d3 += x1 != nx_rng_next(&r3);
        d4 += x1 != nx_rng_next(&r4);
    }
    assert_int_equal(same, 100);
    assert_int_equal(d3, 100);
    assert_int_equal(d4, 100);

    /* Normal draws have the right first two moments. */
    nx_rng_seed(&r1, 1, 0);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double z = nx_rng_normal(&r1);
        s += z;
        s2 += z * z;
    }
    assert_true(s / 100000 > -0.02 && s / 100000 < 0.02);
    assert_true(s2 / 100000 > 0.97 && s2 / 100000 < 1.03);
    assert_true(nx_probit(0.5) > -1e-9 && nx_probit(0.5) < 1e-9);
    assert_true(nx_probit(0.99) > 2.3263 && nx_probit(0.99) < 2.3264);
}

static void test_outage_schedules(void **state)
{
    (void)state;
    const int64_t ms = 1000000;
    nx_outage_cfg per = {
        .kind = NX_OUTAGE_PERIODIC, .period_ms = 1000, .duration_ms = 200, .offset_ms = 100};
    nx_outage_sched s;
    nx_outage_init(&s, &per, 0, 1);
    assert_int_equal(nx_outage_adjust(&s, 50 * ms), 50 * ms);     /* before the first */
    assert_int_equal(nx_outage_adjust(&s, 150 * ms), 300 * ms);   /* inside: to its end */
    assert_int_equal(nx_outage_adjust(&s, 300 * ms), 300 * ms);   /* end is open */
    assert_int_equal(nx_outage_adjust(&s, 1100 * ms), 1300 * ms); /* second period */
    assert_int_equal(nx_outage_elapsed(&s, 2150 * ms), 450 * ms); /* 200+200+50 */
    nx_outage_free(&s);

    /* Random: same seed → same intervals; elapsed equals the sum of the
     * generated intervals, also after pruning. */
    nx_outage_cfg rnd = {.kind = NX_OUTAGE_RANDOM, .mean_interval_ms = 500, .duration_ms = 100};
    nx_outage_sched a, b;
    nx_outage_init(&a, &rnd, 0, 77);
    nx_outage_init(&b, &rnd, 0, 77);
    int64_t t_end = 20000 * ms;
    int hits = 0;
    for (int64_t t = 0; t < t_end; t += 7 * ms) {
        specx_time_t x = nx_outage_adjust(&a, t);
        assert_int_equal(x, nx_outage_adjust(&b, t));
        assert_true(x >= t && x <= t + 100 * ms);
        hits += x != t;
    }
    /* ~ 20 s / 600 ms ≈ 33 outages of 100 ms → ~ 1/6 of probes inside. */
    assert_true(hits > 200 && hits < 900);
    int64_t total = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (a.start[i] < t_end) {
            total += (a.end[i] < t_end ? a.end[i] : t_end) - a.start[i];
        }
    }
    assert_int_equal(nx_outage_elapsed(&a, t_end), total);
    nx_outage_prune(&a, t_end / 2);
    assert_int_equal(nx_outage_elapsed(&a, t_end), total);
    nx_outage_sched c;
    nx_outage_init(&c, &rnd, 0, 78);
    assert_true(nx_outage_elapsed(&c, t_end) != total);
    nx_outage_free(&a);
    nx_outage_free(&b);
    nx_outage_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),     cmocka_unit_test(test_parse_full_file),
        cmocka_unit_test(test_builtins_fit),     cmocka_unit_test(test_deterministic_sampling),
        cmocka_unit_test(test_outage_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
