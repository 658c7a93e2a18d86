/* cmd_eval_replay.c — `specx eval --replay`: the accuracy sweep on a virtual
 * clock. Each frame's answers come from the cache (computed once), compute
 * times from measured or given distributions, round trips from the netem
 * link model, and the selection from the real operator (specx/eval.h,
 * docs/evalcmd.md).
 *
 * Design notes
 *  - One invocation is one frame set × one link × one fps: modes ×
 *    deadlines × seeds (repeats). Seeds are seed … seed + repeats − 1; a
 *    seed is one realization of the link and of the compute draws, shared by
 *    every mode and deadline (common random numbers).
 *  - Answers are shared between runs: each frame's local and cloud answers
 *    are registered once with the bootstrap, and a run is a vector of answer
 *    ids; a mode with a post hook would register its own.
 *  - cloud-unbounded does not depend on the deadline: it runs once per seed
 *    and is stored at every deadline (as in the live form). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "specx/detector.h"
#include "specx/eval.h"
#include "specx/netem.h"
#include "specx/time.h"

#include "cli.h"
#include "cmd_eval.h"

#define MAX_DEADLINES 64
#define N_MODES 5
#define MODE_ADAPTIVE 4
static const char *const mode_names[N_MODES] = {"local", "cloud", "speculative", "cloud-unbounded",
                                                "speculative-adaptive"};

typedef struct ropts {
    const char *dataset, *images, *labels, *video, *out_dir, *cache_dir;
    const char *local_model, *cloud_model, *backend, *model_dir, *profile;
    const char *local_ms, *cloud_ms, *host_ms;
    double deadlines[MAX_DEADLINES];
    size_t n_deadlines;
    bool modes[N_MODES];
    int repeats, jpeg_quality, max_in_flight, cloud_workers, boot, block;
    unsigned long long seed;
    double fps, link_offset_ms;
    double adaptive_target; /* speculative-adaptive's target probability */
    float threshold, golden;
    int64_t limit;
    bool quiet, replay, ci_map, full_frames;
} ropts;

typedef struct rctx {
    const ropts *o;
    specx_eval_dataset *ds, *golden; /* ground truth: labels, or the cloud's own */
    const specx_eval_image *gt;
    specx_replay_set *set;
    specx_netem_profile *profile;
    specx_replay_dist local_ms, cloud_ms, host_ms;
    specx_eval_bootstrap *boot;
    uint32_t *ans_local, *ans_cloud; /* answer ids per frame */
    size_t mode_of[N_MODES], n_modes;
    bool tty;
    int block; /* frames per bootstrap block */
    double replay_s, boot_s;
    specx_replay_stats totals[N_MODES];
} rctx;

/* One run's per-frame record. */
typedef struct rrun {
    rctx *c;
    specx_eval_run *run;
    uint32_t *ids;
    specx_status st;
    specx_err err;
} rrun;

/* ---- set-up --------------------------------------------------------------------- */

static bool cache_dir(const ropts *o, char *out, size_t n)
{
    const char *env = getenv("SPECX_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    if (o->cache_dir) {
        snprintf(out, n, "%s", o->cache_dir);
    } else if (env && *env) {
        snprintf(out, n, "%s", env);
    } else if (xdg && *xdg) {
        snprintf(out, n, "%s/specx/replay", xdg);
    } else if (home && *home) {
        snprintf(out, n, "%s/.cache/specx/replay", home);
    } else {
        snprintf(out, n, "specx-replay-cache");
    }
    if (specx_cli_mkdir_p(out) != 0) {
        fprintf(stderr, "specx eval: cannot create cache directory %s: %s\n", out, strerror(errno));
        return false;
    }
    return true;
}

static void on_set_progress(void *user, size_t done, size_t total, bool computed)
{
    rctx *c = user;
    if (c->tty && !c->o->quiet) {
        fprintf(stderr, "\r\033[Kframes %zu/%zu%s", done, total, computed ? " (computing)" : "");
    }
}

