/* test_annotate_race.c — `specx run --annotate` must not write to frame
 * pixels a cancelled local call may still be reading (issue 11, item 15).
 *
 * The local detector here reads its frame, then keeps reading it until the
 * frame's output has been delivered (as a real network does until its first
 * cancel checkpoint), and checks that the pixels did not change meanwhile.
 * An in-process server answers at once, so every output is the server's and
 * the local call is cancelled while it still reads; the run annotates into
 * a directory, which draws banners and boxes on every output. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "test_timeout.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t delivered; /* outputs seen by the run's hook (after drawing) */
    int compared;      /* local calls that read a frame across its delivery */
    int changed;       /* ... and saw its pixels change under them */
    int remote_wins;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint64_t checksum(const specx_image *img)
{
    uint64_t h = 1469598103934665603ull;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * (size_t)img->stride;
        for (int x = 0; x < img->width * 3; x++) {
            h = (h ^ row[x]) * 1099511628211ull;
        }
    }
    return h;
}

/* Reads the frame, then again once an output has been delivered since (or
 * after 2 s), ignoring cancel meanwhile. */
static specx_status slow_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    (void)impl;
    (void)out;
    (void)err;
    uint64_t before = checksum(img);
    struct timespec until = specx_test_realtime_in(2.0);
    pthread_mutex_lock(&g.mu);
    int64_t start = g.delivered;
    int rc = 0;
    while (g.delivered == start && rc == 0) {
        rc = pthread_cond_timedwait(&g.cv, &g.mu, &until);
    }
    bool across = g.delivered != start;
    pthread_mutex_unlock(&g.mu);
    uint64_t after = checksum(img);
    pthread_mutex_lock(&g.mu);
    g.compared += across;
    g.changed += across && after != before;
    pthread_mutex_unlock(&g.mu);
    return cancel != NULL && atomic_load(cancel) ? SPECX_ECANCELED : SPECX_OK;
}

static void slow_destroy(void *impl)
{
    (void)impl;
}

static void on_output(void *user, const specx_pipeline_output *o)
{
    (void)user;
    pthread_mutex_lock(&g.mu);
    g.delivered++;
    g.remote_wins += o->winner >= 0 && !o->is_local;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static void annotate_while_local_reads(void **state)
{
    (void)state;
    specx_detector_config test_model = {.model = "test"};
    specx_server_config sc = {.bind = "127.0.0.1",
                              .open_detector = specx_pipeline_open_detector,
                              .open_detector_user = &test_model};
    specx_server *srv = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_server_start(&sc, &srv, &err), SPECX_OK);

    static const specx_detector_ops ops = {.detect = slow_detect, .destroy = slow_destroy};
    specx_detector_info info = {.model = "slow-reader", .backend = "test"};
    specx_detector *local = NULL;
    assert_int_equal(specx_detector_wrap(&ops, NULL, &info, &local), SPECX_OK);

    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", specx_server_port(srv));
    specx_rpc_client_config server;
    assert_int_equal(specx_rpc_client_config_parse(target, &server, &err), SPECX_OK);

    char dir[] = "/tmp/specx-annotate-race-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char video[4096];
    const char *assets = getenv("SPECX_SHARED_ASSETS");
    snprintf(video, sizeof video, "%s/video/udacity_test_video.mp4",
             assets != NULL ? assets : "../shared/assets");
    specx_pipeline_run_config rc = {
        .pipeline = {.local_detector = local,
                     .servers = &server,
                     .n_servers = 1,
                     .deadline = SPECX_SEC(5),
                     .mode = SPECX_PIPELINE_STREAM,
                     .output = on_output},
        .video = video,
        .fps = 5,
        .max_frames = 6,
        .annotate = dir,
    };
    specx_pipeline_run *run = NULL;
    specx_status st = specx_pipeline_run_open(&rc, &run, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", specx_err_text(&err, st));
    }
    st = specx_pipeline_run_play(run, NULL, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", specx_err_text(&err, st));
    }
    specx_pipeline_run_close(run);
    specx_server_destroy(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);

    printf("%lld outputs (%d from the server); %d local calls read their frame across its "
           "delivery, %d saw its pixels change\n",
           (long long)g.delivered, g.remote_wins, g.compared, g.changed);
    assert_int_equal(g.delivered, 6);
    assert_true(g.remote_wins >= 1);
    assert_true(g.compared >= 1); /* the situation did arise */
    assert_int_equal(g.changed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(annotate_while_local_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
