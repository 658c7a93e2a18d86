/* operator_timer.c — the operator's deadline timers: undecided messages on the
 * shared (key, seq) heap, the timer thread, and manual firing for virtual
 * time (core/virtual_time.h).
 *
 * Design notes
 *  - One heap entry per undecided message with a pending remote deadline,
 *    keyed by (that deadline, the message's seq), so ties fire in submission
 *    order. One timer thread waits on a CLOCK_MONOTONIC condvar until the
 *    top is due; it is signalled only when an entry becomes the top earlier
 *    than it sleeps for. With manual timers there is no thread: the caller of
 *    sx_operator_advance fires what is due.
 *  - Due messages are taken off the heap one at a time: each is evaluated
 *    under the lock and its deferred work runs (unlocked) before the next is
 *    looked at, so no callback runs with op->mu held, and a message decided
 *    meanwhile by another thread is simply no longer on the heap.
 *  - Any event on a message first expires the deadlines the clock has
 *    passed (sx_op_evaluate), so a late timer thread never makes a late
 *    result count as on time. */
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "core/operator_internal.h"
#include "core/virtual_time.h"

static msg *timer_msg(sx_heap_node *n)
{
    return SX_CONTAINER_OF(n, msg, timer);
}

bool sx_op_timer_arm(specx_operator *op, msg *m, specx_time_t t)
{
    if (t == SPECX_TIME_NEVER) {
        sx_heap_remove(&op->timers, &m->timer);
        return true;
    }
    m->timer.key = t;
    if (!sx_heap_node_queued(&m->timer)) {
        if (sx_heap_push(&op->timers, &m->timer) != SPECX_OK) {
            return false;
        }
    } else {
        sx_heap_update(&op->timers, &m->timer);
    }
    /* Wake the timer thread only when it sleeps past the new top. */
    if (op->timer_waiting && sx_heap_top(&op->timers) == &m->timer && t < op->timer_sleep_until) {
        pthread_cond_signal(&op->timer_cv);
    }
    return true;
}

/* The earliest armed deadline, NEVER if none; op->mu held. */
static specx_time_t next_due(const specx_operator *op)
{
    const sx_heap_node *top = sx_heap_top(&op->timers);
    return top != NULL ? top->key : SPECX_TIME_NEVER;
}

/* Fire every message whose timer is due at `now`; op->mu held. */
static size_t fire_due(specx_operator *op, specx_time_t now)
{
    size_t fired = 0;
    defer d;
    sx_op_defer_init(&d);
    while (sx_heap_len(&op->timers) > 0 && next_due(op) <= now) {
        msg *m = timer_msg(sx_heap_pop(&op->timers));
        sx_op_evaluate(op, m, now, &d);
        fired++;
        if (d.n > 0) {
            op->active++;
            sx_op_unlock(op);
            sx_op_finish(op, &d);
            op->active--;
        }
    }
    sx_op_maybe_deliver(op);
    sx_op_defer_fini(&d);
    return fired;
}

static void to_timespec(specx_time_t t, struct timespec *ts)
{
    ts->tv_sec = (time_t)(t / 1000000000);
    ts->tv_nsec = (long)(t % 1000000000);
}

void *sx_op_timer_main(void *arg)
{
    specx_operator *op = arg;
#ifdef PR_SET_TIMERSLACK
    /* default slack is 50 us; deadlines are what this thread is for */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
    sx_op_lock(op);
    while (!op->timer_stop) {
        specx_time_t now = specx_time_now();
        if (sx_heap_len(&op->timers) > 0 && next_due(op) <= now) {
            fire_due(op, now);
            continue;
        }
        op->timer_waiting = true;
        if (sx_heap_len(&op->timers) == 0) {
            op->timer_sleep_until = SPECX_TIME_NEVER;
            pthread_cond_wait(&op->timer_cv, &op->mu);
        } else {
            struct timespec ts;
            op->timer_sleep_until = next_due(op);
            to_timespec(op->timer_sleep_until, &ts);
            pthread_cond_timedwait(&op->timer_cv, &op->mu, &ts);
        }
        op->timer_waiting = false;
    }
    sx_op_unlock(op);
    return NULL;
}

/* ---- virtual time (core/virtual_time.h) ----------------------------------- */

specx_status sx_operator_create_manual(const specx_operator_config *cfg, specx_operator **out,
                                       specx_err *err)
{
    specx_status st = specx_operator_create(cfg, out, err);
    if (st == SPECX_OK) {
        (*out)->manual_timers = true; /* before any thread exists: at freeze */
    }
    return st;
}

size_t sx_operator_advance(specx_operator *op, specx_time_t now)
{
    if (op == NULL || !op->manual_timers) {
        return 0;
    }
    sx_op_lock(op);
    op->active++;
    size_t n = fire_due(op, now);
    op->active--;
    if (op->stopping) {
        sx_op_wake_waiters(op);
    }
    sx_op_unlock(op);
    return n;
}

specx_time_t sx_operator_next_deadline(specx_operator *op)
{
    if (op == NULL) {
        return SPECX_TIME_NEVER;
    }
    sx_op_lock(op);
    specx_time_t t = next_due(op);
    sx_op_unlock(op);
    return t;
}
