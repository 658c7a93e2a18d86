/* operator.c — the speculative operator: per-message selection state machine,
 * deadline timers, in-order delivery and cancellation (DESIGN.md §2).
 *
 * Design notes
 *  - One mutex (op->mu) guards everything mutable: messages, slots, the
 *    order queue, the timer heap, the statistics. It is never held while
 *    calling user or executor code (plan, start, cancel, free_result,
 *    request_free, output); such calls are collected in a `defer` list under
 *    the lock and run after unlocking. Lock order: op->mu is a leaf with
 *    respect to executors (executors may take their own locks then call in).
 *  - A message is one allocation: the msg, its slots (one per executor, each
 *    embedding the specx_call handed to the executor) and the exec reports.
 *    References (under op->mu): the order queue until delivered (or the
 *    process() caller until specx_output_free), each call from just
 *    before start() until its completion is processed, the submitting thread
 *    during submit, each cancel() in progress, each deferred request_free
 *    of a call decided away before it started. The last unref frees it, or,
 *    with input_release, queues it on a thread-local list that the same
 *    thread runs unlocked before it drops op->active / op->delivering (so
 *    shutdown waits for every release).
 *  - Timers: a binary heap of undecided messages keyed by (next pending
 *    remote deadline, seq); one timer thread waits on a CLOCK_MONOTONIC
 *    condvar until the top is due (or, with manual_timers, the test calls
 *    specx_operator_advance). Any event on a message first expires the
 *    deadlines the clock has passed, so a late timer thread never makes a
 *    late result count as on time.
 *  - Cancel vs complete: a slot being cancelled is marked `cancelling` with
 *    the canceller's thread; a completion from another thread waits on op->cv
 *    until cancel() returned, which keeps executor.h's promise that cancel()
 *    is never called after specx_call_complete() returned. A completion from
 *    inside cancel() (same thread) does not wait.
 *  - Delivery: the order queue holds messages in seq order; decided messages
 *    at its head are popped in batches by one deliverer at a time
 *    (op->delivering): the delivery thread, or in INLINE mode whichever
 *    thread finds the head ready and is not inside an executor callback of
 *    this operator (tls_in_exec). */
#include "specx/operator.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "specx/hist.h"
#include "specx/stats.h"

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
    bool cancelling; /* cancel() in progress on `canceller` */
    bool complete_waiting;
    bool late_accepted;
    pthread_t canceller;
    char errmsg[120];
} slot;

typedef struct msg {
    struct msg *next; /* order queue, then delivery batch */
    struct specx_operator *op;
    uint64_t seq;
    int refs;
    uint8_t state;
    bool waiter; /* process() */
    size_t heap_idx;
    specx_time_t timer_at;
    specx_time_t arrival, deadline;
    void *input, *user;
    specx_output out;
    char reason[256];
    slot *slots;
    specx_exec_report *reports;
} msg;

typedef struct exec_entry {
    specx_executor_config cfg;
    bool is_local;
    int rank; /* higher = more preferred; local is 0 */
    uint64_t in_flight;
    specx_exec_stats st;
} exec_entry;

struct specx_operator {
    specx_operator_config cfg;
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
    msg **heap;
    size_t heap_n, heap_cap;

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

static _Thread_local specx_operator *tls_in_exec;   /* inside start()/cancel() of op */
static _Thread_local specx_operator *tls_in_output; /* inside an output callback of op */
/* Messages whose last reference this thread dropped, awaiting input_release
 * (linked through msg.next); drained by run_releases with op->mu not held. */
static _Thread_local struct msg *tls_release;

/* ---- deferred work: run after unlocking ---------------------------------- */

enum { D_FREE_RESULT, D_REQ_FREE, D_CANCEL };

typedef struct ditem {
    uint8_t kind;
    uint32_t exec;
    void *p;
    void (*fn)(void *, void *);
    void *user;
    struct msg *hold; /* D_REQ_FREE from decide(): a reference kept until it ran */
} ditem;

typedef struct defer {
    size_t n, cap;
    ditem *v;
    ditem inl[16];
} defer;

static void defer_init(defer *d)
{
    d->n = 0;
    d->cap = sizeof d->inl / sizeof d->inl[0];
    d->v = d->inl;
}

static void defer_push(defer *d, ditem it)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap * 2;
        // NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): cap >= 16 from defer_init
        ditem *nv = malloc(ncap * sizeof *nv);
        if (nv == NULL) {
            /* Only reached with more than 7 executors (inline storage covers
             * 2 items per executor + 2 per message), and a dropped cancel or
             * free would break the contract; there is no sane way on. */
            abort();
        }
        memcpy(nv, d->v, d->n * sizeof *nv);
        if (d->v != d->inl) {
            free(d->v);
        }
        d->v = nv;
        d->cap = ncap;
    }
    d->v[d->n++] = it;
}

static void defer_fini(defer *d)
{
    if (d->v != d->inl) {
        free(d->v);
    }
}

/* ---- small helpers -------------------------------------------------------- */

static void lock(specx_operator *op)
{
    pthread_mutex_lock(&op->mu);
}
static void unlock(specx_operator *op)
{
    pthread_mutex_unlock(&op->mu);
}

static void wake_waiters(specx_operator *op)
{
    if (op->cv_waiters > 0) {
        pthread_cond_broadcast(&op->cv);
    }
}

static void cv_wait(specx_operator *op)
{
    op->cv_waiters++;
    pthread_cond_wait(&op->cv, &op->mu);
    op->cv_waiters--;
}

/* op->mu held. With input_release configured the last reference queues the
 * message on this thread's release list: the caller must then reach
 * run_releases() before it gives up its claim on op (op->active or
 * op->delivering), which is what makes shutdown wait for the release. */
static void msg_unref(msg *m)
{
    if (--m->refs == 0) {
        if (m->op->cfg.input_release == NULL) {
            free(m);
        } else {
            m->next = tls_release;
            tls_release = m;
        }
    }
}

/* Run this thread's pending input releases; no operator lock held. */
static void drain_releases(void)
{
    /* pop one at a time: a release may submit, which drains this list too */
    while (tls_release != NULL) {
        msg *m = tls_release;
        tls_release = m->next;
        const specx_operator_config *c = &m->op->cfg;
        c->input_release(c->release_user, m->input, m->user);
        free(m);
    }
}

