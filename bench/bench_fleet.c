/* bench_fleet.c — `specx bench fleet`: M emulated vehicles against a pool of
 * K replicas, directly (gRPC round_robin with health checking) and through
 * nginx (deploy/nginx/nginx.conf), as M grows. Prints per step the
 * vehicles' cloud win share, end-to-end latency, the replicas' utilisation
 * and queue time, what was shed, expired and pushed out, and then the knee
 * where the win share falls. Never passes or fails on time.
 *
 * Design notes
 * - Replicas are specx servers in this process running the test detector:
 *   test:delay_ms=D sleeps D ms per request on an absolute schedule, standing
 *   in for a GPU that does not use this machine's CPU (fleet.detector_delay
 *   checks that it takes D ms). Each step starts fresh replicas.
 * - A vehicle is a pipeline (the engine of `specx run`) with a local test
 *   detector and one --server: the pool, with its own gRPC channel and
 *   connections. One thread paces every vehicle at its camera rate, each
 *   with its own phase (fixed-seed random), on absolute times.
 * - The first warm-up seconds of a step are not counted (channels
 *   connecting, nginx starting): vehicle outputs before that frame are
 *   skipped, and replica counters and histograms are differences from a
 *   snapshot taken then (specx_hist_sub). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "specx/hist.h"
#include "specx/pipeline.h"
#include "specx/serve.h"

#include "bench.h"
#include "cli.h"

#define MAX_REPLICAS 16
#define MAX_STEPS 32
#define MAX_VEHICLES 256

typedef struct fleet_opts {
    int replicas, workers, queue, delay_ms, local_ms, fps, max_in_flight;
    double deadline_ms, seconds, warmup_s;
    int width, height;
    int vehicles[MAX_STEPS];
    int n_steps;
    bool no_nginx, no_direct;
    const char *source, *json;
} fleet_opts;

/* ---- vehicles ------------------------------------------------------------ */

typedef struct vehicle {
    specx_pipeline *p;
    pthread_mutex_t mu;
    int64_t warm; /* outputs of earlier frames are not counted */
    uint64_t frames, cloud_wins, shed, late, failed;
    specx_hist e2e; /* ns */
} vehicle;

static void on_output(void *user, const specx_pipeline_output *o)
{
    vehicle *v = user;
    if (o->index < v->warm) {
        return;
    }
    pthread_mutex_lock(&v->mu);
    v->frames++;
    v->cloud_wins += o->winner >= 0 && !o->is_local;
    for (size_t i = 0; i < o->n_exec; i++) {
        const specx_pipeline_exec *e = &o->exec[i];
        if (!e->is_local) {
            v->shed += e->fate == SPECX_FATE_SHED;
            v->late += e->fate == SPECX_FATE_LATE;
            v->failed += e->fate == SPECX_FATE_FAILED;
        }
    }
    specx_hist_record(&v->e2e, (int64_t)(o->latency_ms * 1e6));
    pthread_mutex_unlock(&v->mu);
}

/* ---- replicas -------------------------------------------------------------- */

typedef struct pool {
    specx_server *srv[MAX_REPLICAS];
    int k;
    specx_detector_config dc;
    char model[64];
    specx_server_stats *warm; /* [k], at the end of the warm-up */
} pool;

static void pool_stop(pool *pl)
{
    for (int i = 0; i < pl->k; i++) {
        specx_server_destroy(pl->srv[i]);
    }
    free(pl->warm);
    pl->k = 0;
}

static int pool_start(pool *pl, const fleet_opts *o, bool behind_proxy)
{
    memset(pl, 0, sizeof *pl);
    snprintf(pl->model, sizeof pl->model, "test:delay_ms=%d", o->delay_ms);
    pl->dc.model = pl->model;
    pl->warm = calloc((size_t)o->replicas, sizeof *pl->warm);
    if (pl->warm == NULL) {
        return 1;
    }
    specx_server_config sc = {.bind = "127.0.0.1",
                              .workers = o->workers,
                              .queue_capacity = o->queue,
                              .open_detector = specx_pipeline_open_detector,
                              .open_detector_user = &pl->dc,
                              .client_key_header = behind_proxy ? "x-specx-client" : NULL};
    for (; pl->k < o->replicas; pl->k++) {
        specx_err err = {{0}};
        specx_status st = specx_server_start(&sc, &pl->srv[pl->k], &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx bench fleet: replica: %s\n", specx_err_text(&err, st));
            pool_stop(pl);
            return 1;
        }
    }
    return 0;
}

