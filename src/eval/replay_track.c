/* replay_track.c — the replay mode "speculative-track": speculative with the
 * cloud's late answers carried forward by the tracker (track/track.h), through
 * the replay's mode hooks (specx/eval.h, docs/eval.md "Adding a mode").
 *
 * Design notes
 *  - plan records each frame's arrival (the tracker needs the capture time
 *    of the frame a cloud answer describes) and keeps the run's deadline.
 *  - on_reply hands every cloud answer to the tracker, in time or late;
 *    post steps the tracker at the frame's emission with what the output
 *    had, so an answer counts for a frame only if it arrived before that
 *    frame was emitted: what the vehicle would have known.
 *  - A frame whose fused answer equals its output (no carried object, no
 *    denied detection) keeps the winner's answer (post returns false), so
 *    the bootstrap shares it with the plain modes. */
#include <stdlib.h>
#include <string.h>

#include "specx/eval.h"

#include "track/track.h"

typedef struct tmode {
    specx_replay_mode mode; /* first: the mode pointer is the state's */
    sx_track *track;
    sx_track_frame out;
    specx_time_t *arrival;
    size_t n_arrival;
    specx_status st;
    specx_err err;
} tmode;

static specx_dur_t tm_plan(void *user, size_t frame, specx_time_t arrival, specx_dur_t deadline)
{
    tmode *m = user;
    if (frame >= m->n_arrival) {
        size_t n = m->n_arrival ? m->n_arrival : 256;
        while (n <= frame) {
            n *= 2;
        }
        specx_time_t *a = realloc(m->arrival, n * sizeof *a);
        if (!a) {
            if (m->st == SPECX_OK) {
                m->st = specx_err_set(&m->err, SPECX_ENOMEM, "speculative-track: out of memory");
            }
            return deadline;
        }
        memset(a + m->n_arrival, 0, (n - m->n_arrival) * sizeof *a);
        m->arrival = a;
        m->n_arrival = n;
    }
    m->arrival[frame] = arrival;
    return deadline;
}

static void tm_reply(void *user, size_t frame, specx_time_t at, const specx_detections *d)
{
    (void)at;
    tmode *m = user;
    if (m->st == SPECX_OK && frame < m->n_arrival && d) {
        m->st = sx_track_cloud(m->track, (int64_t)frame, m->arrival[frame], d, &m->err);
    }
}

static bool tm_post(void *user, const specx_replay_output *o, specx_detections *scored)
{
    tmode *m = user;
    if (m->st != SPECX_OK) {
        return false;
    }
    const specx_detections *local = o->winner == 1 ? o->detections : NULL;
    const specx_detections *cloud = o->winner == 0 ? o->detections : NULL;
    m->st = sx_track_step(m->track, (int64_t)o->frame, o->arrival, local, cloud, &m->out, &m->err);
    if (m->st != SPECX_OK || m->out.source == SX_TRACK_SRC_CLOUD) {
        return false;
    }
    bool changed = m->out.n_carried > 0;
    for (size_t i = 0; i < m->out.dets.count && !changed; i++) {
        changed = m->out.info[i].denied;
    }
    if (!changed) {
        return false;
    }
    for (size_t i = 0; i < m->out.dets.count; i++) {
        if (specx_detections_push(scored, &m->out.dets.items[i]) != SPECX_OK) {
            m->st = specx_err_set(&m->err, SPECX_ENOMEM, "speculative-track: out of memory");
            return false;
        }
    }
    return true;
}

specx_status specx_replay_track_mode_create(specx_replay_mode **out, specx_err *err)
{
    tmode *m = calloc(1, sizeof *m);
    if (!m) {
        return specx_err_set(err, SPECX_ENOMEM, "speculative-track: out of memory");
    }
    specx_status st = sx_track_create(NULL, &m->track, err);
    if (st != SPECX_OK) {
        free(m);
        return st;
    }
    sx_track_frame_init(&m->out);
    m->mode = (specx_replay_mode){.name = "speculative-track",
                                  .local = true,
                                  .remote = true,
                                  .plan = tm_plan,
                                  .on_reply = tm_reply,
                                  .post = tm_post,
                                  .keep_calls = true,
                                  .user = m};
    *out = &m->mode;
    return SPECX_OK;
}

specx_status specx_replay_track_mode_status(const specx_replay_mode *mode, specx_err *err)
{
    const tmode *m = (const tmode *)mode;
    if (m->st != SPECX_OK && err) {
        *err = m->err;
    }
    return m->st;
}

void specx_replay_track_mode_destroy(specx_replay_mode *mode)
{
    if (!mode) {
        return;
    }
    tmode *m = (tmode *)mode;
    sx_track_destroy(m->track);
    sx_track_frame_clear(&m->out);
    free(m->arrival);
    free(m);
}
