/* xnn_model.h — internal: a darknet network description read from .cfg and
 * .weights (no computation here). Batch norm is already folded into the
 * convolution weights, which are stored in XNNPACK's layout.
 *
 * Ownership: sx_xnn_model_load fills a caller-provided struct; sx_xnn_model_clear
 * releases everything it owns. Not thread-safe; immutable after loading. */
#ifndef SPECX_DETECT_XNN_MODEL_H
#define SPECX_DETECT_XNN_MODEL_H

#include <stddef.h>

#include "specx/status.h"

#define SX_XNN_MAX_ROUTE 8
#define SX_XNN_MAX_ANCHORS 32

typedef enum sx_xnn_layer_type {
    SX_XNN_L_CONV,
    SX_XNN_L_MAXPOOL,
    SX_XNN_L_ROUTE,
    SX_XNN_L_SHORTCUT,
    SX_XNN_L_UPSAMPLE,
    SX_XNN_L_DROPOUT,
    SX_XNN_L_YOLO,
} sx_xnn_layer_type;

typedef enum sx_xnn_act {
    SX_XNN_ACT_LINEAR,
    SX_XNN_ACT_LEAKY, /* x > 0 ? x : 0.1 x */
    SX_XNN_ACT_RELU,
    SX_XNN_ACT_LOGISTIC,
} sx_xnn_act;

typedef struct sx_xnn_layer {
    sx_xnn_layer_type type;
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    /* convolutional */
    int filters, size, stride, pad, groups;
    sx_xnn_act act;
    float *weights; /* [groups][filters/groups][size][size][in_c/groups] */
    float *bias;    /* [filters], batch norm folded in */
    /* [filters], with batch norm only (else NULL): the convolution's output
     * mean and standard deviation before the activation over darknet's
     * training data, i.e. the batch norm's bias and |scale| (the int8 path
     * derives its ranges from them) */
    float *bn_mean, *bn_std;
    /* maxpool (size, stride reused); padding is darknet's total padding */
    int pool_padding;
    /* route: absolute layer indices; shortcut: inputs[0] = `from` */
    int n_inputs;
    int inputs[SX_XNN_MAX_ROUTE];
    /* upsample: stride reused */
    /* yolo */
    int classes, n_mask;
    int mask[SX_XNN_MAX_ANCHORS];
    int n_anchors; /* pairs */
    float anchors[2 * SX_XNN_MAX_ANCHORS];
} sx_xnn_layer;

typedef struct sx_xnn_model {
    int width, height, channels; /* network input */
    int n;
    sx_xnn_layer *layers;
    double flops; /* multiply-adds x 2 of all convolutions */
} sx_xnn_model;

/* Parses the cfg, then reads the weights. Errors name the file, the layer
 * index (darknet numbering, [net] excluded) and its type. */
specx_status sx_xnn_model_load(sx_xnn_model *m, const char *cfg_path, const char *weights_path,
                               specx_err *err);
void sx_xnn_model_clear(sx_xnn_model *m);

const char *sx_xnn_layer_type_name(sx_xnn_layer_type t);

#endif
