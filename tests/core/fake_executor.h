/* fake_executor.h — a test-double executor whose outcomes and timing the test
 * controls, recording every start/cancel/completion per message.
 *
 * Per call (one per message seq), the action comes from a script callback or
 * the default action: complete inside start(), fail start(), hold until the
 * test calls fake_complete() (or cancel completes it), or complete from the
 * fake's own worker thread after a real-time delay. Results are malloc'd
 * fake_result objects, freed through free_result (counted). Thread-safe. The
 * operator's ops->destroy only stops the worker; the test frees the fake with
 * fake_free() after destroying the operator, so records stay readable. */
#ifndef SPECX_TEST_FAKE_EXECUTOR_H
#define SPECX_TEST_FAKE_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/executor.h"

typedef enum fake_mode {
    FAKE_HOLD = 0,   /* outstanding until fake_complete() or cancel */
    FAKE_INLINE,     /* specx_call_complete inside start() */
    FAKE_START_FAIL, /* start() returns `status` */
    FAKE_DELAY,      /* completed by the worker thread after `delay` */
} fake_mode;

typedef enum fake_cancel_mode {
    FAKE_CANCEL_INLINE = 0, /* cancel() completes the call with ECANCELED */
    FAKE_CANCEL_ASYNC,      /* the worker thread completes it with ECANCELED */
    FAKE_CANCEL_IGNORE,     /* recorded only; the call completes as planned */
} fake_cancel_mode;

typedef struct fake_action {
    fake_mode mode;
    specx_status status; /* completion status (or start() status) */
    int64_t delay;       /* FAKE_DELAY: ns of real time */
} fake_action;

typedef void (*fake_script_fn)(void *user, uint64_t seq, fake_action *a);

typedef struct fake_result {
    int id; /* the fake's id */
    uint64_t seq;
} fake_result;

typedef struct fake_rec {
    bool started, completed;
    int cancels;
    specx_time_t deadline;
    specx_status status;
    specx_time_t t_start;  /* specx_time_mono() at start */
    specx_time_t t_before; /* just before specx_call_complete */
    specx_time_t t_after;  /* just after it returned */
    bool returned;         /* specx_call_complete returned */
} fake_rec;

typedef struct fake_exec fake_exec;

fake_exec *fake_create(int id);
void fake_set_default(fake_exec *f, fake_action a);
void fake_set_script(fake_exec *f, fake_script_fn fn, void *user);
void fake_set_cancel_mode(fake_exec *f, fake_cancel_mode m);
specx_executor fake_executor(fake_exec *f);

/* Complete the held call of message `seq` now on this thread; false if there
 * is none outstanding (never started, or already completed). */
bool fake_complete(fake_exec *f, uint64_t seq, specx_status st);

size_t fake_starts(fake_exec *f);
size_t fake_cancels(fake_exec *f);
/* cancel() calls that arrived after specx_call_complete() for that call had
 * returned: executor.h says there are none. */
size_t fake_late_cancels(fake_exec *f);
size_t fake_completions(fake_exec *f);
size_t fake_results_made(fake_exec *f);
size_t fake_results_freed(fake_exec *f);
fake_rec fake_get(fake_exec *f, uint64_t seq);
bool fake_destroyed(fake_exec *f);
void fake_free(fake_exec *f);

#endif
