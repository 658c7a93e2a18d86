/* svgplot.c — SVG line plots, CDFs and categorical strips for reports. */
#include "svgplot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define M_LEFT 64
#define M_RIGHT 160 /* legend column */
#define M_TOP 34
#define M_BOTTOM 48

const char *sx_svg_color(size_t i)
{
    /* Okabe–Ito palette: distinguishable with the common colour-vision
     * deficiencies. */
    static const char *pal[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                "#E69F00", "#56B4E9", "#F0E442", "#000000"};
    return pal[i % (sizeof pal / sizeof pal[0])];
}

void sx_svg_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static double nice_step(double range, int target)
{
    if (!(range > 0)) {
        return 1.0;
    }
    double raw = range / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

typedef struct frame {
    double x0, x1, y0, y1; /* data range (log10 on a log axis) */
    bool xlog, ylog;
    int left, right, top, bottom; /* pixel box of the plot area */
} frame;

static double fx(const frame *f, double x)
{
    double v = f->xlog ? log10(x) : x;
    double px = f->left + (v - f->x0) / (f->x1 - f->x0) * (f->right - f->left);
    return fmin(fmax(px, f->left), f->right);
}

static double fy(const frame *f, double y)
{
    double v = !f->ylog ? y : y > 0 ? log10(y) : f->y0; /* nothing below the axis */
    double py = f->bottom - (v - f->y0) / (f->y1 - f->y0) * (f->bottom - f->top);
    return fmin(fmax(py, f->top), f->bottom);
}

static void fmt_tick(char *buf, size_t len, double v)
{
    if (fabs(v) < 1e-12) {
        v = 0;
    }
    snprintf(buf, len, "%g", v);
}

/* Ticks at 1, 2, 5 times the decades of a log axis (decades only on a wide
 * one), with grid lines. */
static void log_ticks(FILE *out, const frame *f, bool x)
{
    double lo = x ? f->x0 : f->y0, hi = x ? f->x1 : f->y1;
    for (int k = (int)floor(lo); k <= (int)ceil(hi); k++) {
        static const double mult[] = {1, 2, 5};
        for (int m = 0; m < 3; m++) {
            if (m > 0 && hi - lo > 3.5) {
                continue; /* only decades on wide ranges */
            }
            double v = mult[m] * pow(10.0, k);
            double lv = log10(v);
            if (lv < lo - 1e-9 || lv > hi + 1e-9) {
                continue;
            }
            char b[32];
            fmt_tick(b, sizeof b, v);
            if (x) {
                double px = fx(f, v);
                fprintf(out,
                        "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>"
                        "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                        px, f->top, px, f->bottom, px, f->bottom + 16, b);
            } else {
                double py = fy(f, v);
                fprintf(out,
                        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                        f->left, py, f->right, py, f->left - 6, py + 4, b);
            }
        }
    }
}

static void axes_and_frame(FILE *out, int width, int height, const sx_svg_axes *ax, frame *f)
{
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            width, height, width, height);
    fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
            height);
    if (ax->title) {
        fprintf(out,
                "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"14\" "
                "font-weight=\"bold\">",
                (f->left + f->right) / 2);
        sx_svg_escape(out, ax->title);
        fputs("</text>\n", out);
    }
    /* Grid and ticks. */
    if (f->xlog) {
        log_ticks(out, f, true);
    } else {
        double step = nice_step(f->x1 - f->x0, 6);
        // NOLINTNEXTLINE(clang-analyzer-security.FloatLoopCounter): a few ticks, no drift shows
        for (double v = ceil(f->x0 / step - 1e-9) * step; v <= f->x1 + step * 1e-9; v += step) {
            double px = fx(f, v);
            char b[32];
            fmt_tick(b, sizeof b, v);
            fprintf(out,
                    "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e0e0e0\"/>"
                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
                    px, f->top, px, f->bottom, px, f->bottom + 16, b);
        }
    }
    double ystep = nice_step(f->y1 - f->y0, 5);
    if (f->ylog) {
        log_ticks(out, f, false);
    }
    // NOLINTNEXTLINE(clang-analyzer-security.FloatLoopCounter): as above
    for (double v = ceil(f->y0 / ystep - 1e-9) * ystep; !f->ylog && v <= f->y1 + ystep * 1e-9;
         v += ystep) {
        double py = fy(f, v);
        char b[32];
        fmt_tick(b, sizeof b, v);
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                f->left, py, f->right, py, f->left - 6, py + 4, b);
    }
    fprintf(out,
            "<rect class=\"plot-area\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#333333\"/>\n",
            f->left, f->top, f->right - f->left, f->bottom - f->top);
    if (ax->xlabel) {
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (f->left + f->right) / 2,
                height - 10);
        sx_svg_escape(out, ax->xlabel);
        fputs("</text>\n", out);
    }
    if (ax->ylabel) {
        fprintf(out,
                "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 16 %d)\">",
                (f->top + f->bottom) / 2, (f->top + f->bottom) / 2);
        sx_svg_escape(out, ax->ylabel);
        fputs("</text>\n", out);
    }
}

