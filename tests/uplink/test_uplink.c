/* test_uplink.c — smaller uplink frames end to end: the pipeline with
 * in-process servers whose detectors report a model input size and record
 * every image they are given. Checks: a server's first frame goes whole and
 * later ones at its letterbox size, boxes come back in pixels of the frame;
 * several servers get their own sizes, one JPEG per distinct size and frame,
 * a server without a size (the test detector) always the whole frame; a
 * server restarted with another model is followed; an old client's whole
 * frame is decoded at a DCT scale and answered in its own pixels; calls
 * cancelled while their frame waits to be encoded end once each, and the
 * encoding is skipped. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/codec.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "test_timeout.h"

/* ---- a detector that records what it is given ------------------------------ */

#define REC_MAX 256

/* What a recorder was given. */
typedef struct rec_seen {
    int n;
    int w[REC_MAX], h[REC_MAX], tag[REC_MAX]; /* image size, centre pixel's red */
} rec_seen;

typedef struct recorder {
    int in_w, in_h; /* the model input it reports (0 = none) */
    int delay_ms;   /* before answering */
    pthread_mutex_t mu;
    rec_seen seen; /* under mu: written on the server's worker threads */
} recorder;

static void recorder_init(recorder *r, int in_w, int in_h, int delay_ms)
{
    memset(r, 0, sizeof *r);
    r->in_w = in_w;
    r->in_h = in_h;
    r->delay_ms = delay_ms;
    pthread_mutex_init(&r->mu, NULL);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* One box over the whole image it was given, as a detector would report it
 * (clamped to the last pixel). */
static specx_status rec_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                               specx_detections *out, specx_err *err)
{
    recorder *r = impl;
    (void)err;
    (void)cancel;
    if (r->delay_ms > 0) {
        sleep_ms(r->delay_ms);
    }
    pthread_mutex_lock(&r->mu);
    rec_seen *s = &r->seen;
    if (s->n < REC_MAX) {
        s->w[s->n] = img->width;
        s->h[s->n] = img->height;
        s->tag[s->n] =
            img->data[(size_t)(img->height / 2) * img->stride + (size_t)(img->width / 2) * 3];
        s->n++;
    }
    pthread_mutex_unlock(&r->mu);
    specx_detection d = {.class_id = 0,
                         .score = 0.9f,
                         .xmax = (float)(img->width - 1),
                         .ymax = (float)(img->height - 1)};
    snprintf(d.label, sizeof d.label, "rec");
    out->image_width = img->width;
    out->image_height = img->height;
    snprintf(out->model, sizeof out->model, "rec%dx%d", r->in_w, r->in_h);
    return specx_detections_push(out, &d);
}

/* A copy of what r was given so far (its worker may still be adding). */
static rec_seen rec_read(recorder *r)
{
    pthread_mutex_lock(&r->mu);
    rec_seen s = r->seen;
    pthread_mutex_unlock(&r->mu);
    return s;
}

static void rec_destroy(void *impl)
{
    (void)impl; /* owned by the test */
}

static const specx_detector_ops rec_ops = {.detect = rec_detect, .destroy = rec_destroy};

static specx_status rec_open(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)worker;
    (void)err;
    recorder *r = user;
    specx_detector_info info = {
        .backend = "test", .input_width = r->in_w, .input_height = r->in_h, .num_classes = 1};
    snprintf(info.model, sizeof info.model, "rec");
    return specx_detector_wrap(&rec_ops, r, &info, out);
}

static specx_server *server_on(recorder *r, int port)
{
    specx_server_config cfg = {.bind = "127.0.0.1",
                               .port = port,
                               .workers = 1,
                               .open_detector = rec_open,
                               .open_detector_user = r};
    specx_server *s = NULL;
    specx_err err = {{0}};
    specx_status st = specx_server_start(&cfg, &s, &err);
    if (st != SPECX_OK) {
        fail_msg("server: %s", specx_err_text(&err, st));
    }
    return s;
}

/* The built-in test detector: no model input size (as an old server). */
static specx_status test_open(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)user;
    (void)worker;
    specx_detector_config cfg = {.model = "test"};
    return specx_detector_open(&cfg, out, err);
}

/* ---- a pipeline and what it outputs ---------------------------------------- */

