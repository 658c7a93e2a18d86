/* bench_metrics.c — `specx bench metrics`: the cost of operability. In
 * isolation: a counter increment and a histogram observation (1 thread; 2
 * threads on separate and on the same series, with their overlap), the
 * updates the server makes per request and the vehicle per output (the
 * real functions on real families), rendering a server-sized registry, a
 * token lookup (hash + constant-time compare) and the server's auth step
 * (bearer parse, lookup, quota) through the same internal calls. Then the real server
 * path (bench_metrics_server.c). Prints median and p99; never passes or
 * fails on time. */
#include "bench_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "specx/auth.h"
#include "specx/metrics.h"

#include "auth/quota.h"
#include "auth/tokens.h"
#include "bench.h"
#include "cli.h"
#include "pipeline/metrics.h"
#include "serve/metrics.h"

enum { BATCH = 1000, SAMPLES = 10000 };

double bm_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bm_report(const bm_opts *o, const char *name, double *v, size_t n, const char *unit)
{
    qsort(v, n, sizeof *v, cmp_d);
    double med = v[n / 2], p99 = v[(size_t)((double)n * 0.99)];
    if (o->csv) {
        printf("\"%s\",%.3f,%.3f,%s\n", name, med, p99, unit);
    } else {
        printf("%-66s median %10.3f  p99 %10.3f  %s\n", name, med, p99, unit);
    }
    fflush(stdout);
}

/* Runs fn(arg) BATCH times per sample; ns per call into v[SAMPLES]. */
static void time_batches(void (*fn)(void *), void *arg, double *v, int samples)
{
    for (int s = 0; s < samples; s++) {
        double t0 = bm_now_ns();
        for (int i = 0; i < BATCH; i++) {
            fn(arg);
        }
        v[s] = (bm_now_ns() - t0) / BATCH;
    }
}

/* ---- single updates, 1 and 2 threads --------------------------------------- */

typedef struct job {
    specx_counter *c;
    specx_histogram *h;
    int what; /* 0 counter, 1 histogram */
    pthread_barrier_t *start;
    double samples[SAMPLES];
    double t_start, t_end;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->start != NULL) {
        pthread_barrier_wait(j->start);
    }
    j->t_start = bm_now_ns();
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = bm_now_ns();
        if (j->what == 0) {
            for (int i = 0; i < BATCH; i++) {
                specx_counter_inc(j->c);
            }
        } else {
            for (int i = 0; i < BATCH; i++) {
                specx_histogram_observe(j->h, (int64_t)(i & 1023) * 100000); /* 0..102 ms */
            }
        }
        j->samples[s] = (bm_now_ns() - t0) / BATCH;
    }
    j->t_end = bm_now_ns();
    return NULL;
}

/* Two threads at once; returns how much of the longer run they overlapped
 * (0..1): on a loaded machine they may not run together, and a contention
 * figure means little without it. */
static double run_pair(job *j0, job *j1)
{
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 2);
    j0->start = j1->start = &b;
    pthread_t t;
    pthread_create(&t, NULL, run_job, j1);
    run_job(j0);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&b);
    double lo = j0->t_start > j1->t_start ? j0->t_start : j1->t_start;
    double hi = j0->t_end < j1->t_end ? j0->t_end : j1->t_end;
    double d0 = j0->t_end - j0->t_start, d1 = j1->t_end - j1->t_start;
    double longer = d0 > d1 ? d0 : d1;
    return hi > lo && longer > 0 ? (hi - lo) / longer : 0;
}

static const double secs[12] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};

static void bench_updates(const bm_opts *o)
{
    specx_metrics *m;
    specx_metrics_create(&m, NULL);
    static const char *const lab[1] = {"k"};
    specx_counter_family *cf;
    specx_histogram_family *hf;
    specx_metrics_add_counter(
        m, &(specx_metric_desc){.name = "b_total", .help = "b", .labels = lab, .nlabels = 1}, &cf,
        NULL);
    specx_metrics_add_histogram(m,
                                &(specx_metric_desc){.name = "b_seconds",
                                                     .help = "b",
                                                     .labels = lab,
                                                     .nlabels = 1,
                                                     .bounds = secs,
                                                     .nbounds = 12,
                                                     .scale = 1e9},
                                &hf, NULL);
    static job j[2];
    const char *names[2] = {"counter add", "histogram observe (12 bounds)"};
    specx_counter *c[2] = {specx_counter_family_get(cf, (const char *[]){"a"}),
                           specx_counter_family_get(cf, (const char *[]){"b"})};
    specx_histogram *h[2] = {specx_histogram_family_get(hf, (const char *[]){"a"}),
                             specx_histogram_family_get(hf, (const char *[]){"b"})};
    for (int what = 0; what < 2; what++) {
        char name[96];
        j[0] = (job){.c = c[0], .h = h[0], .what = what};
        run_job(&j[0]);
        snprintf(name, sizeof name, "%s, 1 thread", names[what]);
        bm_report(o, name, j[0].samples, SAMPLES, "ns/op");
        for (int same = 0; same < 2; same++) {
            j[0] = (job){.c = c[0], .h = h[0], .what = what};
            j[1] = (job){.c = c[same ? 0 : 1], .h = h[same ? 0 : 1], .what = what};
            double ov = run_pair(&j[0], &j[1]);
            snprintf(name, sizeof name, "%s, 2 threads, %s series (overlap %.0f%%)", names[what],
                     same ? "same" : "separate", 100 * ov);
            bm_report(o, name, j[0].samples, SAMPLES, "ns/op");
        }
    }
    specx_metrics_destroy(m);
}

