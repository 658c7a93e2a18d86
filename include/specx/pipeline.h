/* specx/pipeline.h — the frame-to-output engine: decoded frames in, one output
 * per frame out, from a speculative operator over an optional local detector
 * and optional remote detection servers; and a paced video run on top of it
 * (JSON lines, an annotated video, counters for a summary). `specx run`,
 * `specx demo` and `specx eval` are thin layers over this header.
 *
 * Contract
 *  - Set-ups: local-only, remote-only (finite deadline, or SPECX_TIME_NEVER:
 *    wait for the servers however long they take), or both. Executors are
 *    indexed remotes first, in the order given, then the local one.
 *  - Priorities: a higher number is more preferred; the local detector always
 *    ranks lowest. A server whose priority was not given gets n_servers - i,
 *    so a server listed earlier is preferred over one listed later.
 *  - Every pushed frame gets exactly one output, in push order, also under
 *    overload: the local detector has a bounded drop-oldest queue (a displaced
 *    frame's local call fails with SPECX_EBUSY), each server an in-flight
 *    bound (frames beyond it are not sent: fate "shed"); a frame nobody
 *    answered is a "no result" output with a reason. See docs/run.md.
 *  - Threads: push/drain/finish/stats from one feeding thread. The output
 *    callback runs one at a time, in push order: on an internal delivery
 *    thread (STREAM) or on the pushing thread before push returns (SYNC); it
 *    must not call drain, finish or destroy.
 *  - Blocking: create blocks while the local model loads (server channels
 *    connect lazily: an unreachable server shows up as failed calls); drain and
 *    finish block until outputs are delivered (bounded by the deadline and the
 *    local queue, or by the servers when the deadline is SPECX_TIME_NEVER).
 *  - Ownership: push takes the image (also on error); everything in a
 *    specx_pipeline_output is borrowed, read-only, for the callback (the
 *    frame's pixels may still be read by a cancelled local call: draw on a
 *    copy). Errors are specx_status with a message naming the model, server
 *    or file. */
#ifndef SPECX_PIPELINE_H
#define SPECX_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/detector.h"
#include "specx/hist.h"
#include "specx/image.h"
#include "specx/local_executor.h"
#include "specx/metrics.h"
#include "specx/operator.h"
#include "specx/rpc.h"
#include "specx/stats.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The engine ------------------------------------------------------- */

#define SPECX_PIPELINE_MAX_SERVERS 16
#define SPECX_PIPELINE_MAX_EXEC (SPECX_PIPELINE_MAX_SERVERS + 1)

typedef struct specx_pipeline specx_pipeline;

typedef enum specx_pipeline_mode {
    SPECX_PIPELINE_STREAM = 0, /* push returns at once; several frames in flight */
    SPECX_PIPELINE_SYNC,       /* push returns after that frame's output */
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
    /* The adaptive deadline planned this frame "emit local early" (operator
     * rule 9): a server was predicted to miss, so the local answer did not
     * wait for it. */
    bool early;
    specx_status status; /* SPECX_OK, or why there is no result */
    const char *reason;  /* one line when winner < 0 */
    double latency_ms;   /* arrival (push) to output */
    double deadline_ms;  /* relative to arrival; -1 when none (local-only, NEVER) */
    double hol_wait_ms;  /* decided to delivered (waiting for earlier frames) */
    size_t n_exec;
    const specx_pipeline_exec *exec;    /* indexed like executors */
    const specx_detections *detections; /* the winner's; NULL for "no result" */
    /* The frame, read-only: a local call cancelled when this output was
     * decided may still be reading it (until its detector's next cancel
     * checkpoint). Copy it to draw on it. */
    const specx_image *image;
    const specx_output *raw; /* the operator's output */
} specx_pipeline_output;

typedef void (*specx_pipeline_output_fn)(void *user, const specx_pipeline_output *out);

