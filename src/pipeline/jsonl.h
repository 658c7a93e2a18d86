/* jsonl.h — the JSON lines file of a run (internal): one line per output,
 * written on the delivery thread, closed (and checked) once at the end. A
 * value owned by the run; not thread-safe. */
#ifndef SX_PIPELINE_JSONL_H
#define SX_PIPELINE_JSONL_H

#include <stdbool.h>
#include <stdio.h>

#include "specx/pipeline.h"

typedef struct sx_pipeline_jsonl {
    const char *path; /* "-" = stdout; NULL = no file */
    FILE *f;
    bool owned; /* f is ours to close */
    int error;  /* errno of the first line that could not be written; 0 = none */
} sx_pipeline_jsonl;

/* Opens path ("-": stdout; NULL: nothing to write). */
specx_status sx_pipeline_jsonl_open(sx_pipeline_jsonl *j, const char *path, specx_err *err);
/* Appends o as one line; a failure is remembered for close. */
void sx_pipeline_jsonl_write(sx_pipeline_jsonl *j, const specx_pipeline_output *o);
/* Flushes and closes; fails if any line or the close failed. Idempotent. */
specx_status sx_pipeline_jsonl_close(sx_pipeline_jsonl *j, specx_err *err);

#endif
