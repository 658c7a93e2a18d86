/* specx/eval.h — accuracy evaluation: a labelled-image dataset loader,
 * mean average precision (COCO and VOC/darknet definitions), and the
 * results of a deadline sweep with writers for report.html (SVG plots),
 * results.json and results.csv.
 *
 * Boxes are pixels of the image (xmin<=xmax, ymin<=ymax), as in
 * specx/detection.h. Class ids index the model's names file (COCO order for
 * the bundled models).
 *
 * Thread-safety: every function is thread-compatible (no shared state);
 * distinct objects may be used from distinct threads. Nothing blocks except
 * on file I/O. Ownership: objects returned through out-pointers belong to
 * the caller and are released with the matching _free function; on error
 * the out-pointer is left NULL (or the struct zeroed) and nothing leaks. */
#ifndef SPECX_EVAL_H
#define SPECX_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/netem.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dataset ---------------------------------------------------------- */

typedef struct specx_eval_box {
    int class_id;
    float xmin, ymin, xmax, ymax; /* pixels */
    int crowd; /* 1 = a crowd region: never a miss, may absorb detections (COCO iscrowd) */
} specx_eval_box;

typedef struct specx_eval_image {
    char *name; /* file name without directory, e.g. "000000000139.jpg" */
    char *path; /* full path of the image */
    int width, height;
    size_t n_boxes;
    specx_eval_box *boxes; /* ground truth */
} specx_eval_image;

typedef struct specx_eval_dataset {
    size_t count;
    specx_eval_image *images; /* sorted by name */
} specx_eval_dataset;

/* Loads ROOT/IMAGES (JPEG/PNG files; NULL = "images") and YOLO labels from
 * ROOT/LABELS/<stem>.txt (NULL = "labels"; lines "class cx cy w h",
 * normalised to 0..1). An image without a label file has no objects, but a
 * missing label directory (SPECX_ENOTFOUND) or one without a single
 * labelled object (SPECX_EFORMAT) is an error. Image sizes come from the
 * JPEG SOF / PNG IHDR headers. */
specx_status specx_eval_dataset_load(const char *root, const char *images, const char *labels,
                                     specx_eval_dataset **out, specx_err *err);
/* SPECX_EFORMAT naming the image when a label's class id is not below
 * n_classes (the names list, called names_origin in the message). */
specx_status specx_eval_dataset_check_classes(const specx_eval_dataset *ds, int n_classes,
                                              const char *names_origin, specx_err *err);
void specx_eval_dataset_free(specx_eval_dataset *ds); /* NULL-safe */

/* Width and height of a JPEG or PNG file from its header (no decoding). */
specx_status specx_eval_image_size(const char *path, int *width, int *height, specx_err *err);

/* ---- mean average precision --------------------------------------------- */

typedef enum specx_eval_area {
    SPECX_AREA_ALL = 0,
    SPECX_AREA_SMALL,  /* area < 32² px */
    SPECX_AREA_MEDIUM, /* 32² .. 96² */
    SPECX_AREA_LARGE,  /* > 96² */
    SPECX_AREA_COUNT
} specx_eval_area;

typedef struct specx_map_options {
    int max_dets;    /* COCO: detections kept per image and class, by score; 0 = 100 */
    int num_classes; /* divisor of darknet_map50; 0 = 80 (COCO) */
} specx_map_options;

typedef struct specx_map_result {
    /* COCO definitions: greedy matching by descending score per image and
     * class, IoU >= t, 101-point interpolated precision, mean over classes
     * that have ground truth. */
    double map50;                      /* AP@0.5 */
    double map75;                      /* AP@0.75 */
    double map;                        /* AP@[.5:.95], 10 thresholds */
    double map_area[SPECX_AREA_COUNT]; /* AP@[.5:.95] per area range; -1 = no gt there */
    /* VOC2010+/darknet definition at IoU > 0.5: all-point interpolation,
     * a detection whose best-IoU truth is already taken is a false positive,
     * no per-image cap on detections. */
    double voc_map50;     /* mean over classes with ground truth */
    double darknet_map50; /* sum over classes with ground truth / num_classes (darknet divides
                             by every class of the model, so absent classes count as 0) */
    int num_classes;      /* length of the per-class arrays (largest class id seen + 1) */
    double *ap50, *ap, *voc_ap50; /* per class; -1 where the class has no ground truth */
    size_t *n_gt;                 /* per class, crowd boxes excluded */
    size_t classes_with_gt, total_gt, total_det;
} specx_map_result;

