/* bench_ops.c — cost of the operability pieces: a counter increment and a
 * histogram observation (1 thread, and 2 threads on the same series against
 * 2 threads on separate series in the same run), rendering a server-sized
 * registry, and a token lookup (hash + constant-time compare). Prints
 * median and p99 per operation; never passes or fails on time.
 * Usage: bench_ops [--csv] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "specx/auth.h"
#include "specx/metrics.h"

#include "auth/tokens.h"

enum { BATCH = 1000, SAMPLES = 10000 };

static int g_csv;

static double now_ns(void)
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

static void report(const char *name, double *v, size_t n, const char *unit)
{
    qsort(v, n, sizeof *v, cmp_d);
    double med = v[n / 2], p99 = v[(size_t)((double)n * 0.99)];
    if (g_csv) {
        printf("%s,%.2f,%.2f,%s\n", name, med, p99, unit);
    } else {
        printf("%-52s median %9.2f  p99 %9.2f  %s\n", name, med, p99, unit);
    }
}

/* ---- hot-path updates ---------------------------------------------------- */

typedef struct job {
    specx_counter *c;
    specx_histogram *h;
    int what; /* 0 counter, 1 histogram */
    pthread_barrier_t *start;
    double samples[SAMPLES]; /* ns per op, one per batch */
    double t_start, t_end;   /* when the thread's batches ran */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    if (j->start != NULL) {
        pthread_barrier_wait(j->start);
    }
    j->t_start = now_ns();
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = now_ns();
        if (j->what == 0) {
            for (int i = 0; i < BATCH; i++) {
                specx_counter_inc(j->c);
            }
        } else {
            for (int i = 0; i < BATCH; i++) {
                specx_histogram_observe(j->h, (int64_t)(i & 1023) * 100000); /* 0..102 ms */
            }
        }
        j->samples[s] = (now_ns() - t0) / BATCH;
    }
    j->t_end = now_ns();
    return NULL;
}

/* Two threads at once. Returns how much of the longer run the two overlapped
 * (0..1): on a loaded machine the threads may not run at the same time, and
 * a contention figure means little without it. */
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
    j0->start = j1->start = NULL;
    double lo = j0->t_start > j1->t_start ? j0->t_start : j1->t_start;
    double hi = j0->t_end < j1->t_end ? j0->t_end : j1->t_end;
    double d0 = j0->t_end - j0->t_start, d1 = j1->t_end - j1->t_start;
    double longer = d0 > d1 ? d0 : d1;
    return hi > lo && longer > 0 ? (hi - lo) / longer : 0;
}

static void bench_updates(void)
{
    specx_metrics *m;
    specx_metrics_create(&m, NULL);
    static const char *const lab[1] = {"k"};
    static const double secs[12] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
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
    const char *names[2] = {"counter", "histogram (12 buckets)"};
    for (int what = 0; what < 2; what++) {
        specx_counter *ca = specx_counter_family_get(cf, (const char *[]){"a"});
        specx_counter *cb = specx_counter_family_get(cf, (const char *[]){"b"});
        specx_histogram *ha = specx_histogram_family_get(hf, (const char *[]){"a"});
        specx_histogram *hb = specx_histogram_family_get(hf, (const char *[]){"b"});
        char name[96];
        j[0] = (job){.c = ca, .h = ha, .what = what};
        run_job(&j[0]);
        snprintf(name, sizeof name, "%s, 1 thread", names[what]);
        report(name, j[0].samples, SAMPLES, "ns/op");
        j[0] = (job){.c = ca, .h = ha, .what = what};
        j[1] = (job){.c = cb, .h = hb, .what = what};
        double ov = run_pair(&j[0], &j[1]);
        snprintf(name, sizeof name, "%s, 2 threads, separate (overlap %.0f%%)", names[what],
                 100 * ov);
        report(name, j[0].samples, SAMPLES, "ns/op");
        j[0] = (job){.c = ca, .h = ha, .what = what};
        j[1] = (job){.c = ca, .h = ha, .what = what};
        ov = run_pair(&j[0], &j[1]);
        snprintf(name, sizeof name, "%s, 2 threads, same (overlap %.0f%%)", names[what], 100 * ov);
        report(name, j[0].samples, SAMPLES, "ns/op");
    }
    specx_metrics_destroy(m);
}

/* ---- scrape ---------------------------------------------------------------- */

