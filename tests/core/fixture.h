/* fixture.h — an operator with remote "cloud-a" (priority 10), remote
 * "cloud-b" (priority 5) and local "local" (priority 100, still ranked
 * lowest), fake executors and inline delivery, on virtual time (a manual
 * clock and manually fired deadlines, core/virtual_time.h) unless FX_THREADS. */
#ifndef SPECX_TEST_FIXTURE_H
#define SPECX_TEST_FIXTURE_H

#include <stdbool.h>

#include "specx/operator.h"
#include "specx/stats.h"

#include "core/virtual_time.h"
#include "fake_executor.h"
#include "harness.h"

enum {
    FX_NO_LOCAL = 1 << 0,
    FX_NO_A = 1 << 1,
    FX_NO_B = 1 << 2,
    FX_ACCEPT_LATE = 1 << 3,
    FX_THREADS = 1 << 4,         /* real timer thread + delivery thread, real clock */
    FX_A_MAX1 = 1 << 5,          /* cloud-a max_in_flight = 1 */
    FX_INLINE_DELIVERY = 1 << 6, /* with FX_THREADS: inline delivery */
    FX_RELEASE = 1 << 7,         /* record input_release calls in fx.rel */
};

#define FX_REL_MAX 4096

/* One input_release call: the input, how many outputs had been collected and
 * how many request_frees of this input had run when it came. */
typedef struct fx_rel_rec {
    void *input, *user;
    size_t outputs_before, req_frees_before;
} fx_rel_rec;

typedef struct fx_rel {
    pthread_mutex_t mu;
    size_t n, n_rf;
    fx_rel_rec v[FX_REL_MAX];
    void *rf[2 * FX_REL_MAX]; /* request_free calls (request = input) */
} fx_rel;

#define FX_T0 SPECX_SEC(1000)

typedef struct fx {
    specx_operator *op;
    fake_exec *a, *b, *l;
    int ia, ib, il; /* executor indices, -1 if absent */
    hplan_table plan;
    hcollect out;
    unsigned flags;
    fx_rel *rel; /* FX_RELEASE */
    /* FX_RELEASE: called first in every input_release, no lock held */
    void (*rel_hook)(void *hook_user, void *input);
    void *rel_hook_user;
} fx;

/* Number of input_release calls so far; the i-th one. */
size_t fx_released(fx *f);
fx_rel_rec fx_release_get(fx *f, size_t i);
/* Times input_release was called for `input`. */
size_t fx_release_count(fx *f, void *input);
/* Install a counting request_free on every plan (request = the input). */
void fx_count_request_frees(fx *f);

void fx_setup(fx *f, unsigned flags);
/* Destroys the operator, checks every result made was freed, frees fakes. */
void fx_teardown(fx *f);
/* Move the test clock to FX_T0 + ms and fire due timers. */
void fx_at(fx *f, int64_t ms);
specx_exec_stats fx_stats(fx *f, int index);
specx_operator_stats *fx_snapshot(fx *f);

#endif
