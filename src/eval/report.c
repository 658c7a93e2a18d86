/* report.c — results of a deadline sweep and their writers: report.html
 * (inline SVG, no scripts), results.json and results.csv. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "specx/eval.h"

#include "svgplot.h"

#define MAX_PANELS 6 /* deadlines shown as CDF / strip panels */

/* ---- results structure ------------------------------------------------------ */

specx_status specx_eval_results_init(specx_eval_results *r, size_t n_modes, size_t n_deadlines,
                                     size_t n_repeats, size_t n_executors, specx_err *err)
{
    memset(r, 0, sizeof *r);
    if (!n_modes || !n_deadlines || !n_repeats) {
        return specx_err_set(err, SPECX_EINVAL,
                             "eval: results need at least one mode, "
                             "deadline and repeat");
    }
    r->n_modes = n_modes;
    r->n_deadlines = n_deadlines;
    r->n_repeats = n_repeats;
    r->n_executors = n_executors;
    r->modes = calloc(n_modes, sizeof *r->modes);
    r->executors = calloc(n_executors ? n_executors : 1, sizeof *r->executors);
    r->deadlines_ms = calloc(n_deadlines, sizeof *r->deadlines_ms);
    r->runs = calloc(n_modes * n_deadlines * n_repeats, sizeof *r->runs);
    if (!r->modes || !r->executors || !r->deadlines_ms || !r->runs) {
        specx_eval_results_free(r);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    return SPECX_OK;
}

void specx_eval_results_free(specx_eval_results *r)
{
    if (!r) {
        return;
    }
    if (r->runs) {
        for (size_t i = 0; i < r->n_modes * r->n_deadlines * r->n_repeats; i++) {
            free(r->runs[i].latency_ms);
            free(r->runs[i].compute_ms);
            free(r->runs[i].winner);
        }
    }
    free(r->runs);
    free(r->cells);
    free(r->gains);
    free(r->modes);
    free(r->executors);
    free(r->deadlines_ms);
    memset(r, 0, sizeof *r);
}

specx_eval_run *specx_eval_results_run(const specx_eval_results *r, size_t mode, size_t deadline,
                                       size_t repeat)
{
    if (mode >= r->n_modes || deadline >= r->n_deadlines || repeat >= r->n_repeats) {
        return NULL;
    }
    return &r->runs[(mode * r->n_deadlines + deadline) * r->n_repeats + repeat];
}

const specx_eval_cell *specx_eval_results_cell(const specx_eval_results *r, size_t mode,
                                               size_t deadline)
{
    if (!r->cells || mode >= r->n_modes || deadline >= r->n_deadlines) {
        return NULL;
    }
    return &r->cells[mode * r->n_deadlines + deadline];
}

int specx_eval_results_mode(const specx_eval_results *r, const char *name)
{
    for (size_t m = 0; m < r->n_modes; m++) {
        if (strcmp(r->modes[m], name) == 0) {
            return (int)m;
        }
    }
    return -1;
}

specx_status specx_eval_run_frames(specx_eval_run *run, size_t n_frames, specx_err *err)
{
    double *lat = malloc((n_frames ? n_frames : 1) * sizeof *lat);
    double *comp = malloc((n_frames ? n_frames : 1) * sizeof *comp);
    int *win = malloc((n_frames ? n_frames : 1) * sizeof *win);
    if (!lat || !comp || !win) {
        free(lat);
        free(comp);
        free(win);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    for (size_t i = 0; i < n_frames; i++) {
        lat[i] = comp[i] = NAN;
        win[i] = -1;
    }
    free(run->latency_ms);
    free(run->compute_ms);
    free(run->winner);
    run->latency_ms = lat;
    run->compute_ms = comp;
    run->winner = win;
    run->link_offset_ms = NAN;
    run->n_frames = n_frames;
    return SPECX_OK;
}

/* ---- helpers -------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Latency quantiles over the finite values of one or more runs. */
typedef struct lat_summary {
    double p50, p90, p99;
    size_t frames, no_result;
} lat_summary;

static bool summarize(const specx_eval_run *const *runs, size_t n, lat_summary *s)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += runs[i]->n_frames;
    }
    double *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) {
        return false;
    }
    size_t m = 0;
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < runs[i]->n_frames; k++) {
            double x = runs[i]->latency_ms ? runs[i]->latency_ms[k] : NAN;
            if (isfinite(x)) {
                v[m++] = x;
            }
            if (!runs[i]->winner || runs[i]->winner[k] < 0) {
                s->no_result++;
            }
        }
    }
    s->frames = total;
    qsort(v, m, sizeof *v, cmp_double);
    if (m) {
        s->p50 = v[(size_t)(0.50 * (double)(m - 1) + 0.5)];
        s->p90 = v[(size_t)(0.90 * (double)(m - 1) + 0.5)];
        s->p99 = v[(size_t)(0.99 * (double)(m - 1) + 0.5)];
    } else {
        s->p50 = s->p90 = s->p99 = NAN;
    }
    free(v);
    return true;
}