/* dets[i] are the detections for gt[i] (n_images entries each; a
 * specx_detections with count 0 is fine). opts may be NULL. */
specx_status specx_map_evaluate(const specx_eval_image *gt, const specx_detections *dets,
                                size_t n_images, const specx_map_options *opts,
                                specx_map_result *out, specx_err *err);
void specx_map_result_free(specx_map_result *r); /* frees the arrays, zeroes r */

/* Intersection over union of two pixel boxes (0 when either is empty). */
double specx_eval_iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                      float by1);

/* ---- results of a sweep, and their writers ------------------------------ */

#define SPECX_EVAL_NAME_MAX 32

/* A point estimate with a confidence interval; NAN where undefined (e.g. a
 * latency quantile of a cell in which no frame got an output). */
typedef struct specx_eval_ci {
    double est, lo, hi;
} specx_eval_ci;

#define SPECX_EVAL_MAX_EXECUTORS 17

/* One mode at one deadline, all repeats pooled, with intervals. */
typedef struct specx_eval_cell {
    specx_eval_ci map50, map; /* mAP of every repeat's answers pooled */
    /* arrival to output over frames with an output, repeats pooled */
    specx_eval_ci latency_p50, latency_p90, latency_p99;
    specx_eval_ci won[SPECX_EVAL_MAX_EXECUTORS]; /* share of frames per executor */
    specx_eval_ci no_result;                     /* share of frames without an answer */
    specx_eval_ci latency_mean; /* arrival to output, mean over frames with an output */
} specx_eval_cell;

/* mAP@0.5 of "speculative" minus that of "local", of "cloud" and of the
 * better of the two, at one deadline; each difference is taken within one
 * resample (paired), so its interval is that of the difference. */
typedef struct specx_eval_gain {
    specx_eval_ci vs_local, vs_cloud, vs_best;
} specx_eval_gain;

/* One run: one mode at one deadline, one repeat. */
typedef struct specx_eval_run {
    double map50, map; /* accuracy of this run's outputs */
    size_t n_frames;
    double *latency_ms; /* per frame, from arrival to output; NAN if no output */
    int *winner;        /* per frame: index into executors, -1 = no result */
    double *compute_ms; /* per frame: the winner's compute time where known, else NAN */
    /* live runs: the link's clock when the first frame arrived (ms since the
     * emulated link started; NAN when unknown or no link) */
    double link_offset_ms;
} specx_eval_run;

typedef struct specx_eval_results {
    char title[128];
    char notes[2048]; /* free text shown under the title (dataset, profile, seed, ...) */
    size_t n_modes, n_deadlines, n_repeats, n_executors;
    char (*modes)[SPECX_EVAL_NAME_MAX];     /* e.g. "local", "cloud", "speculative" */
    char (*executors)[SPECX_EVAL_NAME_MAX]; /* names for winner indices */
    double *deadlines_ms;                   /* increasing */
    specx_eval_run *runs;                   /* n_modes × n_deadlines × n_repeats */
    /* Intervals, filled by specx_eval_bootstrap_summarize (NULL until then):
     * cells n_modes × n_deadlines (mode-major); gains per deadline, only
     * when modes named local, cloud and speculative are all present. */
    specx_eval_cell *cells;
    specx_eval_gain *gains;
    size_t boot_samples; /* resamples behind the intervals */
    double ci_level;     /* e.g. 0.95 */
} specx_eval_results;

