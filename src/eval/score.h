/* eval/score.h — internal to src/eval: COCO mAP of weighted sets of answers,
 * fast enough to be recomputed for every bootstrap resample.
 *
 * Contract
 *  - A scorer holds the ground truth of n frames and a set of *variants*:
 *    one answer (a detection list) for one frame, matched once against that
 *    frame's truths (eval/match.h). A run of a mode is a choice of one
 *    variant (or none) per frame; repeats and resamples are weights.
 *  - sx_eval_scorer_map(vw, gtw) is the COCO mAP of the set in which variant
 *    v occurs vw[v] times and frame f's truths gtw[f] times (weights are
 *    counts; 0 leaves a variant or frame out). With weights 0/1 describing
 *    one answer per frame it equals specx_map_evaluate of those answers
 *    (ties across frames keep frame order); with integer weights it equals
 *    the evaluation of the set with those copies (a copy's detections follow
 *    each other in score order, and AP sampled at 101 recall points does not
 *    change when a run of identical hits or misses is counted at once).
 *  - Lifecycle: create, add variants, freeze, then evaluate any number of
 *    times. Thread-compatible: map() uses scratch space inside the scorer. */
#ifndef SX_EVAL_SCORE_H
#define SX_EVAL_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "specx/eval.h"

typedef struct sx_eval_scorer sx_eval_scorer;

/* gt: n_frames images (borrowed; must outlive the scorer). max_dets as in
 * specx_map_options (0 = 100). */
specx_status sx_eval_scorer_create(const specx_eval_image *gt, size_t n_frames, size_t max_dets,
                                   sx_eval_scorer **out, specx_err *err);
void sx_eval_scorer_destroy(sx_eval_scorer *s); /* NULL-safe */

/* Adds `d` as an answer for `frame`; *id receives its variant number
 * (0, 1, ... in order of adding). Only before freeze. */
specx_status sx_eval_scorer_add(sx_eval_scorer *s, size_t frame, const specx_detections *d,
                                uint32_t *id, specx_err *err);
size_t sx_eval_scorer_variants(const sx_eval_scorer *s);
size_t sx_eval_scorer_frames(const sx_eval_scorer *s);
/* The frame variant `id` answers. */
size_t sx_eval_scorer_frame_of(const sx_eval_scorer *s, uint32_t id);

/* Merges every class's entries by score. Call once, after the last add. */
specx_status sx_eval_scorer_freeze(sx_eval_scorer *s, specx_err *err);

/* A frozen scorer with only the entries of the variants v with use[v] != 0
 * (same variant ids and truths): evaluating a cell's runs walks only what
 * they use. s must be frozen. */
specx_status sx_eval_scorer_subset(const sx_eval_scorer *s, const uint8_t *use,
                                   sx_eval_scorer **out, specx_err *err);

/* COCO mAP@0.5 into *map50 and mAP@[.5:.95] into *map (either may be NULL;
 * skipping map is ten times cheaper). vw: sx_eval_scorer_variants()
 * weights; gtw: one weight per frame. 0 when no class has truth. */
void sx_eval_scorer_map(sx_eval_scorer *s, const double *vw, const double *gtw, double *map50,
                        double *map);

#endif