static bool build_set(rctx *c)
{
    const ropts *o = c->o;
    char dir[4096];
    if (!cache_dir(o, dir, sizeof dir)) {
        return false;
    }
    bool need_local = o->modes[0] || o->modes[2] || o->modes[MODE_ADAPTIVE];
    bool need_cloud =
        o->modes[1] || o->modes[2] || o->modes[3] || o->modes[MODE_ADAPTIVE] || o->video;
    specx_replay_set_config sc = {.cache_dir = dir,
                                  .local_model = o->local_model,
                                  .cloud_model = o->cloud_model,
                                  .backend = o->backend,
                                  .model_dir = o->model_dir,
                                  .threshold = o->threshold,
                                  .jpeg_quality = o->jpeg_quality,
                                  .full_frames = o->full_frames,
                                  .need_local = need_local,
                                  .need_cloud = need_cloud,
                                  .progress = on_set_progress,
                                  .progress_user = c};
    specx_err err = {{0}};
    specx_status st;
    if (o->video) {
        st = specx_replay_set_from_video(&sc, o->video, (size_t)o->limit, &c->set, &err);
        if (st == SPECX_OK) {
            st = specx_replay_set_golden(c->set, o->golden, &c->golden, &err);
        }
    } else {
        st = specx_eval_dataset_load(o->dataset, o->images, o->labels, &c->ds, &err);
        if (st == SPECX_OK) {
            st = specx_replay_set_from_images(&sc, c->ds, (size_t)o->limit, &c->set, &err);
        }
    }
    if (c->tty && !o->quiet) {
        fputs("\r\033[K", stderr);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    c->gt = o->video ? c->golden->images : c->ds->images;
    /* video: neighbouring frames are alike, so resample 1 s blocks */
    c->block = o->block > 0 ? o->block : o->video && c->set->fps > 0 ? (int)lround(c->set->fps) : 1;
    if (!o->quiet) {
        fprintf(stderr,
                "specx eval: %zu frames (cache %s: %zu local, %zu cloud answers and %zu JPEGs "
                "computed now)\n",
                c->set->n, dir, c->set->computed_local, c->set->computed_cloud,
                c->set->computed_jpeg);
    }
    return true;
}

static bool setup_dists(rctx *c)
{
    const ropts *o = c->o;
    specx_err err = {{0}};
    specx_status st = SPECX_OK;
    if (c->set->local_ms.n) {
        st = specx_replay_dist_parse(o->local_ms, &c->set->local_ms, &c->local_ms, &err);
    }
    if (st == SPECX_OK && c->set->cloud_ms.n) {
        st = specx_replay_dist_parse(o->cloud_ms, &c->set->cloud_ms, &c->cloud_ms, &err);
    }
    if (st == SPECX_OK) {
        st = specx_replay_dist_parse(o->host_ms, NULL, &c->host_ms, &err);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: compute times: %s\n", specx_err_text(&err, st));
        return false;
    }
    return true;
}

static bool setup_results(rctx *c, specx_eval_results *res)
{
    const ropts *o = c->o;
    for (int m = 0; m < N_MODES; m++) {
        if (o->modes[m]) {
            c->mode_of[c->n_modes++] = (size_t)m;
        }
    }
    specx_err err = {{0}};
    specx_status st =
        specx_eval_results_init(res, c->n_modes, o->n_deadlines, (size_t)o->repeats, 2, &err);
    if (st == SPECX_OK) {
        for (size_t m = 0; m < c->n_modes; m++) {
            snprintf(res->modes[m], SPECX_EVAL_NAME_MAX, "%s", mode_names[c->mode_of[m]]);
        }
        snprintf(res->executors[0], SPECX_EVAL_NAME_MAX, "cloud");
        snprintf(res->executors[1], SPECX_EVAL_NAME_MAX, "local");
        memcpy(res->deadlines_ms, o->deadlines, o->n_deadlines * sizeof *o->deadlines);
        st = specx_eval_bootstrap_create(res, c->gt, c->set->n, &c->boot, &err);
    }
    c->ans_local = calloc(c->set->n, sizeof *c->ans_local);
    c->ans_cloud = calloc(c->set->n, sizeof *c->ans_cloud);
    if (st == SPECX_OK && (!c->ans_local || !c->ans_cloud)) {
        st = specx_err_set(&err, SPECX_ENOMEM, "out of memory");
    }
    for (size_t f = 0; st == SPECX_OK && f < c->set->n; f++) {
        st = specx_eval_bootstrap_answer(c->boot, f, &c->set->local[f], &c->ans_local[f], &err);
        if (st == SPECX_OK) {
            st = specx_eval_bootstrap_answer(c->boot, f, &c->set->cloud[f], &c->ans_cloud[f], &err);
        }
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    const char *base = o->video ? o->video : o->dataset;
    const char *slash = strrchr(base, '/');
    base = slash && slash[1] ? slash + 1 : base;
    snprintf(res->title, sizeof res->title, "specx eval --replay: %s, %s, %g fps", base,
             c->profile ? specx_netem_profile_name(c->profile) : "no link", o->fps);
    return true;
}

/* ---- runs ------------------------------------------------------------------------ */

static void on_output(void *user, const specx_replay_output *out)
{
    rrun *r = user;
    size_t f = out->frame;
    r->run->winner[f] = out->winner;
    r->run->latency_ms[f] = out->winner >= 0 ? out->latency_ms : NAN;
    const specx_detections *d = out->detections;
    if (!d) {
        r->ids[f] = SPECX_EVAL_NO_ANSWER;
    } else if (d == &r->c->set->local[f]) {
        r->ids[f] = r->c->ans_local[f];
    } else if (d == &r->c->set->cloud[f]) {
        r->ids[f] = r->c->ans_cloud[f];
    } else if (r->st == SPECX_OK) { /* a post-processed answer: its own */
        r->st = specx_eval_bootstrap_answer(r->c->boot, f, d, &r->ids[f], &r->err);
    }
}

static specx_status run_one(rctx *c, specx_eval_results *res, size_t m, size_t d, size_t k,
                            uint32_t *ids, specx_err *err)
{
    const ropts *o = c->o;
    specx_eval_run *run = specx_eval_results_run(res, m, d, k);
    specx_status st = specx_eval_run_frames(run, c->set->n, err);
    if (st != SPECX_OK) {
        return st;
    }
    rrun rr = {.c = c, .run = run, .ids = ids};
    size_t mode = c->mode_of[m];
    specx_replay_mode rm = *specx_replay_mode_builtin(mode_names[mode]);
    if (mode == MODE_ADAPTIVE) {
        rm.adaptive_target = o->adaptive_target;
    }
    specx_replay_config rc = {.frames = c->set->frames,
                              .n_frames = c->set->n,
                              .fps = o->fps,
                              .profile = c->profile,
                              .seed = o->seed + k,
                              .local_ms = &c->local_ms,
                              .cloud_ms = &c->cloud_ms,
                              .host_ms = &c->host_ms,
                              .cloud_workers = o->cloud_workers,
                              .max_in_flight = o->max_in_flight,
                              .link_offset = (specx_dur_t)llround(o->link_offset_ms * 1e6),
                              .deadline = (specx_dur_t)llround(o->deadlines[d] * 1e6),
                              .mode = &rm,
                              .output = on_output,
                              .output_user = &rr};
    specx_replay_stats rs;
    st = specx_replay_run(&rc, &rs, err);
    if (st == SPECX_OK && rr.st != SPECX_OK) {
        *err = rr.err;
        st = rr.st;
    }
    if (st == SPECX_OK) {
        specx_replay_stats *t = &c->totals[mode];
        t->cloud_sent += rs.cloud_sent;
        t->cloud_shed += rs.cloud_shed;
        t->server_expired += rs.server_expired;
        t->server_stopped += rs.server_stopped;
        t->local_dropped += rs.local_dropped;
        t->fallbacks += rs.fallbacks;
        t->cloud_early += rs.cloud_early;
        st = specx_eval_bootstrap_set_run(c->boot, m, d, k, ids, err);
    }
    return st;
}

static specx_status copy_run(specx_eval_results *res, rctx *c, size_t m, size_t d, size_t k,
                             const uint32_t *ids, specx_err *err)
{
    const specx_eval_run *src = specx_eval_results_run(res, m, 0, k);
    specx_eval_run *dst = specx_eval_results_run(res, m, d, k);
    specx_status st = specx_eval_run_frames(dst, src->n_frames, err);
    if (st == SPECX_OK) {
        memcpy(dst->latency_ms, src->latency_ms, src->n_frames * sizeof *src->latency_ms);
        memcpy(dst->winner, src->winner, src->n_frames * sizeof *src->winner);
        st = specx_eval_bootstrap_set_run(c->boot, m, d, k, ids, err);
    }
    return st;
}

static bool run_all(rctx *c, specx_eval_results *res)
{
    const ropts *o = c->o;
    size_t n = c->set->n;
    uint32_t *ids = malloc(n * sizeof *ids);
    if (!ids) {
        return false;
    }
    specx_time_t t = specx_time_mono();
    for (size_t m = 0; m < c->n_modes; m++) {
        bool unbounded = c->mode_of[m] == 3;
        for (size_t k = 0; k < (size_t)o->repeats; k++) {
            for (size_t d = 0; d < o->n_deadlines; d++) {
                specx_err err = {{0}};
                specx_status st = unbounded && d > 0 ? copy_run(res, c, m, d, k, ids, &err)
                                                     : run_one(c, res, m, d, k, ids, &err);
                if (st != SPECX_OK) {
                    fprintf(stderr, "specx eval: %s at %g ms, seed %llu: %s\n",
                            mode_names[c->mode_of[m]], o->deadlines[d], o->seed + k,
                            specx_err_text(&err, st));
                    free(ids);
                    return false;
                }
            }
            if (c->tty && !o->quiet) {
                fprintf(stderr, "\r\033[K%s: seed %zu/%d", mode_names[c->mode_of[m]], k + 1,
                        o->repeats);
            }
        }
    }
    c->replay_s = specx_dur_ms(specx_time_mono() - t) / 1e3;
    free(ids);
    if (c->tty && !o->quiet) {
        fputs("\r\033[K", stderr);
    }
    return true;
}

static bool summarize(rctx *c, specx_eval_results *res)
{
    const ropts *o = c->o;
    specx_eval_bootstrap_options bo = {.samples = (size_t)o->boot,
                                       .level = 0.95,
                                       .seed = o->seed,
                                       .block = (size_t)c->block,
                                       .skip_map = !o->ci_map};
    specx_time_t t = specx_time_mono();
    specx_err err = {{0}};
    specx_status st = specx_eval_bootstrap_summarize(c->boot, res, &bo, &err);
    c->boot_s = specx_dur_ms(specx_time_mono() - t) / 1e3;
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: intervals: %s\n", specx_err_text(&err, st));
        return false;
    }
    return true;
}

/* ---- output ---------------------------------------------------------------------- */

static double mean_request_kb(const rctx *c)
{
    double s = 0;
    for (size_t i = 0; i < c->set->n; i++) {
        s += (double)c->set->frames[i].request_bytes;
    }
    return s / (double)c->set->n / 1e3;
}

static double encode_p50(const rctx *c)
{
    specx_replay_dist d = {0};
    specx_err err;
    double *v = malloc(c->set->n * sizeof *v);
    if (!v) {
        return NAN;
    }
    for (size_t i = 0; i < c->set->n; i++) {
        v[i] = c->set->frames[i].encode_ms;
    }
    double q = specx_replay_dist_from(v, c->set->n, "", &d, &err) == SPECX_OK
                   ? specx_replay_dist_quantile(&d, 0.5)
                   : NAN;
    specx_replay_dist_clear(&d);
    free(v);
    return q;
}

static void make_notes(const rctx *c, specx_eval_results *res)
{
    const ropts *o = c->o;
    char gt[256];
    size_t boxes = 0;
    for (size_t i = 0; i < c->set->n; i++) {
        boxes += c->gt[i].n_boxes;
    }
    if (o->video) {
        snprintf(gt, sizeof gt,
                 "ground truth: the cloud model's own answers with score >= %g (golden "
                 "configuration), %zu boxes",
                 (double)o->golden, boxes);
    } else {
        snprintf(gt, sizeof gt, "ground truth: the dataset's labels, %zu boxes", boxes);
    }
    char notes[4096];
    snprintf(notes, sizeof notes,
             "replay on a virtual clock; %zu frames of %s; %s; local %s, compute %s (p50 %.1f ms); "
             "cloud %s, compute %s (p50 %.1f ms), %d worker%s; host overhead %s (p50 %.1f ms); "
             "link %s, seeds %llu..%llu; "
             "%g fps; %s, JPEG quality %d (mean %.1f KB, encode p50 %.1f ms); detections kept "
             "down "
             "to score %g; backend %s; %d bootstrap resamples (frame blocks of %d); replay %.1f "
             "s, intervals %.1f s",
             c->set->n, o->video ? o->video : o->dataset, gt, o->local_model, c->local_ms.desc,
             specx_replay_dist_quantile(&c->local_ms, 0.5), o->cloud_model, c->cloud_ms.desc,
             specx_replay_dist_quantile(&c->cloud_ms, 0.5), o->cloud_workers,
             o->cloud_workers == 1 ? "" : "s", c->host_ms.desc,
             specx_replay_dist_quantile(&c->host_ms, 0.5),
             c->profile ? specx_netem_profile_name(c->profile) : "none (no delay)", o->seed,
             o->seed + (unsigned long long)o->repeats - 1, o->fps,
             o->full_frames ? "whole frames" : "frames scaled to the cloud model", o->jpeg_quality,
             mean_request_kb(c), encode_p50(c), (double)o->threshold,
             o->backend ? o->backend : specx_detector_default_backend(), o->boot, c->block,
             c->replay_s, c->boot_s);
    if (o->modes[MODE_ADAPTIVE]) {
        const specx_replay_stats *t = &c->totals[MODE_ADAPTIVE];
        size_t len = strlen(notes);
        snprintf(notes + len, sizeof notes - len,
                 "; speculative-adaptive: target %g, %.1f %% of cloud calls planned emit local "
                 "early",
                 o->adaptive_target,
                 t->cloud_sent ? 100.0 * (double)t->cloud_early / (double)t->cloud_sent : 0.0);
    }
    snprintf(res->notes, sizeof res->notes, "%.*s", (int)sizeof res->notes - 1, notes);
}

static void fmt_ci(char *b, size_t n, const specx_eval_ci *ci, const char *fmt, double scale)
{
    char e[16], l[16], h[16];
    snprintf(e, sizeof e, fmt, ci->est * scale);
    snprintf(l, sizeof l, fmt, ci->lo * scale);
    snprintf(h, sizeof h, fmt, ci->hi * scale);
    snprintf(b, n, "%s [%s, %s]", e, l, h);
}

static void print_table(const rctx *c, const specx_eval_results *res, FILE *f)
{
    fprintf(f, "\n%-15s %8s  %-23s %-23s %8s %8s %8s  %-20s %6s\n", "mode", "deadline",
            "mAP@0.5 [95% CI]", "mAP@.5:.95", "mean ms", "p50 ms", "p90 ms", "cloud % [CI]",
            "none %");
    for (size_t m = 0; m < res->n_modes; m++) {
        bool unbounded = c->mode_of[m] == 3;
        for (size_t d = 0; d < res->n_deadlines; d++) {
            const specx_eval_cell *ce = specx_eval_results_cell(res, m, d);
            char a[80], b[80], w[80], dl[32];
            fmt_ci(a, sizeof a, &ce->map50, "%.3f", 1);
            if (isfinite(ce->map.lo)) {
                fmt_ci(b, sizeof b, &ce->map, "%.3f", 1);
            } else {
                snprintf(b, sizeof b, "%.3f", ce->map.est);
            }
            fmt_ci(w, sizeof w, &ce->won[0], "%.1f", 100);
            snprintf(dl, sizeof dl, "%g", res->deadlines_ms[d]);
            fprintf(f, "%-15s %8s  %-23s %-23s %8.1f %8.1f %8.1f  %-20s %6.1f\n", res->modes[m],
                    unbounded ? "none" : dl, a, b, ce->latency_mean.est, ce->latency_p50.est,
                    ce->latency_p90.est, w, 100 * ce->no_result.est);
            if (unbounded) {
                break;
            }
        }
    }
    if (!res->gains) {
        return;
    }
    fprintf(f, "\n%8s  %-26s %-26s %-26s %s\n", "deadline", "spec - local [95% CI]",
            "spec - cloud [95% CI]", "spec - max(local,cloud)", "verdict");
    for (size_t d = 0; d < res->n_deadlines; d++) {
        const specx_eval_gain *g = &res->gains[d];
        char a[80], b[80], e[80];
        fmt_ci(a, sizeof a, &g->vs_local, "%+.4f", 1);
        fmt_ci(b, sizeof b, &g->vs_cloud, "%+.4f", 1);
        fmt_ci(e, sizeof e, &g->vs_best, "%+.4f", 1);
        const char *verdict = g->vs_best.lo > 0   ? "above both"
                              : g->vs_best.hi < 0 ? "below the better"
                                                  : "level with the better";
        fprintf(f, "%8g  %-26s %-26s %-26s %s\n", res->deadlines_ms[d], a, b, e, verdict);
    }
}

static bool write_outputs(const rctx *c, specx_eval_results *res)
{
    const ropts *o = c->o;
    make_notes(c, res);
    printf("%s\n%s\n", res->title, res->notes);
    print_table(c, res, stdout);
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
        snprintf(path, sizeof path, "%s/summary.csv", o->out_dir);
        st = specx_eval_write_summary_csv(res, path, &err);
    }
    if (st == SPECX_OK) {
        st = specx_eval_write_svgs(res, o->out_dir, &err);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx eval: %s\n", specx_err_text(&err, st));
        return false;
    }
    if (!o->quiet) {
        fprintf(stderr,
                "specx eval: wrote %s/report.html, results.json, results.csv, summary.csv, "
                "*.svg\n",
                o->out_dir);
    }
    return true;
}

