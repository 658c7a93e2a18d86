/* test_pipeline.c — the pipeline engine in-process: a scripted local detector
 * and an in-process server with the built-in test detector. Checks one output
 * per frame in order, who wins, the frame lifetime while a cancelled local
 * inference still reads the pixels (ASan would catch a use after free),
 * drop-oldest under a burst, sync-mode delivery, configuration errors and
 * default priorities; the pacer (its schedule, and a stop that cuts a wait
 * short); and a video run (JSON lines, annotated frames, counters). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

/* ---- a scripted local detector ------------------------------------------------- */

typedef struct fake_det {
    int delay_ms;
    bool ignore_cancel; /* keeps reading the image after being cancelled */
    atomic_int calls;
} fake_det;

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static specx_status fake_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    fake_det *f = impl;
    atomic_fetch_add(&f->calls, 1);
    unsigned sum = 0;
    for (int t = 0; t < f->delay_ms; t++) {
        if (!f->ignore_cancel && cancel != NULL && atomic_load(cancel)) {
            return specx_err_set(err, SPECX_ECANCELED, "cancelled");
        }
        sleep_ms(1);
        /* touch the pixels all along: freed memory would be caught by ASan */
        for (int y = 0; y < img->height; y += 7) {
            sum += img->data[(size_t)y * (size_t)img->stride + (size_t)(t % img->width) * 3];
        }
    }
    specx_detection d = {.class_id = 2, .score = 0.5f, .xmin = 1, .ymin = 2, .xmax = 3, .ymax = 4};
    snprintf(d.label, sizeof d.label, "car");
    out->image_width = img->width;
    out->image_height = img->height;
    snprintf(out->model, sizeof out->model, "fake%u", sum % 1);
    return specx_detections_push(out, &d);
}

static void fake_destroy(void *impl)
{
    (void)impl; /* owned by the test */
}

static const specx_detector_ops fake_ops = {.detect = fake_detect, .destroy = fake_destroy};

static specx_detector *fake_open(fake_det *f)
{
    specx_detector_info info = {
        .backend = "test", .input_width = 64, .input_height = 64, .num_classes = 80};
    snprintf(info.model, sizeof info.model, "fake");
    specx_detector *d = NULL;
    assert_int_equal(specx_detector_wrap(&fake_ops, f, &info, &d), SPECX_OK);
    return d;
}

/* ---- an in-process server ------------------------------------------------------- */

static const char *server_spec;

static specx_status open_test(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)user;
    (void)worker;
    char model[160];
    snprintf(model, sizeof model, "test:%s", server_spec);
    specx_detector_config dc = {.model = model};
    return specx_detector_open(&dc, out, err);
}

static specx_server *server_start(const char *spec, char *target, size_t n)
{
    server_spec = spec;
    specx_server_config sc = {
        .bind = "127.0.0.1", .port = 0, .workers = 1, .open_detector = open_test};
    specx_server *s = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_server_start(&sc, &s, &err), SPECX_OK);
    snprintf(target, n, "127.0.0.1:%d", specx_server_port(s));
    return s;
}

/* A server string as `specx run --server` takes it. */
static specx_rpc_client_config server_config(const char *spec)
{
    specx_rpc_client_config cc;
    specx_err err = {{0}};
    assert_int_equal(specx_rpc_client_config_parse(spec, &cc, &err), SPECX_OK);
    return cc;
}

/* ---- output recorder ---------------------------------------------------------------- */

#define MAXF 64

typedef struct rec {
    pthread_mutex_t mu;
    int n;
    int64_t index[MAXF];
    char winner[MAXF][64];
    specx_status status[MAXF];
    specx_fate local_fate[MAXF];
    specx_status local_status[MAXF];
    bool has_dets[MAXF];
    bool json_ok[MAXF];
    bool early[MAXF], json_early[MAXF];
    double latency_ms[MAXF];
} rec;