typedef struct outs {
    pthread_mutex_t mu;
    int n;
    int winner[REC_MAX];
    float xmax[REC_MAX], ymax[REC_MAX];
    int img_w[REC_MAX], img_h[REC_MAX];
} outs;

static void on_output(void *user, const specx_pipeline_output *o)
{
    outs *s = user;
    pthread_mutex_lock(&s->mu);
    int i = s->n++;
    if (i < REC_MAX) {
        s->winner[i] = o->winner;
        s->xmax[i] = s->ymax[i] = -1;
        if (o->detections != NULL && o->detections->count > 0) {
            s->xmax[i] = o->detections->items[0].xmax;
            s->ymax[i] = o->detections->items[0].ymax;
            s->img_w[i] = o->detections->image_width;
            s->img_h[i] = o->detections->image_height;
        }
    }
    pthread_mutex_unlock(&s->mu);
    /* the callback may draw on the frame: the uplink no longer reads it */
    memset(o->image->data, 0, (size_t)o->image->stride);
}

static specx_pipeline *pipeline_for(const int *ports, size_t n, specx_pipeline_mode mode,
                                    specx_dur_t deadline, specx_detector *local, outs *o)
{
    specx_rpc_client_config cc[8];
    for (size_t i = 0; i < n; i++) {
        specx_rpc_client_config_init(&cc[i]);
        snprintf(cc[i].target, sizeof cc[i].target, "127.0.0.1:%d", ports[i]);
    }
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    specx_pipeline_config pc = {.servers = cc,
                                .n_servers = n,
                                .local_detector = local,
                                .deadline = deadline,
                                .remote_max_in_flight = 64,
                                .mode = mode,
                                .output = on_output,
                                .output_user = o};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    specx_status st = specx_pipeline_create(&pc, &p, &err);
    if (st != SPECX_OK) {
        fail_msg("pipeline: %s", specx_err_text(&err, st));
    }
    return p;
}

/* A w x h frame, one colour: red = tag (to tell frames apart on a server). */
static void push(specx_pipeline *p, int w, int h, int tag, int64_t index)
{
    specx_image img;
    assert_int_equal(specx_image_alloc(&img, w, h), SPECX_OK);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        img.data[i * 3] = (uint8_t)tag;
        img.data[i * 3 + 1] = 100;
        img.data[i * 3 + 2] = 50;
    }
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_push(p, &img, index, 0, &err), SPECX_OK);
}

static bool near(float a, float b, float tol)
{
    return a >= b - tol && a <= b + tol;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_rescale(void **state)
{
    (void)state;
    specx_detections d;
    specx_detections_init(&d);
    specx_detection e = {.xmin = 10, .ymin = 20, .xmax = 63, .ymax = 47};
    assert_int_equal(specx_detections_push(&d, &e), SPECX_OK);
    specx_detections_rescale(&d, 64, 48, 320, 240);
    assert_true(near(d.items[0].xmin, 50, 1e-3f) && near(d.items[0].xmax, 315, 1e-3f));
    assert_true(near(d.items[0].ymin, 100, 1e-3f) && near(d.items[0].ymax, 235, 1e-3f));
    assert_int_equal(d.image_width, 320);
    assert_int_equal(d.image_height, 240);
    specx_detections_rescale(&d, 0, 48, 10, 10); /* ignored */
    assert_int_equal(d.image_width, 320);
    specx_detections_rescale(&d, 320, 240, 320, 240); /* same size: boxes kept */
    assert_true(near(d.items[0].xmax, 315, 1e-3f));
    specx_detections_clear(&d);
}

/* The first frame goes whole; once the server said its model's input, frames
 * go at its letterbox size; boxes come back in pixels of the frame. */
static void test_whole_then_scaled(void **state)
{
    (void)state;
    recorder r;
    recorder_init(&r, 64, 64, 0);
    specx_server *srv = server_on(&r, 0);
    int port = specx_server_port(srv);
    outs o;
    specx_pipeline *p = pipeline_for(&port, 1, SPECX_PIPELINE_SYNC, SPECX_TIME_NEVER, NULL, &o);
    for (int i = 0; i < 5; i++) {
        push(p, 320, 240, 10 * i, i);
    }
    specx_pipeline_finish(p);
    rec_seen seen = rec_read(&r);
    assert_int_equal(seen.n, 5);
    /* nothing known yet: the whole frame, which the server decodes at 1/4
     * (the smallest DCT scale that covers its 64x48 letterbox) */
    assert_int_equal(seen.w[0], 80);
    assert_int_equal(seen.h[0], 60);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(seen.w[i], 64); /* 320x240 into 64x64 */
        assert_int_equal(seen.h[i], 48);
    }
    assert_int_equal(o.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o.winner[i], 0);
        assert_int_equal(o.img_w[i], 320);
        assert_int_equal(o.img_h[i], 240);
        /* the last pixel of what the server saw, in frame pixels */
        float sx = i == 0 ? 4 : 5;
        assert_true(near(o.xmax[i], 320 - sx, 0.01f));
        assert_true(near(o.ymax[i], 240 - sx, 0.01f));
    }
    specx_pipeline_uplink_counts c;
    assert_true(specx_pipeline_uplink_stats(p, 0, &c));
    assert_int_equal(c.frames_sent, 5);
    assert_int_equal(c.frames_scaled, 4);
    assert_true(c.bytes_sent > 0);
    assert_false(specx_pipeline_uplink_stats(p, 1, &c));
    specx_pipeline_encoder_counts e;
    assert_true(specx_pipeline_encoder_stats(p, &e));
    assert_int_equal(e.encodes, 5);
    assert_int_equal(e.encode_ns.count, 5);
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
}

