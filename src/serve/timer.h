/* serve/timer.h — internal to src/serve: one thread that runs callbacks at
 * their due times (request timeouts, idle streams).
 *
 * Contract
 *  - An entry is embedded in the caller's object. arm() schedules it (or
 *    moves it if already armed); disarm() unschedules it and returns true if
 *    its callback will now not run, false if it has already been taken to run
 *    (or was never armed). A caller that armed with a reference on its object
 *    drops that reference itself when disarm() returns true; otherwise the
 *    callback does.
 *  - Callbacks run on the timer thread, one at a time, with no timer lock
 *    held; they may arm, disarm and take their owner's locks. The timer lock
 *    is a leaf: arm/disarm may be called under any server lock.
 *  - expire_all() runs every armed entry now (at shutdown); stop() does the
 *    same for what is left and joins the thread. */
#ifndef SX_SERVE_TIMER_H
#define SX_SERVE_TIMER_H

#include <pthread.h>
#include <stdbool.h>

#include "specx/status.h"

#include "core/heap.h"

typedef struct sx_serve_timer_entry sx_serve_timer_entry;
typedef void (*sx_serve_timer_fn)(sx_serve_timer_entry *e);

struct sx_serve_timer_entry {
    sx_heap_node node; /* key = due time */
    sx_serve_timer_fn fn;
};

typedef struct sx_serve_timers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sx_heap heap;
    uint64_t next_seq;
    bool quit, expire_now, started;
    pthread_t thread;
} sx_serve_timers;

specx_status sx_serve_timers_start(sx_serve_timers *t, specx_err *err);
/* Runs what is still armed, joins the thread, frees. Idempotent after start;
 * safe on a zeroed struct that was never started. */
void sx_serve_timers_stop(sx_serve_timers *t);

void sx_serve_timer_entry_init(sx_serve_timer_entry *e, sx_serve_timer_fn fn);
/* SPECX_ENOMEM when the heap cannot grow (the entry is then not armed). */
specx_status sx_serve_timer_arm(sx_serve_timers *t, sx_serve_timer_entry *e, specx_time_t when);
bool sx_serve_timer_disarm(sx_serve_timers *t, sx_serve_timer_entry *e);
/* Makes every armed entry due now (they run on the timer thread). */
void sx_serve_timers_expire_all(sx_serve_timers *t);

#endif
