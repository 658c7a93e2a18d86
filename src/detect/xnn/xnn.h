/* xnn.h — internal: the XNNPACK detector engine behind the "xnnpack" backend,
 * exposed for tests and the benchmark (raw yolo outputs, per-layer profile).
 *
 * A sx_xnn owns its model, operators and buffers. Not thread-safe: one
 * call at a time per instance (use one instance per thread). Calls block;
 * with threads > 1 they fan out over the instance's own thread pool. */
#ifndef SPECX_DETECT_XNN_H
#define SPECX_DETECT_XNN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "specx/detection.h"
#include "specx/image.h"
#include "specx/status.h"

typedef struct sx_xnn sx_xnn;

/* names may be NULL or "" (labels are then "class N"). threads >= 1.
 * flags: 0, or SPECX_XNN_NO_DIRECT to run every convolution on XNNPACK
 * (tests and measurements of our direct depthwise kernel). */
#define SPECX_XNN_NO_DIRECT 1u
specx_status sx_xnn_open(const char *cfg, const char *weights, const char *names, int threads,
                         unsigned flags, sx_xnn **out, specx_err *err);
void sx_xnn_close(sx_xnn *x); /* NULL-safe */

void sx_xnn_input_size(const sx_xnn *x, int *width, int *height);
int sx_xnn_num_classes(const sx_xnn *x);
double sx_xnn_gflops(const sx_xnn *x);

/* letterbox (as darknet's letterbox_image) + network + decoding + NMS, with
 * darknet's semantics: one detection per (box, class) whose score exceeds
 * thresh, in the order darknet's do_nms_sort leaves them, boxes in pixels of img clamped to [0,
 * width-1] x [0, height-1]; nms <= 0 skips NMS. Appends to out (the caller clears it). */
specx_status sx_xnn_detect(sx_xnn *x, const specx_image *img, float thresh, float nms,
                           const atomic_bool *cancel, specx_detections *out, specx_err *err);

/* Letterboxes img into the network input and runs the network. */
specx_status sx_xnn_forward_image(sx_xnn *x, const specx_image *img, specx_err *err);
/* Runs the network on a ready input in darknet's layout (CHW planes of
 * width x height floats in 0..1). */
specx_status sx_xnn_forward_chw(sx_xnn *x, const float *chw, specx_err *err);

/* Letterboxes img into dst as darknet does (CHW planes, 0.5 grey fill). */
specx_status sx_xnn_letterbox_chw(const specx_image *img, int width, int height, float *dst,
                                  specx_err *err);

/* After a forward: the k-th yolo layer's output exactly as darknet holds it
 * (l.output after forward_yolo_layer: [anchor][entry][row][col], logistic on
 * x, y, objectness and classes). *data is malloc'd; the caller frees it. */
int sx_xnn_yolo_count(const sx_xnn *x);
specx_status sx_xnn_yolo_output(const sx_xnn *x, int k, float **data, int *w, int *h, int *c,
                                specx_err *err);

/* Per-layer profile of the network runs since the last reset. */
void sx_xnn_profile(sx_xnn *x, bool on);
void sx_xnn_profile_reset(sx_xnn *x);
void sx_xnn_profile_print(const sx_xnn *x, FILE *f);

#endif