static void rctx_clear(rctx *c)
{
    specx_eval_bootstrap_destroy(c->boot);
    specx_replay_dist_clear(&c->local_ms);
    specx_replay_dist_clear(&c->cloud_ms);
    specx_replay_dist_clear(&c->host_ms);
    specx_replay_set_free(c->set);
    specx_eval_dataset_free(c->ds);
    specx_eval_dataset_free(c->golden);
    specx_netem_profile_free(c->profile);
    free(c->ans_local);
    free(c->ans_cloud);
}

static int run_replay(const ropts *o)
{
    rctx c = {.o = o, .tty = isatty(STDERR_FILENO) == 1};
    specx_eval_results res = {0};
    bool ok = true;
    if (specx_cli_mkdir_p(o->out_dir) != 0) {
        fprintf(stderr, "specx eval: cannot create output directory %s: %s\n", o->out_dir,
                strerror(errno));
        ok = false;
    }
    if (ok && o->profile && strcmp(o->profile, "none") != 0) {
        specx_err err = {{0}};
        specx_status st = specx_netem_profile_load(o->profile, &c.profile, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx eval: --profile: %s\n", specx_err_text(&err, st));
            ok = false;
        }
    }
    ok = ok && build_set(&c) && setup_dists(&c) && setup_results(&c, &res) && run_all(&c, &res) &&
         summarize(&c, &res) && write_outputs(&c, &res);
    specx_eval_results_free(&res);
    rctx_clear(&c);
    return ok ? 0 : 1;
}

