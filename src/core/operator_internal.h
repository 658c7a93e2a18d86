/* core/operator_internal.h — internal: the speculative operator's shared
 * state, and the sx_op_ functions its files call in each other. Only the
 * operator's own files include it; other modules use specx/operator.h (and
 * core/virtual_time.h for virtual time).
 *
 * The files, one job each:
 *  - operator.c          the public surface: create, register executors,
 *                        accessors, freeze (start the threads), shutdown,
 *                        destroy, the statistics snapshot
 *  - operator_submit.c   submit / process: sequence, plans, reservations,
 *                        starting calls (most preferred first)
 *  - operator_select.c   completions and the selection rules: evaluate,
 *                        decide, the "no result" reason
 *  - operator_deliver.c  in-order delivery (delivery thread or inline),
 *                        message references and input_release
 *  - operator_timer.c    deadline timers on the shared (key, seq) heap: the
 *                        timer thread and manual firing (virtual time)
 *  - operator_defer.c    executor and user calls collected under the lock
 *                        and run after unlocking (frees, cancels)
 *
 * Lock order
 *  - One mutex, op->mu, guards everything mutable: messages, slots, the
 *    order queue, the timer heap, the statistics. It is a leaf with respect
 *    to executors and users: never held while calling plan, start, cancel,
 *    free_result, request_free, output or input_release. Such calls are
 *    collected in a `defer` list under the lock and run after unlocking, so
 *    executors may take their own locks and then call in. Order: an
 *    executor's or user's lock, then op->mu; never the reverse.
 *  - pthread condition variables, all with op->mu: op->cv (process waiters,
 *    the cancel/complete handshake, shutdown), op->timer_cv (the timer
 *    thread), op->deliver_cv (the delivery thread). Waits are on
 *    CLOCK_MONOTONIC; nothing polls.
 *  - Functions below say "op->mu held" (called and return with it held) or
 *    "op->mu NOT held; returns with it held"; unmarked ones take no lock.
 *
 * Invariants and ownership
 *  - A message is one allocation: the msg, its slots (one per executor, each
 *    embedding the specx_call handed to the executor) and the exec reports.
 *    References (counted in msg.refs, under op->mu): the order queue until
 *    delivered (or the process() caller until specx_output_free), each
 *    call from just before start() until its completion is processed, the
 *    submitting thread during submit, each cancel() in progress, each
 *    deferred request_free of a call decided away before it started. The
 *    last unref frees it, or, with input_release, queues it on a
 *    thread-local list that the same thread runs unlocked before it drops
 *    its claim on op (op->active or op->delivering), so shutdown waits for
 *    every release.
 *  - op->active counts threads inside submit / completion / cancel / timer /
 *    release paths; op->delivering is true while one thread delivers.
 *    Shutdown waits until the queue is empty, no call is in flight
 *    (op->total_in_flight == 0), op->active == 0 and !op->delivering.
 *  - A message is in the timer heap only while MSG_LIVE, keyed by (its next
 *    pending remote deadline, its seq); decide() takes it out.
 *  - Cancel vs complete (executor.h: cancel() is never invoked, nor still
 *    running, after specx_call_complete() returned; a completion never
 *    blocks on other calls' work). Each slot has an atomic cancel state,
 *    slot.cx, so that neither side needs op->mu around each cancel():
 *    the decision queues a cancel (CX_QUEUED, with the canceller's thread);
 *    the canceller moves it to CX_RUNNING just before cancel(), and back to
 *    CX_NONE after; a completion that finds it still CX_QUEUED takes it
 *    back (CX_NONE: that cancel() is never invoked) and does not wait; one
 *    that finds it CX_RUNNING on another thread marks it CX_WAITED and
 *    waits on op->cv, which the canceller broadcasts (under op->mu) when it
 *    ends a CX_WAITED cancel. So a completion waits only for a cancel() of
 *    its own call that is already running. A completion from inside that
 *    cancel() (same thread) does not wait.
 *  - The executor set (op->ex, op->n_ex, op->order, ranks) is frozen at the
 *    first submit and read without the lock from then on; before that it
 *    is read and written under op->mu (add_*, executor_count/_name). */