static void panel_deadlines(const specx_eval_results *r, size_t *idx, size_t *n)
{
    if (r->n_deadlines <= MAX_PANELS) {
        *n = r->n_deadlines;
        for (size_t i = 0; i < *n; i++) {
            idx[i] = i;
        }
        return;
    }
    *n = MAX_PANELS;
    for (size_t i = 0; i < MAX_PANELS; i++) {
        idx[i] = i * (r->n_deadlines - 1) / (MAX_PANELS - 1);
    }
}

static const char *none_color = "#bbbbbb";

/* ---- report.html --------------------------------------------------------------- */

/* Deadlines spanning more than 20x go on a log axis. */
static bool wide_deadlines(const specx_eval_results *r)
{
    return r->n_deadlines > 1 && r->deadlines_ms[0] > 0 &&
           r->deadlines_ms[r->n_deadlines - 1] / r->deadlines_ms[0] > 20.0;
}

/* Per mode: the estimate and its interval from the cells, else the mean
 * over repeats with min–max bars. */
static void accuracy_values(const specx_eval_results *r, size_t m, bool coco, double *y, double *lo,
                            double *hi)
{
    for (size_t d = 0; d < r->n_deadlines; d++) {
        const specx_eval_cell *c = specx_eval_results_cell(r, m, d);
        if (c) {
            const specx_eval_ci *ci = coco ? &c->map : &c->map50;
            y[d] = ci->est;
            lo[d] = ci->lo;
            hi[d] = ci->hi;
            continue;
        }
        double sum = 0, mn = INFINITY, mx = -INFINITY;
        for (size_t k = 0; k < r->n_repeats; k++) {
            const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
            double v = coco ? run->map : run->map50;
            sum += v;
            mn = fmin(mn, v);
            mx = fmax(mx, v);
        }
        y[d] = sum / (double)r->n_repeats;
        lo[d] = mn;
        hi[d] = mx;
    }
}

static bool accuracy_plot(FILE *f, const specx_eval_results *r, bool coco)
{
    size_t nd = r->n_deadlines;
    double *mean = calloc(r->n_modes * nd, sizeof *mean);
    double *lo = calloc(r->n_modes * nd, sizeof *lo);
    double *hi = calloc(r->n_modes * nd, sizeof *hi);
    sx_svg_series *s = calloc(r->n_modes, sizeof *s);
    bool ok = mean && lo && hi && s;
    bool cells = r->cells != NULL, bars = !cells && r->n_repeats > 1;
    for (size_t m = 0; ok && m < r->n_modes; m++) {
        accuracy_values(r, m, coco, mean + m * nd, lo + m * nd, hi + m * nd);
        s[m] = (sx_svg_series){.name = r->modes[m],
                               .color = sx_svg_color(m),
                               .n = nd,
                               .x = r->deadlines_ms,
                               .y = mean + m * nd,
                               .ylo = bars ? lo + m * nd : NULL,
                               .yhi = bars ? hi + m * nd : NULL,
                               .band_lo = cells ? lo + m * nd : NULL,
                               .band_hi = cells ? hi + m * nd : NULL,
                               .markers = true};
    }
    if (ok) {
        bool wide = wide_deadlines(r);
        sx_svg_axes ax = {
            .title = coco ? "mAP@[.5:.95] vs deadline" : "mAP@0.5 vs deadline",
            .xlabel = wide ? "deadline (ms, log scale)" : "deadline (ms)",
            .ylabel = coco ? "mAP@[.5:.95]" : "mAP@0.5",
            .xmin = NAN,
            .xmax = NAN,
            .ymin = 0,
            .ymax = NAN,
            .xlog = wide,
        };
        sx_svg_line_plot(f, 900, 420, &ax, s, r->n_modes);
    }
    free(mean);
    free(lo);
    free(hi);
    free(s);
    return ok;
}

