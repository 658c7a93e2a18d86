/* test_netem_profile.c — netem profiles: parsing (and its errors), the
 * delay distributions as quantile functions, random streams, outage
 * schedules. No sockets. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/netem.h"

#include "netem/dist.h"
#include "netem/outage.h"
#include "netem/profile.h"
#include "netem/rng.h"

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
    expect_error("tau_ms = -1\n", SPECX_EINVAL, "must not be negative");
    expect_error("burst_gap_ms = 1\n", SPECX_EFORMAT, "'burst_gap_ms' is gone");
    expect_error("reference_traffic = request_bytes=100 hz=30\n", SPECX_EINVAL, "reply_bytes > 0");
    expect_error("reference_traffic = bytes=100\n", SPECX_EFORMAT, "not 'bytes'");
    expect_error("up.reference_traffic = hz=1\n", SPECX_EFORMAT, "cannot take an up./down.");

    specx_err err = {{0}};
    specx_netem_profile *p = NULL;
    assert_int_equal(specx_netem_profile_load("no-such-profile-or-file", &p, &err),
                     SPECX_ENOTFOUND);
    assert_null(p);
    assert_non_null(strstr(err.msg, "neither a built-in profile"));
}

/* Values that do not fit the nanosecond clock, and trace files that are
 * not files (issue 11, item 10): 1e308 ms used to become no delay at all,
 * /dev/zero an endless read. */
