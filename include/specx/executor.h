/* specx/executor.h — the interface every way of computing a result implements:
 * a local detector, a gRPC client, a test double.
 *
 * One start() is one attempt ("call"), with the nng aio contract:
 *  - If start() returns SPECX_OK, the executor calls specx_call_complete()
 *    exactly once for that call, from any thread, possibly before start()
 *    returns (synchronously, inside start). If start() returns an error, the
 *    call is never completed and the operator treats the executor as failed
 *    for that message.
 *  - cancel() asks the executor to stop; it is idempotent, callable from any
 *    thread, never blocks on the work itself, and may race with completion:
 *    the call handle stays valid memory until specx_call_complete() returns,
 *    and cancel() is neither invoked nor still running after that (a
 *    completion on another thread than a running cancel() of the same call
 *    waits for it to return; a cancel() not started yet when its call
 *    completes is not invoked). A cancelled call still completes (typically
 *    with SPECX_ECANCELED); its result is discarded.
 *  - The operator never holds its own lock while calling start/cancel, so an
 *    executor may call back into the operator (complete inline, cancel) freely.
 *  - Results are opaque to the operator; free_result() releases one (the
 *    operator calls it for every result it does not hand over to the user).
 * An executor's per-call state should be reachable from the call through
 * specx_call_set_data()/specx_call_data(); it is the executor's own to free. */
#ifndef SPECX_EXECUTOR_H
#define SPECX_EXECUTOR_H

#include <stdint.h>

#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_call specx_call; /* one attempt; owned by the operator */

typedef struct specx_executor_ops {
    /* Begin work on `request` (borrowed until completion). `deadline` is the
     * absolute monotonic time after which the operator no longer wants the
     * result (SPECX_TIME_NEVER for none); a remote executor puts it on the
     * wire. Required. */
    specx_status (*start)(void *ctx, specx_call *call, void *request, specx_time_t deadline);
    /* Best-effort stop. Required. */
    void (*cancel)(void *ctx, specx_call *call);
    /* Release a result produced by this executor. NULL = free(). */
    void (*free_result)(void *ctx, void *result);
    /* Called once when the operator is destroyed, after all calls have
     * completed. NULL = nothing to do. */
    void (*destroy)(void *ctx);
} specx_executor_ops;

typedef struct specx_executor {
    const specx_executor_ops *ops;
    void *ctx;
} specx_executor;

/* Report the outcome of a call: status SPECX_OK with a result (ownership moves
 * to the operator), or an error status with result NULL and an optional
 * one-line message (copied). Exactly once per successfully started call.
 * Thread-safe; never blocks on other calls' work: the only wait is for a
 * cancel() of this same call running on another thread (see above). */
void specx_call_complete(specx_call *call, specx_status status, void *result, const char *errmsg);

/* Executor-private per-call data (not touched by the operator). */
void specx_call_set_data(specx_call *call, void *data);
void *specx_call_data(const specx_call *call);

/* The message sequence number this call belongs to (for logs, wire req_id). */
uint64_t specx_call_seq(const specx_call *call);

#ifdef __cplusplus
}
#endif
#endif
