/* specx/operator.h — the speculative operator: one message in, exactly one
 * output out, from the most preferred executor that answers in time.
 *
 * Priorities: a HIGHER number is MORE preferred. The local executor always
 * ranks below every remote executor, whatever number it is given.
 *
 * Per message, the plan callback decides for each remote executor: skip, or
 * send a request with a deadline (relative to the message's arrival, or an
 * absolute CLOCK_MONOTONIC time). The local executor, if registered, gets the
 * message's input itself and has no deadline: it is the guaranteed fallback.
 * Selection rules (DESIGN.md §2):
 *  1. a result arriving before its executor's deadline is emitted at once if
 *     no more-preferred executor is still pending, else held;
 *  2. a failure stops an executor being pending at once (may trigger 1);
 *  3. when an executor's deadline passes it stops being pending; when none is
 *     pending any more, the most preferred held result is emitted;
 *  4. a remote result after its deadline is dropped and counted late (unless
 *     accept_late_while_no_local is set and the local result has not come);
 *  5. if nothing is held when the deadlines have passed, the local result is
 *     emitted when it arrives, flagged fallback; if everything failed, a
 *     "no result" output with the reason;
 *  6. on emission, outstanding calls for the message are cancelled;
 *  7. an executor with max_in_flight calls outstanding is skipped ("shed");
 *  8. local-only and remote-only configurations are valid;
 *  9. "emit local early" (specx_plan.emit_local_early, per call): once the
 *     local result is in, a call so planned stops counting as pending, so
 *     rule 1 emits the most preferred held result at once (the local one
 *     unless a remote one is held) instead of holding it to the deadline,
 *     and rule 6 cancels the call. A remote result that arrives before the
 *     local one wins as usual. An adaptive plan sets it when it predicts
 *     the call will miss its deadline (core/deadline_policy.h).
 * The message deadline (in outputs) is the latest deadline of its planned
 * remote calls, SPECX_TIME_NEVER when none was planned.
 *
 * Rank ties between remote executors of equal priority go to the one
 * registered first. A result completing at time t counts as on time iff
 * t < its deadline (a result stamped exactly at the deadline is late); the
 * completion time is read under the operator lock, so a completion and the
 * deadline timer of the same call are totally ordered. Calls are started most
 * preferred first; a call not yet started when its message is decided (e.g.
 * a more preferred executor completed inside its start()) is never started
 * (fate cancelled, not counted as sent). A plan deadline already in the past
 * still sends the call (the message is not decided before it was sent); it
 * expires as soon as start() returned, accounted like any call that missed
 * its deadline (remote-only: "no result", SPECX_ETIMEDOUT).
 * fallback: the winner is the local executor and its result arrived at or
 * after the message deadline (rule 5). late_accepted (option of rule 4): only
 * while a local call is still outstanding; with no local executor, or once
 * the local result is in, the default rule applies.
 * "No result" status: SPECX_ESTOPPED (shutdown), SPECX_ETIMEDOUT (a remote
 * deadline passed without a usable answer), else the first failure's status,
 * SPECX_EBUSY (all shed) or SPECX_EUNAVAILABLE (nothing planned).
 *
 * Fates in an output are final for the output; statistics count each
 * (message, executor) pair exactly once, when its story ends: skipped / shed
 * at planning; failed when the call fails (or start() fails) before the
 * decision; late when a remote result arrives after its deadline before the
 * decision, or the call completes with SPECX_ETIMEDOUT at or after its
 * deadline (a remote executor's wire deadline expired: a missed deadline, not
 * a failure); won / outranked at the decision; a call still outstanding at
 * the decision (fate cancelled or pending_cancelled) is counted when it
 * completes: late if it completed OK or timed out at or after its deadline,
 * otherwise cancelled; a call never started counts as cancelled.
 *
 * Ordering: outputs are delivered in submission order. A message decided
 * early waits for every earlier message to be emitted (head-of-line), so a
 * slow early message delays later outputs by at most its own bounded wait
 * (its latest remote deadline, or the local completion after it when nothing
 * was held): ordering is what a tracker downstream needs, and the bound is
 * what keeps it cheap. Outputs record both `decided` and `emitted` times, so
 * the head-of-line wait is visible (emitted - decided).
 *
 * Threads: all functions are thread-safe unless noted. Output callbacks run
 * one at a time, in order, with no operator lock held; they may call submit,
 * but must not call specx_operator_process, _shutdown or _destroy. Where
 * they run depends on specx_operator_config.delivery:
 *  - SPECX_DELIVER_THREAD (default): an operator-internal delivery thread;
 *  - SPECX_DELIVER_INLINE: the thread that made the head-of-line message
 *    ready (a submitter, an executor's completing thread, the timer thread),
 *    never inside an executor's start()/cancel(); cheaper (no thread hop) but
 *    a slow callback then delays that thread's other work.
 * specx_operator_process hands its own output to its caller instead.
 * The plan callback and executor callbacks (start, cancel) may call submit
 * and specx_call_complete, but not process, shutdown or destroy: they would
 * wait for the calling thread itself. From there, and from output callbacks
 * and input_release, process returns SPECX_EINVAL and shutdown returns at
 * once without doing anything; destroy must not be called.
 * Executors must not hold a lock that their cancel() takes while calling
 * specx_call_complete(): completion waits for a cancel() of the same call
 * that is running on another thread (the executor.h guarantee that cancel()
 * never runs after completion returned); it never waits for other calls'
 * cancel(), and a cancel() not yet started when its call completes is not
 * invoked at all. */