static void test_parse_limits(void **state)
{
    (void)state;
    expect_error("delay = const ms=1e308\n", SPECX_EINVAL, "'ms' must not be above");
    expect_error("delay = normal mean_ms=1 sd_ms=1e300\n", SPECX_EINVAL, "'sd_ms'");
    expect_error("delay = lognormal median_ms=5 sigma=400\n", SPECX_EINVAL, "'sigma'");
    expect_error("delay = quantiles p50=68 p90=1e20\n", SPECX_EINVAL, "'p90'");
    expect_error("delay = const ms=1 max_ms=1e100\n", SPECX_EINVAL, "'max_ms'");
    expect_error("tau_ms = 1e30\n", SPECX_EINVAL, "'tau_ms' must not be above");
    expect_error("rate_kbit = 1e-300\n", SPECX_EINVAL, "at least 1 kbit/s");
    expect_error("rate_mbit = 1e300\n", SPECX_EINVAL, "'rate_mbit' must not be above");
    expect_error("outage = periodic period_ms=1e300 duration_ms=1\n", SPECX_EINVAL, "'period_ms'");
    expect_error("reference_traffic = request_bytes=1e300 reply_bytes=1 hz=1\n", SPECX_EINVAL,
                 "'request_bytes'");
    expect_error("reference_traffic = request_bytes=1 reply_bytes=1 hz=1e300\n", SPECX_EINVAL,
                 "'hz'");
    expect_error("target_rtt_ms = p50=1e300\n", SPECX_EINVAL, "'p50'");
    expect_error("delay = trace file=/dev/zero\n", SPECX_EINVAL, "not a regular file");
    expect_error("delay = trace file=/dev/null\n", SPECX_EINVAL, "not a regular file");
    /* a trace with a NUL byte, and one with an RTT past the clock */
    char path[] = "/tmp/specx-trace-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "10\n20\0\n30\n", 9), 9);
    close(fd);
    char text[200];
    snprintf(text, sizeof text, "delay = trace file=%s\n", path);
    expect_error(text, SPECX_EFORMAT, "NUL byte");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("10\n1e300\n", f);
    fclose(f);
    expect_error(text, SPECX_EFORMAT, "line 2: not an RTT in ms");
    unlink(path);
    /* and a profile that is a FIFO is refused without blocking */
    char fifo[] = "/tmp/specx-prof-fifo-XXXXXX";
    assert_non_null(mkdtemp(fifo));
    char fp[64];
    snprintf(fp, sizeof fp, "%s/p", fifo);
    assert_int_equal(mkfifo(fp, 0600), 0);
    specx_err err = {{0}};
    specx_netem_profile *p = NULL;
    assert_int_equal(specx_netem_profile_load(fp, &p, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    unlink(fp);
    rmdir(fifo);
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
          "tau_ms = 50\n"
          "down.tau_ms = 0\n"
          "reference_traffic = request_bytes=1000 reply_bytes=100 hz=10 seconds=60\n"
          "target_rtt_ms = p50=60 p95=110\n",
          f);
    fclose(f);

    specx_err err = {{0}};
    specx_netem_profile *p = NULL;
    assert_int_equal(specx_netem_profile_load(prof, &p, &err), SPECX_OK);
    assert_string_equal(specx_netem_profile_name(p), "custom");
    const sx_netem_dir_cfg *up = &p->dir[SPECX_NETEM_UP], *down = &p->dir[SPECX_NETEM_DOWN];
    assert_int_equal(up->delay.kind, SX_NETEM_DIST_TRACE);
    assert_int_equal(up->delay.ntrace, 3);
    assert_true(up->rate_bps == 10e6);
    assert_true(down->rate_bps == 500e3);
    assert_int_equal(up->outage.kind, SX_NETEM_OUTAGE_RANDOM);
    assert_int_equal(down->outage.kind, SX_NETEM_OUTAGE_RANDOM);
    assert_true(up->outage.exp_duration);
    assert_true(up->tau_ms == 50.0 && down->tau_ms == 0.0);
    const specx_netem_traffic *ref = specx_netem_profile_reference(p);
    assert_non_null(ref);
    assert_int_equal(ref->request_bytes, 1000);
    assert_int_equal(ref->reply_bytes, 100);
    assert_true(ref->hz == 10.0 && ref->seconds == 60.0);
    assert_int_equal(p->ntargets, 2);

    /* The trace is a quantile table of RTT/2: its three samples each cover a
     * third of the scores; lognormal values respect max_ms. */
    assert_true(sx_netem_dist_at(&up->delay, -1.0) == 20.0);  /* Φ = 0.16 */
    assert_true(sx_netem_dist_at(&up->delay, 0.0) == 30.0);   /* Φ = 0.5 */
    assert_true(sx_netem_dist_at(&up->delay, 1.0) == 50.0);   /* Φ = 0.84 */
    assert_true(sx_netem_dist_at(&up->delay, 40.0) == 50.0);  /* Φ → 1 */
    assert_true(sx_netem_dist_at(&down->delay, 0.0) == 5.0);  /* the median */
    assert_true(sx_netem_dist_at(&down->delay, 10.0) == 9.0); /* clamped */

    /* describe simulates the reference traffic and lists the targets. */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_int_equal(specx_netem_profile_describe(p, 1, NULL, false, m, &err), SPECX_OK);
    fclose(m);
    assert_non_null(strstr(buf, "profile custom"));
    assert_non_null(strstr(buf, "(600 requests)"));
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

static void test_distributions(void **state)
{
    (void)state;
    /* Every kind is a quantile function of the score z. */
    specx_netem_profile *p = NULL;
    specx_err err;
    assert_int_equal(specx_netem_profile_parse("up.delay = quantiles p10=20 p50=68 p90=336\n"
                                               "down.delay = lognormal median_ms=10 sigma=0.5\n",
                                               "t", NULL, &p, &err),
                     SPECX_OK);
    const sx_netem_dist *q = &p->dir[SPECX_NETEM_UP].delay;
    const sx_netem_dist *ln = &p->dir[SPECX_NETEM_DOWN].delay;
    assert_true(fabs(sx_netem_dist_at(q, 0.0) - 68.0) < 1e-9);
    assert_true(fabs(sx_netem_dist_at(q, sx_netem_probit(0.9)) - 336.0) < 1e-6);
    assert_true(fabs(sx_netem_dist_at(q, sx_netem_probit(0.1)) - 20.0) < 1e-6);
    /* Beyond the last knot the last segment's slope carries on. */
    double slope = log(336.0 / 68.0) / sx_netem_probit(0.9);
    assert_true(fabs(log(sx_netem_dist_at(q, 2.0)) - (log(68.0) + 2.0 * slope)) < 1e-9);
    assert_true(fabs(sx_netem_dist_at(ln, 1.0) - 10.0 * exp(0.5)) < 1e-9);
    for (double z = -3; z < 3; z += 0.25) { /* nondecreasing in z */
        assert_true(sx_netem_dist_at(q, z + 0.25) >= sx_netem_dist_at(q, z));
    }
    assert_false(sx_netem_dist_is_fixed(q));
    specx_netem_profile_free(p);

    /* Built-ins all load, name themselves and carry reference traffic. */
    const char *const *names = specx_netem_builtin_names();
    int count = 0;
    for (; names[count]; count++) {
        assert_int_equal(specx_netem_profile_load(names[count], &p, &err), SPECX_OK);
        assert_string_equal(specx_netem_profile_name(p), names[count]);
        if (strcmp(names[count], "none") != 0) {
            assert_non_null(specx_netem_profile_reference(p));
            assert_true(p->ntargets >= 3);
        }
        specx_netem_profile_free(p);
    }
    assert_true(count >= 4);
}

static void test_streams(void **state)
{
    (void)state;
    /* Same (seed, stream) → same draws; another stream → others. */
    sx_netem_rng r1, r2, r3, r4;
    sx_netem_rng_seed(&r1, 9, SX_NETEM_STREAM_DELAY(SPECX_NETEM_UP));
    sx_netem_rng_seed(&r2, 9, SX_NETEM_STREAM_DELAY(SPECX_NETEM_UP));
    sx_netem_rng_seed(&r3, 9, SX_NETEM_STREAM_DELAY(SPECX_NETEM_DOWN));
    sx_netem_rng_seed(&r4, 10, SX_NETEM_STREAM_DELAY(SPECX_NETEM_UP));
    int same = 0, d3 = 0, d4 = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x1 = sx_netem_rng_next(&r1), x2 = sx_netem_rng_next(&r2);
        same += x1 == x2;
        d3 += x1 != sx_netem_rng_next(&r3);
        d4 += x1 != sx_netem_rng_next(&r4);
    }
    assert_int_equal(same, 100);
    assert_int_equal(d3, 100);
    assert_int_equal(d4, 100);

    /* Normal draws have the right first two moments. */
    sx_netem_rng_seed(&r1, 1, 0);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double z = sx_netem_rng_normal(&r1);
        s += z;
        s2 += z * z;
    }
    assert_true(s / 100000 > -0.02 && s / 100000 < 0.02);
    assert_true(s2 / 100000 > 0.97 && s2 / 100000 < 1.03);
    assert_true(sx_netem_probit(0.5) > -1e-9 && sx_netem_probit(0.5) < 1e-9);
    assert_true(sx_netem_probit(0.99) > 2.3263 && sx_netem_probit(0.99) < 2.3264);
    assert_true(fabs(sx_netem_normal_cdf(sx_netem_probit(0.9)) - 0.9) < 1e-12);
}