/* ---- command line ------------------------------------------------------------------ */

static bool take_deadlines(const char *v, void *out, char *msg, size_t n)
{
    ropts *o = out;
    snprintf(msg, n, "want ms values like 50,100,200 or log:10:2000:17");
    return specx_eval_parse_deadlines(v, o->deadlines, MAX_DEADLINES, &o->n_deadlines);
}

static bool take_modes(const char *v, void *out, char *msg, size_t n)
{
    ropts *o = out;
    snprintf(msg, n,
             "want a list of local, cloud, speculative, cloud-unbounded, speculative-adaptive");
    bool modes[N_MODES] = {false}, any = false;
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf) {
        return false;
    }
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int m = strcmp(t, "spec") == 0 ? 2 : -1;
        for (int i = 0; i < N_MODES; i++) {
            m = strcmp(t, mode_names[i]) == 0 ? i : m;
        }
        if (m < 0) {
            return false;
        }
        modes[m] = any = true;
    }
    memcpy(o->modes, modes, sizeof modes);
    return any;
}

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

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx eval --replay (--dataset DIR | --video FILE) [options]\n"
               "\n"
               "The accuracy sweep on a virtual clock: every frame's local and cloud answers\n"
               "come from a cache (computed once per model, backend, threshold and image),\n"
               "compute times from measured or given distributions, round trips from the\n"
               "netem link model driven by the run's own traffic, and the choice from the\n"
               "real specx operator. Modes x deadlines x seeds; 95%% bootstrap intervals over\n"
               "frames and seeds. With --video, ground truth is the cloud model's own answer\n"
               "on every frame (golden configuration). Writes report.html, results.json,\n"
               "results.csv, summary.csv and SVG plots.\n"
               "\n");
    specx_cli_print_options(f, opts);
}

