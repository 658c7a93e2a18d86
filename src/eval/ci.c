/* ci.c — confidence intervals for a results table: a bootstrap over frames
 * (in blocks) and repeats (specx/eval.h, specx_eval_bootstrap).
 *
 * Design notes
 *  - Answers live in one scorer (eval/score.h); each run is a vector of
 *    answer ids, one per frame. A cell's figures for one resample are the
 *    scorer's mAP with weight rm[repeat] * fm[frame] on each (repeat, frame)
 *    answer, and weighted quantiles / shares of the runs' latencies and
 *    winners with the same weights.
 *  - One table of resamples (repeat and frame multiplicities) serves every
 *    cell, so the resampled figures of two cells at the same index come from
 *    the same data: their difference is a paired statistic (gains).
 *  - Per cell, a subset scorer holding only the answers the cell uses keeps
 *    the cost of a resample at one pass over those answers' detections. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "specx/eval.h"

#include "eval/score.h"
#include "netem/rng.h"

#define BOOT_STREAM UINT64_C(0xb0075724a9000000)

struct specx_eval_bootstrap {
    size_t n_modes, n_deadlines, n_repeats, n_frames;
    sx_eval_scorer *scorer;
    uint32_t *ids; /* [mode][deadline][repeat][frame] */
    bool *run_set; /* [mode][deadline][repeat] */
};

static size_t run_index(const specx_eval_bootstrap *b, size_t m, size_t d, size_t k)
{
    return (m * b->n_deadlines + d) * b->n_repeats + k;
}

specx_status specx_eval_bootstrap_create(const specx_eval_results *r, const specx_eval_image *gt,
                                         size_t n_frames, specx_eval_bootstrap **out,
                                         specx_err *err)
{
    *out = NULL;
    if (!r || !r->n_modes || !r->n_deadlines || !r->n_repeats || !n_frames) {
        return specx_err_set(err, SPECX_EINVAL, "eval: bootstrap needs runs and frames");
    }
    specx_eval_bootstrap *b = calloc(1, sizeof *b);
    if (!b) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    b->n_modes = r->n_modes;
    b->n_deadlines = r->n_deadlines;
    b->n_repeats = r->n_repeats;
    b->n_frames = n_frames;
    size_t runs = r->n_modes * r->n_deadlines * r->n_repeats;
    b->ids = malloc(runs * n_frames * sizeof *b->ids);
    b->run_set = calloc(runs, sizeof *b->run_set);
    specx_status st = b->ids && b->run_set
                          ? sx_eval_scorer_create(gt, n_frames, 100, &b->scorer, err)
                          : specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    if (st != SPECX_OK) {
        specx_eval_bootstrap_destroy(b);
        return st;
    }
    for (size_t i = 0; i < runs * n_frames; i++) {
        b->ids[i] = SPECX_EVAL_NO_ANSWER;
    }
    *out = b;
    return SPECX_OK;
}

void specx_eval_bootstrap_destroy(specx_eval_bootstrap *b)
{
    if (!b) {
        return;
    }
    sx_eval_scorer_destroy(b->scorer);
    free(b->ids);
    free(b->run_set);
    free(b);
}

specx_status specx_eval_bootstrap_answer(specx_eval_bootstrap *b, size_t frame,
                                         const specx_detections *d, uint32_t *id, specx_err *err)
{
    return sx_eval_scorer_add(b->scorer, frame, d, id, err);
}

specx_status specx_eval_bootstrap_set_run(specx_eval_bootstrap *b, size_t mode, size_t deadline,
                                          size_t repeat, const uint32_t *ids, specx_err *err)
{
    if (mode >= b->n_modes || deadline >= b->n_deadlines || repeat >= b->n_repeats) {
        return specx_err_set(err, SPECX_EINVAL, "eval: bootstrap: run out of range");
    }
    size_t nv = sx_eval_scorer_variants(b->scorer);
    for (size_t f = 0; f < b->n_frames; f++) {
        if (ids[f] != SPECX_EVAL_NO_ANSWER &&
            (ids[f] >= nv || sx_eval_scorer_frame_of(b->scorer, ids[f]) != f)) {
            return specx_err_set(err, SPECX_EINVAL,
                                 "eval: bootstrap: answer %u is not one for frame %zu", ids[f], f);
        }
    }
    size_t ri = run_index(b, mode, deadline, repeat);
    memcpy(b->ids + ri * b->n_frames, ids, b->n_frames * sizeof *ids);
    b->run_set[ri] = true;
    return SPECX_OK;
}