static void on_output(void *user, const specx_pipeline_output *o)
{
    rec *r = user;
    pthread_mutex_lock(&r->mu);
    int i = r->n++;
    if (i < MAXF) {
        r->index[i] = o->index;
        snprintf(r->winner[i], sizeof r->winner[i], "%s", o->winner >= 0 ? o->winner_name : "");
        r->status[i] = o->status;
        r->local_fate[i] = SPECX_FATE_NONE;
        for (size_t k = 0; k < o->n_exec; k++) {
            if (o->exec[k].is_local) {
                r->local_fate[i] = o->exec[k].fate;
                r->local_status[i] = o->exec[k].status;
            }
        }
        r->has_dets[i] = o->detections != NULL && o->detections->count > 0;
        r->early[i] = o->early;
        r->latency_ms[i] = o->latency_ms;
        /* the image is the frame's (read-only: a cancelled local call may
         * still read it) */
        assert_non_null(o->image);
        assert_int_equal(o->image->width, 64);
        char *js = specx_pipeline_output_json(o);
        cJSON *j = js != NULL ? cJSON_Parse(js) : NULL;
        r->json_ok[i] = j != NULL && cJSON_GetObjectItem(j, "frame")->valueint == (int)o->index &&
                        cJSON_IsArray(cJSON_GetObjectItem(j, "detections"));
        r->json_early[i] = j != NULL && cJSON_IsTrue(cJSON_GetObjectItem(j, "early"));
        cJSON_Delete(j);
        free(js);
    }
    pthread_mutex_unlock(&r->mu);
}

static void push_frames(specx_pipeline *p, int n)
{
    for (int i = 0; i < n; i++) {
        specx_image img;
        assert_int_equal(specx_image_alloc(&img, 64, 48), SPECX_OK);
        img.data[5] = (uint8_t)i;
        specx_err err = {{0}};
        assert_int_equal(specx_pipeline_push(p, &img, i, i / 25.0, &err), SPECX_OK);
        assert_null(img.data); /* taken */
    }
}

