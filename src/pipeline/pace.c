/* pace.c — the camera clock: frame i at t0 + i/fps on an absolute
 * CLOCK_MONOTONIC schedule, cut short by a stop flag.
 *
 * clock_nanosleep(TIMER_ABSTIME) waits for a time, not for an event: that is
 * what a camera does. A signal handler that sets *stop makes the sleep
 * return EINTR on the thread the signal reaches; the flag is checked on
 * every wake-up, so a stop seen late still ends the sleep at the due time. */
#include <errno.h>
#include <time.h>

#include "specx/pipeline.h"

void specx_pacer_start(specx_pacer *p, double fps)
{
    p->t0 = specx_time_mono(); /* the clock clock_nanosleep sleeps on */
    p->fps = fps;
}

static bool stopped(const atomic_bool *stop)
{
    return stop != NULL && atomic_load(stop);
}

bool specx_pacer_wait(const specx_pacer *p, int64_t i, const atomic_bool *stop)
{
    if (stopped(stop)) {
        return false;
    }
    if (p->fps <= 0) {
        return true;
    }
    specx_time_t t = specx_time_add(p->t0, (specx_dur_t)((double)i * 1e9 / p->fps));
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000), .tv_nsec = (long)(t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        if (stopped(stop)) {
            return false;
        }
    }
    return !stopped(stop);
}