specx_status specx_eval_bootstrap_add_run(specx_eval_bootstrap *b, size_t mode, size_t deadline,
                                          size_t repeat, const specx_detections *dets,
                                          specx_err *err)
{
    uint32_t *ids = malloc(b->n_frames * sizeof *ids);
    if (!ids) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    specx_status st = SPECX_OK;
    for (size_t f = 0; st == SPECX_OK && f < b->n_frames; f++) {
        ids[f] = SPECX_EVAL_NO_ANSWER;
        if (dets[f].count > 0) {
            st = specx_eval_bootstrap_answer(b, f, &dets[f], &ids[f], err);
        }
    }
    if (st == SPECX_OK) {
        st = specx_eval_bootstrap_set_run(b, mode, deadline, repeat, ids, err);
    }
    free(ids);
    return st;
}

/* ---- resamples ------------------------------------------------------------ */

typedef struct resamples {
    size_t n, n_repeats, n_frames;
    uint32_t *rm; /* n × n_repeats */
    uint32_t *fm; /* n × n_frames */
} resamples;

static bool resamples_make(resamples *rs, size_t n, size_t n_repeats, size_t n_frames, size_t block,
                           uint64_t seed)
{
    *rs = (resamples){.n = n, .n_repeats = n_repeats, .n_frames = n_frames};
    rs->rm = calloc(n * n_repeats, sizeof *rs->rm);
    rs->fm = calloc(n * n_frames, sizeof *rs->fm);
    if (!rs->rm || !rs->fm) {
        return false;
    }
    sx_netem_rng rng;
    sx_netem_rng_seed(&rng, seed, BOOT_STREAM);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < n_repeats; k++) {
            rs->rm[i * n_repeats + sx_netem_rng_next(&rng) % n_repeats]++;
        }
        /* circular blocks of consecutive frames until n_frames are drawn */
        size_t drawn = 0;
        while (drawn < n_frames) {
            size_t start = sx_netem_rng_next(&rng) % n_frames;
            for (size_t j = 0; j < block && drawn < n_frames; j++, drawn++) {
                rs->fm[i * n_frames + (start + j) % n_frames]++;
            }
        }
    }
    return true;
}

static void resamples_clear(resamples *rs)
{
    free(rs->rm);
    free(rs->fm);
}

/* ---- one cell ------------------------------------------------------------- */

typedef struct lat_item {
    double v;
    uint32_t k, f;
} lat_item;

static int cmp_lat(const void *a, const void *b)
{
    const lat_item *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Weighted quantile with the rank rule of the report (value at rank
 * round(q·(m−1)) among m values), the weights read as copies. */
static double wquantile(const lat_item *it, size_t n, const double *w, double total, double q)
{
    if (total <= 0) {
        return NAN;
    }
    double rank = floor(q * (total - 1) + 0.5), cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += w[i];
        if (cum > rank) {
            return it[i].v;
        }
    }
    return n ? it[n - 1].v : NAN;
}

/* Percentile interval of v (n values; NANs dropped; sorts v). */
static specx_eval_ci interval(double est, double *v, size_t n, double level)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            v[m++] = v[i];
        }
    }
    specx_eval_ci ci = {.est = est, .lo = NAN, .hi = NAN};
    if (m == 0 || m * 2 < n) {
        return ci;
    }
    qsort(v, m, sizeof *v, cmp_double);
    double a = (1 - level) / 2;
    ci.lo = v[(size_t)floor(a * (double)(m - 1) + 0.5)];
    ci.hi = v[(size_t)floor((1 - a) * (double)(m - 1) + 0.5)];
    return ci;
}

typedef struct cell_work {
    specx_eval_bootstrap *b;
    specx_eval_results *r;
    const resamples *rs;
    double level;
    bool want_map;
    size_t nv;
    double *vw, *gtw;   /* per variant, per frame */
    uint8_t *use;       /* per variant */
    lat_item *lat;      /* finite latencies of the cell, sorted */
    double *latw;       /* their weights in a resample */
    double *boot;       /* scratch: one figure per resample */
    double *map50_boot; /* this cell's mAP@0.5 per resample (kept for gains) */
} cell_work;

