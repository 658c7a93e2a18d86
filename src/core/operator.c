/* operator.c — the speculative operator's public surface: create, register
 * executors, accessors, shutdown, destroy and the statistics snapshot
 * (DESIGN.md §2). The message path lives in operator_submit.c,
 * operator_select.c, operator_deliver.c, operator_timer.c and
 * operator_defer.c; their shared state, lock order and invariants are in
 * core/operator_internal.h.
 *
 * Design notes
 *  - The executor set is open until the first submit, which freezes it
 *    (ranks and start order computed once) and starts the threads: one timer
 *    thread (none with manual timers, core/virtual_time.h) and, in
 *    SPECX_DELIVER_THREAD mode, one delivery thread. From then on the set is
 *    read without the lock.
 *  - Shutdown decides every live message at once, then waits on op->cv for
 *    quiescence: all delivered, all calls completed, no thread inside
 *    (op->active), nobody delivering; only then are the threads joined. */
#include "specx/operator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/operator_internal.h"

_Thread_local specx_operator *sx_op_tls_in_exec;
_Thread_local specx_operator *sx_op_tls_in_callback;

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
    sx_heap_init(&op->timers);
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

/* The checks that need no operator state. */
static specx_status check_exec_config(const specx_executor_config *cfg, specx_err *err)
{
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
    return SPECX_OK;
}

/* op->mu held: whether cfg may join the registered set now. */
static specx_status check_registrable(specx_operator *op, const specx_executor_config *cfg,
                                      bool is_local, specx_err *err)
{
    if (op->frozen) {
        return specx_err_set(err, SPECX_EINVAL,
                             "operator: register executors before the first submit ('%s')",
                             cfg->name);
    }
    if (is_local && op->local >= 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "operator: a local executor ('%s') is already registered; at most one",
                             op->ex[op->local].cfg.name);
    }
    for (size_t i = 0; i < op->n_ex; i++) {
        if (strcmp(op->ex[i].cfg.name, cfg->name) == 0) {
            return specx_err_set(err, SPECX_EINVAL, "operator: executor name '%s' already used",
                                 cfg->name);
        }
    }
    if (op->n_ex == op->cap_ex) {
        size_t ncap = op->cap_ex ? op->cap_ex * 2 : 4;
        exec_entry *nx = realloc(op->ex, ncap * sizeof *nx);
        if (nx == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "operator: out of memory");
        }
        op->ex = nx;
        op->cap_ex = ncap;
    }
    return SPECX_OK;
}

static specx_status add_exec(specx_operator *op, const specx_executor_config *cfg, bool is_local,
                             size_t *index, specx_err *err)
{
    if (op == NULL || cfg == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "operator: executor config is required");
    }
    specx_status st = check_exec_config(cfg, err);
    if (st != SPECX_OK) {
        return st;
    }
    /* the name handed out by specx_operator_executor_name: its own
     * allocation, so it does not move when the table grows */
    char *name = strdup(cfg->name);
    if (name == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "operator: out of memory");
    }
    sx_op_lock(op);
    st = check_registrable(op, cfg, is_local, err);
    if (st != SPECX_OK) {
        free(name);
    } else {
        exec_entry *e = &op->ex[op->n_ex];
        memset(e, 0, sizeof *e);
        e->cfg = *cfg;
        e->name = name;
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
    sx_op_unlock(op);
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

/* The accessors take a const operator but must lock it: the mutex is the one
 * part of it that reading changes. */
static specx_operator *lockable(const specx_operator *op)
{
    return (specx_operator *)op;
}

size_t specx_operator_executor_count(const specx_operator *op)
{
    if (op == NULL) {
        return 0;
    }
    sx_op_lock(lockable(op));
    size_t n = op->n_ex;
    sx_op_unlock(lockable(op));
    return n;
}

const char *specx_operator_executor_name(const specx_operator *op, size_t index)
{
    if (op == NULL) {
        return NULL;
    }
    sx_op_lock(lockable(op));
    const char *name = index < op->n_ex ? op->ex[index].name : NULL;
    sx_op_unlock(lockable(op));
    return name;
}

/* ---- freeze: start order, ranks, threads ------------------------------------ */

/* op->order = executor indices by priority desc, then registration order,
 * local last; rank = position from the end (local 0). */
static void rank_executors(specx_operator *op)
{
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
}

/* op->mu held (dropped to join the timer thread on failure). */
static specx_status start_threads(specx_operator *op)
{
    if (!op->manual_timers) {
        if (pthread_create(&op->timer_thr, NULL, sx_op_timer_main, op) != 0) {
            return SPECX_EINTERNAL;
        }
    }
    if (op->cfg.delivery == SPECX_DELIVER_THREAD) {
        if (pthread_create(&op->deliver_thr, NULL, sx_op_deliver_main, op) != 0) {
            if (!op->manual_timers) {
                op->timer_stop = true;
                pthread_cond_signal(&op->timer_cv);
                sx_op_unlock(op);
                pthread_join(op->timer_thr, NULL);
                sx_op_lock(op);
                op->timer_stop = false;
            }
            return SPECX_EINTERNAL;
        }
    }
    return SPECX_OK;
}

specx_status sx_op_freeze(specx_operator *op)
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
    rank_executors(op);
    if (start_threads(op) != SPECX_OK) {
        free(op->order);
        op->order = NULL;
        return SPECX_EINTERNAL;
    }
    op->threads_started = true;
    op->frozen = true;
    return SPECX_OK;
}

