/* test_metrics.c — the registry: exact exposition text (types, labels,
 * escaping, order), histogram bucket edges, name and bound checks, the
 * series limit and its refusal counter, collectors, and updates from
 * several threads adding up. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "specx/metrics.h"

static char *render(specx_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    specx_err err = {{0}};
    assert_int_equal(specx_metrics_render(m, &text, &len, &err), SPECX_OK);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The text of the registry without the registry's own refusal family. */
static char *render_user(specx_metrics *m)
{
    char *text = render(m);
    char *own = strstr(text, "# HELP specx_metrics_label_sets_refused_total");
    assert_non_null(own);
    char *end = strstr(own, "counter\n");
    assert_non_null(end);
    end += strlen("counter\n");
    while (strncmp(end, "specx_metrics_label_sets_refused_total", 38) == 0) {
        end = strchr(end, '\n') + 1;
    }
    memmove(own, end, strlen(end) + 1);
    return text;
}

static void test_exact_text(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const lab[2] = {"method", "code"};
    specx_counter_family *req;
    specx_metric_desc d = {.name = "specx_requests_total",
                           .help = "Requests by method and \\ status\nsecond line",
                           .labels = lab,
                           .nlabels = 2};
    assert_int_equal(specx_metrics_add_counter(m, &d, &req, NULL), SPECX_OK);
    specx_gauge_family *depth;
    specx_metric_desc g = {.name = "specx_queue_depth", .help = "Queued requests."};
    assert_int_equal(specx_metrics_add_gauge(m, &g, &depth, NULL), SPECX_OK);
    static const double b[3] = {0.005, 0.1, 1};
    specx_histogram_family *lat;
    specx_metric_desc h = {.name = "specx_wait_seconds",
                           .help = "Queue wait.",
                           .bounds = b,
                           .nbounds = 3,
                           .scale = 1e9};
    assert_int_equal(specx_metrics_add_histogram(m, &h, &lat, NULL), SPECX_OK);

    /* created out of order: rendering sorts them */
    specx_counter_add(specx_counter_family_get(req, (const char *[]){"Detect", "OK"}), 5);
    specx_counter_inc(specx_counter_family_get(req, (const char *[]){"Detect", "a\"b\\c\nd"}));
    specx_counter_add(specx_counter_family_get(req, (const char *[]){"Cancel", "OK"}), 2);
    specx_gauge_set(specx_gauge_family_get(depth, NULL), 3.5);
    specx_histogram *w = specx_histogram_family_get(lat, NULL);
    specx_histogram_observe(w, 5000000);    /* 0.005 s: on the edge, counts in le=0.005 */
    specx_histogram_observe(w, 5000001);    /* just above */
    specx_histogram_observe(w, 2000000000); /* 2 s: only +Inf */
    specx_histogram_observe(w, -7);         /* counts as 0 */

    char *text = render_user(m);
    const char *want = "# HELP specx_queue_depth Queued requests.\n"
                       "# TYPE specx_queue_depth gauge\n"
                       "specx_queue_depth 3.5\n"
                       "# HELP specx_requests_total Requests by method and \\\\ status\\nsecond "
                       "line\n"
                       "# TYPE specx_requests_total counter\n"
                       "specx_requests_total{method=\"Cancel\",code=\"OK\"} 2\n"
                       "specx_requests_total{method=\"Detect\",code=\"OK\"} 5\n"
                       "specx_requests_total{method=\"Detect\",code=\"a\\\"b\\\\c\\nd\"} 1\n"
                       "# HELP specx_wait_seconds Queue wait.\n"
                       "# TYPE specx_wait_seconds histogram\n"
                       "specx_wait_seconds_bucket{le=\"0.005\"} 2\n"
                       "specx_wait_seconds_bucket{le=\"0.1\"} 3\n"
                       "specx_wait_seconds_bucket{le=\"1\"} 3\n"
                       "specx_wait_seconds_bucket{le=\"+Inf\"} 4\n"
                       "specx_wait_seconds_sum 2.010000001\n"
                       "specx_wait_seconds_count 4\n";
    assert_string_equal(text, want);
    assert_int_equal(specx_histogram_count(w), 4);
    assert_true(fabs(specx_histogram_sum(w) - 2.010000001) < 1e-12);
    specx_metrics_text_free(text);
    specx_metrics_destroy(m);
}

