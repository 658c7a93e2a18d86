/* harness.c — shared helpers for operator tests (see harness.h). */
#include "harness.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/virtual_time.h"
#include "fake_executor.h"
#include "test_timeout.h"

static _Atomic specx_time_t tclock;

static specx_time_t tclock_fn(void *arg)
{
    (void)arg;
    return atomic_load(&tclock);
}

void tclock_install(specx_time_t start)
{
    atomic_store(&tclock, start);
    sx_time_set_clock(tclock_fn, NULL);
}

void tclock_set(specx_time_t t)
{
    atomic_store(&tclock, t);
}
specx_time_t tclock_get(void)
{
    return atomic_load(&tclock);
}
void tclock_uninstall(void)
{
    sx_time_set_clock(NULL, NULL);
}

void hplan_fn(void *plan_user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    hplan_table *t = plan_user;
    t->plans_called++;
    const hplan *p = &t->e[exec_index];
    out->skip = p->skip;
    out->deadline_kind = p->kind;
    out->deadline = p->deadline;
    out->emit_local_early = p->emit_local_early;
    if (t->request_free != NULL) {
        out->request = msg->input;
        out->request_free = t->request_free;
        out->request_free_user = t->request_free_user;
    }
}

double test_timeout_scale(void)
{
    return specx_test_timeout_scale();
}

void hcollect_init(hcollect *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &a);
    pthread_condattr_destroy(&a);
    c->in_order = true;
}

void hcollect_fini(hcollect *c)
{
    free(c->v);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

void hcollect_copy(hout *h, const specx_output *out)
{
    memset(h, 0, sizeof *h);
    h->seq = out->seq;
    h->winner = out->winner;
    h->priority = out->priority;
    h->is_local = out->is_local;
    h->fallback = out->fallback;
    h->late_accepted = out->late_accepted;
    h->status = out->status;
    if (out->reason != NULL) {
        snprintf(h->reason, sizeof h->reason, "%s", out->reason);
    }
    h->result_id = -1;
    if (out->result != NULL) {
        const fake_result *r = out->result;
        h->result_id = r->id;
        h->result_seq = r->seq;
    }
    h->arrival = out->arrival;
    h->deadline = out->deadline;
    h->decided = out->decided;
    h->emitted = out->emitted;
    h->latency = out->latency;
    h->n_exec = out->n_exec;
    for (size_t i = 0; i < out->n_exec && i < H_MAX_EXEC; i++) {
        h->exec[i] = out->exec[i];
        h->exec[i].message = NULL; /* borrowed */
    }
    h->user = out->user;
}

void hcollect_output(void *user, specx_output *out)
{
    hcollect *c = user;
    pthread_mutex_lock(&c->mu);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        if (c->v == NULL) {
            abort();
        }
    }
    hcollect_copy(&c->v[c->n++], out);
    if (out->seq != c->next_seq) {
        c->in_order = false;
    }
    c->next_seq = out->seq + 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

size_t hcollect_count(hcollect *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool hcollect_wait(hcollect *c, size_t n, int64_t timeout_ms)
{
    specx_time_t until =
        specx_time_mono() + (specx_time_t)((double)SPECX_MS(timeout_ms) * test_timeout_scale());
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000),
                          .tv_nsec = (long)(until % 1000000000)};
    pthread_mutex_lock(&c->mu);
    while (c->n < n) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0 && c->n < n) {
            break;
        }
    }
    bool ok = c->n >= n;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

hout hcollect_get(hcollect *c, size_t i)
{
    pthread_mutex_lock(&c->mu);
    hout h = c->v[i];
    pthread_mutex_unlock(&c->mu);
    return h;
}
