/* cmd_eval.c — `specx eval`: detection accuracy over time on a labelled image
 * set, per mode (local, cloud, speculative, cloud-unbounded) and deadline,
 * through the pipeline engine, the netem link and the eval library.
 *
 * Design notes
 *  - Every image is one camera frame. Frames are decoded once up front and
 *    pushed (copies) at t0 + i/fps on an absolute CLOCK_MONOTONIC schedule in
 *    STREAM mode, as a camera would deliver them: several frames can be in
 *    flight, and a slow detector shows up as queueing, shedding and late
 *    results rather than as a slower camera.
 *  - One run = one pipeline (mode, deadline, repeat) with a fresh netem link
 *    per server, seeded with seed + repeat (+ a per-server offset): within a
 *    repeat every mode and deadline sees the same delay draws for the same
 *    traffic (common random numbers); repeats differ.
 *  - Executor indices in the results: the servers in --server order, then
 *    "local" — the pipeline's own order, so a spec run needs no mapping; the
 *    local-only and remote-only runs are mapped onto it.
 *  - cloud-unbounded (deadline SPECX_TIME_NEVER, no in-flight bound) does not
 *    depend on the deadline: it runs once per repeat and the same run is
 *    stored at every deadline, so the plots draw it as a flat ceiling.
 *  - The output callback runs on the pipeline's delivery thread; it writes
 *    only its own frame's slot, and the feeding thread reads the slots after
 *    specx_pipeline_finish (which synchronises through the pipeline).
 *  - Ctrl-C stops feeding the current run; eval then drains it and exits
 *    with status 1 without writing a report (a partial grid would mislead). */
#include "cmd_eval.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "specx/codec.h"
#include "specx/eval.h"
#include "specx/netem.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "cli.h"
#include "commands.h"

#define MAX_SERVERS 8
#define MAX_DEADLINES 32
#define DEFAULT_CLOUD_MODEL "yolo-fastest-1.1-xl-416"
#define DEFAULT_LOCAL_MODEL "yolo-fastest-1.1"

typedef enum eval_mode { M_LOCAL, M_CLOUD, M_SPEC, M_UNBOUNDED, M_COUNT } eval_mode;
static const char *const mode_names[M_COUNT] = {"local", "cloud", "speculative", "cloud-unbounded"};

typedef struct eval_opts {
    const char *dataset, *images, *labels, *out_dir;
    const char *local_model, *cloud_model, *backend, *model_dir, *profile;
    specx_rpc_client_config servers[MAX_SERVERS];
    size_t n_servers;
    double deadlines[MAX_DEADLINES];
    size_t n_deadlines;
    bool modes[M_COUNT];
    int repeats, jpeg_quality, max_in_flight, cloud_workers;
    unsigned long long seed;
    double fps;
    float threshold;
    int64_t limit;
    bool quiet;
    bool full_frames; /* servers get whole frames (the uplink before issue 14) */
} eval_opts;

/* Everything a run needs that outlives it. */
typedef struct eval_ctx {
    const eval_opts *o;
    specx_eval_dataset *ds;
    specx_image *frames; /* decoded, ds->count */
    size_t n;
    specx_netem_profile *profile; /* NULL: no link */
    specx_server *server;         /* in-process cloud, or NULL */
    specx_detector_config cloud;  /* the in-process server's model */
    /* the servers as given (or the in-process one), with their names */
    specx_rpc_client_config servers[MAX_SERVERS];
    char server_names[MAX_SERVERS][SPECX_EVAL_NAME_MAX];
    size_t n_servers;
    char (*names)[SPECX_NAME_MAX]; /* coco.names, for servers that send no class id */
    size_t n_names;
    bool tty;
    size_t runs_done, runs_total;
    bool warned_unknown_label;
    atomic_bool stop; /* SIGINT */
    /* compute times of winning answers, per results executor: what the
     * replay is given to reproduce this run (compute-<executor>.txt) */
    double *compute[MAX_SERVERS + 1];
    size_t n_compute[MAX_SERVERS + 1], cap_compute[MAX_SERVERS + 1];
} eval_ctx;

/* One run's per-frame outputs. */
typedef struct run_rec {
    eval_ctx *e;
    eval_mode mode;
    const char *label; /* for progress */
    specx_detections *dets;
    double *latency_ms;
    double *infer_ms; /* the winner's compute time (detector or server infer_ms) */
    int *winner;
    int exec_map[MAX_SERVERS + 1]; /* pipeline executor index -> results index */
    size_t outputs;
    size_t unknown_labels;
    specx_time_t link_start, first_arrival; /* for link_offset_ms */
    specx_time_t last_progress;
} run_rec;

/* ---- helpers ---------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* N values log-spaced from a to b, to 3 significant digits. */
static bool log_deadlines(const char *s, double *out, size_t max, size_t *n)
{
    double a, b;
    int k, used = 0;
    if (sscanf(s, "log:%lf:%lf:%d%n", &a, &b, &k, &used) != 3 || s[used] != '\0' || !(a > 0) ||
        !(b > a) || k < 2 || (size_t)k > max || b > 1e7) {
        return false;
    }
    for (int i = 0; i < k; i++) {
        double v = a * pow(b / a, (double)i / (k - 1));
        double mag = pow(10.0, floor(log10(v)) - 2);
        out[i] = round(v / mag) * mag;
        if (i > 0 && out[i] <= out[i - 1]) {
            return false; /* too many points for the range at 3 digits */
        }
    }
    *n = (size_t)k;
    return true;
}

