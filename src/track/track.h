/* track/track.h — internal: late cloud answers carried forward by tracking.
 *
 * A tracker fuses each frame's local detections with the objects of the most
 * recent cloud answer, moved to the frame (docs/track.md). Per frame the
 * caller hands it the cloud answers that reached the vehicle since the last
 * frame (sx_track_cloud: in time or late, for any earlier frame) and then
 * steps it (sx_track_step) with what the frame's output had: the local
 * detections, or the cloud's in-time answer, or nothing. The step returns the
 * frame's boxes, each with its origin (local, cloud, cloud-carried with its
 * age) and the frame's overall source.
 *
 * Rules (docs/track.md says why):
 *  - association (frame to frame, answer to answer, answer to local tracks):
 *    same class and IoU >= assoc_iou, greedy by IoU, highest first;
 *  - motion: a cloud object that matched a local track at its frame moves
 *    with that track (its box kept relative to the track's box, so it follows
 *    the track's displacement and scale; while the track is unseen, with
 *    the track's predicted box); any other at the constant image-space
 *    velocity measured between successive cloud answers;
 *  - a carried object is kept while followable: it has an anchor track
 *    still alive or a measured velocity (an object seen once by the cloud
 *    alone has nothing to follow it by and is not carried), its answer at most
 *    max_age_ms older than the frame and the scene continuous since (every
 *    frame with local detections since then followed, at IoU >= follow_iou
 *    with the prediction, at least one local track and at least half of the
 *    more numerous of its and the previous frame's confident objects); its
 *    score decays by half every half_life_ms;
 *  - a carried object replaces the local detections of the same object
 *    (its anchor track's, or same class at IoU >= 0.5);
 *  - deny: a local track at the frame of a cloud answer that no cloud object
 *    of score >= deny_min_score matches is denied: its detections' scores are
 *    multiplied by deny_factor until a later answer confirms it, while the
 *    scene stays continuous since the denying answer's frame;
 *  - an in-time cloud answer is the frame's output unchanged.
 *
 * Not thread-safe: one tracker, one thread (or the caller's lock). Frames
 * are stepped in increasing order; frame times are monotonic nanoseconds. */
#ifndef SX_TRACK_TRACK_H
#define SX_TRACK_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/status.h"
#include "specx/time.h"

typedef enum sx_track_origin {
    SX_TRACK_LOCAL = 0, /* the local model on this frame */
    SX_TRACK_CLOUD,     /* the cloud on this frame, in time */
    SX_TRACK_CARRIED,   /* the cloud on an earlier frame, moved here */
} sx_track_origin;

typedef enum sx_track_source {
    SX_TRACK_SRC_NONE = 0, /* no boxes from anywhere */
    SX_TRACK_SRC_LOCAL,    /* local detections only */
    SX_TRACK_SRC_CLOUD,    /* the in-time cloud answer */
    SX_TRACK_SRC_FUSED,    /* local detections and carried cloud objects */
    SX_TRACK_SRC_CARRIED,  /* carried cloud objects only (no local answer) */
} sx_track_source;

const char *sx_track_origin_name(sx_track_origin o); /* "local", "cloud", "cloud-carried" */
const char *sx_track_source_name(sx_track_source s); /* "none", "local", "cloud", ... */

typedef struct sx_track_config {
    float assoc_iou;       /* same object: IoU at least this; 0 = 0.3 */
    float local_min_score; /* local detections that form tracks; 0 = 0.2 */
    float cloud_min_score; /* cloud objects carried; 0 = 0.05 */
    float deny_min_score;  /* cloud objects that confirm a local track; 0 = 0.25 */
    float deny_factor;     /* score factor of denied local detections; 0 = 0.5 */
    double max_age_ms;     /* oldest cloud answer carried; 0 = 1000 */
    double half_life_ms;   /* carried score halves every this; 0 = 1000 */
    int max_missed;        /* frames a local track survives unseen; 0 = 2 */
    float follow_iou;      /* a track followed this well counts for continuity; 0 = 0.5 */
} sx_track_config;

/* Per output box. */
typedef struct sx_track_info {
    sx_track_origin origin;
    uint32_t age_frames; /* carried: frames since the cloud's frame; else 0 */
    double age_ms;       /* carried: its frame's age at this frame; else 0 */
    bool denied;         /* local: score multiplied by deny_factor */
} sx_track_info;

/* One frame's result: dets[i] described by info[i]. Owned by the caller:
 * sx_track_frame_init, reused across steps, sx_track_frame_clear. */
typedef struct sx_track_frame {
    specx_detections dets;
    sx_track_info *info;
    size_t info_cap;
    sx_track_source source;
    size_t n_carried;
} sx_track_frame;

void sx_track_frame_init(sx_track_frame *f);
void sx_track_frame_clear(sx_track_frame *f);

typedef struct sx_track sx_track;

/* cfg may be NULL (defaults). */
specx_status sx_track_create(const sx_track_config *cfg, sx_track **out, specx_err *err);
void sx_track_destroy(sx_track *t); /* NULL-safe */

/* A cloud answer for `frame` (captured at `frame_time`) reached the vehicle.
 * Copied; used at the next step of a frame >= `frame`. An answer for a frame
 * older than the newest answer used is ignored. */
specx_status sx_track_cloud(sx_track *t, int64_t frame, specx_time_t frame_time,
                            const specx_detections *d, specx_err *err);

/* Frame `frame` (captured at `time`, frames increasing): `local` its local
 * detections (NULL: the local model did not answer for it), `cloud` the
 * cloud's in-time answer when that is the output (NULL otherwise). Fills *out. */
specx_status sx_track_step(sx_track *t, int64_t frame, specx_time_t time,
                           const specx_detections *local, const specx_detections *cloud,
                           sx_track_frame *out, specx_err *err);

/* Intersection over union of two boxes (0 when either is empty). */
float sx_track_iou(const specx_detection *a, const specx_detection *b);

#endif
