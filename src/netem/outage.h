/* netem/outage.h — when a link direction passes nothing: periodic or random
 * outage intervals, generated lazily as time advances.
 *
 * A schedule is a value owned by its link direction (netem/path.h); it is
 * not thread-safe (the proxy reads it under its stats lock). Times are
 * absolute; `origin` is the link's start. */
#ifndef SX_NETEM_OUTAGE_H
#define SX_NETEM_OUTAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/time.h"

#include "netem/rng.h"

typedef enum sx_netem_outage_kind {
    SX_NETEM_OUTAGE_NONE = 0,
    SX_NETEM_OUTAGE_PERIODIC, /* every period_ms, for duration_ms, first at offset_ms */
    SX_NETEM_OUTAGE_RANDOM,   /* gaps ~ exponential(mean_interval_ms), durations const or exp */
} sx_netem_outage_kind;

typedef struct sx_netem_outage_cfg {
    sx_netem_outage_kind kind;
    double period_ms, duration_ms, offset_ms, mean_interval_ms;
    bool exp_duration;
} sx_netem_outage_cfg;

/* Random schedules keep the generated intervals that may still matter;
 * intervals that ended before the last prune are folded into pruned_ns. */
typedef struct sx_netem_outage {
    sx_netem_outage_cfg cfg;
    specx_time_t origin;
    sx_netem_rng rng;
    specx_time_t *start, *end; /* absolute, sorted, disjoint */
    size_t n, cap;
    specx_time_t next_start; /* random: where the next interval would begin */
    int64_t pruned_ns;
} sx_netem_outage;

void sx_netem_outage_init(sx_netem_outage *s, const sx_netem_outage_cfg *cfg, specx_time_t origin,
                          uint64_t seed);
void sx_netem_outage_clear(sx_netem_outage *s);
/* t if no outage covers t, else the end of the outage covering it. */
specx_time_t sx_netem_outage_adjust(sx_netem_outage *s, specx_time_t t);
/* Outage time in [origin, now]. */
int64_t sx_netem_outage_elapsed(sx_netem_outage *s, specx_time_t now);
/* Drops intervals that ended before `now` (queries stay >= now afterwards). */
void sx_netem_outage_prune(sx_netem_outage *s, specx_time_t now);

#endif
