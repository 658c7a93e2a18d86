/* dist.c — netem's one-way delay distributions, each evaluated as a quantile
 * function of a standard-normal score (see netem/dist.h). */
#include "netem/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netem/rng.h"

static double quantiles_at(const sx_netem_dist *d, double z)
{
    /* Linear in (z, ln x) between knots; beyond the end knots the nearest
     * segment's slope carries on (a lognormal tail). */
    size_t i = 0;
    while (i + 2 < d->nknots && z > d->knot_z[i + 1]) {
        i++;
    }
    double slope = (d->knot_ln[i + 1] - d->knot_ln[i]) / (d->knot_z[i + 1] - d->knot_z[i]);
    return exp(d->knot_ln[i] + (z - d->knot_z[i]) * slope);
}

static double trace_at(const sx_netem_dist *d, double z)
{
    if (d->ntrace == 0) {
        return 0.0;
    }
    /* The empirical quantile: sample i covers probabilities [i/n, (i+1)/n). */
    double u = sx_netem_normal_cdf(z);
    size_t i = (size_t)(u * (double)d->ntrace);
    return d->trace[i < d->ntrace ? i : d->ntrace - 1];
}

double sx_netem_dist_at(const sx_netem_dist *d, double z)
{
    double v = 0.0;
    switch (d->kind) {
    case SX_NETEM_DIST_ZERO:
        return 0.0;
    case SX_NETEM_DIST_CONST:
        v = d->a;
        break;
    case SX_NETEM_DIST_NORMAL:
        v = d->a + d->b * z;
        break;
    case SX_NETEM_DIST_LOGNORMAL:
        v = d->a * exp(d->b * z);
        break;
    case SX_NETEM_DIST_QUANTILES:
        v = quantiles_at(d, z);
        break;
    case SX_NETEM_DIST_TRACE:
        v = trace_at(d, z);
        break;
    }
    if (v < d->min_ms) {
        v = d->min_ms;
    }
    if (d->max_ms > 0 && v > d->max_ms) {
        v = d->max_ms;
    }
    if (!(v <= SX_NETEM_MAX_DELAY_MS)) {
        v = SX_NETEM_MAX_DELAY_MS; /* a far tail (or NaN): still a time */
    }
    return v < 0 ? 0 : v;
}

int sx_netem_dist_is_fixed(const sx_netem_dist *d)
{
    return d->kind == SX_NETEM_DIST_ZERO || d->kind == SX_NETEM_DIST_CONST ||
           (d->kind == SX_NETEM_DIST_NORMAL && d->b == 0) ||
           (d->kind == SX_NETEM_DIST_LOGNORMAL && d->b == 0);
}

void sx_netem_dist_clear(sx_netem_dist *d)
{
    free(d->trace);
    memset(d, 0, sizeof *d);
}

static int format_kind(const sx_netem_dist *d, char *buf, size_t len)
{
    int n = 0;
    switch (d->kind) {
    case SX_NETEM_DIST_ZERO:
        return snprintf(buf, len, "none");
    case SX_NETEM_DIST_CONST:
        return snprintf(buf, len, "const %g ms", d->a);
    case SX_NETEM_DIST_NORMAL:
        return snprintf(buf, len, "normal mean %g ms sd %g ms", d->a, d->b);
    case SX_NETEM_DIST_LOGNORMAL:
        return snprintf(buf, len, "lognormal median %g ms sigma %g", d->a, d->b);
    case SX_NETEM_DIST_QUANTILES:
        n = snprintf(buf, len, "piecewise lognormal through");
        for (size_t i = 0; i < d->nknots && n >= 0 && (size_t)n < len; i++) {
            n += snprintf(buf + n, len - (size_t)n, " p%g=%g", d->knot_q[i] * 100.0,
                          exp(d->knot_ln[i]));
        }
        if (n >= 0 && (size_t)n < len) {
            n += snprintf(buf + n, len - (size_t)n, " ms");
        }
        return n;
    case SX_NETEM_DIST_TRACE:
        return snprintf(buf, len, "trace %s (%zu RTT samples, one-way = RTT/2)", d->trace_path,
                        d->ntrace);
    }
    return 0;
}

void sx_netem_dist_format(const sx_netem_dist *d, char *buf, size_t len)
{
    int n = format_kind(d, buf, len);
    if (n >= 0 && (size_t)n < len && d->kind != SX_NETEM_DIST_ZERO) {
        if (d->min_ms > 0) {
            n += snprintf(buf + n, len - (size_t)n, ", min %g ms", d->min_ms);
        }
        if (n >= 0 && (size_t)n < len && d->max_ms > 0) {
            snprintf(buf + n, len - (size_t)n, ", max %g ms", d->max_ms);
        }
    }
}