/* drain_releases() from a caller holding op->mu; returns with it held. */
static void run_releases(specx_operator *op)
{
    if (tls_release == NULL) {
        return;
    }
    unlock(op);
    drain_releases();
    lock(op);
}

static msg *msg_of_output(specx_output *out)
{
    return (msg *)((char *)out - offsetof(msg, out));
}

const char *specx_fate_name(specx_fate f)
{
    static const char *const names[SPECX_FATE_COUNT_] = {
        [SPECX_FATE_NONE] = "none",
        [SPECX_FATE_WON] = "won",
        [SPECX_FATE_OUTRANKED] = "outranked",
        [SPECX_FATE_LATE] = "late",
        [SPECX_FATE_FAILED] = "failed",
        [SPECX_FATE_SKIPPED] = "skipped",
        [SPECX_FATE_SHED] = "shed",
        [SPECX_FATE_CANCELLED] = "cancelled",
        [SPECX_FATE_PENDING_CANCELLED] = "pending_cancelled",
    };
    if ((unsigned)f >= SPECX_FATE_COUNT_) {
        return "unknown";
    }
    return names[f];
}

/* ---- timer heap (min-heap on (timer_at, seq)) ----------------------------- */

static bool heap_less(const msg *a, const msg *b)
{
    return a->timer_at < b->timer_at || (a->timer_at == b->timer_at && a->seq < b->seq);
}

static void heap_set(specx_operator *op, size_t i, msg *m)
{
    op->heap[i] = m;
    m->heap_idx = i;
}

static void heap_up(specx_operator *op, size_t i)
{
    msg *m = op->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(m, op->heap[p])) {
            break;
        }
        heap_set(op, i, op->heap[p]);
        i = p;
    }
    heap_set(op, i, m);
}

static void heap_down(specx_operator *op, size_t i)
{
    msg *m = op->heap[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= op->heap_n) {
            break;
        }
        size_t c = l;
        if (l + 1 < op->heap_n && heap_less(op->heap[l + 1], op->heap[l])) {
            c = l + 1;
        }
        if (!heap_less(op->heap[c], m)) {
            break;
        }
        heap_set(op, i, op->heap[c]);
        i = c;
    }
    heap_set(op, i, m);
}

static void heap_remove(specx_operator *op, msg *m)
{
    size_t i = m->heap_idx;
    if (i == SIZE_MAX) {
        return;
    }
    m->heap_idx = SIZE_MAX;
    op->heap_n--;
    if (i == op->heap_n) {
        return;
    }
    msg *x = op->heap[op->heap_n];
    heap_set(op, i, x);
    heap_up(op, i);
    heap_down(op, x->heap_idx);
}

/* (Re)arm m's timer at t, or disarm when t is NEVER. Returns false only on
 * allocation failure (then the caller decides the message at once). */
static bool timer_arm(specx_operator *op, msg *m, specx_time_t t)
{
    if (t == SPECX_TIME_NEVER) {
        heap_remove(op, m);
        return true;
    }
    if (m->heap_idx == SIZE_MAX) {
        if (op->heap_n == op->heap_cap) {
            size_t ncap = op->heap_cap ? op->heap_cap * 2 : 64;
            // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
            msg **nh = realloc(op->heap, ncap * sizeof *nh);
            if (nh == NULL) {
                return false;
            }
            op->heap = nh;
            op->heap_cap = ncap;
        }
        m->timer_at = t;
        heap_set(op, op->heap_n++, m);
        heap_up(op, m->heap_idx);
    } else {
        m->timer_at = t;
        heap_up(op, m->heap_idx);
        heap_down(op, m->heap_idx);
    }
    /* Wake the timer thread only when it sleeps past the new top. */
    if (op->timer_waiting && op->heap[0] == m && t < op->timer_sleep_until) {
        pthread_cond_signal(&op->timer_cv);
    }
    return true;
}

/* ---- selection ------------------------------------------------------------ */

static void set_reason(msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang-14 false positive
    vsnprintf(m->reason, sizeof m->reason, fmt, ap);
    va_end(ap);
}

