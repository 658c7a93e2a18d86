/* operator_submit.c — the operator's way in: submit and process, a message's
 * planning, its in-flight reservations, and starting its calls.
 *
 * Design notes
 *  - A submit runs in four phases: (1) under op->mu, a sequence number, the
 *    arrival time and a place in the order queue; (2) with no lock, the plan
 *    callback once per remote executor; (3) under op->mu, reservations
 *    against max_in_flight (else shed), the message deadline and a first
 *    evaluation (which arms the timer, or decides at once); (4) the calls
 *    started most preferred first, op->mu dropped around each start(), and
 *    deferred work run between starts.
 *  - A call not started yet when its message is decided (e.g. a more
 *    preferred executor completed inside its start()) is never started: the
 *    decision drops its reservation (CALL_RESERVED -> CALL_NONE).
 *  - Decided while its start() runs (CALL_STARTING), a call is cancelled
 *    right after start() returns (cancel_req).
 *  - A reserved call whose deadline is already past (the plan gave one, or
 *    earlier start()s took that long) is still sent (operator.h): it stays
 *    pending until started, without a timer, and the evaluation after its
 *    start() expires it.
 *  - The submitting thread holds a message reference and an op->active
 *    claim until submit returns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/operator_internal.h"

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
    sx_heap_node_init(&m->timer);
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

/* Phase 1, op->mu held: sequence number, arrival, place in line. */
static void enqueue(specx_operator *op, msg *m, void *input, void *user, bool waiter)
{
    m->seq = op->next_seq++;
    m->timer.seq = m->seq;
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
}

/* Phase 2, no lock: executor i's plan (the local executor gets the input). */
static void plan_one(specx_operator *op, msg *m, const specx_msg_info *info, size_t i)
{
    slot *s = &m->slots[i];
    if (op->ex[i].is_local) {
        s->request = m->input;
        return;
    }
    specx_plan p;
    memset(&p, 0, sizeof p);
    op->cfg.plan(op->cfg.plan_user, info, i, &p);
    if (p.skip) {
        s->sel = SEL_SKIPPED;
        if (p.request_free != NULL) {
            p.request_free(p.request, p.request_free_user);
        }
        return;
    }
    s->request = p.request;
    s->request_free = p.request_free;
    s->request_free_user = p.request_free_user;
    s->emit_local_early = p.emit_local_early;
    if (p.deadline_kind != SPECX_DEADLINE_ABSOLUTE && p.deadline_kind != SPECX_DEADLINE_RELATIVE) {
        s->sel = SEL_FAILED;
        s->status = SPECX_EINVAL;
        snprintf(s->errmsg, sizeof s->errmsg, "plan: unknown deadline kind %d",
                 (int)p.deadline_kind);
        return;
    }
    if (p.deadline_kind == SPECX_DEADLINE_ABSOLUTE) {
        s->deadline = p.deadline;
    } else {
        s->deadline = specx_time_add(m->arrival, p.deadline);
    }
    s->sel = SEL_PENDING; /* tentatively: shed is decided under the lock */
}

/* Phase 3, op->mu held: reserve executor i's in-flight slot, or count why
 * there is no call (skipped, failed plan, shed, stopping). */
static void reserve_one(specx_operator *op, msg *m, size_t i, defer *d)
{
    slot *s = &m->slots[i];
    exec_entry *e = &op->ex[i];
    if (s->sel == SEL_SKIPPED) {
        e->st.skipped++;
        return;
    }
    if (s->sel == SEL_FAILED) {
        e->st.failed++;
        sx_op_defer_request_free(d, s, NULL);
        return;
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
        sx_op_defer_request_free(d, s, NULL);
        return;
    }
    s->sel = SEL_PENDING;
    s->cstate = CALL_RESERVED;
    e->in_flight++;
    op->total_in_flight++;
}

/* Phase 3, op->mu held: reservations, the message deadline (the latest of its
 * reserved remote calls), then the first evaluation. */
static void reserve_calls(specx_operator *op, msg *m, defer *d)
{
    m->state = MSG_LIVE;
    m->deadline = SPECX_TIME_NEVER;
    specx_time_t latest = INT64_MIN;
    for (size_t i = 0; i < op->n_ex; i++) {
        reserve_one(op, m, i, d);
        const slot *s = &m->slots[i];
        if (s->cstate == CALL_RESERVED && !op->ex[i].is_local && s->deadline > latest) {
            latest = s->deadline;
        }
    }
    if (latest != INT64_MIN) {
        m->deadline = latest;
    }
    m->out.deadline = m->deadline;
    if (op->stopping) {
        sx_op_decide(op, m, -1, SPECX_ESTOPPED, specx_time_now(), d);
    } else {
        sx_op_evaluate(op, m, specx_time_now(), d); /* arms the timer; decides if nothing planned */
    }
}

/* op->mu held: start() of executor i returned an error. The call never
 * completes: the executor failed for this message. */
static void start_failed(specx_operator *op, msg *m, size_t i, specx_status sst, defer *d)
{
    slot *s = &m->slots[i];
    exec_entry *e = &op->ex[i];
    s->cstate = CALL_DONE;
    s->status = sst;
    s->completed = specx_time_now();
    snprintf(s->errmsg, sizeof s->errmsg, "start failed: %s", specx_strerror(sst));
    e->in_flight--;
    op->total_in_flight--;
    sx_op_defer_request_free(d, s, NULL);
    if (m->state == MSG_LIVE) {
        s->sel = SEL_FAILED;
        e->st.failed++;
        sx_op_evaluate(op, m, s->completed, d);
    } else {
        e->st.cancelled++;
    }
    m->refs--; /* the call's; never the last: this thread still holds its own */
}

