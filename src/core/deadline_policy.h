/* core/deadline_policy.h — how long a frame waits for each server: a fixed
 * deadline, or an adaptive one that lets the local answer go as soon as it
 * is ready when a server is predicted to miss (operator rule 9,
 * specx_plan.emit_local_early).
 *
 * Contract
 *  - One tunable, the target probability p. Per message and remote
 *    executor, the plan reads that executor's round-trip estimate
 *    (core/rtt_estimate.h) at the message's arrival: with P(round trip <
 *    deadline) >= p the frame waits for the server up to the deadline, as
 *    with the fixed policy; below p, the call is still sent with the same
 *    deadline, marked emit_local_early. The server is never skipped.
 *  - Unknown estimate (the evidence has faded): the frame is a probe and
 *    waits, unless a probe is already out or a backoff runs: each probe
 *    that misses doubles the time to the next (1 s after the first miss,
 *    then 2, 4, at most 8 s, from the missed probe's decision); an answer
 *    in time ends the backoff. Frames in between are planned early. So a
 *    link that stays down costs a deadline a few times, not once a second,
 *    and one that comes back is found within 8 s.
 *  - Fixed: the deadline as given, never early (the estimate is still
 *    kept, for figures).
 *  - Feed: sx_deadline_policy_plan in the operator's plan callback (records
 *    the call as sent at the message's arrival, keyed by its seq), and
 *    sx_deadline_policy_observe with every output (answered calls, calls
 *    that ended without an answer at the decision, calls never sent). A
 *    call's round trip counts from its message's arrival.
 *  - Thread-safe (one internal mutex; plan and output callbacks may run on
 *    different threads). Executor indices are the operator's. */
#ifndef SX_CORE_DEADLINE_POLICY_H
#define SX_CORE_DEADLINE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "specx/operator.h"
#include "specx/status.h"
#include "specx/time.h"

typedef enum sx_deadline_policy_kind {
    SX_DEADLINE_FIXED = 0,
    SX_DEADLINE_ADAPTIVE,
} sx_deadline_policy_kind;

typedef struct sx_deadline_policy_config {
    sx_deadline_policy_kind kind;
    double target;         /* adaptive: wait when P(on time) >= target; in (0, 1] */
    specx_dur_t half_life; /* estimate's weighting; 0 = SX_RTT_HALF_LIFE_DEFAULT */
} sx_deadline_policy_config;

typedef struct sx_deadline_policy_counts {
    uint64_t planned; /* remote calls planned */
    uint64_t early;   /* of which marked emit_local_early */
    uint64_t unknown; /* of which planned with no estimate (waited) */
} sx_deadline_policy_counts;

typedef struct sx_deadline_policy sx_deadline_policy;

/* n_exec: executors the operator will have (indices 0..n_exec-1). */
specx_status sx_deadline_policy_create(const sx_deadline_policy_config *cfg, size_t n_exec,
                                       sx_deadline_policy **out, specx_err *err);
void sx_deadline_policy_destroy(sx_deadline_policy *p); /* NULL-safe */

/* Parses "fixed" or "adaptive". */
specx_status sx_deadline_policy_kind_parse(const char *s, sx_deadline_policy_kind *out,
                                           specx_err *err);

/* In the plan callback: sets out->deadline_kind/deadline (relative,
 * `deadline`) and out->emit_local_early for executor exec_index. */
void sx_deadline_policy_plan(sx_deadline_policy *p, const specx_msg_info *msg, size_t exec_index,
                             specx_dur_t deadline, specx_plan *out);

/* With every output of the operator (any thread). */
void sx_deadline_policy_observe(sx_deadline_policy *p, const specx_output *o);

/* Estimated P(round trip < budget) of executor exec_index now; NAN unknown. */
double sx_deadline_policy_p_within(sx_deadline_policy *p, size_t exec_index, specx_time_t now,
                                   specx_dur_t budget);

sx_deadline_policy_counts sx_deadline_policy_counts_get(sx_deadline_policy *p);

#endif