#ifndef SPECX_OPERATOR_H
#define SPECX_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/executor.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_operator specx_operator;

#define SPECX_NAME_MAX 64

typedef enum specx_fate {
    SPECX_FATE_NONE = 0,          /* not involved (e.g. unplanned) */
    SPECX_FATE_WON,               /* its result is the output */
    SPECX_FATE_OUTRANKED,         /* answered in time, a more preferred one won */
    SPECX_FATE_LATE,              /* answered after its deadline; dropped */
    SPECX_FATE_FAILED,            /* completed with an error */
    SPECX_FATE_SKIPPED,           /* the plan said skip */
    SPECX_FATE_SHED,              /* in-flight bound reached; not sent */
    SPECX_FATE_CANCELLED,         /* outstanding, not needed any more, cancelled */
    SPECX_FATE_PENDING_CANCELLED, /* still outstanding past its deadline, cancelled */
    SPECX_FATE_COUNT_
} specx_fate;

const char *specx_fate_name(specx_fate f); /* "won", "late", ... */

typedef enum specx_deadline_kind {
    SPECX_DEADLINE_RELATIVE = 0, /* nanoseconds after the message's arrival */
    SPECX_DEADLINE_ABSOLUTE,     /* CLOCK_MONOTONIC nanoseconds */
} specx_deadline_kind;

typedef struct specx_plan {
    bool skip;
    void *request; /* handed to the executor's start() */
    /* Called once the call is over (completed), or at once when the plan is
     * not used (skip, shed, start failure). NULL: the request is borrowed from
     * the message input and lives as long as the message. */
    void (*request_free)(void *request, void *user);
    void *request_free_user;
    specx_deadline_kind deadline_kind;
    specx_time_t deadline;
    /* Rule 9, "emit local early": do not hold the local answer for this call.
     * Once the local result is in, this call stops counting as pending, so
     * the most preferred held result is emitted at once and this call is
     * cancelled (rule 6). A result that arrives before the local one is
     * selected as usual. No effect without a local executor. Default false:
     * the local answer waits for this call up to its deadline. */
    bool emit_local_early;
} specx_plan;

typedef struct specx_msg_info {
    uint64_t seq;         /* 0, 1, 2, ... per operator */
    specx_time_t arrival; /* monotonic */
    void *input;          /* as given to submit */
    void *user;           /* as given to submit */
} specx_msg_info;

/* Called on the submitting thread, once per remote executor, before any call
 * of the message starts. `out` comes zeroed (skip=false, deadline 0 relative:
 * callers must set a deadline). */
typedef void (*specx_plan_fn)(void *plan_user, const specx_msg_info *msg, size_t exec_index,
                              specx_plan *out);

typedef struct specx_exec_report {
    specx_fate fate;
    specx_status status;   /* completion status, SPECX_OK if none yet */
    specx_dur_t latency;   /* start to completion; -1 if it had not completed */
    specx_time_t deadline; /* this executor's deadline (NEVER for local/skipped) */
    const char *message;   /* the executor's error line, NULL if none */
} specx_exec_report;

typedef struct specx_output {
    uint64_t seq;
    void *input;             /* as given to submit */
    void *user;              /* as given to submit */
    int winner;              /* executor index, -1 for "no result" */
    const char *winner_name; /* NULL for "no result" */
    int priority;            /* winner's priority (local: its configured value) */
    bool is_local;           /* the winner is the local executor */
    bool fallback;           /* local result emitted after the message deadline */
    bool late_accepted;      /* remote result accepted after its deadline (option) */
    specx_status status;     /* SPECX_OK, or why there is no result */
    const char *reason;      /* one line when winner < 0 */
    void *result;            /* winner's result; borrowed for the callback */
    specx_time_t arrival, deadline, emitted;
    specx_dur_t latency; /* emitted - arrival */
    size_t n_exec;
    const specx_exec_report *exec; /* indexed like executors */
    /* when the selection was made; emitted - decided is the head-of-line wait
     * (emitted: when the output is handed to the callback / process caller) */
    specx_time_t decided;
} specx_output;