static void test_labelled_histogram_and_specials(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const lab[1] = {"executor"};
    static const double b[2] = {1024, 65536};
    specx_histogram_family *hf;
    specx_metric_desc d = {.name = "specx_payload_bytes",
                           .help = "Payload size.",
                           .labels = lab,
                           .nlabels = 1,
                           .bounds = b,
                           .nbounds = 2};
    assert_int_equal(specx_metrics_add_histogram(m, &d, &hf, NULL), SPECX_OK);
    specx_histogram_observe(specx_histogram_family_get(hf, (const char *[]){"local"}), 100);
    specx_gauge_family *gf;
    specx_metric_desc g = {.name = "specx_ratio", .help = "A ratio."};
    assert_int_equal(specx_metrics_add_gauge(m, &g, &gf, NULL), SPECX_OK);
    specx_gauge *gg = specx_gauge_family_get(gf, NULL);
    specx_gauge_set(gg, INFINITY);
    char *text = render_user(m);
    assert_non_null(strstr(text, "specx_payload_bytes_bucket{executor=\"local\",le=\"1024\"} 1\n"
                                 "specx_payload_bytes_bucket{executor=\"local\",le=\"65536\"} 1\n"
                                 "specx_payload_bytes_bucket{executor=\"local\",le=\"+Inf\"} 1\n"
                                 "specx_payload_bytes_sum{executor=\"local\"} 100\n"
                                 "specx_payload_bytes_count{executor=\"local\"} 1\n"));
    assert_non_null(strstr(text, "specx_ratio +Inf\n"));
    specx_metrics_text_free(text);
    specx_gauge_set(gg, 0.1);
    specx_gauge_add(gg, 0.2);
    specx_gauge_add(gg, -1);
    assert_true(fabs(specx_gauge_value(gg) - (0.1 + 0.2 - 1)) < 1e-15);
    text = render_user(m);
    assert_non_null(strstr(text, "specx_ratio -0.7\n"));
    specx_metrics_text_free(text);
    specx_metrics_destroy(m);
}

static void expect_refused(specx_metrics *m, specx_metric_desc *d, int kind, const char *why)
{
    specx_err err = {{0}};
    void *f = NULL;
    specx_status st = kind == 0 ? specx_metrics_add_counter(m, d, (specx_counter_family **)&f, &err)
                      : kind == 1
                          ? specx_metrics_add_gauge(m, d, (specx_gauge_family **)&f, &err)
                          : specx_metrics_add_histogram(m, d, (specx_histogram_family **)&f, &err);
    if (st != SPECX_EINVAL || strstr(err.msg, why) == NULL) {
        print_error("name '%s': status %d, message '%s', want '%s'\n", d->name, st, err.msg, why);
        fail();
    }
}

static void test_registration_checks(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const le[1] = {"le"};
    static const char *const dunder[1] = {"__x"};
    static const char *const twice[2] = {"a", "a"};
    static const double dec[2] = {1, 0.5};
    static const double same[2] = {1e-10, 2e-10};
    expect_refused(m, &(specx_metric_desc){.name = "requests", .help = "h"}, 0, "_total");
    expect_refused(m, &(specx_metric_desc){.name = "9lives", .help = "h"}, 1, "bad metric name");
    expect_refused(m, &(specx_metric_desc){.name = "a-b", .help = "h"}, 1, "bad metric name");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = ""}, 1, "help");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h", .labels = le, .nlabels = 1}, 1,
                   "bad label name 'le'");
    expect_refused(m,
                   &(specx_metric_desc){.name = "x", .help = "h", .labels = dunder, .nlabels = 1},
                   1, "bad label name");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h", .labels = twice, .nlabels = 2},
                   1, "twice");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h", .nlabels = 5}, 1, "at most");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h"}, 2, "bounds");
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h", .bounds = dec, .nbounds = 2},
                   2, "strictly increasing");
    expect_refused(
        m,
        &(specx_metric_desc){.name = "x", .help = "h", .bounds = same, .nbounds = 2, .scale = 1e9},
        2, "equal in observed units");
    specx_gauge_family *g;
    assert_int_equal(
        specx_metrics_add_gauge(m, &(specx_metric_desc){.name = "x", .help = "h"}, &g, NULL),
        SPECX_OK);
    expect_refused(m, &(specx_metric_desc){.name = "x", .help = "h"}, 1, "already registered");
    specx_metrics_destroy(m);
}

static void test_series_limit(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const lab[1] = {"client"};
    specx_counter_family *f;
    specx_metric_desc d = {.name = "specx_client_requests_total",
                           .help = "Per client.",
                           .labels = lab,
                           .nlabels = 1,
                           .max_series = 3};
    assert_int_equal(specx_metrics_add_counter(m, &d, &f, NULL), SPECX_OK);
    specx_counter *kept[3];
    char name[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "v%d", i);
        kept[i] = specx_counter_family_get(f, (const char *[]){name});
        specx_counter_add(kept[i], (uint64_t)i + 1);
    }
    /* the same set again is the same series */
    assert_ptr_equal(specx_counter_family_get(f, (const char *[]){"v1"}), kept[1]);
    specx_counter *over = specx_counter_family_get(f, (const char *[]){"v3"});
    assert_non_null(over);
    for (int i = 0; i < 3; i++) {
        assert_ptr_not_equal(over, kept[i]);
    }
    specx_counter_add(over, 100); /* accepted, never exported */
    (void)specx_counter_family_get(f, (const char *[]){"v4"});
    char longv[SPECX_METRICS_MAX_LABEL_VALUE + 2];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    (void)specx_counter_family_get(f, (const char *[]){longv});

    char *text = render(m);
    assert_non_null(strstr(text, "specx_client_requests_total{client=\"v0\"} 1\n"
                                 "specx_client_requests_total{client=\"v1\"} 2\n"
                                 "specx_client_requests_total{client=\"v2\"} 3\n"));
    assert_null(strstr(text, "v3"));
    assert_null(strstr(text, " 100\n"));
    assert_non_null(strstr(
        text,
        "specx_metrics_label_sets_refused_total{metric=\"specx_client_requests_total\"} 3\n"));
    specx_metrics_text_free(text);
    specx_metrics_destroy(m);
}

