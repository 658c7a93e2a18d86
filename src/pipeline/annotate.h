/* annotate.h — the annotated output of a run (internal): each output drawn
 * on a copy of its frame (the winner's boxes in its colour, a banner, a
 * legend) on the delivery thread, then encoded on the annotator's own
 * thread. The frame itself is never written: a cancelled local call may
 * still be reading it.
 *
 * Threads: add from one thread at a time (the delivery thread); close from
 * the owner once no add can come. add blocks while
 * SX_PIPELINE_ANNOTATE_QUEUE_MAX frames wait for the encoder, which bounds
 * memory at the price of delivery. A write failure is kept and returned by
 * close; later frames are dropped. */
#ifndef SX_PIPELINE_ANNOTATE_H
#define SX_PIPELINE_ANNOTATE_H

#include <stddef.h>

#include "specx/pipeline.h"

#define SX_PIPELINE_ANNOTATE_QUEUE_MAX 64

typedef struct sx_pipeline_annotator sx_pipeline_annotator;

/* Opens the writer for path (a video file, or a directory of JPEGs) at fps
 * and starts the encoder thread; names and colours come from p. */
specx_status sx_pipeline_annotator_open(const char *path, const char *codec, double fps,
                                        const specx_pipeline *p, sx_pipeline_annotator **out,
                                        specx_err *err);
/* Copies out->image, draws on the copy and queues it for the encoder. */
void sx_pipeline_annotator_add(sx_pipeline_annotator *a, const specx_pipeline_output *out);
/* Most frames that waited for the encoder at once. */
size_t sx_pipeline_annotator_peak(sx_pipeline_annotator *a);
/* Lets the encoder finish the queue, closes the writer, frees; returns the
 * first failure. NULL-safe. */
specx_status sx_pipeline_annotator_close(sx_pipeline_annotator *a, specx_err *err);

#endif