/* Allocates the tables (names empty, runs with no frames). */
specx_status specx_eval_results_init(specx_eval_results *r, size_t n_modes, size_t n_deadlines,
                                     size_t n_repeats, size_t n_executors, specx_err *err);
void specx_eval_results_free(specx_eval_results *r); /* NULL-safe, zeroes r */

/* The run for (mode, deadline, repeat); NULL when out of range. */
specx_eval_run *specx_eval_results_run(const specx_eval_results *r, size_t mode, size_t deadline,
                                       size_t repeat);

/* Allocates a run's per-frame arrays (latency and compute NAN, winner -1);
 * link_offset_ms becomes NAN. */
specx_status specx_eval_run_frames(specx_eval_run *run, size_t n_frames, specx_err *err);

/* The cell for (mode, deadline); NULL when out of range or not computed. */
const specx_eval_cell *specx_eval_results_cell(const specx_eval_results *r, size_t mode,
                                               size_t deadline);
/* Index of the mode named `name`, or -1. */
int specx_eval_results_mode(const specx_eval_results *r, const char *name);

/* ---- confidence intervals: a bootstrap over frames and repeats ---------- */

/* Collects, for every run of a results table, which answer each frame was
 * scored with, then resamples frames and repeats to put intervals on every
 * cell's figures. An *answer* is one detection list for one frame; runs that
 * share answers (a replay's local model gives the same detections for a frame
 * in every run) register each once, and scoring a resample then costs one
 * pass over the answers a cell uses (docs/eval.md, "Intervals").
 *
 * Resampling: each resample draws the repeats with replacement and,
 * independently, the frames with replacement in blocks of `block` consecutive
 * frames (circular; 1 for independent images, longer for video, whose
 * neighbouring frames are alike), and weighs every (repeat, frame) answer by
 * the product of the two multiplicities. The estimate is the figure of the
 * full pooled set; the interval is the percentile interval of the resampled
 * figures. One set of resamples serves every cell, so differences between
 * cells (specx_eval_gain) are paired. Deterministic for a seed. */
typedef struct specx_eval_bootstrap specx_eval_bootstrap;

/* For the runs of r (its shape and executors; r is not kept) over the n_frames
 * images gt (borrowed until destroy). Each run starts with no answers. */
specx_status specx_eval_bootstrap_create(const specx_eval_results *r, const specx_eval_image *gt,
                                         size_t n_frames, specx_eval_bootstrap **out,
                                         specx_err *err);
void specx_eval_bootstrap_destroy(specx_eval_bootstrap *b); /* NULL-safe */

#define SPECX_EVAL_NO_ANSWER UINT32_MAX

/* Registers d as an answer for `frame` (matched against its truths now; d is
 * not kept) and returns its id. */
specx_status specx_eval_bootstrap_answer(specx_eval_bootstrap *b, size_t frame,
                                         const specx_detections *d, uint32_t *id, specx_err *err);
/* Frame i of run (mode, deadline, repeat) was scored with answer ids[i]
 * (SPECX_EVAL_NO_ANSWER: no detections). ids has n_frames entries. */
specx_status specx_eval_bootstrap_set_run(specx_eval_bootstrap *b, size_t mode, size_t deadline,
                                          size_t repeat, const uint32_t *ids, specx_err *err);
/* Both at once: dets[i] (n_frames of them; count 0 = no detections) become
 * this run's own answers. */
specx_status specx_eval_bootstrap_add_run(specx_eval_bootstrap *b, size_t mode, size_t deadline,
                                          size_t repeat, const specx_detections *dets,
                                          specx_err *err);

typedef struct specx_eval_bootstrap_options {
    size_t samples; /* resamples; 0 = 1000 */
    double level;   /* 0 = 0.95 */
    uint64_t seed;  /* of the resampling */
    size_t block;   /* frames per block; 0 = 1 */
    bool skip_map;  /* intervals for mAP@0.5 only (mAP@[.5:.95]: estimate only; 10x cheaper) */
} specx_eval_bootstrap_options;

