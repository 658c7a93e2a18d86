/* test_test_detector.c — the built-in test detector is resolved by
 * specx_detector_open ("test", "test:SPEC") and behaves as
 * include/specx/detector.h says; other names never reach it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "specx/detector.h"

static specx_status open_model(const char *model, specx_detector **det, specx_err *err)
{
    /* A model directory that does not exist: the test detector needs none. */
    specx_detector_config cfg = {.model = model, .model_dir = "/nonexistent/specx-models"};
    return specx_detector_open(&cfg, det, err);
}

static specx_status run(specx_detector *det, int w, int h, bool cancelled, specx_detections *out,
                        specx_err *err)
{
    specx_image img;
    assert_int_equal(specx_image_alloc(&img, w, h), SPECX_OK);
    atomic_bool cancel = cancelled;
    specx_status st = specx_detector_detect(det, &img, &cancel, out, err);
    specx_image_clear(&img);
    return st;
}

static void test_plain(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_detector *det;
    assert_int_equal(open_model("test", &det, &err), SPECX_OK);
    const specx_detector_info *info = specx_detector_get_info(det);
    assert_string_equal(info->model, "test");
    assert_string_equal(info->backend, "test");
    specx_detections out;
    specx_detections_init(&out);
    assert_int_equal(run(det, 5, 4, false, &out, &err), SPECX_OK);
    assert_int_equal(out.count, 1);
    assert_string_equal(out.items[0].label, "test");
    assert_int_equal(out.items[0].class_id, 0);
    assert_true(out.items[0].score == 1.0f);
    assert_true(out.items[0].xmin == 0 && out.items[0].xmax == 5 && out.items[0].ymax == 4);
    specx_detections_clear(&out);
    specx_detector_close(det);
}

static void test_options(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_detector *det;
    assert_int_equal(open_model("test:boxes=3,delay_ms=1", &det, &err), SPECX_OK);
    specx_detections out;
    specx_detections_init(&out);
    assert_int_equal(run(det, 8, 8, false, &out, &err), SPECX_OK);
    assert_int_equal(out.count, 3);
    assert_int_equal(out.items[2].class_id, 2);
    assert_true(out.items[1].score == 0.5f);
    specx_detector_close(det);

    assert_int_equal(open_model("test:fail=1", &det, &err), SPECX_OK);
    assert_int_equal(run(det, 8, 8, false, &out, &err), SPECX_EINTERNAL);
    specx_detector_close(det);

    /* A set cancel flag stops it at the first checkpoint. */
    assert_int_equal(open_model("test:delay_ms=600000", &det, &err), SPECX_OK);
    assert_int_equal(run(det, 8, 8, true, &out, &err), SPECX_ECANCELED);
    specx_detector_close(det);
    specx_detections_clear(&out);
}

static void test_bad_spec(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_detector *det = NULL;
    assert_int_equal(open_model("test:bogus=1", &det, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "bogus=1"));
    assert_null(det);
}

static void test_other_names(void **state)
{
    (void)state;
    /* Only "test" and "test:..." are the test detector: these go to the
     * model directory (which does not exist) and fail there. */
    const char *names[] = {"testing", "test-model", "tes", "xtest:boxes=1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        specx_err err = {{0}};
        specx_detector *det = NULL;
        assert_int_not_equal(open_model(names[i], &det, &err), SPECX_OK);
        assert_null(strstr(err.msg, "test detector"));
        assert_null(det);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_other_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
