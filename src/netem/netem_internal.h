/* netem_internal.h — internal to src/netem: random streams, delay
 * distributions, outage schedules and the profile structure. Tests include it
 * to check sampling and schedules directly. */
#ifndef SPECX_NETEM_INTERNAL_H
#define SPECX_NETEM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/netem.h"
#include "specx/time.h"

/* xoshiro256** seeded through splitmix64: small, fast, and every (seed,
 * stream) pair gives an independent-looking sequence. */
typedef struct nx_rng {
    uint64_t s[4];
} nx_rng;

void nx_rng_seed(nx_rng *r, uint64_t seed, uint64_t stream);
uint64_t nx_rng_next(nx_rng *r);
double nx_rng_uniform(nx_rng *r); /* in (0, 1) */
double nx_rng_normal(nx_rng *r);  /* standard normal */

/* Streams: connection i direction d uses NX_STREAM_CONN(i, d); outage
 * schedules use one fixed stream so that the same outage settings on both
 * directions give the same schedule (a link outage hits both ways). */
#define NX_STREAM_CONN(i, d) (((uint64_t)(i) << 1) | (uint64_t)(d))
#define NX_STREAM_OUTAGE UINT64_C(0xfeedface00000000)
#define NX_STREAM_DESCRIBE UINT64_C(0xdeadbeef00000000)

typedef enum nx_dist_kind {
    NX_DIST_ZERO = 0, /* no delay */
    NX_DIST_CONST,
    NX_DIST_NORMAL,
    NX_DIST_LOGNORMAL,
    NX_DIST_QUANTILES, /* piecewise lognormal through given quantiles */
    NX_DIST_TRACE,     /* empirical: RTT samples from a file, halved */
} nx_dist_kind;

#define NX_MAX_KNOTS 16

typedef struct nx_dist {
    nx_dist_kind kind;
    double a, b; /* const: a=ms; normal: a=mean, b=sd; lognormal: a=median, b=sigma */
    size_t nknots;
    double knot_q[NX_MAX_KNOTS]; /* quantile in (0,1), increasing */
    double knot_z[NX_MAX_KNOTS]; /* standard-normal score of knot_q */
    double knot_ln[NX_MAX_KNOTS];
    double *trace; /* one-way ms, owned */
    size_t ntrace;
    char trace_path[512];
    double min_ms, max_ms; /* clamp; max_ms <= 0 means none */
} nx_dist;

double nx_dist_sample_ms(const nx_dist *d, nx_rng *r);
void nx_dist_format(const nx_dist *d, char *buf, size_t len);

typedef enum nx_outage_kind {
    NX_OUTAGE_NONE = 0,
    NX_OUTAGE_PERIODIC, /* every period_ms, for duration_ms, first at offset_ms */
    NX_OUTAGE_RANDOM,   /* gaps ~ exponential(mean_interval_ms), durations const or exp */
} nx_outage_kind;

typedef struct nx_outage_cfg {
    nx_outage_kind kind;
    double period_ms, duration_ms, offset_ms, mean_interval_ms;
    bool exp_duration;
} nx_outage_cfg;

typedef struct nx_dir_cfg {
    nx_dist delay;
    double rate_bps; /* bits per second; 0 = unlimited */
    nx_outage_cfg outage;
} nx_dir_cfg;

#define NX_MAX_TARGETS 8

struct specx_netem_profile {
    char name[64];
    nx_dir_cfg dir[2];
    double burst_gap_ms; /* chunks closer than this share one delay draw */
    size_t describe_bytes[2];
    size_t ntargets;
    double target_q[NX_MAX_TARGETS], target_ms[NX_MAX_TARGETS];
};

specx_status nx_profile_copy(const specx_netem_profile *src, specx_netem_profile **out,
                             specx_err *err);
/* A profile with no impairment at all. */
specx_status nx_profile_new_default(specx_netem_profile **out, specx_err *err);

/* Standard-normal quantile by bisection on erfc (only used at parse time). */
double nx_probit(double q);

/* Outage schedule of one direction of a link, times relative to `origin`.
 * Random schedules are generated lazily as time advances; intervals that
 * ended before the last prune are folded into `pruned_ns`. */
typedef struct nx_outage_sched {
    nx_outage_cfg cfg;
    specx_time_t origin;
    nx_rng rng;
    specx_time_t *start, *end; /* absolute, sorted, disjoint */
    size_t n, cap;
    specx_time_t next_start; /* random: where the next interval would begin */
    int64_t pruned_ns;
} nx_outage_sched;

void nx_outage_init(nx_outage_sched *s, const nx_outage_cfg *cfg, specx_time_t origin,
                    uint64_t seed);
void nx_outage_free(nx_outage_sched *s);
/* t if no outage covers t, else the end of the outage covering it. */
specx_time_t nx_outage_adjust(nx_outage_sched *s, specx_time_t t);
/* Outage time in [origin, now]. */
int64_t nx_outage_elapsed(nx_outage_sched *s, specx_time_t now);
/* Drops intervals that ended before `now` (queries stay >= now afterwards). */
void nx_outage_prune(nx_outage_sched *s, specx_time_t now);

#endif
