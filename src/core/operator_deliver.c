/* operator_deliver.c — the operator's in-order delivery (delivery thread or
 * inline), and message references with input_release.
 *
 * Design notes
 *  - The order queue (op->qhead..qtail) holds messages in seq order; decided
 *    messages at its head are popped in batches by one deliverer at a time
 *    (op->delivering): the delivery thread, or in INLINE mode whichever
 *    thread finds the head ready and is not inside an executor callback of
 *    this operator (sx_op_tls_in_exec).
 *  - A process() message (waiter) ends a batch: it is handed over (state
 *    MSG_HANDED, op->cv broadcast) only after the callbacks before it ran,
 *    and its queue reference passes to the process() caller.
 *  - The last reference of a message with input_release configured puts it
 *    on this thread's release list (sx_op_tls_release); the list runs with op->mu
 *    dropped, before the thread gives up op->active / op->delivering. */
#include <stdlib.h>

#include "core/operator_internal.h"

/* Messages whose last reference this thread dropped, awaiting input_release
 * (linked through msg.next); drained by sx_op_run_releases with op->mu not
 * held. */
_Thread_local struct msg *sx_op_tls_release;

void sx_op_msg_last_ref(msg *m)
{
    if (m->op->cfg.input_release == NULL) {
        free(m);
    } else {
        m->next = sx_op_tls_release;
        sx_op_tls_release = m;
    }
}

/* Run this thread's pending input releases; no operator lock held. */
static void drain_releases(void)
{
    /* pop one at a time: a release may submit, which drains this list too */
    while (sx_op_tls_release != NULL) {
        msg *m = sx_op_tls_release;
        sx_op_tls_release = m->next;
        specx_operator *op = m->op;
        specx_operator *prev = sx_op_tls_in_callback;
        sx_op_tls_in_callback = op; /* no process or shutdown from there */
        op->cfg.input_release(op->cfg.release_user, m->input, m->user);
        sx_op_tls_in_callback = prev;
        free(m);
    }
}

void sx_op_run_releases_slow(specx_operator *op)
{
    sx_op_unlock(op);
    drain_releases();
    sx_op_lock(op);
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

/* op->mu held: pop the ready head of line into a batch (returned, linked
 * through next), stopping after a process() message (*waiter). */
static msg *pop_batch(specx_operator *op, msg **waiter)
{
    msg *first = NULL, **tail = &first;
    *waiter = NULL;
    while (sx_op_head_ready(op)) {
        msg *m = op->qhead;
        op->qhead = m->next;
        if (op->qhead == NULL) {
            op->qtail = NULL;
        }
        m->next = NULL;
        if (m->waiter) {
            *waiter = m; /* handed over after the callbacks before it */
            break;
        }
        *tail = m;
        tail = &m->next;
    }
    return first;
}

/* No lock: the output callbacks of a batch, in order. */
static void run_callbacks(specx_operator *op, msg *first)
{
    for (msg *m = first; m != NULL; m = m->next) {
        specx_output *o = &m->out;
        o->emitted = specx_time_now();
        o->latency = o->emitted - o->arrival;
        if (op->cfg.output != NULL) {
            specx_operator *prev = sx_op_tls_in_callback;
            sx_op_tls_in_callback = op;
            op->cfg.output(op->cfg.output_user, o);
            sx_op_tls_in_callback = prev;
        }
        if (o->result != NULL) {
            sx_op_free_result(op, o->winner, o->result);
            o->result = NULL;
        }
    }
}

/* op->mu held (dropped around the callbacks), op->delivering set: deliver
 * the ready head of line in batches. */
static void deliver_ready(specx_operator *op)
{
    while (sx_op_head_ready(op)) {
        msg *waiter = NULL;
        msg *first = pop_batch(op, &waiter);
        sx_op_unlock(op);
        drain_releases(); /* the previous batch's */
        run_callbacks(op, first);
        sx_op_lock(op);
        while (first != NULL) {
            msg *m = first;
            first = m->next;
            record_output(op, m);
            sx_op_msg_unref(m);
        }
        if (waiter != NULL) {
            waiter->out.emitted = specx_time_now();
            waiter->out.latency = waiter->out.emitted - waiter->out.arrival;
            record_output(op, waiter);
            waiter->state = MSG_HANDED;
            pthread_cond_broadcast(&op->cv);
        }
    }
}

void sx_op_deliver_locked(specx_operator *op)
{
    op->delivering = true;
    do {
        deliver_ready(op);
        /* The releases drop the lock while `delivering` is still set: a
         * head of line decided meanwhile was left to this thread. */
        sx_op_run_releases(op);
    } while (sx_op_head_ready(op));
    op->delivering = false;
    sx_op_wake_waiters(op);
}

void sx_op_maybe_deliver_slow(specx_operator *op)
{
    if (op->cfg.delivery == SPECX_DELIVER_INLINE) {
        if (sx_op_tls_in_exec != op) {
            sx_op_deliver_locked(op);
        }
    } else if (op->deliver_sleeping) {
        pthread_cond_signal(&op->deliver_cv);
    }
}

void *sx_op_deliver_main(void *arg)
{
    specx_operator *op = arg;
    sx_op_lock(op);
    for (;;) {
        if (sx_op_head_ready(op) && !op->delivering) {
            sx_op_deliver_locked(op);
            continue;
        }
        if (op->deliver_stop) {
            break;
        }
        op->deliver_sleeping = true;
        pthread_cond_wait(&op->deliver_cv, &op->mu);
        op->deliver_sleeping = false;
    }
    sx_op_unlock(op);
    return NULL;
}
