/* test_metrics_http.c — the GET /metrics endpoint: port 0 binding, status
 * codes and content type seen by a plain socket client, address errors,
 * the serving thread's signal mask, and `promtool check metrics` accepting
 * a registry that uses every metric type and label escaping (and rejecting a
 * broken exposition, so the check itself can fail). */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "specx/metrics.h"

#include "http_get.h"

static void get(int port, const char *method, const char *path, http_reply *r)
{
    char why[256];
    if (http_request("127.0.0.1", port, method, path, "", r, why, sizeof why) != 0) {
        print_error("%s %s: %s\n", method, path, why);
        fail();
    }
}

static void scraped(void *arg)
{
    specx_counter_inc(arg);
}

static void test_endpoint(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    specx_counter_family *cf;
    assert_int_equal(
        specx_metrics_add_counter(
            m, &(specx_metric_desc){.name = "specx_scrapes_total", .help = "Scrapes."}, &cf, NULL),
        SPECX_OK);
    specx_counter *c = specx_counter_family_get(cf, NULL);
    assert_int_equal(specx_metrics_add_collector(m, scraped, c, NULL), SPECX_OK);
    specx_metrics_http *h;
    specx_err err = {{0}};
    assert_int_equal(specx_metrics_http_open(m, "127.0.0.1:0", &h, &err), SPECX_OK);
    int port = specx_metrics_http_port(h);
    assert_true(port > 0 && port < 65536);

    http_reply r;
    char v[256];
    get(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(http_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, SPECX_METRICS_CONTENT_TYPE);
    assert_non_null(strstr(r.body, "# TYPE specx_scrapes_total counter\nspecx_scrapes_total 1\n"));
    assert_non_null(http_header(&r, "Content-Length", v, sizeof v));
    assert_int_equal(atoi(v), r.body_len);
    http_reply_clear(&r);

    get(port, "GET", "/metrics?x=1", &r); /* a query string is ignored */
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "specx_scrapes_total 2\n"));
    http_reply_clear(&r);

    get(port, "HEAD", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    http_reply_clear(&r);

    get(port, "GET", "/", &r);
    assert_int_equal(r.status, 404);
    http_reply_clear(&r);
    get(port, "GET", "/metrics/x", &r);
    assert_int_equal(r.status, 404);
    http_reply_clear(&r);

    get(port, "POST", "/metrics", &r);
    assert_int_equal(r.status, 405);
    assert_non_null(http_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET, HEAD");
    http_reply_clear(&r);
    get(port, "DELETE", "/metrics", &r);
    assert_int_equal(r.status, 405);
    http_reply_clear(&r);

    /* a second endpoint on the same port cannot bind */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    specx_metrics_http *h2 = NULL;
    assert_int_equal(specx_metrics_http_open(m, addr, &h2, &err), SPECX_EIO);
    assert_non_null(strstr(err.msg, addr));
    assert_non_null(strstr(err.msg, "in use"));

    specx_metrics_http_close(h);
    char why[256];
    assert_int_equal(http_request("127.0.0.1", port, "GET", "/metrics", "", &r, why, sizeof why),
                     -1); /* closed: nothing listens */
    specx_metrics_remove_collector(m, scraped, c);
    specx_metrics_destroy(m);
}

static void test_bad_addresses(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const bad[] = {"nonsense",     "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                                      "127.0.0.1:9x", "::1:80",    "[::1:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        specx_metrics_http *h = NULL;
        specx_err err = {{0}};
        specx_status st = specx_metrics_http_open(m, bad[i], &h, &err);
        if (st != SPECX_EINVAL || strstr(err.msg, bad[i]) == NULL) {
            print_error("'%s': status %d, message '%s'\n", bad[i], st, err.msg);
            fail();
        }
    }
    specx_metrics_http *h = NULL;
    specx_err err = {{0}};
    if (specx_metrics_http_open(m, "[::1]:0", &h, &err) == SPECX_OK) {
        assert_true(specx_metrics_http_port(h) > 0);
        specx_metrics_http_close(h);
    } else { /* a machine without IPv6 loopback: the reason must say so */
        assert_non_null(strstr(err.msg, "[::1]:0"));
    }
    specx_metrics_destroy(m);
}

/* Threads of this process as tids. */
static size_t list_tasks(int *tids, size_t cap)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.' && n < cap) {
            tids[n++] = atoi(e->d_name);
        }
    }
    closedir(d);
    return n;
}

static unsigned long long blocked_mask(int tid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long long mask = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "SigBlk:", 7) == 0) {
            mask = strtoull(line + 7, NULL, 16);
        }
    }
    fclose(f);
    return mask;
}

