/* pipeline.h — the engine behind `specx run`, `specx demo` and `specx eval`:
 * decoded frames in, one output per frame out, from a speculative operator
 * over an optional local detector and optional remote detection servers.
 *
 * Configuration: a local model (or a caller-made detector), remote servers
 * as "HOST:PORT[,prio=N][,stream]..." strings (specx_rpc_client_config_parse),
 * one deadline relative to each frame's arrival (SPECX_TIME_NEVER: wait for
 * the servers however long they take), the JPEG quality of frames sent to the
 * servers, and a mode: STREAM (push returns at once, several frames in
 * flight; outputs arrive on an internal thread, in push order) or SYNC (push
 * blocks until that frame's output has been delivered, on the pushing
 * thread). Valid set-ups: local-only, remote-only (finite deadline or
 * SPECX_TIME_NEVER), both.
 *
 * Executors are indexed remotes first, in the order given, then the local
 * one. Priorities: a higher number is more preferred and the local detector
 * always ranks lowest. A server string without prio= gets n_servers - i, so
 * a server listed earlier is preferred over one listed later.
 *
 * Overload (frames faster than the detectors): the local detector has a
 * bounded queue (local_queue_depth waiting frames, drop-oldest: a displaced
 * frame's local call fails with SPECX_EBUSY, "dropped"); each server has an
 * in-flight bound (frames beyond it are not sent: fate "shed"). Every frame
 * still gets exactly one output (possibly "no result" with a reason), so
 * latency stays bounded. See docs/run.md.
 *
 * Threads: push/drain/stats may be called from one feeding thread; the output
 * callback runs one at a time, in push order, and must not call
 * specx_pipeline_drain or _destroy. Ownership: push takes the image (also on
 * error); everything in a specx_pipeline_output is borrowed for the callback
 * (the image may be drawn on). */
#ifndef SPECX_APP_PIPELINE_H
#define SPECX_APP_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/detection.h"
#include "specx/detector.h"
#include "specx/image.h"
#include "specx/local_executor.h"
#include "specx/operator.h"
#include "specx/stats.h"
#include "specx/status.h"
#include "specx/time.h"

typedef struct specx_pipeline specx_pipeline;

typedef enum specx_pipeline_mode {
    SPECX_PIPELINE_STREAM = 0,
    SPECX_PIPELINE_SYNC,
} specx_pipeline_mode;

typedef struct specx_pipeline_exec {
    const char *name;
    int priority;
    bool is_local;
    specx_fate fate;
    specx_status status; /* completion status (SPECX_EBUSY: dropped from the local queue) */
    double latency_ms;   /* start to completion; -1 if it did not complete */
    const char *message; /* the executor's error line, NULL if none */
} specx_pipeline_exec;

typedef struct specx_pipeline_output {
    int64_t index; /* as pushed */
    double pts;    /* as pushed */
    int winner;    /* executor index, -1 for "no result" */
    const char *winner_name;
    int priority;
    bool is_local, fallback, late_accepted;
    specx_status status; /* SPECX_OK, or why there is no result */
    const char *reason;  /* one line when winner < 0 */
    double latency_ms;   /* arrival (push) to output */
    double deadline_ms;  /* relative to arrival; -1 when none (local-only, NEVER) */
    double hol_wait_ms;  /* decided to delivered (waiting for earlier frames) */
    size_t n_exec;
    const specx_pipeline_exec *exec;    /* indexed like executors */
    const specx_detections *detections; /* the winner's; NULL for "no result" */
    specx_image *image;                 /* the frame; the callback may draw on it */
    const specx_output *raw;            /* the operator's output */
} specx_pipeline_output;

typedef void (*specx_pipeline_output_fn)(void *user, const specx_pipeline_output *out);

typedef struct specx_pipeline_config {
    /* local detector: local_model (opened with backend/model_dir/threshold/
     * local_threads; "test[:delay_ms=N[,fail=1]]" is the built-in test
     * detector of rpc.h), or local_detector (taken over, also on error), or
     * neither (remote-only) */
    const char *local_model;
    specx_detector *local_detector;
    const char *backend;   /* NULL: the default backend */
    const char *model_dir; /* NULL: specx_model_dir_resolve */
    float threshold;       /* 0: the detector's default */
    int local_threads;     /* backend threads; 0 = 1 */
    int local_queue_depth; /* frames waiting for the local detector; 0 = 1 */
    /* remote servers */
    const char *const *servers;
    size_t n_servers;
    int remote_max_in_flight; /* for servers without inflight=N; 0 = 4 */
    specx_dur_t deadline;     /* relative to arrival; SPECX_TIME_NEVER = none */
    int jpeg_quality;         /* frames sent to servers; 0 = 90 */
    bool accept_late_while_no_local;
    specx_pipeline_mode mode;
    specx_pipeline_output_fn output; /* required */
    void *output_user;
} specx_pipeline_config;

/* Opens the local detector (blocks for model loading) and the server
 * channels (connect lazily: an unreachable server shows up as failed calls,
 * not here). Errors name the model or the bad server string. */
specx_status specx_pipeline_create(const specx_pipeline_config *cfg, specx_pipeline **out,
                                   specx_err *err);

/* Hands one decoded frame to the operator (arrival time = now). STREAM:
 * returns at once; SYNC: returns after this frame's output callback. Takes
 * ownership of *img (zeroed on return, also on error). */
specx_status specx_pipeline_push(specx_pipeline *p, specx_image *img, int64_t index, double pts,
                                 specx_err *err);

/* Blocks until every pushed frame's output has been delivered. Bounded by
 * the deadline plus the local detector's queue, or by the servers when the
 * deadline is SPECX_TIME_NEVER. */
void specx_pipeline_drain(specx_pipeline *p);

/* Drains, then shuts the operator down: every call (including cancelled
 * local work) has completed when it returns, so statistics read afterwards
 * are final. Later pushes fail with SPECX_ESTOPPED. Idempotent. */
void specx_pipeline_finish(specx_pipeline *p);

size_t specx_pipeline_executor_count(const specx_pipeline *p);
const char *specx_pipeline_executor_name(const specx_pipeline *p, size_t i);
int specx_pipeline_executor_priority(const specx_pipeline *p, size_t i);
/* Index of the local executor, -1 if none. */
int specx_pipeline_local_index(const specx_pipeline *p);
/* The colour index for specx_palette_executor: SPECX_PALETTE_LOCAL for the
 * local executor, the server's position otherwise. */
int specx_pipeline_palette_index(const specx_pipeline *p, int exec_index);

/* Operator statistics snapshot (free with specx_operator_stats_free). */
specx_status specx_pipeline_stats(specx_pipeline *p, specx_operator_stats **out);
/* Local detector queue counters; false when there is no local detector. */
bool specx_pipeline_local_stats(specx_pipeline *p, specx_local_executor_stats *out);

/* Drains, shuts the operator down, closes detectors and channels. NULL-safe. */
void specx_pipeline_destroy(specx_pipeline *p);

/* One output as a JSON object on one line (no trailing newline); malloc'd,
 * NULL on allocation failure. Schema in docs/run.md. */
char *specx_pipeline_output_json(const specx_pipeline_output *o);

/* "deadline MS" argument: a number of milliseconds (>= 0), or "none"/"inf"
 * for SPECX_TIME_NEVER. Returns false on a malformed value. */
bool specx_pipeline_parse_deadline(const char *s, specx_dur_t *out);

#endif
