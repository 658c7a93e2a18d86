/* run.h — `specx run`'s printing around a paced video run
 * (specx_pipeline_run): one line per frame (--verbose), a progress bar, the
 * summary and its JSON; shared by `specx run` and `specx demo`.
 *
 * Blocking, single use per call; the summary goes to stdout (stderr when the
 * JSON lines go to stdout), errors one line each to stderr. Catches SIGINT for
 * the duration of the run: Ctrl-C stops reading frames, drains and
 * summarises. */
#ifndef SPECX_APP_RUN_H
#define SPECX_APP_RUN_H

#include <stdbool.h>

#include "specx/pipeline.h"

typedef struct specx_run_report {
    const char *prog;       /* "specx run", for messages */
    bool verbose;           /* one line per frame on stderr; FFmpeg's own messages */
    const char *stats_json; /* the summary as JSON; NULL = none */
    /* Serve the vehicle metrics at http://ADDR:PORT/metrics during the run
     * (the bound address is printed on stderr); NULL = none. */
    const char *metrics;
} specx_run_report;

/* Runs cfg (with this file's output hook and notices in place of its own)
 * and prints. Returns the exit code: 0 done, 1 runtime failure (bad video,
 * model, output file, or no frame with a result). */
int specx_cmd_run_video(const specx_pipeline_run_config *cfg, const specx_run_report *rep);

#endif
