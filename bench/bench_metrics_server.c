/* bench_metrics_server.c — the real server path for `specx bench metrics`:
 * three servers in this process (test detector, images not decoded): plain,
 * with metrics, and with metrics + bearer tokens (1000-entry file) + quotas
 * (limits too high to refuse). Sequential unary calls over loopback in
 * blocks, the servers' order rotating every round, so each round pairs the
 * three under the same machine load; the per-round differences of the block
 * medians are the cost of metrics and of auth on a call. Then a scrape of
 * GET /metrics over HTTP on the authenticating server after N identities
 * have called it (so it has per-client series). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "specx/auth.h"
#include "specx/metrics.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "bench_metrics.h"

#define TOKENS 1000
#define ENV "SPECX_BENCH_METRICS_TOKEN"

enum { PLAIN, METRICS, AUTH, NSERV };
static const char *const serv_names[NSERV] = {"plain", "metrics on", "metrics + tokens + quota"};

typedef struct bench_world {
    specx_metrics *reg[NSERV];
    specx_server *srv[NSERV];
    specx_rpc_client *cli[NSERV];
    specx_encoded_frame *frame;
    specx_token *tok;
    char tokens_path[64];
} bench_world;

/* ---- one call at a time ------------------------------------------------------ */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    specx_status st;
} waiter;