/* Computes r->cells (and r->gains) from the runs' answers and r's per-frame
 * latencies and winners, and sets every run's map50 and map from its
 * answers. Every run of r must have been set. o may be NULL. CPU-bound;
 * see docs/eval.md for its cost. */
specx_status specx_eval_bootstrap_summarize(specx_eval_bootstrap *b, specx_eval_results *r,
                                            const specx_eval_bootstrap_options *o, specx_err *err);

/* Self-contained HTML (inline SVG, no scripts, no network): mAP vs deadline
 * per mode (with the intervals as bands when r->cells is set, else min–max
 * bars over repeats), the speculative gain and the latency cost vs deadline
 * (with cells), latency CDF per mode, per-frame winner strips, and a table
 * of the numbers. */
specx_status specx_eval_write_report(const specx_eval_results *r, const char *path, specx_err *err);
specx_status specx_eval_write_json(const specx_eval_results *r, const char *path, specx_err *err);
/* One row per run: mode, deadline_ms, repeat, map50, map, frames, latency
 * p50/p90/p99, no_result, then the share of frames each executor won. */
specx_status specx_eval_write_csv(const specx_eval_results *r, const char *path, specx_err *err);
/* With cells: one row per mode and deadline, every figure as est,lo,hi;
 * then the gains. */
specx_status specx_eval_write_summary_csv(const specx_eval_results *r, const char *path,
                                          specx_err *err);
/* The report's plots as standalone SVG files in dir: map50.svg, map.svg and,
 * with cells, gain.svg and latency.svg. */
specx_status specx_eval_write_svgs(const specx_eval_results *r, const char *dir, specx_err *err);

/* ---- replay: the real operator on a virtual clock ------------------------
 *
 * A replay runs one mode at one deadline over a list of frames without
 * models, sockets or threads: each frame's local and cloud answers come from
 * a cache (computed once), compute times are draws from measured (or given)
 * distributions, and network round trips come from the netem link model
 * (specx_netem_sim_*) driven by the run's own traffic. The selection is made
 * by the real libspecx operator (specx/operator.h) on a manual clock, with
 * two executors that complete at the simulated times: a local one (one frame
 * at a time, a drop-oldest queue as in the pipeline) and a remote one (JPEG
 * encode, uplink, the server's deadline-ordered queue and workers, downlink,
 * the wire deadline, cancellation). docs/eval.md lists every modelling
 * decision. Deterministic for a seed.
 *
 * Executor indices in outputs: 0 = the cloud, 1 = local (as `specx eval`
 * names them: servers first, then local).
 *
 * Threads: specx_replay_run installs a process-wide virtual clock
 * (core/virtual_time.h) for its duration, so one replay runs at a time in a
 * process, and nothing else in the process may read specx_time_now() while
 * it runs. It blocks only for its own CPU work. */

/* One frame as the replay sees it. Everything is borrowed for the run. */
typedef struct specx_replay_frame {
    const specx_detections *local; /* the local model's answer */
    const specx_detections *cloud; /* the cloud model's answer to the JPEG */
    size_t request_bytes;          /* the JPEG as sent */
    size_t reply_bytes;            /* the cloud's answer on the wire (specx_replay_reply_bytes) */
    double encode_ms;              /* JPEG encoding on the vehicle before the call starts */
} specx_replay_frame;

/* Bytes of a Response carrying d (protobuf, as specx serve sends it on a
 * unary call, without HTTP/2 framing). */
size_t specx_replay_reply_bytes(const specx_detections *d);

/* A compute-time distribution: samples in ms, drawn uniformly. */
typedef struct specx_replay_dist {
    size_t n;
    double *ms;
    char desc[160]; /* how it was obtained, for notes */
} specx_replay_dist;

/* DIST: a number (constant ms), "FILE" (one ms value per line, '#' comments;
 * e.g. `specx eval`'s compute-*.txt of a live run), or "measured" (a copy of
 * *measured, which may then not be NULL). */
