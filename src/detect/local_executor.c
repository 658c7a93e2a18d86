/* local_executor.c — detectors on worker threads behind the executor
 * interface, fed from one bounded queue.
 *
 * Design notes:
 *  - One lock (lx->mu) guards the queue, each worker's `current` job, the
 *    stopping flag and the counters. specx_call_complete() is never called
 *    with it held: a job is unlinked under the lock, then completed outside.
 *  - cancel() never dereferences executor state outside the lock, and finds
 *    its job by call pointer in the queue or in a worker's `current`. A job
 *    leaves both before its completion, so a cancel that races completion
 *    finds nothing and is a no-op; the job's memory is freed by whoever
 *    unlinked it, after completing it.
 *  - Cancellation of a running job sets its atomic flag; the detector checks
 *    it at its checkpoints (between layers for darknet).
 *  - Workers wait on a condition variable (CLOCK_MONOTONIC); no polling. */
#include "specx/local_executor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/detection.h"
#include "specx/time.h"

typedef struct job {
    specx_call *call;
    const specx_image *img;
    specx_time_t deadline;
    atomic_bool cancel;
    struct job *next;
} job;

typedef struct lx lx;

typedef struct worker {
    lx *owner;
    int index;
    pthread_t thread;
    bool thread_started;
    specx_detector *det;
    job *current; /* guarded by owner->mu */
} worker;

struct lx {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t queued;
    int depth; /* < 0: unbounded */
    specx_local_queue_policy policy;
    bool stopping;
    size_t n_workers;
    worker *workers;
    specx_local_executor_stats stats;
};

static void finish(job *j, specx_status st, void *result, const char *msg)
{
    specx_call_complete(j->call, st, result, msg);
    free(j);
}

static job *queue_pop(lx *x)
{
    job *j = x->head;
    if (j != NULL) {
        x->head = j->next;
        if (x->head == NULL) {
            x->tail = NULL;
        }
        x->queued--;
        j->next = NULL;
    }
    return j;
}

static void queue_push(lx *x, job *j)
{
    j->next = NULL;
    if (x->tail != NULL) {
        x->tail->next = j;
    } else {
        x->head = j;
    }
    x->tail = j;
    x->queued++;
}

static job *queue_remove(lx *x, const specx_call *call)
{
    job *prev = NULL;
    for (job *j = x->head; j != NULL; prev = j, j = j->next) {
        if (j->call == call) {
            if (prev != NULL) {
                prev->next = j->next;
            } else {
                x->head = j->next;
            }
            if (x->tail == j) {
                x->tail = prev;
            }
            x->queued--;
            j->next = NULL;
            return j;
        }
    }
    return NULL;
}

static void run_job(worker *w, job *j)
{
    lx *x = w->owner;
    specx_status st;
    specx_detections *res = NULL;
    specx_err err = {{0}};
    if (j->deadline != SPECX_TIME_NEVER && specx_time_now() >= j->deadline) {
        st = specx_err_set(&err, SPECX_ETIMEDOUT, "deadline passed while queued");
    } else if (atomic_load(&j->cancel)) {
        st = specx_err_set(&err, SPECX_ECANCELED, "cancelled");
    } else if ((res = specx_detections_create()) == NULL) {
        st = specx_err_set(&err, SPECX_ENOMEM, "out of memory for detections");
    } else {
        st = specx_detector_detect(w->det, j->img, &j->cancel, res, &err);
        /* A result the caller no longer wants is reported as cancelled even if
         * the detector finished before it looked at the flag. */
        if (st == SPECX_OK && atomic_load(&j->cancel)) {
            st = specx_err_set(&err, SPECX_ECANCELED, "cancelled");
        }
    }
    if (st != SPECX_OK) {
        specx_detections_destroy(res);
        res = NULL;
    }
    pthread_mutex_lock(&x->mu);
    w->current = NULL;
    x->stats.running--;
    switch (st) {
    case SPECX_OK:
        x->stats.completed++;
        break;
    case SPECX_ECANCELED:
        x->stats.cancelled++;
        break;
    case SPECX_ETIMEDOUT:
        x->stats.timed_out++;
        break;
    default:
        x->stats.failed++;
        break;
    }
    pthread_mutex_unlock(&x->mu);
    finish(j, st, res, st == SPECX_OK ? NULL : specx_err_text(&err, st));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    lx *x = w->owner;
    char name[16];
    snprintf(name, sizeof name, "specx-local%d", w->index);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (x->head == NULL && !x->stopping) {
            pthread_cond_wait(&x->cv, &x->mu);
        }
        if (x->stopping) {
            break; /* queued jobs are completed by destroy */
        }
        job *j = queue_pop(x);
        w->current = j;
        x->stats.running++;
        pthread_mutex_unlock(&x->mu);
        run_job(w, j);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static specx_status lx_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    lx *x = ctx;
    if (call == NULL || request == NULL) {
        return SPECX_EINVAL;
    }
    job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        return SPECX_ENOMEM;
    }
    j->call = call;
    j->img = request;
    j->deadline = deadline;
    atomic_init(&j->cancel, false);
    job *victim = NULL;
    pthread_mutex_lock(&x->mu);
    if (x->stopping) {
        pthread_mutex_unlock(&x->mu);
        free(j);
        return SPECX_ESTOPPED;
    }
    /* Jobs that an idle worker is about to pick up do not count against the
     * bound: the queue is full when depth jobs would still wait after every
     * idle worker took one. */
    size_t idle = x->n_workers - x->stats.running;
    if (x->depth >= 0 && x->queued >= (size_t)x->depth + idle) {
        if (x->policy == SPECX_LOCAL_REJECT_NEW) {
            x->stats.rejected++;
            pthread_mutex_unlock(&x->mu);
            free(j);
            return SPECX_EBUSY;
        }
        victim = queue_pop(x);
        x->stats.dropped++;
    }
    queue_push(x, j);
    x->stats.started++;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    if (victim != NULL) {
        finish(victim, SPECX_EBUSY, NULL, "local queue full: superseded by a newer frame");
    }
    return SPECX_OK;
}

