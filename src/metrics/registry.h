/* metrics/registry.h — internal: the registry's data layout, shared by the
 * registration/update code (registry.c) and the text renderer (render.c).
 *
 * Contract
 *  - A family's series live in an append-only array (slots[0..n)): a new
 *    series is fully written, then published by a release store of n and of
 *    its index entry, so readers (lookups, renders) need no lock. Series are
 *    never removed before the registry is destroyed.
 *  - mu of a family serialises only the creation of its series; mu of the
 *    registry guards the family list and the collectors; render_mu
 *    serialises renders (and collector removal against a render). Lock
 *    order: render_mu, then registry mu, then a family mu. */
#ifndef SX_METRICS_REGISTRY_H
#define SX_METRICS_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/metrics.h"

enum sx_metrics_kind { SX_METRICS_COUNTER, SX_METRICS_GAUGE, SX_METRICS_HISTOGRAM };

/* One series: a label set and its values. Aligned so two series updated from
 * different threads never share a cache line. */
typedef struct sx_metrics_series {
    _Alignas(64) _Atomic uint64_t value; /* counter value, or gauge as double bits */
    _Atomic uint64_t sum;                /* histogram: sum of observations (observed units) */
    uint64_t hash;
    const struct sx_metrics_family *fam;
    char *values[SPECX_METRICS_MAX_LABELS];
    _Atomic uint64_t buckets[]; /* histogram: nbounds + 1 (last is +Inf) */
} sx_metrics_series;

typedef struct sx_metrics_family {
    enum sx_metrics_kind kind;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[SPECX_METRICS_MAX_LABELS];
    size_t max_series;
    /* histograms */
    size_t nbounds;
    int64_t thresh[SPECX_METRICS_MAX_BUCKETS]; /* bounds in observed units */
    char le[SPECX_METRICS_MAX_BUCKETS][32];    /* bounds as rendered */
    double scale;

    pthread_mutex_t mu;
    sx_metrics_series **slots; /* max_series entries */
    _Atomic size_t n;
    _Atomic(sx_metrics_series *) *index; /* open addressing; NULL = empty */
    size_t index_mask;
    sx_metrics_series *sink; /* refused label sets land here; never rendered */
    struct specx_metrics *owner;
    _Atomic(specx_counter *) refused; /* this family's refusal counter, once made */
} sx_metrics_family;

typedef struct sx_metrics_collector {
    specx_metrics_collector_fn fn;
    void *arg;
} sx_metrics_collector;

struct specx_metrics {
    pthread_mutex_t render_mu;
    pthread_mutex_t mu;
    sx_metrics_family **fams;
    size_t nfams, capfams;
    sx_metrics_collector *cols;
    size_t ncols, capcols;
    specx_counter_family *refused; /* specx_metrics_label_sets_refused_total */
};

/* Renders the families (already collected) into a new buffer. */
specx_status sx_metrics_render_families(sx_metrics_family *const *fams, size_t nfams, char **text,
                                        size_t *len, specx_err *err);

/* Shortest text that reads back as v ("+Inf", "-Inf", "NaN" for specials). */
void sx_metrics_format_double(double v, char *buf, size_t cap);

#endif