specx_status specx_replay_dist_parse(const char *spec, const specx_replay_dist *measured,
                                     specx_replay_dist *out, specx_err *err);
/* Copies n samples (n > 0). */
specx_status specx_replay_dist_from(const double *ms, size_t n, const char *desc,
                                    specx_replay_dist *out, specx_err *err);
double specx_replay_dist_quantile(const specx_replay_dist *d, double q); /* NAN when empty */
void specx_replay_dist_clear(specx_replay_dist *d);

/* What a frame came out as. Valid during the callback only. */
typedef struct specx_replay_output {
    size_t frame;
    int winner;                         /* 0 cloud, 1 local, -1 no result */
    bool fallback;                      /* local after the deadline (operator rule 5) */
    specx_status status;                /* SPECX_OK, or why there is no result */
    double latency_ms;                  /* arrival to output */
    specx_time_t arrival, emitted;      /* virtual time */
    const specx_detections *detections; /* what the frame is scored with (NULL: nothing) */
} specx_replay_output;

/* A mode: which executors run, and hooks a new policy plugs in through
 * (docs/eval.md, "Adding a mode"). Built-in modes have no hooks. */
typedef struct specx_replay_mode {
    const char *name;
    bool local;     /* the local model sees every frame */
    bool remote;    /* the cloud is called */
    bool unbounded; /* cloud calls have no deadline and no in-flight bound */
    /* Cloud deadline for a frame, relative to its arrival (ns); < 0 skips
     * the cloud for it; NULL: the run's deadline for every frame. Called
     * once per frame, in order, at its arrival (virtual time `arrival`). */
    specx_dur_t (*plan)(void *user, size_t frame, specx_time_t arrival, specx_dur_t run_deadline);
    /* Every cloud answer that reaches the vehicle, at virtual time `at`:
     * in time, late, or (keep_calls) after its frame was decided. */
    void (*on_reply)(void *user, size_t frame, specx_time_t at, const specx_detections *d);
    /* What a frame is scored with: fill *scored (empty on entry) from the
     * output; return false to keep the winner's answer. Runs at the
     * output's emission (virtual time o->emitted), after every on_reply
     * up to then. */
    bool (*post)(void *user, const specx_replay_output *o, specx_detections *scored);
    /* The vehicle does not cancel cloud calls when their frame is decided
     * (the operator's cancel only ends its interest): the server computes
     * them and the answer still arrives, for on_reply. */
    bool keep_calls;
    /* > 0: the adaptive deadline (the same policy as `specx run
     * --deadline-policy adaptive`, core/deadline_policy.h): per frame, wait
     * for the cloud only when its estimated chance of answering in time is
     * at least this; else emit the local answer as soon as it is ready
     * (operator rule 9). Applied after `plan`. 0: the fixed deadline. */
    double adaptive_target;
    void *user;
} specx_replay_mode;

/* "local", "cloud", "speculative", "cloud-unbounded", "speculative-adaptive"
 * (target 0.5); NULL if unknown.
 * Static storage: copy it to set hooks. */
const specx_replay_mode *specx_replay_mode_builtin(const char *name);

typedef struct specx_replay_config {
    const specx_replay_frame *frames;
    size_t n_frames;
    double fps;                         /* frame i arrives at i / fps */
    const specx_netem_profile *profile; /* NULL: no link (zero delay) */
    uint64_t seed;                      /* link realization and compute draws */
    const specx_replay_dist *local_ms;  /* local model compute time */
    const specx_replay_dist *cloud_ms;  /* server decode + inference time */
    /* Optional: what the software path adds to each cloud call beyond the
     * link and compute (gRPC, a proxy's hop, thread wake-ups on a loaded
     * host), drawn per call and added before the request joins the server's
     * queue. NULL: nothing (the method on an ideal host). docs/eval.md says
     * how to measure it from a live run. */
    const specx_replay_dist *host_ms;
    int cloud_workers;       /* server detector threads; 0 = 1 */
    int local_queue_depth;   /* frames waiting for the local model; 0 = 1 */
    int max_in_flight;       /* cloud calls; 0 = deadline·fps + 1, at least 4 */
    specx_dur_t link_offset; /* the link's clock at the first arrival (default 0) */
    specx_dur_t deadline;    /* cloud deadline after arrival */
    const specx_replay_mode *mode;
    void (*output)(void *user, const specx_replay_output *o); /* once per frame, in order */
    void *output_user;
} specx_replay_config;

