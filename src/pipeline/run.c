/* run.c — a paced video run through the pipeline: frames read, paced,
 * pushed; outputs written as JSON lines, annotated and counted
 * (specx/pipeline.h).
 *
 * Design notes
 *  - Pacing is the camera clock (specx_pacer): frame i is pushed at
 *    t0 + i/fps. A frame that is already late (slow decode, or SYNC mode
 *    waiting for outputs) is pushed at once; the schedule is not shifted, so
 *    pacing does not drift. A live stream (rtsp://, http://) delivers frames
 *    at its own rate: reading it is the pacing.
 *  - The output handler (counters, JSON line, drawing, the caller's hook)
 *    runs on the pipeline's delivery thread in STREAM mode and on the playing
 *    thread in SYNC mode, never both; the playing thread reads the counters
 *    after specx_pipeline_finish, which synchronises through the pipeline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/pipeline.h"
#include "specx/video.h"

#include "pipeline/annotate.h"
#include "pipeline/jsonl.h"
#include "track/track.h"

#define MAX_READ_ERRORS 25 /* unreadable frames in a row before giving up */
/* Frames a video file may deliver fewer than its container announces
 * without being called truncated (an edit list can drop one or two). */
#define SHORT_FRAMES_OK 2

struct specx_pipeline_run {
    specx_pipeline_run_config cfg;
    specx_video_source *src;
    specx_pipeline *p;
    sx_pipeline_jsonl jsonl;
    sx_pipeline_annotator *ann;
    specx_pipeline_run_counts c;
    bool finished;
    /* reuse_late TRACK: the tracker (track_mu: the late callback and the
     * output handler run on different threads); fused/origins are the
     * output handler's own. */
    sx_track *track;
    pthread_mutex_t track_mu;
    sx_track_frame fused;
    specx_pipeline_origin *origins;
    size_t origins_cap;
};

static void count(specx_pipeline_run_counts *c, const specx_pipeline_output *out)
{
    if (out->index != c->outputs) {
        c->order_ok = false;
    }
    c->outputs++;
    if (out->winner >= 0 && (size_t)out->winner < c->n_exec) {
        c->wins[out->winner]++;
    } else {
        c->no_result++;
        if (out->status >= 0 && out->status < SPECX_STATUS_COUNT_) {
            c->no_result_by[out->status]++;
        }
    }
    c->fallbacks += out->fallback;
    for (size_t i = 0; i < out->n_exec && i < c->n_exec; i++) {
        const specx_pipeline_exec *e = &out->exec[i];
        if (c->first_failure[i][0] == '\0' && e->fate == SPECX_FATE_FAILED) {
            snprintf(c->first_failure[i], sizeof c->first_failure[i], "%s%s%s",
                     specx_status_name(e->status), e->message ? ": " : "",
                     e->message ? e->message : "");
        }
    }
}

/* A server answer after its deadline: to the tracker, for later frames. */
static void on_late(void *user, const specx_pipeline_late *late)
{
    specx_pipeline_run *r = user;
    specx_err err = {{0}};
    pthread_mutex_lock(&r->track_mu);
    specx_status st = sx_track_cloud(r->track, late->index, late->arrival, late->detections, &err);
    pthread_mutex_unlock(&r->track_mu);
    (void)st; /* out of memory: that answer is not carried */
}

/* The output with the tracker's fused boxes and their origins in *fused;
 * returns out itself when the tracker could not step. */
static const specx_pipeline_output *fuse(specx_pipeline_run *r, const specx_pipeline_output *out,
                                         specx_pipeline_output *fused)
{
    bool won = out->winner >= 0 && out->detections != NULL;
    const specx_detections *local = won && out->is_local ? out->detections : NULL;
    const specx_detections *cloud = won && !out->is_local ? out->detections : NULL;
    specx_err err = {{0}};
    pthread_mutex_lock(&r->track_mu);
    specx_status st =
        sx_track_step(r->track, out->index, out->raw->arrival, local, cloud, &r->fused, &err);
    pthread_mutex_unlock(&r->track_mu);
    size_t n = r->fused.dets.count;
    if (st == SPECX_OK && n > r->origins_cap) {
        specx_pipeline_origin *o = realloc(r->origins, n * sizeof *o);
        if (o == NULL) {
            st = SPECX_ENOMEM;
        } else {
            r->origins = o;
            r->origins_cap = n;
        }
    }
    if (st != SPECX_OK) {
        return out;
    }
    for (size_t i = 0; i < n; i++) {
        const sx_track_info *in = &r->fused.info[i];
        r->origins[i] = (specx_pipeline_origin){.origin = sx_track_origin_name(in->origin),
                                                .age_frames = in->age_frames,
                                                .age_ms = in->age_ms,
                                                .denied = in->denied};
    }
    *fused = *out;
    fused->detections = &r->fused.dets;
    fused->origins = r->origins;
    fused->source = sx_track_source_name(r->fused.source);
    return fused;
}

