/* netem/sim.h — internals of the virtual-clock simulator shared with
 * describe and the tests: a fine log-scale histogram of request round trips
 * (relative resolution 0.1 %, so quantiles do not blur the ±5 % calibration
 * checks) and the periodic-traffic run that fills it.
 *
 * An accumulator is owned by its caller (init/clear); not thread-safe. */
#ifndef SX_NETEM_SIM_H
#define SX_NETEM_SIM_H

#include <stdint.h>

#include "specx/netem.h"

typedef struct sx_netem_rtt_acc {
    uint32_t *bins; /* log-spaced, SX_NETEM_RTT_BINS of them */
    uint64_t n;
    double sum_ms, max_ms;
    /* co-moments of consecutive pairs (x_i, x_{i+1}) for the lag-1 autocorrelation */
    double prev_ms;
    uint64_t npairs;
    double mx, my, cxx, cyy, cxy;
} sx_netem_rtt_acc;

specx_status sx_netem_rtt_acc_init(sx_netem_rtt_acc *a, specx_err *err);
void sx_netem_rtt_acc_clear(sx_netem_rtt_acc *a);
void sx_netem_rtt_acc_add(sx_netem_rtt_acc *a, double rtt_ms);
/* q in [0, 1]; 0 when empty. */
double sx_netem_rtt_acc_quantile(const sx_netem_rtt_acc *a, double q);
/* 0 when undefined (fewer than 3 samples or constant round trips). */
double sx_netem_rtt_acc_lag1(const sx_netem_rtt_acc *a);

/* Checks a traffic description: sizes > 0, hz > 0, at least one request. */
specx_status sx_netem_traffic_check(const specx_netem_traffic *t, specx_err *err);

/* Runs `t` through a fresh simulated link with `seed`, adding every
 * request's round trip to `a`. */
specx_status sx_netem_run_traffic(const specx_netem_profile *p, uint64_t seed,
                                  const specx_netem_traffic *t, sx_netem_rtt_acc *a,
                                  specx_err *err);

#endif