#ifndef SX_CORE_OPERATOR_INTERNAL_H
#define SX_CORE_OPERATOR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/hist.h"
#include "specx/operator.h"
#include "specx/stats.h"

#include "core/heap.h"

/* slot selection state */
enum {
    SEL_NONE = 0,
    SEL_SKIPPED,
    SEL_SHED,
    SEL_PENDING, /* outstanding and (remote) before its deadline */
    SEL_EXPIRED, /* remote, outstanding past its deadline: not pending */
    SEL_HELD,    /* result in hand */
    SEL_LATE,    /* result after deadline, dropped */
    SEL_FAILED,
    SEL_UNSTARTED, /* decided before start(): never started */
};

/* slot call state */
enum {
    CALL_NONE = 0, /* no call (skipped, shed, or dropped before start) */
    CALL_RESERVED, /* in-flight slot reserved, start() not called yet */
    CALL_STARTING, /* start() running */
    CALL_OUT,      /* started, not completed */
    CALL_DONE,     /* completed (or start failed) */
};

/* slot cancel state (slot.cx) */
enum {
    CX_NONE = 0, /* no cancel queued, or it is over */
    CX_QUEUED,   /* decided: cancel() queued on `canceller`, not invoked yet */
    CX_RUNNING,  /* cancel() running on `canceller` */
    CX_WAITED,   /* running, and a completion on another thread waits for it */
};

/* message state */
enum { MSG_PLANNING = 0, MSG_LIVE, MSG_DECIDED, MSG_HANDED };

struct specx_call {
    struct msg *msg;
    void *data;
    uint32_t exec;
};

typedef struct slot {
    struct specx_call call;
    void *request;
    void (*request_free)(void *request, void *user);
    void *request_free_user;
    void *result;
    specx_time_t deadline;
    specx_time_t started, completed;
    specx_status status;
    uint8_t sel, cstate;
    bool cancel_req; /* decided while start() ran: cancel after it returns */
    bool late_accepted;
    bool emit_local_early; /* rule 9: not waited for once the local result is held */
    _Atomic uint8_t cx;    /* CX_*: the cancel handshake (see the top) */
    pthread_t canceller;   /* the thread that queued the cancel (op->mu) */
    char errmsg[120];
} slot;

typedef struct msg {
    struct msg *next; /* order queue, then delivery batch, then release list */
    struct specx_operator *op;
    uint64_t seq;
    int refs;
    uint8_t state;
    bool waiter;        /* process() */
    sx_heap_node timer; /* key: next pending remote deadline; seq: the message's */
    specx_time_t arrival, deadline;
    void *input, *user;
    specx_output out;
    char reason[256];
    slot *slots;
    specx_exec_report *reports;
} msg;

typedef struct exec_entry {
    specx_executor_config cfg;
    char *name; /* cfg.name's copy that never moves (executor_name) */
    bool is_local;
    int rank; /* higher = more preferred; local is 0 */
    uint64_t in_flight;
    specx_exec_stats st;
} exec_entry;

struct specx_operator {
    specx_operator_config cfg;
    bool manual_timers; /* virtual time: no timer thread (core/virtual_time.h) */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* process waiters, cancel/complete handshake, shutdown */
    pthread_cond_t timer_cv;
    pthread_cond_t deliver_cv;

    exec_entry *ex;
    size_t n_ex, cap_ex;
    int local;     /* index or -1 */
    size_t *order; /* executor indices, most preferred first */
    bool frozen;

    bool stopping, stopped;
    uint64_t next_seq;
    msg *qhead, *qtail;
    sx_heap timers; /* undecided messages with a pending remote deadline */

    bool threads_started;
    pthread_t timer_thr, deliver_thr;
    bool timer_stop, deliver_stop, deliver_sleeping;
    specx_time_t timer_sleep_until; /* NEVER while not waiting on a deadline */
    bool timer_waiting;
    bool delivering;
    int active;     /* threads inside submit/complete/cancel paths */
    int cv_waiters; /* threads waiting on op->cv */
    uint64_t total_in_flight;

