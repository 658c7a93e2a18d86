/* netem/rng.h — netem's random streams: xoshiro256** seeded through
 * splitmix64, so every (seed, stream) pair gives its own independent-looking
 * sequence, plus the standard-normal helpers the delay model needs.
 *
 * Streams in use: SX_NETEM_STREAM_DELAY(dir) drives a link direction's delay
 * process; SX_NETEM_STREAM_OUTAGE drives random outage schedules (one stream
 * for both directions, so the same outage settings on both give the same
 * intervals: a link outage hits both ways). A generator is plain data, owned
 * by whoever embeds it; not thread-safe. */
#ifndef SX_NETEM_RNG_H
#define SX_NETEM_RNG_H

#include <stdint.h>

typedef struct sx_netem_rng {
    uint64_t s[4];
} sx_netem_rng;

#define SX_NETEM_STREAM_DELAY(dir) (UINT64_C(0x5eed000000000000) | (uint64_t)(dir))
#define SX_NETEM_STREAM_OUTAGE UINT64_C(0xfeedface00000000)

void sx_netem_rng_seed(sx_netem_rng *r, uint64_t seed, uint64_t stream);
uint64_t sx_netem_rng_next(sx_netem_rng *r);
double sx_netem_rng_uniform(sx_netem_rng *r); /* in (0, 1), never 0 or 1 */
double sx_netem_rng_normal(sx_netem_rng *r);  /* standard normal */

/* Φ(z), the standard-normal CDF, and its inverse (by bisection: accurate to
 * 1e-12, meant for set-up, not for every packet). */
double sx_netem_normal_cdf(double z);
double sx_netem_probit(double q);

#endif