/* speculative − max(local, cloud) per deadline, with its paired interval. */
static bool gain_plot(FILE *f, const specx_eval_results *r)
{
    size_t nd = r->n_deadlines;
    double *v = calloc(3 * nd, sizeof *v);
    if (!v) {
        return false;
    }
    for (size_t d = 0; d < nd; d++) {
        v[d] = r->gains[d].vs_best.est;
        v[nd + d] = r->gains[d].vs_best.lo;
        v[2 * nd + d] = r->gains[d].vs_best.hi;
    }
    char name[96];
    snprintf(name, sizeof name, "spec − best");
    sx_svg_series s = {.name = name,
                       .color = sx_svg_color(2),
                       .n = nd,
                       .x = r->deadlines_ms,
                       .y = v,
                       .band_lo = v + nd,
                       .band_hi = v + 2 * nd,
                       .markers = true};
    bool wide = wide_deadlines(r);
    char title[128];
    snprintf(title, sizeof title,
             "mAP@0.5 of speculative minus the better of local and cloud (%.0f %% CI band)",
             100 * r->ci_level);
    sx_svg_axes ax = {
        .title = title,
        .xlabel = wide ? "deadline (ms, log scale)" : "deadline (ms)",
        .ylabel = "Δ mAP@0.5",
        .xmin = NAN,
        .xmax = NAN,
        .ymin = NAN,
        .ymax = NAN,
        .xlog = wide,
        .zero_line = true,
    };
    sx_svg_line_plot(f, 900, 420, &ax, &s, 1);
    free(v);
    return true;
}

/* Latency p50 (solid) and p90 (dashed) per mode vs deadline, with bands. */
static bool latency_plot(FILE *f, const specx_eval_results *r)
{
    size_t nd = r->n_deadlines, nm = r->n_modes;
    double *v = calloc(6 * nm * nd, sizeof *v);
    sx_svg_series *s = calloc(2 * nm, sizeof *s);
    char(*names)[64] = calloc(2 * nm, sizeof *names);
    bool ok = v && s && names;
    for (size_t m = 0; ok && m < nm; m++) {
        for (int q = 0; q < 2; q++) {
            double *y = v + ((m * 2 + (size_t)q) * 3) * nd;
            for (size_t d = 0; d < nd; d++) {
                const specx_eval_cell *c = specx_eval_results_cell(r, m, d);
                const specx_eval_ci *ci = q == 0 ? &c->latency_p50 : &c->latency_p90;
                y[d] = ci->est;
                y[nd + d] = ci->lo;
                y[2 * nd + d] = ci->hi;
            }
            /* the legend column is narrow: "cloud-unbounded p50" would be cut */
            const char *mode =
                strcmp(r->modes[m], "cloud-unbounded") == 0 ? "unbounded" : r->modes[m];
            snprintf(names[m * 2 + (size_t)q], sizeof names[0], "%s %s", mode,
                     q == 0 ? "p50" : "p90");
            s[m * 2 + (size_t)q] = (sx_svg_series){.name = names[m * 2 + (size_t)q],
                                                   .color = sx_svg_color(m),
                                                   .n = nd,
                                                   .x = r->deadlines_ms,
                                                   .y = y,
                                                   .band_lo = y + nd,
                                                   .band_hi = y + 2 * nd,
                                                   .markers = q == 0,
                                                   .dashed = q == 1};
        }
    }
    if (ok) {
        bool wide = wide_deadlines(r);
        sx_svg_axes ax = {
            .title = "latency from arrival to output vs deadline",
            .xlabel = wide ? "deadline (ms, log scale)" : "deadline (ms)",
            .ylabel = "latency (ms, log scale)",
            .xmin = NAN,
            .xmax = NAN,
            .ymin = NAN,
            .ymax = NAN,
            .xlog = wide,
            .ylog = true,
        };
        sx_svg_line_plot(f, 900, 460, &ax, s, 2 * nm);
    }
    free(v);
    free(s);
    free(names);
    return ok;
}

static bool latency_cdfs(FILE *f, const specx_eval_results *r)
{
    size_t idx[MAX_PANELS], np;
    panel_deadlines(r, idx, &np);
    sx_svg_cdf_set *sets = calloc(r->n_modes, sizeof *sets);
    double **pool = calloc(r->n_modes, sizeof *pool);
    bool ok = sets && pool;
    bool wide = false; /* log axis when latencies span more than a decade */
    for (size_t p = 0; ok && p < np; p++) {
        size_t d = idx[p];
        double lmin = INFINITY, lmax = -INFINITY;
        for (size_t m = 0; ok && m < r->n_modes; m++) {
            size_t total = 0;
            for (size_t k = 0; k < r->n_repeats; k++) {
                total += specx_eval_results_run(r, m, d, k)->n_frames;
            }
            free(pool[m]);
            pool[m] = malloc((total ? total : 1) * sizeof(double));
            if (!pool[m]) {
                ok = false;
                break;
            }
            size_t n = 0;
            for (size_t k = 0; k < r->n_repeats; k++) {
                const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
                for (size_t i = 0; i < run->n_frames && run->latency_ms; i++) {
                    double v = run->latency_ms[i];
                    pool[m][n++] = v;
                    if (isfinite(v) && v > 0) {
                        lmin = fmin(lmin, v);
                        lmax = fmax(lmax, v);
                    }
                }
            }
            sets[m] = (sx_svg_cdf_set){
                .name = r->modes[m], .color = sx_svg_color(m), .values = pool[m], .n = n};
        }
        if (!ok) {
            break;
        }
        wide = isfinite(lmin) && lmax / lmin > 20.0;
        char title[96];
        snprintf(title, sizeof title, "latency CDF, deadline %g ms", r->deadlines_ms[d]);
        sx_svg_axes ax = {.title = title,
                          .xlabel = wide ? "latency (ms, log scale)" : "latency (ms)",
                          .ylabel = "fraction of frames",
                          .xmin = wide ? NAN : 0,
                          .xmax = NAN,
                          .ymin = 0,
                          .ymax = 1,
                          .xlog = wide};
        ok = sx_svg_cdf(f, 900, 340, &ax, sets, r->n_modes);
    }
    for (size_t m = 0; pool && m < r->n_modes; m++) {
        free(pool[m]);
    }
    free(pool);
    free(sets);
    return ok;
}