/* Weights of resample i (or the full set when i == SIZE_MAX) into vw / gtw. */
static void weigh(cell_work *w, const uint32_t *ids, size_t i)
{
    const specx_eval_bootstrap *b = w->b;
    size_t nk = b->n_repeats, nf = b->n_frames;
    double total_rep = 0;
    for (size_t k = 0; k < nk; k++) {
        double rk = i == SIZE_MAX ? 1.0 : (double)w->rs->rm[i * nk + k];
        total_rep += rk;
        for (size_t f = 0; rk > 0 && f < nf; f++) {
            uint32_t v = ids[k * nf + f];
            double wf = i == SIZE_MAX ? 1.0 : (double)w->rs->fm[i * nf + f];
            if (v != SPECX_EVAL_NO_ANSWER) {
                w->vw[v] += rk * wf;
            }
        }
    }
    for (size_t f = 0; f < nf; f++) {
        w->gtw[f] = total_rep * (i == SIZE_MAX ? 1.0 : (double)w->rs->fm[i * nf + f]);
    }
}

static void unweigh(cell_work *w, const uint32_t *ids)
{
    size_t n = w->b->n_repeats * w->b->n_frames;
    for (size_t j = 0; j < n; j++) {
        if (ids[j] != SPECX_EVAL_NO_ANSWER) {
            w->vw[ids[j]] = 0;
        }
    }
}

/* Each repeat's own mAP into its run (weights of that run only). */
static void run_maps(cell_work *w, sx_eval_scorer *sub, const uint32_t *ids, size_t m, size_t d)
{
    size_t nf = w->b->n_frames;
    for (size_t f = 0; f < nf; f++) {
        w->gtw[f] = 1;
    }
    for (size_t k = 0; k < w->b->n_repeats; k++) {
        const uint32_t *rid = ids + k * nf;
        for (size_t f = 0; f < nf; f++) {
            if (rid[f] != SPECX_EVAL_NO_ANSWER) {
                w->vw[rid[f]] += 1;
            }
        }
        specx_eval_run *run = specx_eval_results_run(w->r, m, d, k);
        sx_eval_scorer_map(sub, w->vw, w->gtw, &run->map50, &run->map);
        for (size_t f = 0; f < nf; f++) {
            if (rid[f] != SPECX_EVAL_NO_ANSWER) {
                w->vw[rid[f]] = 0;
            }
        }
    }
}