static void append_reason(msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append_reason(msg *m, const char *fmt, ...)
{
    size_t len = strlen(m->reason);
    if (len + 1 >= sizeof m->reason) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang-14 false positive
    vsnprintf(m->reason + len, sizeof m->reason - len, fmt, ap);
    va_end(ap);
}

/* Describe why there is no result and pick the status (see operator.h). */
static specx_status no_result_reason(specx_operator *op, msg *m, specx_status forced)
{
    specx_status st = SPECX_OK;
    bool any_shed = false, any_planned = false, any_timeout = false;
    m->reason[0] = '\0';
    if (forced != SPECX_OK) {
        set_reason(m, "operator shut down before a result;");
    } else {
        set_reason(m, "no result:");
    }
    for (size_t k = 0; k < op->n_ex; k++) {
        size_t i = op->order[k];
        slot *s = &m->slots[i];
        const char *name = op->ex[i].cfg.name;
        switch (s->sel) {
        case SEL_FAILED:
            any_planned = true;
            if (st == SPECX_OK) {
                st = s->status;
            }
            append_reason(m, " %s failed (%s%s%s);", name, specx_status_name(s->status),
                          s->errmsg[0] ? ": " : "", s->errmsg);
            break;
        case SEL_LATE:
        case SEL_EXPIRED:
            any_planned = any_timeout = true;
            append_reason(m, " %s missed its deadline;", name);
            break;
        case SEL_SHED:
            any_shed = true;
            append_reason(m, " %s shed (in-flight bound);", name);
            break;
        case SEL_SKIPPED:
            append_reason(m, " %s skipped;", name);
            break;
        case SEL_PENDING:
        case SEL_UNSTARTED:
            any_planned = true;
            append_reason(m, " %s cancelled;", name);
            break;
        default:
            break;
        }
    }
    if (op->n_ex == 0) {
        append_reason(m, " no executors registered;");
    }
    size_t len = strlen(m->reason);
    if (len > 0 && m->reason[len - 1] == ';') {
        m->reason[len - 1] = '\0';
    }
    if (forced != SPECX_OK) {
        return forced;
    }
    if (any_timeout) {
        return SPECX_ETIMEDOUT;
    }
    if (st != SPECX_OK) {
        return st;
    }
    if (any_shed) {
        return SPECX_EBUSY;
    }
    (void)any_planned;
    return SPECX_EUNAVAILABLE;
}

/* Decide m: winner index or -1 for "no result" (status says why). Builds the
 * output, settles every slot's fate and counts, queues cancels and frees. */
static void decide(specx_operator *op, msg *m, int winner, specx_status forced, specx_time_t now,
                   defer *d)
{
    specx_output *o = &m->out;
    heap_remove(op, m);
    m->state = MSG_DECIDED;
    o->decided = now;
    o->winner = winner;
    o->status = SPECX_OK;
    o->reason = NULL;
    if (winner >= 0) {
        exec_entry *e = &op->ex[winner];
        slot *s = &m->slots[winner];
        o->winner_name = e->cfg.name;
        o->priority = e->cfg.priority;
        o->is_local = e->is_local;
        o->late_accepted = s->late_accepted;
        o->fallback = e->is_local && m->deadline != SPECX_TIME_NEVER && s->completed >= m->deadline;
        o->result = s->result;
        s->result = NULL;
        e->st.won++;
        if (s->late_accepted) {
            e->st.late_accepted++;
            op->late_accepted++;
        }
        if (e->is_local) {
            op->local_wins++;
        } else {
            op->remote_wins++;
        }
        if (o->fallback) {
            op->fallbacks++;
        }
    } else {
        o->status = no_result_reason(op, m, forced);
        o->reason = m->reason;
        op->no_results++;
    }
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        exec_entry *e = &op->ex[i];
        specx_exec_report *r = &m->reports[i];
        r->deadline = s->deadline;
        r->status = s->status;
        r->message = s->errmsg[0] ? s->errmsg : NULL;
        r->latency = s->cstate == CALL_DONE ? s->completed - s->started : -1;
        switch (s->sel) {
        case SEL_SKIPPED:
            r->fate = SPECX_FATE_SKIPPED;
            break;
        case SEL_SHED:
            r->fate = SPECX_FATE_SHED;
            break;
        case SEL_LATE:
            r->fate = SPECX_FATE_LATE;
            break;
        case SEL_FAILED:
            r->fate = SPECX_FATE_FAILED;
            break;
        case SEL_UNSTARTED:
            r->fate = SPECX_FATE_CANCELLED;
            break;
        case SEL_HELD:
            if ((int)i == winner) {
                r->fate = SPECX_FATE_WON;
            } else {
                r->fate = SPECX_FATE_OUTRANKED;
                e->st.outranked++;
                if (s->result != NULL) {
                    defer_push(d,
                               (ditem){.kind = D_FREE_RESULT, .exec = (uint32_t)i, .p = s->result});
                    s->result = NULL;
                }
            }
            break;
        case SEL_PENDING:
        case SEL_EXPIRED:
            r->fate = s->sel == SEL_EXPIRED ? SPECX_FATE_PENDING_CANCELLED : SPECX_FATE_CANCELLED;
            if (s->cstate == CALL_RESERVED) {
                /* never started: drop the reservation, count cancelled now */
                s->cstate = CALL_NONE;
                s->sel = SEL_UNSTARTED;
                e->in_flight--;
                op->total_in_flight--;
                e->st.cancelled++;
                if (s->request_free != NULL) {
                    /* the decider may hold no reference (timer thread): keep
                     * the message, so its input outlives this free */
                    m->refs++;
                    defer_push(d, (ditem){.kind = D_REQ_FREE,
                                          .p = s->request,
                                          .fn = s->request_free,
                                          .user = s->request_free_user,
                                          .hold = m});
                    s->request_free = NULL;
                }
            } else if (s->cstate == CALL_STARTING) {
                s->cancel_req = true;
            } else if (s->cstate == CALL_OUT) {
                s->cancelling = true;
                s->canceller = pthread_self();
                m->refs++;
                op->active++;
                defer_push(d, (ditem){.kind = D_CANCEL, .exec = (uint32_t)i, .p = &s->call});
            }
            break;
        default:
            r->fate = SPECX_FATE_NONE;
            break;
        }
    }
}

/* Apply rules 1-5 to an undecided message at time `now`. */
static void evaluate(specx_operator *op, msg *m, specx_time_t now, defer *d)
{
    if (m->state != MSG_LIVE) {
        return;
    }
    int best_held = -1, best_held_rank = -1, best_pending_rank = -1;
    specx_time_t next = SPECX_TIME_NEVER;
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        int rank = op->ex[i].rank;
        if (s->sel == SEL_PENDING && s->deadline != SPECX_TIME_NEVER && s->deadline <= now) {
            s->sel = SEL_EXPIRED; /* rule 3: no longer pending */
        }
        if (s->sel == SEL_PENDING) {
            if (rank > best_pending_rank) {
                best_pending_rank = rank;
            }
            if (s->deadline < next) {
                next = s->deadline;
            }
        } else if (s->sel == SEL_HELD && rank > best_held_rank) {
            best_held_rank = rank;
            best_held = (int)i;
        }
    }
    if (best_held >= 0 && best_held_rank > best_pending_rank) {
        decide(op, m, best_held, SPECX_OK, now, d); /* rules 1, 2, 3 */
    } else if (best_held < 0 && best_pending_rank < 0) {
        decide(op, m, -1, SPECX_OK, now, d); /* rule 5: nothing can come */
    } else if (!timer_arm(op, m, next)) {
        decide(op, m, best_held, best_held >= 0 ? SPECX_OK : SPECX_ENOMEM, now, d);
    }
}

/* Shutdown: emit the best held result now, or "no result" (ESTOPPED). */
static void decide_forced(specx_operator *op, msg *m, specx_time_t now, defer *d)
{
    int best = -1, best_rank = -1;
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        if (s->sel == SEL_PENDING && s->deadline != SPECX_TIME_NEVER && s->deadline <= now) {
            s->sel = SEL_EXPIRED;
        }
        if (s->sel == SEL_HELD && op->ex[i].rank > best_rank) {
            best_rank = op->ex[i].rank;
            best = (int)i;
        }
    }
    decide(op, m, best, best >= 0 ? SPECX_OK : SPECX_ESTOPPED, now, d);
}

/* ---- delivery ------------------------------------------------------------- */

