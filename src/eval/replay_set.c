/* replay_set.c — the inputs of a replay: per frame, the local and cloud
 * answers, the JPEG's size and encoding time, and measured compute times,
 * through the on-disk cache (specx/eval.h, eval/cache.h).
 *
 * Design notes
 *  - The local model answers the decoded pixels (as the pipeline's local
 *    executor does). The cloud model answers what the pipeline's uplink
 *    sends (docs/run.md, "Smaller uplink frames"): the frame scaled to the
 *    model's letterbox and encoded with full chroma at the run's quality,
 *    except the first frame, which goes whole (the server's model size is
 *    not known before its first reply; the replay assumes it is by the
 *    second frame), and every frame with full_frames. The JPEG is decoded
 *    as specx serve decodes it (at the DCT scale that fits the model) and
 *    the boxes mapped back to the frame; the time is decode + detect (what
 *    specx serve reports as infer_ms), the encoding time is scaling +
 *    encoding (the uplink's). The local time is the detection call's (the
 *    detector's infer_ms in the live pipeline).
 *  - The cloud model's input size is needed for every frame's key, so the
 *    cloud model is opened once per set even when every answer is cached.
 *  - Models are opened only on a cache miss, with one warm-up inference, on
 *    one thread (threads = 1, as `specx eval` runs them); times are the
 *    thread's CPU time, the least of TIMING_RUNS runs; keys say so
 *    (time=cpu), so a cache of wall times is not mixed in.
 *  - Keys name the detector's NMS too (the default): an answer depends on it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/codec.h"
#include "specx/detector.h"
#include "specx/eval.h"
#include "specx/video.h"

#include "eval/cache.h"

/* A miss is timed TIMING_RUNS times and the least time kept: the model's own
 * cost on this machine, with other processes' load filtered out as far as a
 * few tries can (a live comparison passes the live run's times instead). */
#define TIMING_RUNS 3

/* The calling thread's CPU time, in ms. Models run on this thread alone
 * (threads = 1), so this is their cost on one core without the time other
 * processes held it: on a shared machine the wall time of the same call
 * varied twofold between two fills of a cache. Shared caches and memory
 * bandwidth still count. Not a clock for scheduling (specx_time_mono is). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct builder {
    const specx_replay_set_config *cfg;
    specx_replay_set *s;
    float threshold;
    int quality;
    const char *backend;
    specx_detector *local_det, *cloud_det;
    int cloud_w, cloud_h; /* the cloud model's input (0: unknown, frames go whole) */
    double *lms, *cms;
} builder;