static void legend(FILE *out, const frame *f, const sx_svg_series *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int y = f->top + 10 + (int)i * 20;
        fprintf(out,
                "<g class=\"legend\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                "stroke-width=\"3\"%s/><text x=\"%d\" y=\"%d\">",
                f->right + 10, y, f->right + 34, y, s[i].color,
                s[i].dashed ? " stroke-dasharray=\"6 4\"" : "", f->right + 40, y + 4);
        sx_svg_escape(out, s[i].name);
        fputs("</text></g>\n", out);
    }
}

/* y in axis units (log10 on a log axis); false when it cannot be shown. */
static bool yval(const sx_svg_axes *ax, double y, double *out)
{
    if (!isfinite(y) || (ax->ylog && y <= 0)) {
        return false;
    }
    *out = ax->ylog ? log10(y) : y;
    return true;
}

static void series_range(const sx_svg_axes *ax, const sx_svg_series *s, double *x0, double *x1,
                         double *y0, double *y1)
{
    for (size_t k = 0; k < s->n; k++) {
        double x = s->x[k], yv;
        if (!isfinite(x) || (ax->xlog && x <= 0)) {
            continue;
        }
        double xv = ax->xlog ? log10(x) : x;
        *x0 = fmin(*x0, xv);
        *x1 = fmax(*x1, xv);
        const double *ys[5] = {s->y, s->ylo, s->yhi, s->band_lo, s->band_hi};
        for (int j = 0; j < 5; j++) {
            if (ys[j] && yval(ax, ys[j][k], &yv)) {
                *y0 = fmin(*y0, yv);
                *y1 = fmax(*y1, yv);
            }
        }
    }
}

/* An explicit axis bound, in axis units; NAN when not given or unusable. */
static double bound(double v, bool logax)
{
    if (isnan(v) || (logax && v <= 0)) {
        return NAN;
    }
    return logax ? log10(v) : v;
}

static void data_range(const sx_svg_axes *ax, const sx_svg_series *s, size_t n, frame *f)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        series_range(ax, &s[i], &x0, &x1, &y0, &y1);
    }
    if (ax->zero_line && !ax->ylog) {
        y0 = fmin(y0, 0);
        y1 = fmax(y1, 0);
    }
    if (!isfinite(x0)) {
        x0 = 0;
        x1 = 1;
    }
    if (!isfinite(y0)) {
        y0 = 0;
        y1 = 1;
    }
    double bx0 = bound(ax->xmin, ax->xlog), bx1 = bound(ax->xmax, ax->xlog);
    double by0 = bound(ax->ymin, ax->ylog), by1 = bound(ax->ymax, ax->ylog);
    x0 = isnan(bx0) ? x0 : bx0;
    x1 = isnan(bx1) ? x1 : bx1;
    y0 = isnan(by0) ? y0 : by0;
    y1 = isnan(by1) ? y1 : by1;
    if (x1 <= x0) {
        x1 = x0 + 1;
        x0 -= ax->xlog ? 0 : 1;
    }
    if (y1 <= y0) {
        y1 = y0 + 1;
    }
    if (ax->xlog) {
        x0 = floor(x0 * 10) / 10;
        x1 = ceil(x1 * 10) / 10;
    } else if (isnan(bx0) || isnan(bx1)) {
        double st = nice_step(x1 - x0, 6);
        if (isnan(bx0)) {
            x0 = floor(x0 / st) * st;
        }
        if (isnan(bx1)) {
            x1 = ceil(x1 / st) * st;
        }
    }
    if (ax->ylog) {
        y0 = isnan(by0) ? floor(y0 * 10) / 10 : y0;
        y1 = isnan(by1) ? ceil(y1 * 10) / 10 : y1;
    } else {
        double yst = nice_step(y1 - y0, 5);
        y0 = isnan(by0) ? floor(y0 / yst) * yst : y0;
        y1 = isnan(by1) ? ceil(y1 / yst) * yst : y1;
    }
    f->x0 = x0;
    f->x1 = x1;
    f->y0 = y0;
    f->y1 = y1;
    f->xlog = ax->xlog;
    f->ylog = ax->ylog;
}