/* Four servers: two whose models give the same letterbox, one smaller, one
 * that does not say (the test detector). The most preferred answers last,
 * so every server answers every frame. */
static void test_servers_with_sizes(void **state)
{
    (void)state;
    recorder r[3];
    recorder_init(&r[0], 64, 48, 150); /* most preferred, slowest */
    recorder_init(&r[1], 64, 64, 0);   /* 320x240 -> 64x48 as well */
    recorder_init(&r[2], 32, 32, 0);   /* -> 32x24 */
    specx_server *srv[4];
    int ports[4];
    for (int i = 0; i < 3; i++) {
        srv[i] = server_on(&r[i], 0);
        ports[i] = specx_server_port(srv[i]);
    }
    specx_server_config tc = {.bind = "127.0.0.1", .workers = 1, .open_detector = test_open};
    specx_err err = {{0}};
    assert_int_equal(specx_server_start(&tc, &srv[3], &err), SPECX_OK);
    ports[3] = specx_server_port(srv[3]);
    outs o;
    specx_pipeline *p = pipeline_for(ports, 4, SPECX_PIPELINE_SYNC, SPECX_TIME_NEVER, NULL, &o);
    const int frames = 6;
    for (int i = 0; i < frames; i++) {
        push(p, 320, 240, 40 * i, i);
    }
    specx_pipeline_finish(p);
    rec_seen seen[3];
    for (int s = 0; s < 3; s++) {
        seen[s] = rec_read(&r[s]);
    }
    static const int want[3][2] = {{64, 48}, {64, 48}, {32, 24}};
    /* 320x240 decoded at 1/4 (64x48 letterboxes) and 1/8 (32x24) */
    static const int whole_at[3][2] = {{80, 60}, {80, 60}, {40, 30}};
    int distinct = 0;
    for (int f = 0; f < frames; f++) {
        /* the sizes frame f went out at (told apart by its colour), plus the
         * whole frame for the server that does not say its size */
        int sizes[4][2] = {{320, 240}};
        int ns = 1;
        for (int s = 0; s < 3; s++) {
            for (int k = 0; k < seen[s].n; k++) {
                if (abs(seen[s].tag[k] - 40 * f) > 10) {
                    continue;
                }
                /* a whole frame reached the detector at a DCT scale */
                bool whole = seen[s].w[k] == whole_at[s][0];
                int w = whole ? 320 : seen[s].w[k], h = whole ? 240 : seen[s].h[k];
                int j = 0;
                while (j < ns && (sizes[j][0] != w || sizes[j][1] != h)) {
                    j++;
                }
                if (j == ns && ns < 4) {
                    sizes[ns][0] = w;
                    sizes[ns][1] = h;
                    ns++;
                }
            }
        }
        distinct += ns;
    }
    for (int s = 0; s < 3; s++) {
        assert_int_equal(seen[s].n, frames);
        assert_int_equal(seen[s].w[0], whole_at[s][0]);
        assert_int_equal(seen[s].h[0], whole_at[s][1]);
        for (int k = 1; k < frames; k++) {
            if (seen[s].w[k] != want[s][0] || seen[s].h[k] != want[s][1]) {
                fail_msg("server %d frame %d: %dx%d, expected %dx%d", s, k, seen[s].w[k],
                         seen[s].h[k], want[s][0], want[s][1]);
            }
        }
    }
    for (int i = 0; i < frames; i++) {
        assert_int_equal(o.winner[i], 0);
        assert_int_equal(o.img_w[i], 320);
    }
    specx_pipeline_uplink_counts c;
    assert_true(specx_pipeline_uplink_stats(p, 3, &c));
    assert_int_equal(c.frames_scaled, 0); /* no size known: whole frames */
    assert_int_equal(c.frames_sent, frames);
    specx_pipeline_encoder_counts e;
    assert_true(specx_pipeline_encoder_stats(p, &e));
    /* frame 0: one whole-frame JPEG for all; then whole, 64x48 and 32x24 */
    assert_int_equal(distinct, 1 + 3 * (frames - 1));
    assert_int_equal(e.encodes, (uint64_t)distinct);
    specx_pipeline_destroy(p);
    for (int i = 0; i < 4; i++) {
        specx_server_destroy(srv[i]);
    }
}