static specx_status open_model(builder *b, const char *model, specx_detector **out,
                               const specx_image *warm, specx_err *err)
{
    if (*out) {
        return SPECX_OK;
    }
    specx_detector_config dc = {.model = model,
                                .model_dir = b->cfg->model_dir,
                                .backend = b->cfg->backend,
                                .threshold = b->threshold,
                                .threads = 1};
    specx_status st = specx_detector_open(&dc, out, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_detections d;
    specx_detections_init(&d);
    st = specx_detector_detect(*out, warm, NULL, &d, err); /* warm-up, not timed */
    specx_detections_clear(&d);
    return st;
}

static void det_key(const builder *b, const char *model, const char *hash, char *key, size_t n)
{
    snprintf(key, n, "det|%s|%s|thr=%.6g|nms=default|time=cpu|%s", model, b->backend,
             (double)b->threshold, hash);
}

static specx_status local_answer(builder *b, size_t i, const specx_image *img, const char *hash,
                                 specx_err *err)
{
    char key[512];
    det_key(b, b->cfg->local_model, hash, key, sizeof key);
    specx_detections *d = &b->s->local[i];
    if (sx_eval_cache_load_dets(b->cfg->cache_dir, key, d, &b->lms[i], err) == SPECX_OK) {
        return SPECX_OK;
    }
    specx_status st = open_model(b, b->cfg->local_model, &b->local_det, img, err);
    double best = INFINITY;
    for (int k = 0; st == SPECX_OK && k < TIMING_RUNS; k++) {
        double t = cpu_ms();
        st = specx_detector_detect(b->local_det, img, NULL, d, err);
        best = fmin(best, cpu_ms() - t);
    }
    if (st == SPECX_OK) {
        b->lms[i] = d->infer_ms = best;
        b->s->computed_local++;
        st = sx_eval_cache_store_dets(b->cfg->cache_dir, key, d, best, err);
    }
    return st;
}

/* What the uplink sends for frame i: its size (w x h; the frame's own when
 * it goes whole). */
static void sent_size(const builder *b, size_t i, const specx_image *img, int *w, int *h)
{
    *w = img->width;
    *h = img->height;
    if (i == 0 || b->cfg->full_frames || b->cloud_w < 1 || b->cloud_h < 1) {
        return;
    }
    int fw, fh;
    specx_image_fit_size(img->width, img->height, b->cloud_w, b->cloud_h, &fw, &fh);
    if (fw >= 1 && fh >= 1 && fw <= img->width && fh <= img->height) {
        *w = fw;
        *h = fh;
    }
}

/* The uplink's JPEG of img at w x h: scaled (full chroma) unless that is
 * img's own size. */
static specx_status encode_sent(const builder *b, const specx_image *img, int w, int h,
                                uint8_t **buf, size_t *len, specx_err *err)
{
    if (w == img->width && h == img->height) {
        return specx_jpeg_encode(img, b->quality, buf, len, err);
    }
    specx_image small = {0};
    specx_status st = specx_image_resize(img, w, h, &small, err);
    if (st == SPECX_OK) {
        st = specx_jpeg_encode_chroma(&small, b->quality, SPECX_CHROMA_444, buf, len, err);
    }
    specx_image_clear(&small);
    return st;
}

/* The JPEG sent for img (w x h): size, encoding time, content hash. The
 * bytes are returned (caller frees) only when they had to be made. */
static specx_status jpeg_info(builder *b, const specx_image *img, const char *hash, int w, int h,
                              sx_eval_jpeg_info *info, uint8_t **jpeg, size_t *len, specx_err *err)
{
    char key[256];
    if (w == img->width && h == img->height) {
        snprintf(key, sizeof key, "jpeg|q=%d|time=cpu|%s", b->quality, hash);
    } else {
        snprintf(key, sizeof key, "jpeg|q=%d|scaled=%dx%d,444|time=cpu|%s", b->quality, w, h, hash);
    }
    *jpeg = NULL;
    if (sx_eval_cache_load_jpeg(b->cfg->cache_dir, key, info, err) == SPECX_OK) {
        return SPECX_OK;
    }
    /* one encoding to warm the encoder's tables and caches, then the
     * least of TIMING_RUNS timed ones */
    uint8_t *buf = NULL;
    specx_status st = encode_sent(b, img, w, h, &buf, len, err);
    double best = INFINITY;
    for (int k = 0; st == SPECX_OK && k < TIMING_RUNS; k++) {
        free(buf);
        buf = NULL;
        double t = cpu_ms();
        st = encode_sent(b, img, w, h, &buf, len, err);
        best = fmin(best, cpu_ms() - t);
    }
    if (st != SPECX_OK) {
        free(buf);
        return st;
    }
    info->encode_ms = best;
    info->bytes = *len;
    sx_eval_hash_bytes(buf, *len, info->hash);
    b->s->computed_jpeg++;
    *jpeg = buf;
    return sx_eval_cache_store_jpeg(b->cfg->cache_dir, key, info, err);
}

/* The server's answer to the JPEG (decoded at the scale that fits its
 * model, boxes in the JPEG's pixels), then mapped to the frame (the
 * uplink's rescale); the time is the least decode + detect. */
static specx_status cloud_compute(builder *b, const uint8_t *jpeg, size_t len,
                                  const specx_image *img, specx_detections *d, double *ms,
                                  specx_err *err)
{
    double best = INFINITY;
    specx_status st = SPECX_OK;
    int sent_w = img->width, sent_h = img->height;
    for (int k = 0; st == SPECX_OK && k < TIMING_RUNS; k++) {
        specx_image dec = {0};
        int full_w = 0, full_h = 0;
        double t = cpu_ms();
        st = specx_image_decode_fit(jpeg, len, 0, b->cloud_w, b->cloud_h, &dec, &full_w, &full_h,
                                    err);
        if (st == SPECX_OK) {
            st = specx_detector_detect(b->cloud_det, &dec, NULL, d, err);
            specx_detections_rescale(d, dec.width, dec.height, full_w, full_h);
            sent_w = full_w;
            sent_h = full_h;
        }
        best = fmin(best, cpu_ms() - t); /* decode + detect */
        specx_image_clear(&dec);
    }
    if (st == SPECX_OK) {
        specx_detections_rescale(d, sent_w, sent_h, img->width, img->height);
        *ms = best;
    }
    return st;
}

static specx_status cloud_answer(builder *b, size_t i, const specx_image *img, const char *hash,
                                 specx_err *err)
{
    specx_status st = open_model(b, b->cfg->cloud_model, &b->cloud_det, img, err);
    if (st != SPECX_OK) {
        return st;
    }
    const specx_detector_info *di = specx_detector_get_info(b->cloud_det);
    b->cloud_w = di->input_width;
    b->cloud_h = di->input_height;
    int w, h;
    sent_size(b, i, img, &w, &h);
    sx_eval_jpeg_info info;
    uint8_t *jpeg = NULL;
    size_t len = 0;
    st = jpeg_info(b, img, hash, w, h, &info, &jpeg, &len, err);
    if (st != SPECX_OK) {
        free(jpeg);
        return st;
    }
    b->s->frames[i].request_bytes = info.bytes;
    b->s->frames[i].encode_ms = info.encode_ms;
    /* The JPEG's hash names what was sent; the frame's size what its boxes
     * are mapped to; "fit" the server's decoding at a scale. */
    char key[512], what[SX_EVAL_HASH_HEX + 64];
    snprintf(what, sizeof what, "fit|to=%dx%d|%s", img->width, img->height, info.hash);
    det_key(b, b->cfg->cloud_model, what, key, sizeof key);
    specx_detections *d = &b->s->cloud[i];
    if (sx_eval_cache_load_dets(b->cfg->cache_dir, key, d, &b->cms[i], err) == SPECX_OK) {
        free(jpeg);
        return SPECX_OK;
    }
    if (!jpeg) { /* the encoding was cached, its answer not: encode again */
        st = encode_sent(b, img, w, h, &jpeg, &len, err);
    }
    double best = 0;
    if (st == SPECX_OK) {
        st = cloud_compute(b, jpeg, len, img, d, &best, err);
    }
    if (st == SPECX_OK) {
        b->cms[i] = d->infer_ms = best;
        b->s->computed_cloud++;
        st = sx_eval_cache_store_dets(b->cfg->cache_dir, key, d, best, err);
    }
    free(jpeg);
    return st;
}

static specx_status add_frame(builder *b, size_t i, const specx_image *img, specx_err *err)
{
    specx_replay_set *s = b->s;
    if (i == 0) {
        s->width = img->width;
        s->height = img->height;
    }
    char hash[SX_EVAL_HASH_HEX];
    sx_eval_hash_image(img, hash);
    size_t before = s->computed_local + s->computed_cloud;
    specx_status st = b->cfg->need_local ? local_answer(b, i, img, hash, err) : SPECX_OK;
    if (st == SPECX_OK && b->cfg->need_cloud) {
        st = cloud_answer(b, i, img, hash, err);
    }
    if (st != SPECX_OK) {
        return st;
    }
    s->frames[i] = (specx_replay_frame){.local = &s->local[i],
                                        .cloud = &s->cloud[i],
                                        .request_bytes = s->frames[i].request_bytes,
                                        .reply_bytes = specx_replay_reply_bytes(&s->cloud[i]),
                                        .encode_ms = s->frames[i].encode_ms};
    if (b->cfg->progress) {
        b->cfg->progress(b->cfg->progress_user, i + 1, s->n,
                         s->computed_local + s->computed_cloud > before);
    }
    return SPECX_OK;
}

/* ---- set-up and the two sources --------------------------------------------- */

static specx_status builder_init(builder *b, const specx_replay_set_config *cfg, size_t n,
                                 specx_err *err)
{
    *b = (builder){.cfg = cfg,
                   .threshold = cfg->threshold > 0 ? cfg->threshold : 0.005f,
                   .quality = cfg->jpeg_quality > 0 ? cfg->jpeg_quality : 90,
                   .backend = cfg->backend && *cfg->backend ? cfg->backend
                                                            : specx_detector_default_backend()};
    if (!cfg->cache_dir || !cfg->local_model || !cfg->cloud_model) {
        return specx_err_set(err, SPECX_EINVAL, "replay: set needs a cache and two models");
    }
    b->s = calloc(1, sizeof *b->s);
    if (!b->s) {
        return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
    }
    b->s->n = n;
    b->s->frames = calloc(n + 1, sizeof *b->s->frames);
    b->s->local = calloc(n + 1, sizeof *b->s->local);
    b->s->cloud = calloc(n + 1, sizeof *b->s->cloud);
    b->lms = calloc(n + 1, sizeof *b->lms);
    b->cms = calloc(n + 1, sizeof *b->cms);
    if (!b->s->frames || !b->s->local || !b->s->cloud || !b->lms || !b->cms) {
        return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        specx_detections_init(&b->s->local[i]);
        specx_detections_init(&b->s->cloud[i]);
    }
    return SPECX_OK;
}

/* Measured distributions; frees the builder; *out on success. */
static specx_status builder_finish(builder *b, specx_status st, specx_replay_set **out,
                                   specx_err *err)
{
    if (st == SPECX_OK && b->cfg->need_local) {
        char desc[160];
        snprintf(desc, sizeof desc, "measured: %s, %zu frames", b->cfg->local_model, b->s->n);
        st = specx_replay_dist_from(b->lms, b->s->n, desc, &b->s->local_ms, err);
    }
    if (st == SPECX_OK && b->cfg->need_cloud) {
        char desc[160];
        snprintf(desc, sizeof desc, "measured: %s decode + inference, %zu frames",
                 b->cfg->cloud_model, b->s->n);
        st = specx_replay_dist_from(b->cms, b->s->n, desc, &b->s->cloud_ms, err);
    }
    specx_detector_close(b->local_det);
    specx_detector_close(b->cloud_det);
    free(b->lms);
    free(b->cms);
    if (st != SPECX_OK) {
        specx_replay_set_free(b->s);
        return st;
    }
    *out = b->s;
    return SPECX_OK;
}

specx_status specx_replay_set_from_images(const specx_replay_set_config *cfg,
                                          const specx_eval_dataset *ds, size_t n,
                                          specx_replay_set **out, specx_err *err)
{
    *out = NULL;
    if (!ds || ds->count == 0) {
        return specx_err_set(err, SPECX_EINVAL, "replay: no images");
    }
    n = n == 0 || n > ds->count ? ds->count : n;
    builder b;
    specx_status st = builder_init(&b, cfg, n, err);
    for (size_t i = 0; st == SPECX_OK && i < n; i++) {
        specx_image img = {0};
        st = specx_image_load(ds->images[i].path, &img, err);
        if (st == SPECX_OK) {
            st = add_frame(&b, i, &img, err);
        }
        specx_image_clear(&img);
    }
    return builder_finish(&b, st, out, err);
}

specx_status specx_replay_set_from_video(const specx_replay_set_config *cfg, const char *path,
                                         size_t max_frames, specx_replay_set **out, specx_err *err)
{
    *out = NULL;
    specx_video_source *src = NULL;
    specx_status st = specx_video_source_open(&src, path, NULL, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_video_info vi;
    specx_video_source_info(src, &vi);
    size_t cap = vi.frame_count > 0 ? (size_t)vi.frame_count : 100000;
    cap = max_frames && max_frames < cap ? max_frames : cap;
    builder b;
    st = builder_init(&b, cfg, cap, err);
    size_t n = 0;
    while (st == SPECX_OK && n < cap) {
        specx_frame fr = {0};
        int eof = 0;
        st = specx_video_source_read(src, &fr, &eof, err);
        if (st != SPECX_OK || eof) {
            break;
        }
        st = add_frame(&b, n, &fr.image, err);
        specx_frame_clear(&fr);
        n++;
    }
    specx_video_source_close(src);
    if (st == SPECX_OK && n == 0) {
        st = specx_err_set(err, SPECX_EFORMAT, "%s: no frames", path);
    }
    if (st == SPECX_OK) {
        b.s->n = n; /* the container may have promised more */
        b.s->fps = vi.fps;
    }
    return builder_finish(&b, st, out, err);
}

void specx_replay_set_free(specx_replay_set *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; s->local && s->cloud && i < s->n; i++) {
        specx_detections_clear(&s->local[i]);
        specx_detections_clear(&s->cloud[i]);
    }
    free(s->frames);
    free(s->local);
    free(s->cloud);
    specx_replay_dist_clear(&s->local_ms);
    specx_replay_dist_clear(&s->cloud_ms);
    free(s);
}

specx_status specx_replay_set_golden(const specx_replay_set *s, float min_score,
                                     specx_eval_dataset **out, specx_err *err)
{
    *out = NULL;
    specx_eval_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->images = calloc(s->n + 1, sizeof *ds->images))) {
        free(ds);
        return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
    }
    ds->count = s->n;
    for (size_t i = 0; i < s->n; i++) {
        const specx_detections *d = &s->cloud[i];
        specx_eval_image *im = &ds->images[i];
        char name[32];
        snprintf(name, sizeof name, "frame-%06zu", i);
        im->name = strdup(name);
        im->path = strdup(name);
        im->width = d->image_width > 0 ? d->image_width : s->width;
        im->height = d->image_height > 0 ? d->image_height : s->height;
        im->boxes = calloc(d->count + 1, sizeof *im->boxes);
        if (!im->name || !im->path || !im->boxes) {
            specx_eval_dataset_free(ds);
            return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
        }
        for (size_t k = 0; k < d->count; k++) {
            const specx_detection *x = &d->items[k];
            if (x->score >= min_score && x->class_id >= 0) {
                im->boxes[im->n_boxes++] = (specx_eval_box){.class_id = x->class_id,
                                                            .xmin = x->xmin,
                                                            .ymin = x->ymin,
                                                            .xmax = x->xmax,
                                                            .ymax = x->ymax};
            }
        }
    }
    *out = ds;
    return SPECX_OK;
}
