/* test_client.h — calling a detection server from tests: a PNG test frame,
 * one call waited for, and a steady client that keeps calling in the
 * background (one call at a time, one every period) and counts what it
 * got, so a test can assert that a well-behaved client kept being served
 * while others were refused.
 *
 * Waits are condition variables with deadlines scaled by
 * SPECX_TEST_TIMEOUT_SCALE. Thread-safe where noted. */
#ifndef SPECX_TEST_CLIENT_H
#define SPECX_TEST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "specx/rpc.h"

/* A w x h RGB PNG frame (aborts the test process when out of memory). */
specx_encoded_frame *tc_frame(int w, int h);

/* One call with a deadline timeout_s from now, waited for: its status, and
 * its message in msg ("" on success). */
specx_status tc_call(specx_rpc_client *c, specx_encoded_frame *f, double timeout_s, char *msg,
                     size_t cap);

typedef struct tc_steady tc_steady;

/* Starts calling c with f every period_ms on a thread of its own (each
 * call's deadline 5 s). The client and frame must outlive tc_steady_stop. */
tc_steady *tc_steady_start(specx_rpc_client *c, specx_encoded_frame *f, int period_ms);
/* Waits until the steady client has had at least n successful calls in all,
 * or timeout_s passed; returns whether it got there. Thread-safe. */
bool tc_steady_wait_ok(tc_steady *s, int n, double timeout_s);
/* Counts so far, and the first failure's message ("" if none). */
void tc_steady_counts(tc_steady *s, int *ok, int *failed, char *first_failure, size_t cap);
/* Stops after the call in progress, joins, frees. */
void tc_steady_stop(tc_steady *s);

#endif