/* ---- what a request / an output costs -------------------------------------- */

static void server_request(void *arg)
{
    sx_serve_metrics *m = arg;
    /* what unary.c and the worker do for one computed request */
    sx_serve_metrics_received(m, SX_SERVE_RPC_SYNC, "vehicle-0042", 34000);
    sx_serve_metrics_queued(m);
    sx_serve_metrics_computed(m, 1200000, 23000000);
    sx_serve_metrics_dequeued(m);
    sx_serve_metrics_answered(m, SX_SERVE_RPC_SYNC, SPECX_OK, "vehicle-0042");
}

static void vehicle_output(void *arg)
{
    void **a = arg;
    sx_pipeline_metrics_output(a[0], a[1]);
}

static void bench_request_updates(const bm_opts *o)
{
    static double v[SAMPLES];
    for (int per_client = 0; per_client < 2; per_client++) {
        specx_metrics *reg;
        specx_metrics_create(&reg, NULL);
        sx_serve_metrics *m;
        sx_serve_metrics_create(reg, per_client, 64, NULL, NULL, &m, NULL);
        time_batches(server_request, m, v, SAMPLES / 10);
        bm_report(o,
                  per_client ? "server: metric updates of one request, per-client series on"
                             : "server: metric updates of one request, no per-client series",
                  v, SAMPLES / 10, "ns/request");
        sx_serve_metrics_destroy(m);
        specx_metrics_destroy(reg);
    }
    /* a vehicle with one server and a local detector */
    specx_metrics *reg;
    specx_metrics_create(&reg, NULL);
    _Atomic uint64_t zero = 0;
    sx_pipeline_metrics_exec ex[2] = {{.name = "cloud", .started = &zero, .finished = &zero},
                                      {.name = "local", .is_local = true}};
    sx_pipeline_metrics *pm;
    sx_pipeline_metrics_create(reg, ex, 2, &pm, NULL);
    specx_exec_report rep[2] = {
        {.fate = SPECX_FATE_WON, .status = SPECX_OK, .latency = 48000000},
        {.fate = SPECX_FATE_OUTRANKED, .status = SPECX_OK, .latency = 37000000}};
    specx_output raw = {.winner = 0, .latency = 58000000, .n_exec = 2, .exec = rep};
    specx_pipeline_output out = {.winner = 0, .n_exec = 2, .raw = &raw};
    void *args[2] = {pm, &out};
    time_batches(vehicle_output, args, v, SAMPLES / 10);
    bm_report(o, "vehicle: metric updates of one output (2 executors)", v, SAMPLES / 10,
              "ns/output");
    sx_pipeline_metrics_destroy(pm);
    specx_metrics_destroy(reg);
}

/* ---- a scrape's render ---------------------------------------------------------- */

/* A registry shaped like a busy authenticating server: requests by method
 * and code, per-client counters for 60 identities, 4 histograms. */
