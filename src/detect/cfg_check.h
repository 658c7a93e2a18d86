/* detect/cfg_check.h — internal: the one check every darknet model passes
 * before a backend sees it (sx_model_files_resolve, hence
 * specx_detector_open, and sx_darknet_load call it).
 *
 * Contract
 *  - The cfg is read in darknet's dialect (whitespace stripped, [sections],
 *    key=value) and every layer's output shape is computed as Debian's
 *    darknet (2018) computes it. Accepted: the layer types specx's models
 *    use ([convolutional], [maxpool], [route], [shortcut], [upsample],
 *    [dropout], [yolo]); anything else is refused, because darknet exits,
 *    crashes or reads other files on what it does not expect.
 *  - Refused with a message naming the file, line and layer: a value
 *    darknet would divide by, index with or allocate from when it is out of
 *    range (sizes, strides, filters, groups, route and shortcut indices,
 *    YOLO masks, anchors, classes), shapes that do not fit (route inputs of
 *    different sizes, a YOLO layer whose input is not mask x (classes + 5)
 *    channels, an empty output), a network whose activations or parameters
 *    exceed the caps below, and a learning-rate schedule darknet would read
 *    past. Numbers must be whole numbers where darknet reads integers
 *    (darknet's atoi would read "2e9" as 2).
 *  - sx_detect_cfg_check also checks the files around the cfg: the class
 *    names cover every YOLO layer's classes, and the weights file holds
 *    exactly the parameters the cfg needs after a darknet header.
 *  - Pure functions of their input; thread-safe. */
#ifndef SX_DETECT_CFG_CHECK_H
#define SX_DETECT_CFG_CHECK_H

#include <stddef.h>

#include "specx/status.h"

#include "backend.h"

/* Caps on what a cfg may make a backend allocate (floats). */
#define SX_DETECT_CFG_MAX_SIDE 4096                        /* input width and height */
#define SX_DETECT_CFG_MAX_ACTIVATIONS ((long long)1 << 27) /* 512 MiB: sum of layer outputs */
#define SX_DETECT_CFG_MAX_PARAMS ((long long)1 << 26)      /* 256 MiB of weights */
#define SX_DETECT_CFG_MAX_BYTES (1 << 20)                  /* the cfg file itself */

typedef struct sx_detect_cfg_summary {
    int width, height, channels; /* network input */
    int layers;                  /* [net] not counted */
    int yolo_layers;
    int max_classes;             /* over the YOLO layers */
    long long param_floats;      /* what the weights hold after their header */
    long long activation_floats; /* sum of every layer's output */
} sx_detect_cfg_summary;

/* Checks cfg text (len bytes, need not be NUL-terminated). origin names it
 * in messages. *out (may be NULL) is filled on success. */
specx_status sx_detect_cfg_parse(const char *text, size_t len, const char *origin,
                                 sx_detect_cfg_summary *out, specx_err *err);

/* Checks a model's files: the cfg as above, the names against its classes,
 * the weights' header and size against its parameters. */
specx_status sx_detect_cfg_check(const sx_model_files *files, specx_err *err);

#endif
