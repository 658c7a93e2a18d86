/* specx/eval.h — accuracy evaluation: a labelled-image dataset loader,
 * mean average precision (COCO and VOC/darknet definitions), and the
 * results of a deadline sweep with writers for report.html (SVG plots),
 * results.json and results.csv.
 *
 * Boxes are pixels of the image (xmin<=xmax, ymin<=ymax), as in
 * specx/detection.h. Class ids index the model's names file (COCO order for
 * the bundled models).
 *
 * Thread-safety: every function is thread-compatible (no shared state);
 * distinct objects may be used from distinct threads. Nothing blocks except
 * on file I/O. Ownership: objects returned through out-pointers belong to
 * the caller and are released with the matching _free function; on error
 * the out-pointer is left NULL (or the struct zeroed) and nothing leaks. */
#ifndef SPECX_EVAL_H
#define SPECX_EVAL_H

#include <stddef.h>

#include "specx/detection.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dataset ---------------------------------------------------------- */

typedef struct specx_eval_box {
    int class_id;
    float xmin, ymin, xmax, ymax; /* pixels */
    int crowd; /* 1 = a crowd region: never a miss, may absorb detections (COCO iscrowd) */
} specx_eval_box;

typedef struct specx_eval_image {
    char *name; /* file name without directory, e.g. "000000000139.jpg" */
    char *path; /* full path of the image */
    int width, height;
    size_t n_boxes;
    specx_eval_box *boxes; /* ground truth */
} specx_eval_image;

typedef struct specx_eval_dataset {
    size_t count;
    specx_eval_image *images; /* sorted by name */
} specx_eval_dataset;

/* Loads ROOT/IMAGES (JPEG/PNG files; NULL = "images") and YOLO labels from
 * ROOT/LABELS/<stem>.txt (NULL = "labels"; lines "class cx cy w h",
 * normalised to 0..1). An image without a label file has no objects, but a
 * missing label directory (SPECX_ENOTFOUND) or one without a single
 * labelled object (SPECX_EFORMAT) is an error. Image sizes come from the
 * JPEG SOF / PNG IHDR headers. */
specx_status specx_eval_dataset_load(const char *root, const char *images, const char *labels,
                                     specx_eval_dataset **out, specx_err *err);
/* SPECX_EFORMAT naming the image when a label's class id is not below
 * n_classes (the names list, called names_origin in the message). */
specx_status specx_eval_dataset_check_classes(const specx_eval_dataset *ds, int n_classes,
                                              const char *names_origin, specx_err *err);
void specx_eval_dataset_free(specx_eval_dataset *ds); /* NULL-safe */

/* Width and height of a JPEG or PNG file from its header (no decoding). */
specx_status specx_eval_image_size(const char *path, int *width, int *height, specx_err *err);

/* ---- mean average precision --------------------------------------------- */

typedef enum specx_eval_area {
    SPECX_AREA_ALL = 0,
    SPECX_AREA_SMALL,  /* area < 32² px */
    SPECX_AREA_MEDIUM, /* 32² .. 96² */
    SPECX_AREA_LARGE,  /* > 96² */
    SPECX_AREA_COUNT
} specx_eval_area;

typedef struct specx_map_options {
    int max_dets;    /* COCO: detections kept per image and class, by score; 0 = 100 */
    int num_classes; /* divisor of darknet_map50; 0 = 80 (COCO) */
} specx_map_options;

typedef struct specx_map_result {
    /* COCO definitions: greedy matching by descending score per image and
     * class, IoU >= t, 101-point interpolated precision, mean over classes
     * that have ground truth. */
    double map50;                      /* AP@0.5 */
    double map75;                      /* AP@0.75 */
    double map;                        /* AP@[.5:.95], 10 thresholds */
    double map_area[SPECX_AREA_COUNT]; /* AP@[.5:.95] per area range; -1 = no gt there */
    /* VOC2010+/darknet definition at IoU > 0.5: all-point interpolation,
     * a detection whose best-IoU truth is already taken is a false positive,
     * no per-image cap on detections. */
    double voc_map50;     /* mean over classes with ground truth */
    double darknet_map50; /* sum over classes with ground truth / num_classes (darknet divides
                             by every class of the model, so absent classes count as 0) */
    int num_classes;      /* length of the per-class arrays (largest class id seen + 1) */
    double *ap50, *ap, *voc_ap50; /* per class; -1 where the class has no ground truth */
    size_t *n_gt;                 /* per class, crowd boxes excluded */
    size_t classes_with_gt, total_gt, total_det;
} specx_map_result;

/* dets[i] are the detections for gt[i] (n_images entries each; a
 * specx_detections with count 0 is fine). opts may be NULL. */
specx_status specx_map_evaluate(const specx_eval_image *gt, const specx_detections *dets,
                                size_t n_images, const specx_map_options *opts,
                                specx_map_result *out, specx_err *err);
void specx_map_result_free(specx_map_result *r); /* frees the arrays, zeroes r */

/* Intersection over union of two pixel boxes (0 when either is empty). */
double specx_eval_iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                      float by1);

/* ---- results of a sweep, and their writers ------------------------------ */

#define SPECX_EVAL_NAME_MAX 32

/* One run: one mode at one deadline, one repeat. */
typedef struct specx_eval_run {
    double map50, map; /* accuracy of this run's outputs */
    size_t n_frames;
    double *latency_ms; /* per frame, from arrival to output; NAN if no output */
    int *winner;        /* per frame: index into executors, -1 = no result */
} specx_eval_run;

typedef struct specx_eval_results {
    char title[128];
    char notes[1024]; /* free text shown under the title (dataset, profile, seed, ...) */
    size_t n_modes, n_deadlines, n_repeats, n_executors;
    char (*modes)[SPECX_EVAL_NAME_MAX];     /* e.g. "local", "cloud", "speculative" */
    char (*executors)[SPECX_EVAL_NAME_MAX]; /* names for winner indices */
    double *deadlines_ms;                   /* increasing */
    specx_eval_run *runs;                   /* n_modes × n_deadlines × n_repeats */
} specx_eval_results;

/* Allocates the tables (names empty, runs with no frames). */
specx_status specx_eval_results_init(specx_eval_results *r, size_t n_modes, size_t n_deadlines,
                                     size_t n_repeats, size_t n_executors, specx_err *err);
void specx_eval_results_free(specx_eval_results *r); /* NULL-safe, zeroes r */

/* The run for (mode, deadline, repeat); NULL when out of range. */
specx_eval_run *specx_eval_results_run(const specx_eval_results *r, size_t mode, size_t deadline,
                                       size_t repeat);

/* Allocates a run's per-frame arrays (latency NAN, winner -1). */
specx_status specx_eval_run_frames(specx_eval_run *run, size_t n_frames, specx_err *err);

/* Self-contained HTML (inline SVG, no scripts, no network): mAP vs deadline
 * per mode with min–max bars over repeats, latency CDF per mode, per-frame
 * winner strips, and a table of the numbers. */
specx_status specx_eval_write_report(const specx_eval_results *r, const char *path, specx_err *err);
specx_status specx_eval_write_json(const specx_eval_results *r, const char *path, specx_err *err);
/* One row per run: mode, deadline_ms, repeat, map50, map, frames, latency
 * p50/p90/p99, no_result, then the share of frames each executor won. */
specx_status specx_eval_write_csv(const specx_eval_results *r, const char *path, specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
