/* netem/dist.h — the marginal distribution of a link direction's one-way
 * delay, addressed by a standard-normal score.
 *
 * The delay model (netem/path.h) drives every distribution through one
 * latent standard-normal value z and takes the delay at quantile Φ(z):
 * sx_netem_dist_at(d, z) = F⁻¹(Φ(z)), clamped to [min_ms, max_ms]. For a
 * stationary z this gives exactly the distribution F; a time-correlated z
 * gives time-correlated delays with the same F. A distribution is plain data
 * (the trace array is owned by it and released by sx_netem_dist_clear);
 * reading it is thread-safe. */
#ifndef SX_NETEM_DIST_H
#define SX_NETEM_DIST_H

#include <stddef.h>

typedef enum sx_netem_dist_kind {
    SX_NETEM_DIST_ZERO = 0, /* no delay */
    SX_NETEM_DIST_CONST,
    SX_NETEM_DIST_NORMAL,
    SX_NETEM_DIST_LOGNORMAL,
    SX_NETEM_DIST_QUANTILES, /* piecewise lognormal through given quantiles */
    SX_NETEM_DIST_TRACE,     /* empirical: RTT samples from a file, halved */
} sx_netem_dist_kind;

#define SX_NETEM_MAX_KNOTS 16
/* The largest one-way delay a distribution gives (an hour): profiles are
 * refused above it and sx_netem_dist_at clamps to it, so a delay always
 * fits the nanosecond clock. */
#define SX_NETEM_MAX_DELAY_MS 3.6e6

typedef struct sx_netem_dist {
    sx_netem_dist_kind kind;
    double a, b; /* const: a=ms; normal: a=mean, b=sd; lognormal: a=median, b=sigma */
    size_t nknots;
    double knot_q[SX_NETEM_MAX_KNOTS]; /* quantile in (0,1), increasing */
    double knot_z[SX_NETEM_MAX_KNOTS]; /* standard-normal score of knot_q */
    double knot_ln[SX_NETEM_MAX_KNOTS];
    double *trace; /* one-way ms, sorted ascending, owned */
    size_t ntrace;
    char trace_path[512];
    double min_ms, max_ms; /* clamp; max_ms <= 0 means none */
} sx_netem_dist;

/* The delay in ms at standard-normal score z (see above), in
 * [0, SX_NETEM_MAX_DELAY_MS]. */
double sx_netem_dist_at(const sx_netem_dist *d, double z);

/* True when the delay does not depend on z (none, const): the delay process
 * then needs no random draws. */
int sx_netem_dist_is_fixed(const sx_netem_dist *d);

void sx_netem_dist_format(const sx_netem_dist *d, char *buf, size_t len);

/* Frees the trace; the struct is left as SX_NETEM_DIST_ZERO. */
void sx_netem_dist_clear(sx_netem_dist *d);

#endif