/* mAP@0.5 and mAP@[.5:.95] with intervals, and every run's own mAP. */
static specx_status cell_map(cell_work *w, const uint32_t *ids, size_t m, size_t d,
                             specx_eval_cell *c, specx_err *err)
{
    memset(w->use, 0, w->nv);
    for (size_t j = 0; j < w->b->n_repeats * w->b->n_frames; j++) {
        if (ids[j] != SPECX_EVAL_NO_ANSWER) {
            w->use[ids[j]] = 1;
        }
    }
    sx_eval_scorer *sub = NULL;
    specx_status st = sx_eval_scorer_subset(w->b->scorer, w->use, &sub, err);
    if (st != SPECX_OK) {
        return st;
    }
    size_t n = w->rs->n;
    double *boot_map = malloc((n + 1) * sizeof *boot_map);
    if (!boot_map) {
        sx_eval_scorer_destroy(sub);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    run_maps(w, sub, ids, m, d);
    double est50 = 0, est = 0;
    weigh(w, ids, SIZE_MAX);
    sx_eval_scorer_map(sub, w->vw, w->gtw, &est50, &est);
    unweigh(w, ids);
    for (size_t i = 0; i < n; i++) {
        weigh(w, ids, i);
        sx_eval_scorer_map(sub, w->vw, w->gtw, &w->map50_boot[i],
                           w->want_map ? &boot_map[i] : NULL);
        unweigh(w, ids);
    }
    memcpy(w->boot, w->map50_boot, n * sizeof *w->boot);
    c->map50 = interval(est50, w->boot, n, w->level);
    c->map = w->want_map ? interval(est, boot_map, n, w->level)
                         : (specx_eval_ci){.est = est, .lo = NAN, .hi = NAN};
    free(boot_map);
    sx_eval_scorer_destroy(sub);
    return SPECX_OK;
}

/* The mean latency over w->lat[0..nl) with its interval: each resample
 * weighs a frame of a repeat by rm[repeat] * fm[frame], as for quantiles. */
static void cell_latency_mean(cell_work *w, size_t nl, specx_eval_cell *c)
{
    size_t nk = w->r->n_repeats, nf = w->b->n_frames, n = w->rs->n;
    double sum = 0;
    for (size_t j = 0; j < nl; j++) {
        sum += w->lat[j].v;
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0, tot = 0;
        for (size_t j = 0; j < nl; j++) {
            double wt =
                (double)w->rs->rm[i * nk + w->lat[j].k] * (double)w->rs->fm[i * nf + w->lat[j].f];
            s += wt * w->lat[j].v;
            tot += wt;
        }
        w->boot[i] = tot > 0 ? s / tot : NAN;
    }
    c->latency_mean = interval(nl > 0 ? sum / (double)nl : NAN, w->boot, n, w->level);
}

/* Latency quantiles and winner shares with intervals. */
static void cell_latency(cell_work *w, size_t m, size_t d, specx_eval_cell *c)
{
    const specx_eval_results *r = w->r;
    size_t nk = r->n_repeats, nf = w->b->n_frames, n = w->rs->n, nl = 0;
    for (size_t k = 0; k < nk; k++) {
        const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
        for (size_t f = 0; f < nf && f < run->n_frames && run->latency_ms; f++) {
            if (isfinite(run->latency_ms[f])) {
                w->lat[nl++] = (lat_item){run->latency_ms[f], (uint32_t)k, (uint32_t)f};
            }
        }
    }
    qsort(w->lat, nl, sizeof *w->lat, cmp_lat);
    static const double qs[3] = {0.50, 0.90, 0.99};
    specx_eval_ci *out[3] = {&c->latency_p50, &c->latency_p90, &c->latency_p99};
    for (int q = 0; q < 3; q++) {
        for (size_t j = 0; j < nl; j++) {
            w->latw[j] = 1;
        }
        double est = wquantile(w->lat, nl, w->latw, (double)nl, qs[q]);
        for (size_t i = 0; i < n; i++) {
            double tot = 0;
            for (size_t j = 0; j < nl; j++) {
                w->latw[j] = (double)w->rs->rm[i * nk + w->lat[j].k] *
                             (double)w->rs->fm[i * nf + w->lat[j].f];
                tot += w->latw[j];
            }
            w->boot[i] = wquantile(w->lat, nl, w->latw, tot, qs[q]);
        }
        *out[q] = interval(est, w->boot, n, w->level);
    }
    cell_latency_mean(w, nl, c);
    /* shares: executors, then "no result" as index n_exec */
    size_t ne =
        r->n_executors < SPECX_EVAL_MAX_EXECUTORS ? r->n_executors : SPECX_EVAL_MAX_EXECUTORS;
    for (size_t e = 0; e <= ne; e++) {
        int want = e == ne ? -1 : (int)e;
        double est_hit = 0, est_all = 0;
        for (size_t i = 0; i <= n; i++) {
            double hit = 0, all = 0;
            for (size_t k = 0; k < nk; k++) {
                const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
                double rk = i == n ? 1.0 : (double)w->rs->rm[i * nk + k];
                for (size_t f = 0; rk > 0 && f < nf && f < run->n_frames; f++) {
                    double wt = rk * (i == n ? 1.0 : (double)w->rs->fm[i * nf + f]);
                    int win = run->winner ? run->winner[f] : -1;
                    bool match =
                        want < 0 ? (win < 0 || (size_t)win >= r->n_executors) : win == want;
                    hit += match ? wt : 0;
                    all += wt;
                }
            }
            if (i == n) {
                est_hit = hit;
                est_all = all;
            } else {
                w->boot[i] = all > 0 ? hit / all : NAN;
            }
        }
        specx_eval_ci ci = interval(est_all > 0 ? est_hit / est_all : NAN, w->boot, n, w->level);
        if (e == ne) {
            c->no_result = ci;
        } else {
            c->won[e] = ci;
        }
    }
}

/* ---- summarize ------------------------------------------------------------- */

static void gains(specx_eval_results *r, const double *map50_boot, size_t n, double *scratch,
                  double level)
{
    int ml = specx_eval_results_mode(r, "local"), mc = specx_eval_results_mode(r, "cloud"),
        ms = specx_eval_results_mode(r, "speculative");
    for (size_t d = 0; d < r->n_deadlines; d++) {
        const specx_eval_cell *cl = specx_eval_results_cell(r, (size_t)ml, d);
        const specx_eval_cell *cc = specx_eval_results_cell(r, (size_t)mc, d);
        const specx_eval_cell *cs = specx_eval_results_cell(r, (size_t)ms, d);
        const double *bl = map50_boot + ((size_t)ml * r->n_deadlines + d) * n;
        const double *bc = map50_boot + ((size_t)mc * r->n_deadlines + d) * n;
        const double *bs = map50_boot + ((size_t)ms * r->n_deadlines + d) * n;
        for (size_t i = 0; i < n; i++) {
            scratch[i] = bs[i] - bl[i];
        }
        r->gains[d].vs_local = interval(cs->map50.est - cl->map50.est, scratch, n, level);
        for (size_t i = 0; i < n; i++) {
            scratch[i] = bs[i] - bc[i];
        }
        r->gains[d].vs_cloud = interval(cs->map50.est - cc->map50.est, scratch, n, level);
        for (size_t i = 0; i < n; i++) {
            scratch[i] = bs[i] - fmax(bl[i], bc[i]);
        }
        r->gains[d].vs_best =
            interval(cs->map50.est - fmax(cl->map50.est, cc->map50.est), scratch, n, level);
    }
}

static specx_status check_shape(const specx_eval_bootstrap *b, const specx_eval_results *r,
                                specx_err *err)
{
    if (r->n_modes != b->n_modes || r->n_deadlines != b->n_deadlines ||
        r->n_repeats != b->n_repeats) {
        return specx_err_set(err, SPECX_EINVAL, "eval: bootstrap: results of another shape");
    }
    for (size_t i = 0; i < b->n_modes * b->n_deadlines * b->n_repeats; i++) {
        if (!b->run_set[i]) {
            return specx_err_set(err, SPECX_EINVAL, "eval: bootstrap: run %zu has no answers", i);
        }
    }
    return SPECX_OK;
}

specx_status specx_eval_bootstrap_summarize(specx_eval_bootstrap *b, specx_eval_results *r,
                                            const specx_eval_bootstrap_options *o, specx_err *err)
{
    specx_status st = check_shape(b, r, err);
    if (st != SPECX_OK) {
        return st;
    }
    if ((st = sx_eval_scorer_freeze(b->scorer, err)) != SPECX_OK) {
        return st;
    }
    size_t n = o && o->samples ? o->samples : 1000;
    double level = o && o->level > 0 && o->level < 1 ? o->level : 0.95;
    size_t ncell = r->n_modes * r->n_deadlines, nk = r->n_repeats, nf = b->n_frames;
    resamples rs;
    cell_work w = {.b = b,
                   .r = r,
                   .rs = &rs,
                   .level = level,
                   .want_map = !(o && o->skip_map),
                   .nv = sx_eval_scorer_variants(b->scorer)};
    double *all_boot = malloc(ncell * n * sizeof *all_boot);
    specx_eval_cell *cells = calloc(ncell, sizeof *cells);
    bool need_gains = specx_eval_results_mode(r, "local") >= 0 &&
                      specx_eval_results_mode(r, "cloud") >= 0 &&
                      specx_eval_results_mode(r, "speculative") >= 0;
    specx_eval_gain *g = need_gains ? calloc(r->n_deadlines, sizeof *g) : NULL;
    w.vw = calloc(w.nv + 1, sizeof *w.vw);
    w.gtw = calloc(nf, sizeof *w.gtw);
    w.use = calloc(w.nv + 1, 1);
    w.lat = malloc((nk * nf + 1) * sizeof *w.lat);
    w.latw = malloc((nk * nf + 1) * sizeof *w.latw);
    w.boot = malloc((n + 1) * sizeof *w.boot);
    bool ok = resamples_make(&rs, n, nk, nf, o && o->block ? o->block : 1, o ? o->seed : 0) &&
              all_boot && cells && (g || !need_gains) && w.vw && w.gtw && w.use && w.lat &&
              w.latw && w.boot;
    st = ok ? SPECX_OK : specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    for (size_t m = 0; st == SPECX_OK && m < r->n_modes; m++) {
        for (size_t d = 0; st == SPECX_OK && d < r->n_deadlines; d++) {
            const uint32_t *ids = b->ids + run_index(b, m, d, 0) * nf;
            w.map50_boot = all_boot + (m * r->n_deadlines + d) * n;
            st = cell_map(&w, ids, m, d, &cells[m * r->n_deadlines + d], err);
            if (st == SPECX_OK) {
                cell_latency(&w, m, d, &cells[m * r->n_deadlines + d]);
            }
        }
    }
    if (st == SPECX_OK) {
        free(r->cells);
        free(r->gains);
        r->cells = cells;
        r->gains = g;
        r->boot_samples = n;
        r->ci_level = level;
        cells = NULL;
        g = NULL;
        if (r->gains) {
            gains(r, all_boot, n, w.boot, level);
        }
    }
    resamples_clear(&rs);
    free(all_boot);
    free(cells);
    free(g);
    free(w.vw);
    free(w.gtw);
    free(w.use);
    free(w.lat);
    free(w.latw);
    free(w.boot);
    return st;
}
