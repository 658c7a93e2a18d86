/* specx/local_executor.h — the on-board detector as a specx_executor: N
 * worker threads, one detector each, fed from one bounded queue.
 *
 * Request (start's `request`): a `const specx_image *`, the decoded frame,
 * borrowed until the call completes. Result: a `specx_detections *`
 * (specx_detections_create; the executor's free_result deletes it).
 *
 * Queue policy (when frames arrive faster than the model runs): at most
 * `queue_depth` calls wait for a worker. When the queue is full, with
 * SPECX_LOCAL_DROP_OLDEST (default) the oldest waiting call completes at once
 * with SPECX_EBUSY and the new one takes its place — a fresher frame is worth
 * more, and completing the old call lets the operator emit that message
 * instead of holding it; with SPECX_LOCAL_REJECT_NEW start() itself fails
 * with SPECX_EBUSY (the operator counts the executor failed for that
 * message). The operator's max_in_flight is a second, coarser bound.
 *
 * Contract (include/specx/executor.h): completions run on a worker thread,
 * or inside start()/cancel() for calls dropped there, never with the
 * executor's lock held. cancel() removes a waiting call (completed with
 * SPECX_ECANCELED) or sets the running call's cancel flag (the detector
 * stops at its next checkpoint and the call completes with SPECX_ECANCELED).
 * A call whose deadline has passed when a worker picks it up completes with
 * SPECX_ETIMEDOUT without running. All functions are thread-safe. */
#ifndef SPECX_LOCAL_EXECUTOR_H
#define SPECX_LOCAL_EXECUTOR_H

#include <stddef.h>

#include "specx/detector.h"
#include "specx/executor.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum specx_local_queue_policy {
    SPECX_LOCAL_DROP_OLDEST = 0,
    SPECX_LOCAL_REJECT_NEW,
} specx_local_queue_policy;

typedef struct specx_local_executor_config {
    specx_detector_config detector; /* used by specx_local_executor_create */
    int workers;                    /* worker threads = detectors; 0 means 1 */
    int queue_depth;                /* waiting calls; 0 means 1; -1 unbounded */
    specx_local_queue_policy policy;
} specx_local_executor_config;

/* Opens `workers` detectors from cfg->detector and starts the workers. On
 * success *out is an executor to hand to specx_operator_add_local (which
 * then owns it) or to drive directly; its ops->destroy stops the workers and
 * closes the detectors (call it once no call is outstanding). */
specx_status specx_local_executor_create(const specx_local_executor_config *cfg,
                                         specx_executor *out, specx_err *err);

/* Same with detectors opened by the caller (e.g. specx_detector_wrap test
 * doubles): takes ownership of all n of them, also on failure. cfg->workers
 * is ignored (one worker per detector); cfg->detector is unused. */
specx_status specx_local_executor_create_with(specx_detector **detectors, size_t n,
                                              const specx_local_executor_config *cfg,
                                              specx_executor *out, specx_err *err);

/* Counters since creation (thread-safe snapshot). */
typedef struct specx_local_executor_stats {
    unsigned long long started, completed, dropped, rejected, cancelled, timed_out, failed;
    size_t queued, running;
} specx_local_executor_stats;
void specx_local_executor_get_stats(const specx_executor *ex, specx_local_executor_stats *out);

#ifdef __cplusplus
}
#endif
#endif
