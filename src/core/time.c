/* time.c — monotonic and wall clocks, with the replaceable clock of virtual
 * time (core/virtual_time.h). */
#include "specx/time.h"

#include <stdatomic.h>
#include <time.h>

#include "core/virtual_time.h"

static _Atomic(sx_clock_fn) clock_fn;
static _Atomic(void *) clock_arg;

specx_time_t specx_time_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (specx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

specx_time_t specx_time_now(void)
{
    sx_clock_fn fn = atomic_load_explicit(&clock_fn, memory_order_acquire);
    if (fn != NULL) {
        return fn(atomic_load_explicit(&clock_arg, memory_order_relaxed));
    }
    return specx_time_mono();
}

void sx_time_set_clock(sx_clock_fn fn, void *arg)
{
    atomic_store_explicit(&clock_arg, arg, memory_order_relaxed);
    atomic_store_explicit(&clock_fn, fn, memory_order_release);
}

specx_time_t specx_time_add(specx_time_t t, specx_dur_t d)
{
    if (t == SPECX_TIME_NEVER) {
        return SPECX_TIME_NEVER;
    }
    specx_time_t r;
    if (__builtin_add_overflow(t, d, &r)) {
        return d > 0 ? SPECX_TIME_NEVER : INT64_MIN;
    }
    return r;
}

specx_wall_t specx_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (specx_wall_t){.ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec};
}

double specx_wall_seconds(specx_wall_t w)
{
    return (double)w.ns / 1e9;
}
