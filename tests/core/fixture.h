/* fixture.h — an operator with remote "cloud-a" (priority 10), remote
 * "cloud-b" (priority 5) and local "local" (priority 100, still ranked
 * lowest), fake executors, a manual clock and inline delivery. */
#ifndef SPECX_TEST_FIXTURE_H
#define SPECX_TEST_FIXTURE_H

#include <stdbool.h>

#include "specx/operator.h"
#include "specx/stats.h"

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
};

#define FX_T0 SPECX_SEC(1000)

typedef struct fx {
    specx_operator *op;
    fake_exec *a, *b, *l;
    int ia, ib, il; /* executor indices, -1 if absent */
    hplan_table plan;
    hcollect out;
    unsigned flags;
} fx;

void fx_setup(fx *f, unsigned flags);
/* Destroys the operator, checks every result made was freed, frees fakes. */
void fx_teardown(fx *f);
/* Move the test clock to FX_T0 + ms and fire due timers. */
void fx_at(fx *f, int64_t ms);
specx_exec_stats fx_stats(fx *f, int index);
specx_operator_stats *fx_snapshot(fx *f);

#endif