/* The server comes back on the same port with another model: the client
 * follows its replies, and boxes stay in frame pixels throughout. */
static void test_restart_with_another_model(void **state)
{
    (void)state;
    recorder a, b;
    recorder_init(&a, 64, 64, 0);
    recorder_init(&b, 32, 32, 0);
    specx_server *srv = server_on(&a, 0);
    int port = specx_server_port(srv);
    outs o;
    specx_pipeline *p = pipeline_for(&port, 1, SPECX_PIPELINE_SYNC, SPECX_TIME_NEVER, NULL, &o);
    int i = 0;
    for (; i < 3; i++) {
        push(p, 320, 240, 0, i);
    }
    specx_server_destroy(srv);
    srv = server_on(&b, port);
    /* until the new server answers (the channel reconnects after a refusal) */
    specx_time_t until =
        specx_time_add(specx_time_now(), (specx_dur_t)(SPECX_SEC(10) * specx_test_timeout_scale()));
    while (rec_read(&b).n < 3 && specx_time_now() < until && i < REC_MAX) {
        push(p, 320, 240, 0, i++);
        if (rec_read(&b).n == 0) {
            sleep_ms(20);
        }
    }
    specx_pipeline_finish(p);
    rec_seen seen_a = rec_read(&a), seen_b = rec_read(&b);
    assert_int_equal(seen_a.n, 3);
    assert_int_equal(seen_a.w[2], 64);
    assert_true(seen_b.n >= 3);
    /* its first frame was sized for the old model: decoded at 1/2 (64x48
     * into 32x32), answered in the 64x48 it was sent, mapped to 320x240 */
    assert_int_equal(seen_b.w[0], 32);
    assert_int_equal(seen_b.h[0], 24);
    for (int k = 1; k < seen_b.n; k++) {
        assert_int_equal(seen_b.w[k], 32);
    }
    for (int k = 0; k < o.n; k++) {
        if (o.xmax[k] >= 0) {
            assert_int_equal(o.img_w[k], 320);
            assert_true(o.xmax[k] > 300 && o.xmax[k] < 320);
            assert_true(o.ymax[k] > 220 && o.ymax[k] < 240);
        }
    }
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
}

typedef struct reply {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    specx_status st;
    specx_detections *res;
} reply;

static void reply_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    (void)msg;
    reply *r = user;
    pthread_mutex_lock(&r->mu);
    r->st = st;
    r->res = res;
    r->done = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* An old client sends the whole 1280x720 JPEG: the server decodes it at 1/2
 * for a 416 model, answers in the picture's pixels and says its input size. */