static void on_output(void *user, const specx_pipeline_output *out)
{
    specx_pipeline_run *r = user;
    count(&r->c, out);
    specx_pipeline_output fused;
    if (r->track != NULL) {
        out = fuse(r, out, &fused);
    }
    sx_pipeline_jsonl_write(&r->jsonl, out);
    if (r->ann != NULL) {
        sx_pipeline_annotator_add(r->ann, out);
    }
    if (r->cfg.pipeline.output != NULL) {
        r->cfg.pipeline.output(r->cfg.pipeline.output_user, out);
    }
}

/* Opens the source and works out the pacing rate and the frame count. */
static specx_status open_source(specx_pipeline_run *r, double *writer_fps, specx_err *err)
{
    const specx_pipeline_run_config *cfg = &r->cfg;
    specx_video_source_opts so = {.dir_fps = cfg->fps > 0 ? cfg->fps : 0};
    specx_status st = specx_video_source_open(&r->src, cfg->video, &so, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_video_info info;
    specx_video_source_info(r->src, &info);
    bool live = strstr(cfg->video, "://") != NULL;
    double src_fps = info.fps > 0 ? info.fps : 10.0;
    r->c.fps = cfg->fps >= 0 ? cfg->fps : live ? 0 : src_fps;
    *writer_fps = r->c.fps > 0 ? r->c.fps : src_fps;
    r->c.total = info.frame_count;
    if (cfg->max_frames > 0 && (r->c.total < 0 || r->c.total > cfg->max_frames)) {
        r->c.total = cfg->max_frames;
    }
    return SPECX_OK;
}

specx_status specx_pipeline_run_open(const specx_pipeline_run_config *cfg, specx_pipeline_run **out,
                                     specx_err *err)
{
    if (cfg == NULL || out == NULL || cfg->video == NULL) {
        specx_detector_close(cfg != NULL ? cfg->pipeline.local_detector : NULL);
        return specx_err_set(err, SPECX_EINVAL, "pipeline run: no video given");
    }
    specx_pipeline_run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        specx_detector_close(cfg->pipeline.local_detector);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    r->cfg = *cfg;
    r->c.order_ok = true;
    r->c.total = -1;
    r->c.annotate_queue_max = SX_PIPELINE_ANNOTATE_QUEUE_MAX;
    pthread_mutex_init(&r->track_mu, NULL);
    sx_track_frame_init(&r->fused);
    double writer_fps = 10;
    specx_status st = open_source(r, &writer_fps, err);
    if (st == SPECX_OK && cfg->reuse_late == SPECX_REUSE_LATE_TRACK) {
        st = sx_track_create(NULL, &r->track, err);
    }
    if (st == SPECX_OK) {
        specx_pipeline_config pc = cfg->pipeline;
        pc.output = on_output;
        pc.output_user = r;
        if (r->track != NULL) {
            pc.late = on_late;
            pc.late_user = r;
            pc.keep_late_ms = pc.keep_late_ms > 0 ? pc.keep_late_ms : 1000;
        }
        st = specx_pipeline_create(&pc, &r->p, err); /* takes local_detector */
    } else {
        specx_detector_close(cfg->pipeline.local_detector);
    }
    if (st == SPECX_OK) {
        r->c.n_exec = specx_pipeline_executor_count(r->p);
        st = sx_pipeline_jsonl_open(&r->jsonl, cfg->jsonl, err);
    }
    if (st == SPECX_OK && cfg->annotate != NULL) {
        st = sx_pipeline_annotator_open(cfg->annotate, cfg->annotate_codec, writer_fps, r->p,
                                        &r->ann, err);
    }
    if (st != SPECX_OK) {
        specx_pipeline_run_close(r);
        return st;
    }
    *out = r;
    return SPECX_OK;
}

static bool stopped(const atomic_bool *stop)
{
    return stop != NULL && atomic_load(stop);
}

/* At the end of a video file: fewer frames than the container announced
 * means the file was cut short or damaged, and the run did not see the
 * video it was asked to; the frames read have their outputs either way. */
static specx_status check_complete(specx_pipeline_run *r, int64_t delivered, specx_err *err)
{
    specx_video_info info;
    specx_video_source_info(r->src, &info);
    if (info.kind != SPECX_VIDEO_FILE || info.frame_count <= 0 ||
        delivered + SHORT_FRAMES_OK >= info.frame_count) {
        return SPECX_OK;
    }
    return specx_err_set(err, SPECX_EFORMAT,
                         "%s ended after %lld of the %lld frames its container announces: the "
                         "file is truncated or damaged (the frames read were processed)",
                         r->cfg.video, (long long)delivered, (long long)info.frame_count);
}

/* Reads, paces and pushes until the end, max_frames, *stop or a fatal error. */
static specx_status feed(specx_pipeline_run *r, const atomic_bool *stop, specx_err *err)
{
    const specx_pipeline_run_config *cfg = &r->cfg;
    specx_pacer pacer;
    specx_pacer_start(&pacer, r->c.fps);
    int read_errors = 0;
    int64_t delivered = 0; /* frames (or unreadable frames) the source gave */
    while (!stopped(stop) && (cfg->max_frames <= 0 || r->c.pushed < cfg->max_frames)) {
        specx_frame fr;
        int eof = 0;
        specx_status st = specx_video_source_read(r->src, &fr, &eof, err);
        if (st != SPECX_OK) {
            if (++read_errors >= MAX_READ_ERRORS || st == SPECX_ENOMEM) {
                return st;
            }
            if (cfg->notice != NULL) {
                cfg->notice(cfg->notice_user, specx_err_text(err, st));
            }
            delivered++;
            continue;
        }
        read_errors = 0;
        if (eof) {
            return check_complete(r, delivered, err);
        }
        delivered++;
        if (!specx_pacer_wait(&pacer, r->c.pushed, stop)) {
            specx_frame_clear(&fr);
            break;
        }
        st = specx_pipeline_push(r->p, &fr.image, r->c.pushed, fr.pts, err);
        specx_frame_clear(&fr);
        if (st != SPECX_OK) {
            return st;
        }
        r->c.pushed++;
    }
    return SPECX_OK;
}

specx_status specx_pipeline_run_play(specx_pipeline_run *r, const atomic_bool *stop, specx_err *err)
{
    if (r->finished) {
        return specx_err_set(err, SPECX_ESTOPPED, "pipeline run: already played");
    }
    r->c.started = specx_time_now();
    specx_status st = feed(r, stop, err);
    specx_pipeline_finish(r->p);
    r->finished = true;
    r->c.wall_s = specx_dur_ms(specx_time_now() - r->c.started) / 1e3;
    r->c.interrupted = stopped(stop);
    if (st == SPECX_OK && r->c.pushed == 0) {
        st = specx_err_set(err, SPECX_EFORMAT, "%s has no frames", r->cfg.video);
    }
    if (st == SPECX_OK && (!r->c.order_ok || r->c.outputs != r->c.pushed)) {
        st = specx_err_set(err, SPECX_EINTERNAL, "internal error: %lld outputs for %lld frames%s",
                           (long long)r->c.outputs, (long long)r->c.pushed,
                           r->c.order_ok ? "" : ", out of order");
    }
    specx_err cerr = {{0}};
    specx_status cst = sx_pipeline_jsonl_close(&r->jsonl, &cerr);
    if (r->ann != NULL) {
        r->c.annotate_queue_peak = sx_pipeline_annotator_peak(r->ann);
        specx_status ast = sx_pipeline_annotator_close(r->ann, cst == SPECX_OK ? &cerr : NULL);
        r->ann = NULL;
        cst = cst != SPECX_OK ? cst : ast;
    }
    if (st == SPECX_OK && cst != SPECX_OK) {
        st = specx_err_set(err, cst, "%s", cerr.msg);
    }
    return st;
}

const specx_pipeline_run_counts *specx_pipeline_run_counts_get(const specx_pipeline_run *r)
{
    return &r->c;
}

specx_pipeline *specx_pipeline_run_engine(specx_pipeline_run *r)
{
    return r->p;
}

void specx_pipeline_run_close(specx_pipeline_run *r)
{
    if (r == NULL) {
        return;
    }
    if (r->p != NULL && !r->finished) {
        specx_pipeline_finish(r->p);
    }
    sx_pipeline_annotator_close(r->ann, NULL);
    sx_pipeline_jsonl_close(&r->jsonl, NULL);
    specx_pipeline_destroy(r->p); /* no late callback after this */
    specx_video_source_close(r->src);
    sx_track_destroy(r->track);
    sx_track_frame_clear(&r->fused);
    free(r->origins);
    pthread_mutex_destroy(&r->track_mu);
    free(r);
}
