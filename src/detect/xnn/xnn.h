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

typedef enum sx_xnn_precision {
    SX_XNN_FP32,
    SX_XNN_INT8,
} sx_xnn_precision;

/* How calibration turns observed values into int8 ranges (xnn_calib.h). */
typedef enum sx_xnn_calib_method {
    SX_XNN_CALIB_DEFAULT, /* SX_XNN_CALIB_BN, the width chosen on the images */
    SX_XNN_CALIB_MINMAX,
    SX_XNN_CALIB_PERCENTILE, /* calib_param: the fraction kept at each end */
    SX_XNN_CALIB_BN,         /* calib_param: how many standard deviations */
} sx_xnn_calib_method;

/* flags, for tests and measurements:
 * SX_XNN_NO_DIRECT  fp32: every convolution on XNNPACK (no direct kernels)
 * SX_XNN_PORTABLE   int8: the portable C kernels even where AVX-512 VNNI runs
 * SX_XNN_NO_FUSE    int8: no 1x1 convolution fused into the depthwise one
 * SX_XNN_ALL_INT8   int8: every layer in int8 (by default the layers at more
 *                   than a quarter of the input width stay fp32) */
#define SX_XNN_NO_DIRECT 1u
#define SX_XNN_PORTABLE 2u
#define SX_XNN_NO_FUSE 4u
#define SX_XNN_ALL_INT8 8u

typedef struct sx_xnn_opts {
    int threads; /* 1..64; 0 means 1 */
    unsigned flags;
    sx_xnn_precision precision;
    /* int8: how the activation ranges are chosen, and images whose fp32
     * activations are observed (borrowed for the call; optional for the
     * default method, which needs them only for layers without batch norm) */
    const specx_image *calib;
    int ncalib;
    sx_xnn_calib_method calib_method;
    double calib_param;
} sx_xnn_opts;

/* The calibration images the backend uses for int8: the JPEG/PNG files of
 * $SPECX_CALIB_DIR, else of Debian darknet's sample directory, first `max`
 * by name, into imgs (free each with specx_image_clear). With
 * $SPECX_CALIB_DIR unset a missing default directory is not an error
 * (*n = 0). */
specx_status sx_xnn_calib_images(specx_image *imgs, int max, int *n, specx_err *err);

/* names may be NULL or "" (labels are then "class N"). opts NULL: fp32, 1
 * thread. Images given for int8 are run through the fp32 network at open. */
specx_status sx_xnn_open(const char *cfg, const char *weights, const char *names,
                         const sx_xnn_opts *opts, sx_xnn **out, specx_err *err);
void sx_xnn_close(sx_xnn *x); /* NULL-safe */

void sx_xnn_input_size(const sx_xnn *x, int *width, int *height);
int sx_xnn_num_classes(const sx_xnn *x);
sx_xnn_precision sx_xnn_get_precision(const sx_xnn *x);
/* int8: the parameter calibration used (for the default: the batch-norm
 * width it chose); 0 for fp32. */
double sx_xnn_calib_param(const sx_xnn *x);
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

/* Called after every network step with its layer and output (float
 * tensors only: the fp32 network; calibration and tests). NULL: off. */
struct sx_xnn_view;
typedef void (*sx_xnn_observer)(void *ctx, int layer, const struct sx_xnn_view *out);
void sx_xnn_set_observer(sx_xnn *x, sx_xnn_observer fn, void *ctx);

/* Per-layer profile of the network runs since the last reset. */
void sx_xnn_profile(sx_xnn *x, bool on);
void sx_xnn_profile_reset(sx_xnn *x);
void sx_xnn_profile_print(const sx_xnn *x, FILE *f);

#endif