static void lx_cancel(void *ctx, specx_call *call)
{
    lx *x = ctx;
    pthread_mutex_lock(&x->mu);
    job *j = queue_remove(x, call);
    if (j != NULL) {
        x->stats.cancelled++;
    } else {
        for (size_t i = 0; i < x->n_workers; i++) {
            if (x->workers[i].current != NULL && x->workers[i].current->call == call) {
                atomic_store(&x->workers[i].current->cancel, true);
                break;
            }
        }
    }
    pthread_mutex_unlock(&x->mu);
    if (j != NULL) {
        finish(j, SPECX_ECANCELED, NULL, "cancelled before it started");
    }
}

static void lx_free_result(void *ctx, void *result)
{
    (void)ctx;
    specx_detections_destroy(result);
}

static void lx_destroy(void *ctx)
{
    lx *x = ctx;
    if (x == NULL) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    x->stopping = true;
    job *left = x->head;
    x->head = x->tail = NULL;
    x->queued = 0;
    for (size_t i = 0; i < x->n_workers; i++) {
        if (x->workers[i].current != NULL) {
            atomic_store(&x->workers[i].current->cancel, true);
        }
    }
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    /* The operator destroys executors only after every call completed; this
     * covers a caller driving the executor directly. */
    while (left != NULL) {
        job *next = left->next;
        finish(left, SPECX_ESTOPPED, NULL, "local executor destroyed");
        left = next;
    }
    for (size_t i = 0; i < x->n_workers; i++) {
        if (x->workers[i].thread_started) {
            pthread_join(x->workers[i].thread, NULL);
        }
        specx_detector_close(x->workers[i].det);
    }
    free(x->workers);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static const specx_executor_ops lx_ops = {
    .start = lx_start,
    .cancel = lx_cancel,
    .free_result = lx_free_result,
    .destroy = lx_destroy,
};

specx_status specx_local_executor_create_with(specx_detector **detectors, size_t n,
                                              const specx_local_executor_config *cfg,
                                              specx_executor *out, specx_err *err)
{
    specx_status st = SPECX_OK;
    lx *x = NULL;
    if (detectors == NULL || n == 0 || cfg == NULL || out == NULL || cfg->queue_depth < -1 ||
        (cfg->policy != SPECX_LOCAL_DROP_OLDEST && cfg->policy != SPECX_LOCAL_REJECT_NEW)) {
        st = specx_err_set(err, SPECX_EINVAL,
                           "local executor: need detectors, queue_depth >= -1 and a known policy");
        goto fail_detectors;
    }
    for (size_t i = 0; i < n; i++) {
        if (detectors[i] == NULL) {
            st = specx_err_set(err, SPECX_EINVAL, "local executor: detector %zu is NULL", i);
            goto fail_detectors;
        }
    }
    x = calloc(1, sizeof *x);
    worker *workers = calloc(n, sizeof *workers);
    if (x == NULL || workers == NULL) {
        free(x);
        free(workers);
        st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
        goto fail_detectors;
    }
    x->workers = workers;
    x->n_workers = n;
    x->depth = cfg->queue_depth == 0 ? 1 : cfg->queue_depth;
    x->policy = cfg->policy;
    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (size_t i = 0; i < n; i++) {
        workers[i].owner = x;
        workers[i].index = (int)i;
        workers[i].det = detectors[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            lx_destroy(x); /* joins started workers, closes every detector */
            return specx_err_set(err, SPECX_EINTERNAL, "local executor: cannot start worker %zu",
                                 i);
        }
        workers[i].thread_started = true;
    }
    out->ops = &lx_ops;
    out->ctx = x;
    return SPECX_OK;

fail_detectors:
    for (size_t i = 0; detectors != NULL && i < n; i++) {
        specx_detector_close(detectors[i]);
    }
    return st;
}

specx_status specx_local_executor_create(const specx_local_executor_config *cfg,
                                         specx_executor *out, specx_err *err)
{
    if (cfg == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "local executor: no config or no output");
    }
    int n = cfg->workers == 0 ? 1 : cfg->workers;
    if (n < 0 || n > 64) {
        return specx_err_set(err, SPECX_EINVAL, "local executor: workers must be 1..64 (got %d)",
                             cfg->workers);
    }
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    specx_detector **dets = calloc((size_t)n, sizeof *dets);
    if (dets == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        specx_status st = specx_detector_open(&cfg->detector, &dets[i], err);
        if (st != SPECX_OK) {
            for (int k = 0; k < i; k++) {
                specx_detector_close(dets[k]);
            }
            free(dets);
            return st;
        }
    }
    specx_status st = specx_local_executor_create_with(dets, (size_t)n, cfg, out, err);
    free(dets);
    return st;
}

void specx_local_executor_get_stats(const specx_executor *ex, specx_local_executor_stats *out)
{
    lx *x = ex->ctx;
    pthread_mutex_lock(&x->mu);
    *out = x->stats;
    out->queued = x->queued;
    pthread_mutex_unlock(&x->mu);
}