static bool head_ready(const specx_operator *op)
{
    return op->qhead != NULL && op->qhead->state == MSG_DECIDED;
}

static void free_result(specx_operator *op, int exec, void *result)
{
    const specx_executor *x = &op->ex[exec].cfg.exec;
    if (x->ops->free_result != NULL) {
        x->ops->free_result(x->ctx, result);
    } else {
        free(result);
    }
}

static void record_output(specx_operator *op, msg *m)
{
    specx_output *o = &m->out;
    op->outputs++;
    specx_hist_record(&op->latency, o->latency);
    specx_hist_record(&op->hol_wait, o->emitted - o->decided);
    if (m->deadline != SPECX_TIME_NEVER && o->emitted > specx_time_add(m->deadline, SPECX_MS(1))) {
        op->after_deadline++;
    }
}

/* Called with op->mu held and !op->delivering; returns with it held. */
static void deliver_locked(specx_operator *op)
{
    op->delivering = true;
    while (head_ready(op)) {
        msg *first = NULL, **tail = &first;
        msg *waiter = NULL;
        while (head_ready(op)) {
            msg *m = op->qhead;
            op->qhead = m->next;
            if (op->qhead == NULL) {
                op->qtail = NULL;
            }
            m->next = NULL;
            if (m->waiter) {
                waiter = m; /* handed over after the callbacks before it */
                break;
            }
            *tail = m;
            tail = &m->next;
        }
        unlock(op);
        drain_releases(); /* the previous batch's */
        for (msg *m = first; m != NULL; m = m->next) {
            specx_output *o = &m->out;
            o->emitted = specx_time_now();
            o->latency = o->emitted - o->arrival;
            if (op->cfg.output != NULL) {
                specx_operator *prev = tls_in_output;
                tls_in_output = op;
                op->cfg.output(op->cfg.output_user, o);
                tls_in_output = prev;
            }
            if (o->result != NULL) {
                free_result(op, o->winner, o->result);
                o->result = NULL;
            }
        }
        lock(op);
        while (first != NULL) {
            msg *m = first;
            first = m->next;
            record_output(op, m);
            msg_unref(m);
        }
        if (waiter != NULL) {
            waiter->out.emitted = specx_time_now();
            waiter->out.latency = waiter->out.emitted - waiter->out.arrival;
            record_output(op, waiter);
            waiter->state = MSG_HANDED;
            pthread_cond_broadcast(&op->cv);
        }
    }
    run_releases(op);
    op->delivering = false;
    wake_waiters(op);
}

/* With op->mu held: get the head of line delivered (see "Threads"). */
static void maybe_deliver(specx_operator *op)
{
    if (!head_ready(op) || op->delivering) {
        return;
    }
    if (op->cfg.delivery == SPECX_DELIVER_INLINE) {
        if (tls_in_exec != op) {
            deliver_locked(op);
        }
    } else if (op->deliver_sleeping) {
        pthread_cond_signal(&op->deliver_cv);
    }
}

/* Run deferred work with op->mu NOT held; returns with it held. */
static void run_defers(specx_operator *op, defer *d)
{
    if (d->n == 0) {
        lock(op);
        return;
    }
    for (size_t k = 0; k < d->n; k++) {
        ditem *it = &d->v[k];
        switch (it->kind) {
        case D_FREE_RESULT:
            free_result(op, (int)it->exec, it->p);
            break;
        case D_REQ_FREE:
            it->fn(it->p, it->user);
            break;
        case D_CANCEL: {
            const specx_executor *x = &op->ex[it->exec].cfg.exec;
            specx_operator *prev = tls_in_exec;
            tls_in_exec = op;
            x->ops->cancel(x->ctx, (specx_call *)it->p);
            tls_in_exec = prev;
            break;
        }
        default:
            break;
        }
    }
    lock(op);
    for (size_t k = 0; k < d->n; k++) {
        ditem *it = &d->v[k];
        if (it->hold != NULL) {
            msg_unref(it->hold);
        }
        if (it->kind != D_CANCEL) {
            continue;
        }
        specx_call *c = it->p;
        slot *s = &c->msg->slots[c->exec];
        s->cancelling = false;
        if (s->complete_waiting) {
            s->complete_waiting = false;
            pthread_cond_broadcast(&op->cv);
        }
        op->active--;
        msg_unref(c->msg);
    }
    d->n = 0;
    run_releases(op);
    if (op->stopping) {
        wake_waiters(op);
    }
}

/* Run defers then deliver; called with op->mu NOT held, returns with it held. */
static void finish(specx_operator *op, defer *d)
{
    run_defers(op, d);
    maybe_deliver(op);
}

/* ---- completion ----------------------------------------------------------- */

void specx_call_complete(specx_call *call, specx_status status, void *result, const char *errmsg)
{
    msg *m = call->msg;
    specx_operator *op = m->op;
    slot *s = &m->slots[call->exec];
    exec_entry *e = &op->ex[call->exec];
    defer d;
    defer_init(&d);

    lock(op);
    specx_time_t now = specx_time_now();
    op->active++;
    s->completed = now;
    s->status = status;
    if (status != SPECX_OK && errmsg != NULL) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", errmsg);
    }
    s->cstate = CALL_DONE;
    e->in_flight--;
    op->total_in_flight--;
    e->st.completed++;
    if (status == SPECX_OK) {
        specx_hist_record(&e->st.latency, now - s->started);
    }
    bool on_time = s->deadline == SPECX_TIME_NEVER || now < s->deadline;
    /* A remote executor carries the deadline on the wire, so slowness comes
     * back as ETIMEDOUT at the deadline: that is a missed deadline (late),
     * not a broken executor (failed). */
    bool missed = !on_time && (status == SPECX_OK || status == SPECX_ETIMEDOUT);
    if (m->state == MSG_LIVE) {
        if (status == SPECX_ETIMEDOUT && missed) {
            s->sel = SEL_LATE;
            e->st.late++;
        } else if (status != SPECX_OK) {
            s->sel = SEL_FAILED; /* rule 2 */
            e->st.failed++;
        } else if (on_time) {
            s->sel = SEL_HELD; /* rule 1 */
            s->result = result;
            result = NULL;
        } else {
            int loc = op->local;
            if (op->cfg.accept_late_while_no_local && loc >= 0 &&
                m->slots[loc].sel == SEL_PENDING) {
                s->sel = SEL_HELD; /* rule 4 option */
                s->late_accepted = true;
                s->result = result;
                result = NULL;
            } else {
                s->sel = SEL_LATE; /* rule 4 */
                e->st.late++;
            }
        }
        evaluate(op, m, now, &d);
    } else if (missed) {
        e->st.late++; /* completed after emission, past its deadline */
    } else {
        e->st.cancelled++; /* completed after emission, not late */
    }
    if (result != NULL) {
        defer_push(&d, (ditem){.kind = D_FREE_RESULT, .exec = call->exec, .p = result});
    }
    if (s->request_free != NULL) {
        defer_push(&d, (ditem){.kind = D_REQ_FREE,
                               .p = s->request,
                               .fn = s->request_free,
                               .user = s->request_free_user});
        s->request_free = NULL;
    }
    unlock(op);

    finish(op, &d);
    /* executor.h: cancel() never runs after complete() returned */
    while (s->cancelling && !pthread_equal(s->canceller, pthread_self())) {
        s->complete_waiting = true;
        cv_wait(op);
    }
    msg_unref(m); /* the call's reference */
    run_releases(op);
    op->active--;
    if (op->stopping) {
        wake_waiters(op);
    }
    unlock(op);
    defer_fini(&d);
}

