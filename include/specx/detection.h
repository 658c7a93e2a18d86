/* specx/detection.h — a list of detected objects: the result type that local
 * detectors and remote (gRPC) executors both produce.
 *
 * Boxes are in pixels of the image the detector was given (xmin<=xmax,
 * ymin<=ymax). A specx_detections owns its items array; a plain struct is
 * safe to move. Not thread-safe per object. */
#ifndef SPECX_DETECTION_H
#define SPECX_DETECTION_H

#include <stddef.h>

#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPECX_LABEL_MAX 48
#define SPECX_MODEL_NAME_MAX 64

typedef struct specx_detection {
    int class_id; /* index in the model's names file; -1 if unknown */
    char label[SPECX_LABEL_MAX];
    float score; /* 0..1 */
    float xmin, ymin, xmax, ymax;
} specx_detection;

typedef struct specx_detections {
    size_t count, capacity;
    specx_detection *items;
    char model[SPECX_MODEL_NAME_MAX]; /* producing model, "" if unknown */
    int image_width, image_height;    /* image the boxes refer to */
    double infer_ms;                  /* inference time where known, else 0 */
} specx_detections;

void specx_detections_init(specx_detections *d);
specx_status specx_detections_push(specx_detections *d, const specx_detection *item);
void specx_detections_reset(specx_detections *d); /* keeps capacity */
void specx_detections_clear(specx_detections *d); /* frees items, re-inits */
/* Boxes found on a from_width x from_height image mapped to the same image
 * at to_width x to_height (each axis scaled by its own ratio); image_width /
 * image_height become the new size. Nothing changes if a size is below 1. */
void specx_detections_rescale(specx_detections *d, int from_width, int from_height, int to_width,
                              int to_height);

/* Heap-allocated variant used as an executor result. */
specx_detections *specx_detections_create(void);
void specx_detections_destroy(specx_detections *d); /* NULL-safe */

#ifdef __cplusplus
}
#endif
#endif
