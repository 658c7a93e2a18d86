/* darknet_backend.h — internal: the darknet network handle behind the
 * "darknet" backend, and hooks for tests and for checking other backends
 * against it (raw YOLO-layer outputs for one image).
 *
 * A sx_darknet is NOT thread-safe (layers keep scratch buffers): one per
 * thread. Loading is serialised process-wide (darknet's parser prints to
 * stderr, which is captured while it runs; see darknet_backend.c). */
#ifndef SPECX_DETECT_DARKNET_BACKEND_H
#define SPECX_DETECT_DARKNET_BACKEND_H

#include <stdatomic.h>
#include <stddef.h>

#include "specx/detection.h"
#include "specx/image.h"
#include "specx/status.h"

#include "backend.h"

typedef struct sx_darknet sx_darknet;

/* Builds the network from files, checks the weights file against it (size
 * for this cfg, finite and plausible values) and loads the class names.
 * Errors name the file at fault. */
specx_status sx_darknet_load(const sx_model_files *files, sx_darknet **out, specx_err *err);
void sx_darknet_free(sx_darknet *dn); /* NULL-safe */

void sx_darknet_input_size(const sx_darknet *dn, int *w, int *h);
int sx_darknet_num_classes(const sx_darknet *dn);

/* Letterbox + forward + boxes + NMS, as `darknet detector test` does.
 * Appends to out (does not clear). `cancel` is checked before every layer. */
specx_status sx_darknet_detect(sx_darknet *dn, const specx_image *img, float thresh, float nms,
                               const atomic_bool *cancel, specx_detections *out, specx_err *err);

/* Test hook: called before each layer runs (index = layer about to run). */
typedef void (*sx_darknet_layer_hook)(void *user, int layer_index, int layer_count);
void sx_darknet_set_layer_hook(sx_darknet *dn, sx_darknet_layer_hook fn, void *user);

/* One YOLO layer's output for one image. `data` holds w*h*anchors*(5+classes)
 * floats in darknet's layout [anchor][entry][y][x], entry 0..3 = tx,ty,tw,th,
 * 4 = objectness, 5.. = class scores, with darknet's yolo-layer activation
 * already applied (logistic on tx, ty, objectness and classes; tw, th raw). */
typedef struct sx_yolo_output {
    int layer;   /* index in the network */
    int w, h;    /* grid size */
    int anchors; /* boxes per cell (the layer's mask count) */
    int classes;
    size_t count;
    float *data;
} sx_yolo_output;

typedef struct sx_yolo_outputs {
    int in_w, in_h; /* network input size */
    float *input;   /* the letterboxed input, CHW, 3*in_w*in_h floats in 0..1 */
    size_t n;       /* number of YOLO layers, in network order */
    sx_yolo_output *layers;
} sx_yolo_outputs;

/* Runs the network on img (letterboxed as for detect) and copies out the
 * input tensor and every YOLO layer's output. Free with
 * sx_yolo_outputs_free. */
specx_status sx_darknet_yolo_outputs(sx_darknet *dn, const specx_image *img, sx_yolo_outputs *out,
                                     specx_err *err);
void sx_yolo_outputs_free(sx_yolo_outputs *o); /* NULL-safe; zeroes */

#endif