static void test_thread_blocks_signals(void **state)
{
    (void)state;
    int before[64], after[64];
    size_t nb = list_tasks(before, 64);
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    specx_metrics_http *h;
    assert_int_equal(specx_metrics_http_open(m, "127.0.0.1:0", &h, NULL), SPECX_OK);
    size_t na = list_tasks(after, 64);
    int fresh = 0;
    for (size_t i = 0; i < na; i++) {
        int seen = 0;
        for (size_t j = 0; j < nb; j++) {
            seen |= after[i] == before[j];
        }
        if (seen) {
            /* the caller's mask is restored */
            assert_int_equal(blocked_mask(after[i]) & (1ULL << (SIGTERM - 1)), 0);
            continue;
        }
        fresh++;
        unsigned long long mask = blocked_mask(after[i]);
        int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGCHLD};
        for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) {
            if ((mask & (1ULL << (sigs[k] - 1))) == 0) {
                print_error("thread %d does not block signal %d (mask %llx)\n", after[i], sigs[k],
                            mask);
                fail();
            }
        }
    }
    assert_true(fresh >= 1);
    specx_metrics_http_close(h);
    specx_metrics_destroy(m);
}

/* ---- promtool ------------------------------------------------------------ */

static int promtool_check(const char *text)
{
    char path[] = "/tmp/specx-promtool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_promtool_accepts(void **state)
{
    (void)state;
    if (system("command -v promtool > /dev/null") != 0) {
        print_message("SKIP: promtool not found (Debian package 'prometheus', installed by "
                      "scripts/install-deps.sh)\n");
        skip();
    }
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    static const char *const lab[2] = {"method", "code"};
    static const char *const ex[1] = {"executor"};
    static const double secs[4] = {0.001, 0.01, 0.1, 1};
    specx_counter_family *cf;
    specx_gauge_family *gf;
    specx_histogram_family *hf, *hu;
    assert_int_equal(specx_metrics_add_counter(
                         m,
                         &(specx_metric_desc){.name = "specx_server_requests_total",
                                              .help = "Requests by \"method\" \\ and code\nok",
                                              .labels = lab,
                                              .nlabels = 2,
                                              .max_series = 2},
                         &cf, NULL),
                     SPECX_OK);
    assert_int_equal(
        specx_metrics_add_gauge(
            m,
            &(specx_metric_desc){.name = "specx_server_queue_depth", .help = "Requests waiting."},
            &gf, NULL),
        SPECX_OK);
    assert_int_equal(
        specx_metrics_add_histogram(m,
                                    &(specx_metric_desc){.name = "specx_executor_latency_seconds",
                                                         .help = "Latency per executor.",
                                                         .labels = ex,
                                                         .nlabels = 1,
                                                         .bounds = secs,
                                                         .nbounds = 4,
                                                         .scale = 1e9},
                                    &hf, NULL),
        SPECX_OK);
    assert_int_equal(
        specx_metrics_add_histogram(m,
                                    &(specx_metric_desc){.name = "specx_server_compute_seconds",
                                                         .help = "Compute time.",
                                                         .bounds = secs,
                                                         .nbounds = 4,
                                                         .scale = 1e9},
                                    &hu, NULL),
        SPECX_OK);
    specx_counter_add(specx_counter_family_get(cf, (const char *[]){"Detect", "OK"}), 7);
    specx_counter_inc(specx_counter_family_get(cf, (const char *[]){"a\"b\\c\nd", "é"}));
    specx_counter_inc(specx_counter_family_get(cf, (const char *[]){"over", "limit"}));
    specx_gauge_set(specx_gauge_family_get(gf, NULL), 12);
    specx_histogram_observe(specx_histogram_family_get(hf, (const char *[]){"local"}), 3000000);
    specx_histogram_observe(specx_histogram_family_get(hf, (const char *[]){"remote"}), 2500000000);
    specx_histogram_observe(specx_histogram_family_get(hu, NULL), 42000);
    char *text = NULL;
    size_t len;
    assert_int_equal(specx_metrics_render(m, &text, &len, NULL), SPECX_OK);
    assert_non_null(strstr(text, "specx_metrics_label_sets_refused_total{metric="));
    int rc = promtool_check(text);
    if (rc != 0) {
        print_error("promtool rejected:\n%s\n", text);
    }
    assert_int_equal(rc, 0);
    specx_metrics_text_free(text);
    specx_metrics_destroy(m);

    /* the check can fail: a counter without _total and a malformed line */
    assert_int_not_equal(promtool_check("# HELP x_requests Requests.\n# TYPE x_requests counter\n"
                                        "x_requests 1\n"),
                         0);
    assert_int_not_equal(promtool_check("# TYPE y gauge\ny{a=\"unterminated} 1\n"), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_thread_blocks_signals),
        cmocka_unit_test(test_promtool_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
