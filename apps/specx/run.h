/* run.h — a paced video run through the pipeline with JSON lines, an
 * annotated video, a progress bar and a summary: the body of `specx run`,
 * reused by `specx demo`.
 *
 * Blocking, single use per call; prints the summary to stdout and errors (one
 * line each) to stderr. Not thread-safe (installs a SIGINT handler for the
 * duration of the run: Ctrl-C stops reading frames, drains and summarises). */
#ifndef SPECX_APP_RUN_H
#define SPECX_APP_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"

typedef struct specx_run_opts {
    const char *video; /* file, URL or image directory */
    const char *local_model;
    const char *backend, *model_dir;
    const char *const *servers;
    size_t n_servers;
    specx_dur_t deadline;       /* relative; SPECX_TIME_NEVER = none */
    double fps;                 /* pacing; < 0 = the source's rate, 0 = unpaced */
    int64_t max_frames;         /* 0 = all */
    const char *out_jsonl;      /* NULL = none; "-" = stdout */
    const char *annotate;       /* video file or directory; NULL = none */
    const char *annotate_codec; /* FFmpeg encoder; NULL = the writer's default */
    const char *stats_json;     /* NULL = none */
    bool verbose;
    specx_pipeline_mode mode;
    int jpeg_quality;  /* 0 = 90 */
    int local_queue;   /* 0 = 1 */
    int max_in_flight; /* per server without inflight=; 0 = 4 */
    const char *prog;  /* "specx run" for messages */
} specx_run_opts;

/* Returns the exit code: 0 done, 1 runtime failure (bad video, model,
 * output file). */
int specx_run_video(const specx_run_opts *o);

#endif