/* ---- nginx ----------------------------------------------------------------- */

typedef struct proxy {
    pid_t pid;
    int port;
    char dir[64];
} proxy;

/* deploy/nginx/nginx.conf of the source checkout (specx_bench_source_dir). */
static bool find_conf(const char *given, char *out, size_t n)
{
    char dir[PATH_MAX];
    if (!specx_bench_source_dir(given, "deploy/nginx/nginx.conf", dir, sizeof dir)) {
        return false;
    }
    int w = snprintf(out, n, "%s/deploy/nginx/nginx.conf", dir);
    return w > 0 && (size_t)w < n;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* The shipped configuration with a loopback port and these replicas. */
static bool proxy_write_conf(proxy *px, const char *conf, const pool *pl)
{
    FILE *in = fopen(conf, "r");
    char path[128];
    snprintf(path, sizeof path, "%s/nginx.conf", px->dir);
    FILE *out = in != NULL ? fopen(path, "w") : NULL;
    char line[1024];
    bool listen = false;
    while (out != NULL && fgets(line, sizeof line, in) != NULL) {
        if (strstr(line, "listen 8080 http2;") != NULL) {
            fprintf(out, "        listen 127.0.0.1:%d http2;\n", px->port);
            listen = true;
        } else {
            fputs(line, out);
        }
    }
    bool ok = out != NULL && listen && fclose(out) == 0;
    if (in != NULL) {
        fclose(in);
    }
    snprintf(path, sizeof path, "%s/replicas.conf", px->dir);
    FILE *r = ok ? fopen(path, "w") : NULL;
    for (int i = 0; r != NULL && i < pl->k; i++) {
        fprintf(r, "server 127.0.0.1:%d max_fails=1 fail_timeout=1s;\n",
                specx_server_port(pl->srv[i]));
    }
    return r != NULL && fclose(r) == 0;
}

static void proxy_stop(proxy *px)
{
    if (px->pid > 0) {
        kill(px->pid, SIGQUIT);
        waitpid(px->pid, NULL, 0);
        px->pid = 0;
    }
    if (px->dir[0] != '\0' && getenv("SPECX_KEEP_TMP") != NULL) {
        fprintf(stderr, "specx bench fleet: nginx's files kept in %s\n", px->dir);
    } else if (px->dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", px->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "specx bench fleet: could not remove %s\n", px->dir);
        }
        px->dir[0] = '\0';
    }
}

/* Starts nginx (no daemon, its own prefix); the warm-up covers its start. */
static bool proxy_start(proxy *px, const char *conf, const pool *pl)
{
    memset(px, 0, sizeof *px);
    snprintf(px->dir, sizeof px->dir, "/tmp/specx-bench-nginx-XXXXXX");
    if (mkdtemp(px->dir) == NULL || (px->port = free_port()) == 0 ||
        !proxy_write_conf(px, conf, pl)) {
        proxy_stop(px);
        return false;
    }
    char cpath[128], err[128];
    snprintf(cpath, sizeof cpath, "%s/nginx.conf", px->dir);
    snprintf(err, sizeof err, "%s/stderr.txt", px->dir);
    const char *bin = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "nginx";
    px->pid = fork();
    if (px->pid == 0) {
        int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp(bin, bin, "-p", px->dir, "-c", cpath, "-e", "stderr", "-g", "daemon off;",
               (char *)NULL);
        _exit(127);
    }
    return px->pid > 0;
}

static bool proxy_alive(const proxy *px)
{
    return px->pid > 0 && waitpid(px->pid, NULL, WNOHANG) == 0;
}

/* ---- one step ------------------------------------------------------------- */

typedef struct replica_res {
    double util, queue_p50, queue_p99;
    uint64_t received, expired, rejected, evicted;
} replica_res;

typedef struct step_res {
    int m;
    bool nginx, ok;
    double share_mean, share_min, share_max, e2e_p50, e2e_p99, wall_s;
    double share[MAX_VEHICLES]; /* per vehicle */
    uint64_t frames, shed, late, failed, expired, rejected, evicted;
    replica_res rep[MAX_REPLICAS];
} step_res;