static void test_outage_schedules(void **state)
{
    (void)state;
    const int64_t ms = 1000000;
    sx_netem_outage_cfg per = {
        .kind = SX_NETEM_OUTAGE_PERIODIC, .period_ms = 1000, .duration_ms = 200, .offset_ms = 100};
    sx_netem_outage s;
    sx_netem_outage_init(&s, &per, 0, 1);
    assert_int_equal(sx_netem_outage_adjust(&s, 50 * ms), 50 * ms);     /* before the first */
    assert_int_equal(sx_netem_outage_adjust(&s, 150 * ms), 300 * ms);   /* inside: to its end */
    assert_int_equal(sx_netem_outage_adjust(&s, 300 * ms), 300 * ms);   /* end is open */
    assert_int_equal(sx_netem_outage_adjust(&s, 1100 * ms), 1300 * ms); /* second period */
    assert_int_equal(sx_netem_outage_elapsed(&s, 2150 * ms), 450 * ms); /* 200+200+50 */
    sx_netem_outage_clear(&s);

    /* Random: same seed → same intervals; elapsed equals the sum of the
     * generated intervals, also after pruning. */
    sx_netem_outage_cfg rnd = {
        .kind = SX_NETEM_OUTAGE_RANDOM, .mean_interval_ms = 500, .duration_ms = 100};
    sx_netem_outage a, b;
    sx_netem_outage_init(&a, &rnd, 0, 77);
    sx_netem_outage_init(&b, &rnd, 0, 77);
    int64_t t_end = 20000 * ms;
    int hits = 0;
    for (int64_t t = 0; t < t_end; t += 7 * ms) {
        specx_time_t x = sx_netem_outage_adjust(&a, t);
        assert_int_equal(x, sx_netem_outage_adjust(&b, t));
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
    assert_int_equal(sx_netem_outage_elapsed(&a, t_end), total);
    sx_netem_outage_prune(&a, t_end / 2);
    assert_int_equal(sx_netem_outage_elapsed(&a, t_end), total);
    sx_netem_outage c;
    sx_netem_outage_init(&c, &rnd, 0, 78);
    assert_true(sx_netem_outage_elapsed(&c, t_end) != total);
    sx_netem_outage_clear(&a);
    sx_netem_outage_clear(&b);
    sx_netem_outage_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_parse_full_file), cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_streams),         cmocka_unit_test(test_outage_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