void sx_op_free_result(specx_operator *op, int exec, void *result)
{
    const specx_executor *x = &op->ex[exec].cfg.exec;
    if (x->ops->free_result != NULL) {
        x->ops->free_result(x->ctx, result);
    } else {
        free(result);
    }
}

void specx_operator_free_result(specx_operator *op, int exec_index, void *result)
{
    if (op == NULL || result == NULL || exec_index < 0 || (size_t)exec_index >= op->n_ex) {
        return;
    }
    sx_op_free_result(op, exec_index, result);
}

/* ---- shutdown / destroy ----------------------------------------------------- */

/* op->mu held (dropped while each decision's deferred work runs): decide
 * every live message now. Planning ones decide themselves when their
 * submitter takes the lock again and sees `stopping`. */
static void decide_all_live(specx_operator *op)
{
    defer d;
    sx_op_defer_init(&d);
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
        sx_op_decide_forced(op, m, specx_time_now(), &d);
        sx_op_unlock(op);
        sx_op_finish(op, &d);
    }
    sx_op_defer_fini(&d);
    op->active--;
}

/* op->mu held: wait for quiescence (all delivered, all calls completed,
 * nobody inside), delivering inline meanwhile when that is the mode. */
static void wait_quiescent(specx_operator *op)
{
    for (;;) {
        if (sx_op_head_ready(op) && !op->delivering && op->cfg.delivery == SPECX_DELIVER_INLINE) {
            sx_op_deliver_locked(op);
            continue;
        }
        if (op->qhead == NULL && op->total_in_flight == 0 && op->active == 0 && !op->delivering) {
            break;
        }
        sx_op_maybe_deliver(op);
        sx_op_cv_wait(op);
    }
}

/* op->mu held (dropped while joining). */
static void join_threads(specx_operator *op)
{
    if (!op->threads_started) {
        return;
    }
    op->timer_stop = true;
    op->deliver_stop = true;
    pthread_cond_signal(&op->timer_cv);
    pthread_cond_signal(&op->deliver_cv);
    sx_op_unlock(op);
    if (!op->manual_timers) {
        pthread_join(op->timer_thr, NULL);
    }
    if (op->cfg.delivery == SPECX_DELIVER_THREAD) {
        pthread_join(op->deliver_thr, NULL);
    }
    sx_op_lock(op);
    op->threads_started = false;
}

void specx_operator_shutdown(specx_operator *op)
{
    if (op == NULL || sx_op_tls_in_callback == op || sx_op_tls_in_exec == op) {
        return; /* from the operator's own calls out it would wait for itself */
    }
    sx_op_lock(op);
    if (op->stopped) {
        sx_op_unlock(op);
        return;
    }
    op->stopping = true;
    decide_all_live(op);
    wait_quiescent(op);
    join_threads(op);
    op->stopped = true;
    sx_op_unlock(op);
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
        free(op->ex[i].name);
    }
    free(op->ex);
    free(op->order);
    sx_heap_fini(&op->timers);
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
    sx_op_lock(op);
    size_t n = op->n_ex;
    specx_operator_stats *s = malloc(sizeof *s + n * sizeof(specx_exec_stats));
    if (s == NULL) {
        sx_op_unlock(op);
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
    sx_op_unlock(op);
    *out = s;
    return SPECX_OK;
}
