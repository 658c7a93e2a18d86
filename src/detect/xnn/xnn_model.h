/* xnn_model.h — internal: a darknet network description read from .cfg and
 * .weights (no computation here). Batch norm is already folded into the
 * convolution weights, which are stored in XNNPACK's layout.
 *
 * Ownership: xnn_model_load fills a caller-provided struct; xnn_model_free
 * releases everything it owns. Not thread-safe; immutable after loading. */
#ifndef SPECX_DETECT_XNN_MODEL_H
#define SPECX_DETECT_XNN_MODEL_H

#include <stddef.h>

#include "specx/status.h"

#define XNN_MAX_ROUTE 8
#define XNN_MAX_ANCHORS 32

typedef enum xnn_layer_type {
    XNN_L_CONV,
    XNN_L_MAXPOOL,
    XNN_L_ROUTE,
    XNN_L_SHORTCUT,
    XNN_L_UPSAMPLE,
    XNN_L_DROPOUT,
    XNN_L_YOLO,
} xnn_layer_type;

typedef enum xnn_act {
    XNN_ACT_LINEAR,
    XNN_ACT_LEAKY, /* x > 0 ? x : 0.1 x */
    XNN_ACT_RELU,
    XNN_ACT_LOGISTIC,
} xnn_act;

typedef struct xnn_layer {
    xnn_layer_type type;
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    /* convolutional */
    int filters, size, stride, pad, groups;
    xnn_act act;
    float *weights; /* [groups][filters/groups][size][size][in_c/groups] */
    float *bias;    /* [filters], batch norm folded in */
    /* maxpool (size, stride reused); padding is darknet's total padding */
    int pool_padding;
    /* route: absolute layer indices; shortcut: inputs[0] = `from` */
    int n_inputs;
    int inputs[XNN_MAX_ROUTE];
    /* upsample: stride reused */
    /* yolo */
    int classes, n_mask;
    int mask[XNN_MAX_ANCHORS];
    int n_anchors; /* pairs */
    float anchors[2 * XNN_MAX_ANCHORS];
} xnn_layer;

typedef struct xnn_model {
    int width, height, channels; /* network input */
    int n;
    xnn_layer *layers;
    double flops; /* multiply-adds x 2 of all convolutions */
} xnn_model;

/* Parses the cfg, then reads the weights. Errors name the file, the layer
 * index (darknet numbering, [net] excluded) and its type. */
specx_status xnn_model_load(xnn_model *m, const char *cfg_path, const char *weights_path,
                            specx_err *err);
void xnn_model_free(xnn_model *m);

const char *xnn_layer_type_name(xnn_layer_type t);

#endif