bool specx_eval_parse_deadlines(const char *s, double *out, size_t max, size_t *n_out)
{
    if (strncmp(s, "log:", 4) == 0) {
        return log_deadlines(s, out, max, n_out);
    }
    size_t n = 0;
    double v[256];
    max = max < 256 ? max : 256;
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        char tok[64];
        if (len == 0 || len >= sizeof tok || n >= max) {
            return false; /* empty field ("50,", ",50", "50,,100"), or too many */
        }
        snprintf(tok, sizeof tok, "%.*s", (int)len, p);
        if (!specx_cli_double(tok, 0, 1e7, &v[n]) || !(v[n] > 0)) {
            return false;
        }
        n++;
        p += len;
        if (*p == '\0') {
            break;
        }
    }
    qsort(v, n, sizeof v[0], cmp_double);
    for (size_t i = 1; i < n; i++) {
        if (v[i] == v[i - 1]) {
            return false;
        }
    }
    memcpy(out, v, n * sizeof v[0]);
    *n_out = n;
    return true;
}

static bool parse_deadlines(const char *s, eval_opts *o)
{
    return specx_eval_parse_deadlines(s, o->deadlines, MAX_DEADLINES, &o->n_deadlines);
}

static bool parse_modes(const char *s, eval_opts *o)
{
    bool modes[M_COUNT] = {false};
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) {
        return false;
    }
    bool any = false;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        int m = strcmp(t, "spec") == 0 ? M_SPEC : -1;
        for (int i = 0; i < M_COUNT; i++) {
            if (strcmp(t, mode_names[i]) == 0) {
                m = i;
            }
        }
        if (m < 0) {
            return false;
        }
        modes[m] = true;
        any = true;
    }
    if (any) {
        memcpy(o->modes, modes, sizeof modes);
    }
    return any;
}

static double load1(void)
{
    double l[1] = {-1};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* Moves the finite values of v to its front, sorted; returns their count. */
static size_t sort_finite(double *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        // NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage): v[0..n) all set by the caller
        if (isfinite(v[i])) {
            v[k++] = v[i];
        }
    }
    qsort(v, k, sizeof *v, cmp_double);
    return k;
}

/* Percentile of k sorted values; NAN if none. */
static double percentile(const double *sorted, size_t k, double q)
{
    if (k == 0) {
        return NAN;
    }
    return sorted[(size_t)(q * (double)(k - 1) + 0.5)]; /* the rank report.html uses */
}

/* coco.names (or whatever names file sits next to the models) for servers
 * that send labels but no class ids. Missing file: no mapping. */
static void load_names(eval_ctx *e)
{
    char dir[2048];
    specx_err err = {{0}};
    if (specx_model_dir_resolve(e->o->model_dir, dir, sizeof dir, &err) != SPECX_OK) {
        return;
    }
    char path[2200];
    snprintf(path, sizeof path, "%s/coco.names", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    char line[256];
    size_t cap = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (e->n_names == cap) {
            cap = cap ? cap * 2 : 128;
            void *nn = realloc(e->names, cap * sizeof *e->names);
            if (nn == NULL) {
                break;
            }
            e->names = nn;
        }
        snprintf(e->names[e->n_names++], SPECX_NAME_MAX, "%.63s", line);
    }
    fclose(f);
}