typedef struct specx_pipeline_config {
    /* Local detector: `local` opened with specx_pipeline_open_detector
     * (local.model NULL or "": none), or `local_detector` (taken over, also
     * on error), or neither (remote-only). */
    specx_detector_config local;
    specx_detector *local_detector;
    int local_queue_depth; /* frames waiting for the local detector; 0 = 1 */
    /* Remote servers, already parsed (specx_rpc_client_config_parse); at most
     * SPECX_PIPELINE_MAX_SERVERS. The executor is named name, else target. */
    const specx_rpc_client_config *servers;
    size_t n_servers;
    /* A server without priority_set gets priority n_servers - i (an earlier
     * server is preferred); one without max_in_flight_set gets
     * remote_max_in_flight. */
    int remote_max_in_flight; /* 0 = 4 */
    specx_dur_t deadline;     /* relative to arrival; SPECX_TIME_NEVER = none */
    /* The deadline policy (docs/run.md). false, fixed: every frame waits for
     * the servers up to `deadline`. true, adaptive: each server's round trip
     * is estimated online from its recent calls (calls still out count as at
     * least their age); a frame waits for a server only when its estimated
     * chance of answering before `deadline` is at least adaptive_target,
     * else the local answer goes out as soon as it is ready (the call is
     * still sent, and cancelled then). */
    bool adaptive_deadline;
    double adaptive_target; /* in (0, 1]; 0 = 0.5 */
    /* Frames sent to servers: JPEG at this quality (0 = 90), each server's
     * scaled to the input of its model as the server's replies report it
     * (the whole frame while unknown), encoded once per distinct size off
     * the pushing thread; boxes come back in pixels of the frame.
     * full_frames: every server gets the whole frame (for comparisons). */
    int jpeg_quality;
    bool full_frames;
    bool accept_late_while_no_local;
    specx_pipeline_mode mode;
    specx_pipeline_output_fn output; /* required */
    void *output_user;
    /* Registry for the vehicle-side metric families (docs/metrics.md),
     * updated lock-free per output; borrowed, must outlive the pipeline;
     * one pipeline per registry. NULL = no metrics. */
    specx_metrics *metrics;
} specx_pipeline_config;

/* Opens the local detector and the server channels. */
specx_status specx_pipeline_create(const specx_pipeline_config *cfg, specx_pipeline **out,
                                   specx_err *err);

/* Hands one decoded frame to the operator (arrival time = now). Takes
 * ownership of *img (zeroed on return, also on error). After finish:
 * SPECX_ESTOPPED. */
specx_status specx_pipeline_push(specx_pipeline *p, specx_image *img, int64_t index, double pts,
                                 specx_err *err);

/* Blocks until every pushed frame's output has been delivered. */
void specx_pipeline_drain(specx_pipeline *p);

/* Drains, then shuts the operator down: every call (cancelled local work
 * included) has completed and the uplink's encoder is idle when it returns,
 * so statistics read afterwards are final. Idempotent. (A probe left to
 * finish on the wire to learn a server's model size, docs/run.md, may still
 * be out; destroy cancels it.) */
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
/* What was sent to one server (executor index < n_servers): frames sent,
 * how many were scaled to its model's input, their JPEG bytes. */
typedef struct specx_pipeline_uplink_counts {
    uint64_t frames_sent, frames_scaled, bytes_sent;
} specx_pipeline_uplink_counts;
/* false when exec_index is not a server. Thread-safe. */
bool specx_pipeline_uplink_stats(specx_pipeline *p, size_t exec_index,
                                 specx_pipeline_uplink_counts *out);

/* The encoding of frames for the servers (on the pipeline's uplink thread):
 * JPEGs made (one per frame and distinct size wanted), jobs skipped (every
 * call that wanted one was decided or cancelled first), and the time per
 * JPEG, scaling included (ns). false when there are no servers. */
typedef struct specx_pipeline_encoder_counts {
    uint64_t encodes, skipped;
    specx_hist encode_ns;
} specx_pipeline_encoder_counts;
bool specx_pipeline_encoder_stats(specx_pipeline *p, specx_pipeline_encoder_counts *out);

/* Local detector queue counters; false when there is no local detector. */
bool specx_pipeline_local_stats(specx_pipeline *p, specx_local_executor_stats *out);
/* Calls per backend of server executor i (specx_rpc_client_backends: where
 * gRPC's load balancing sent them); 0 for the local executor. Thread-safe. */
size_t specx_pipeline_server_backends(specx_pipeline *p, size_t i, specx_rpc_backend_stats *out,
                                      size_t max);

/* Drains, shuts the operator down, closes detectors and channels. NULL-safe. */
void specx_pipeline_destroy(specx_pipeline *p);

/* The one detector factory: model name (or "test[:spec]", the built-in test
 * detector of rpc.h), model directory, backend, threshold and threads from a
 * specx_detector_config. Shaped as the server's open_detector callback:
 * pass the config as `detector_config` (worker is ignored: every worker
 * opens the same model). Blocks while the model loads; thread-safe. */
specx_status specx_pipeline_open_detector(void *detector_config, int worker, specx_detector **out,
                                          specx_err *err);