/* What happened on the way (for notes and checks). */
typedef struct specx_replay_stats {
    size_t outputs, no_result, fallbacks;
    size_t cloud_sent, cloud_shed, cloud_won, cloud_late, cloud_cancelled;
    size_t cloud_early; /* adaptive: calls planned "emit local early" */
    size_t server_computed, server_expired, server_cancelled, server_stopped;
    size_t local_computed, local_dropped, local_cancelled;
    double virtual_s; /* virtual time from the first arrival to the last event */
} specx_replay_stats;

/* Runs every frame through the operator; blocks until done. stats may be NULL. */
specx_status specx_replay_run(const specx_replay_config *cfg, specx_replay_stats *stats,
                              specx_err *err);

/* ---- replay inputs: frames, answers and compute times through a cache ---
 *
 * A replay set is the frames of an image set or a video with, per frame,
 * the local model's answer (to the decoded pixels), the JPEG the vehicle
 * would send (its size and encoding time at the quality), the cloud model's
 * answer (to that JPEG, decoded, as specx serve computes it), and the
 * compute times measured when each answer was computed. Answers are cached
 * on disk, keyed by model, backend, score threshold and image content
 * (docs/eval.md, "The cache"); a miss runs the model on one thread, after a
 * warm-up inference, three times, and keeps the least time. */
typedef struct specx_replay_set_config {
    const char *cache_dir; /* an existing directory */
    const char *local_model, *cloud_model;
    const char *backend;   /* NULL: the default */
    const char *model_dir; /* NULL: resolved as specx_detector_open does */
    float threshold;       /* lowest score kept; 0 = 0.005 */
    int jpeg_quality;      /* 0 = 90 */
    bool need_local, need_cloud;
    /* The cloud gets every frame whole (`--full-frames`); else as the
     * pipeline's uplink sends it: scaled to the cloud model's letterbox
     * from the second frame on (docs/eval.md). */
    bool full_frames;
    /* Called after each frame (may be NULL); `computed`: a model ran. */
    void (*progress)(void *user, size_t done, size_t total, bool computed);
    void *progress_user;
} specx_replay_set_config;

typedef struct specx_replay_set {
    size_t n;
    specx_replay_frame *frames;                           /* n */
    specx_detections *local, *cloud;                      /* n each (empty when not needed) */
    specx_replay_dist local_ms;                           /* measured: one sample per frame */
    specx_replay_dist cloud_ms;                           /* measured: decode + inference */
    size_t computed_local, computed_cloud, computed_jpeg; /* cache misses */
    int width, height;                                    /* of the first frame */
    double fps; /* a video's own frame rate; 0 for images */
} specx_replay_set;

/* The first n images of ds (ds->count when n is 0). */
specx_status specx_replay_set_from_images(const specx_replay_set_config *cfg,
                                          const specx_eval_dataset *ds, size_t n,
                                          specx_replay_set **out, specx_err *err);
/* The frames of a video file (at most max_frames; 0 = all). */
specx_status specx_replay_set_from_video(const specx_replay_set_config *cfg, const char *path,
                                         size_t max_frames, specx_replay_set **out, specx_err *err);
void specx_replay_set_free(specx_replay_set *s); /* NULL-safe */

/* Ground truth from the cloud's own answers ("golden configuration": what
 * the cloud says on every frame with unbounded time): per frame, the cloud
 * detections with score >= min_score, as boxes. Names "frame-000000" ....
 * Free with specx_eval_dataset_free. */
specx_status specx_replay_set_golden(const specx_replay_set *s, float min_score,
                                     specx_eval_dataset **out, specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
