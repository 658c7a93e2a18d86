/* test_xnn_backend.c — the "xnnpack" backend behind the public detector API:
 * opened by model name, its description, detections equal to the "darknet"
 * backend's through the same API, cancellation, thread counts, bad
 * arguments; and the cfg parser on randomly damaged cfg files (must fail
 * cleanly or load, never crash). */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "specx/detector.h"

#include "detect/xnn/xnn.h"
#include "xnn_test_util.h"

static char g_models[4096];

static specx_status open_det(const char *backend, int threads, float thresh, specx_detector **d,
                             specx_err *err)
{
    specx_detector_config cfg = {.model = "yolo-fastest-1.1",
                                 .model_dir = g_models,
                                 .backend = backend,
                                 .threshold = thresh,
                                 .threads = threads};
    return specx_detector_open(&cfg, d, err);
}

static void load_dog(specx_image *img)
{
    image im = load_image_color("/usr/share/darknet/data/dog.jpg", 0, 0);
    assert_true(im.w > 0);
    assert_int_equal(xt_to_specx(&im, img), 0);
    free_image(im);
}

static void test_open_and_describe(void **state)
{
    (void)state;
    specx_detector *d = NULL;
    specx_err err = {0};
    assert_string_equal(specx_detector_default_backend(), "xnnpack");
    assert_int_equal(open_det(NULL, 0, 0, &d, &err), SPECX_OK);
    const specx_detector_info *info = specx_detector_get_info(d);
    assert_string_equal(info->backend, "xnnpack");
    assert_string_equal(info->model, "yolo-fastest-1.1");
    assert_int_equal(info->input_width, 320);
    assert_int_equal(info->input_height, 320);
    assert_int_equal(info->num_classes, 80);
    specx_detector_close(d);
}

static void test_same_as_darknet_backend(void **state)
{
    (void)state;
    specx_image img;
    load_dog(&img);
    specx_detector *x = NULL, *dn = NULL;
    specx_err err = {0};
    assert_int_equal(open_det("xnnpack", 2, 0, &x, &err), SPECX_OK);
    assert_int_equal(open_det("darknet", 0, 0, &dn, &err), SPECX_OK);
    specx_detections a, b;
    specx_detections_init(&a);
    specx_detections_init(&b);
    assert_int_equal(specx_detector_detect(x, &img, NULL, &a, &err), SPECX_OK);
    assert_int_equal(specx_detector_detect(dn, &img, NULL, &b, &err), SPECX_OK);
    assert_true(a.count > 0);
    assert_int_equal(a.count, b.count);
    assert_string_equal(a.model, "yolo-fastest-1.1");
    assert_int_equal(a.image_width, img.width);
    assert_true(a.infer_ms > 0);
    for (size_t i = 0; i < a.count; i++) {
        /* same order too: both follow darknet's do_nms_sort */
        assert_string_equal(a.items[i].label, b.items[i].label);
        assert_int_equal(a.items[i].class_id, b.items[i].class_id);
        assert_true(fabsf(a.items[i].score - b.items[i].score) <= 0.01f);
        assert_true(fabsf(a.items[i].xmin - b.items[i].xmin) <= 1.0f);
        assert_true(fabsf(a.items[i].ymax - b.items[i].ymax) <= 1.0f);
    }
    /* a higher threshold gives a subset */
    specx_detector *hi = NULL;
    assert_int_equal(open_det("xnnpack", 1, 0.5f, &hi, &err), SPECX_OK);
    specx_detections c;
    specx_detections_init(&c);
    assert_int_equal(specx_detector_detect(hi, &img, NULL, &c, &err), SPECX_OK);
    assert_true(c.count < a.count);
    for (size_t i = 0; i < c.count; i++) {
        assert_true(c.items[i].score > 0.5f);
    }
    specx_detections_clear(&a);
    specx_detections_clear(&b);
    specx_detections_clear(&c);
    specx_detector_close(x);
    specx_detector_close(dn);
    specx_detector_close(hi);
    specx_image_clear(&img);
}

static void test_cancel(void **state)
{
    (void)state;
    specx_image img;
    load_dog(&img);
    specx_detector *d = NULL;
    specx_err err = {0};
    assert_int_equal(open_det("xnnpack", 1, 0, &d, &err), SPECX_OK);
    atomic_bool cancel = true;
    specx_detections out;
    specx_detections_init(&out);
    assert_int_equal(specx_detector_detect(d, &img, &cancel, &out, &err), SPECX_ECANCELED);
    assert_int_equal(out.count, 0);
    /* the detector stays usable */
    atomic_store(&cancel, false);
    assert_int_equal(specx_detector_detect(d, &img, &cancel, &out, &err), SPECX_OK);
    assert_true(out.count > 0);
    specx_detections_clear(&out);
    specx_detector_close(d);
    specx_image_clear(&img);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    specx_detector *d = NULL;
    specx_err err = {0};
    assert_int_equal(open_det("xnnpack", 0, 1.5f, &d, &err), SPECX_EINVAL);
    assert_null(d);
    assert_int_equal(open_det("xnnpack", 65, 0, &d, &err), SPECX_EINVAL);
    assert_null(d);
    specx_detector_config cfg = {.model = "no-such-model", .model_dir = g_models};
    assert_int_equal(specx_detector_open(&cfg, &d, &err), SPECX_ENOTFOUND);
    assert_null(d);
}

/* Damaged cfg files: every outcome is fine except a crash, a leak or a
 * sanitizer report (the suite runs under ASan + UBSan). */
static void test_damaged_cfg(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    FILE *f = fopen(mf.cfg, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    size_t len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    assert_true(len > 1000);
    static const char junk[] = "[]=,-#\n 0123456789abcxyz\0";
    uint32_t seed = 12345;
    int ok = 0, failed = 0;
    char path[64];
    for (int round = 0; round < 60; round++) {
        char *m = malloc(len + 1);
        memcpy(m, text, len + 1);
        for (int e = 0; e < 1 + round % 4; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            m[at] = junk[(seed >> 8) % (sizeof junk - 1)];
        }
        snprintf(path, sizeof path, "/tmp/xnn_fuzz_XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, m, len), (ssize_t)len);
        close(fd);
        sx_xnn *x = NULL;
        specx_err err = {0};
        specx_status st = sx_xnn_open(path, mf.weights, mf.names, NULL, &x, &err);
        if (st == SPECX_OK) {
            ok++;
            sx_xnn_close(x);
        } else {
            failed++;
            assert_true(err.msg[0] != '\0');
            assert_null(x);
        }
        unlink(path);
        free(m);
    }
    printf("damaged cfg: %d loaded, %d refused\n", ok, failed);
    assert_true(failed > 0);
    free(text);
    xt_model_files_free(&mf);
}

int main(void)
{
    xt_asset(g_models, sizeof g_models, "models");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_describe),
        cmocka_unit_test(test_same_as_darknet_backend),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_damaged_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