/* Vehicles share one pool string: the replicas (round_robin, health checked)
 * or nginx. */
static void pool_target(const pool *pl, const proxy *px, char *buf, size_t n)
{
    if (px != NULL) {
        snprintf(buf, n, "127.0.0.1:%d,name=pool", px->port);
        return;
    }
    size_t len = (size_t)snprintf(buf, n, "ipv4:");
    for (int i = 0; i < pl->k && len < n; i++) {
        len += (size_t)snprintf(buf + len, n - len, "%s127.0.0.1:%d", i > 0 ? "," : "",
                                specx_server_port(pl->srv[i]));
    }
    if (len < n) {
        snprintf(buf + len, n - len, ",lb=round_robin,name=pool");
    }
}

static int vehicles_create(vehicle *v, int m, const fleet_opts *o, const char *target)
{
    specx_rpc_client_config cc;
    specx_err err = {{0}};
    specx_status st = specx_rpc_client_config_parse(target, &cc, &err);
    char local[64];
    snprintf(local, sizeof local, "test:delay_ms=%d", o->local_ms);
    for (int i = 0; st == SPECX_OK && i < m; i++) {
        pthread_mutex_init(&v[i].mu, NULL);
        specx_hist_init(&v[i].e2e);
        v[i].warm = (int64_t)(o->warmup_s * o->fps);
        specx_pipeline_config pc = {.local = {.model = local},
                                    .servers = &cc,
                                    .n_servers = 1,
                                    .remote_max_in_flight = o->max_in_flight,
                                    .deadline = (specx_dur_t)(o->deadline_ms * 1e6),
                                    .mode = SPECX_PIPELINE_STREAM,
                                    .output = on_output,
                                    .output_user = &v[i]};
        st = specx_pipeline_create(&pc, &v[i].p, &err);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench fleet: vehicle: %s\n", specx_err_text(&err, st));
        return 1;
    }
    return 0;
}

static void vehicles_destroy(vehicle *v, int m)
{
    for (int i = 0; i < m; i++) {
        specx_pipeline_destroy(v[i].p);
        pthread_mutex_destroy(&v[i].mu);
    }
}

static void snapshot(pool *pl)
{
    for (int r = 0; r < pl->k; r++) {
        specx_server_get_stats(pl->srv[r], &pl->warm[r]);
    }
}