static void on_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    (void)msg;
    waiter *w = user;
    specx_detections_destroy(res);
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->st = st;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* One call's round trip in ns; < 0 when it failed. */
static double call_once(specx_rpc_client *c, specx_encoded_frame *f)
{
    waiter w = {.done = false};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    double t0 = bm_now_ns();
    specx_time_t dl = specx_time_add(specx_time_now(), SPECX_SEC(10));
    specx_status st = specx_rpc_call_start(c, f, dl, on_done, &w, NULL);
    if (st == SPECX_OK) {
        pthread_mutex_lock(&w.mu);
        while (!w.done) {
            pthread_cond_wait(&w.cv, &w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        st = w.st;
    }
    double t = bm_now_ns() - t0;
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return st == SPECX_OK ? t : -1;
}

/* ---- set-up --------------------------------------------------------------------- */

static specx_rpc_client *client(int port, const char *opts)
{
    char spec[128];
    snprintf(spec, sizeof spec, "127.0.0.1:%d%s", port, opts);
    specx_rpc_client_config cfg;
    specx_rpc_client *c = NULL;
    specx_err err = {{0}};
    if (specx_rpc_client_config_parse(spec, &cfg, &err) != SPECX_OK ||
        specx_rpc_client_create(&cfg, &c, &err) != SPECX_OK) {
        fprintf(stderr, "specx bench metrics: client: %s\n", err.msg);
        return NULL;
    }
    return c;
}

static int write_tokens(bench_world *w)
{
    snprintf(w->tokens_path, sizeof w->tokens_path, "/tmp/specx-bench-tokens-XXXXXX");
    int fd = mkstemp(w->tokens_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    w->tok = calloc(TOKENS, sizeof *w->tok);
    if (f == NULL || w->tok == NULL) {
        return -1;
    }
    for (int i = 0; i < TOKENS; i++) {
        char id[32], line[160];
        snprintf(id, sizeof id, "vehicle-%04d", i);
        specx_token_generate(&w->tok[i], NULL);
        specx_token_file_line(id, &w->tok[i], line, sizeof line, NULL);
        fputs(line, f);
    }
    return fclose(f);
}

static int start_servers(bench_world *w)
{
    static specx_detector_config det = {.model = "test"};
    for (int s = 0; s < NSERV; s++) {
        if (s != PLAIN && specx_metrics_create(&w->reg[s], NULL) != SPECX_OK) {
            return -1;
        }
        specx_server_config cfg = {.bind = "127.0.0.1",
                                   .workers = 1,
                                   .no_decode = true,
                                   .open_detector = specx_pipeline_open_detector,
                                   .open_detector_user = &det,
                                   .metrics = w->reg[s]};
        if (s == AUTH) {
            cfg.auth_tokens_file = w->tokens_path;
            cfg.quota_rps = 1e9;
            cfg.quota_bytes_per_s = 1e12;
        }
        specx_err err = {{0}};
        if (specx_server_start(&cfg, &w->srv[s], &err) != SPECX_OK) {
            fprintf(stderr, "specx bench metrics: server: %s\n", err.msg);
            return -1;
        }
    }
    setenv(ENV, w->tok[0].s, 1);
    for (int s = 0; s < NSERV; s++) {
        w->cli[s] = client(specx_server_port(w->srv[s]), s == AUTH ? ",token-env=" ENV : "");
        if (w->cli[s] == NULL) {
            return -1;
        }
    }
    unsetenv(ENV);
    return 0;
}

static void stop_servers(bench_world *w)
{
    for (int s = 0; s < NSERV; s++) {
        specx_rpc_client_destroy(w->cli[s]);
        specx_server_destroy(w->srv[s]);
        specx_metrics_destroy(w->reg[s]);
    }
    for (int i = 0; w->tok != NULL && i < TOKENS; i++) {
        specx_token_clear(&w->tok[i]);
    }
    free(w->tok);
    if (w->tokens_path[0] != '\0') {
        unlink(w->tokens_path);
    }
    specx_encoded_frame_unref(w->frame);
}

/* ---- paired round trips ------------------------------------------------------------ */

static double median_of(double *v, size_t n)
{
    double *c = malloc(n * sizeof *c);
    memcpy(c, v, n * sizeof *c);
    /* insertion sort: n is a block (<= a few thousand) */
    for (size_t i = 1; i < n; i++) {
        double x = c[i];
        size_t j = i;
        for (; j > 0 && c[j - 1] > x; j--) {
            c[j] = c[j - 1];
        }
        c[j] = x;
    }
    double m = c[n / 2];
    free(c);
    return m;
}

/* --only: one server's calls, no warm-up beyond one call, no timing. */
static int only(const bm_opts *o, bench_world *w)
{
    int failures = 0;
    for (int i = 0; i < o->rounds * o->calls; i++) {
        failures += call_once(w->cli[o->only], w->frame) < 0;
    }
    printf("%d calls to the %s server, %d failed\n", o->rounds * o->calls, serv_names[o->only],
           failures);
    return failures > 0 ? -1 : 0;
}

static int paired(const bm_opts *o, bench_world *w)
{
    size_t per = (size_t)o->calls, n = (size_t)o->rounds * per;
    double *lat[NSERV], *med[NSERV];
    for (int s = 0; s < NSERV; s++) {
        lat[s] = calloc(n, sizeof *lat[s]);
        med[s] = calloc((size_t)o->rounds, sizeof *med[s]);
    }
    for (int s = 0; s < NSERV; s++) { /* warm up: connections, first series */
        for (int i = 0; i < 50; i++) {
            call_once(w->cli[s], w->frame);
        }
    }
    int failures = 0;
    for (int r = 0; r < o->rounds; r++) {
        for (int k = 0; k < NSERV; k++) {
            int s = (r + k) % NSERV; /* rotate the order every round */
            double *v = lat[s] + (size_t)r * per;
            for (size_t i = 0; i < per; i++) {
                v[i] = call_once(w->cli[s], w->frame) / 1e3;
                failures += v[i] < 0;
            }
            med[s][r] = median_of(v, per);
        }
    }
    for (int s = 0; s < NSERV; s++) {
        char name[96];
        snprintf(name, sizeof name, "server path: unary round trip, %s", serv_names[s]);
        bm_report(o, name, lat[s], n, "us/call");
    }
    double *d = calloc((size_t)o->rounds, sizeof *d);
    for (int pair = 0; pair < 2; pair++) {
        for (int r = 0; r < o->rounds; r++) {
            d[r] = (med[pair + 1][r] - med[pair][r]) * 1e3;
        }
        bm_report(o,
                  pair == 0 ? "paired per round: metrics on - plain (block medians)"
                            : "paired per round: + tokens + quota - metrics on",
                  d, (size_t)o->rounds, "ns/call");
    }
    free(d);
    for (int s = 0; s < NSERV; s++) {
        free(lat[s]);
        free(med[s]);
    }
    if (failures > 0) {
        fprintf(stderr, "specx bench metrics: %d calls failed\n", failures);
    }
    return failures > 0 ? -1 : 0;
}

/* ---- the scrape ------------------------------------------------------------------------ */

/* GET /metrics over a fresh connection, read to the end; bytes of the whole
 * reply, or -1. */
static long http_get(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    long total = send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1) ? 0 : -1;
    char buf[16384];
    ssize_t k;
    while (total >= 0 && (k = recv(fd, buf, sizeof buf, 0)) > 0) {
        total += k;
    }
    close(fd);
    return total;
}

/* o->clients identities call the authenticating server twice each, so that
 * it holds per-client series like a fleet's server. */
static int populate(const bm_opts *o, bench_world *w)
{
    int port = specx_server_port(w->srv[AUTH]);
    for (int i = 0; i < o->clients && i < TOKENS; i++) {
        setenv(ENV, w->tok[i].s, 1);
        specx_rpc_client *c = client(port, ",token-env=" ENV);
        unsetenv(ENV);
        if (c == NULL) {
            return -1;
        }
        bool ok = call_once(c, w->frame) >= 0 && call_once(c, w->frame) >= 0;
        specx_rpc_client_destroy(c);
        if (!ok) {
            return -1;
        }
    }
    return 0;
}

static int scrape(const bm_opts *o, bench_world *w)
{
    if (populate(o, w) != 0) {
        fprintf(stderr, "specx bench metrics: calls from %d identities failed\n", o->clients);
        return -1;
    }
    specx_metrics_http *http = NULL;
    specx_err err = {{0}};
    if (specx_metrics_http_open(w->reg[AUTH], "127.0.0.1:0", &http, &err) != SPECX_OK) {
        fprintf(stderr, "specx bench metrics: %s\n", err.msg);
        return -1;
    }
    int port = specx_metrics_http_port(http);
    enum { N = 300 };
    static double v[N];
    long bytes = 0;
    for (int i = 0; i < N && bytes >= 0; i++) {
        double t0 = bm_now_ns();
        bytes = http_get(port);
        v[i] = (bm_now_ns() - t0) / 1e3;
    }
    specx_metrics_http_close(http);
    if (bytes < 0) {
        fprintf(stderr, "specx bench metrics: GET /metrics failed\n");
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    specx_metrics_render(w->reg[AUTH], &text, &len, NULL);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    specx_metrics_text_free(text);
    char name[128];
    snprintf(name, sizeof name, "scrape: GET /metrics, %d clients, %zu lines, %ld bytes",
             o->clients, lines, bytes);
    bm_report(o, name, v, N, "us/scrape");
    static double r[N];
    for (int i = 0; i < N; i++) {
        double t0 = bm_now_ns();
        specx_metrics_render(w->reg[AUTH], &text, &len, NULL);
        r[i] = (bm_now_ns() - t0) / 1e3;
        specx_metrics_text_free(text);
    }
    bm_report(o, "scrape: of which the render (collectors + text)", r, N, "us/render");
    return 0;
}

int bm_server_path(const bm_opts *o)
{
    bench_world w = {.frame = NULL};
    uint8_t *payload = calloc(1, 4096); /* not decoded: any bytes */
    int rc =
        payload != NULL && specx_encoded_frame_take(payload, 4096, &w.frame) == SPECX_OK ? 0 : -1;
    if (rc != 0) {
        free(payload);
    }
    if (rc == 0) {
        rc = write_tokens(&w);
    }
    if (rc == 0) {
        rc = start_servers(&w);
    }
    if (rc == 0 && o->only >= 0) {
        rc = only(o, &w);
    } else if (rc == 0) {
        rc = paired(o, &w);
        rc = rc == 0 ? scrape(o, &w) : rc;
    }
    stop_servers(&w);
    return rc == 0 ? 0 : 1;
}