static bool winner_strips(FILE *f, const specx_eval_results *r)
{
    size_t idx[MAX_PANELS], np;
    panel_deadlines(r, idx, &np);
    const char **names = calloc(r->n_executors + 1, sizeof *names);
    const char **colors = calloc(r->n_executors + 1, sizeof *colors);
    sx_svg_strip *rows = calloc(r->n_modes, sizeof *rows);
    bool ok = names && colors && rows;
    for (size_t e = 0; ok && e < r->n_executors; e++) {
        names[e] = r->executors[e];
        /* Executors get colours after the modes' so the two never clash. */
        colors[e] = sx_svg_color(r->n_modes + e);
    }
    for (size_t p = 0; ok && p < np; p++) {
        size_t d = idx[p];
        for (size_t m = 0; m < r->n_modes; m++) {
            const specx_eval_run *run = specx_eval_results_run(r, m, d, 0);
            rows[m] = (sx_svg_strip){
                .label = r->modes[m], .n = run->winner ? run->n_frames : 0, .cat = run->winner};
        }
        char title[96];
        snprintf(title, sizeof title, "which executor won each frame, deadline %g ms (repeat 0)",
                 r->deadlines_ms[d]);
        sx_svg_strips(f, 900, title, rows, r->n_modes, names, colors, r->n_executors, "no result",
                      none_color);
    }
    free(names);
    free(colors);
    free(rows);
    return ok;
}

