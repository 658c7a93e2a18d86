/* xnn_test_util.h — helpers shared by the xnnpack backend tests: asset
 * paths, darknet images to specx images, darknet's detections in specx form,
 * detection-set comparison and a small mAP@0.5. Test code only. */
#ifndef SPECX_TESTS_XNN_TEST_UTIL_H
#define SPECX_TESTS_XNN_TEST_UTIL_H

#include <darknet.h>
#include <stdbool.h>
#include <stddef.h>

#include "specx/detection.h"
#include "specx/image.h"

typedef struct xt_model {
    char cfg[4096], weights[4096], names[4096];
    char **name_list;
    int nnames;
    char *names_buf;
} xt_model;

/* $SPECX_SHARED_ASSETS/rel (default ../shared/assets). */
void xt_asset(char *buf, size_t len, const char *rel);
/* Model name (e.g. "yolo-fastest-1.1", "yolo-fastest-1.1-xl-416",
 * "alt/MobileNetV2-YOLOv3-Nano-coco") to files. 0 on success. */
int xt_model_files(const char *name, xt_model *m);
void xt_model_files_free(xt_model *m);

/* darknet float CHW (0..1) to 8-bit RGB; 0 on success. */
int xt_to_specx(const image *im, specx_image *out);

/* The int8 calibration set the backend uses by default: Debian darknet's
 * sample images (the .jpg files of /usr/share/darknet/data, by name, at most `max`).
 * Returns how many were loaded into imgs; free each with specx_image_clear. */
int xt_calib_images(specx_image *imgs, int max);

/* After network_predict: darknet's get_network_boxes + do_nms_sort, one
 * entry per (box, class) above thresh, boxes in pixels clamped to the image
 * (the same conversion the xnnpack backend uses). */
void xt_darknet_detections(network *net, int imw, int imh, float thresh, float nms, int nnames,
                           char **names, specx_detections *out);

/* Same set of detections: equal class ids, scores within score_tol, box
 * edges within px_tol. A detection whose score is within score_tol of
 * thresh may be missing from the other side. */
bool xt_same_detections(const specx_detections *a, const specx_detections *b, float thresh,
                        float score_tol, float px_tol, char *why, size_t whylen);
void xt_print_detections(const char *who, const specx_detections *d);

/* mAP@0.5 accumulator over images (VOC all-point interpolation, classes
 * with ground truth only). */
typedef struct xt_map xt_map;
xt_map *xt_map_new(int classes);
/* Ground truth of one image from a YOLO label file (class cx cy w h,
 * normalised); returns the number of boxes or -1. */
int xt_map_add_image(xt_map *m, const char *label_path, int imw, int imh,
                     const specx_detections *dets);
double xt_map_value(const xt_map *m);
void xt_map_free(xt_map *m);

#endif