void specx_call_set_data(specx_call *call, void *data)
{
    call->data = data;
}
void *specx_call_data(const specx_call *call)
{
    return call->data;
}
uint64_t specx_call_seq(const specx_call *call)
{
    return call->msg->seq;
}

/* ---- threads -------------------------------------------------------------- */

static void to_timespec(specx_time_t t, struct timespec *ts)
{
    ts->tv_sec = (time_t)(t / 1000000000);
    ts->tv_nsec = (long)(t % 1000000000);
}

/* Fire every message whose timer is due at `now`; op->mu held. */
static size_t fire_due(specx_operator *op, specx_time_t now)
{
    size_t fired = 0;
    defer d;
    defer_init(&d);
    while (op->heap_n > 0 && op->heap[0]->timer_at <= now) {
        msg *m = op->heap[0];
        heap_remove(op, m);
        evaluate(op, m, now, &d);
        fired++;
        if (d.n > 0) {
            op->active++;
            unlock(op);
            finish(op, &d);
            op->active--;
        }
    }
    maybe_deliver(op);
    defer_fini(&d);
    return fired;
}

static void *timer_main(void *arg)
{
    specx_operator *op = arg;
#ifdef PR_SET_TIMERSLACK
    /* default slack is 50 us; deadlines are what this thread is for */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
    lock(op);
    while (!op->timer_stop) {
        specx_time_t now = specx_time_now();
        if (op->heap_n > 0 && op->heap[0]->timer_at <= now) {
            fire_due(op, now);
            continue;
        }
        op->timer_waiting = true;
        if (op->heap_n == 0) {
            op->timer_sleep_until = SPECX_TIME_NEVER;
            pthread_cond_wait(&op->timer_cv, &op->mu);
        } else {
            struct timespec ts;
            op->timer_sleep_until = op->heap[0]->timer_at;
            to_timespec(op->timer_sleep_until, &ts);
            pthread_cond_timedwait(&op->timer_cv, &op->mu, &ts);
        }
        op->timer_waiting = false;
    }
    unlock(op);
    return NULL;
}

static void *deliver_main(void *arg)
{
    specx_operator *op = arg;
    lock(op);
    for (;;) {
        if (head_ready(op) && !op->delivering) {
            deliver_locked(op);
            continue;
        }
        if (op->deliver_stop) {
            break;
        }
        op->deliver_sleeping = true;
        pthread_cond_wait(&op->deliver_cv, &op->mu);
        op->deliver_sleeping = false;
    }
    unlock(op);
    return NULL;
}

/* ---- create / register ------------------------------------------------------ */

static pthread_cond_t *init_mono_cond(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
    return rc == 0 ? c : NULL;
}

specx_status specx_operator_create(const specx_operator_config *cfg, specx_operator **out,
                                   specx_err *err)
{
    if (cfg == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "operator: config and out are required");
    }
    if (cfg->delivery != SPECX_DELIVER_THREAD && cfg->delivery != SPECX_DELIVER_INLINE) {
        return specx_err_set(err, SPECX_EINVAL, "operator: unknown delivery mode %d",
                             (int)cfg->delivery);
    }
    specx_operator *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "operator: out of memory");
    }
    op->cfg = *cfg;
    op->local = -1;
    op->timer_sleep_until = SPECX_TIME_NEVER;
    pthread_mutex_init(&op->mu, NULL);
    if (!init_mono_cond(&op->cv) || !init_mono_cond(&op->timer_cv) ||
        !init_mono_cond(&op->deliver_cv)) {
        free(op);
        return specx_err_set(err, SPECX_EINTERNAL, "operator: cannot create condition variables");
    }
    specx_hist_init(&op->latency);
    specx_hist_init(&op->hol_wait);
    *out = op;
    return SPECX_OK;
}