static bool summary_table(FILE *f, const specx_eval_results *r)
{
    fputs("<table>\n<tr><th>mode</th><th>deadline ms</th><th>mAP@0.5 mean (min–max)</th>"
          "<th>mAP@[.5:.95] mean</th><th>latency p50 / p90 / p99 ms</th><th>no result</th>",
          f);
    for (size_t e = 0; e < r->n_executors; e++) {
        fputs("<th>won by ", f);
        sx_svg_escape(f, r->executors[e]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    const specx_eval_run **runs = calloc(r->n_repeats, sizeof *runs);
    if (!runs) {
        return false;
    }
    for (size_t m = 0; m < r->n_modes; m++) {
        for (size_t d = 0; d < r->n_deadlines; d++) {
            double sum50 = 0, sum = 0, mn = INFINITY, mx = -INFINITY;
            for (size_t k = 0; k < r->n_repeats; k++) {
                runs[k] = specx_eval_results_run(r, m, d, k);
                sum50 += runs[k]->map50;
                sum += runs[k]->map;
                mn = fmin(mn, runs[k]->map50);
                mx = fmax(mx, runs[k]->map50);
            }
            lat_summary ls;
            if (!summarize(runs, r->n_repeats, &ls)) {
                free(runs);
                return false;
            }
            fputs("<tr><td>", f);
            sx_svg_escape(f, r->modes[m]);
            double k = (double)r->n_repeats;
            fprintf(f,
                    "</td><td>%g</td><td>%.3f (%.3f–%.3f)</td><td>%.3f</td>"
                    "<td>%.1f / %.1f / %.1f</td><td>%zu of %zu</td>",
                    r->deadlines_ms[d], sum50 / k, mn, mx, sum / k, ls.p50, ls.p90, ls.p99,
                    ls.no_result, ls.frames);
            for (size_t e = 0; e < r->n_executors; e++) {
                size_t won = 0;
                for (size_t q = 0; q < r->n_repeats; q++) {
                    for (size_t i = 0; runs[q]->winner && i < runs[q]->n_frames; i++) {
                        won += runs[q]->winner[i] == (int)e;
                    }
                }
                fprintf(f, "<td>%.1f %%</td>",
                        ls.frames ? 100.0 * (double)won / (double)ls.frames : 0.0);
            }
            fputs("</tr>\n", f);
        }
    }
    free(runs);
    fputs("</table>\n", f);
    return true;
}

static void ci_cell(FILE *f, const specx_eval_ci *c, const char *fmt, double scale)
{
    char a[32], b[32], e[32];
    snprintf(e, sizeof e, fmt, c->est * scale);
    if (!isfinite(c->lo) || !isfinite(c->hi)) {
        fprintf(f, "<td>%s</td>", e);
        return;
    }
    snprintf(a, sizeof a, fmt, c->lo * scale);
    snprintf(b, sizeof b, fmt, c->hi * scale);
    fprintf(f, "<td>%s <small>[%s, %s]</small></td>", e, a, b);
}

/* The table with intervals (cells), then the gains. */
static void ci_table(FILE *f, const specx_eval_results *r)
{
    fprintf(f, "<table>\n<tr><th>mode</th><th>deadline ms</th><th>mAP@0.5</th><th>mAP@[.5:.95]</th>"
               "<th>latency p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>no result %%</th>");
    for (size_t e = 0; e < r->n_executors && e < SPECX_EVAL_MAX_EXECUTORS; e++) {
        fputs("<th>won by ", f);
        sx_svg_escape(f, r->executors[e]);
        fputs(" %</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t m = 0; m < r->n_modes; m++) {
        for (size_t d = 0; d < r->n_deadlines; d++) {
            const specx_eval_cell *c = specx_eval_results_cell(r, m, d);
            fputs("<tr><td>", f);
            sx_svg_escape(f, r->modes[m]);
            fprintf(f, "</td><td>%g</td>", r->deadlines_ms[d]);
            ci_cell(f, &c->map50, "%.3f", 1);
            ci_cell(f, &c->map, "%.3f", 1);
            ci_cell(f, &c->latency_p50, "%.1f", 1);
            ci_cell(f, &c->latency_p90, "%.1f", 1);
            ci_cell(f, &c->latency_p99, "%.1f", 1);
            ci_cell(f, &c->no_result, "%.1f", 100);
            for (size_t e = 0; e < r->n_executors && e < SPECX_EVAL_MAX_EXECUTORS; e++) {
                ci_cell(f, &c->won[e], "%.1f", 100);
            }
            fputs("</tr>\n", f);
        }
    }
    fputs("</table>\n", f);
    if (!r->gains) {
        return;
    }
    fputs("<h2 id=\"gains\">Speculative against local and cloud (mAP@0.5, paired)</h2>\n"
          "<table>\n<tr><th>deadline ms</th><th>speculative − local</th>"
          "<th>speculative − cloud</th><th>speculative − max(local, cloud)</th></tr>\n",
          f);
    for (size_t d = 0; d < r->n_deadlines; d++) {
        fprintf(f, "<tr><td>%g</td>", r->deadlines_ms[d]);
        ci_cell(f, &r->gains[d].vs_local, "%+.3f", 1);
        ci_cell(f, &r->gains[d].vs_cloud, "%+.3f", 1);
        ci_cell(f, &r->gains[d].vs_best, "%+.3f", 1);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static specx_status open_out(const char *path, FILE **f, specx_err *err)
{
    *f = fopen(path, "w");
    if (!*f) {
        return specx_err_set(err, SPECX_EIO, "eval: cannot write '%s': %s", path, strerror(errno));
    }
    return SPECX_OK;
}

static specx_status close_out(FILE *f, const char *path, bool ok, specx_err *err)
{
    bool werr = ferror(f) != 0;
    if (fclose(f) != 0) {
        werr = true;
    }
    if (!ok) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory writing '%s'", path);
    }
    if (werr) {
        return specx_err_set(err, SPECX_EIO, "eval: write error on '%s'", path);
    }
    return SPECX_OK;
}

specx_status specx_eval_write_report(const specx_eval_results *r, const char *path, specx_err *err)
{
    if (!r || !r->runs) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no results to report");
    }
    FILE *f;
    specx_status st = open_out(path, &f, err);
    if (st != SPECX_OK) {
        return st;
    }
    const char *title = r->title[0] ? r->title : "specx evaluation";
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    sx_svg_escape(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;margin:24px;max-width:960px;color:#222}\n"
          "h1{font-size:22px} h2{font-size:17px;margin-top:28px}\n"
          "svg{display:block;margin:8px 0}\n"
          "table{border-collapse:collapse;font-size:13px}\n"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
          "td:first-child,th:first-child{text-align:left}\n"
          ".notes{white-space:pre-wrap;color:#555}\n"
          "</style></head><body>\n<h1>",
          f);
    sx_svg_escape(f, title);
    fputs("</h1>\n", f);
    if (r->notes[0]) {
        fputs("<p class=\"notes\">", f);
        sx_svg_escape(f, r->notes);
        fputs("</p>\n", f);
    }
    if (r->cells) {
        fprintf(f,
                "<p>%zu modes × %zu deadlines × %zu repeats. Lines join the estimates (every "
                "repeat's answers pooled); bands and brackets are %.0f %% bootstrap confidence "
                "intervals (%zu resamples of frames and repeats).</p>\n",
                r->n_modes, r->n_deadlines, r->n_repeats, 100 * r->ci_level, r->boot_samples);
    } else {
        fprintf(f,
                "<p>%zu modes × %zu deadlines × %zu repeats. Bars span the minimum and maximum "
                "over repeats; lines join the means.</p>\n",
                r->n_modes, r->n_deadlines, r->n_repeats);
    }
    bool ok = true;
    fputs("<h2 id=\"accuracy\">Accuracy vs deadline</h2>\n", f);
    ok = ok && accuracy_plot(f, r, false);
    ok = ok && accuracy_plot(f, r, true);
    if (ok && r->gains) {
        ok = gain_plot(f, r);
    }
    if (ok && r->cells) {
        fputs("<h2 id=\"latency-cost\">Latency cost</h2>\n", f);
        ok = latency_plot(f, r);
    }
    fputs("<h2 id=\"latency\">Latency</h2>\n<p>Time from a frame's arrival to its output, "
          "all repeats pooled. Frames with no output count in the total but never arrive, "
          "so such a curve ends below 1.</p>\n",
          f);
    ok = ok && latency_cdfs(f, r);
    fputs("<h2 id=\"winners\">Which executor won</h2>\n", f);
    ok = ok && winner_strips(f, r);
    fputs("<h2 id=\"table\">Numbers</h2>\n", f);
    if (r->cells) {
        ci_table(f, r);
    } else {
        ok = ok && summary_table(f, r);
    }
    fputs("</body></html>\n", f);
    return close_out(f, path, ok, err);
}

/* ---- results.csv / results.json ---------------------------------------------- */

static void csv_field(FILE *f, const char *s)
{
    bool quote = strpbrk(s, ",\"\n") != NULL;
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

specx_status specx_eval_write_csv(const specx_eval_results *r, const char *path, specx_err *err)
{
    if (!r || !r->runs) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no results to write");
    }
    FILE *f;
    specx_status st = open_out(path, &f, err);
    if (st != SPECX_OK) {
        return st;
    }
    fputs("mode,deadline_ms,repeat,map50,map,frames,latency_p50_ms,latency_p90_ms,"
          "latency_p99_ms,no_result",
          f);
    for (size_t e = 0; e < r->n_executors; e++) {
        fputs(",won_", f);
        csv_field(f, r->executors[e]);
    }
    fputc('\n', f);
    bool ok = true;
    for (size_t m = 0; ok && m < r->n_modes; m++) {
        for (size_t d = 0; ok && d < r->n_deadlines; d++) {
            for (size_t k = 0; ok && k < r->n_repeats; k++) {
                const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
                lat_summary ls;
                ok = summarize(&run, 1, &ls);
                if (!ok) {
                    break;
                }
                csv_field(f, r->modes[m]);
                fprintf(f, ",%g,%zu,%.6f,%.6f,%zu,%.3f,%.3f,%.3f,%zu", r->deadlines_ms[d], k,
                        run->map50, run->map, run->n_frames, ls.p50, ls.p90, ls.p99, ls.no_result);
                for (size_t e = 0; e < r->n_executors; e++) {
                    size_t won = 0;
                    for (size_t i = 0; run->winner && i < run->n_frames; i++) {
                        won += run->winner[i] == (int)e;
                    }
                    fprintf(f, ",%.4f", run->n_frames ? (double)won / (double)run->n_frames : 0);
                }
                fputc('\n', f);
            }
        }
    }
    return close_out(f, path, ok, err);
}

static void csv_ci(FILE *f, const specx_eval_ci *c)
{
    fprintf(f, ",%.6g,%.6g,%.6g", c->est, c->lo, c->hi);
}

specx_status specx_eval_write_summary_csv(const specx_eval_results *r, const char *path,
                                          specx_err *err)
{
    if (!r || !r->cells) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no intervals to write");
    }
    FILE *f;
    specx_status st = open_out(path, &f, err);
    if (st != SPECX_OK) {
        return st;
    }
    static const char *const figs[] = {
        "map50",          "map",       "latency_p50_ms", "latency_p90_ms",
        "latency_p99_ms", "no_result", "latency_mean_ms"};
    fputs("kind,mode,deadline_ms", f);
    for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++) {
        fprintf(f, ",%s,%s_lo,%s_hi", figs[i], figs[i], figs[i]);
    }
    size_t ne =
        r->n_executors < SPECX_EVAL_MAX_EXECUTORS ? r->n_executors : SPECX_EVAL_MAX_EXECUTORS;
    for (size_t e = 0; e < ne; e++) {
        for (int k = 0; k < 3; k++) {
            fputs(k == 0 ? ",won_" : k == 1 ? ",won_lo_" : ",won_hi_", f);
            csv_field(f, r->executors[e]);
        }
    }
    fputc('\n', f);
    for (size_t m = 0; m < r->n_modes; m++) {
        for (size_t d = 0; d < r->n_deadlines; d++) {
            const specx_eval_cell *c = specx_eval_results_cell(r, m, d);
            fputs("cell,", f);
            csv_field(f, r->modes[m]);
            fprintf(f, ",%g", r->deadlines_ms[d]);
            const specx_eval_ci *v[] = {&c->map50,       &c->map,         &c->latency_p50,
                                        &c->latency_p90, &c->latency_p99, &c->no_result,
                                        &c->latency_mean};
            for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
                csv_ci(f, v[i]);
            }
            for (size_t e = 0; e < ne; e++) {
                csv_ci(f, &c->won[e]);
            }
            fputc('\n', f);
        }
    }
    for (size_t d = 0; r->gains && d < r->n_deadlines; d++) {
        static const char *const names[] = {"gain_vs_local", "gain_vs_cloud", "gain_vs_best"};
        const specx_eval_ci *v[] = {&r->gains[d].vs_local, &r->gains[d].vs_cloud,
                                    &r->gains[d].vs_best};
        for (int k = 0; k < 3; k++) {
            fprintf(f, "%s,speculative,%g", names[k], r->deadlines_ms[d]);
            csv_ci(f, v[k]);
            fputc('\n', f);
        }
    }
    return close_out(f, path, true, err);
}