static void check_order(const rec *r, int n)
{
    assert_int_equal(r->n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r->index[i], i);
        assert_true(r->json_ok[i]);
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

/* A fast server wins while the slow local inference, cancelled, keeps reading
 * its frame after the output is out: the frame must outlive it. */
static void test_remote_wins_local_outlives_output(void **state)
{
    (void)state;
    char target[64];
    specx_server *srv = server_start("delay_ms=2", target, sizeof target);
    fake_det fd = {.delay_ms = 60, .ignore_cancel = true};
    rec r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    specx_rpc_client_config servers[] = {server_config(target)};
    specx_pipeline_config pc = {.local_detector = fake_open(&fd),
                                .servers = servers,
                                .n_servers = 1,
                                .deadline = SPECX_SEC(10),
                                .local_queue_depth = 8,
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    assert_int_equal(specx_pipeline_executor_count(p), 2);
    assert_int_equal(specx_pipeline_local_index(p), 1);
    assert_int_equal(specx_pipeline_palette_index(p, 0), 0);
    assert_int_equal(specx_pipeline_palette_index(p, 1), -1);
    push_frames(p, 4);
    specx_pipeline_finish(p);
    check_order(&r, 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(r.winner[i], target);
        assert_true(r.has_dets[i]);
    }
    specx_operator_stats *s = NULL;
    assert_int_equal(specx_pipeline_stats(p, &s), SPECX_OK);
    assert_int_equal(s->outputs, 4);
    assert_int_equal(s->remote_wins, 4);
    specx_operator_stats_free(s);
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
    pthread_mutex_destroy(&r.mu);
}

/* A burst faster than the local detector: one output per frame, in order;
 * the waiting frame is superseded (busy) and the newest one is detected. */
static void test_local_burst_drop_oldest(void **state)
{
    (void)state;
    fake_det fd = {.delay_ms = 40};
    rec r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    specx_pipeline_config pc = {.local_detector = fake_open(&fd),
                                .deadline = SPECX_MS(100),
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    push_frames(p, 10);
    specx_pipeline_finish(p);
    check_order(&r, 10);
    int busy = 0;
    for (int i = 0; i < 10; i++) {
        if (r.winner[i][0] == '\0') {
            assert_int_equal(r.local_fate[i], SPECX_FATE_FAILED);
            assert_int_equal(r.local_status[i], SPECX_EBUSY);
            busy++;
        } else {
            assert_string_equal(r.winner[i], "local");
        }
    }
    /* the last frame waits and runs; pushes take far less than 40 ms, so
     * most of those before it are superseded (even the first may be, when
     * the worker has not picked it up yet) */
    assert_string_equal(r.winner[9], "local");
    assert_true(busy >= 5);
    specx_local_executor_stats ls;
    assert_true(specx_pipeline_local_stats(p, &ls));
    assert_int_equal(ls.dropped, (unsigned long long)busy);
    assert_int_equal(atomic_load(&fd.calls), 10 - busy);
    specx_pipeline_destroy(p);
    pthread_mutex_destroy(&r.mu);
}

/* Sync mode: the output is delivered before push returns; remote-only with
 * no deadline waits for the server (50 ms) and it wins every frame. */
static void test_sync_remote_only_no_deadline(void **state)
{
    (void)state;
    char target[64];
    specx_server *srv = server_start("delay_ms=50", target, sizeof target);
    rec r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    specx_rpc_client_config servers[] = {server_config(target)};
    specx_pipeline_config pc = {.servers = servers,
                                .n_servers = 1,
                                .deadline = SPECX_TIME_NEVER,
                                .mode = SPECX_PIPELINE_SYNC,
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    assert_int_equal(specx_pipeline_local_index(p), -1);
    specx_local_executor_stats ls;
    assert_false(specx_pipeline_local_stats(p, &ls));
    for (int i = 0; i < 3; i++) {
        push_frames(p, 1);
        assert_int_equal(r.n, i + 1); /* delivered on this thread already */
        r.index[i] = i;               /* push_frames numbers from 0 each time */
    }
    check_order(&r, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.winner[i], target);
    }
    specx_pipeline_finish(p);
    specx_image img;
    assert_int_equal(specx_image_alloc(&img, 8, 8), SPECX_OK);
    assert_int_equal(specx_pipeline_push(p, &img, 3, 0, &err), SPECX_ESTOPPED);
    assert_null(img.data); /* taken and freed also on error */
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
    pthread_mutex_destroy(&r.mu);
}

/* A server that fails every request: local wins at once, no fallback flag. */
static void test_failing_server_local_wins(void **state)
{
    (void)state;
    char target[64];
    specx_server *srv = server_start("delay_ms=1,fail=1", target, sizeof target);
    fake_det fd = {.delay_ms = 5};
    rec r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    char spec[128];
    snprintf(spec, sizeof spec, "%s,name=bad,prio=7", target);
    specx_rpc_client_config servers[] = {server_config(spec)};
    specx_pipeline_config pc = {.local_detector = fake_open(&fd),
                                .servers = servers,
                                .n_servers = 1,
                                .deadline = SPECX_SEC(20),
                                .mode = SPECX_PIPELINE_SYNC,
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    assert_string_equal(specx_pipeline_executor_name(p, 0), "bad");
    assert_int_equal(specx_pipeline_executor_priority(p, 0), 7);
    specx_time_t t0 = specx_time_now();
    push_frames(p, 3);
    assert_true(specx_time_now() - t0 < SPECX_SEC(15)); /* did not sit out the deadline */
    check_order(&r, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.winner[i], "local");
    }
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
    pthread_mutex_destroy(&r.mu);
}

/* --deadline-policy adaptive on real threads: a server far slower than the
 * 400 ms deadline (3 s). Frame 0 knows nothing and waits to the deadline;
 * its miss makes frames 1-3 "emit local early": their local answers go out
 * at once (they would otherwise wait 3 x 400 ms), flagged early in the
 * output and its JSON line. */
static void test_adaptive_deadline(void **state)
{
    (void)state;
    char target[64];
    specx_server *srv = server_start("delay_ms=3000", target, sizeof target);
    fake_det fd = {.delay_ms = 5};
    rec r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    specx_rpc_client_config servers[] = {server_config(target)};
    specx_pipeline_config pc = {.local_detector = fake_open(&fd),
                                .servers = servers,
                                .n_servers = 1,
                                .deadline = SPECX_MS(400),
                                .adaptive_deadline = true,
                                .adaptive_target = 0.5,
                                .mode = SPECX_PIPELINE_SYNC,
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    push_frames(p, 1);
    specx_time_t t0 = specx_time_now();
    push_frames(p, 3);
    specx_dur_t rest = specx_time_now() - t0;
    specx_pipeline_finish(p);
    assert_int_equal(r.n, 4);
    assert_false(r.early[0]);
    assert_true(r.latency_ms[0] >= 399);
    for (int i = 1; i < 4; i++) {
        assert_true(r.early[i]);
        assert_true(r.json_early[i]);
        assert_string_equal(r.winner[i], "local");
    }
    assert_true(rest < SPECX_MS(1000)); /* not 3 x 400 ms */
    specx_pipeline_destroy(p);
    specx_server_destroy(srv);
    pthread_mutex_destroy(&r.mu);

    /* bad target: refused with a message naming it */
    pc.adaptive_target = 1.5;
    pc.local_detector = fake_open(&fd);
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "1.5"));
}

static void test_config_errors(void **state)
{
    (void)state;
    rec r = {.n = 0};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    specx_pipeline_config none = {.output = on_output, .output_user = &r};
    assert_int_equal(specx_pipeline_create(&none, &p, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "local model"));
    /* a bad server string fails where it is parsed, naming it */
    specx_rpc_client_config cc;
    assert_int_equal(specx_rpc_client_config_parse("no-port-here", &cc, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "no-port-here"));
    specx_rpc_client_config many[SPECX_PIPELINE_MAX_SERVERS + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        many[i] = server_config("127.0.0.1:1");
    }
    specx_pipeline_config ms = {
        .servers = many, .n_servers = sizeof many / sizeof many[0], .output = on_output};
    assert_int_equal(specx_pipeline_create(&ms, &p, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "at most 16"));
    specx_pipeline_config nm = {
        .local = {.model = "no-such-model", .model_dir = "/nonexistent-models"},
        .output = on_output};
    assert_int_not_equal(specx_pipeline_create(&nm, &p, &err), SPECX_OK);
    fake_det fd = {.delay_ms = 1};
    specx_pipeline_config q = {
        .local_detector = fake_open(&fd), .jpeg_quality = 101, .output = on_output};
    assert_int_equal(specx_pipeline_create(&q, &p, &err), SPECX_EINVAL); /* detector closed */
}

/* Servers without a priority of their own: the first listed is preferred
 * (n, n-1, ...); one that gave its own keeps it. The local one ranks 0. */
static void test_priorities(void **state)
{
    (void)state;
    specx_rpc_client_config servers[] = {server_config("127.0.0.1:1,name=a"),
                                         server_config("127.0.0.1:2,name=b,prio=7"),
                                         server_config("127.0.0.1:3,name=c")};
    fake_det fd = {.delay_ms = 1};
    rec r = {.n = 0};
    specx_pipeline_config pc = {.local_detector = fake_open(&fd),
                                .servers = servers,
                                .n_servers = 3,
                                .output = on_output,
                                .output_user = &r};
    specx_pipeline *p = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_create(&pc, &p, &err), SPECX_OK);
    assert_int_equal(specx_pipeline_executor_count(p), 4);
    assert_int_equal(specx_pipeline_executor_priority(p, 0), 3);
    assert_int_equal(specx_pipeline_executor_priority(p, 1), 7);
    assert_int_equal(specx_pipeline_executor_priority(p, 2), 1);
    assert_int_equal(specx_pipeline_executor_priority(p, 3), 0);
    assert_string_equal(specx_pipeline_executor_name(p, 1), "b");
    assert_string_equal(specx_pipeline_executor_name(p, 3), "local");
    specx_pipeline_destroy(p);
}

/* ---- the pacer ------------------------------------------------------------------------ */

static void on_usr1(int sig)
{
    (void)sig;
}

typedef struct stopper {
    pthread_t target;
    atomic_bool *stop;
} stopper;

static void *stop_soon(void *arg)
{
    stopper *s = arg;
    sleep_ms(50);
    atomic_store(s->stop, true);
    pthread_kill(s->target, SIGUSR1);
    return NULL;
}

static void test_pacer(void **state)
{
    (void)state;
    specx_pacer pc;
    /* frame i is not pushed before t0 + i/fps; a frame already due goes at once */
    specx_pacer_start(&pc, 50);
    assert_true(specx_pacer_wait(&pc, 5, NULL));
    assert_true(specx_time_mono() - pc.t0 >= SPECX_MS(100));
    specx_time_t t = specx_time_mono();
    assert_true(specx_pacer_wait(&pc, 1, NULL));
    assert_true(specx_time_mono() - t < SPECX_SEC(1));
    /* unpaced: never waits; a stop already set: false */
    specx_pacer_start(&pc, 0);
    assert_true(specx_pacer_wait(&pc, 1000000, NULL));
    atomic_bool stop = true;
    assert_false(specx_pacer_wait(&pc, 0, &stop));
    /* a stop signalled during a 10 s wait ends it early */
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    atomic_store(&stop, false);
    stopper s = {.target = pthread_self(), .stop = &stop};
    pthread_t th;
    specx_pacer_start(&pc, 1);
    assert_int_equal(pthread_create(&th, NULL, stop_soon, &s), 0);
    assert_false(specx_pacer_wait(&pc, 10, &stop));
    assert_true(specx_time_mono() - pc.t0 < SPECX_SEC(5));
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
}

/* ---- a video run ------------------------------------------------------------------------ */

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) {
        n += c == '\n';
    }
    fclose(f);
    return n;
}