static void bench_render(void)
{
    specx_metrics *m;
    specx_metrics_create(&m, NULL);
    static const char *const mc[2] = {"method", "code"};
    static const char *const cl[1] = {"client"};
    static const double secs[12] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
    specx_counter_family *req, *creq, *cbytes, *crefused;
    specx_gauge_family *g[3];
    specx_histogram_family *h[4];
    specx_metrics_add_counter(
        m,
        &(specx_metric_desc){.name = "s_requests_total", .help = "x", .labels = mc, .nlabels = 2},
        &req, NULL);
    const char *cn[3] = {"s_client_requests_total", "s_client_bytes_total",
                         "s_client_refused_total"};
    specx_counter_family **cf[3] = {&creq, &cbytes, &crefused};
    for (int i = 0; i < 3; i++) {
        specx_metrics_add_counter(
            m,
            &(specx_metric_desc){
                .name = cn[i], .help = "x", .labels = cl, .nlabels = 1, .max_series = 64},
            cf[i], NULL);
    }
    const char *gn[3] = {"s_queue_depth", "s_in_flight", "s_up"};
    for (int i = 0; i < 3; i++) {
        specx_metrics_add_gauge(m, &(specx_metric_desc){.name = gn[i], .help = "x"}, &g[i], NULL);
        specx_gauge_set(specx_gauge_family_get(g[i], NULL), i * 3.5);
    }
    const char *hn[4] = {"s_wait_seconds", "s_compute_seconds", "s_total_seconds",
                         "s_decode_seconds"};
    for (int i = 0; i < 4; i++) {
        specx_metrics_add_histogram(
            m,
            &(specx_metric_desc){
                .name = hn[i], .help = "x", .bounds = secs, .nbounds = 12, .scale = 1e9},
            &h[i], NULL);
        for (int k = 0; k < 100; k++) {
            specx_histogram_observe(specx_histogram_family_get(h[i], NULL), k * 1000000);
        }
    }
    static const char *const methods[3] = {"Detect", "DetectStream", "Health"};
    static const char *const codes[6] = {
        "OK",         "CANCELLED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED",
        "UNAVAILABLE"};
    size_t series = 3 + 4;
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
            specx_counter_add(specx_counter_family_get(*cf[i], (const char *[]){id}),
                              (uint64_t)c * 12345);
        }
    }
    double v[2000];
    size_t bytes = 0, lines = 0;
    for (int s = 0; s < 2000; s++) {
        char *text;
        size_t len;
        double t0 = now_ns();
        specx_metrics_render(m, &text, &len, NULL);
        v[s] = (now_ns() - t0) / 1e3;
        if (s == 0) {
            bytes = len;
            for (size_t i = 0; i < len; i++) {
                lines += text[i] == '\n';
            }
        }
        specx_metrics_text_free(text);
    }
    char name[96];
    snprintf(name, sizeof name, "render: %zu series, %zu lines, %zu bytes", series, lines, bytes);
    report(name, v, 2000, "us/render");
    specx_metrics_destroy(m);
}

/* ---- token lookup ------------------------------------------------------------ */

static void bench_tokens(void)
{
    char path[] = "/tmp/specx-bench-tokens-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    specx_token keep;
    for (int i = 0; i < 1000; i++) {
        specx_token t;
        specx_token_generate(&t, NULL);
        char id[32], line[160];
        snprintf(id, sizeof id, "vehicle-%04d", i);
        specx_token_file_line(id, &t, line, sizeof line, NULL);
        fputs(line, f);
        if (i == 500) {
            keep = t;
        }
    }
    fclose(f);
    sx_auth_tokens *tab;
    if (sx_auth_tokens_open(path, &tab, NULL) != SPECX_OK) {
        fprintf(stderr, "bench: cannot load %s\n", path);
        unlink(path);
        return;
    }
    specx_token absent;
    specx_token_generate(&absent, NULL);
    double v[SAMPLES];
    char id[SPECX_AUTH_ID_MAX + 1];
    const specx_token *which[2] = {&keep, &absent};
    const char *names[2] = {"token lookup, 1000 entries, present (hash+compare)",
                            "token lookup, 1000 entries, absent"};
    for (int w = 0; w < 2; w++) {
        for (int s = 0; s < SAMPLES; s++) {
            double t0 = now_ns();
            for (int i = 0; i < 100; i++) {
                sx_auth_tokens_lookup(tab, which[w]->s, which[w]->len, id);
            }
            v[s] = (now_ns() - t0) / 100;
        }
        report(names[w], v, SAMPLES, "ns/op");
    }
    uint8_t d[32];
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = now_ns();
        for (int i = 0; i < 100; i++) {
            sx_auth_sha256(keep.s, keep.len, d);
        }
        v[s] = (now_ns() - t0) / 100;
    }
    report("SHA-256 of a 47-byte token alone", v, SAMPLES, "ns/op");
    /* constant time: equal, first byte differs, last byte differs */
    uint8_t a[32] = {0}, b[3][32] = {{0}};
    b[1][0] = 1;
    b[2][31] = 1;
    const char *cn[3] = {"ct_equal 32 B, equal", "ct_equal 32 B, first byte differs",
                         "ct_equal 32 B, last byte differs"};
    volatile int sink = 0;
    for (int k = 0; k < 3; k++) {
        for (int s = 0; s < SAMPLES; s++) {
            double t0 = now_ns();
            for (int i = 0; i < 1000; i++) {
                sink += sx_auth_ct_equal(a, 32, b[k], 32);
            }
            v[s] = (now_ns() - t0) / 1000;
        }
        report(cn[k], v, SAMPLES, "ns/op");
    }
    (void)sink;
    specx_token_clear(&keep);
    sx_auth_tokens_close(tab);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_csv = argc > 1 && strcmp(argv[1], "--csv") == 0;
    if (g_csv) {
        printf("what,median,p99,unit\n");
    }
    bench_updates();
    bench_render();
    bench_tokens();
    return 0;
}