static specx_status write_svg(const specx_eval_results *r, const char *dir, const char *name,
                              int which, specx_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f;
    specx_status st = open_out(path, &f, err);
    if (st != SPECX_OK) {
        return st;
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    bool ok = which == 0   ? accuracy_plot(f, r, false)
              : which == 1 ? accuracy_plot(f, r, true)
              : which == 2 ? gain_plot(f, r)
                           : latency_plot(f, r);
    return close_out(f, path, ok, err);
}

specx_status specx_eval_write_svgs(const specx_eval_results *r, const char *dir, specx_err *err)
{
    if (!r || !r->runs) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no results to plot");
    }
    specx_status st = write_svg(r, dir, "map50.svg", 0, err);
    if (st == SPECX_OK) {
        st = write_svg(r, dir, "map.svg", 1, err);
    }
    if (st == SPECX_OK && r->gains) {
        st = write_svg(r, dir, "gain.svg", 2, err);
    }
    if (st == SPECX_OK && r->cells) {
        st = write_svg(r, dir, "latency.svg", 3, err);
    }
    return st;
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *ci_json(const specx_eval_ci *c)
{
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, num_or_null(c->est));
    cJSON_AddItemToArray(a, num_or_null(c->lo));
    cJSON_AddItemToArray(a, num_or_null(c->hi));
    return a;
}