static int cmp_pacer(const void *a, const void *b)
{
    const specx_pacer *x = *(specx_pacer *const *)a, *y = *(specx_pacer *const *)b;
    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

/* Paces every vehicle at o->fps, each with its own phase, in phase order;
 * snapshots the replicas when the warm-up ends. Returns the measured wall
 * time, s. */
static double drive(vehicle *v, int m, const fleet_opts *o, pool *pl, const specx_image *tmpl)
{
    int64_t frames = (int64_t)((o->warmup_s + o->seconds) * o->fps);
    int64_t warm = v[0].warm;
    unsigned seed = 12345;
    static specx_pacer pace[MAX_VEHICLES];
    static specx_pacer *order[MAX_VEHICLES];
    specx_time_t base = specx_time_add(specx_time_mono(), SPECX_MS(50));
    for (int i = 0; i < m; i++) {
        double phase = (double)rand_r(&seed) / ((double)RAND_MAX + 1.0) / o->fps;
        pace[i] =
            (specx_pacer){.t0 = specx_time_add(base, (specx_dur_t)(phase * 1e9)), .fps = o->fps};
        order[i] = &pace[i];
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    qsort(order, (size_t)m, sizeof order[0], cmp_pacer);
    specx_time_t measured_from = base;
    for (int64_t f = 0; f < frames; f++) {
        if (f == warm) {
            snapshot(pl);
            measured_from = specx_time_mono();
        }
        for (int k = 0; k < m; k++) {
            int i = (int)(order[k] - pace);
            specx_pacer_wait(order[k], f, NULL);
            specx_image img = {0};
            if (specx_image_copy(&img, tmpl) == SPECX_OK) {
                specx_err err = {{0}};
                specx_pipeline_push(v[i].p, &img, f, (double)f / o->fps, &err);
            }
        }
    }
    for (int i = 0; i < m; i++) {
        specx_pipeline_finish(v[i].p);
    }
    if (warm >= frames) {
        snapshot(pl);
    }
    return specx_dur_ms(specx_time_mono() - measured_from) / 1e3;
}

/* Replica r's figures since the warm-up snapshot. */
static replica_res replica_figures(pool *pl, int r, int workers, double wall_s)
{
    specx_server_stats *now = malloc(sizeof *now);
    replica_res rr = {0};
    if (now == NULL) {
        return rr;
    }
    specx_server_get_stats(pl->srv[r], now);
    const specx_server_stats *w = &pl->warm[r];
    specx_hist_sub(&now->queue_wait, &w->queue_wait);
    specx_hist_sub(&now->compute, &w->compute);
    rr.util = wall_s > 0 ? now->compute.sum / 1e9 / (workers * wall_s) : 0;
    rr.queue_p50 = (double)specx_hist_quantile(&now->queue_wait, 0.5) / 1e6;
    rr.queue_p99 = (double)specx_hist_quantile(&now->queue_wait, 0.99) / 1e6;
    rr.received = now->received - w->received;
    rr.expired = now->expired - w->expired;
    rr.rejected = now->rejected - w->rejected;
    rr.evicted = now->evicted - w->evicted;
    free(now);
    return rr;
}

static void vehicle_figures(vehicle *v, int m, step_res *res)
{
    specx_hist *all = malloc(sizeof *all);
    if (all == NULL) {
        return;
    }
    specx_hist_init(all);
    res->share_min = 1;
    double sum = 0;
    for (int i = 0; i < m; i++) {
        double share = v[i].frames > 0 ? (double)v[i].cloud_wins / (double)v[i].frames : 0;
        res->share[i] = share;
        sum += share;
        res->share_min = share < res->share_min ? share : res->share_min;
        res->share_max = share > res->share_max ? share : res->share_max;
        res->frames += v[i].frames;
        res->shed += v[i].shed;
        res->late += v[i].late;
        res->failed += v[i].failed;
        specx_hist_merge(all, &v[i].e2e);
    }
    res->share_mean = sum / m;
    res->e2e_p50 = (double)specx_hist_quantile(all, 0.5) / 1e6;
    res->e2e_p99 = (double)specx_hist_quantile(all, 0.99) / 1e6;
    free(all);
}

/* One step: fresh replicas (and nginx), m vehicles for warm-up + seconds. */
static void run_step(const fleet_opts *o, int m, const char *conf, const specx_image *tmpl,
                     step_res *res)
{
    *res = (step_res){.m = m, .nginx = conf != NULL};
    pool pl;
    proxy px = {0};
    if (pool_start(&pl, o, conf != NULL) != 0) {
        return;
    }
    if (conf != NULL && !proxy_start(&px, conf, &pl)) {
        fprintf(stderr, "specx bench fleet: cannot start nginx\n");
        pool_stop(&pl);
        return;
    }
    char target[1024];
    pool_target(&pl, conf != NULL ? &px : NULL, target, sizeof target);
    vehicle *v = calloc((size_t)m, sizeof *v);
    if (v != NULL && vehicles_create(v, m, o, target) == 0) {
        res->wall_s = drive(v, m, o, &pl, tmpl);
        res->ok = conf == NULL || proxy_alive(&px);
        vehicle_figures(v, m, res);
        for (int r = 0; r < pl.k; r++) {
            res->rep[r] = replica_figures(&pl, r, o->workers, res->wall_s);
            res->expired += res->rep[r].expired;
            res->rejected += res->rep[r].rejected;
            res->evicted += res->rep[r].evicted;
        }
    }
    if (v != NULL) {
        vehicles_destroy(v, m);
        free(v);
    }
    proxy_stop(&px);
    pool_stop(&pl);
}

/* ---- printing ------------------------------------------------------------- */

static void print_header(void)
{
    printf("%-7s %3s %7s  %-17s %-15s %-24s %-21s %5s %5s %6s %5s\n", "path", "M", "calls/s",
           "win share mean/min", "e2e p50/p99 ms", "replica utilisation %", "queue p50/p99 ms",
           "shed", "late", "expird", "evict");
}

static void print_row(const fleet_opts *o, const step_res *r)
{
    if (!r->ok) {
        printf("%-7s %3d  (failed: see the messages above)\n", r->nginx ? "nginx" : "direct", r->m);
        return;
    }
    char util[64] = "", queue[64];
    double q50 = 0, q99 = 0;
    for (int i = 0; i < o->replicas; i++) {
        size_t len = strlen(util);
        snprintf(util + len, sizeof util - len, "%s%.0f", i > 0 ? "/" : "", 100 * r->rep[i].util);
        q50 = r->rep[i].queue_p50 > q50 ? r->rep[i].queue_p50 : q50;
        q99 = r->rep[i].queue_p99 > q99 ? r->rep[i].queue_p99 : q99;
    }
    snprintf(queue, sizeof queue, "%.1f/%.1f (worst)", q50, q99);
    char share[32], e2e[32];
    snprintf(share, sizeof share, "%.3f/%.3f", r->share_mean, r->share_min);
    snprintf(e2e, sizeof e2e, "%.1f/%.1f", r->e2e_p50, r->e2e_p99);
    printf("%-7s %3d %7.0f  %-17s %-15s %-24s %-21s %5llu %5llu %6llu %5llu\n",
           r->nginx ? "nginx" : "direct", r->m, (double)r->m * o->fps, share, e2e, util, queue,
           (unsigned long long)r->shed, (unsigned long long)r->late, (unsigned long long)r->expired,
           (unsigned long long)r->evicted);
    fflush(stdout);
}

/* The first step whose mean win share is 5 points below the first step's. */
static void print_knee(const fleet_opts *o, const step_res *res, int n, bool nginx)
{
    const step_res *first = NULL, *prev = NULL;
    for (int i = 0; i < n; i++) {
        const step_res *r = &res[i];
        if (r->nginx != nginx || !r->ok) {
            continue;
        }
        if (first == NULL) {
            first = r;
        } else if (r->share_mean < first->share_mean - 0.05) {
            printf("knee (%s): the win share falls between M=%d (%.3f) and M=%d (%.3f)\n",
                   nginx ? "nginx" : "direct", prev->m, prev->share_mean, r->m, r->share_mean);
            return;
        }
        prev = r;
    }
    if (first != NULL) {
        printf("knee (%s): none up to M=%d (win share %.3f at M=%d)\n", nginx ? "nginx" : "direct",
               prev->m, prev->share_mean, first->m);
    }
    (void)o;
}

static void write_json(const fleet_opts *o, const step_res *res, int n)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "replicas", o->replicas);
    cJSON_AddNumberToObject(j, "workers", o->workers);
    cJSON_AddNumberToObject(j, "delay_ms", o->delay_ms);
    cJSON_AddNumberToObject(j, "fps", o->fps);
    cJSON_AddNumberToObject(j, "deadline_ms", o->deadline_ms);
    cJSON *steps = cJSON_AddArrayToObject(j, "steps");
    for (int i = 0; i < n; i++) {
        const step_res *r = &res[i];
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "path", r->nginx ? "nginx" : "direct");
        cJSON_AddNumberToObject(s, "vehicles", r->m);
        cJSON_AddBoolToObject(s, "ok", r->ok);
        cJSON_AddNumberToObject(s, "win_share_mean", r->share_mean);
        cJSON_AddNumberToObject(s, "win_share_min", r->share_min);
        cJSON_AddNumberToObject(s, "win_share_max", r->share_max);
        cJSON_AddNumberToObject(s, "e2e_p50_ms", r->e2e_p50);
        cJSON_AddNumberToObject(s, "e2e_p99_ms", r->e2e_p99);
        cJSON_AddNumberToObject(s, "frames", (double)r->frames);
        cJSON_AddNumberToObject(s, "shed", (double)r->shed);
        cJSON_AddNumberToObject(s, "late", (double)r->late);
        cJSON_AddNumberToObject(s, "failed", (double)r->failed);
        cJSON_AddNumberToObject(s, "expired", (double)r->expired);
        cJSON_AddNumberToObject(s, "rejected", (double)r->rejected);
        cJSON_AddNumberToObject(s, "evicted", (double)r->evicted);
        cJSON *per = cJSON_AddArrayToObject(s, "win_share");
        for (int k = 0; k < r->m; k++) {
            cJSON_AddItemToArray(per, cJSON_CreateNumber(r->share[k]));
        }
        cJSON *reps = cJSON_AddArrayToObject(s, "replicas");
        for (int k = 0; k < o->replicas; k++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "utilisation", r->rep[k].util);
            cJSON_AddNumberToObject(x, "queue_p50_ms", r->rep[k].queue_p50);
            cJSON_AddNumberToObject(x, "queue_p99_ms", r->rep[k].queue_p99);
            cJSON_AddNumberToObject(x, "received", (double)r->rep[k].received);
            cJSON_AddItemToArray(reps, x);
        }
        cJSON_AddItemToArray(steps, s);
    }
    char *txt = cJSON_Print(j);
    FILE *f = txt != NULL ? fopen(o->json, "w") : NULL;
    if (f == NULL || fprintf(f, "%s\n", txt) < 0 || fclose(f) != 0) {
        fprintf(stderr, "specx bench fleet: cannot write %s: %s\n", o->json, strerror(errno));
    }
    free(txt);
    cJSON_Delete(j);
}

