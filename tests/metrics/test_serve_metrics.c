/* test_serve_metrics.c — the metrics of the real server and vehicle:
 *  - serve:      a `specx serve --metrics` process answers known calls; its
 *                /metrics counts each outcome exactly and promtool accepts it;
 *  - serve_prometheus: a real Prometheus scrapes a running `specx serve`; after N
 *                requests, PromQL through its HTTP API returns N;
 *  - serve_load: an in-process server with one slow worker: queue depth,
 *                in-flight, a shed, an expiry and a cancellation, read while
 *                they are happening and after;
 *  - pipeline:   the vehicle side in-process (local detector + server):
 *                frames, outputs, fates per executor, latency histograms,
 *                the link's round trip, in-flight back to 0;
 *  - run:        a `specx run --metrics` process scraped while it runs.
 * Usage: test_serve_metrics CASE SPECX_BINARY. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "specx/metrics.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "http_get.h"
#include "prom_harness.h"
#include "serve_proc.h"
#include "test_client.h"
#include "test_timeout.h"

static const char *g_specx;

/* ---- helpers ------------------------------------------------------------------ */

static char *scrape(int port)
{
    http_reply r = {0};
    char why[256];
    if (http_request("127.0.0.1", port, "GET", "/metrics", "", &r, why, sizeof why) != 0) {
        print_error("GET /metrics: %s\n", why);
        fail();
    }
    assert_int_equal(r.status, 200);
    char *body = strdup(r.body); /* r.body lies inside r.head's block */
    assert_non_null(body);
    http_reply_clear(&r);
    return body;
}

static char *render(specx_metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(specx_metrics_render(m, &text, &len, NULL), SPECX_OK);
    return text;
}

static double sample(const char *text, const char *series)
{
    double v = -1;
    if (!prom_sample(text, series, &v)) {
        print_error("no sample %s in:\n%s\n", series, text);
        fail();
    }
    return v;
}

static void promtool_ok(const char *text)
{
    if (system("command -v promtool > /dev/null") != 0) {
        print_message("# promtool not found: exposition not checked\n");
        return;
    }
    char path[] = "/tmp/specx-scrape-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    int rc = system(cmd);
    unlink(path);
    if (rc != 0) {
        print_error("promtool check metrics refused:\n%s\n", text);
        fail();
    }
}

/* Every family in the exposition is documented in docs/metrics.md. */
static void all_documented(const char *text)
{
    char why[640];
    int families = prom_families_documented(text, why, sizeof why);
    if (families < 0) {
        print_error("%s\n", why);
        fail();
    }
    print_message("# %d families, each documented\n", families);
    assert_true(families > 0);
}

static specx_rpc_client *client_to(int port, const char *opts)
{
    char spec[256];
    snprintf(spec, sizeof spec, "127.0.0.1:%d%s", port, opts);
    specx_rpc_client_config cfg;
    assert_int_equal(specx_rpc_client_config_parse(spec, &cfg, NULL), SPECX_OK);
    specx_rpc_client *c = NULL;
    assert_int_equal(specx_rpc_client_create(&cfg, &c, NULL), SPECX_OK);
    return c;
}

static void start_serve(serve_proc *p)
{
    char *argv[] = {
        (char *)g_specx, "serve",   "--model", "test:delay_ms=1", "--port",      "0", "--bind",
        "127.0.0.1",     "--grace", "0",       "--metrics",       "127.0.0.1:0", NULL};
    char why[8192];
    if (serve_proc_start(p, argv, true, true, 60, why, sizeof why) != 0) {
        print_error("%s\n", why);
        fail();
    }
}

static void stop_serve(serve_proc *p)
{
    int rc = serve_proc_stop(p, SIGTERM, 30);
    if (rc != 0) {
        print_error("specx serve exited %d:\n%s\n", rc, serve_proc_log(p));
    }
    serve_proc_free(p);
    assert_int_equal(rc, 0);
}

/* ---- serve: exact counts on the real endpoint ------------------------------------- */

