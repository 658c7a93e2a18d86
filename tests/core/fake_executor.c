/* fake_executor.c — the test-double executor (see fake_executor.h). */
#include "fake_executor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/time.h"

typedef struct rec_int {
    fake_rec pub;
    specx_call *call; /* while outstanding */
    fake_action act;
} rec_int;

typedef struct timed {
    specx_time_t due;
    uint64_t seq;
    specx_status st;
} timed;

struct fake_exec {
    int id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t worker;
    bool stop, destroyed;
    fake_action def;
    fake_script_fn script;
    void *script_user;
    fake_cancel_mode cancel_mode;
    rec_int *recs;
    size_t cap;
    timed *q; /* sorted by due */
    size_t qn, qcap;
    size_t starts, cancels, late_cancels, completions, made, freed;
};

static rec_int *rec_at(fake_exec *f, uint64_t seq)
{
    if (seq >= f->cap) {
        size_t ncap = f->cap ? f->cap : 64;
        while (ncap <= seq) {
            ncap *= 2;
        }
        rec_int *nr = realloc(f->recs, ncap * sizeof *nr);
        if (nr == NULL) {
            abort();
        }
        memset(nr + f->cap, 0, (ncap - f->cap) * sizeof *nr);
        f->recs = nr;
        f->cap = ncap;
    }
    return &f->recs[seq];
}

static void q_push(fake_exec *f, specx_time_t due, uint64_t seq, specx_status st)
{
    if (f->qn == f->qcap) {
        f->qcap = f->qcap ? f->qcap * 2 : 64;
        f->q = realloc(f->q, f->qcap * sizeof *f->q);
        if (f->q == NULL) {
            abort();
        }
    }
    size_t i = f->qn++;
    while (i > 0 && f->q[i - 1].due > due) {
        f->q[i] = f->q[i - 1];
        i--;
    }
    f->q[i] = (timed){.due = due, .seq = seq, .st = st};
    if (i == 0) {
        pthread_cond_signal(&f->cv);
    }
}

bool fake_complete(fake_exec *f, uint64_t seq, specx_status st)
{
    pthread_mutex_lock(&f->mu);
    if (seq >= f->cap || f->recs[seq].call == NULL) {
        pthread_mutex_unlock(&f->mu);
        return false;
    }
    rec_int *r = &f->recs[seq];
    specx_call *call = r->call;
    r->call = NULL;
    r->pub.completed = true;
    r->pub.status = st;
    fake_result *res = NULL;
    if (st == SPECX_OK) {
        res = malloc(sizeof *res);
        if (res == NULL) {
            abort();
        }
        res->id = f->id;
        res->seq = seq;
        f->made++;
    }
    f->completions++;
    r->pub.t_before = specx_time_now();
    pthread_mutex_unlock(&f->mu);
    specx_call_complete(call, st, res, st == SPECX_OK ? NULL : "fake failure");
    specx_time_t after = specx_time_now();
    pthread_mutex_lock(&f->mu);
    f->recs[seq].pub.t_after = after;
    f->recs[seq].pub.returned = true;
    pthread_mutex_unlock(&f->mu);
    return true;
}

static void *worker_main(void *arg)
{
    fake_exec *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (f->qn == 0) {
            pthread_cond_wait(&f->cv, &f->mu);
            continue;
        }
        specx_time_t now = specx_time_mono();
        if (f->q[0].due > now) {
            struct timespec ts = {.tv_sec = (time_t)(f->q[0].due / 1000000000),
                                  .tv_nsec = (long)(f->q[0].due % 1000000000)};
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
            continue;
        }
        timed t = f->q[0];
        memmove(f->q, f->q + 1, (f->qn - 1) * sizeof *f->q);
        f->qn--;
        pthread_mutex_unlock(&f->mu);
        fake_complete(f, t.seq, t.st);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static specx_status fake_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)request;
    fake_exec *f = ctx;
    uint64_t seq = specx_call_seq(call);
    pthread_mutex_lock(&f->mu);
    rec_int *r = rec_at(f, seq);
    fake_action a = f->def;
    if (f->script != NULL) {
        f->script(f->script_user, seq, &a);
    }
    r->act = a;
    r->pub.started = true;
    r->pub.deadline = deadline;
    r->pub.t_start = specx_time_now();
    f->starts++;
    if (a.mode == FAKE_START_FAIL) {
        pthread_mutex_unlock(&f->mu);
        return a.status != SPECX_OK ? a.status : SPECX_EUNAVAILABLE;
    }
    r->call = call;
    if (a.mode == FAKE_DELAY) {
        q_push(f, specx_time_mono() + a.delay, seq, a.status);
    }
    pthread_mutex_unlock(&f->mu);
    if (a.mode == FAKE_INLINE) {
        fake_complete(f, seq, a.status);
    }
    return SPECX_OK;
}