/* ---- options and main ----------------------------------------------------- */

static bool take_vehicles(const char *v, void *out, char *msg, size_t n)
{
    fleet_opts *o = out;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    o->n_steps = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int m;
        if (o->n_steps == MAX_STEPS || !specx_cli_int(t, 1, MAX_VEHICLES, &m)) {
            snprintf(msg, n, "want up to %d counts in 1..%d, e.g. 2,4,8", MAX_STEPS, MAX_VEHICLES);
            return false;
        }
        o->vehicles[o->n_steps++] = m;
    }
    return o->n_steps > 0;
}

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench fleet [options]\n\n"
               "M emulated vehicles (each a paced pipeline with its own gRPC channel) against\n"
               "K replicas, directly (round_robin + health checking) and through nginx\n"
               "(deploy/nginx/nginx.conf), for each M in --vehicles. Replicas run the test\n"
               "detector: it sleeps --delay-ms per request, a stand-in for a GPU that does not\n"
               "use this machine's CPU. Prints win share, latency, utilisation and the knee.\n\n");
    specx_cli_print_options(f, opts);
}

static int parse_opts(int argc, char **argv, fleet_opts *o)
{
    *o = (fleet_opts){.replicas = 3,
                      .workers = 1,
                      .queue = 64,
                      .delay_ms = 10,
                      .local_ms = 30,
                      .fps = 30,
                      .max_in_flight = 4,
                      .deadline_ms = 100,
                      .seconds = 4,
                      .warmup_s = 1,
                      .width = 64,
                      .height = 48};
    take_vehicles("2,4,6,8,10,12,16", o, NULL, 0);
    const specx_cli_opt opts[] = {
        {"replicas", 0, SPECX_CLI_INT, &o->replicas, 1, MAX_REPLICAS, .meta = "K",
         .help = "replicas (default 3)"},
        {"workers", 0, SPECX_CLI_INT, &o->workers, 1, 64, .meta = "W",
         .help = "workers per replica (default 1)"},
        {"delay-ms", 0, SPECX_CLI_INT, &o->delay_ms, 0, 10000, .meta = "D",
         .help = "replica compute per request, ms (default 10)"},
        {"vehicles", 0, SPECX_CLI_CALL, o, .call = take_vehicles, .meta = "LIST",
         .help = "vehicle counts, one step each (default 2,4,6,8,10,12,16)"},
        {"fps", 0, SPECX_CLI_INT, &o->fps, 1, 1000, .meta = "N",
         .help = "frames per second per vehicle (default 30)"},
        {"deadline", 0, SPECX_CLI_DOUBLE, &o->deadline_ms, 1, 1e6, .meta = "MS",
         .help = "per-frame deadline (default 100)"},
        {"local-ms", 0, SPECX_CLI_INT, &o->local_ms, 0, 10000, .meta = "MS",
         .help = "on-board detector time (test detector; default 30)"},
        {"max-in-flight", 0, SPECX_CLI_INT, &o->max_in_flight, 1, 1000, .meta = "N",
         .help = "calls in flight per vehicle before frames are shed (default 4)"},
        {"queue", 0, SPECX_CLI_INT, &o->queue, 1, 100000, .meta = "N",
         .help = "replica queue (default 64)"},
        {"seconds", 0, SPECX_CLI_DOUBLE, &o->seconds, 0.5, 3600, .meta = "S",
         .help = "measured seconds per step (default 4)"},
        {"warmup", 0, SPECX_CLI_DOUBLE, &o->warmup_s, 0, 60, .meta = "S",
         .help = "uncounted seconds first (default 1)"},
        {"no-nginx", 0, SPECX_CLI_FLAG, &o->no_nginx, .help = "direct only"},
        {"no-direct", 0, SPECX_CLI_FLAG, &o->no_direct, .help = "through nginx only"},
        {"source", 0, SPECX_CLI_STRING, &o->source, .meta = "DIR",
         .help = "the source tree, for deploy/nginx (default: $SPECX_SOURCE_DIR,\n"
                 "or the checkout this binary was built in)"},
        {"json", 0, SPECX_CLI_STRING, &o->json, .meta = "FILE", .help = "the figures as JSON"},
        {0},
    };
    int rc = specx_cli_parse("specx bench fleet", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
    }
    return rc;
}