/* "summary": cells with [est, lo, hi] per figure; "gains" per deadline. */
static void summary_json(cJSON *root, const specx_eval_results *r)
{
    cJSON *sum = cJSON_AddObjectToObject(root, "summary");
    cJSON_AddNumberToObject(sum, "ci_level", r->ci_level);
    cJSON_AddNumberToObject(sum, "resamples", (double)r->boot_samples);
    cJSON *cells = cJSON_AddArrayToObject(sum, "cells");
    size_t ne =
        r->n_executors < SPECX_EVAL_MAX_EXECUTORS ? r->n_executors : SPECX_EVAL_MAX_EXECUTORS;
    for (size_t m = 0; m < r->n_modes; m++) {
        for (size_t d = 0; d < r->n_deadlines; d++) {
            const specx_eval_cell *c = specx_eval_results_cell(r, m, d);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "mode", r->modes[m]);
            cJSON_AddNumberToObject(o, "deadline_ms", r->deadlines_ms[d]);
            cJSON_AddItemToObject(o, "map50", ci_json(&c->map50));
            cJSON_AddItemToObject(o, "map", ci_json(&c->map));
            cJSON_AddItemToObject(o, "latency_p50_ms", ci_json(&c->latency_p50));
            cJSON_AddItemToObject(o, "latency_p90_ms", ci_json(&c->latency_p90));
            cJSON_AddItemToObject(o, "latency_p99_ms", ci_json(&c->latency_p99));
            cJSON_AddItemToObject(o, "latency_mean_ms", ci_json(&c->latency_mean));
            cJSON_AddItemToObject(o, "no_result", ci_json(&c->no_result));
            cJSON *won = cJSON_AddObjectToObject(o, "won");
            for (size_t e = 0; e < ne; e++) {
                cJSON_AddItemToObject(won, r->executors[e], ci_json(&c->won[e]));
            }
            cJSON_AddItemToArray(cells, o);
        }
    }
    if (!r->gains) {
        return;
    }
    cJSON *g = cJSON_AddArrayToObject(sum, "gains");
    for (size_t d = 0; d < r->n_deadlines; d++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "deadline_ms", r->deadlines_ms[d]);
        cJSON_AddItemToObject(o, "vs_local", ci_json(&r->gains[d].vs_local));
        cJSON_AddItemToObject(o, "vs_cloud", ci_json(&r->gains[d].vs_cloud));
        cJSON_AddItemToObject(o, "vs_best", ci_json(&r->gains[d].vs_best));
        cJSON_AddItemToArray(g, o);
    }
}