    /* operator-level statistics */
    uint64_t submitted, outputs, remote_wins, local_wins, no_results, fallbacks, late_accepted,
        after_deadline;
    specx_hist latency, hol_wait;
};

/* Inside plan/start/cancel of this operator: then no inline delivery, and
 * process/shutdown refuse (they would wait for this thread). */
extern _Thread_local specx_operator *sx_op_tls_in_exec;
/* Inside an output callback or input_release of this operator: then
 * process/shutdown refuse (they would wait for this thread). */
extern _Thread_local specx_operator *sx_op_tls_in_callback;

/* ---- locking -------------------------------------------------------------- */

static inline void sx_op_lock(specx_operator *op)
{
    pthread_mutex_lock(&op->mu);
}

static inline void sx_op_unlock(specx_operator *op)
{
    pthread_mutex_unlock(&op->mu);
}

/* op->mu held. */
static inline void sx_op_wake_waiters(specx_operator *op)
{
    if (op->cv_waiters > 0) {
        pthread_cond_broadcast(&op->cv);
    }
}

/* op->mu held: wait on op->cv (counted, so wake_waiters can skip the call). */
static inline void sx_op_cv_wait(specx_operator *op)
{
    op->cv_waiters++;
    pthread_cond_wait(&op->cv, &op->mu);
    op->cv_waiters--;
}

/* ---- operator.c ----------------------------------------------------------- */

/* op->mu held. Freeze the executor set (ranks, start order) and start the
 * threads; at the first submit. SPECX_EINVAL without executors or without a
 * plan callback for remote ones. */
specx_status sx_op_freeze(specx_operator *op);
/* Give a result back to the executor that made it (ops->free_result, or
 * free()). No lock. */
void sx_op_free_result(specx_operator *op, int exec, void *result);

/* ---- operator_deliver.c: delivery and references -------------------------- */

/* The hot paths below are inline fast checks in front of out-of-line work
 * (`_slow`): most messages never need the work, and the split into files
 * must not cost the common case a call. */

/* This thread's messages awaiting input_release (linked through msg.next). */
extern _Thread_local struct msg *sx_op_tls_release;

/* op->mu held. */
static inline bool sx_op_head_ready(const specx_operator *op)
{
    return op->qhead != NULL && op->qhead->state == MSG_DECIDED;
}

/* op->mu held. The last reference is gone: free m, or with input_release
 * queue it on this thread's release list. */
void sx_op_msg_last_ref(msg *m);

/* op->mu held. Drop a reference. With input_release configured the last one
 * queues the message on this thread's release list: the caller must then
 * reach sx_op_run_releases() before it gives up its claim on op
 * (op->active or op->delivering), which is what makes shutdown wait for the
 * release. */
static inline void sx_op_msg_unref(msg *m)
{
    if (--m->refs == 0) {
        sx_op_msg_last_ref(m);
    }
}

/* Whether this thread has input releases waiting. */
static inline bool sx_op_releases_pending(void)
{
    return sx_op_tls_release != NULL;
}

/* op->mu held (dropped while the releases run). */
void sx_op_run_releases_slow(specx_operator *op);
static inline void sx_op_run_releases(specx_operator *op)
{
    if (sx_op_tls_release != NULL) {
        sx_op_run_releases_slow(op);
    }
}

/* op->mu held and !op->delivering: deliver the ready head of line in
 * batches (the lock is dropped around the callbacks). */
void sx_op_deliver_locked(specx_operator *op);

/* op->mu held, head ready, nobody delivering: deliver inline or wake the
 * delivery thread. */
void sx_op_maybe_deliver_slow(specx_operator *op);
/* op->mu held: get the head of line delivered (see operator.h, "Threads"). */
static inline void sx_op_maybe_deliver(specx_operator *op)
{
    if (sx_op_head_ready(op) && !op->delivering) {
        sx_op_maybe_deliver_slow(op);
    }
}

/* The delivery thread (SPECX_DELIVER_THREAD). */
void *sx_op_deliver_main(void *arg);

/* ---- operator_defer.c: work run after unlocking --------------------------- */

