/* operator_defer.c — the operator's deferred work: result frees, request
 * frees and cancel() calls collected under op->mu and run after unlocking.
 *
 * Design notes
 *  - Nothing here runs executor or user code with op->mu held; that is the
 *    whole point (see the lock order in core/operator_internal.h).
 *  - A queued cancel holds a message reference and an op->active claim
 *    (dropped under op->mu once the list ran). The cancel handshake with
 *    completions (core/operator_internal.h) is per item and lock-free: a
 *    cancel() starts only if its call has not completed meanwhile, and a
 *    completion waiting for it is woken as soon as it returned, not after
 *    the rest of the list. */
#include <stdlib.h>
#include <string.h>

#include "core/operator_internal.h"

void sx_op_defer_push_slow(defer *d, ditem it)
{
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
    d->v[d->n++] = it;
}

void sx_op_defer_fini_slow(defer *d)
{
    free(d->v);
}

void sx_op_defer_request_free_slow(defer *d, slot *s, msg *hold)
{
    if (hold != NULL) {
        hold->refs++;
    }
    sx_op_defer_push(d, (ditem){.kind = D_REQ_FREE,
                                .p = s->request,
                                .fn = s->request_free,
                                .user = s->request_free_user,
                                .hold = hold});
    s->request_free = NULL;
}

void sx_op_defer_cancel(specx_operator *op, msg *m, size_t i, defer *d)
{
    slot *s = &m->slots[i];
    atomic_store(&s->cx, CX_QUEUED);
    s->canceller = pthread_self();
    m->refs++;
    op->active++;
    sx_op_defer_push(d, (ditem){.kind = D_CANCEL, .exec = (uint32_t)i, .p = &s->call});
}

/* No lock: cancel() of the call, unless it completed since the decision;
 * then wake a completion that waited for this cancel() to return. */
static void run_cancel(specx_operator *op, specx_call *call)
{
    slot *s = &call->msg->slots[call->exec];
    uint8_t cx = CX_QUEUED;
    if (!atomic_compare_exchange_strong(&s->cx, &cx, CX_RUNNING)) {
        return; /* completed first: cancel() must not run after completion */
    }
    const specx_executor *x = &op->ex[call->exec].cfg.exec;
    specx_operator *prev = sx_op_tls_in_exec;
    sx_op_tls_in_exec = op;
    x->ops->cancel(x->ctx, call);
    sx_op_tls_in_exec = prev;
    if (atomic_exchange(&s->cx, CX_NONE) == CX_WAITED) {
        sx_op_lock(op);
        pthread_cond_broadcast(&op->cv);
        sx_op_unlock(op);
    }
}

/* The calls themselves, with op->mu not held. */
static void run_unlocked(specx_operator *op, const defer *d)
{
    for (size_t k = 0; k < d->n; k++) {
        const ditem *it = &d->v[k];
        switch (it->kind) {
        case D_FREE_RESULT:
            sx_op_free_result(op, (int)it->exec, it->p);
            break;
        case D_REQ_FREE:
            it->fn(it->p, it->user);
            break;
        case D_CANCEL:
            run_cancel(op, it->p);
            break;
        default:
            break;
        }
    }
}

/* op->mu held: drop what the items held. */
static void settle_locked(specx_operator *op, const defer *d)
{
    for (size_t k = 0; k < d->n; k++) {
        const ditem *it = &d->v[k];
        if (it->hold != NULL) {
            sx_op_msg_unref(it->hold);
        }
        if (it->kind == D_CANCEL) {
            const specx_call *c = it->p;
            op->active--;
            sx_op_msg_unref(c->msg);
        }
    }
}

void sx_op_run_defers_slow(specx_operator *op, defer *d)
{
    run_unlocked(op, d);
    sx_op_lock(op);
    settle_locked(op, d);
    d->n = 0;
    sx_op_run_releases(op);
    if (op->stopping) {
        sx_op_wake_waiters(op);
    }
}