/* The band of s as closed polygons (one per run of points with both
 * bounds shown). */
static void band(FILE *out, const frame *f, const sx_svg_series *s)
{
    size_t k = 0;
    while (k < s->n) {
        size_t a = k;
        while (a < s->n &&
               !(isfinite(s->x[a]) && !(f->xlog && s->x[a] <= 0) && isfinite(s->band_lo[a]) &&
                 isfinite(s->band_hi[a]) && !(f->ylog && (s->band_lo[a] <= 0)))) {
            a++;
        }
        size_t b = a;
        while (b < s->n && isfinite(s->x[b]) && !(f->xlog && s->x[b] <= 0) &&
               isfinite(s->band_lo[b]) && isfinite(s->band_hi[b]) &&
               !(f->ylog && s->band_lo[b] <= 0)) {
            b++;
        }
        if (b > a) {
            fprintf(out,
                    "<path class=\"band\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"",
                    s->color);
            for (size_t j = a; j < b; j++) {
                fprintf(out, "%c%.1f %.1f ", j == a ? 'M' : 'L', fx(f, s->x[j]),
                        fy(f, s->band_hi[j]));
            }
            for (size_t j = b; j-- > a;) {
                fprintf(out, "L%.1f %.1f ", fx(f, s->x[j]), fy(f, s->band_lo[j]));
            }
            fputs("Z\"/>\n", out);
        }
        k = b > a ? b : a + 1;
    }
}

void sx_svg_line_plot(FILE *out, int width, int height, const sx_svg_axes *ax,
                      const sx_svg_series *series, size_t n_series)
{
    frame f = {.left = M_LEFT, .right = width - M_RIGHT, .top = M_TOP, .bottom = height - M_BOTTOM};
    data_range(ax, series, n_series, &f);
    axes_and_frame(out, width, height, ax, &f);
    for (size_t i = 0; i < n_series; i++) {
        if (series[i].band_lo && series[i].band_hi) {
            band(out, &f, &series[i]);
        }
    }
    if (ax->zero_line && !f.ylog && f.y0 <= 0 && f.y1 >= 0) {
        fprintf(out,
                "<line class=\"zero\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                "stroke=\"#333333\" stroke-width=\"1\"/>\n",
                f.left, fy(&f, 0), f.right, fy(&f, 0));
    }
    for (size_t i = 0; i < n_series; i++) {
        const sx_svg_series *s = &series[i];
        fprintf(out, "<g class=\"series\" data-name=\"");
        sx_svg_escape(out, s->name);
        fprintf(out, "\">\n<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s d=\"", s->color,
                s->dashed ? " stroke-dasharray=\"6 4\"" : "");
        bool started = false;
        for (size_t k = 0; k < s->n; k++) {
            if (!isfinite(s->x[k]) || !isfinite(s->y[k]) || (f.xlog && s->x[k] <= 0) ||
                (f.ylog && s->y[k] <= 0)) {
                continue;
            }
            double px = fx(&f, s->x[k]), py = fy(&f, s->y[k]);
            if (!started) {
                if (s->step) {
                    fprintf(out, "M%.1f %.1f V%.1f", px, fy(&f, f.y0), py);
                } else {
                    fprintf(out, "M%.1f %.1f", px, py);
                }
                started = true;
            } else if (s->step) {
                fprintf(out, " H%.1f V%.1f", px, py);
            } else {
                fprintf(out, " L%.1f %.1f", px, py);
            }
        }
        if (started && s->step) {
            fprintf(out, " H%d", f.right);
        }
        fputs("\"/>\n", out);
        for (size_t k = 0; k < s->n; k++) {
            if (!isfinite(s->x[k]) || (f.xlog && s->x[k] <= 0)) {
                continue;
            }
            double px = fx(&f, s->x[k]);
            if (s->ylo && s->yhi && isfinite(s->ylo[k]) && isfinite(s->yhi[k]) &&
                !(f.ylog && s->ylo[k] <= 0)) {
                double a = fy(&f, s->ylo[k]), b = fy(&f, s->yhi[k]);
                fprintf(out,
                        "<path class=\"errbar\" stroke=\"%s\" stroke-width=\"1.5\" "
                        "d=\"M%.1f %.1f V%.1f M%.1f %.1f H%.1f M%.1f %.1f H%.1f\"/>\n",
                        s->color, px, a, b, px - 5, a, px + 5, px - 5, b, px + 5);
            }
            if (s->markers && isfinite(s->y[k]) && !(f.ylog && s->y[k] <= 0)) {
                fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px,
                        fy(&f, s->y[k]), s->color);
            }
        }
        fputs("</g>\n", out);
    }
    legend(out, &f, series, n_series);
    fputs("</svg>\n", out);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bool sx_svg_cdf(FILE *out, int width, int height, const sx_svg_axes *ax, const sx_svg_cdf_set *sets,
                size_t n_sets)
{
    sx_svg_series *ser = calloc(n_sets ? n_sets : 1, sizeof *ser);
    double **xs = calloc(n_sets ? n_sets : 1, sizeof *xs);
    double **ys = calloc(n_sets ? n_sets : 1, sizeof *ys);
    bool ok = ser && xs && ys;
    for (size_t i = 0; ok && i < n_sets; i++) {
        xs[i] = malloc((sets[i].n + 1) * sizeof(double));
        ys[i] = malloc((sets[i].n + 1) * sizeof(double));
        if (!xs[i] || !ys[i]) {
            ok = false;
            break;
        }
        size_t m = 0;
        for (size_t k = 0; k < sets[i].n; k++) {
            if (isfinite(sets[i].values[k])) {
                xs[i][m++] = sets[i].values[k];
            }
        }
        qsort(xs[i], m, sizeof(double), cmp_double);
        /* Divide by every value, NaN included: items without a value keep
         * the curve below 1 instead of vanishing from it. */
        for (size_t k = 0; k < m; k++) {
            ys[i][k] = (double)(k + 1) / (double)sets[i].n;
        }
        ser[i] = (sx_svg_series){.name = sets[i].name,
                                 .color = sets[i].color,
                                 .n = m,
                                 .x = xs[i],
                                 .y = ys[i],
                                 .step = true};
    }
    if (ok) {
        sx_svg_axes a = *ax;
        a.ymin = 0;
        a.ymax = 1;
        sx_svg_line_plot(out, width, height, &a, ser, n_sets);
    }
    for (size_t i = 0; xs && ys && i < n_sets; i++) {
        free(xs[i]);
        free(ys[i]);
    }
    free(xs);
    free(ys);
    free(ser);
    return ok;
}

