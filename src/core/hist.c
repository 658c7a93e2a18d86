/* hist.c — log-linear histogram: values below SPECX_HIST_SUB get exact
 * buckets; above, each power of two is split into SPECX_HIST_SUB linear
 * sub-buckets (HdrHistogram's layout, fixed memory). */
#include "specx/hist.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < SPECX_HIST_SUB) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned shift = msb - SPECX_HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) - SPECX_HIST_SUB; /* 0..SUB-1 */
    return (shift + 1u) * SPECX_HIST_SUB + sub;
}

/* Upper edge (inclusive) of a bucket: the value reported for quantiles, so a
 * reported percentile is never below the true one. */
static int64_t bucket_high(unsigned b)
{
    if (b < SPECX_HIST_SUB) {
        return (int64_t)b;
    }
    unsigned shift = b / SPECX_HIST_SUB - 1u;
    uint64_t sub = b % SPECX_HIST_SUB + SPECX_HIST_SUB;
    uint64_t lo = sub << shift;
    uint64_t hi = lo + ((uint64_t)1 << shift) - 1u;
    return hi > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)hi;
}

void specx_hist_init(specx_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = INT64_MAX;
    h->max = 0;
}

void specx_hist_record(specx_hist *h, int64_t v)
{
    if (v < 0) {
        v = 0;
    }
    unsigned b = bucket_of((uint64_t)v);
    if (b >= SPECX_HIST_BUCKETS) {
        b = SPECX_HIST_BUCKETS - 1;
    }
    h->buckets[b]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min) {
        h->min = v;
    }
    if (v > h->max) {
        h->max = v;
    }
}

void specx_hist_merge(specx_hist *into, const specx_hist *from)
{
    if (from->count == 0) {
        return;
    }
    for (unsigned i = 0; i < SPECX_HIST_BUCKETS; i++) {
        into->buckets[i] += from->buckets[i];
    }
    into->count += from->count;
    into->sum += from->sum;
    if (from->min < into->min) {
        into->min = from->min;
    }
    if (from->max > into->max) {
        into->max = from->max;
    }
}

/* Lower edge of a bucket. */
static int64_t bucket_low(unsigned b)
{
    if (b < SPECX_HIST_SUB) {
        return (int64_t)b;
    }
    unsigned shift = b / SPECX_HIST_SUB - 1u;
    uint64_t sub = b % SPECX_HIST_SUB + SPECX_HIST_SUB;
    return (int64_t)(sub << shift);
}

void specx_hist_sub(specx_hist *into, const specx_hist *from)
{
    uint64_t count = 0;
    unsigned lo = SPECX_HIST_BUCKETS, hi = 0;
    for (unsigned i = 0; i < SPECX_HIST_BUCKETS; i++) {
        uint32_t f = from->buckets[i];
        into->buckets[i] = into->buckets[i] >= f ? into->buckets[i] - f : 0;
        if (into->buckets[i] != 0) {
            count += into->buckets[i];
            if (i < lo) {
                lo = i;
            }
            hi = i;
        }
    }
    into->count = count;
    into->sum = into->sum > from->sum && count > 0 ? into->sum - from->sum : 0.0;
    if (count == 0) {
        into->min = INT64_MAX;
        into->max = 0;
        return;
    }
    int64_t lo_v = bucket_low(lo), hi_v = bucket_high(hi);
    /* keep the exact extremes when they still lie in those buckets */
    into->min = into->min >= lo_v && into->min <= bucket_high(lo) ? into->min : lo_v;
    into->max = into->max >= bucket_low(hi) && into->max <= hi_v ? into->max : hi_v;
}

int64_t specx_hist_quantile(const specx_hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    if (q <= 0.0) {
        return h->min;
    }
    if (q >= 1.0) {
        return h->max;
    }
    /* rank of the q-quantile, 1-based, nearest-rank definition */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count) {
        rank++;
    }
    if (rank == 0) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < SPECX_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            int64_t v = bucket_high(i);
            if (v > h->max) {
                v = h->max;
            }
            if (v < h->min) {
                v = h->min;
            }
            return v;
        }
    }
    return h->max;
}

double specx_hist_mean(const specx_hist *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}