static specx_status add_exec(specx_operator *op, const specx_executor_config *cfg, bool is_local,
                             size_t *index, specx_err *err)
{
    if (op == NULL || cfg == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "operator: executor config is required");
    }
    if (cfg->exec.ops == NULL || cfg->exec.ops->start == NULL || cfg->exec.ops->cancel == NULL) {
        return specx_err_set(err, SPECX_EINVAL,
                             "operator: executor '%s' needs ops with start and cancel", cfg->name);
    }
    if (cfg->max_in_flight < 0) {
        return specx_err_set(err, SPECX_EINVAL, "operator: executor '%s': max_in_flight %d < 0",
                             cfg->name, cfg->max_in_flight);
    }
    if (memchr(cfg->name, '\0', SPECX_NAME_MAX) == NULL || cfg->name[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "operator: executor name must be 1..%d characters",
                             SPECX_NAME_MAX - 1);
    }
    lock(op);
    specx_status st = SPECX_OK;
    if (op->frozen) {
        st =
            specx_err_set(err, SPECX_EINVAL,
                          "operator: register executors before the first submit ('%s')", cfg->name);
    } else if (is_local && op->local >= 0) {
        st = specx_err_set(err, SPECX_EINVAL,
                           "operator: a local executor ('%s') is already registered; at most one",
                           op->ex[op->local].cfg.name);
    } else {
        for (size_t i = 0; i < op->n_ex; i++) {
            if (strcmp(op->ex[i].cfg.name, cfg->name) == 0) {
                st = specx_err_set(err, SPECX_EINVAL, "operator: executor name '%s' already used",
                                   cfg->name);
                break;
            }
        }
    }
    if (st == SPECX_OK && op->n_ex == op->cap_ex) {
        size_t ncap = op->cap_ex ? op->cap_ex * 2 : 4;
        exec_entry *nx = realloc(op->ex, ncap * sizeof *nx);
        if (nx == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "operator: out of memory");
        } else {
            op->ex = nx;
            op->cap_ex = ncap;
        }
    }
    if (st == SPECX_OK) {
        exec_entry *e = &op->ex[op->n_ex];
        memset(e, 0, sizeof *e);
        e->cfg = *cfg;
        e->is_local = is_local;
        snprintf(e->st.name, sizeof e->st.name, "%s", cfg->name);
        e->st.priority = cfg->priority;
        e->st.is_local = is_local;
        e->st.max_in_flight = cfg->max_in_flight;
        specx_hist_init(&e->st.latency);
        if (is_local) {
            op->local = (int)op->n_ex;
        }
        if (index != NULL) {
            *index = op->n_ex;
        }
        op->n_ex++;
    }
    unlock(op);
    return st;
}

specx_status specx_operator_add_local(specx_operator *op, const specx_executor_config *cfg,
                                      size_t *index, specx_err *err)
{
    return add_exec(op, cfg, true, index, err);
}

specx_status specx_operator_add_remote(specx_operator *op, const specx_executor_config *cfg,
                                       size_t *index, specx_err *err)
{
    return add_exec(op, cfg, false, index, err);
}

size_t specx_operator_executor_count(const specx_operator *op)
{
    return op->n_ex;
}

const char *specx_operator_executor_name(const specx_operator *op, size_t index)
{
    return index < op->n_ex ? op->ex[index].cfg.name : NULL;
}

/* Freeze the executor set: ranks, start order, threads. op->mu held. */
static specx_status freeze(specx_operator *op)
{
    if (op->frozen) {
        return SPECX_OK;
    }
    if (op->n_ex == 0) {
        return SPECX_EINVAL;
    }
    bool has_remote = op->local < 0 || op->n_ex > 1;
    if (has_remote && op->cfg.plan == NULL) {
        return SPECX_EINVAL;
    }
    op->order = malloc(op->n_ex * sizeof *op->order);
    if (op->order == NULL) {
        return SPECX_ENOMEM;
    }
    /* insertion sort: priority desc, then registration order; local last */
    size_t n = 0;
    for (size_t i = 0; i < op->n_ex; i++) {
        if (op->ex[i].is_local) {
            continue;
        }
        size_t j = n++;
        while (j > 0 && op->ex[op->order[j - 1]].cfg.priority < op->ex[i].cfg.priority) {
            op->order[j] = op->order[j - 1];
            j--;
        }
        op->order[j] = i;
    }
    if (op->local >= 0) {
        op->order[n++] = (size_t)op->local;
    }
    for (size_t k = 0; k < n; k++) {
        op->ex[op->order[k]].rank = (int)(n - 1 - k);
    }
    if (!op->cfg.manual_timers) {
        if (pthread_create(&op->timer_thr, NULL, timer_main, op) != 0) {
            free(op->order);
            op->order = NULL;
            return SPECX_EINTERNAL;
        }
    }
    if (op->cfg.delivery == SPECX_DELIVER_THREAD) {
        if (pthread_create(&op->deliver_thr, NULL, deliver_main, op) != 0) {
            if (!op->cfg.manual_timers) {
                op->timer_stop = true;
                pthread_cond_signal(&op->timer_cv);
                unlock(op);
                pthread_join(op->timer_thr, NULL);
                lock(op);
                op->timer_stop = false;
            }
            free(op->order);
            op->order = NULL;
            return SPECX_EINTERNAL;
        }
    }
    op->threads_started = true;
    op->frozen = true;
    return SPECX_OK;
}

/* ---- submit / process ----------------------------------------------------- */

static msg *msg_new(specx_operator *op)
{
    size_t n = op->n_ex;
    msg *m = calloc(1, sizeof(msg) + n * sizeof(slot) + n * sizeof(specx_exec_report));
    if (m == NULL) {
        return NULL;
    }
    m->op = op;
    m->slots = (slot *)(m + 1);
    m->reports = (specx_exec_report *)(m->slots + n);
    m->heap_idx = SIZE_MAX;
    m->out.n_exec = n;
    m->out.exec = m->reports;
    m->out.winner = -1;
    for (size_t i = 0; i < n; i++) {
        m->slots[i].call.msg = m;
        m->slots[i].call.exec = (uint32_t)i;
        m->slots[i].deadline = SPECX_TIME_NEVER;
        m->reports[i].latency = -1;
        m->reports[i].deadline = SPECX_TIME_NEVER;
    }
    return m;
}

