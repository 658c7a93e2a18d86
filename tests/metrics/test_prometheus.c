/* test_prometheus.c — a real Prometheus scrapes the /metrics endpoint: a
 * counter set to N is read back as N through PromQL, a later increment is
 * seen after the next scrape, the target is up, and a histogram's count and
 * bucket survive the round trip. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "specx/metrics.h"

#include "prom_harness.h"

typedef struct fixture {
    specx_metrics *m;
    specx_metrics_http *http;
    prom_harness prom;
} fixture;

static int teardown(void **state)
{
    fixture *f = *state;
    prom_stop(&f->prom);
    specx_metrics_http_close(f->http);
    specx_metrics_destroy(f->m);
    return 0;
}

static void expect(prom_harness *p, const char *q, double want)
{
    char why[1024];
    if (prom_wait_value(p, q, want, 60, why, sizeof why) != 0) {
        print_error("%s\n", why);
        fail();
    }
}

static void test_scrape_roundtrip(void **state)
{
    if (!prom_available()) {
        print_message("SKIP: prometheus not found (Debian package 'prometheus', installed by "
                      "scripts/install-deps.sh)\n");
        skip();
    }
    fixture *f = *state;
    assert_int_equal(specx_metrics_create(&f->m, NULL), SPECX_OK);
    specx_counter_family *cf;
    assert_int_equal(
        specx_metrics_add_counter(f->m,
                                  &(specx_metric_desc){.name = "specx_test_requests_total",
                                                       .help = "Requests sent by the test."},
                                  &cf, NULL),
        SPECX_OK);
    static const double b[3] = {0.01, 0.1, 1};
    specx_histogram_family *hf;
    assert_int_equal(
        specx_metrics_add_histogram(f->m,
                                    &(specx_metric_desc){.name = "specx_test_latency_seconds",
                                                         .help = "Latency.",
                                                         .bounds = b,
                                                         .nbounds = 3,
                                                         .scale = 1e9},
                                    &hf, NULL),
        SPECX_OK);
    enum { N = 37 };
    specx_counter *c = specx_counter_family_get(cf, NULL);
    specx_counter_add(c, N);
    specx_histogram *h = specx_histogram_family_get(hf, NULL);
    for (int i = 0; i < N; i++) {
        specx_histogram_observe(h, i < 30 ? 5000000 : 500000000); /* 5 ms, 500 ms */
    }
    specx_err err = {{0}};
    assert_int_equal(specx_metrics_http_open(f->m, "127.0.0.1:0", &f->http, &err), SPECX_OK);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", specx_metrics_http_port(f->http));
    const char *targets[1] = {target};
    char why[1024];
    if (prom_start(&f->prom, "specx", targets, 1, 500, why, sizeof why) != 0) {
        print_error("%s\n", why);
        fail();
    }
    expect(&f->prom, "specx_test_requests_total{job=\"specx\"}", N);
    expect(&f->prom, "up{job=\"specx\"}", 1);
    expect(&f->prom, "specx_test_latency_seconds_count", N);
    expect(&f->prom, "specx_test_latency_seconds_bucket{le=\"0.01\"}", 30);
    specx_counter_add(c, 5);
    expect(&f->prom, "specx_test_requests_total", N + 5);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static fixture fx;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_scrape_roundtrip, NULL, teardown, &fx),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
