/* core/rtt_estimate.h — an online estimate of one remote executor's round
 * trip from its recent calls, where calls without an answer count as
 * censored: "at least this long".
 *
 * Contract
 *  - Feed it every call: sx_rtt_estimate_sent when the call goes out (a
 *    key unique among the calls in the window, e.g. the message seq; the
 *    time the round trip counts from), then at most one of _answered (an
 *    answer came back at `at`: the round trip is known), _ended (the call
 *    ended without an answer at `at` — timed out, cancelled: the round trip
 *    is at least its age then) or _forget (never sent, or failed: says
 *    nothing about the round trip). A call with none of these is
 *    outstanding and counts as at least its age now, so a link that has
 *    gone silent shows as soon as its calls grow older than a budget.
 *  - The window is the last SX_RTT_WINDOW calls sent; each weighs
 *    2^(-(now - sent) / half_life), so old evidence fades: after a few
 *    half-lives without new evidence the estimate says "unknown" (NAN), and
 *    a policy that then waits for the server is probing the link again.
 *  - p_within(now, b) is the weighted Kaplan-Meier estimate of
 *    P(round trip < b): answers are events, censored calls leave the risk
 *    set at their bound. NAN when the window's evidence about b (answered
 *    calls, and calls known to have taken >= b) weighs less than
 *    SX_RTT_MIN_WEIGHT.
 *  - quantile(now, q): the smallest answered round trip t with estimated
 *    P(round trip <= t) >= q; -1 when the evidence does not reach q.
 *  - A value type (no allocation). Not thread-safe: the caller serialises
 *    (core/deadline_policy.h holds a lock). */
#ifndef SX_CORE_RTT_ESTIMATE_H
#define SX_CORE_RTT_ESTIMATE_H

#include <stdbool.h>
#include <stdint.h>

#include "specx/time.h"

#define SX_RTT_WINDOW 64
#define SX_RTT_MIN_WEIGHT 0.25
#define SX_RTT_HALF_LIFE_DEFAULT SPECX_MS(500)

enum { SX_RTT_OUT = 0, SX_RTT_ANSWERED, SX_RTT_ENDED };

typedef struct sx_rtt_call {
    uint64_t key;
    specx_time_t sent, end; /* end: when answered or ended */
    uint8_t state;          /* SX_RTT_* */
    bool used;
} sx_rtt_call;

typedef struct sx_rtt_estimate {
    sx_rtt_call calls[SX_RTT_WINDOW]; /* ring, oldest overwritten */
    unsigned next;
    specx_dur_t half_life;
} sx_rtt_estimate;

/* half_life <= 0: SX_RTT_HALF_LIFE_DEFAULT. */
void sx_rtt_estimate_init(sx_rtt_estimate *e, specx_dur_t half_life);

void sx_rtt_estimate_sent(sx_rtt_estimate *e, uint64_t key, specx_time_t sent);
/* The next three ignore a key not in the window (or already settled). */
void sx_rtt_estimate_answered(sx_rtt_estimate *e, uint64_t key, specx_time_t at);
void sx_rtt_estimate_ended(sx_rtt_estimate *e, uint64_t key, specx_time_t at);
void sx_rtt_estimate_forget(sx_rtt_estimate *e, uint64_t key);

/* Estimated P(round trip < budget) for a call sent at `now`; NAN: unknown. */
double sx_rtt_estimate_p_within(const sx_rtt_estimate *e, specx_time_t now, specx_dur_t budget);
/* Estimated q-quantile (0 < q <= 1) of the round trip; -1: unknown. */
specx_dur_t sx_rtt_estimate_quantile(const sx_rtt_estimate *e, specx_time_t now, double q);

#endif