static specx_status submit_msg(specx_operator *op, void *input, void *user, bool waiter,
                               msg **out_msg, uint64_t *seq)
{
    if (op == NULL) {
        return SPECX_EINVAL;
    }
    lock(op);
    if (op->stopping) {
        unlock(op);
        return SPECX_ESTOPPED;
    }
    specx_status st = freeze(op);
    if (st != SPECX_OK) {
        unlock(op);
        return st;
    }
    msg *m = msg_new(op);
    if (m == NULL) {
        unlock(op);
        return SPECX_ENOMEM;
    }
    /* phase 1: sequence number, arrival, place in line */
    m->seq = op->next_seq++;
    m->arrival = specx_time_now();
    m->input = input;
    m->user = user;
    m->waiter = waiter;
    m->refs = 2; /* the queue's (later the process caller's) + this thread's */
    m->out.seq = m->seq;
    m->out.input = input;
    m->out.user = user;
    m->out.arrival = m->arrival;
    if (op->qtail != NULL) {
        op->qtail->next = m;
    } else {
        op->qhead = m;
    }
    op->qtail = m;
    op->submitted++;
    op->active++;
    if (seq != NULL) {
        *seq = m->seq;
    }
    unlock(op);

    /* phase 2: plans, on this thread, no lock */
    specx_msg_info info = {.seq = m->seq, .arrival = m->arrival, .input = input, .user = user};
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        if (op->ex[i].is_local) {
            s->request = input;
            continue;
        }
        specx_plan p;
        memset(&p, 0, sizeof p);
        op->cfg.plan(op->cfg.plan_user, &info, i, &p);
        if (p.skip) {
            s->sel = SEL_SKIPPED;
            if (p.request_free != NULL) {
                p.request_free(p.request, p.request_free_user);
            }
            continue;
        }
        s->request = p.request;
        s->request_free = p.request_free;
        s->request_free_user = p.request_free_user;
        if (p.deadline_kind != SPECX_DEADLINE_ABSOLUTE &&
            p.deadline_kind != SPECX_DEADLINE_RELATIVE) {
            s->sel = SEL_FAILED;
            s->status = SPECX_EINVAL;
            snprintf(s->errmsg, sizeof s->errmsg, "plan: unknown deadline kind %d",
                     (int)p.deadline_kind);
            continue;
        }
        if (p.deadline_kind == SPECX_DEADLINE_ABSOLUTE) {
            s->deadline = p.deadline;
        } else {
            s->deadline = specx_time_add(m->arrival, p.deadline);
        }
        s->sel = SEL_PENDING; /* tentatively: shed is decided under the lock */
    }

    /* phase 3: reservations (shed), deadlines, timer */
    defer d;
    defer_init(&d);
    lock(op);
    m->state = MSG_LIVE;
    m->deadline = SPECX_TIME_NEVER;
    specx_time_t latest = INT64_MIN;
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        exec_entry *e = &op->ex[i];
        if (s->sel == SEL_SKIPPED) {
            e->st.skipped++;
            continue;
        }
        if (s->sel == SEL_FAILED) {
            e->st.failed++;
            if (s->request_free != NULL) {
                defer_push(&d, (ditem){.kind = D_REQ_FREE,
                                       .p = s->request,
                                       .fn = s->request_free,
                                       .user = s->request_free_user});
                s->request_free = NULL;
            }
            continue;
        }
        if (op->stopping ||
            (e->cfg.max_in_flight > 0 && e->in_flight >= (uint64_t)e->cfg.max_in_flight)) {
            if (op->stopping) {
                s->sel = SEL_UNSTARTED;
                e->st.cancelled++;
            } else {
                s->sel = SEL_SHED; /* rule 7 */
                e->st.shed++;
            }
            if (s->request_free != NULL) {
                defer_push(&d, (ditem){.kind = D_REQ_FREE,
                                       .p = s->request,
                                       .fn = s->request_free,
                                       .user = s->request_free_user});
                s->request_free = NULL;
            }
            continue;
        }
        s->sel = SEL_PENDING;
        s->cstate = CALL_RESERVED;
        e->in_flight++;
        op->total_in_flight++;
        if (!e->is_local && s->deadline > latest) {
            latest = s->deadline;
        }
    }
    if (latest != INT64_MIN) {
        m->deadline = latest;
    }
    m->out.deadline = m->deadline;
    if (op->stopping) {
        decide(op, m, -1, SPECX_ESTOPPED, specx_time_now(), &d);
    } else {
        evaluate(op, m, specx_time_now(), &d); /* arms the timer; decides if nothing planned */
    }

    /* phase 4: start calls, most preferred first; skip those decided away */
    for (size_t k = 0; k < op->n_ex; k++) {
        size_t i = op->order[k];
        slot *s = &m->slots[i];
        if (d.n > 0) {
            unlock(op);
            run_defers(op, &d); /* e.g. frees after a decision; relocks */
        }
        if (s->cstate != CALL_RESERVED) {
            continue;
        }
        exec_entry *e = &op->ex[i];
        s->cstate = CALL_STARTING;
        m->refs++; /* the call's */
        e->st.sent++;
        s->started = specx_time_now();
        unlock(op);
        specx_operator *prev = tls_in_exec;
        tls_in_exec = op;
        specx_status sst =
            e->cfg.exec.ops->start(e->cfg.exec.ctx, &s->call, s->request, s->deadline);
        tls_in_exec = prev;
        lock(op);
        if (sst != SPECX_OK) {
            /* never completed: the executor failed for this message */
            s->cstate = CALL_DONE;
            s->status = sst;
            s->completed = specx_time_now();
            snprintf(s->errmsg, sizeof s->errmsg, "start failed: %s", specx_strerror(sst));
            e->in_flight--;
            op->total_in_flight--;
            if (s->request_free != NULL) {
                defer_push(&d, (ditem){.kind = D_REQ_FREE,
                                       .p = s->request,
                                       .fn = s->request_free,
                                       .user = s->request_free_user});
                s->request_free = NULL;
            }
            if (m->state == MSG_LIVE) {
                s->sel = SEL_FAILED;
                e->st.failed++;
                evaluate(op, m, s->completed, &d);
            } else {
                e->st.cancelled++;
            }
            m->refs--; /* the call's; never the last: this thread still holds its own */
        } else if (s->cstate == CALL_STARTING) {
            s->cstate = CALL_OUT;
            if (s->cancel_req) {
                s->cancel_req = false;
                s->cancelling = true;
                s->canceller = pthread_self();
                m->refs++;
                op->active++;
                defer_push(&d, (ditem){.kind = D_CANCEL, .exec = (uint32_t)i, .p = &s->call});
            }
        }
        /* else: completed during start(); the completer has released the
         * call's reference (this thread still holds its own) */
    }
    unlock(op);
    finish(op, &d);
    defer_fini(&d);
    if (out_msg != NULL) {
        *out_msg = m;
    }
    if (!waiter) {
        msg_unref(m);
        run_releases(op);
    }
    op->active--;
    if (op->stopping) {
        wake_waiters(op);
    }
    unlock(op);
    return SPECX_OK;
}

specx_status specx_operator_submit(specx_operator *op, void *input, void *user, uint64_t *seq)
{
    return submit_msg(op, input, user, false, NULL, seq);
}