int specx_cmd_eval_replay(int argc, char **argv)
{
    ropts o = {.local_model = "yolo-fastest-1.1",
               .cloud_model = "yolo-fastest-1.1-xl-416",
               .out_dir = "specx-eval-out",
               .local_ms = "measured",
               .cloud_ms = "measured",
               .host_ms = "0",
               .repeats = 20,
               .seed = 1,
               .fps = 10,
               .threshold = 0.005f,
               .golden = 0.25f,
               .jpeg_quality = 90,
               .cloud_workers = 1,
               .boot = 1000,
               .adaptive_target = 0.5};
    char scratch[96];
    take_deadlines("log:10:2000:17", &o, scratch, sizeof scratch);
    take_modes("local,cloud,speculative,cloud-unbounded", &o, scratch, sizeof scratch);
    const specx_cli_opt opts[] = {
        {"replay", 0, SPECX_CLI_FLAG, &o.replay, .help = "this form of specx eval"},
        {"dataset", 0, SPECX_CLI_STRING, &o.dataset, .meta = "DIR",
         .help = "images/ and YOLO labels/ (ground truth: the labels)"},
        {"images", 0, SPECX_CLI_STRING, &o.images, .meta = "SUBDIR",
         .help = "image folder inside DIR (default images)"},
        {"labels", 0, SPECX_CLI_STRING, &o.labels, .meta = "SUBDIR",
         .help = "label folder inside DIR (default labels)"},
        {"video", 0, SPECX_CLI_STRING, &o.video, .meta = "FILE",
         .help = "a video instead; ground truth: the cloud's answers (golden)"},
        {"golden-threshold", 0, SPECX_CLI_CALL, &o.golden, .call = take_threshold, .meta = "T",
         .help = "cloud answers kept as golden truth (default 0.25)"},
        {"limit", 0, SPECX_CLI_I64, &o.limit, 1, 1073741824.0, .meta = "N",
         .help = "only the first N frames"},
        {"local-model", 0, SPECX_CLI_STRING, &o.local_model, .meta = "NAME",
         .help = "on-board model (default yolo-fastest-1.1)"},
        {"cloud-model", 0, SPECX_CLI_STRING, &o.cloud_model, .meta = "NAME",
         .help = "the cloud's model (default yolo-fastest-1.1-xl-416)"},
        {"local-compute-ms", 0, SPECX_CLI_STRING, &o.local_ms, .meta = "DIST",
         .help = "local compute time: measured (default), MS, or FILE"},
        {"cloud-compute-ms", 0, SPECX_CLI_STRING, &o.cloud_ms, .meta = "DIST",
         .help = "server decode + inference time: measured (default), MS\n"
                 "(e.g. 3 for a GPU-class server), or FILE (ms per line)"},
        {"link-offset-ms", 0, SPECX_CLI_DOUBLE, &o.link_offset_ms, 0, 1e9, .meta = "MS",
         .help = "the link's clock at the first frame (default 0; a live\n"
                 "run's results.json has its link_offset_ms)"},
        {"host-overhead-ms", 0, SPECX_CLI_STRING, &o.host_ms, .meta = "DIST",
         .help = "software path per cloud call beyond link and compute:\n"
                 "MS or FILE (default 0; for matching a live run, docs/evalcmd.md)"},
        {"cloud-workers", 0, SPECX_CLI_INT, &o.cloud_workers, 1, 64, .meta = "N",
         .help = "server detector threads (default 1)"},
        {"profile", 0, SPECX_CLI_STRING, &o.profile, .meta = "NAME|FILE",
         .help = "netem link (5g-sf, lte, lan, ...; default none: no delay)"},
        {"deadlines", 0, SPECX_CLI_CALL, &o, .call = take_deadlines, .meta = "LIST",
         .help = "ms after arrival, or log:A:B:N (default log:10:2000:17)"},
        {"modes", 0, SPECX_CLI_CALL, &o, .call = take_modes, .meta = "LIST",
         .help = "default local,cloud,speculative,cloud-unbounded;\n"
                 "also speculative-adaptive (the adaptive deadline)"},
        {"adaptive-target", 0, SPECX_CLI_DOUBLE, &o.adaptive_target, 0.001, 1, .meta = "P",
         .help = "speculative-adaptive waits for the cloud when its estimated\n"
                 "chance of answering in time is >= P (default 0.5)"},
        {"repeats", 0, SPECX_CLI_INT, &o.repeats, 1, 10000, .meta = "N",
         .help = "seeds per mode and deadline (default 20)"},
        {"seed", 0, SPECX_CLI_U64, &o.seed, 0, INFINITY, .meta = "S",
         .help = "first seed (default 1)"},
        {"fps", 0, SPECX_CLI_DOUBLE, &o.fps, 0.01, 1000, .meta = "F",
         .help = "camera rate (default 10)"},
        {"threshold", 0, SPECX_CLI_CALL, &o.threshold, .call = take_threshold, .meta = "T",
         .help = "lowest score kept (default 0.005)"},
        {"jpeg-quality", 0, SPECX_CLI_INT, &o.jpeg_quality, 1, 100, .meta = "Q",
         .help = "JPEG quality of frames sent (default 90)"},
        {"full-frames", 0, SPECX_CLI_FLAG, &o.full_frames,
         .help =
             "the cloud gets whole frames, not scaled to its model\n(as specx eval --full-frames)"},
        {"max-in-flight", 0, SPECX_CLI_INT, &o.max_in_flight, 1, 100000, .meta = "N",
         .help = "cloud calls outstanding (default deadline x fps + 1, >= 4)"},
        {"bootstrap", 0, SPECX_CLI_INT, &o.boot, 10, 100000, .meta = "B",
         .help = "resamples for the intervals (default 1000)"},
        {"ci-all", 0, SPECX_CLI_FLAG, &o.ci_map,
         .help = "intervals for mAP@[.5:.95] too (default: mAP@0.5 and\n"
                 "the rest; this one costs ten times as much)"},
        {"block", 0, SPECX_CLI_INT, &o.block, 1, 100000, .meta = "N",
         .help = "frames per bootstrap block (default 1; video: 1 s of it)"},
        {"cache-dir", 0, SPECX_CLI_STRING, &o.cache_dir, .meta = "DIR",
         .help = "answer cache (default $SPECX_CACHE_DIR, else\n"
                 "$XDG_CACHE_HOME/specx/replay or ~/.cache/specx/replay)"},
        {"backend", 0, SPECX_CLI_STRING, &o.backend, .meta = "B", .help = "detector backend"},
        {"model-dir", 0, SPECX_CLI_STRING, &o.model_dir, .meta = "DIR",
         .help = "where models live"},
        {"out-dir", 0, SPECX_CLI_STRING, &o.out_dir, .meta = "DIR",
         .help = "output directory (default ./specx-eval-out)"},
        {"quiet", 'q', SPECX_CLI_FLAG, &o.quiet, .help = "no progress or status lines"},
        {0},
    };
    int rc = specx_cli_parse("specx eval --replay", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if ((o.dataset == NULL) == (o.video == NULL)) {
        fprintf(stderr, "specx eval: --replay needs one of --dataset DIR or --video FILE\n");
        return 2;
    }
    return run_replay(&o);
}
