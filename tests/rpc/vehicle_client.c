/* vehicle_client.c — a program built the way a vehicle embeds specx: it links
 * specx_rpc (and through it specx_core) only, and calls a `specx serve
 * --model test` process with the client API, unary and stream. The ctest
 * rpc.vehicle_links checks with ldd/nm that this binary carries no detector
 * backend (XNNPACK, darknet) and no media library (FFmpeg, libjpeg-turbo,
 * libpng); rpc.vehicle_client runs it.
 * usage: vehicle_client PATH/TO/specx */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "specx/rpc.h"

#include "specx_proc.h"
#include "test_timeout.h"

/* A 3x2 RGB PNG, so that no image codec is needed on this side. */
static const uint8_t png_3x2[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12,
    0x16, 0xf1, 0x4d, 0x00, 0x00, 0x00, 0x1c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60,
    0x60, 0x30, 0x0a, 0x60, 0x30, 0x5a, 0xc0, 0x60, 0xc4, 0xc0, 0x50, 0x61, 0x14, 0x50, 0x61,
    0xb4, 0xa0, 0xc2, 0x08, 0x00, 0x22, 0x88, 0x04, 0x75, 0xec, 0x6e, 0x9a, 0xaa, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static const char *specx_bin;

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    specx_status st;
    specx_detections *det;
} result;

static void on_done(void *user, specx_status st, specx_detections *det, const char *msg)
{
    result *r = user;
    if (st != SPECX_OK) {
        print_message("# call failed: %s\n", msg != NULL ? msg : specx_strerror(st));
    }
    pthread_mutex_lock(&r->mu);
    r->calls++;
    r->st = st;
    r->det = det;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* One call to target with `options` appended; waits for its completion. */
static void call_once(const char *target, const char *options, result *r)
{
    char spec[300];
    snprintf(spec, sizeof spec, "%s%s", target, options);
    specx_rpc_client_config cfg;
    specx_err err = {{0}};
    assert_int_equal(specx_rpc_client_config_parse(spec, &cfg, &err), SPECX_OK);
    specx_rpc_client *c;
    assert_int_equal(specx_rpc_client_create(&cfg, &c, &err), SPECX_OK);
    specx_encoded_frame *f;
    assert_int_equal(specx_encoded_frame_copy(png_3x2, sizeof png_3x2, &f), SPECX_OK);
    *r = (result){.calls = 0};
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    specx_time_t deadline = specx_time_add(specx_time_now(), SPECX_SEC(20));
    assert_int_equal(specx_rpc_call_start(c, f, deadline, on_done, r, NULL), SPECX_OK);
    specx_encoded_frame_unref(f); /* the call holds its own reference */
    struct timespec until = specx_test_realtime_in(30);
    pthread_mutex_lock(&r->mu);
    while (r->calls == 0 && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&r->mu);
    specx_rpc_client_destroy(c);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    assert_int_equal(r->calls, 1);
}

static void check_answer(const char *options)
{
    specx_proc_server srv;
    specx_proc_server_start(&srv, "test:boxes=2", ".");
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", srv.port);
    result r;
    call_once(target, options, &r);
    assert_int_equal(r.st, SPECX_OK);
    /* The test detector's answer for this image: two whole-image boxes. */
    assert_int_equal(r.det->count, 2);
    assert_string_equal(r.det->items[0].label, "test");
    assert_int_equal(r.det->image_width, 3);
    assert_int_equal(r.det->image_height, 2);
    assert_true(r.det->items[1].xmax == 3.0f && r.det->items[1].ymax == 2.0f);
    assert_string_equal(r.det->model, "test");
    specx_detections_destroy(r.det);
    specx_proc_server_stop(&srv);
}

static void test_unary(void **state)
{
    (void)state;
    check_answer("");
}

static void test_stream(void **state)
{
    (void)state;
    check_answer(",stream");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vehicle_client PATH/TO/specx\n");
        return 2;
    }
    specx_bin = argv[1];
    specx_proc_init(specx_bin, "/tmp");
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_unary), cmocka_unit_test(test_stream)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