static void serve_endpoint(void **state)
{
    (void)state;
    serve_proc p;
    start_serve(&p);
    specx_encoded_frame *f = tc_frame(32, 24);
    uint8_t junk[16] = "not an image";
    specx_encoded_frame *bad = NULL;
    assert_int_equal(specx_encoded_frame_copy(junk, sizeof junk, &bad), SPECX_OK);
    specx_rpc_client *unary = client_to(p.port, "");
    specx_rpc_client *stream = client_to(p.port, ",stream");
    char msg[512];
    enum { NU = 12, NS = 4, NBAD = 2 };
    for (int i = 0; i < NU; i++) {
        assert_int_equal(tc_call(unary, f, 10, msg, sizeof msg), SPECX_OK);
    }
    for (int i = 0; i < NS; i++) {
        assert_int_equal(tc_call(stream, f, 10, msg, sizeof msg), SPECX_OK);
    }
    for (int i = 0; i < NBAD; i++) {
        assert_int_equal(tc_call(unary, bad, 10, msg, sizeof msg), SPECX_EINVAL);
    }
    specx_rpc_client_destroy(unary);
    specx_rpc_client_destroy(stream);
    char *t = scrape(p.metrics_port);
    promtool_ok(t);
    all_documented(t);
    assert_int_equal(
        sample(t, "specx_server_requests_total{method=\"ProcessImageSync\",code=\"OK\"}"), NU);
    assert_int_equal(
        sample(t, "specx_server_requests_total{method=\"ProcessImageStreaming\",code=\"OK\"}"), NS);
    assert_int_equal(sample(t, "specx_server_requests_total{method=\"ProcessImageSync\",code="
                               "\"INVALID_ARGUMENT\"}"),
                     NBAD);
    assert_int_equal(sample(t, "specx_server_compute_seconds_count"), NU + NS);
    assert_int_equal(sample(t, "specx_server_queue_wait_seconds_count"), NU + NS);
    /* the payloads: the images and a few bytes of protobuf around each */
    double images = (double)(NU * specx_encoded_frame_size(f) + NBAD * sizeof junk);
    double bytes = sample(t, "specx_server_received_bytes_total{method=\"ProcessImageSync\"}");
    assert_true(bytes >= images && bytes <= images + (NU + NBAD) * 16.0);
    assert_int_equal(sample(t, "specx_server_in_flight"), 0);
    assert_int_equal(sample(t, "specx_server_queue_depth"), 0);
    /* without authentication there are no per-client series */
    assert_null(strstr(t, "specx_server_client_requests_total{"));
    free(t);
    specx_encoded_frame_unref(f);
    specx_encoded_frame_unref(bad);
    stop_serve(&p);
}

/* ---- prometheus: N requests, and PromQL says N ---------------------------------------- */

static void prometheus(void **state)
{
    (void)state;
    if (!prom_available()) {
        print_message("SKIP: prometheus not found (Debian package 'prometheus')\n");
        skip();
    }
    serve_proc p;
    start_serve(&p);
    char target[64], why[2048];
    snprintf(target, sizeof target, "127.0.0.1:%d", p.metrics_port);
    const char *targets[1] = {target};
    prom_harness prom = {0};
    if (prom_start(&prom, "specx-server", targets, 1, 500, why, sizeof why) != 0) {
        print_error("%s\n", why);
        stop_serve(&p);
        fail();
    }
    enum { N = 25 };
    specx_encoded_frame *f = tc_frame(32, 24);
    specx_rpc_client *c = client_to(p.port, "");
    char msg[512];
    for (int i = 0; i < N; i++) {
        assert_int_equal(tc_call(c, f, 10, msg, sizeof msg), SPECX_OK);
    }
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    static const char *const queries[3] = {
        "sum(specx_server_requests_total{job=\"specx-server\",code=\"OK\"})",
        "specx_server_compute_seconds_count{job=\"specx-server\"}", "up{job=\"specx-server\"}"};
    const double want[3] = {N, N, 1};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        rc = prom_wait_value(&prom, queries[i], want[i], 60, why, sizeof why);
        if (rc == 0) {
            print_message("# %s = %g\n", queries[i], want[i]);
        } else {
            print_error("%s: %s\n", queries[i], why);
        }
    }
    prom_stop(&prom);
    stop_serve(&p);
    assert_int_equal(rc, 0);
}

