/* test_prometheus.c — a real Prometheus scrapes the /metrics endpoint: a
 * counter set to N is read back as N through PromQL, a later increment is
 * seen after the next scrape, the target is up, and a histogram's count and
 * bucket survive the round trip. Also: every query of the Grafana dashboards
 * in deploy/grafana/ is accepted by Prometheus, and every metric they use is
 * documented in docs/metrics.md. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        fail();
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* expr with the dashboard variables given values, into out. */
static void substitute(const char *expr, char *out, size_t cap)
{
    static const char *const vars[][2] = {
        {"$__rate_interval", "1m"}, {"$instance", ".*"}, {"$job", "specx"}};
    size_t n = 0;
    while (*expr != '\0' && n + 1 < cap) {
        size_t k = 0;
        for (; k < 3; k++) {
            size_t vl = strlen(vars[k][0]);
            if (strncmp(expr, vars[k][0], vl) == 0) {
                n += (size_t)snprintf(out + n, cap - n, "%s", vars[k][1]);
                expr += vl;
                break;
            }
        }
        if (k == 3) {
            out[n++] = *expr++;
        }
    }
    out[n] = '\0';
}

/* Each specx_ metric name in expr (a _bucket suffix dropped) must appear in
 * the documentation text. */
static void names_documented(const char *expr, const char *doc, const char *file)
{
    for (const char *p = strstr(expr, "specx_"); p != NULL; p = strstr(p + 1, "specx_")) {
        char name[128];
        size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        snprintf(name, sizeof name, "`%.*s`", (int)k, p);
        char *b = strstr(name, "_bucket`");
        if (b != NULL) {
            strcpy(b, "`");
        }
        if (strstr(doc, name) == NULL) {
            print_error("%s uses %s, which docs/metrics.md does not document\n", file, name);
            fail();
        }
        p += k - 1;
    }
}

static int check_exprs(prom_harness *p, const cJSON *node, const char *doc, const char *file)
{
    int n = 0;
    const cJSON *child;
    cJSON_ArrayForEach(child, node)
    {
        if (cJSON_IsString(child) && child->string != NULL && strcmp(child->string, "expr") == 0) {
            char q[2048], why[1024];
            double v;
            substitute(child->valuestring, q, sizeof q);
            if (prom_query(p, q, &v, why, sizeof why) < 0) {
                print_error("%s: Prometheus refuses '%s': %s\n", file, q, why);
                fail();
            }
            names_documented(child->valuestring, doc, file);
            n++;
        } else if (cJSON_IsObject(child) || cJSON_IsArray(child)) {
            n += check_exprs(p, child, doc, file);
        }
    }
    return n;
}

static void test_dashboards(void **state)
{
    if (!prom_available()) {
        print_message("SKIP: prometheus not found\n");
        skip();
    }
    fixture *f = *state;
    const char *src = getenv("SPECX_SOURCE_DIR");
    assert_non_null(src);
    char path[512];
    snprintf(path, sizeof path, "%s/docs/metrics.md", src);
    char *doc = slurp(path);
    const char *targets[1] = {"127.0.0.1:1"}; /* nothing to scrape: queries parse all the same */
    char why[1024];
    if (prom_start(&f->prom, "specx", targets, 1, 1000, why, sizeof why) != 0) {
        print_error("%s\n", why);
        fail();
    }
    static const char *const boards[2] = {"specx-server.json", "specx-vehicle.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/deploy/grafana/%s", src, boards[i]);
        char *text = slurp(path);
        cJSON *j = cJSON_Parse(text);
        if (j == NULL) {
            print_error("%s is not valid JSON\n", path);
            fail();
        }
        int n = check_exprs(&f->prom, j, doc, boards[i]);
        print_message("# %s: %d queries accepted\n", boards[i], n);
        assert_true(n >= 8);
        cJSON_Delete(j);
        free(text);
    }
    free(doc);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static fixture fx, fx2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_scrape_roundtrip, NULL, teardown, &fx),
        cmocka_unit_test_prestate_setup_teardown(test_dashboards, NULL, teardown, &fx2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
