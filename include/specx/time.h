/* specx/time.h — monotonic time as int64 nanoseconds, and wall-clock time as a
 * distinct type.
 *
 * specx_time_t is CLOCK_MONOTONIC nanoseconds. SPECX_TIME_NEVER is "no
 * deadline"; specx_time_add() saturates at it. Wall-clock time (for wire
 * fields like recv_time) is specx_wall_t, never mixed with monotonic time.
 * specx_time_now() is the library's clock: CLOCK_MONOTONIC, unless the
 * library runs on virtual time (its own tests and replay evaluation replace
 * it); specx_time_mono() is always the real CLOCK_MONOTONIC. */
#ifndef SPECX_TIME_H
#define SPECX_TIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t specx_time_t; /* CLOCK_MONOTONIC, nanoseconds */
typedef int64_t specx_dur_t;  /* a duration, nanoseconds */

#define SPECX_TIME_NEVER INT64_MAX

#define SPECX_NS(x) ((specx_dur_t)(x))
#define SPECX_US(x) ((specx_dur_t)(x)*1000)
#define SPECX_MS(x) ((specx_dur_t)(x)*1000000)
#define SPECX_SEC(x) ((specx_dur_t)(x)*1000000000)

typedef struct specx_wall {
    int64_t ns; /* CLOCK_REALTIME nanoseconds since the Unix epoch */
} specx_wall_t;

/* Current monotonic time: the library's clock (see above). Thread-safe. */
specx_time_t specx_time_now(void);

/* The real CLOCK_MONOTONIC, whatever clock the library runs on. Thread-safe. */
specx_time_t specx_time_mono(void);

/* t + d, saturating at SPECX_TIME_NEVER (and at INT64_MIN for negative d). */
specx_time_t specx_time_add(specx_time_t t, specx_dur_t d);

specx_wall_t specx_wall_now(void);
double specx_wall_seconds(specx_wall_t w);

static inline double specx_dur_ms(specx_dur_t d)
{
    return (double)d / 1e6;
}
static inline double specx_dur_us(specx_dur_t d)
{
    return (double)d / 1e3;
}

#ifdef __cplusplus
}
#endif
#endif
