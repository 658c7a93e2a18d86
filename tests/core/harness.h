/* harness.h — shared helpers for operator tests: a logical test clock, a
 * table-driven plan, and an output collector that copies every output. */
#ifndef SPECX_TEST_HARNESS_H
#define SPECX_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/operator.h"
#include "specx/time.h"

#define H_MAX_EXEC 8

/* Logical clock installed with sx_time_set_clock (core/virtual_time.h). */
void tclock_install(specx_time_t start);
void tclock_set(specx_time_t t);
specx_time_t tclock_get(void);
void tclock_uninstall(void);

/* Per-executor plan entry (indexed by executor index). */
typedef struct hplan {
    bool skip;
    specx_deadline_kind kind;
    specx_time_t deadline;
    bool emit_local_early; /* rule 9 */
} hplan;

typedef struct hplan_table {
    hplan e[H_MAX_EXEC];
    int plans_called;
    /* when set, every plan gets this request_free (request = the input) */
    void (*request_free)(void *request, void *user);
    void *request_free_user;
} hplan_table;

void hplan_fn(void *plan_user, const specx_msg_info *msg, size_t exec_index, specx_plan *out);

/* One copied output. */
typedef struct hout {
    uint64_t seq;
    int winner;
    int priority;
    bool is_local, fallback, late_accepted;
    specx_status status;
    char reason[256];
    int result_id; /* fake_result.id, -1 if none */
    uint64_t result_seq;
    specx_time_t arrival, deadline, decided, emitted;
    specx_dur_t latency;
    size_t n_exec;
    specx_exec_report exec[H_MAX_EXEC];
    void *user;
} hout;

typedef struct hcollect {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hout *v;
    size_t n, cap;
    bool in_order; /* every output's seq = previous + 1 */
    uint64_t next_seq;
} hcollect;

void hcollect_init(hcollect *c);
void hcollect_fini(hcollect *c);
void hcollect_output(void *user, specx_output *out); /* the output callback */
void hcollect_copy(hout *h, const specx_output *out);
size_t hcollect_count(hcollect *c);
/* Wait (real time, scaled by SPECX_TEST_TIMEOUT_SCALE) until n outputs. */
bool hcollect_wait(hcollect *c, size_t n, int64_t timeout_ms);
hout hcollect_get(hcollect *c, size_t i);

double test_timeout_scale(void);

#endif
