/* specx/stats.h — operator statistics: a consistent snapshot, JSON export and
 * a human-readable table.
 *
 * Contract: specx_operator_stats_snapshot() copies the counters under the
 * operator lock (thread-safe, never blocks on executors' work) into memory
 * the caller owns (free with specx_operator_stats_free). The formatting
 * functions read a snapshot only and are thread-compatible. Counting rules
 * (each (message, executor) pair counted exactly once) are in operator.h;
 * latencies are nanoseconds in the structs and milliseconds in JSON/table. */
#ifndef SPECX_STATS_H
#define SPECX_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/hist.h"
#include "specx/operator.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON; /* from <cjson/cJSON.h> */

typedef struct specx_exec_stats {
    char name[SPECX_NAME_MAX];
    int priority;
    bool is_local;
    int max_in_flight;  /* 0 = unbounded */
    uint64_t sent;      /* start() called */
    uint64_t completed; /* specx_call_complete() received (any status) */
    /* fates, one per message the executor took part in (see operator.h) */
    uint64_t won, outranked, late, failed, skipped, shed, cancelled;
    uint64_t late_accepted; /* of `won`: late remote results taken (rule 4 option) */
    uint64_t in_flight;     /* calls outstanding now */
    specx_hist latency;     /* start to completion of calls that completed OK */
} specx_exec_stats;

typedef struct specx_operator_stats {
    specx_time_t taken; /* monotonic time of the snapshot */
    uint64_t submitted; /* messages accepted by submit/process */
    uint64_t outputs;   /* outputs delivered */
    uint64_t pending;   /* accepted, not yet delivered */
    uint64_t remote_wins, local_wins, no_results;
    uint64_t fallbacks;      /* local result after the message deadline (rule 5) */
    uint64_t late_accepted;  /* outputs from a late remote result (rule 4 option) */
    uint64_t after_deadline; /* emitted later than deadline + 1 ms */
    specx_hist latency;      /* emitted - arrival of delivered outputs */
    specx_hist hol_wait;     /* emitted - decided: head-of-line wait */
    size_t n_exec;
    specx_exec_stats *exec; /* indexed like executors */
} specx_operator_stats;

/* Thread-safe copy; *out is malloc'd, free with specx_operator_stats_free. */
specx_status specx_operator_stats_snapshot(specx_operator *op, specx_operator_stats **out);
void specx_operator_stats_free(specx_operator_stats *s);

/* The change between two snapshots of the same operator (`before` taken
 * earlier): counters and histograms of what happened in between; gauges
 * (pending, in_flight) and `taken` come from `now`. *out is malloc'd (free
 * with specx_operator_stats_free). SPECX_EINVAL if the executor sets differ. */
specx_status specx_stats_diff(const specx_operator_stats *now, const specx_operator_stats *before,
                              specx_operator_stats **out);

/* fallbacks / outputs, 0 when there are no outputs. */
double specx_stats_fallback_ratio(const specx_operator_stats *s);

/* The snapshot as a cJSON object (caller owns it: cJSON_Delete), NULL on
 * allocation failure; for embedding in a larger document. */
struct cJSON *specx_stats_to_cjson(const specx_operator_stats *s);
/* The same as a compact JSON string, malloc'd (free with free()); NULL on
 * allocation failure. */
char *specx_stats_to_json(const specx_operator_stats *s);

/* A readable table: one line per executor (name, priority, local/remote,
 * counts, latency percentiles in ms) and the operator summary. */
void specx_stats_print(const specx_operator_stats *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