/* op->mu held (dropped around start()): start executor i's reserved call. */
static void start_one(specx_operator *op, msg *m, size_t i, defer *d)
{
    slot *s = &m->slots[i];
    exec_entry *e = &op->ex[i];
    s->cstate = CALL_STARTING;
    m->refs++; /* the call's */
    e->st.sent++;
    s->started = specx_time_now();
    sx_op_unlock(op);
    specx_operator *prev = sx_op_tls_in_exec;
    sx_op_tls_in_exec = op;
    specx_status sst = e->cfg.exec.ops->start(e->cfg.exec.ctx, &s->call, s->request, s->deadline);
    sx_op_tls_in_exec = prev;
    sx_op_lock(op);
    if (sst != SPECX_OK) {
        start_failed(op, m, i, sst, d);
    } else if (s->cstate == CALL_STARTING) {
        s->cstate = CALL_OUT;
        if (s->cancel_req) {
            s->cancel_req = false;
            sx_op_defer_cancel(op, m, i, d);
        } else if (s->deadline <= s->started) {
            /* sent with its deadline already past: it expires now */
            sx_op_evaluate(op, m, specx_time_now(), d);
        }
    }
    /* else: completed during start(); the completer has released the call's
     * reference (this thread still holds its own) */
}

/* Phase 4, op->mu held: start calls, most preferred first; skip those
 * decided away. */
static void start_calls(specx_operator *op, msg *m, defer *d)
{
    for (size_t k = 0; k < op->n_ex; k++) {
        size_t i = op->order[k];
        if (d->n > 0) {
            sx_op_unlock(op);
            sx_op_run_defers(op, d); /* e.g. frees after a decision; relocks */
        }
        if (m->slots[i].cstate == CALL_RESERVED) {
            start_one(op, m, i, d);
        }
    }
}

static specx_status submit_msg(specx_operator *op, void *input, void *user, bool waiter,
                               msg **out_msg, uint64_t *seq)
{
    if (op == NULL) {
        return SPECX_EINVAL;
    }
    sx_op_lock(op);
    if (op->stopping) {
        sx_op_unlock(op);
        return SPECX_ESTOPPED;
    }
    specx_status st = sx_op_freeze(op);
    if (st != SPECX_OK) {
        sx_op_unlock(op);
        return st;
    }
    msg *m = msg_new(op);
    if (m == NULL) {
        sx_op_unlock(op);
        return SPECX_ENOMEM;
    }
    enqueue(op, m, input, user, waiter);
    if (seq != NULL) {
        *seq = m->seq;
    }
    sx_op_unlock(op);

    specx_msg_info info = {.seq = m->seq, .arrival = m->arrival, .input = input, .user = user};
    specx_operator *prev = sx_op_tls_in_exec;
    sx_op_tls_in_exec = op; /* plan: no process or shutdown from there */
    for (size_t i = 0; i < op->n_ex; i++) {
        plan_one(op, m, &info, i);
    }
    sx_op_tls_in_exec = prev;

    defer d;
    sx_op_defer_init(&d);
    sx_op_lock(op);
    reserve_calls(op, m, &d);
    start_calls(op, m, &d);
    sx_op_unlock(op);
    sx_op_finish(op, &d);
    sx_op_defer_fini(&d);
    if (out_msg != NULL) {
        *out_msg = m;
    }
    if (!waiter) {
        sx_op_msg_unref(m);
        sx_op_run_releases(op);
    }
    op->active--;
    if (op->stopping) {
        sx_op_wake_waiters(op);
    }
    sx_op_unlock(op);
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
    if (sx_op_tls_in_callback == op || sx_op_tls_in_exec == op) {
        return SPECX_EINVAL; /* would wait for this thread: deadlock */
    }
    msg *m = NULL;
    specx_status st = submit_msg(op, input, user, true, &m, NULL);
    if (st != SPECX_OK) {
        return st;
    }
    sx_op_lock(op);
    while (m->state != MSG_HANDED) {
        if (op->cfg.delivery == SPECX_DELIVER_INLINE && sx_op_head_ready(op) && !op->delivering) {
            sx_op_deliver_locked(op);
            continue;
        }
        sx_op_cv_wait(op);
    }
    sx_op_msg_unref(m); /* submit's own reference; the queue's is now the caller's */
    sx_op_unlock(op);
    *out = &m->out;
    return SPECX_OK;
}

static msg *msg_of_output(specx_output *out)
{
    return SX_CONTAINER_OF(out, msg, out);
}

void specx_output_free(specx_operator *op, specx_output *out)
{
    if (op == NULL || out == NULL) {
        return;
    }
    msg *m = msg_of_output(out);
    if (out->result != NULL) {
        sx_op_free_result(op, out->winner, out->result);
        out->result = NULL;
    }
    sx_op_lock(op);
    sx_op_msg_unref(m);
    if (sx_op_releases_pending()) {
        op->active++; /* shutdown waits for the release */
        sx_op_run_releases(op);
        op->active--;
    }
    if (op->stopping) {
        sx_op_wake_waiters(op);
    }
    sx_op_unlock(op);
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