static void test_old_client_decode_at_scale(void **state)
{
    (void)state;
    recorder r;
    recorder_init(&r, 416, 416, 0);
    specx_server *srv = server_on(&r, 0);
    specx_rpc_client_config cc;
    specx_rpc_client_config_init(&cc);
    snprintf(cc.target, sizeof cc.target, "127.0.0.1:%d", specx_server_port(srv));
    specx_rpc_client *c;
    specx_err err = {{0}};
    assert_int_equal(specx_rpc_client_create(&cc, &c, &err), SPECX_OK);
    int w = 0, h = 0;
    assert_false(specx_rpc_client_model_input(c, &w, &h)); /* no reply yet */
    for (int k = 0; k < 2; k++) {
        specx_image img;
        assert_int_equal(specx_image_alloc(&img, 1280, 720), SPECX_OK);
        memset(img.data, 90, (size_t)1280 * 720 * 3);
        uint8_t *buf;
        size_t len;
        assert_int_equal(k == 0 ? specx_jpeg_encode(&img, 90, &buf, &len, &err)
                                : specx_png_encode(&img, &buf, &len, &err),
                         SPECX_OK);
        specx_image_clear(&img);
        specx_encoded_frame *f;
        assert_int_equal(specx_encoded_frame_take(buf, len, &f), SPECX_OK);
        reply rep = {.done = false};
        pthread_mutex_init(&rep.mu, NULL);
        pthread_cond_init(&rep.cv, NULL);
        specx_time_t dl = specx_time_add(specx_time_now(),
                                         (specx_dur_t)(SPECX_SEC(10) * specx_test_timeout_scale()));
        assert_int_equal(specx_rpc_call_start(c, f, dl, reply_done, &rep, NULL), SPECX_OK);
        pthread_mutex_lock(&rep.mu);
        while (!rep.done) {
            pthread_cond_wait(&rep.cv, &rep.mu);
        }
        pthread_mutex_unlock(&rep.mu);
        assert_int_equal(rep.st, SPECX_OK);
        assert_int_equal(rep.res->image_width, 1280);
        assert_int_equal(rep.res->image_height, 720);
        float last = k == 0 ? 1278 : 1279; /* 639 x 2 at 1/2; a PNG has no DCT scale */
        assert_true(near(rep.res->items[0].xmax, last, 0.01f));
        rec_seen seen = rec_read(&r);
        assert_int_equal(seen.w[k], k == 0 ? 640 : 1280);
        assert_int_equal(seen.h[k], k == 0 ? 360 : 720);
        specx_detections_destroy(rep.res);
        specx_encoded_frame_unref(f);
        assert_true(specx_rpc_client_model_input(c, &w, &h));
        assert_int_equal(w, 416);
        assert_int_equal(h, 416);
    }
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
}

/* A local detector that answers at once. */
static specx_status quick_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                 specx_detections *out, specx_err *err)
{
    (void)impl;
    (void)img;
    (void)cancel;
    (void)err;
    specx_detection d = {.score = 0.5f, .xmax = 1, .ymax = 1};
    return specx_detections_push(out, &d);
}

static const specx_detector_ops quick_ops = {.detect = quick_detect, .destroy = rec_destroy};

/* Frames so large that encoding them takes far longer than the 1 ms
 * deadline: the calls are decided while their frames wait to be encoded.
 * Each frame still gets one output, each call ends once (ASan would catch a
 * call or frame freed twice or used after), later encodings are skipped. */