/* Take ownership of out->result inside an output callback, or from a
 * process() output before releasing it (the operator will not free it).
 * Returns the result (NULL for "no result" or if already taken); free it
 * with specx_operator_free_result(op, out->winner, result). */
void *specx_output_take_result(specx_output *out);

typedef void (*specx_output_fn)(void *output_user, specx_output *out);

typedef struct specx_executor_config {
    char name[SPECX_NAME_MAX];
    int priority;      /* higher = more preferred; ignored rank-wise for local */
    int max_in_flight; /* 0 = unbounded */
    specx_executor exec;
} specx_executor_config;

typedef enum specx_delivery {
    SPECX_DELIVER_THREAD = 0, /* output callbacks on an operator-internal thread */
    SPECX_DELIVER_INLINE,     /* on the thread that made the head of line ready */
} specx_delivery;

typedef struct specx_operator_config {
    specx_plan_fn plan; /* required when remote executors are registered */
    void *plan_user;
    specx_output_fn output; /* for submit(); may be NULL when only process() is used */
    void *output_user;
    bool accept_late_while_no_local; /* rule 4 option; default false */
    specx_delivery delivery;         /* see "Threads" above; default THREAD */
    /* Optional: called exactly once per message that submit() accepted (or
     * process() processed) when the operator no longer references its input:
     * after its output was delivered (process(): after specx_output_free)
     * AND every call started for it completed AND every request_free of it ran.
     * Never for a message whose submit failed. Until then the input must stay
     * valid (executors may still read it, e.g. a cancelled local call still
     * running on the pixels); from then on the callee may free it. Runs with
     * no operator lock held, on the thread that dropped the last reference:
     * the delivery thread (or, INLINE, the delivering thread), an executor's
     * thread completing a call (specx_call_complete), the timer thread, a
     * submitter, the process() caller inside specx_output_free, or the
     * thread in specx_operator_shutdown/_destroy. Calls may run concurrently
     * on different threads. It may call submit, not process, shutdown or
     * destroy (see "Threads" above). When specx_operator_shutdown returns,
     * every release has run except those of process() outputs not yet
     * released; every release has run before specx_operator_destroy returns.
     * NULL: nothing is called. */
    void (*input_release)(void *release_user, void *input, void *user);
    void *release_user;
} specx_operator_config;

specx_status specx_operator_create(const specx_operator_config *cfg, specx_operator **out,
                                   specx_err *err);

/* Register executors before the first submit. Returns the executor index via
 * *index (may be NULL). At most one local executor. The operator owns the
 * executor from here and calls ops->destroy at operator destruction. */
specx_status specx_operator_add_local(specx_operator *op, const specx_executor_config *cfg,
                                      size_t *index, specx_err *err);
specx_status specx_operator_add_remote(specx_operator *op, const specx_executor_config *cfg,
                                       size_t *index, specx_err *err);

/* Thread-safe (also against add_*). The name is the operator's copy, valid
 * until specx_operator_destroy; NULL when index is out of range. */
size_t specx_operator_executor_count(const specx_operator *op);
const char *specx_operator_executor_name(const specx_operator *op, size_t index);

/* Asynchronous: starts the message and returns. The output callback fires
 * exactly once for it, in submission order. *seq receives the sequence number
 * (may be NULL). Fails with SPECX_ESTOPPED after shutdown began; then no
 * output is produced for it. Does not block on executors' work. */
specx_status specx_operator_submit(specx_operator *op, void *input, void *user, uint64_t *seq);

/* Blocking: processes one message and returns its output in *out (the caller
 * frees it with specx_output_free). Waits for earlier submitted messages'
 * outputs to be delivered first (ordering holds across both styles). */
specx_status specx_operator_process(specx_operator *op, void *input, void *user,
                                    specx_output **out);
void specx_output_free(specx_operator *op, specx_output *out);

/* Free a result taken with specx_output_take_result. */
void specx_operator_free_result(specx_operator *op, int exec_index, void *result);

/* Stop accepting messages; every message still pending is emitted now with
 * its best held result, or as "no result" (SPECX_ESTOPPED); outstanding calls
 * are cancelled; returns when every output has been delivered and every call
 * has completed. Idempotent. From the operator's own calls out (plan, start,
 * cancel, output callback, input_release) it would wait for itself: there it
 * returns at once and does nothing. */
void specx_operator_shutdown(specx_operator *op);

/* Shutdown (if needed), then free everything, destroying the executors.
 * Outputs from specx_operator_process must have been released before. */
void specx_operator_destroy(specx_operator *op);

#ifdef __cplusplus
}
#endif
#endif
