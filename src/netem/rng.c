/* rng.c — netem's random streams (xoshiro256** through splitmix64) and the
 * standard-normal CDF and quantile. */
#include "netem/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void sx_netem_rng_seed(sx_netem_rng *r, uint64_t seed, uint64_t stream)
{
    /* Mix the stream in through a second splitmix pass so that nearby
     * (seed, stream) pairs do not share state words. */
    uint64_t x = seed;
    uint64_t k = splitmix64(&x) ^ (stream * UINT64_C(0xd1b54a32d192ed03));
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&k);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sx_netem_rng_next(sx_netem_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sx_netem_rng_uniform(sx_netem_rng *r)
{
    /* 53 random bits, shifted by half a step so 0 and 1 never occur. */
    return ((double)(sx_netem_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

double sx_netem_rng_normal(sx_netem_rng *r)
{
    /* Box–Muller, one value per call: keeps the stream position a simple
     * function of the number of draws. */
    double u1 = sx_netem_rng_uniform(r);
    double u2 = sx_netem_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double sx_netem_normal_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

double sx_netem_probit(double q)
{
    double lo = -40.0, hi = 40.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (sx_netem_normal_cdf(mid) < q) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return 0.5 * (lo + hi);
}