static int class_of_label(const eval_ctx *e, const char *label)
{
    for (size_t i = 0; i < e->n_names; i++) {
        if (strcmp(e->names[i], label) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* ---- one run ------------------------------------------------------------------- */

static void show_progress(run_rec *r, bool force)
{
    eval_ctx *e = r->e;
    if (!e->tty || e->o->quiet) {
        return;
    }
    specx_time_t now = specx_time_now();
    if (!force && now - r->last_progress < SPECX_MS(200)) {
        return;
    }
    r->last_progress = now;
    fprintf(stderr, "\r\033[Krun %zu/%zu  %s  frame %zu/%zu", e->runs_done + 1, e->runs_total,
            r->label, r->outputs, e->n);
}

static void on_output(void *user, const specx_pipeline_output *out)
{
    run_rec *r = user;
    eval_ctx *e = r->e;
    if (out->index < 0 || (size_t)out->index >= e->n) {
        return;
    }
    size_t i = (size_t)out->index;
    r->outputs++;
    if (out->winner < 0 || out->detections == NULL) {
        r->winner[i] = -1;
        r->latency_ms[i] = NAN;
        show_progress(r, false);
        return;
    }
    r->winner[i] = out->winner <= MAX_SERVERS ? r->exec_map[out->winner] : -1;
    r->latency_ms[i] = out->latency_ms;
    specx_detections *d = &r->dets[i];
    const specx_detections *src = out->detections;
    for (size_t k = 0; k < src->count; k++) {
        specx_detection it = src->items[k];
        if (it.class_id < 0) {
            it.class_id = class_of_label(e, it.label);
        }
        if (it.class_id < 0) {
            r->unknown_labels++;
            continue;
        }
        if (specx_detections_push(d, &it) != SPECX_OK) {
            break;
        }
    }
    snprintf(d->model, sizeof d->model, "%s", src->model);
    r->infer_ms[i] = src->infer_ms;
    show_progress(r, false);
}

static void stop_links(specx_netem **links, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        specx_netem_destroy(links[i]);
        links[i] = NULL;
    }
}

/* This run's server configs: through a fresh link per server when there is
 * a profile, seeded per repeat (see design notes), named as in the results. */
static specx_status start_links(eval_ctx *e, size_t n_servers, size_t repeat,
                                specx_rpc_client_config *servers, specx_netem **links,
                                specx_err *err)
{
    for (size_t i = 0; i < n_servers; i++) {
        servers[i] = e->servers[i];
        snprintf(servers[i].name, sizeof servers[i].name, "%s", e->server_names[i]);
        if (e->profile == NULL) {
            continue;
        }
        specx_netem_config nc = {.target = e->servers[i].target,
                                 .profile = e->profile,
                                 .seed = e->o->seed + repeat + 7919u * i};
        specx_status st = specx_netem_start(&nc, &links[i], err);
        if (st != SPECX_OK) {
            return st;
        }
        snprintf(servers[i].target, sizeof servers[i].target, "127.0.0.1:%d",
                 specx_netem_port(links[i]));
    }
    return SPECX_OK;
}

static specx_status rec_init(run_rec *r, eval_ctx *e, eval_mode mode, specx_err *err)
{
    *r = (run_rec){.e = e, .mode = mode};
    r->dets = calloc(e->n, sizeof *r->dets);
    r->latency_ms = malloc(e->n * sizeof *r->latency_ms);
    r->infer_ms = calloc(e->n, sizeof *r->infer_ms);
    r->winner = malloc(e->n * sizeof *r->winner);
    if (r->dets == NULL || r->latency_ms == NULL || r->infer_ms == NULL || r->winner == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < e->n; i++) {
        specx_detections_init(&r->dets[i]);
        r->latency_ms[i] = NAN;
        r->winner[i] = -1;
    }
    /* Pipeline order: servers, then local; results order: the same with all
     * servers present, so only local-only runs need their index moved. */
    for (size_t i = 0; i <= MAX_SERVERS; i++) {
        r->exec_map[i] = (int)i;
    }
    if (mode == M_LOCAL) {
        r->exec_map[0] = (int)e->n_servers;
    }
    return SPECX_OK;
}

static void rec_clear(run_rec *r)
{
    if (r->dets != NULL) {
        for (size_t i = 0; i < r->e->n; i++) {
            specx_detections_clear(&r->dets[i]);
        }
    }
    free(r->dets);
    free(r->latency_ms);
    free(r->infer_ms);
    free(r->winner);
}

/* Pushes copies of every frame at the camera rate; returns what was pushed. */
static specx_status feed(eval_ctx *e, run_rec *r, specx_pipeline *p, size_t *pushed, specx_err *err)
{
    const eval_opts *o = e->o;
    specx_pacer pacer;
    specx_pacer_start(&pacer, o->fps);
    r->first_arrival = pacer.t0;
    for (size_t i = 0; i < e->n; i++) {
        if (!specx_pacer_wait(&pacer, (int64_t)i, &e->stop)) {
            return specx_err_set(err, SPECX_ECANCELED, "interrupted");
        }
        specx_image img;
        if (specx_image_copy(&img, &e->frames[i]) != SPECX_OK) {
            return specx_err_set(err, SPECX_ENOMEM, "out of memory copying frame %zu", i);
        }
        specx_status st =
            specx_pipeline_push(p, &img, (int64_t)i, (double)i / (o->fps > 0 ? o->fps : 1), err);
        if (st != SPECX_OK) {
            return st;
        }
        (*pushed)++;
    }
    return SPECX_OK;
}

/* The engine for one run: which executors, which deadline, which bound. */
static specx_pipeline_config run_config(const eval_ctx *e, eval_mode mode, double deadline_ms,
                                        run_rec *r)
{
    const eval_opts *o = e->o;
    /* Bound calls in flight so that shedding is never what limits a deadline:
     * a frame can only be useful while its deadline runs, so deadline·fps + 1
     * calls suffice; unbounded mode sends every frame. */
    int inflight = o->max_in_flight;
    specx_dur_t deadline = (specx_dur_t)llround(deadline_ms * 1e6);
    if (mode == M_UNBOUNDED) {
        deadline = SPECX_TIME_NEVER;
        inflight = (int)e->n + 1;
    } else if (inflight <= 0) {
        double need = o->fps > 0 ? ceil(deadline_ms / 1000.0 * o->fps) + 1 : 4;
        inflight = need < 4 ? 4 : need > 10000 ? 10000 : (int)need;
    }
    bool use_local = mode == M_LOCAL || mode == M_SPEC;
    return (specx_pipeline_config){.local = {.model = use_local ? o->local_model : NULL,
                                             .backend = o->backend,
                                             .model_dir = o->model_dir,
                                             .threshold = o->threshold},
                                   .remote_max_in_flight = inflight,
                                   .deadline = deadline,
                                   .jpeg_quality = o->jpeg_quality,
                                   .full_frames = o->full_frames,
                                   .mode = SPECX_PIPELINE_STREAM,
                                   .output = on_output,
                                   .output_user = r};
}

/* Whether a run's winning answers go into compute-*.txt for an executor:
 * only the runs where it answers every frame (local-only for the local
 * model, cloud-unbounded for servers) when such runs are made. The winners
 * of a deadline race are the fast answers (at a deadline near the round
 * trip, the cloud's winners are its quickest), so a replay given them would
 * see a faster executor than the live one. Without such runs: every run's
 * winners. */
static bool compute_source(const eval_ctx *e, eval_mode mode, bool local_exec)
{
    eval_mode full = local_exec ? M_LOCAL : M_UNBOUNDED;
    return mode == full || !e->o->modes[full];
}

/* Scores one run's outputs into *run. */
static specx_status score(eval_ctx *e, run_rec *r, specx_eval_run *run, specx_err *err)
{
    if (r->unknown_labels > 0 && !e->warned_unknown_label) {
        e->warned_unknown_label = true;
        fprintf(stderr,
                "specx eval: %zu detections had neither a class id nor a label in coco.names; "
                "they were not scored\n",
                r->unknown_labels);
    }
    specx_map_result mr;
    specx_map_options mo = {0};
    specx_status st = specx_map_evaluate(e->ds->images, r->dets, e->n, &mo, &mr, err);
    if (st != SPECX_OK) {
        return st;
    }
    st = specx_eval_run_frames(run, e->n, err);
    for (size_t i = 0; st == SPECX_OK && i < e->n; i++) {
        int x = r->winner[i];
        if (x < 0 || x > MAX_SERVERS || !(r->infer_ms[i] > 0) ||
            !compute_source(e, r->mode, (size_t)x == e->n_servers)) {
            continue;
        }
        if (e->n_compute[x] == e->cap_compute[x]) {
            size_t cap = e->cap_compute[x] ? 2 * e->cap_compute[x] : 256;
            double *v = realloc(e->compute[x], cap * sizeof *v);
            if (v == NULL) {
                st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
                break;
            }
            e->compute[x] = v;
            e->cap_compute[x] = cap;
        }
        e->compute[x][e->n_compute[x]++] = r->infer_ms[i];
    }
    if (st == SPECX_OK) {
        run->map50 = mr.map50;
        run->map = mr.map;
        for (size_t i = 0; i < e->n; i++) {
            run->compute_ms[i] = r->winner[i] >= 0 && r->infer_ms[i] > 0 ? r->infer_ms[i] : NAN;
        }
        memcpy(run->latency_ms, r->latency_ms, e->n * sizeof *r->latency_ms);
        memcpy(run->winner, r->winner, e->n * sizeof *r->winner);
    }
    specx_map_result_free(&mr);
    return st;
}

/* Runs every frame through one pipeline and scores it into *run. */
static specx_status run_once(eval_ctx *e, eval_mode mode, double deadline_ms, size_t repeat,
                             specx_eval_run *run, specx_err *err)
{
    specx_netem *links[MAX_SERVERS] = {0};
    specx_rpc_client_config servers[MAX_SERVERS];
    size_t n_servers = mode != M_LOCAL ? e->n_servers : 0;
    run_rec r;
    specx_status st = rec_init(&r, e, mode, err);
    if (st == SPECX_OK) {
        r.link_start = specx_time_now();
        st = start_links(e, n_servers, repeat, servers, links, err);
    }
    char label[96];
    if (mode == M_UNBOUNDED) {
        snprintf(label, sizeof label, "%s (repeat %zu)", mode_names[mode], repeat + 1);
    } else {
        snprintf(label, sizeof label, "%s @ %g ms (repeat %zu)", mode_names[mode], deadline_ms,
                 repeat + 1);
    }
    r.label = label;
    specx_pipeline_config pc = run_config(e, mode, deadline_ms, &r);
    pc.servers = servers;
    pc.n_servers = n_servers;
    specx_pipeline *p = NULL;
    size_t pushed = 0;
    if (st == SPECX_OK) {
        st = specx_pipeline_create(&pc, &p, err);
    }
    if (st == SPECX_OK) {
        st = feed(e, &r, p, &pushed, err);
        specx_pipeline_finish(p);
        specx_pipeline_destroy(p);
        show_progress(&r, true);
    }
    if (st == SPECX_OK && r.outputs != pushed) {
        st = specx_err_set(err, SPECX_EINTERNAL, "%zu outputs for %zu frames", r.outputs, pushed);
    }
    if (st == SPECX_OK) {
        st = score(e, &r, run, err);
    }
    if (st == SPECX_OK && e->profile != NULL && n_servers > 0) {
        run->link_offset_ms = specx_dur_ms(r.first_arrival - r.link_start);
    }
    rec_clear(&r);
    stop_links(links, n_servers);
    return st;
}

/* Copies run `src` into `dst` (per-frame arrays included). */
static specx_status copy_run(specx_eval_run *dst, const specx_eval_run *src, specx_err *err)
{
    specx_status st = specx_eval_run_frames(dst, src->n_frames, err);
    if (st != SPECX_OK) {
        return st;
    }
    dst->map50 = src->map50;
    dst->map = src->map;
    memcpy(dst->compute_ms, src->compute_ms, src->n_frames * sizeof *src->compute_ms);
    memcpy(dst->latency_ms, src->latency_ms, src->n_frames * sizeof *src->latency_ms);
    memcpy(dst->winner, src->winner, src->n_frames * sizeof *src->winner);
    return SPECX_OK;
}

/* ---- the table on stdout ------------------------------------------------------- */

static void print_row(const eval_ctx *e, const specx_eval_results *res, size_t m, size_t d,
                      const char *mode, const char *dl, FILE *f)
{
    size_t nr = res->n_repeats, ne = res->n_executors, n = e->n;
    double m50 = 0, m50lo = INFINITY, m50hi = -INFINITY, mm = 0, mmlo = INFINITY, mmhi = -INFINITY;
    double *lat = malloc(nr * n * sizeof *lat);
    size_t won[MAX_SERVERS + 1] = {0}, none = 0;
    if (lat == NULL) {
        return;
    }
    for (size_t rep = 0; rep < nr; rep++) {
        const specx_eval_run *run = specx_eval_results_run(res, m, d, rep);
        m50 += run->map50 / (double)nr;
        mm += run->map / (double)nr;
        m50lo = fmin(m50lo, run->map50);
        m50hi = fmax(m50hi, run->map50);
        mmlo = fmin(mmlo, run->map);
        mmhi = fmax(mmhi, run->map);
        for (size_t i = 0; i < n; i++) {
            lat[rep * n + i] = run->latency_ms[i];
            if (run->winner[i] >= 0 && (size_t)run->winner[i] < ne) {
                won[run->winner[i]]++;
            } else {
                none++;
            }
        }
    }
    /* compact once: a second in-place compaction would duplicate values */
    size_t k = sort_finite(lat, nr * n);
    double p50 = percentile(lat, k, 0.50), p90 = percentile(lat, k, 0.90),
           p99 = percentile(lat, k, 0.99);
    free(lat);
    char a[48], b[48];
    if (nr > 1) {
        snprintf(a, sizeof a, "%.3f (%.3f-%.3f)", m50, m50lo, m50hi);
        snprintf(b, sizeof b, "%.3f (%.3f-%.3f)", mm, mmlo, mmhi);
    } else {
        snprintf(a, sizeof a, "%.3f", m50);
        snprintf(b, sizeof b, "%.3f", mm);
    }
    int w = nr > 1 ? 19 : 7;
    fprintf(f, "%-15s %8s  %-*s  %-*s  %7.1f %7.1f %7.1f ", mode, dl, w, a, w, b, p50, p90, p99);
    double total = (double)(nr * n);
    for (size_t x = 0; x < ne; x++) {
        fprintf(f, " %6.2f", (double)won[x] / total);
    }
    fprintf(f, " %6.2f\n", (double)none / total);
}

static void print_table(const eval_ctx *e, const specx_eval_results *res, const size_t *mode_of,
                        FILE *f)
{
    size_t nr = res->n_repeats;
    int w = nr > 1 ? 19 : 7;
    fprintf(f, "\n%-15s %8s  %-*s  %-*s  %7s %7s %7s ", "mode", "deadline", w,
            nr > 1 ? "mAP@0.5 (min-max)" : "mAP@0.5", w, nr > 1 ? "mAP@.5:.95 (min-max)" : "mAP",
            "p50 ms", "p90 ms", "p99 ms");
    for (size_t x = 0; x < res->n_executors; x++) {
        fprintf(f, " %6.6s", res->executors[x]);
    }
    fprintf(f, " %6s\n", "none");
    for (size_t m = 0; m < res->n_modes; m++) {
        bool unbounded = mode_of[m] == M_UNBOUNDED;
        for (size_t d = 0; d < res->n_deadlines; d++) {
            char dl[32];
            snprintf(dl, sizeof dl, "%g", res->deadlines_ms[d]);
            print_row(e, res, m, d, res->modes[m], unbounded ? "none" : dl, f);
            if (unbounded) {
                break;
            }
        }
    }
    fprintf(f, "(latency: arrival to output over frames with a result, repeats pooled; last "
               "columns: share of frames won by each executor, and with no result)\n");
}

/* ---- set-up ------------------------------------------------------------------------ */

static specx_status decode_frames(eval_ctx *e, specx_err *err)
{
    e->frames = calloc(e->n, sizeof *e->frames);
    if (e->frames == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < e->n; i++) {
        specx_status st = specx_image_load(e->ds->images[i].path, &e->frames[i], err);
        if (st != SPECX_OK) {
            return st;
        }
        if (e->frames[i].width != e->ds->images[i].width ||
            e->frames[i].height != e->ds->images[i].height) {
            return specx_err_set(err, SPECX_EFORMAT, "%s: decoded %dx%d, header says %dx%d",
                                 e->ds->images[i].path, e->frames[i].width, e->frames[i].height,
                                 e->ds->images[i].width, e->ds->images[i].height);
        }
    }
    return SPECX_OK;
}

/* Dataset, output directory, link profile, local model, frames: everything
 * that can fail before the first run. Returns false after printing why. */
static bool prepare(eval_ctx *e)
{
    const eval_opts *o = e->o;
    specx_err err = {{0}};
    specx_status st = specx_eval_dataset_load(o->dataset, o->images, o->labels, &e->ds, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    e->n = e->ds->count;
    if (o->limit > 0 && (size_t)o->limit < e->n) {
        e->n = (size_t)o->limit;
    }
    if (e->n == 0) {
        fprintf(stderr, "specx eval: no images in %s/%s\n", o->dataset,
                o->images != NULL ? o->images : "images");
        return false;
    }
    if (specx_cli_mkdir_p(o->out_dir) != 0) {
        fprintf(stderr, "specx eval: cannot create output directory %s: %s\n", o->out_dir,
                strerror(errno));
        return false;
    }
    if (o->profile != NULL && strcmp(o->profile, "off") != 0) {
        st = specx_netem_profile_load(o->profile, &e->profile, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx eval: --profile: %s\n", specx_err_text(&err, st));
            return false;
        }
    }
    if (o->modes[M_LOCAL] || o->modes[M_SPEC]) {
        /* A bad local model should fail here, with its name, not in run 1. */
        specx_detector_config dc = {.model = o->local_model,
                                    .model_dir = o->model_dir,
                                    .backend = o->backend,
                                    .threshold = o->threshold};
        specx_detector *det = NULL;
        st = specx_pipeline_open_detector(&dc, 0, &det, &err);
        specx_detector_close(det);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx eval: local model: %s\n", specx_err_text(&err, st));
            return false;
        }
    }
    load_names(e);
    if (e->n_names == 0) {
        fprintf(stderr, "specx eval: no coco.names in the model directory: label class ids "
                        "are not checked\n");
    } else {
        /* a class id past the names is a label the models cannot produce:
         * it would count as a miss, silently */
        st = specx_eval_dataset_check_classes(e->ds, (int)e->n_names, "coco.names", &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
            return false;
        }
    }
    if (!o->quiet) {
        fprintf(stderr, "specx eval: decoding %zu images of %s\n", e->n, o->dataset);
    }
    st = decode_frames(e, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    return true;
}

/* The servers: those given, or the cloud model served in this process. */
static bool setup_servers(eval_ctx *e)
{
    const eval_opts *o = e->o;
    if (!o->modes[M_CLOUD] && !o->modes[M_SPEC] && !o->modes[M_UNBOUNDED]) {
        return true;
    }
    if (o->n_servers > 0) {
        for (size_t i = 0; i < o->n_servers; i++) {
            const specx_rpc_client_config *c = &o->servers[i];
            e->servers[i] = *c;
            snprintf(e->server_names[i], sizeof e->server_names[i], "%s",
                     c->name[0] != '\0' ? c->name : c->target);
            for (size_t j = 0; j < i; j++) {
                if (strcmp(e->server_names[i], e->server_names[j]) == 0) {
                    fprintf(stderr,
                            "specx eval: two servers named '%s': give them distinct name=\n",
                            e->server_names[i]);
                    return false;
                }
            }
        }
        e->n_servers = o->n_servers;
        return true;
    }
    size_t q = e->n + 64;
    e->cloud = (specx_detector_config){.model = o->cloud_model,
                                       .model_dir = o->model_dir,
                                       .backend = o->backend,
                                       .threshold = o->threshold,
                                       .threads = 1};
    specx_server_config sc = {.bind = "127.0.0.1",
                              .workers = o->cloud_workers > 0 ? o->cloud_workers : 1,
                              .queue_capacity = q > 100000 ? 100000 : (int)q,
                              .open_detector = specx_pipeline_open_detector,
                              .open_detector_user = &e->cloud};
    if (!o->quiet) {
        fprintf(stderr, "specx eval: starting an in-process server with %s\n", o->cloud_model);
    }
    specx_err err = {{0}};
    specx_status st = specx_server_start(&sc, &e->server, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: in-process server: %s\n", specx_err_text(&err, st));
        return false;
    }
    specx_rpc_client_config_init(&e->servers[0]);
    snprintf(e->servers[0].target, sizeof e->servers[0].target, "127.0.0.1:%d",
             specx_server_port(e->server));
    snprintf(e->server_names[0], sizeof e->server_names[0], "cloud");
    e->n_servers = 1;
    return true;
}

/* Result tables: modes in canonical order, executors = servers + local. */
static specx_status setup_results(const eval_ctx *e, specx_eval_results *res, size_t *mode_of,
                                  specx_err *err)
{
    const eval_opts *o = e->o;
    size_t n_modes = 0;
    for (int m = 0; m < M_COUNT; m++) {
        if (o->modes[m]) {
            mode_of[n_modes++] = (size_t)m;
        }
    }
    specx_status st = specx_eval_results_init(res, n_modes, o->n_deadlines, (size_t)o->repeats,
                                              e->n_servers + 1, err);
    if (st != SPECX_OK) {
        return st;
    }
    for (size_t m = 0; m < n_modes; m++) {
        snprintf(res->modes[m], SPECX_EVAL_NAME_MAX, "%s", mode_names[mode_of[m]]);
    }
    for (size_t i = 0; i < e->n_servers; i++) {
        snprintf(res->executors[i], SPECX_EVAL_NAME_MAX, "%s", e->server_names[i]);
    }
    snprintf(res->executors[e->n_servers], SPECX_EVAL_NAME_MAX, "local");
    memcpy(res->deadlines_ms, o->deadlines, o->n_deadlines * sizeof *o->deadlines);
    const char *base = strrchr(o->dataset, '/');
    base = base != NULL && base[1] != '\0' ? base + 1 : o->dataset;
    snprintf(res->title, sizeof res->title, "specx eval: %s, %s", base,
             e->profile != NULL ? specx_netem_profile_name(e->profile) : "no link emulation");
    return SPECX_OK;
}

/* Every run: repeat-major, then deadline, then mode, so slow drifts of the
 * machine's load hit every mode alike. */
static bool run_all(eval_ctx *e, specx_eval_results *res, const size_t *mode_of)
{
    const eval_opts *o = e->o;
    e->runs_total = 0;
    for (size_t m = 0; m < res->n_modes; m++) {
        e->runs_total += (size_t)o->repeats * (mode_of[m] == M_UNBOUNDED ? 1 : o->n_deadlines);
    }
    for (size_t rep = 0; rep < (size_t)o->repeats; rep++) {
        for (size_t d = 0; d < o->n_deadlines; d++) {
            for (size_t m = 0; m < res->n_modes; m++) {
                eval_mode mode = (eval_mode)mode_of[m];
                specx_eval_run *run = specx_eval_results_run(res, m, d, rep);
                specx_err err = {{0}};
                specx_status st;
                if (mode == M_UNBOUNDED && d > 0) {
                    st = copy_run(run, specx_eval_results_run(res, m, 0, rep), &err);
                } else {
                    st = run_once(e, mode, o->deadlines[d], rep, run, &err);
                    e->runs_done++;
                }
                if (st != SPECX_OK) {
                    if (e->tty && !o->quiet) {
                        fputc('\n', stderr);
                    }
                    fprintf(stderr, "specx eval: %s at %g ms: %s\n", mode_names[mode],
                            o->deadlines[d], specx_err_text(&err, st));
                    return false;
                }
            }
        }
    }
    if (e->tty && !o->quiet) {
        fprintf(stderr, "\r\033[K");
    }
    return true;
}

/* compute-<executor>.txt: the executor's compute time of every frame of
 * the runs compute_source picks, one ms per line (for `specx eval --replay
 * --cloud-compute-ms FILE`). */
static specx_status write_compute(const eval_ctx *e, const specx_eval_results *res, specx_err *err)
{
    for (size_t x = 0; x < res->n_executors && x <= MAX_SERVERS; x++) {
        if (e->n_compute[x] == 0) {
            continue;
        }
        char path[4200];
        snprintf(path, sizeof path, "%s/compute-%s.txt", e->o->out_dir, res->executors[x]);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            return specx_err_set(err, SPECX_EIO, "cannot write %s: %s", path, strerror(errno));
        }
        bool local_exec = x == e->n_servers;
        fprintf(f, "# %s: compute time (ms) of each answer that won a frame, %s\n",
                res->executors[x],
                e->o->modes[local_exec ? M_LOCAL : M_UNBOUNDED]
                    ? (local_exec ? "local-only runs" : "cloud-unbounded runs")
                    : "all runs");
        for (size_t i = 0; i < e->n_compute[x]; i++) {
            fprintf(f, "%.3f\n", e->compute[x][i]);
        }
        if (fclose(f) != 0) {
            return specx_err_set(err, SPECX_EIO, "cannot write %s", path);
        }
    }
    return SPECX_OK;
}

/* Notes, table, report.html, results.json, results.csv, compute-*.txt. */
static bool write_outputs(const eval_ctx *e, specx_eval_results *res, const size_t *mode_of,
                          double load_start, double wall_s)
{
    const eval_opts *o = e->o;
    snprintf(res->notes, sizeof res->notes,
             "%zu images of %s; local %s, cloud %s; link %s (seed %llu + repeat); "
             "frames at %g fps (stream); detections kept down to score %g; %d repeat%s; "
             "backend %s; load average %.2f at start, %.2f at end; %.0f s",
             e->n, o->dataset, o->local_model,
             o->n_servers == 0 ? o->cloud_model : "(external servers)",
             e->profile != NULL ? specx_netem_profile_name(e->profile) : "none", o->seed, o->fps,
             (double)o->threshold, o->repeats, o->repeats == 1 ? "" : "s",
             o->backend != NULL ? o->backend : specx_detector_default_backend(), load_start,
             load1(), wall_s);
    printf("%s\n%s\n", res->title, res->notes);
    print_table(e, res, mode_of, stdout);
    fflush(stdout);

    specx_err err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s/report.html", o->out_dir);
    specx_status st = specx_eval_write_report(res, path, &err);
    if (st == SPECX_OK) {
        snprintf(path, sizeof path, "%s/results.json", o->out_dir);
        st = specx_eval_write_json(res, path, &err);
    }
    if (st == SPECX_OK) {
        snprintf(path, sizeof path, "%s/results.csv", o->out_dir);
        st = specx_eval_write_csv(res, path, &err);
    }
    if (st == SPECX_OK) {
        st = write_compute(e, res, &err);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    if (!o->quiet) {
        fprintf(stderr,
                "specx eval: wrote %s/report.html, results.json, results.csv, compute-*.txt\n",
                o->out_dir);
    }
    return true;
}

static void eval_ctx_clear(eval_ctx *e)
{
    if (e->server != NULL) {
        specx_server_destroy(e->server);
    }
    specx_netem_profile_free(e->profile);
    if (e->frames != NULL) {
        for (size_t i = 0; i < e->n; i++) {
            specx_image_clear(&e->frames[i]);
        }
    }
    free(e->frames);
    free(e->names);
    for (size_t x = 0; x <= MAX_SERVERS; x++) {
        free(e->compute[x]);
    }
    specx_eval_dataset_free(e->ds);
}

static int run_eval(const eval_opts *o)
{
    eval_ctx e = {.o = o, .tty = isatty(STDERR_FILENO) == 1};
    specx_eval_results res = {0};
    size_t mode_of[M_COUNT];
    double load_start = load1();
    specx_cli_sigint_catch(&e.stop);
    bool ok = prepare(&e) && setup_servers(&e);
    if (ok) {
        specx_err err = {{0}};
        specx_status st = setup_results(&e, &res, mode_of, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
            ok = false;
        }
    }
    specx_time_t t_start = specx_time_now();
    ok = ok && run_all(&e, &res, mode_of);
    double wall_s = specx_dur_ms(specx_time_now() - t_start) / 1e3;
    specx_cli_sigint_restore();
    ok = ok && write_outputs(&e, &res, mode_of, load_start, wall_s);
    specx_eval_results_free(&res);
    eval_ctx_clear(&e);
    return ok ? 0 : 1;
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f,
            "usage: specx eval --dataset DIR [options]\n"
            "\n"
            "Measures detection accuracy over time: every image of DIR is a camera frame,\n"
            "fed at --fps through the same pipeline as `specx run`, per mode and deadline;\n"
            "prints a table and writes report.html (SVG plots), results.json, results.csv.\n"
            "\n"
            "Modes: local (local model only), cloud (the server's answer if it arrives by\n"
            "the deadline, else nothing for that frame), speculative (local and cloud; the\n"
            "cloud's answer if in time, else the local one), cloud-unbounded (waits for the\n"
            "server however long: the accuracy ceiling, with its latency; run once per repeat).\n"
            "\n"
            "specx eval --replay ...: the same sweep on a virtual clock, from cached answers,\n"
            "measured compute times and the netem link model (specx eval --replay --help).\n"
            "\n");
    specx_cli_print_options(f, opts);
}

static bool take_server(const char *v, void *out, char *msg, size_t n)
{
    eval_opts *o = out;
    return specx_cli_server(v, o->servers, &o->n_servers, MAX_SERVERS, msg, n);
}

static bool take_deadlines(const char *v, void *out, char *msg, size_t n)
{
    (void)msg;
    (void)n;
    return parse_deadlines(v, out);
}

static bool take_modes(const char *v, void *out, char *msg, size_t n)
{
    snprintf(msg, n, "want a list of local, cloud, speculative, cloud-unbounded");
    return parse_modes(v, out);
}

/* A score threshold strictly between 0 and 1. */
static bool take_threshold(const char *v, void *out, char *msg, size_t n)
{
    double t = 0;
    if (!specx_cli_double(v, 0, 1, &t) || !(t > 0 && t < 1)) {
        snprintf(msg, n, "want a number between 0 and 1");
        return false;
    }
    *(float *)out = (float)t;
    return true;
}

int specx_cmd_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--replay") == 0) {
            return specx_cmd_eval_replay(argc, argv);
        }
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
    }
    eval_opts o = {.local_model = DEFAULT_LOCAL_MODEL,
                   .cloud_model = DEFAULT_CLOUD_MODEL,
                   .out_dir = "specx-eval-out",
                   .repeats = 1,
                   .seed = 1,
                   .fps = 10,
                   .threshold = 0.005f};
    parse_deadlines("50,100,200,400,800", &o);
    parse_modes("local,cloud,speculative,cloud-unbounded", &o);
    char backend_help[64];
    snprintf(backend_help, sizeof backend_help, "detector backend (default %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"dataset", 0, SPECX_CLI_STRING, &o.dataset, .meta = "DIR",
         .help = "images/ and YOLO labels/ (required)"},
        {"images", 0, SPECX_CLI_STRING, &o.images, .meta = "SUBDIR",
         .help = "image folder inside DIR (default images)"},
        {"labels", 0, SPECX_CLI_STRING, &o.labels, .meta = "SUBDIR",
         .help = "label folder inside DIR (default labels)"},
        {"limit", 0, SPECX_CLI_I64, &o.limit, 1, 1073741824.0, .meta = "N",
         .help = "only the first N images (by name)"},
        {"local-model", 0, SPECX_CLI_STRING, &o.local_model, .meta = "NAME",
         .help = "on-board model (default " DEFAULT_LOCAL_MODEL ")"},
        {"server", 0, SPECX_CLI_CALL, &o, .call = take_server, .meta = "SPEC",
         .help = "HOST:PORT[,prio=N][,name=S][,stream]... (repeatable, up to 8).\n"
                 "Run `specx serve --threshold 0.005` there for a fair mAP.\n"
                 "Without --server, a server with --cloud-model runs in this\n"
                 "process (on this machine's CPUs)."},
        {"cloud-model", 0, SPECX_CLI_STRING, &o.cloud_model, .meta = "NAME",
         .help = "model of the in-process server (default " DEFAULT_CLOUD_MODEL ")"},
        {"cloud-workers", 0, SPECX_CLI_INT, &o.cloud_workers, 1, 64, .meta = "N",
         .help = "detector threads of the in-process server (default 1)"},
        {"profile", 0, SPECX_CLI_STRING, &o.profile, .meta = "NAME|FILE",
         .help = "netem link in front of every server (5g-sf, lte, lan, none;\n"
                 "default: no link, direct connection)"},
        {"deadlines", 0, SPECX_CLI_CALL, &o, .call = take_deadlines, .meta = "LIST",
         .help = "milliseconds after arrival (default 50,100,200,400,800),\n"
                 "or log:A:B:N (N values log-spaced from A to B)"},
        {"modes", 0, SPECX_CLI_CALL, &o, .call = take_modes, .meta = "LIST",
         .help = "default local,cloud,speculative,cloud-unbounded"},
        {"repeats", 0, SPECX_CLI_INT, &o.repeats, 1, 1000, .meta = "N",
         .help = "runs per mode and deadline, link seed + 0..N-1 (default 1)"},
        {"seed", 0, SPECX_CLI_U64, &o.seed, 0, INFINITY, .meta = "S",
         .help = "link seed of the first repeat (default 1)"},
        {"fps", 0, SPECX_CLI_DOUBLE, &o.fps, 0, 1000, .meta = "F",
         .help = "camera rate frames are fed at (default 10; 0 = unpaced)"},
        {"threshold", 0, SPECX_CLI_CALL, &o.threshold, .call = take_threshold, .meta = "T",
         .help = "lowest score kept for mAP (default 0.005)"},
        {"out-dir", 0, SPECX_CLI_STRING, &o.out_dir, .meta = "DIR",
         .help = "output directory (default ./specx-eval-out)"},
        {"out", 0, SPECX_CLI_STRING, &o.out_dir, .help = NULL}, /* the old spelling of --out-dir */
        {"jpeg-quality", 0, SPECX_CLI_INT, &o.jpeg_quality, 1, 100, .meta = "Q",
         .help = "JPEG quality of frames sent to servers (default 90)"},
        {"full-frames", 0, SPECX_CLI_FLAG, &o.full_frames,
         .help = "send servers whole frames, not scaled to their model\n(for comparisons)"},
        {"max-in-flight", 0, SPECX_CLI_INT, &o.max_in_flight, 1, 100000, .meta = "N",
         .help = "calls outstanding per server (default deadline x fps + 1,\n"
                 "at least 4; cloud-unbounded: no bound)"},
        {"backend", 0, SPECX_CLI_STRING, &o.backend, .meta = "B", .help = backend_help},
        {"model-dir", 0, SPECX_CLI_STRING, &o.model_dir, .meta = "DIR",
         .help = "where models live (default: $SPECX_MODEL_DIR, ./assets/models,\n"
                 "../shared/assets/models)"},
        {"quiet", 'q', SPECX_CLI_FLAG, &o.quiet, .help = "no progress or status lines on stderr"},
        {0},
    };
    int rc = specx_cli_parse("specx eval", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if (o.dataset == NULL) {
        fprintf(stderr, "specx eval: --dataset DIR is required (see specx eval --help)\n");
        return 2;
    }
    return run_eval(&o);
}
