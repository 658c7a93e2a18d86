/* eval/match.h — internal to src/eval: the COCO matching of one image on its
 * own, for scorers that weigh images (bootstrap resamples, pooled repeats).
 *
 * Contract
 *  - Per image and class, COCO matches detections against truths without
 *    looking at any other image (map.c's rules: score order, max_dets per
 *    class, crowd and ignored truths). So an image's matches can be computed
 *    once and reused in any set of images that contains it; only the
 *    merge by score across images and the precision/recall sums depend on
 *    the set. sx_eval_match_image gives the per-detection outcome for the
 *    area range "all" at each of the ten IoU thresholds 0.50:0.05:0.95.
 *  - Thread-safe (no shared state); the result is malloc'd for the caller. */
#ifndef SX_EVAL_MATCH_H
#define SX_EVAL_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "specx/eval.h"

#define SX_EVAL_NT 10 /* IoU thresholds 0.50, 0.55, ..., 0.95 */

enum { SX_EVAL_FP = 0, SX_EVAL_TP = 1, SX_EVAL_IGN = 2 };

typedef struct sx_eval_matched {
    float score;
    int cls;
    uint8_t st[SX_EVAL_NT]; /* SX_EVAL_FP / _TP / _IGN at each threshold */
} sx_eval_matched;

/* The kept detections of one image (per class: by descending score, ties in
 * input order, at most max_dets; classes in increasing order) with their
 * outcome. *out is malloc'd (NULL when *n is 0); free() it. */
specx_status sx_eval_match_image(const specx_eval_image *gt, const specx_detections *d,
                                 size_t max_dets, sx_eval_matched **out, size_t *n, specx_err *err);

#endif