static void print_intro(const fleet_opts *o, const char *conf)
{
    double per_replica = o->workers * 1000.0 / (o->delay_ms > 0 ? o->delay_ms : 1);
    double loadavg[1] = {0};
    if (getloadavg(loadavg, 1) < 1) {
        loadavg[0] = -1;
    }
    printf("specx bench fleet: %d replicas x %d worker(s), each request %d ms on the test\n"
           "detector (test:delay_ms=%d sleeps: a stand-in for a GPU that does not use this\n"
           "machine's CPU); vehicles at %d fps, deadline %.0f ms, on-board detector %d ms,\n"
           "up to %d calls in flight each; %.1f s warm-up + %.1f s measured per step.\n"
           "Capacity: %.0f calls/s per replica, %.0f for the pool = %.1f vehicles at 100%%.\n"
           "nginx: %s. Load average at start %.1f.\n\n",
           o->replicas, o->workers, o->delay_ms, o->delay_ms, o->fps, o->deadline_ms, o->local_ms,
           o->max_in_flight, o->warmup_s, o->seconds, per_replica, per_replica * o->replicas,
           per_replica * o->replicas / o->fps, conf != NULL ? conf : "not used", loadavg[0]);
}

int specx_bench_fleet(int argc, char **argv)
{
    fleet_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != SPECX_CLI_OK) {
        return rc == SPECX_CLI_HELP ? 0 : 2;
    }
    char conf[PATH_MAX];
    bool nginx = !o.no_nginx && find_conf(o.source, conf, sizeof conf);
    if (!o.no_nginx && !nginx) {
        fprintf(stderr, "specx bench fleet: no deploy/nginx/nginx.conf (use --source DIR); "
                        "direct only\n");
    }
    signal(SIGPIPE, SIG_IGN);
    print_intro(&o, nginx ? conf : NULL);
    specx_image tmpl = {0};
    if (specx_image_alloc(&tmpl, o.width, o.height) != SPECX_OK) {
        return 1;
    }
    for (int i = 0; i < tmpl.stride * tmpl.height; i++) {
        tmpl.data[i] = (uint8_t)(i * 7);
    }
    static step_res res[2 * MAX_STEPS];
    int n = 0;
    print_header();
    for (int s = 0; s < o.n_steps; s++) {
        for (int path = 0; path < 2; path++) {
            if ((path == 0 && o.no_direct) || (path == 1 && !nginx)) {
                continue;
            }
            run_step(&o, o.vehicles[s], path == 1 ? conf : NULL, &tmpl, &res[n]);
            print_row(&o, &res[n]);
            rc |= res[n++].ok ? 0 : 1;
        }
    }
    printf("\n");
    for (int path = 0; path < 2; path++) {
        if ((path == 0 && !o.no_direct) || (path == 1 && nginx)) {
            print_knee(&o, res, n, path == 1);
        }
    }
    printf("(win share: frames whose output came from the pool, per vehicle; e2e: arrival to\n"
           "output; utilisation: compute time / (workers x wall time); queue: arrival to\n"
           "worker start, worst replica; shed: not sent, in-flight bound; late: answered after\n"
           "the deadline; expird: expired in a replica queue; evict: pushed out of a full\n"
           "queue)\n");
    if (o.json != NULL) {
        write_json(&o, res, n);
    }
    specx_image_clear(&tmpl);
    return rc;
}