static cJSON *results_json(const specx_eval_results *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "title", r->title);
    cJSON_AddStringToObject(root, "notes", r->notes);
    cJSON *modes = cJSON_AddArrayToObject(root, "modes");
    for (size_t m = 0; m < r->n_modes; m++) {
        cJSON_AddItemToArray(modes, cJSON_CreateString(r->modes[m]));
    }
    cJSON *ex = cJSON_AddArrayToObject(root, "executors");
    for (size_t e = 0; e < r->n_executors; e++) {
        cJSON_AddItemToArray(ex, cJSON_CreateString(r->executors[e]));
    }
    cJSON *dl = cJSON_AddArrayToObject(root, "deadlines_ms");
    for (size_t d = 0; d < r->n_deadlines; d++) {
        cJSON_AddItemToArray(dl, cJSON_CreateNumber(r->deadlines_ms[d]));
    }
    cJSON_AddNumberToObject(root, "repeats", (double)r->n_repeats);
    if (r->cells) {
        summary_json(root, r);
    }
    cJSON *runs = cJSON_AddArrayToObject(root, "runs");
    for (size_t m = 0; m < r->n_modes; m++) {
        for (size_t d = 0; d < r->n_deadlines; d++) {
            for (size_t k = 0; k < r->n_repeats; k++) {
                const specx_eval_run *run = specx_eval_results_run(r, m, d, k);
                lat_summary ls;
                if (!summarize(&run, 1, &ls)) {
                    cJSON_Delete(root);
                    return NULL;
                }
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "mode", r->modes[m]);
                cJSON_AddNumberToObject(o, "deadline_ms", r->deadlines_ms[d]);
                cJSON_AddNumberToObject(o, "repeat", (double)k);
                cJSON_AddItemToObject(o, "map50", num_or_null(run->map50));
                cJSON_AddItemToObject(o, "map", num_or_null(run->map));
                cJSON_AddNumberToObject(o, "frames", (double)run->n_frames);
                if (isfinite(run->link_offset_ms)) {
                    cJSON_AddNumberToObject(o, "link_offset_ms", run->link_offset_ms);
                }
                cJSON_AddNumberToObject(o, "no_result", (double)ls.no_result);
                cJSON *q = cJSON_AddObjectToObject(o, "latency_ms");
                cJSON_AddItemToObject(q, "p50", num_or_null(ls.p50));
                cJSON_AddItemToObject(q, "p90", num_or_null(ls.p90));
                cJSON_AddItemToObject(q, "p99", num_or_null(ls.p99));
                cJSON *lat = cJSON_AddArrayToObject(o, "frame_latency_ms");
                cJSON *win = cJSON_AddArrayToObject(o, "frame_winner");
                cJSON *comp = cJSON_AddArrayToObject(o, "frame_compute_ms");
                for (size_t i = 0; i < run->n_frames; i++) {
                    cJSON_AddItemToArray(lat,
                                         num_or_null(run->latency_ms ? run->latency_ms[i] : NAN));
                    cJSON_AddItemToArray(win,
                                         cJSON_CreateNumber(run->winner ? run->winner[i] : -1));
                    cJSON_AddItemToArray(comp,
                                         num_or_null(run->compute_ms ? run->compute_ms[i] : NAN));
                }
                cJSON_AddItemToArray(runs, o);
            }
        }
    }
    return root;
}

specx_status specx_eval_write_json(const specx_eval_results *r, const char *path, specx_err *err)
{
    if (!r || !r->runs) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no results to write");
    }
    cJSON *root = results_json(r);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory building JSON");
    }
    FILE *f;
    specx_status st = open_out(path, &f, err);
    if (st == SPECX_OK) {
        fputs(text, f);
        fputc('\n', f);
        st = close_out(f, path, true, err);
    }
    cJSON_free(text);
    return st;
}