void sx_svg_strips(FILE *out, int width, const char *title, const sx_svg_strip *rows, size_t n_rows,
                   const char *const *cat_names, const char *const *cat_colors, size_t n_cats,
                   const char *none_name, const char *none_color)
{
    const int label_w = 170, row_h = 16, gap = 6, top = 30, right = 20;
    int legend_y = top + (int)n_rows * (row_h + gap) + 10;
    int height = legend_y + 30;
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"strips\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            width, height, width, height, width, height);
    if (title) {
        fprintf(out, "<text x=\"%d\" y=\"20\" font-size=\"14\" font-weight=\"bold\">", label_w);
        sx_svg_escape(out, title);
        fputs("</text>\n", out);
    }
    double span = width - label_w - right;
    for (size_t r = 0; r < n_rows; r++) {
        int y = top + (int)r * (row_h + gap);
        fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8, y + row_h - 4);
        sx_svg_escape(out, rows[r].label);
        fputs("</text>\n", out);
        size_t n = rows[r].n;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && rows[r].cat[j] == rows[r].cat[i]) {
                j++;
            }
            int c = rows[r].cat[i];
            const char *col = c >= 0 && (size_t)c < n_cats ? cat_colors[c] : none_color;
            double x0 = label_w + span * (double)i / (double)n;
            double x1 = label_w + span * (double)j / (double)n;
            fprintf(out,
                    "<rect class=\"strip-cell\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
                    "fill=\"%s\"><title>frames %zu-%zu</title></rect>\n",
                    x0, y, x1 - x0, row_h, col, i, j - 1);
            i = j;
        }
    }
    int x = label_w;
    for (size_t c = 0; c <= n_cats; c++) {
        const char *name = c < n_cats ? cat_names[c] : none_name;
        const char *col = c < n_cats ? cat_colors[c] : none_color;
        fprintf(out,
                "<g class=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
                "fill=\"%s\" stroke=\"#333333\" stroke-width=\"0.5\"/><text x=\"%d\" y=\"%d\">",
                x, legend_y, col, x + 18, legend_y + 12);
        sx_svg_escape(out, name);
        fputs("</text></g>\n", out);
        x += 40 + 8 * (int)strlen(name);
    }
    fputs("</svg>\n", out);
}