static void test_cancel_while_encoding(void **state)
{
    (void)state;
    specx_server_config tc = {.bind = "127.0.0.1", .workers = 1, .open_detector = test_open};
    specx_server *srv;
    specx_err err = {{0}};
    assert_int_equal(specx_server_start(&tc, &srv, &err), SPECX_OK);
    int port = specx_server_port(srv);
    specx_detector_info info = {.backend = "test"};
    specx_detector *local;
    assert_int_equal(specx_detector_wrap(&quick_ops, NULL, &info, &local), SPECX_OK);
    outs o;
    specx_pipeline *p = pipeline_for(&port, 1, SPECX_PIPELINE_STREAM, SPECX_MS(1), local, &o);
    enum { frames = 8 };
    specx_image img[frames];
    for (int i = 0; i < frames; i++) {
        assert_int_equal(specx_image_alloc(&img[i], 3000, 2000), SPECX_OK);
        for (size_t k = 0; k < (size_t)3000 * 2000 * 3; k += 7) {
            img[i].data[k] = (uint8_t)((k + (size_t)i) * 2654435761u >> 24); /* hard to compress */
        }
    }
    /* all at once: the later ones queue behind the first encodings */
    for (int i = 0; i < frames; i++) {
        assert_int_equal(specx_pipeline_push(p, &img[i], i, 0, &err), SPECX_OK);
    }
    specx_pipeline_finish(p);
    assert_int_equal(o.n, frames);
    specx_pipeline_encoder_counts e;
    assert_true(specx_pipeline_encoder_stats(p, &e));
    printf("%llu encoded, %llu skipped\n", (unsigned long long)e.encodes,
           (unsigned long long)e.skipped);
    assert_int_equal(e.encodes + e.skipped, frames);
    assert_true(e.skipped >= 1);
    specx_server_stats ss;
    specx_server_get_stats(srv, &ss);
    assert_true(ss.received <= e.encodes); /* a skipped frame never went out */
    specx_operator_stats *st;
    assert_int_equal(specx_pipeline_stats(p, &st), SPECX_OK);
    specx_operator_stats_free(st);
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
}

/* A server slower than the deadline: every call is cut at the deadline, so
 * no reply would ever say the size. The first call goes out as a probe
 * (cancelled for the operator, left to finish on the wire): its reply
 * teaches the size, and later frames go scaled although every call still
 * misses its deadline. */
static void test_probe_slow_server(void **state)
{
    (void)state;
    recorder r;
    recorder_init(&r, 64, 64, 150);
    specx_server *srv = server_on(&r, 0);
    int port = specx_server_port(srv);
    specx_detector_info info = {.backend = "test"};
    specx_detector *local;
    assert_int_equal(specx_detector_wrap(&quick_ops, NULL, &info, &local), SPECX_OK);
    outs o;
    specx_pipeline *p = pipeline_for(&port, 1, SPECX_PIPELINE_STREAM, SPECX_MS(30), local, &o);
    /* At camera pacing: 30 frames, and more while none went out scaled yet
     * (the probe's reply takes longer on a slow build or a loaded machine). */
    specx_time_t until =
        specx_time_add(specx_time_now(), (specx_dur_t)(SPECX_SEC(10) * specx_test_timeout_scale()));
    specx_pipeline_uplink_counts c;
    int frames = 0;
    do {
        push(p, 320, 240, 0, frames++);
        sleep_ms(40);
        assert_true(specx_pipeline_uplink_stats(p, 0, &c));
    } while (frames < REC_MAX &&
             (frames < 30 || (c.frames_scaled == 0 && specx_time_now() < until)));
    specx_pipeline_finish(p);
    assert_int_equal(o.n, frames);
    assert_true(specx_pipeline_uplink_stats(p, 0, &c));
    printf("%llu frames sent, %llu scaled\n", (unsigned long long)c.frames_sent,
           (unsigned long long)c.frames_scaled);
    assert_true(c.frames_scaled >= 1);
    for (int i = 0; i < frames; i++) {
        assert_true(o.winner[i] == 1); /* the local detector: the server is too slow */
    }
    specx_pipeline_destroy(p);
    /* The probe reached the model whole (decoded at 1/4); any later frame
     * it computed was scaled. */
    rec_seen seen = rec_read(&r);
    assert_true(seen.n >= 1);
    assert_int_equal(seen.w[0], 80);
    for (int k = 1; k < seen.n; k++) {
        assert_int_equal(seen.w[k], 64);
    }
    /* The scaled frames reached the server; it answers them without
     * computing, as their 30 ms is less than its recent inferences (150 ms)
     * leave them (serve/queue.h), so the recorder may see only the probe. */
    specx_server_stats ss;
    specx_server_get_stats(srv, &ss);
    assert_true(ss.received >= 1 + c.frames_scaled / 2);
    specx_server_destroy(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rescale),
        cmocka_unit_test(test_whole_then_scaled),
        cmocka_unit_test(test_servers_with_sizes),
        cmocka_unit_test(test_restart_with_another_model),
        cmocka_unit_test(test_old_client_decode_at_scale),
        cmocka_unit_test(test_cancel_while_encoding),
        cmocka_unit_test(test_probe_slow_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