typedef struct hook_rec {
    int calls;
    bool counted_all; /* the run's counters included each output when the hook saw it */
    const specx_pipeline_run *run;
} hook_rec;

static void run_hook(void *user, const specx_pipeline_output *o)
{
    hook_rec *h = user;
    h->calls++;
    h->counted_all =
        h->counted_all && specx_pipeline_run_counts_get(h->run)->outputs == o->index + 1;
}

/* Five frames of the bundled video through a local detector, unpaced: five
 * JSON lines, five annotated images, counters that agree, the hook after the
 * counters. */
static void test_video_run(void **state)
{
    (void)state;
    const char *assets = getenv("SPECX_SHARED_ASSETS");
    char video[1024], dir[] = "/tmp/specx-test-run-XXXXXX", jsonl[1100], ann[1100];
    snprintf(video, sizeof video, "%s/video/udacity_test_video.mp4",
             assets != NULL ? assets : "../shared/assets");
    assert_non_null(mkdtemp(dir));
    snprintf(jsonl, sizeof jsonl, "%s/out.jsonl", dir);
    snprintf(ann, sizeof ann, "%s/ann", dir);
    fake_det fd = {.delay_ms = 2};
    hook_rec h = {.counted_all = true};
    specx_pipeline_run_config cfg = {.pipeline = {.local_detector = fake_open(&fd),
                                                  .local_queue_depth = 8,
                                                  .deadline = SPECX_SEC(5),
                                                  .output = run_hook,
                                                  .output_user = &h},
                                     .video = video,
                                     .fps = 0,
                                     .max_frames = 5,
                                     .jsonl = jsonl,
                                     .annotate = ann};
    specx_pipeline_run *run = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_pipeline_run_open(&cfg, &run, &err), SPECX_OK);
    h.run = run;
    atomic_bool stop = false;
    assert_int_equal(specx_pipeline_run_play(run, &stop, &err), SPECX_OK);
    const specx_pipeline_run_counts *c = specx_pipeline_run_counts_get(run);
    assert_int_equal(c->pushed, 5);
    assert_int_equal(c->outputs, 5);
    assert_true(c->order_ok);
    assert_false(c->interrupted);
    assert_int_equal(c->n_exec, 1);
    assert_int_equal(c->wins[0] + (uint64_t)c->no_result, 5);
    assert_true(c->wins[0] >= 1);
    assert_int_equal(h.calls, 5);
    assert_true(h.counted_all);
    assert_int_equal(count_lines(jsonl), 5);
    for (int i = 0; i < 6; i++) {
        char p[1200];
        snprintf(p, sizeof p, "%s/frame_%06d.jpg", ann, i);
        assert_int_equal(access(p, R_OK) == 0, i < 5);
    }
    assert_int_not_equal(specx_pipeline_run_play(run, &stop, &err), SPECX_OK); /* once */
    specx_pipeline_run_close(run);
    /* a missing video names itself */
    cfg.video = "/nonexistent/x.mp4";
    cfg.pipeline.local_detector = fake_open(&fd);
    assert_int_not_equal(specx_pipeline_run_open(&cfg, &run, &err), SPECX_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/x.mp4"));
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_wins_local_outlives_output),
        cmocka_unit_test(test_local_burst_drop_oldest),
        cmocka_unit_test(test_sync_remote_only_no_deadline),
        cmocka_unit_test(test_failing_server_local_wins),
        cmocka_unit_test(test_adaptive_deadline),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_pacer),
        cmocka_unit_test(test_video_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