specx_status specx_operator_process(specx_operator *op, void *input, void *user, specx_output **out)
{
    if (op == NULL || out == NULL) {
        return SPECX_EINVAL;
    }
    if (tls_in_output == op || tls_in_exec == op) {
        return SPECX_EINVAL; /* would wait for its own delivery: deadlock */
    }
    msg *m = NULL;
    specx_status st = submit_msg(op, input, user, true, &m, NULL);
    if (st != SPECX_OK) {
        return st;
    }
    lock(op);
    while (m->state != MSG_HANDED) {
        if (op->cfg.delivery == SPECX_DELIVER_INLINE && head_ready(op) && !op->delivering) {
            deliver_locked(op);
            continue;
        }
        cv_wait(op);
    }
    msg_unref(m); /* submit's own reference; the queue's is now the caller's */
    unlock(op);
    *out = &m->out;
    return SPECX_OK;
}

void specx_output_free(specx_operator *op, specx_output *out)
{
    if (op == NULL || out == NULL) {
        return;
    }
    msg *m = msg_of_output(out);
    if (out->result != NULL) {
        free_result(op, out->winner, out->result);
        out->result = NULL;
    }
    lock(op);
    msg_unref(m);
    if (tls_release != NULL) {
        op->active++; /* shutdown waits for the release */
        run_releases(op);
        op->active--;
    }
    if (op->stopping) {
        wake_waiters(op);
    }
    unlock(op);
}

void *specx_output_take_result(specx_output *out)
{
    if (out == NULL) {
        return NULL;
    }
    void *r = out->result;
    out->result = NULL;
    return r;
}

void specx_operator_free_result(specx_operator *op, int exec_index, void *result)
{
    if (op == NULL || result == NULL || exec_index < 0 || (size_t)exec_index >= op->n_ex) {
        return;
    }
    free_result(op, exec_index, result);
}

/* ---- timers (test API) ---------------------------------------------------- */

size_t specx_operator_advance(specx_operator *op, specx_time_t now)
{
    if (op == NULL || !op->cfg.manual_timers) {
        return 0;
    }
    lock(op);
    op->active++;
    size_t n = fire_due(op, now);
    op->active--;
    if (op->stopping) {
        wake_waiters(op);
    }
    unlock(op);
    return n;
}

specx_time_t specx_operator_next_deadline(specx_operator *op)
{
    if (op == NULL) {
        return SPECX_TIME_NEVER;
    }
    lock(op);
    specx_time_t t = op->heap_n > 0 ? op->heap[0]->timer_at : SPECX_TIME_NEVER;
    unlock(op);
    return t;
}

/* ---- shutdown / destroy ----------------------------------------------------- */

void specx_operator_shutdown(specx_operator *op)
{
    if (op == NULL || tls_in_output == op) {
        return; /* from an output callback it would wait for itself */
    }
    lock(op);
    if (op->stopped) {
        unlock(op);
        return;
    }
    op->stopping = true;
    /* Decide every live message now (planning ones decide themselves when
     * their submitter takes the lock again and sees `stopping`). */
    defer d;
    defer_init(&d);
    op->active++;
    /* One message per round keeps the defer list within its inline storage;
     * the scan restarts because the queue may change while unlocked. */
    for (;;) {
        msg *m = op->qhead;
        while (m != NULL && m->state != MSG_LIVE) {
            m = m->next;
        }
        if (m == NULL) {
            break;
        }
        decide_forced(op, m, specx_time_now(), &d);
        unlock(op);
        finish(op, &d);
    }
    defer_fini(&d);
    op->active--;
    /* Wait for quiescence: all delivered, all calls completed, nobody inside. */
    for (;;) {
        if (head_ready(op) && !op->delivering && op->cfg.delivery == SPECX_DELIVER_INLINE) {
            deliver_locked(op);
            continue;
        }
        if (op->qhead == NULL && op->total_in_flight == 0 && op->active == 0 && !op->delivering) {
            break;
        }
        maybe_deliver(op);
        cv_wait(op);
    }
    if (op->threads_started) {
        op->timer_stop = true;
        op->deliver_stop = true;
        pthread_cond_signal(&op->timer_cv);
        pthread_cond_signal(&op->deliver_cv);
        unlock(op);
        if (!op->cfg.manual_timers) {
            pthread_join(op->timer_thr, NULL);
        }
        if (op->cfg.delivery == SPECX_DELIVER_THREAD) {
            pthread_join(op->deliver_thr, NULL);
        }
        lock(op);
        op->threads_started = false;
    }
    op->stopped = true;
    unlock(op);
}

void specx_operator_destroy(specx_operator *op)
{
    if (op == NULL) {
        return;
    }
    specx_operator_shutdown(op);
    for (size_t i = 0; i < op->n_ex; i++) {
        const specx_executor *x = &op->ex[i].cfg.exec;
        if (x->ops->destroy != NULL) {
            x->ops->destroy(x->ctx);
        }
    }
    free(op->ex);
    free(op->order);
    free(op->heap);
    pthread_cond_destroy(&op->cv);
    pthread_cond_destroy(&op->timer_cv);
    pthread_cond_destroy(&op->deliver_cv);
    pthread_mutex_destroy(&op->mu);
    free(op);
}

/* ---- statistics snapshot ---------------------------------------------------- */

specx_status specx_operator_stats_snapshot(specx_operator *op, specx_operator_stats **out)
{
    if (op == NULL || out == NULL) {
        return SPECX_EINVAL;
    }
    lock(op);
    size_t n = op->n_ex;
    specx_operator_stats *s = malloc(sizeof *s + n * sizeof(specx_exec_stats));
    if (s == NULL) {
        unlock(op);
        return SPECX_ENOMEM;
    }
    s->taken = specx_time_now();
    s->submitted = op->submitted;
    s->outputs = op->outputs;
    s->pending = op->submitted - op->outputs;
    s->remote_wins = op->remote_wins;
    s->local_wins = op->local_wins;
    s->no_results = op->no_results;
    s->fallbacks = op->fallbacks;
    s->late_accepted = op->late_accepted;
    s->after_deadline = op->after_deadline;
    s->latency = op->latency;
    s->hol_wait = op->hol_wait;
    s->n_exec = n;
    s->exec = (specx_exec_stats *)(s + 1);
    for (size_t i = 0; i < n; i++) {
        s->exec[i] = op->ex[i].st;
        s->exec[i].in_flight = op->ex[i].in_flight;
    }
    unlock(op);
    *out = s;
    return SPECX_OK;
}
