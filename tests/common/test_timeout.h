/* test_timeout.h — timeouts in tests, scaled by the environment variable
 * SPECX_TEST_TIMEOUT_SCALE (default 1; values <= 0 or unparsable count as 1)
 * so a slow or shared machine can stretch them. Header-only; reads the
 * environment, so call from test code, not from signal handlers. */
#ifndef SPECX_TEST_TIMEOUT_H
#define SPECX_TEST_TIMEOUT_H

#include <stdlib.h>
#include <time.h>

static inline double specx_test_timeout_scale(void)
{
    const char *s = getenv("SPECX_TEST_TIMEOUT_SCALE");
    double v = s != NULL ? atof(s) : 1.0;
    return v > 0 ? v : 1.0;
}

/* CLOCK_REALTIME now + seconds * scale: an absolute time for
 * pthread_cond_timedwait on a default (realtime) condition variable. */
static inline struct timespec specx_test_realtime_in(double seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (long long)(seconds * specx_test_timeout_scale() * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

#endif
