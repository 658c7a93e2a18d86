/* core/virtual_time.h — internal: virtual time, i.e. a replaceable clock and
 * manually fired deadlines, for tests and for the replay evaluation (which
 * will run the real operator on a virtual clock).
 *
 * Contract
 *  - The clock: specx_time_now() returns what the installed sx_clock_fn
 *    returns (CLOCK_MONOTONIC when none is installed); specx_time_mono()
 *    always reads the real clock. What reads specx_time_now() sees the
 *    installed clock: the operator's deadlines and timestamps, the local
 *    executor's queue deadlines, the RPC client's wire deadline ("time
 *    left" on this clock); what must measure real elapsed time (the
 *    emulated link, inference timing) reads specx_time_mono(). Installing is
 *    process-wide and not synchronised with readers beyond the clock pointer
 *    itself: install before the code that reads it starts, restore (NULL)
 *    after it stopped. The clock function must be thread-safe and should not
 *    go backwards.
 *  - Manual timers: an operator made with sx_operator_create_manual() has no
 *    timer thread; its deadlines fire only in sx_operator_advance(op, now),
 *    on the caller's thread (deciding messages, running cancels and frees
 *    and, with SPECX_DELIVER_INLINE, output callbacks there), and when an
 *    event on a message (a completion) observes that the clock has passed
 *    them. A virtual clock needs manual timers: the timer thread sleeps on
 *    the real CLOCK_MONOTONIC. Everything else is the real operator
 *    (specx/operator.h): same rules, same delivery (with SPECX_DELIVER_INLINE
 *    and executors that complete on the driving thread, a run stays on that
 *    thread and is deterministic). To step a
 *    virtual run: set the clock to t, then sx_operator_advance(op, t);
 *    sx_operator_next_deadline() tells the next t at which something is due.
 *  - advance and next_deadline are thread-safe; they are meant for the
 *    driving thread, not for the operator's own callbacks. */
#ifndef SX_CORE_VIRTUAL_TIME_H
#define SX_CORE_VIRTUAL_TIME_H

#include <stddef.h>

#include "specx/operator.h"
#include "specx/status.h"
#include "specx/time.h"

typedef specx_time_t (*sx_clock_fn)(void *arg);

/* Install a clock read by specx_time_now() (NULL restores CLOCK_MONOTONIC). */
void sx_time_set_clock(sx_clock_fn fn, void *arg);

/* specx_operator_create, but with manual timers (no timer thread). The
 * result is destroyed with specx_operator_destroy like any operator. */
specx_status sx_operator_create_manual(const specx_operator_config *cfg, specx_operator **out,
                                       specx_err *err);

/* Fire every deadline <= now on the caller's thread (normally `now` is what
 * the installed clock returns). Returns the number of messages whose timer
 * fired; 0 for an operator without manual timers (or NULL). */
size_t sx_operator_advance(specx_operator *op, specx_time_t now);

/* The earliest armed deadline (that of the undecided message due first),
 * SPECX_TIME_NEVER if none or op is NULL. Works with or without manual
 * timers. */
specx_time_t sx_operator_next_deadline(specx_operator *op);

#endif