/* ---- load: one slow worker, in-process ------------------------------------------------- */

typedef struct outcome {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    unsigned done_mask;
    specx_status st[8];
} outcome;

static outcome g_out;

static void out_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    (void)msg;
    specx_detections_destroy(res);
    pthread_mutex_lock(&g_out.mu);
    g_out.st[(intptr_t)user] = st;
    g_out.done++;
    g_out.done_mask |= 1u << (intptr_t)user;
    pthread_cond_broadcast(&g_out.cv);
    pthread_mutex_unlock(&g_out.mu);
}

static void wait_call(int i)
{
    pthread_mutex_lock(&g_out.mu);
    while ((g_out.done_mask & (1u << i)) == 0) {
        pthread_cond_wait(&g_out.cv, &g_out.mu); /* every call has a deadline */
    }
    pthread_mutex_unlock(&g_out.mu);
}

static void wait_done(int n)
{
    pthread_mutex_lock(&g_out.mu);
    while (g_out.done < n) {
        pthread_cond_wait(&g_out.cv, &g_out.mu); /* every call has a deadline */
    }
    pthread_mutex_unlock(&g_out.mu);
}

/* Until the server has accepted n requests into its queue (statistics have
 * no change notification: a bounded retry). */
static void wait_received(specx_server *s, uint64_t n)
{
    specx_server_stats *st = malloc(sizeof *st);
    assert_non_null(st);
    for (int i = 0; i < (int)(2000 * specx_test_timeout_scale()); i++) {
        specx_server_get_stats(s, st);
        if (st->received >= n) {
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    assert_true(st->received >= n);
    free(st);
}

static void load(void **state)
{
    (void)state;
    pthread_mutex_init(&g_out.mu, NULL);
    pthread_cond_init(&g_out.cv, NULL);
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    /* a request takes 3 s: long enough that nothing below races the worker */
    char model[64];
    int delay_ms = (int)(3000 * specx_test_timeout_scale());
    snprintf(model, sizeof model, "test:delay_ms=%d", delay_ms);
    specx_detector_config det = {.model = model};
    specx_server_config cfg = {.bind = "127.0.0.1",
                               .workers = 1,
                               .queue_capacity = 3,
                               .open_detector = specx_pipeline_open_detector,
                               .open_detector_user = &det,
                               .metrics = m};
    specx_server *s;
    assert_int_equal(specx_server_start(&cfg, &s, NULL), SPECX_OK);
    specx_rpc_client *c = client_to(specx_server_port(s), "");
    specx_encoded_frame *f = tc_frame(32, 24);
    specx_time_t now = specx_time_now();
    specx_time_t later = specx_time_add(now, SPECX_SEC(30));
    /* 0: runs; 1: expires while queued; 2: cancelled while queued; 3: queued */
    assert_int_equal(specx_rpc_call_start(c, f, later, out_done, (void *)0, NULL), SPECX_OK);
    wait_received(s, 1);
    specx_rpc_call *cancel_me = NULL;
    assert_int_equal(
        specx_rpc_call_start(c, f, specx_time_add(now, SPECX_MS(300)), out_done, (void *)1, NULL),
        SPECX_OK);
    assert_int_equal(specx_rpc_call_start(c, f, later, out_done, (void *)2, &cancel_me), SPECX_OK);
    assert_int_equal(specx_rpc_call_start(c, f, later, out_done, (void *)3, NULL), SPECX_OK);
    wait_received(s, 4);
    /* 4: the queue (capacity 3) is full: shed */
    assert_int_equal(specx_rpc_call_start(c, f, later, out_done, (void *)4, NULL), SPECX_OK);
    wait_call(4);
    assert_int_equal(g_out.st[4], SPECX_EBUSY);
    char *t = render(m);
    print_message("# while loaded: depth %g, in flight %g\n", sample(t, "specx_server_queue_depth"),
                  sample(t, "specx_server_in_flight"));
    assert_int_equal(sample(t, "specx_server_queue_depth"), 3);
    assert_int_equal(sample(t, "specx_server_in_flight"), 4);
    assert_int_equal(sample(t, "specx_server_shed_total{reason=\"queue_full\"}"), 1);
    free(t);
    specx_rpc_call_cancel(cancel_me);
    wait_done(5);
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    t = render(m);
    promtool_ok(t);
    assert_int_equal(g_out.st[0], SPECX_OK);
    assert_int_equal(g_out.st[1], SPECX_ETIMEDOUT);
    assert_int_equal(g_out.st[2], SPECX_ECANCELED);
    assert_int_equal(g_out.st[3], SPECX_OK);
    assert_int_equal(sample(t, "specx_server_queue_depth"), 0);
    assert_int_equal(sample(t, "specx_server_in_flight"), 0);
    assert_int_equal(sample(t, "specx_server_expired_total"), 1);
    assert_int_equal(sample(t, "specx_server_cancelled_total"), 1);
    assert_int_equal(sample(t, "specx_server_compute_seconds_count"), 2);
    assert_int_equal(sample(t, "specx_server_compute_seconds_bucket{le=\"2\"}"), 0);
    assert_int_equal(sample(t, "specx_server_requests_total{method=\"ProcessImageSync\",code="
                               "\"RESOURCE_EXHAUSTED\"}"),
                     1);
    free(t);
    specx_server_destroy(s);
    specx_metrics_destroy(m);
}

/* ---- the vehicle side, in-process --------------------------------------------------------- */

static int g_outputs;

static void on_output(void *user, const specx_pipeline_output *o)
{
    (void)user;
    (void)o;
    g_outputs++;
}

static void pipeline(void **state)
{
    (void)state;
    specx_metrics *m;
    assert_int_equal(specx_metrics_create(&m, NULL), SPECX_OK);
    specx_detector_config det = {.model = "test:delay_ms=2"};
    specx_server_config scfg = {.bind = "127.0.0.1",
                                .workers = 1,
                                .open_detector = specx_pipeline_open_detector,
                                .open_detector_user = &det};
    specx_server *s;
    assert_int_equal(specx_server_start(&scfg, &s, NULL), SPECX_OK);
    char spec[64];
    snprintf(spec, sizeof spec, "127.0.0.1:%d,name=cloud", specx_server_port(s));
    specx_rpc_client_config server;
    assert_int_equal(specx_rpc_client_config_parse(spec, &server, NULL), SPECX_OK);
    specx_pipeline_config pc = {.local = {.model = "test:delay_ms=1"},
                                .servers = &server,
                                .n_servers = 1,
                                .deadline = SPECX_SEC(5),
                                .mode = SPECX_PIPELINE_SYNC,
                                .output = on_output,
                                .metrics = m};
    specx_pipeline *p;
    assert_int_equal(specx_pipeline_create(&pc, &p, NULL), SPECX_OK);
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        specx_image img;
        assert_int_equal(specx_image_alloc(&img, 48, 32), SPECX_OK);
        memset(img.data, i * 10, (size_t)img.stride * 32);
        assert_int_equal(specx_pipeline_push(p, &img, i, i / 10.0, NULL), SPECX_OK);
    }
    specx_pipeline_finish(p);
    char *t = render(m);
    promtool_ok(t);
    all_documented(t);
    assert_int_equal(g_outputs, N);
    assert_int_equal(sample(t, "specx_vehicle_frames_total"), N);
    double outs = sample(t, "specx_vehicle_outputs_total{source=\"remote\"}") +
                  sample(t, "specx_vehicle_outputs_total{source=\"local\"}") +
                  sample(t, "specx_vehicle_outputs_total{source=\"none\"}");
    assert_int_equal(outs, N);
    assert_int_equal(sample(t, "specx_vehicle_end_to_end_seconds_count"), N);
    static const char *const fates[7] = {"won",     "outranked", "late",     "failed",
                                         "skipped", "shed",      "cancelled"};
    static const char *const execs[2] = {"cloud", "local"};
    for (int e = 0; e < 2; e++) {
        double sum = 0;
        for (int k = 0; k < 7; k++) {
            char series[128];
            snprintf(series, sizeof series,
                     "specx_executor_fate_total{executor=\"%s\",fate=\"%s\"}", execs[e], fates[k]);
            sum += sample(t, series);
        }
        assert_int_equal(sum, N); /* each frame's fate counted once per executor */
        char series[96];
        snprintf(series, sizeof series, "specx_executor_in_flight{executor=\"%s\"}", execs[e]);
        assert_int_equal(sample(t, series), 0);
    }
    /* the remote answered within 5 s every time: it won every frame */
    assert_int_equal(sample(t, "specx_executor_fate_total{executor=\"cloud\",fate=\"won\"}"), N);
    assert_int_equal(sample(t, "specx_executor_latency_seconds_count{executor=\"cloud\"}"), N);
    double rtt = sample(t, "specx_link_rtt_seconds{executor=\"cloud\"}");
    print_message("# link round trip %.3f ms\n", rtt * 1e3);
    assert_true(rtt > 0 && rtt < 1.0);
    free(t);
    specx_pipeline_destroy(p);
    specx_server_destroy(s);
    specx_metrics_destroy(m);
}

/* ---- specx run --metrics, scraped while it runs ---------------------------------------------- */

static void run_endpoint(void **state)
{
    (void)state;
    serve_proc srv;
    start_serve(&srv);
    const char *assets = getenv("SPECX_SHARED_ASSETS");
    char video[512], server[64];
    snprintf(video, sizeof video, "%s/video/udacity_solidWhiteRight.mp4",
             assets != NULL ? assets : "../shared/assets");
    snprintf(server, sizeof server, "127.0.0.1:%d,name=cloud", srv.port);
    /* run's default 200 ms, stretched for slow builds: the cloud must win */
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%.0f", 200 * specx_test_timeout_scale());
    char *argv[] = {(char *)g_specx,   "run",      "--video",  video,        "--local-model",
                    "test:delay_ms=5", "--server", server,     "--deadline", deadline,
                    "--fps",           "10",       "--frames", "40",         "--metrics",
                    "127.0.0.1:0",     NULL};
    serve_proc run;
    char why[8192];
    if (serve_proc_start(&run, argv, false, true, 60, why, sizeof why) != 0) {
        print_error("%s\n", why);
        stop_serve(&srv);
        fail();
    }
    /* scrape until frames have gone through and the cloud has won one (the
     * run lasts about 4 s, 40 frames; the families appear once the pipeline
     * is made, after the endpoint; the first calls may lose while the
     * connection comes up on a loaded machine), while the run still has
     * frames to go */
    char *t = NULL;
    double frames = 0, won = 0;
    int tries = (int)(100 * specx_test_timeout_scale());
    for (int i = 0; i < tries && (frames < 5 || (won < 1 && frames < 30)); i++) {
        free(t);
        t = scrape(run.metrics_port);
        if (!prom_sample(t, "specx_vehicle_frames_total", &frames)) {
            frames = 0;
        }
        if (!prom_sample(t, "specx_executor_fate_total{executor=\"cloud\",fate=\"won\"}", &won)) {
            won = 0;
        }
        if (frames < 5 || won < 1) {
            nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
        }
    }
    print_message("# mid-run scrape: %g frames, %g won by the cloud\n", frames, won);
    assert_true(frames >= 5);
    promtool_ok(t);
    assert_true(won >= 1);
    assert_true(sample(t, "specx_vehicle_end_to_end_seconds_count") >= 1);
    (void)sample(t, "specx_executor_in_flight{executor=\"local\"}");
    free(t);
    int rc = serve_proc_stop(&run, 0, 120); /* signal 0: let it finish */
    if (rc != 0) {
        print_error("specx run exited %d:\n%s\n", rc, serve_proc_log(&run));
    }
    serve_proc_free(&run);
    stop_serve(&srv);
    assert_int_equal(rc, 0);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_serve_metrics CASE SPECX_BINARY\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g_specx = argv[2];
    static const struct {
        const char *name;
        CMUnitTestFunction fn;
    } cases[] = {{"serve", serve_endpoint},
                 {"serve_prometheus", prometheus},
                 {"serve_load", load},
                 {"pipeline", pipeline},
                 {"run", run_endpoint}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            const struct CMUnitTest t[] = {{cases[i].name, cases[i].fn, NULL, NULL, NULL}};
            return cmocka_run_group_tests_name(cases[i].name, t, NULL, NULL);
        }
    }
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
