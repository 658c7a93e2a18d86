/* operator_select.c — the operator's selection: completions, the rules that
 * decide a message (DESIGN.md §2, operator.h) and the "no result" reason.
 *
 * Design notes
 *  - Everything here runs with op->mu held, except the tail of
 *    specx_call_complete (deferred work, the cancel handshake wait).
 *  - The completion time is read under op->mu, so a completion and the
 *    deadline timer of the same call are totally ordered.
 *  - Any event on a message first expires the deadlines the clock has
 *    passed (sx_op_evaluate), so a late timer thread never makes a late
 *    result count as on time.
 *  - Statistics count each (message, executor) pair once, when its story
 *    ends: at planning (skipped, shed), at a completion before the decision
 *    (failed, late), at the decision (won, outranked, never started), or at
 *    the completion of a call outstanding at the decision (late or
 *    cancelled).
 *  - Cancel vs complete (the handshake on slot.cx, core/operator_internal.h):
 *    a completion withdraws its call's queued cancel() if that has not
 *    started, and waits on op->cv only while a cancel() of the same call
 *    runs on another thread (executor.h: cancel() is never running after
 *    specx_call_complete() returned; a completion never blocks on other
 *    calls' work). A completion from inside that cancel() does not wait. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/operator_internal.h"

/* ---- the "no result" reason ----------------------------------------------- */

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

/* What a "no result" reason found across the executors. */
typedef struct reason_sum {
    specx_status first_failure;
    bool any_shed, any_timeout;
} reason_sum;

/* Append executor i's part of the reason, and note what it says. */
static void reason_for_exec(specx_operator *op, msg *m, size_t i, reason_sum *sum)
{
    const slot *s = &m->slots[i];
    const char *name = op->ex[i].cfg.name;
    switch (s->sel) {
    case SEL_FAILED:
        if (sum->first_failure == SPECX_OK) {
            sum->first_failure = s->status;
        }
        append_reason(m, " %s failed (%s%s%s);", name, specx_status_name(s->status),
                      s->errmsg[0] ? ": " : "", s->errmsg);
        break;
    case SEL_LATE:
    case SEL_EXPIRED:
        sum->any_timeout = true;
        append_reason(m, " %s missed its deadline;", name);
        break;
    case SEL_SHED:
        sum->any_shed = true;
        append_reason(m, " %s shed (in-flight bound);", name);
        break;
    case SEL_SKIPPED:
        append_reason(m, " %s skipped;", name);
        break;
    case SEL_PENDING:
    case SEL_UNSTARTED:
        append_reason(m, " %s cancelled;", name);
        break;
    default:
        break;
    }
}

/* Describe why there is no result and pick the status (see operator.h). */
static specx_status no_result_reason(specx_operator *op, msg *m, specx_status forced)
{
    reason_sum sum = {.first_failure = SPECX_OK};
    m->reason[0] = '\0';
    if (forced == SPECX_ESTOPPED) {
        set_reason(m, "operator shut down before a result;");
    } else if (forced == SPECX_ENOMEM) {
        set_reason(m, "out of memory arming the deadline timer, decided at once;");
    } else if (forced != SPECX_OK) {
        set_reason(m, "no result (%s):", specx_strerror(forced));
    } else {
        set_reason(m, "no result:");
    }
    for (size_t k = 0; k < op->n_ex; k++) {
        reason_for_exec(op, m, op->order[k], &sum);
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
    if (sum.any_timeout) {
        return SPECX_ETIMEDOUT;
    }
    if (sum.first_failure != SPECX_OK) {
        return sum.first_failure;
    }
    if (sum.any_shed) {
        return SPECX_EBUSY;
    }
    return SPECX_EUNAVAILABLE;
}

/* ---- decide --------------------------------------------------------------- */

/* The output's winner fields; the winner's counts. */
static void take_winner(specx_operator *op, msg *m, int winner)
{
    specx_output *o = &m->out;
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
}

/* A call still reserved or outstanding at the decision: drop a reservation
 * (never started: counted cancelled now), or have it cancelled. */
static void stop_outstanding(specx_operator *op, msg *m, size_t i, defer *d)
{
    slot *s = &m->slots[i];
    exec_entry *e = &op->ex[i];
    if (s->cstate == CALL_RESERVED) {
        s->cstate = CALL_NONE;
        s->sel = SEL_UNSTARTED;
        e->in_flight--;
        op->total_in_flight--;
        e->st.cancelled++;
        /* the decider may hold no reference (timer thread): keep the
         * message, so its input outlives this free */
        sx_op_defer_request_free(d, s, m);
    } else if (s->cstate == CALL_STARTING) {
        s->cancel_req = true;
    } else if (s->cstate == CALL_OUT) {
        sx_op_defer_cancel(op, m, i, d);
    }
}

/* Executor i's report in the output, its final fate, what follows from it. */
static void settle_slot(specx_operator *op, msg *m, size_t i, int winner, defer *d)
{
    slot *s = &m->slots[i];
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
            op->ex[i].st.outranked++;
            if (s->result != NULL) {
                sx_op_defer_push(
                    d, (ditem){.kind = D_FREE_RESULT, .exec = (uint32_t)i, .p = s->result});
                s->result = NULL;
            }
        }
        break;
    case SEL_PENDING:
    case SEL_EXPIRED:
        r->fate = s->sel == SEL_EXPIRED ? SPECX_FATE_PENDING_CANCELLED : SPECX_FATE_CANCELLED;
        stop_outstanding(op, m, i, d);
        break;
    default:
        r->fate = SPECX_FATE_NONE;
        break;
    }
}

