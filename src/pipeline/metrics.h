/* pipeline/metrics.h — internal to src/pipeline: the vehicle side's metric
 * families (names and meanings in docs/metrics.md), updated from each
 * delivered output.
 *
 * Contract
 *  - Families are registered once, when the pipeline is made, with one
 *    series per executor (label `executor`: the executor's name) made up
 *    front; a registry holds one pipeline's families.
 *  - sx_pipeline_metrics_output runs on the delivering thread, once per
 *    output, and only does relaxed atomic adds (lock-free, no allocation).
 *    A (frame, executor) pair is counted once, with the fate the output
 *    reports; a call still outstanding past its deadline when the frame was
 *    decided (pending_cancelled) counts as late.
 *  - In-flight calls and the link's round trip are read at scrape time by a
 *    collector: remote in-flight from two atomic counters per executor, the
 *    local executor's from its statistics (its lock, for a copy), round
 *    trips from the clients (atomics).
 *  - Thread-safe. NULL-safe: a NULL sx_pipeline_metrics does nothing. */
#ifndef SX_PIPELINE_METRICS_H
#define SX_PIPELINE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/executor.h"
#include "specx/metrics.h"
#include "specx/pipeline.h"

typedef struct sx_pipeline_metrics sx_pipeline_metrics;

/* What the collector reads for executor i. */
typedef struct sx_pipeline_metrics_exec {
    const char *name;
    bool is_local;
    const specx_executor *exec; /* for the local statistics or the link */
    /* remote calls planned and over (pipeline.c counts them) */
    const _Atomic uint64_t *started, *finished;
} sx_pipeline_metrics_exec;

/* Registers the families and the collector. ex[0..n) stays valid until
 * destroy. SPECX_EINVAL when a name is taken, SPECX_ENOMEM. */
specx_status sx_pipeline_metrics_create(specx_metrics *reg, const sx_pipeline_metrics_exec *ex,
                                        size_t n, sx_pipeline_metrics **out, specx_err *err);
/* Removes the collector (waits for a scrape in progress) and frees. */
void sx_pipeline_metrics_destroy(sx_pipeline_metrics *m);

/* A frame accepted by push. */
void sx_pipeline_metrics_frame(sx_pipeline_metrics *m);
/* An output delivered. */
void sx_pipeline_metrics_output(sx_pipeline_metrics *m, const specx_pipeline_output *o);

#endif