static size_t fill_server_like(specx_metrics *m)
{
    static const char *const mc[2] = {"method", "code"};
    static const char *const cl[1] = {"client"};
    specx_counter_family *req, *cf[3];
    specx_metrics_add_counter(
        m,
        &(specx_metric_desc){.name = "s_requests_total", .help = "x", .labels = mc, .nlabels = 2},
        &req, NULL);
    const char *cn[3] = {"s_client_requests_total", "s_client_bytes_total",
                         "s_client_refused_total"};
    for (int i = 0; i < 3; i++) {
        specx_metrics_add_counter(
            m,
            &(specx_metric_desc){
                .name = cn[i], .help = "x", .labels = cl, .nlabels = 1, .max_series = 64},
            &cf[i], NULL);
    }
    size_t series = 0;
    for (int i = 0; i < 4; i++, series++) {
        char name[32];
        snprintf(name, sizeof name, "s_h%d_seconds", i);
        specx_histogram_family *h;
        specx_metrics_add_histogram(
            m,
            &(specx_metric_desc){
                .name = name, .help = "x", .bounds = secs, .nbounds = 12, .scale = 1e9},
            &h, NULL);
        for (int k = 0; k < 100; k++) {
            specx_histogram_observe(specx_histogram_family_get(h, NULL), k * 1000000);
        }
    }
    static const char *const methods[3] = {"Detect", "DetectStream", "Health"};
    static const char *const codes[6] = {
        "OK",         "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED",
        "UNAVAILABLE"};
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 6; b++, series++) {
            specx_counter_add(specx_counter_family_get(req, (const char *[]){methods[a], codes[b]}),
                              (uint64_t)a * 1000 + (uint64_t)b);
        }
    }
    for (int c = 0; c < 60; c++) {
        char id[32];
        snprintf(id, sizeof id, "vehicle-%03d", c);
        for (int i = 0; i < 3; i++, series++) {
            specx_counter_add(specx_counter_family_get(cf[i], (const char *[]){id}),
                              (uint64_t)c * 12345);
        }
    }
    return series;
}

static void bench_render(const bm_opts *o)
{
    specx_metrics *m;
    specx_metrics_create(&m, NULL);
    size_t series = fill_server_like(m);
    enum { N = 2000 };
    static double v[N];
    size_t bytes = 0, lines = 0;
    for (int s = 0; s < N; s++) {
        char *text;
        size_t len;
        double t0 = bm_now_ns();
        specx_metrics_render(m, &text, &len, NULL);
        v[s] = (bm_now_ns() - t0) / 1e3;
        if (s == 0) {
            bytes = len;
            for (size_t i = 0; i < len; i++) {
                lines += text[i] == '\n';
            }
        }
        specx_metrics_text_free(text);
    }
    char name[96];
    snprintf(name, sizeof name, "render alone: %zu series, %zu lines, %zu bytes", series, lines,
             bytes);
    bm_report(o, name, v, N, "us/render");
    specx_metrics_destroy(m);
}

/* ---- tokens and the server's auth step ---------------------------------------------- */

/* A token file of n vehicles in path; the token of vehicle `keep_i` kept. */
static int token_file(char *path, int n, int keep_i, specx_token *keep)
{
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        specx_token t;
        specx_token_generate(&t, NULL);
        char id[32], line[160];
        snprintf(id, sizeof id, "vehicle-%04d", i);
        specx_token_file_line(id, &t, line, sizeof line, NULL);
        fputs(line, f);
        if (i == keep_i) {
            *keep = t;
        }
        specx_token_clear(&t);
    }
    return fclose(f);
}

typedef struct lookup_arg {
    sx_auth_tokens *tab;
    const specx_token *tok;
} lookup_arg;

static void lookup_once(void *arg)
{
    lookup_arg *a = arg;
    char id[SPECX_AUTH_ID_MAX + 1];
    sx_auth_tokens_lookup(a->tab, a->tok->s, a->tok->len, id);
}

typedef struct step_arg {
    sx_auth_tokens *tab;
    sx_auth_quota *quota; /* NULL: no quota step */
    const char *header;   /* the authorization value */
    size_t header_len;
} step_arg;

/* What the server does per call before parsing (serve/auth.c): the bearer
 * token out of the header, its lookup, then the identity's quota. */
static void auth_step(void *arg)
{
    step_arg *a = arg;
    const char *tok;
    size_t len;
    char id[SPECX_AUTH_ID_MAX + 1];
    if (sx_auth_bearer(a->header, a->header_len, &tok, &len) &&
        sx_auth_tokens_lookup(a->tab, tok, len, id) && a->quota != NULL) {
        sx_auth_quota_take(a->quota, id, 34000, specx_time_now());
    }
}

static void bench_auth_step(const bm_opts *o, sx_auth_tokens *tab, const specx_token *tok)
{
    static double v[SAMPLES];
    char value[300];
    int n = snprintf(value, sizeof value, "Bearer %s", tok->s);
    sx_auth_quota_config qc = {.rps = 1e12, .bps = 1e15};
    sx_auth_quota *q = NULL;
    if (sx_auth_quota_create(&qc, &q, NULL) == SPECX_OK) {
        step_arg a = {.tab = tab, .header = value, .header_len = (size_t)n};
        time_batches(auth_step, &a, v, SAMPLES / 10);
        bm_report(o, "server auth step: bearer parse + lookup (1000 entries)", v, SAMPLES / 10,
                  "ns/call");
        a.quota = q;
        time_batches(auth_step, &a, v, SAMPLES / 10);
        bm_report(o, "server auth step: the same + quota take (2 buckets)", v, SAMPLES / 10,
                  "ns/call");
        sx_auth_quota_destroy(q);
    }
    explicit_bzero(value, sizeof value);
}