enum { D_FREE_RESULT, D_REQ_FREE, D_CANCEL };

typedef struct ditem {
    uint8_t kind;
    uint32_t exec;
    void *p;
    void (*fn)(void *, void *);
    void *user;
    struct msg *hold; /* D_REQ_FREE from decide(): a reference kept until it ran */
} ditem;

/* A list with inline storage for the common case (2 items per executor + 2
 * per message cover up to 7 executors without allocating). */
typedef struct defer {
    size_t n, cap;
    ditem *v;
    ditem inl[16];
} defer;

static inline void sx_op_defer_init(defer *d)
{
    d->n = 0;
    d->cap = sizeof d->inl / sizeof d->inl[0];
    d->v = d->inl;
}

void sx_op_defer_fini_slow(defer *d);
static inline void sx_op_defer_fini(defer *d)
{
    if (d->v != d->inl) {
        sx_op_defer_fini_slow(d);
    }
}

/* Grows the list (aborts if that fails: see operator_defer.c). */
void sx_op_defer_push_slow(defer *d, ditem it);
static inline void sx_op_defer_push(defer *d, ditem it)
{
    if (d->n < d->cap) {
        d->v[d->n++] = it;
    } else {
        sx_op_defer_push_slow(d, it);
    }
}

/* op->mu held. Queue slot s's request_free if it has one (and clear it);
 * `hold` (may be NULL) is a reference on its message the caller took, dropped
 * after the free ran. */
void sx_op_defer_request_free_slow(defer *d, slot *s, msg *hold);
static inline void sx_op_defer_request_free(defer *d, slot *s, msg *hold)
{
    if (s->request_free != NULL) {
        sx_op_defer_request_free_slow(d, s, hold);
    }
}

/* op->mu held. Queue the cancel() of m's call on executor i on this thread
 * (slot.cx = CX_QUEUED); takes a message reference and an op->active claim,
 * both dropped by sx_op_run_defers after cancel() returned (or was skipped
 * because the call completed first). */
void sx_op_defer_cancel(specx_operator *op, msg *m, size_t i, defer *d);

/* op->mu NOT held; returns with it held. Run the deferred work and empty d. */
void sx_op_run_defers_slow(specx_operator *op, defer *d);
static inline void sx_op_run_defers(specx_operator *op, defer *d)
{
    if (d->n == 0) {
        sx_op_lock(op);
        return;
    }
    sx_op_run_defers_slow(op, d);
}

/* op->mu NOT held; returns with it held. Run defers, then deliver. */
static inline void sx_op_finish(specx_operator *op, defer *d)
{
    sx_op_run_defers(op, d);
    sx_op_maybe_deliver(op);
}

/* ---- operator_select.c: selection ----------------------------------------- */

/* op->mu held. Apply rules 1-5 and 9 to m at time `now` if it is undecided: decide
 * it, or (re)arm its timer at its next pending deadline. */
void sx_op_evaluate(specx_operator *op, msg *m, specx_time_t now, defer *d);
/* op->mu held. Decide m: winner index or -1 for "no result" (`forced`, when
 * not SPECX_OK, is the status). Builds the output, settles every slot's fate
 * and counts, queues cancels and frees on d. */
void sx_op_decide(specx_operator *op, msg *m, int winner, specx_status forced, specx_time_t now,
                  defer *d);
/* op->mu held. Shutdown: the best held result now, or "no result" (ESTOPPED). */
void sx_op_decide_forced(specx_operator *op, msg *m, specx_time_t now, defer *d);

/* ---- operator_timer.c: deadline timers ------------------------------------ */

/* op->mu held. (Re)arm m's timer at t, or disarm when t is NEVER. Returns
 * false only on allocation failure (then the caller decides m at once). */
bool sx_op_timer_arm(specx_operator *op, msg *m, specx_time_t t);
/* op->mu held. */
static inline void sx_op_timer_disarm(specx_operator *op, msg *m)
{
    sx_heap_remove(&op->timers, &m->timer);
}
/* The timer thread (not with manual timers). */
void *sx_op_timer_main(void *arg);

#endif
