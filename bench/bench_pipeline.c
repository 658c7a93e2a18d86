/* bench_pipeline.c — `specx bench pipeline`: per-model inference time
 * in-process, and a detection server's throughput over loopback gRPC against
 * the same work done in-process (the server's overhead), with real JPEG
 * frames from the bundled video. Prints figures; never fails on time.
 *
 * Measurements (one process, same run, so the ratio shares the machine's
 * noise):
 *  1. per model: detect() on decoded frames, p50/p99 (and JPEG decode +
 *     detect, what a server does per request);
 *  2. in-process throughput with W threads, each with its own detector,
 *     decoding and detecting JPEG frames from a shared counter;
 *  3. the server with W workers fed by a client keeping K calls in flight
 *     (K = 2W by default: one computing, one queued per worker), frames/s;
 *     ratio = (3) / (2): 1.0 would be a free server. (2) and (3) alternate
 *     in three rounds on the same detectors and server, and the medians are
 *     printed, so load drifting on the shared machine hits both alike;
 *  4. the uplink of one frame to the server model, three ways on the same
 *     frames, alternating frame by frame: the old path (whole frame, JPEG,
 *     full decode), an old client's whole frame decoded at a DCT scale, and
 *     the frame scaled to the model's letterbox on the vehicle: bytes, encode,
 *     decode, letterbox and inference times, p50/p99 and ratios to the old
 *     path. The letterbox is timed as detect() with its cancel flag already
 *     set: both backends letterbox before their first cancellation
 *     checkpoint, so that call is the letterbox (plus an image check). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "specx/codec.h"
#include "specx/detector.h"
#include "specx/hist.h"
#include "specx/rpc.h"
#include "specx/serve.h"
#include "specx/video.h"

#include "bench.h"
#include "cli.h"

typedef struct bench_opts {
    const char *backend, *model_dir, *video, *server_model;
    char models[512];
    int frames, warmup, jpeg_quality, inflight;
    int workers[4];
    int n_workers;
} bench_opts;

typedef struct frames {
    int n;
    specx_image *img;
    specx_encoded_frame **jpeg;
    size_t jpeg_bytes;
} frames;

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench pipeline [options]\n");
    specx_cli_print_options(f, opts);
}

static void frames_free(frames *fr)
{
    for (int i = 0; i < fr->n; i++) {
        specx_image_clear(&fr->img[i]);
        specx_encoded_frame_unref(fr->jpeg[i]);
    }
    free(fr->img);
    free(fr->jpeg);
}

/* Up to `want` distinct frames of the video, decoded and JPEG-encoded. */
static specx_status frames_load(const char *path, int want, int quality, frames *fr, specx_err *err)
{
    memset(fr, 0, sizeof *fr);
    fr->img = calloc((size_t)want, sizeof *fr->img);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    fr->jpeg = calloc((size_t)want, sizeof *fr->jpeg);
    if (fr->img == NULL || fr->jpeg == NULL) {
        frames_free(fr);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    specx_video_source *src;
    specx_status st = specx_video_source_open(&src, path, NULL, err);
    if (st != SPECX_OK) {
        frames_free(fr);
        return st;
    }
    while (fr->n < want) {
        specx_frame f;
        int eof = 0;
        st = specx_video_source_read(src, &f, &eof, err);
        if (st != SPECX_OK || eof) {
            break;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        st = specx_jpeg_encode(&f.image, quality, &buf, &len, err);
        if (st == SPECX_OK &&
            (st = specx_encoded_frame_take(buf, len, &fr->jpeg[fr->n])) != SPECX_OK) {
            free(buf);
        }
        if (st != SPECX_OK) {
            specx_frame_clear(&f);
            break;
        }
        fr->img[fr->n] = f.image;
        fr->jpeg_bytes += len;
        fr->n++;
    }
    specx_video_source_close(src);
    if (st == SPECX_OK && fr->n == 0) {
        st = specx_err_set(err, SPECX_EFORMAT, "%s: no frames", path);
    }
    if (st != SPECX_OK) {
        frames_free(fr);
    }
    return st;
}

static specx_status open_det(const bench_opts *o, const char *model, specx_detector **out,
                             specx_err *err)
{
    specx_detector_config cfg = {.model = model, .model_dir = o->model_dir, .backend = o->backend};
    return specx_detector_open(&cfg, out, err);
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* ---- 1. per-model inference ------------------------------------------------- */

static int bench_model(const bench_opts *o, const char *model, const frames *fr)
{
    specx_err err = {{0}};
    specx_detector *det;
    specx_status st = open_det(o, model, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench pipeline: %s\n", specx_err_text(&err, st));
        return 1;
    }
    specx_hist h_det, h_dec;
    specx_hist_init(&h_det);
    specx_hist_init(&h_dec);
    specx_detections d;
    specx_detections_init(&d);
    size_t boxes = 0;
    for (int i = 0; i < o->warmup + o->frames && st == SPECX_OK; i++) {
        int k = i % fr->n;
        specx_time_t t0 = specx_time_mono();
        st = specx_detector_detect(det, &fr->img[k], NULL, &d, &err);
        specx_time_t t1 = specx_time_mono();
        specx_image img = {0};
        if (st == SPECX_OK) { /* as a server decodes it */
            const specx_detector_info *in = specx_detector_get_info(det);
            st = specx_image_decode_fit(specx_encoded_frame_data(fr->jpeg[k]),
                                        specx_encoded_frame_size(fr->jpeg[k]), 0, in->input_width,
                                        in->input_height, &img, NULL, NULL, &err);
        }
        if (st == SPECX_OK) {
            st = specx_detector_detect(det, &img, NULL, &d, &err);
        }
        specx_time_t t2 = specx_time_mono();
        specx_image_clear(&img);
        if (i >= o->warmup) {
            specx_hist_record(&h_det, t1 - t0);
            specx_hist_record(&h_dec, t2 - t1);
            boxes += d.count;
        }
    }
    const specx_detector_info *info = specx_detector_get_info(det);
    if (st == SPECX_OK) {
        printf("%-26s %-8s %4dx%-4d %9.2f %9.2f %9.2f %9.2f %6.1f\n", model, info->backend,
               info->input_width, info->input_height, ms(specx_hist_quantile(&h_det, 0.5)),
               ms(specx_hist_quantile(&h_det, 0.99)), ms(specx_hist_quantile(&h_dec, 0.5)),
               ms(specx_hist_quantile(&h_dec, 0.99)), (double)boxes / o->frames);
    } else {
        fprintf(stderr, "specx bench pipeline: %s: %s\n", model, specx_err_text(&err, st));
    }
    specx_detections_clear(&d);
    specx_detector_close(det);
    return st == SPECX_OK ? 0 : 1;
}

/* ---- 2. in-process throughput ----------------------------------------------- */

typedef struct inproc {
    const frames *fr;
    specx_detector *det;
    atomic_int *next;
    int total;
    specx_status st;
} inproc;

static void *inproc_main(void *arg)
{
    inproc *w = arg;
    specx_detections d;
    specx_detections_init(&d);
    specx_err err = {{0}};
    for (;;) {
        int i = atomic_fetch_add(w->next, 1);
        if (i >= w->total) {
            break;
        }
        const specx_encoded_frame *j = w->fr->jpeg[i % w->fr->n];
        specx_image img = {0};
        const specx_detector_info *in = specx_detector_get_info(w->det);
        w->st = specx_image_decode_fit(specx_encoded_frame_data(j), specx_encoded_frame_size(j), 0,
                                       in->input_width, in->input_height, &img, NULL, NULL, &err);
        if (w->st == SPECX_OK) {
            w->st = specx_detector_detect(w->det, &img, NULL, &d, &err);
        }
        specx_image_clear(&img);
        if (w->st != SPECX_OK) {
            break;
        }
    }
    specx_detections_clear(&d);
    return NULL;
}

/* frames/s of W threads (detectors opened by the caller) decoding and
 * detecting `total` frames, or < 0 on error */
static double inproc_fps(const frames *fr, specx_detector **dets, int workers, int total)
{
    inproc w[8];
    pthread_t th[8];
    atomic_int next;
    atomic_init(&next, 0);
    specx_time_t t0 = specx_time_mono();
    int started = 0;
    for (int i = 0; i < workers; i++) {
        w[i] = (inproc){.fr = fr, .det = dets[i], .next = &next, .total = total};
        if (pthread_create(&th[i], NULL, inproc_main, &w[i]) != 0) {
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
    }
    specx_time_t t1 = specx_time_mono();
    for (int i = 0; i < started; i++) {
        if (w[i].st != SPECX_OK) {
            fprintf(stderr, "specx bench pipeline: in-process detect failed: %s\n",
                    specx_strerror(w[i].st));
            return -1;
        }
    }
    return started == workers ? total / ((double)(t1 - t0) / 1e9) : -1;
}

/* ---- 3. server throughput ------------------------------------------------------- */

typedef struct feeder feeder;
typedef struct call_ctx {
    feeder *f;
    int index;
} call_ctx;

struct feeder {
    const frames *fr;
    specx_rpc_client *cl;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, done, total, failed;
    char err[256];
    specx_time_t *t_start; /* per call */
    call_ctx *ctx;         /* per call */
    specx_hist rtt;
};

static void feeder_done(void *user, specx_status st, specx_detections *res, const char *msg);

/* Starts call number i (under f->mu). */
static void feeder_start(feeder *f)
{
    int i = f->started++;
    f->t_start[i] = specx_time_mono();
    f->ctx[i] = (call_ctx){.f = f, .index = i};
    specx_status st = specx_rpc_call_start(f->cl, f->fr->jpeg[i % f->fr->n], SPECX_TIME_NEVER,
                                           feeder_done, &f->ctx[i], NULL);
    if (st != SPECX_OK) {
        f->failed++;
        f->done++;
        snprintf(f->err, sizeof f->err, "cannot start a call: %s", specx_strerror(st));
    }
}

static void feeder_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    call_ctx *cx = user;
    feeder *f = cx->f;
    specx_detections_destroy(res);
    specx_time_t now = specx_time_mono();
    pthread_mutex_lock(&f->mu);
    if (st != SPECX_OK) {
        f->failed++;
        snprintf(f->err, sizeof f->err, "%s: %s", specx_status_name(st), msg != NULL ? msg : "");
    }
    specx_hist_record(&f->rtt, now - f->t_start[cx->index]);
    f->done++;
    if (f->started < f->total && f->failed == 0) {
        feeder_start(f);
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static specx_status server_det(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)worker;
    const bench_opts *o = user;
    return open_det(o, o->server_model, out, err);
}

/* frames/s of `total` calls with `inflight` outstanding, or < 0 on error */
static double client_fps(specx_rpc_client *cl, const frames *fr, int inflight, int total,
                         specx_hist *rtt)
{
    feeder f = {.fr = fr, .cl = cl, .total = total};
    // NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): callers pass total >= 1
    f.t_start = calloc((size_t)total, sizeof *f.t_start);
    f.ctx = calloc((size_t)total, sizeof *f.ctx);
    if (f.t_start == NULL || f.ctx == NULL) {
        free(f.t_start);
        free(f.ctx);
        return -1;
    }
    specx_hist_init(&f.rtt);
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    specx_time_t t0 = specx_time_mono();
    pthread_mutex_lock(&f.mu);
    for (int i = 0; i < inflight && f.started < f.total; i++) {
        feeder_start(&f);
    }
    while (f.done < f.started || (f.started < f.total && f.failed == 0)) {
        pthread_cond_wait(&f.cv, &f.mu);
    }
    pthread_mutex_unlock(&f.mu);
    specx_time_t t1 = specx_time_mono();
    double fps = -1;
    if (f.failed > 0) {
        fprintf(stderr, "specx bench pipeline: %d calls failed (%s)\n", f.failed, f.err);
    } else {
        fps = f.total / ((double)(t1 - t0) / 1e9);
        specx_hist_merge(rtt, &f.rtt);
    }
    pthread_cond_destroy(&f.cv);
    pthread_mutex_destroy(&f.mu);
    free(f.t_start);
    free(f.ctx);
    return fps;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* W workers: in-process and server rounds alternate (ABAB...), so drifting
 * load on the shared machine hits both alike; prints medians. */
static int bench_workers(const bench_opts *o, const frames *fr, int workers)
{
    specx_err err = {{0}};
    specx_detector *dets[8] = {0};
    specx_server *srv = NULL;
    specx_rpc_client *cl = NULL;
    int rc = 1;
    for (int i = 0; i < workers; i++) {
        specx_status st = open_det(o, o->server_model, &dets[i], &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx bench pipeline: %s\n", specx_err_text(&err, st));
            goto out;
        }
    }
    specx_server_config sc = {.bind = "127.0.0.1",
                              .port = 0,
                              .workers = workers,
                              .queue_capacity = 256,
                              .open_detector = server_det,
                              .open_detector_user = (void *)o};
    specx_status st = specx_server_start(&sc, &srv, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench pipeline: server: %s\n", specx_err_text(&err, st));
        goto out;
    }
    specx_rpc_client_config cc;
    specx_rpc_client_config_init(&cc);
    snprintf(cc.target, sizeof cc.target, "127.0.0.1:%d", specx_server_port(srv));
    st = specx_rpc_client_create(&cc, &cl, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench pipeline: client: %s\n", specx_err_text(&err, st));
        goto out;
    }
    int inflight = o->inflight > 0 ? o->inflight : 2 * workers;
    specx_hist rtt;
    specx_hist_init(&rtt);
    /* warm-up: both paths */
    if (o->warmup > 0 && (inproc_fps(fr, dets, workers, o->warmup * workers) < 0 ||
                          client_fps(cl, fr, inflight, o->warmup * workers, &rtt) < 0)) {
        goto out;
    }
    specx_hist_init(&rtt);
    enum { ROUNDS = 3 };
    double in[ROUNDS], sv[ROUNDS], ratio[ROUNDS];
    int per = (o->frames + ROUNDS - 1) / ROUNDS;
    for (int r = 0; r < ROUNDS; r++) {
        in[r] = inproc_fps(fr, dets, workers, per);
        sv[r] = in[r] > 0 ? client_fps(cl, fr, inflight, per, &rtt) : -1;
        if (in[r] <= 0 || sv[r] <= 0) {
            goto out;
        }
        ratio[r] = sv[r] / in[r];
    }
    double mr = median(ratio, ROUNDS), mi = median(in, ROUNDS), ms_ = median(sv, ROUNDS);
    printf("%-8d %-9d %14.2f %14.2f %8.3f %11.1f ms   (ratios %.2f %.2f %.2f)\n", workers, inflight,
           mi, ms_, mr, ms(specx_hist_quantile(&rtt, 0.5)), ratio[0], ratio[1], ratio[2]);
    fflush(stdout);
    rc = 0;
out:
    specx_rpc_client_destroy(cl);
    specx_server_destroy(srv);
    for (int i = 0; i < workers; i++) {
        specx_detector_close(dets[i]);
    }
    return rc;
}

/* ---- 4. the uplink ------------------------------------------------------------------ */

enum { UP_OLD, UP_OLD_SCALED, UP_FIT, UP_PATHS };
enum { T_ENCODE, T_DECODE, T_LETTERBOX, T_DECLB, T_INFER, T_COUNT };

static const char *const up_names[UP_PATHS] = {"whole frame (old)", "whole, decoded at scale",
                                               "scaled to the model"};

typedef struct up_stats {
    specx_hist t[T_COUNT];
    double bytes; /* summed over the frames */
    int n;
    int dec_w, dec_h, sent_w, sent_h;
} up_stats;

/* The vehicle's side of one path: the JPEG the server gets. */
static specx_status up_encode(int path, const specx_image *frame, int fit_w, int fit_h, int quality,
                              uint8_t **jpg, size_t *len, up_stats *s, specx_err *err)
{
    specx_time_t t0 = specx_time_mono();
    specx_image small = {0};
    const specx_image *src = frame;
    specx_status st = SPECX_OK;
    if (path == UP_FIT) {
        int w, h;
        specx_image_fit_size(frame->width, frame->height, fit_w, fit_h, &w, &h);
        st = specx_image_resize(frame, w, h, &small, err);
        src = &small;
    }
    if (st == SPECX_OK) {
        /* as the pipeline: full chroma for a scaled frame */
        st = specx_jpeg_encode_chroma(
            src, quality, path == UP_FIT ? SPECX_CHROMA_444 : SPECX_CHROMA_AUTO, jpg, len, err);
    }
    specx_hist_record(&s->t[T_ENCODE], specx_time_mono() - t0);
    s->sent_w = src->width;
    s->sent_h = src->height;
    specx_image_clear(&small);
    return st;
}

/* The server's side: decode, letterbox, inference. */
static specx_status up_serve(int path, specx_detector *det, const uint8_t *jpg, size_t len,
                             up_stats *s, specx_detections *d, specx_err *err)
{
    const specx_detector_info *info = specx_detector_get_info(det);
    specx_image img = {0};
    specx_time_t t0 = specx_time_mono();
    specx_status st = path == UP_OLD
                          ? specx_image_decode(jpg, len, 0, &img, err)
                          : specx_image_decode_fit(jpg, len, 0, info->input_width,
                                                   info->input_height, &img, NULL, NULL, err);
    specx_time_t t1 = specx_time_mono();
    atomic_bool cancel;
    atomic_init(&cancel, true);
    specx_err lerr = {{0}};
    specx_status lst = st == SPECX_OK ? specx_detector_detect(det, &img, &cancel, d, &lerr) : st;
    specx_time_t t2 = specx_time_mono();
    if (st == SPECX_OK && lst != SPECX_ECANCELED) {
        st = specx_err_set(err, SPECX_EUNSUPPORTED,
                           "the letterbox cannot be timed: detect() with its cancel flag set "
                           "returned %s",
                           specx_status_name(lst));
    }
    if (st == SPECX_OK) {
        st = specx_detector_detect(det, &img, NULL, d, err);
    }
    specx_time_t t3 = specx_time_mono();
    if (st == SPECX_OK) {
        specx_hist_record(&s->t[T_DECODE], t1 - t0);
        specx_hist_record(&s->t[T_LETTERBOX], t2 - t1);
        specx_hist_record(&s->t[T_DECLB], (t1 - t0) + (t2 - t1));
        specx_hist_record(&s->t[T_INFER], (t3 - t2) - (t2 - t1));
        s->bytes += (double)len;
        s->n++;
        s->dec_w = img.width;
        s->dec_h = img.height;
    }
    specx_image_clear(&img);
    return st;
}

static void up_print(const up_stats *s)
{
    const char *cols[T_COUNT] = {"encode", "decode", "letterbox", "dec+lbox", "inference"};
    printf("%-23s %9s %9s %8s", "path", "sent", "decoded", "KB/frame");
    for (int t = 0; t < T_COUNT; t++) {
        printf(" %13s", cols[t]);
    }
    printf("\n");
    for (int p = 0; p < UP_PATHS; p++) {
        const up_stats *u = &s[p];
        printf("%-23s %4dx%-4d %4dx%-4d %8.1f", up_names[p], u->sent_w, u->sent_h, u->dec_w,
               u->dec_h, u->bytes / u->n / 1024.0);
        for (int t = 0; t < T_COUNT; t++) {
            printf(" %6.2f/%-6.2f", ms(specx_hist_quantile(&u->t[t], 0.5)),
                   ms(specx_hist_quantile(&u->t[t], 0.99)));
        }
        printf("\n");
    }
    printf("ratio to the old path (bytes: mean; times: p50)\n");
    for (int p = 1; p < UP_PATHS; p++) {
        printf("  %-21s %9s %9s %8.3f", up_names[p], "", "",
               (s[p].bytes / s[p].n) / (s[UP_OLD].bytes / s[UP_OLD].n));
        for (int t = 0; t < T_COUNT; t++) {
            double a = (double)specx_hist_quantile(&s[p].t[t], 0.5);
            double b = (double)specx_hist_quantile(&s[UP_OLD].t[t], 0.5);
            printf(" %13.3f", b > 0 ? a / b : 0);
        }
        printf("\n");
    }
}

static int bench_uplink(const bench_opts *o, const frames *fr)
{
    specx_err err = {{0}};
    specx_detector *det;
    specx_status st = open_det(o, o->server_model, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench pipeline: %s\n", specx_err_text(&err, st));
        return 1;
    }
    const specx_detector_info *info = specx_detector_get_info(det);
    /* [0..UP_PATHS): timed; [UP_PATHS..): warm-up, thrown away */
    up_stats *s = calloc(2 * UP_PATHS, sizeof *s);
    if (s == NULL) {
        specx_detector_close(det);
        return 1;
    }
    for (int p = 0; p < 2 * UP_PATHS; p++) {
        for (int t = 0; t < T_COUNT; t++) {
            specx_hist_init(&s[p].t[t]);
        }
    }
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; i < o->warmup + o->frames && st == SPECX_OK; i++) {
        up_stats *into = i < o->warmup ? s + UP_PATHS : s;
        for (int k = 0; k < UP_PATHS && st == SPECX_OK; k++) {
            int p = (i + k) % UP_PATHS; /* rotate who goes first */
            uint8_t *jpg = NULL;
            size_t len = 0;
            st = up_encode(p, &fr->img[i % fr->n], info->input_width, info->input_height,
                           o->jpeg_quality, &jpg, &len, &into[p], &err);
            if (st == SPECX_OK) {
                st = up_serve(p, det, jpg, len, &into[p], &d, &err);
            }
            free(jpg);
        }
    }
    if (st == SPECX_OK) {
        up_print(s);
    } else {
        fprintf(stderr, "specx bench pipeline: uplink: %s\n", specx_err_text(&err, st));
    }
    free(s);
    specx_detections_clear(&d);
    specx_detector_close(det);
    return st == SPECX_OK ? 0 : 1;
}

/* ---- command ---------------------------------------------------------------------- */

/* "1,2": server worker counts, 1..8 each, at most 4. */
static bool take_workers(const char *v, void *out, char *msg, size_t n)
{
    bench_opts *o = out;
    char buf[64];
    if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf) {
        return false;
    }
    snprintf(msg, n, "want up to 4 counts in 1..8, e.g. 1,2");
    int w[4], k = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (k >= 4 || !specx_cli_int(t, 1, 8, &w[k])) {
            return false;
        }
        k++;
    }
    if (k == 0) {
        return false;
    }
    memcpy(o->workers, w, sizeof w);
    o->n_workers = k;
    return true;
}

static bool take_models(const char *v, void *out, char *msg, size_t n)
{
    bench_opts *o = out;
    (void)msg;
    (void)n;
    return snprintf(o->models, sizeof o->models, "%s", v) < (int)sizeof o->models;
}

/* 0 = run, 1 = --help printed, 2 = usage error (printed). */
static int parse_opts(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.frames = 20,
                      .warmup = 2,
                      .jpeg_quality = 90,
                      .server_model = "yolo-fastest-1.1-xl-416",
                      .workers = {1, 2},
                      .n_workers = 2};
    snprintf(o->models, sizeof o->models, "yolo-fastest-1.1,yolo-fastest-1.1-xl-416");
    char backend_help[64];
    snprintf(backend_help, sizeof backend_help, "detector backend (default: %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"backend", 0, SPECX_CLI_STRING, &o->backend, .meta = "B", .help = backend_help},
        {"models", 0, SPECX_CLI_CALL, o, .call = take_models, .meta = "A,B",
         .help = "models timed in-process (default\n"
                 "yolo-fastest-1.1,yolo-fastest-1.1-xl-416)"},
        {"cloud-model", 0, SPECX_CLI_STRING, &o->server_model, .meta = "M",
         .help = "model the server runs (default yolo-fastest-1.1-xl-416)"},
        {"server-model", 0, SPECX_CLI_STRING, &o->server_model,
         .help = NULL}, /* the old spelling */
        {"frames", 0, SPECX_CLI_INT, &o->frames, 1, 100000, .meta = "N",
         .help = "timed frames per measurement (default 20)"},
        {"warmup", 0, SPECX_CLI_INT, &o->warmup, 0, 1000, .meta = "N",
         .help = "untimed frames first (default 2)"},
        {"workers", 0, SPECX_CLI_CALL, o, .call = take_workers, .meta = "1,2",
         .help = "server worker counts (default 1,2)"},
        {"max-in-flight", 0, SPECX_CLI_INT, &o->inflight, 1, 1000, .meta = "K",
         .help = "client calls in flight (default 2 x workers)"},
        {"inflight", 0, SPECX_CLI_INT, &o->inflight, 1, 1000, .help = NULL}, /* the old spelling */
        {"jpeg-quality", 0, SPECX_CLI_INT, &o->jpeg_quality, 1, 100, .meta = "Q",
         .help = "JPEG quality of the frames sent (default 90)"},
        {"video", 0, SPECX_CLI_STRING, &o->video, .meta = "PATH",
         .help = "frames from this video (default: the bundled\n"
                 "udacity_test_video.mp4)"},
        {"model-dir", 0, SPECX_CLI_STRING, &o->model_dir, .meta = "DIR",
         .help = "where models live"},
        {0},
    };
    int rc = specx_cli_parse("specx bench pipeline", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
    }
    return rc;
}

int specx_bench_pipeline(int argc, char **argv)
{
    bench_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc != SPECX_CLI_OK) {
        return rc == SPECX_CLI_HELP ? 0 : 2;
    }
    char video[4096];
    if (o.video != NULL) {
        snprintf(video, sizeof video, "%s", o.video);
    } else if (!specx_cli_find_asset("video/udacity_test_video.mp4", video, sizeof video)) {
        fprintf(stderr,
                "specx bench pipeline: cannot find udacity_test_video.mp4 (give --video)\n");
        return 1;
    }
    frames fr;
    specx_err err = {{0}};
    int want = o.frames + o.warmup < 38 ? o.frames + o.warmup : 38;
    specx_status st = frames_load(video, want, o.jpeg_quality, &fr, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench pipeline: %s\n", specx_err_text(&err, st));
        return 1;
    }
    printf("specx bench pipeline: %d frames %dx%d from %s, JPEG q%d (%.0f KB each), "
           "%d warm-up + %d timed per measurement; backend %s\n",
           fr.n, fr.img[0].width, fr.img[0].height, video, o.jpeg_quality,
           (double)fr.jpeg_bytes / fr.n / 1024.0, o.warmup, o.frames,
           o.backend != NULL ? o.backend : specx_detector_default_backend());

    rc = 0;
    printf("\nin-process inference, one thread (decode+detect = what a server does per request)\n");
    printf("%-26s %-8s %9s %9s %9s %9s %9s %6s\n", "model", "backend", "input", "p50 ms", "p99 ms",
           "+dec p50", "+dec p99", "boxes");
    char models[512];
    snprintf(models, sizeof models, "%s", o.models);
    char *save = NULL;
    for (char *m = strtok_r(models, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        rc |= bench_model(&o, m, &fr);
    }

    printf("\nuplink of one frame to %s (times in ms, p50/p99; encode on the vehicle,\n"
           "the rest on the server; letterbox = detect() cancelled before its first layer)\n",
           o.server_model);
    rc |= bench_uplink(&o, &fr);

    printf("\nserver throughput, %s over loopback gRPC (unary, client in this process)\n",
           o.server_model);
    printf("%-8s %-9s %14s %14s %8s %14s\n", "workers", "inflight", "in-process f/s", "server f/s",
           "ratio", "server rtt p50");
    for (int k = 0; k < o.n_workers; k++) {
        rc |= bench_workers(&o, &fr, o.workers[k]);
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("\n(ratio = server frames/s / in-process frames/s with as many threads, median of 3\n"
           "alternating rounds; %ld cores; the machine is shared, expect +-20%%)\n",
           cores);
    frames_free(&fr);
    return rc;
}