void sx_op_decide(specx_operator *op, msg *m, int winner, specx_status forced, specx_time_t now,
                  defer *d)
{
    specx_output *o = &m->out;
    sx_op_timer_disarm(op, m);
    m->state = MSG_DECIDED;
    o->decided = now;
    o->winner = winner;
    o->status = SPECX_OK;
    o->reason = NULL;
    if (winner >= 0) {
        take_winner(op, m, winner);
    } else {
        o->status = no_result_reason(op, m, forced);
        o->reason = m->reason;
        op->no_results++;
    }
    for (size_t i = 0; i < op->n_ex; i++) {
        settle_slot(op, m, i, winner, d);
    }
}

/* Rule 9: whether m's local result is in, so that calls planned with
 * emit_local_early no longer count as pending. */
static bool local_result_held(const specx_operator *op, const msg *m)
{
    return op->local >= 0 && m->slots[op->local].sel == SEL_HELD;
}

void sx_op_evaluate(specx_operator *op, msg *m, specx_time_t now, defer *d)
{
    if (m->state != MSG_LIVE) {
        return;
    }
    bool local_in = local_result_held(op, m);
    int best_held = -1, best_held_rank = -1, best_pending_rank = -1;
    specx_time_t next = SPECX_TIME_NEVER;
    for (size_t i = 0; i < op->n_ex; i++) {
        slot *s = &m->slots[i];
        int rank = op->ex[i].rank;
        if (s->sel == SEL_PENDING) {
            bool live = s->deadline > now || s->deadline == SPECX_TIME_NEVER;
            if (!live && s->cstate != CALL_RESERVED) {
                s->sel = SEL_EXPIRED; /* rule 3: no longer pending */
                continue;
            }
            /* else if !live: not sent yet, its deadline already past (from
             * the plan): it is still sent, and expires once started, not
             * here (no timer either) */
            if (local_in && s->emit_local_early) {
                continue; /* rule 9: not waited for; cancelled at the decision */
            }
            if (live && s->deadline < next) {
                next = s->deadline;
            }
            if (rank > best_pending_rank) {
                best_pending_rank = rank;
            }
        } else if (s->sel == SEL_HELD && rank > best_held_rank) {
            best_held_rank = rank;
            best_held = (int)i;
        }
    }
    if (best_held >= 0 && best_held_rank > best_pending_rank) {
        sx_op_decide(op, m, best_held, SPECX_OK, now, d); /* rules 1, 2, 3 */
    } else if (best_held < 0 && best_pending_rank < 0) {
        sx_op_decide(op, m, -1, SPECX_OK, now, d); /* rule 5: nothing can come */
    } else if (!sx_op_timer_arm(op, m, next)) {
        sx_op_decide(op, m, best_held, best_held >= 0 ? SPECX_OK : SPECX_ENOMEM, now, d);
    }
}

void sx_op_decide_forced(specx_operator *op, msg *m, specx_time_t now, defer *d)
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
    sx_op_decide(op, m, best, best >= 0 ? SPECX_OK : SPECX_ESTOPPED, now, d);
}