typedef struct collected {
    specx_gauge *g;
    int calls;
} collected;

static void collect(void *arg)
{
    collected *c = arg;
    c->calls++;
    specx_gauge_set(c->g, c->calls * 10.0);
}

static void test_collector(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    specx_gauge_family *gf;
    assert_int_equal(
        specx_metrics_add_gauge(m, &(specx_metric_desc){.name = "specx_depth", .help = "Depth."},
                                &gf, NULL),
        SPECX_OK);
    collected c = {.g = specx_gauge_family_get(gf, NULL)};
    assert_int_equal(specx_metrics_add_collector(m, collect, &c, NULL), SPECX_OK);
    char *t1 = render(m);
    char *t2 = render(m);
    assert_int_equal(c.calls, 2);
    assert_non_null(strstr(t1, "specx_depth 10\n"));
    assert_non_null(strstr(t2, "specx_depth 20\n"));
    specx_metrics_remove_collector(m, collect, &c);
    specx_metrics_remove_collector(m, collect, &c); /* unknown now: no-op */
    char *t3 = render(m);
    assert_int_equal(c.calls, 2);
    assert_non_null(strstr(t3, "specx_depth 20\n"));
    specx_metrics_text_free(t1);
    specx_metrics_text_free(t2);
    specx_metrics_text_free(t3);
    specx_metrics_destroy(m);
}

enum { THREADS = 4, PER_THREAD = 50000 };

typedef struct worker {
    specx_counter_family *cf;
    specx_histogram_family *hf;
    specx_gauge *g;
    int id;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    static const char *const names[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < PER_THREAD; i++) {
        /* lookups race with creation of the same four sets from other threads */
        specx_counter_inc(specx_counter_family_get(w->cf, (const char *[]){names[i % 4]}));
        specx_histogram_observe(specx_histogram_family_get(w->hf, NULL), i % 3);
        specx_gauge_add(w->g, 1);
    }
    return NULL;
}

static void test_threads_add_up(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const lab[1] = {"k"};
    static const double b[2] = {0.5, 1.5};
    specx_counter_family *cf;
    specx_histogram_family *hf;
    specx_gauge_family *gf;
    assert_int_equal(
        specx_metrics_add_counter(
            m,
            &(specx_metric_desc){.name = "specx_t_total", .help = "h", .labels = lab, .nlabels = 1},
            &cf, NULL),
        SPECX_OK);
    assert_int_equal(
        specx_metrics_add_histogram(
            m,
            &(specx_metric_desc){.name = "specx_t_seconds", .help = "h", .bounds = b, .nbounds = 2},
            &hf, NULL),
        SPECX_OK);
    assert_int_equal(
        specx_metrics_add_gauge(m, &(specx_metric_desc){.name = "specx_t", .help = "h"}, &gf, NULL),
        SPECX_OK);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){cf, hf, specx_gauge_family_get(gf, NULL), i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 20; i++) { /* scrapes while updating */
        specx_metrics_text_free(render(m));
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    uint64_t total = 0;
    static const char *const names[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        uint64_t v = specx_counter_value(specx_counter_family_get(cf, (const char *[]){names[i]}));
        assert_int_equal(v, THREADS * PER_THREAD / 4);
        total += v;
    }
    assert_int_equal(total, THREADS * PER_THREAD);
    specx_histogram *h = specx_histogram_family_get(hf, NULL);
    assert_int_equal(specx_histogram_count(h), THREADS * PER_THREAD);
    char *text = render(m);
    /* i % 3 in {0,1,2}: thirds land in le=0.5 (0), le=1.5 (1) and +Inf (2) */
    char want[128];
    snprintf(want, sizeof want, "specx_t_seconds_bucket{le=\"0.5\"} %d\n",
             THREADS * ((PER_THREAD + 2) / 3));
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "specx_t %d\n", THREADS * PER_THREAD);
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, "specx_metrics_label_sets_refused_total{"));
    specx_metrics_text_free(text);
    specx_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),
        cmocka_unit_test(test_labelled_histogram_and_specials),
        cmocka_unit_test(test_registration_checks),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_collector),
        cmocka_unit_test(test_threads_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