static void bench_tokens(const bm_opts *o)
{
    char path[] = "/tmp/specx-bench-tokens-XXXXXX";
    specx_token keep = {.len = 0}, absent;
    sx_auth_tokens *tab = NULL;
    if (token_file(path, 1000, 500, &keep) != 0 ||
        sx_auth_tokens_open(path, &tab, NULL) != SPECX_OK) {
        fprintf(stderr, "specx bench metrics: cannot make a token table in %s\n", path);
        unlink(path);
        return;
    }
    specx_token_generate(&absent, NULL);
    static double v[SAMPLES];
    lookup_arg la = {.tab = tab, .tok = &keep};
    time_batches(lookup_once, &la, v, SAMPLES / 10);
    bm_report(o, "token lookup, 1000 entries, present (hash + compare)", v, SAMPLES / 10, "ns/op");
    la.tok = &absent;
    time_batches(lookup_once, &la, v, SAMPLES / 10);
    bm_report(o, "token lookup, 1000 entries, absent", v, SAMPLES / 10, "ns/op");
    /* constant time: equal, first byte differs, last byte differs */
    uint8_t a[32] = {0}, b[3][32] = {{0}};
    b[1][0] = 1;
    b[2][31] = 1;
    const char *cn[3] = {"ct_equal 32 B, equal", "ct_equal 32 B, first byte differs",
                         "ct_equal 32 B, last byte differs"};
    volatile int sink = 0;
    for (int k = 0; k < 3; k++) {
        for (int s = 0; s < SAMPLES; s++) {
            double t0 = bm_now_ns();
            for (int i = 0; i < BATCH; i++) {
                sink += sx_auth_ct_equal(a, 32, b[k], 32);
            }
            v[s] = (bm_now_ns() - t0) / BATCH;
        }
        bm_report(o, cn[k], v, SAMPLES, "ns/op");
    }
    (void)sink;
    bench_auth_step(o, tab, &keep);
    sx_auth_tokens_close(tab);
    specx_token_clear(&keep);
    specx_token_clear(&absent);
    unlink(path);
}

/* ---- entry --------------------------------------------------------------------------- */

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench metrics [options]\n"
               "\n"
               "The cost of metrics and access control: updates, renders, token lookups and\n"
               "the server's auth step in isolation; then the real server path in this\n"
               "process: round trips paired with metrics and auth on and off, and a scrape of\n"
               "/metrics on a server with per-client series. Median and p99 per operation.\n"
               "\n");
    specx_cli_print_options(f, opts);
}

int specx_bench_metrics(int argc, char **argv)
{
    bm_opts o = {.rounds = 20, .calls = 100, .clients = 64, .only = -1};
    bool no_server = false;
    const char *only = NULL;
    const specx_cli_opt opts[] = {
        {"csv", 0, SPECX_CLI_FLAG, &o.csv, .help = "one CSV line per figure"},
        {"rounds", 0, SPECX_CLI_INT, &o.rounds, 1, 10000, .meta = "N",
         .help = "paired rounds on the server path (default 20)"},
        {"calls", 0, SPECX_CLI_INT, &o.calls, 10, 100000, .meta = "N",
         .help = "calls per round and server (default 100)"},
        {"clients", 0, SPECX_CLI_INT, &o.clients, 1, 1000, .meta = "N",
         .help = "identities calling before the scrape (default 64)"},
        {"no-server", 0, SPECX_CLI_FLAG, &no_server,
         .help = "only the figures in isolation (no gRPC server)"},
        {"only", 0, SPECX_CLI_STRING, &only, .meta = "plain|metrics|auth",
         .help = "only that server's calls, untimed, nothing else (for an\n"
                 "instruction counter: run twice with different --rounds and\n"
                 "divide the difference by the difference in calls)"},
        {0},
    };
    int rc = specx_cli_parse("specx bench metrics", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    static const char *const kinds[3] = {"plain", "metrics", "auth"};
    for (int k = 0; only != NULL && k < 3; k++) {
        o.only = strcmp(only, kinds[k]) == 0 ? k : o.only;
    }
    if (only != NULL && o.only < 0) {
        fprintf(stderr, "specx bench metrics: --only wants plain, metrics or auth\n");
        return 2;
    }
    if (o.csv) {
        printf("what,median,p99,unit\n");
    }
    if (o.only >= 0) {
        return bm_server_path(&o);
    }
    bench_updates(&o);
    bench_request_updates(&o);
    bench_render(&o);
    bench_tokens(&o);
    return no_server ? 0 : bm_server_path(&o);
}