/* One output as a JSON object on one line (no trailing newline); malloc'd,
 * NULL on allocation failure. Schema in docs/run.md. Thread-safe. */
char *specx_pipeline_output_json(const specx_pipeline_output *o);

/* ---- Pacing ----------------------------------------------------------- */

/* A camera clock: frame i is due at t0 + i/fps on an absolute
 * CLOCK_MONOTONIC schedule, so late frames do not shift later ones. A value;
 * use from one thread. */
typedef struct specx_pacer {
    specx_time_t t0;
    double fps; /* <= 0: unpaced */
} specx_pacer;

/* Starts the schedule now. */
void specx_pacer_start(specx_pacer *p, double fps);

/* Sleeps until frame i is due (at once if it is already, or unpaced).
 * Returns false, early, when *stop is set (stop may be NULL): a signal
 * handler that sets it interrupts the sleep when the signal reaches this
 * thread, and the sleep ends at the due time otherwise. */
bool specx_pacer_wait(const specx_pacer *p, int64_t i, const atomic_bool *stop);

/* ---- A paced video run -------------------------------------------------- */

/* A video file, URL or image directory through a pipeline: frames read,
 * paced, pushed; each output written as a JSON line, drawn and encoded into
 * an annotated video (on its own thread at a lower priority, up to 64 frames
 * queued), and counted. Single use: open, play, read the counts, close. Not
 * thread-safe; the hook runs on the pipeline's delivery thread (STREAM) or
 * the playing thread (SYNC). */
typedef struct specx_pipeline_run specx_pipeline_run;

typedef struct specx_pipeline_run_config {
    /* The engine (its local_detector is taken over, also on error).
     * output/output_user: an optional hook, called for every output after it
     * has been written, drawn and counted. */
    specx_pipeline_config pipeline;
    const char *video;          /* file, URL or image directory */
    double fps;                 /* < 0: the source's (a URL paces itself); 0 = unpaced */
    int64_t max_frames;         /* 0 = all */
    const char *jsonl;          /* JSON lines file; "-" = stdout; NULL = none */
    const char *annotate;       /* video file or directory; NULL = none */
    const char *annotate_codec; /* FFmpeg encoder; NULL = the writer's default */
    /* Non-fatal problems (a frame that did not decode), one line each;
     * NULL: dropped. Called on the playing thread. */
    void (*notice)(void *user, const char *line);
    void *notice_user;
} specx_pipeline_run_config;

typedef struct specx_pipeline_run_counts {
    int64_t total;  /* frames expected (the source's count, capped), -1 unknown */
    double fps;     /* the pacing rate used; 0 = unpaced */
    int64_t pushed; /* frames handed to the pipeline */
    int64_t outputs, no_result, fallbacks;
    bool order_ok;    /* every output came in push order */
    bool interrupted; /* play stopped early through *stop */
    specx_time_t started;
    double wall_s; /* start of play to the last output */
    size_t n_exec;
    uint64_t wins[SPECX_PIPELINE_MAX_EXEC];
    uint64_t no_result_by[SPECX_STATUS_COUNT_]; /* by output status */
    char first_failure[SPECX_PIPELINE_MAX_EXEC][200];
    size_t annotate_queue_peak, annotate_queue_max;
} specx_pipeline_run_counts;

/* Opens the video, the pipeline, the JSON lines file and the annotated
 * output (which needs the source's frame rate). Errors name the file. */
specx_status specx_pipeline_run_open(const specx_pipeline_run_config *cfg, specx_pipeline_run **out,
                                     specx_err *err);

/* Reads, paces and pushes frames until the end, max_frames or *stop (may be
 * NULL), then finishes the pipeline and closes the JSON lines file and the
 * annotated output. Returns the first fatal error (25 unreadable frames in a
 * row, an output that could not be written, a video without frames); the
 * counts and statistics are valid either way. Blocks; call once. */
specx_status specx_pipeline_run_play(specx_pipeline_run *r, const atomic_bool *stop,
                                     specx_err *err);

/* Counters, updated as outputs arrive (final after play). */
const specx_pipeline_run_counts *specx_pipeline_run_counts_get(const specx_pipeline_run *r);
/* The engine (for names, statistics); owned by the run. */
specx_pipeline *specx_pipeline_run_engine(specx_pipeline_run *r);

/* Closes everything (finishing first if play was not called). NULL-safe. */
void specx_pipeline_run_close(specx_pipeline_run *r);

#ifdef __cplusplus
}
#endif
#endif
