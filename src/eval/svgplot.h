/* svgplot.h — a small SVG plot writer (internal to src/eval, standalone: it
 * depends on nothing but stdio): line plots with axes, ticks, legend and
 * optional error bars, empirical CDFs, and categorical strips.
 *
 * Output is an <svg> element written to a FILE*, meant to be inlined in an
 * HTML page (no scripts, no external resources). Elements carry classes
 * ("series", "errbar", "band", "strip-cell", "legend") so tests can find
 * them.
 * Thread-compatible; never allocates more than a copy of the CDF values. */
#ifndef SPECX_EVAL_SVGPLOT_H
#define SPECX_EVAL_SVGPLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct sx_svg_series {
    const char *name;
    const char *color; /* any SVG colour, e.g. "#1f77b4" */
    size_t n;
    const double *x, *y;
    const double *ylo, *yhi; /* optional error bars (NULL = none) */
    /* optional band: a translucent area from band_lo to band_hi (e.g. a
     * confidence interval), drawn under every line; a point with a
     * non-finite bound breaks the band */
    const double *band_lo, *band_hi;
    bool step;    /* draw as a right-continuous step function */
    bool markers; /* dots at the points */
    bool dashed;  /* dashed line (e.g. a second statistic of the same mode) */
} sx_svg_series;

typedef struct sx_svg_axes {
    const char *title, *xlabel, *ylabel;
    double xmin, xmax, ymin, ymax; /* NAN = from the data */
    bool xlog;                     /* log10 x axis (x <= 0 values are skipped) */
    bool ylog;                     /* log10 y axis (y <= 0 values are skipped) */
    bool zero_line;                /* a dark horizontal line at y = 0 */
} sx_svg_axes;

/* The i-th colour of a colour-blind-friendly palette (cycles). */
const char *sx_svg_color(size_t i);

/* Writes `s` with XML special characters escaped. */
void sx_svg_escape(FILE *out, const char *s);

void sx_svg_line_plot(FILE *out, int width, int height, const sx_svg_axes *ax,
                      const sx_svg_series *series, size_t n_series);

/* Empirical CDF of each value set as step lines. NAN values count in the
 * total but are never reached, so the curve ends at the share of finite
 * values (e.g. frames that got an output). */
typedef struct sx_svg_cdf_set {
    const char *name, *color;
    const double *values;
    size_t n;
} sx_svg_cdf_set;

/* Returns false only when out of memory. */
bool sx_svg_cdf(FILE *out, int width, int height, const sx_svg_axes *ax, const sx_svg_cdf_set *sets,
                size_t n_sets);

/* Rows of categories, one cell per item; runs of equal values are drawn as
 * one rectangle. A category < 0 or >= n_cats uses `none_color`. */
typedef struct sx_svg_strip {
    const char *label;
    size_t n;
    const int *cat;
} sx_svg_strip;

void sx_svg_strips(FILE *out, int width, const char *title, const sx_svg_strip *rows, size_t n_rows,
                   const char *const *cat_names, const char *const *cat_colors, size_t n_cats,
                   const char *none_name, const char *none_color);

#endif