static void fake_cancel(void *ctx, specx_call *call)
{
    fake_exec *f = ctx;
    uint64_t seq = specx_call_seq(call);
    pthread_mutex_lock(&f->mu);
    rec_int *r = rec_at(f, seq);
    r->pub.cancels++;
    f->cancels++;
    if (r->pub.returned) {
        f->late_cancels++; /* the operator broke executor.h's promise */
    }
    bool outstanding = r->call != NULL;
    fake_cancel_mode m = f->cancel_mode;
    if (outstanding && m == FAKE_CANCEL_ASYNC) {
        q_push(f, 0, seq, SPECX_ECANCELED);
    }
    pthread_mutex_unlock(&f->mu);
    if (outstanding && m == FAKE_CANCEL_INLINE) {
        fake_complete(f, seq, SPECX_ECANCELED);
    }
}

static void fake_free_result(void *ctx, void *result)
{
    fake_exec *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->freed++;
    pthread_mutex_unlock(&f->mu);
    free(result);
}

static void fake_destroy(void *ctx)
{
    fake_exec *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    f->destroyed = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->worker, NULL);
}

static const specx_executor_ops fake_ops = {
    .start = fake_start,
    .cancel = fake_cancel,
    .free_result = fake_free_result,
    .destroy = fake_destroy,
};

fake_exec *fake_create(int id)
{
    fake_exec *f = calloc(1, sizeof *f);
    if (f == NULL) {
        abort();
    }
    f->id = id;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &a);
    pthread_condattr_destroy(&a);
    f->def = (fake_action){.mode = FAKE_HOLD};
    if (pthread_create(&f->worker, NULL, worker_main, f) != 0) {
        abort();
    }
    return f;
}

void fake_set_default(fake_exec *f, fake_action a)
{
    pthread_mutex_lock(&f->mu);
    f->def = a;
    pthread_mutex_unlock(&f->mu);
}

void fake_set_script(fake_exec *f, fake_script_fn fn, void *user)
{
    pthread_mutex_lock(&f->mu);
    f->script = fn;
    f->script_user = user;
    pthread_mutex_unlock(&f->mu);
}

void fake_set_cancel_mode(fake_exec *f, fake_cancel_mode m)
{
    pthread_mutex_lock(&f->mu);
    f->cancel_mode = m;
    pthread_mutex_unlock(&f->mu);
}

specx_executor fake_executor(fake_exec *f)
{
    return (specx_executor){.ops = &fake_ops, .ctx = f};
}

#define FAKE_GETTER(name, field)                                                                   \
    size_t name(fake_exec *f)                                                                      \
    {                                                                                              \
        pthread_mutex_lock(&f->mu);                                                                \
        size_t v = f->field;                                                                       \
        pthread_mutex_unlock(&f->mu);                                                              \
        return v;                                                                                  \
    }
FAKE_GETTER(fake_starts, starts)
FAKE_GETTER(fake_cancels, cancels)
FAKE_GETTER(fake_late_cancels, late_cancels)
FAKE_GETTER(fake_completions, completions)
FAKE_GETTER(fake_results_made, made)
FAKE_GETTER(fake_results_freed, freed)

fake_rec fake_get(fake_exec *f, uint64_t seq)
{
    fake_rec r = {0};
    pthread_mutex_lock(&f->mu);
    if (seq < f->cap) {
        r = f->recs[seq].pub;
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

bool fake_destroyed(fake_exec *f)
{
    pthread_mutex_lock(&f->mu);
    bool d = f->destroyed;
    pthread_mutex_unlock(&f->mu);
    return d;
}

void fake_free(fake_exec *f)
{
    if (f == NULL) {
        return;
    }
    if (!f->destroyed) {
        fake_destroy(f);
    }
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->recs);
    free(f->q);
    free(f);
}
