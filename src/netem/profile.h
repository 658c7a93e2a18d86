/* netem/profile.h — what a netem profile holds: per direction the delay
 * marginal, its correlation time, the capacity and the outages; for the
 * whole link the reference traffic and the round-trip targets it is
 * calibrated against.
 *
 * Profiles are immutable once parsed (specx_netem_profile_parse) and may be
 * shared between threads; a copy owns its own trace arrays. */
#ifndef SX_NETEM_PROFILE_H
#define SX_NETEM_PROFILE_H

#include <stddef.h>

#include "specx/netem.h"

#include "netem/dist.h"
#include "netem/outage.h"

/* The correlation time a direction gets when its profile names none, ms. */
#define SX_NETEM_DEFAULT_TAU_MS 300.0

typedef struct sx_netem_dir_cfg {
    sx_netem_dist delay; /* marginal of the one-way delay */
    double tau_ms;       /* correlation time of the delay process; 0 = a fresh draw per chunk */
    double rate_bps;     /* capacity, bits per second; 0 = unlimited */
    sx_netem_outage_cfg outage;
} sx_netem_dir_cfg;

#define SX_NETEM_MAX_TARGETS 8

struct specx_netem_profile {
    char name[64];
    sx_netem_dir_cfg dir[2];     /* indexed by specx_netem_dir */
    specx_netem_traffic traffic; /* reference traffic (seconds = 0: describe's default) */
    size_t ntargets;             /* request round-trip targets under the reference traffic */
    double target_q[SX_NETEM_MAX_TARGETS], target_ms[SX_NETEM_MAX_TARGETS];
};

specx_status sx_netem_profile_copy(const specx_netem_profile *src, specx_netem_profile **out,
                                   specx_err *err);
/* A profile with no impairment at all. */
specx_status sx_netem_profile_new_default(specx_netem_profile **out, specx_err *err);

#endif
