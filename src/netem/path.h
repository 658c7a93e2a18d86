/* netem/path.h — one direction of an emulated link: its delay process,
 * capacity, outages and in-order release. The TCP proxy (link.c) and the
 * virtual-clock simulator (sim.c) both pass every chunk of bytes through
 * sx_netem_path_send, so the simulator's figures are what the proxy does.
 *
 * Per chunk of b bytes handed to the direction at time a (docs/netem.md):
 *   s = outage(max(a, free))            transmission starts once the link is free
 *   e = s + 8·b / C                     free ← e            (capacity C bit/s)
 *   r = outage(max(e + D(e), floor))    floor ← r           (order on a connection)
 * with the one-way delay D(t) = F⁻¹(Φ(X(t))): F the direction's marginal
 * (netem/dist.h) and X a stationary standard-normal process of correlation
 * time τ: a Gauss–Markov chain on knots τ apart,
 *   X_{k+1} = ρ·X_k + √(1−ρ²)·ε_k,  ρ = e^(−1),  X_0, ε_k ~ N(0, 1),
 * so corr(X(t), X(t + nτ)) = e^(−n), joined linearly between knots and
 * rescaled to unit variance (smooth at the scale of packets: consecutive
 * packets see similar delays). X is a function of the seed and of time only
 * — not of the traffic — so one seed is one realization of the link
 * whatever is sent through it. τ = 0 means a fresh independent draw per
 * chunk (traffic-dependent).
 *
 * `free` is shared by every connection of the direction (they share the
 * capacity); `floor` belongs to one connection and the caller keeps it.
 * Arrival times need not increase: X is queried at e, which never
 * decreases. Not thread-safe: the owner serialises calls. */
#ifndef SX_NETEM_PATH_H
#define SX_NETEM_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/netem.h"
#include "specx/time.h"

#include "netem/outage.h"
#include "netem/profile.h"
#include "netem/rng.h"

/* Largest chunk the proxy reads (and the simulator splits messages into):
 * finer on a rate-limited direction so bytes are released in steps. */
#define SX_NETEM_CHUNK_MAX (64 * 1024)
#define SX_NETEM_CHUNK_MAX_RATED (16 * 1024)

/* After an idle gap longer than this many knots the process restarts
 * from a fresh stationary draw instead of stepping through the gap (the
 * correlation across such a gap is e^(−2^24), nothing). */
#define SX_NETEM_MAX_CATCHUP_STEPS (INT64_C(1) << 24)

typedef struct sx_netem_path {
    const sx_netem_dir_cfg *cfg; /* borrowed: must outlive the path */
    specx_time_t origin;
    sx_netem_rng rng;
    bool fixed;        /* the marginal ignores X: no draws at all */
    int64_t step_ns;   /* knot spacing (τ); 0 when τ = 0 */
    double rho, innov; /* ρ and √(1−ρ²) */
    int64_t k;         /* knot index of x0: X(origin + k·τ) = x0, X(origin + (k+1)·τ) = x1 */
    double x0, x1;
    specx_time_t free; /* when the transmitter is next free */
    sx_netem_outage outage;
} sx_netem_path;

void sx_netem_path_init(sx_netem_path *p, const sx_netem_dir_cfg *cfg, uint64_t seed,
                        specx_netem_dir dir, specx_time_t origin);
void sx_netem_path_clear(sx_netem_path *p);

/* Moves a chunk of `bytes` arriving at `arrival` through the direction and
 * returns its release time; `*floor` is the release time of the previous
 * chunk of the same connection (start it at 0) and is updated. */
specx_time_t sx_netem_path_send(sx_netem_path *p, specx_time_t arrival, size_t bytes,
                                specx_time_t *floor);

/* The latent X(t) (advancing the process to t); for tests and describe. */
double sx_netem_path_latent(sx_netem_path *p, specx_time_t t);

/* SX_NETEM_CHUNK_MAX_RATED on a rate-limited direction, else SX_NETEM_CHUNK_MAX. */
size_t sx_netem_path_chunk_max(const sx_netem_path *p);

#endif
