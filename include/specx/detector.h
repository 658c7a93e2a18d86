/* specx/detector.h — the detector interface: an RGB image of any size in, a
 * list of detections out (boxes in pixels of that image).
 *
 * A detector instance is NOT thread-safe (darknet networks keep scratch
 * state): use one instance per worker thread. detect() checks `cancel` (if
 * non-NULL) at checkpoints (e.g. between layers) and returns SPECX_ECANCELED
 * once it sees it set. Backends register by name ("darknet", "xnnpack");
 * models are named, not pathed, and resolved in a model directory (see
 * specx_model_dir_resolve). */
#ifndef SPECX_DETECTOR_H
#define SPECX_DETECTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "specx/detection.h"
#include "specx/image.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_detector specx_detector;

typedef struct specx_detector_ops {
    specx_status (*detect)(void *impl, const specx_image *img, const atomic_bool *cancel,
                           specx_detections *out, specx_err *err);
    void (*destroy)(void *impl);
} specx_detector_ops;

typedef struct specx_detector_info {
    char model[SPECX_MODEL_NAME_MAX]; /* e.g. "yolo-fastest-1.1" */
    char backend[16];                 /* "darknet", "xnnpack", "test" */
    int input_width, input_height;    /* network input size */
    int num_classes;
} specx_detector_info;

typedef struct specx_detector_config {
    const char *model;     /* model name, e.g. "yolo-fastest-1.1-xl" */
    const char *model_dir; /* NULL: resolve via specx_model_dir_resolve */
    const char *backend;   /* NULL: the default backend */
    float threshold;       /* score threshold; 0 means the default 0.25 */
    float nms;             /* NMS IoU threshold; 0 means the default 0.45 */
    int threads;           /* backend threads; 0 means 1 */
    /* NULL, "" or "fp32"; or "int8" (xnnpack only: u8 activations, s8
     * weights; activation ranges from the model's batch-norm statistics,
     * see docs/xnnpack.md) */
    const char *precision;
} specx_detector_config;

/* Opens a detector. Errors name the missing/corrupt file.
 *
 * The model name "test" or "test:SPEC" opens the built-in test detector
 * instead (no model files; model_dir, backend and threads are ignored): it
 * sleeps delay_ms in 1 ms slices, checking `cancel` between slices as a
 * network checks between layers, and returns `boxes` boxes covering the whole
 * image, label "test", class i, score 1/(i+1); model and backend "test".
 * SPEC is comma-separated: delay_ms=N (default 0), boxes=N (default 1),
 * fail=1 (every detect fails with SPECX_EINTERNAL), delay_from_width=1
 * (delay = image width in ms, for out-of-order replies). Used by
 * `specx serve --model test:...`, `specx run --local-model test:...`,
 * benchmarks and tests. */
specx_status specx_detector_open(const specx_detector_config *cfg, specx_detector **out,
                                 specx_err *err);

/* Wraps a custom implementation (tests, other backends). Takes ownership of
 * impl: ops->destroy is called by specx_detector_close. */
specx_status specx_detector_wrap(const specx_detector_ops *ops, void *impl,
                                 const specx_detector_info *info, specx_detector **out);

/* Fills out (cleared first). Not thread-safe per detector. */
specx_status specx_detector_detect(specx_detector *det, const specx_image *img,
                                   const atomic_bool *cancel, specx_detections *out,
                                   specx_err *err);
const specx_detector_info *specx_detector_get_info(const specx_detector *det);
void specx_detector_close(specx_detector *det); /* NULL-safe */

/* Known model names, for --help and error messages: index 0.. until NULL.
 * The summary says the model's role and input size. Thread-safe, static. */
const char *specx_model_name(size_t index);
const char *specx_model_summary(size_t index);

/* The backend used when specx_detector_config.backend is NULL or "". */
const char *specx_detector_default_backend(void);

/* Model directory: explicit (non-NULL, non-empty) > $SPECX_MODEL_DIR >
 * ./assets/models > ../shared/assets/models (the last two relative to the
 * current directory). Writes the chosen directory to buf. A directory given
 * explicitly or in $SPECX_MODEL_DIR that does not exist is an error naming
 * it (no fall-back). Fails with SPECX_ENOTFOUND naming every place it looked.
 * Thread-safe (reads the environment). */
specx_status specx_model_dir_resolve(const char *explicit_dir, char *buf, size_t buflen,
                                     specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
