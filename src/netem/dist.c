/* dist.c — random streams and the one-way delay distributions of netem. */
#include <math.h>
#include <stdio.h>

#include "netem_internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void nx_rng_seed(nx_rng *r, uint64_t seed, uint64_t stream)
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

uint64_t nx_rng_next(nx_rng *r)
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

double nx_rng_uniform(nx_rng *r)
{
    /* 53 random bits, shifted by half a step so 0 and 1 never occur. */
    return ((double)(nx_rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

double nx_rng_normal(nx_rng *r)
{
    /* Box–Muller, one value per call: keeps the stream position a simple
     * function of the number of draws. */
    double u1 = nx_rng_uniform(r);
    double u2 = nx_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double normal_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

double nx_probit(double q)
{
    double lo = -40.0, hi = 40.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (normal_cdf(mid) < q) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return 0.5 * (lo + hi);
}

static double quantiles_at(const nx_dist *d, double z)
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

double nx_dist_sample_ms(const nx_dist *d, nx_rng *r)
{
    double v = 0.0;
    switch (d->kind) {
    case NX_DIST_ZERO:
        return 0.0;
    case NX_DIST_CONST:
        v = d->a;
        break;
    case NX_DIST_NORMAL:
        v = d->a + d->b * nx_rng_normal(r);
        break;
    case NX_DIST_LOGNORMAL:
        v = d->a * exp(d->b * nx_rng_normal(r));
        break;
    case NX_DIST_QUANTILES:
        v = quantiles_at(d, nx_rng_normal(r));
        break;
    case NX_DIST_TRACE:
        v = d->ntrace ? d->trace[nx_rng_next(r) % d->ntrace] : 0.0;
        break;
    }
    if (v < d->min_ms) {
        v = d->min_ms;
    }
    if (d->max_ms > 0 && v > d->max_ms) {
        v = d->max_ms;
    }
    return v < 0 ? 0 : v;
}

void nx_dist_format(const nx_dist *d, char *buf, size_t len)
{
    int n = 0;
    switch (d->kind) {
    case NX_DIST_ZERO:
        n = snprintf(buf, len, "none");
        break;
    case NX_DIST_CONST:
        n = snprintf(buf, len, "const %g ms", d->a);
        break;
    case NX_DIST_NORMAL:
        n = snprintf(buf, len, "normal mean %g ms sd %g ms", d->a, d->b);
        break;
    case NX_DIST_LOGNORMAL:
        n = snprintf(buf, len, "lognormal median %g ms sigma %g", d->a, d->b);
        break;
    case NX_DIST_QUANTILES:
        n = snprintf(buf, len, "piecewise lognormal through");
        for (size_t i = 0; i < d->nknots && n >= 0 && (size_t)n < len; i++) {
            n += snprintf(buf + n, len - (size_t)n, " p%g=%g", d->knot_q[i] * 100.0,
                          exp(d->knot_ln[i]));
        }
        if (n >= 0 && (size_t)n < len) {
            n += snprintf(buf + n, len - (size_t)n, " ms");
        }
        break;
    case NX_DIST_TRACE:
        n = snprintf(buf, len, "trace %s (%zu RTT samples, one-way = RTT/2)", d->trace_path,
                     d->ntrace);
        break;
    }
    if (n >= 0 && (size_t)n < len && d->kind != NX_DIST_ZERO) {
        if (d->min_ms > 0) {
            n += snprintf(buf + n, len - (size_t)n, ", min %g ms", d->min_ms);
        }
        if (n >= 0 && (size_t)n < len && d->max_ms > 0) {
            snprintf(buf + n, len - (size_t)n, ", max %g ms", d->max_ms);
        }
    }
}
