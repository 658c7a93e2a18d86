/* specx/hist.h — a fixed-memory log-linear latency histogram.
 *
 * Records non-negative int64 values (nanoseconds by convention) with a relative
 * error below 1/SPECX_HIST_SUB (≈ 1.6 %) over the whole int64 range; no
 * allocation after init. Not thread-safe: callers serialise (each owner keeps
 * its histogram under its own lock). Merging and copying are plain struct ops. */
#ifndef SPECX_HIST_H
#define SPECX_HIST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPECX_HIST_SUB_BITS 6
#define SPECX_HIST_SUB (1 << SPECX_HIST_SUB_BITS) /* linear buckets per power of two */
#define SPECX_HIST_BUCKETS ((64 - SPECX_HIST_SUB_BITS) * SPECX_HIST_SUB + SPECX_HIST_SUB)

typedef struct specx_hist {
    uint64_t count;
    int64_t min, max;
    double sum;
    uint32_t buckets[SPECX_HIST_BUCKETS];
} specx_hist;

void specx_hist_init(specx_hist *h);
/* Negative values are recorded as 0. */
void specx_hist_record(specx_hist *h, int64_t v);
void specx_hist_merge(specx_hist *into, const specx_hist *from);
/* into -= from, where `from` is an earlier copy of the same histogram (counts
 * only grew): what was recorded in between. min/max become the edges of the
 * lowest/highest non-empty bucket (an interval's exact extremes are lost). */
void specx_hist_sub(specx_hist *into, const specx_hist *from);
/* q in [0,1]; returns 0 for an empty histogram. q=1 returns the exact max. */
int64_t specx_hist_quantile(const specx_hist *h, double q);
double specx_hist_mean(const specx_hist *h);

#ifdef __cplusplus
}
#endif
#endif
