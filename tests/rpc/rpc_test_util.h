/* rpc_test_util.h — helpers shared by the rpc tests: in-process servers with
 * the test detector, PNG/JPEG frames, a completion recorder that checks
 * "exactly once", and child processes (specx serve, Python servers). */
#ifndef SPECX_RPC_TEST_UTIL_H
#define SPECX_RPC_TEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "specx/rpc.h"
#include "specx/serve.h"

/* SPECX_TEST_TIMEOUT_SCALE (default 1) times d. */
specx_dur_t tu_scaled(specx_dur_t d);

/* In-process server on 127.0.0.1, port 0, with test detector `spec`. */
specx_server *tu_server(const char *spec, int workers, int queue);
specx_server *tu_server_on(const char *spec, int workers, int queue, int port);
specx_rpc_client *tu_client(int port, const char *options); /* options: ",stream" ... */

/* A w x h RGB frame encoded as PNG (or JPEG when jpeg is true). */
specx_encoded_frame *tu_frame(int w, int h, bool jpeg);

#define TU_MAX 256
typedef struct tu_rec {
    int calls; /* must end at exactly 1 */
    specx_status st;
    specx_detections *res;
    specx_time_t at;
    char msg[512];
} tu_rec;

typedef struct tu_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    tu_rec rec[TU_MAX];
    void *slot_user[TU_MAX];
} tu_waiter;

void tu_waiter_init(tu_waiter *w);
void tu_waiter_free(tu_waiter *w);
/* A waiter on the heap (it is large): new aborts when out of memory;
 * delete frees what tu_waiter_free does and the waiter itself. */
tu_waiter *tu_waiter_new(void);
void tu_waiter_delete(tu_waiter *w);
/* The done callback; user = tu_slot(w, i). */
void tu_done(void *user, specx_status st, specx_detections *res, const char *msg);
void *tu_slot(tu_waiter *w, int i);
/* Waits until `n` completions were recorded or the (scaled) timeout passed. */
bool tu_wait(tu_waiter *w, int n, specx_dur_t timeout);

/* Polls a server statistic until pred is true or the timeout passes (test
 * code only: the statistics have no change notification). */
bool tu_wait_stats(specx_server *s, bool (*pred)(const specx_server_stats *), specx_dur_t timeout);
/* Predicates for tu_wait_stats: at least one call received (it is on a
 * worker or queued), cancelled, expired before it started. */
bool tu_one_received(const specx_server_stats *s);
bool tu_one_cancelled(const specx_server_stats *s);
bool tu_one_expired(const specx_server_stats *s);

/* Starts argv as a child with stdout on a pipe, reads until a line
 * "listening on HOST:PORT" and returns the port (0 on failure). */
pid_t tu_spawn_listening(char *const argv[], int *port);
/* SIGTERM/SIGKILL then reap; returns the exit status as from waitpid. */
int tu_stop_child(pid_t pid, int sig);

/* Path of the specx binary and the Python scripts (from argv / env). */
const char *tu_source_dir(void);

#endif