/* ---- completion ----------------------------------------------------------- */

/* An undecided message's call completed: the slot's new selection state
 * (rules 1, 2, 4). Returns the result when the slot does not keep it. */
static void *select_completion(specx_operator *op, msg *m, slot *s, exec_entry *e,
                               specx_status status, void *result, bool on_time, bool missed)
{
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
        if (op->cfg.accept_late_while_no_local && loc >= 0 && m->slots[loc].sel == SEL_PENDING) {
            s->sel = SEL_HELD; /* rule 4 option */
            s->late_accepted = true;
            s->result = result;
            result = NULL;
        } else {
            s->sel = SEL_LATE; /* rule 4 */
            e->st.late++;
        }
    }
    return result;
}

/* op->mu held: the call is over; its bookkeeping, before any selection. */
static void record_completion(specx_operator *op, slot *s, exec_entry *e, specx_status status,
                              const char *errmsg, specx_time_t now)
{
    s->completed = now;
    s->status = status;
    if (status != SPECX_OK && errmsg != NULL) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", errmsg);
    }
    s->cstate = CALL_DONE;
    /* A cancel() queued but not started will not be: the call is over.
     * CX_QUEUED is only ever stored under op->mu (held here) and never comes
     * back, so a plain load spares the common case the atomic exchange. */
    uint8_t queued = CX_QUEUED;
    if (atomic_load_explicit(&s->cx, memory_order_relaxed) == CX_QUEUED) {
        atomic_compare_exchange_strong(&s->cx, &queued, CX_NONE);
    }
    e->in_flight--;
    op->total_in_flight--;
    e->st.completed++;
    if (status == SPECX_OK) {
        specx_hist_record(&e->st.latency, now - s->started);
    }
}

/* op->mu held: wait while a cancel() of this call runs on another thread
 * (executor.h: cancel() is never running after complete() returned). */
static void wait_own_cancel(specx_operator *op, slot *s)
{
    for (;;) {
        uint8_t cx = atomic_load(&s->cx);
        if ((cx != CX_RUNNING && cx != CX_WAITED) || pthread_equal(s->canceller, pthread_self())) {
            return;
        }
        /* ask the canceller to wake us; it broadcasts under op->mu, so it
         * cannot do so before this thread waits */
        if (cx == CX_WAITED || atomic_compare_exchange_strong(&s->cx, &cx, CX_WAITED)) {
            sx_op_cv_wait(op);
        }
    }
}

void specx_call_complete(specx_call *call, specx_status status, void *result, const char *errmsg)
{
    msg *m = call->msg;
    specx_operator *op = m->op;
    slot *s = &m->slots[call->exec];
    exec_entry *e = &op->ex[call->exec];
    defer d;
    sx_op_defer_init(&d);

    sx_op_lock(op);
    specx_time_t now = specx_time_now();
    op->active++;
    record_completion(op, s, e, status, errmsg, now);
    bool on_time = s->deadline == SPECX_TIME_NEVER || now < s->deadline;
    /* A remote executor carries the deadline on the wire, so slowness comes
     * back as ETIMEDOUT at the deadline: that is a missed deadline (late),
     * not a broken executor (failed). */
    bool missed = !on_time && (status == SPECX_OK || status == SPECX_ETIMEDOUT);
    if (m->state == MSG_LIVE) {
        result = select_completion(op, m, s, e, status, result, on_time, missed);
        sx_op_evaluate(op, m, now, &d);
    } else if (missed) {
        e->st.late++; /* completed after emission, past its deadline */
    } else {
        e->st.cancelled++; /* completed after emission, not late */
    }
    if (result != NULL) {
        sx_op_defer_push(&d, (ditem){.kind = D_FREE_RESULT, .exec = call->exec, .p = result});
    }
    sx_op_defer_request_free(&d, s, NULL);
    sx_op_unlock(op);

    sx_op_finish(op, &d);
    wait_own_cancel(op, s);
    sx_op_msg_unref(m); /* the call's reference */
    sx_op_run_releases(op);
    op->active--;
    if (op->stopping) {
        sx_op_wake_waiters(op);
    }
    sx_op_unlock(op);
    sx_op_defer_fini(&d);
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
