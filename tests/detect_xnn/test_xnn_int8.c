/* test_xnn_int8.c — the xnnpack backend's int8 path as a whole: detections
 * agree with fp32 on sample images, the AVX-512 VNNI kernels give exactly
 * the portable kernels' network outputs, one and two threads give the same
 * outputs, calibration options are checked, and a bad --precision is
 * refused with a message naming the accepted values (API and CLI).
 *
 * Usage: test_xnn_int8 PATH-TO-specx. */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "specx/detector.h"

#include "detect/xnn/xnn.h"
#include "detect/xnn/xnn_q8.h"
#include "xnn_test_util.h"

/* Agreement with fp32: every detection scoring at least AGREE_MIN_SCORE on
 * one side has one of the same class on the other side overlapping it by
 * IoU >= AGREE_IOU with a score within AGREE_SCORE. Measured worst on these
 * seven images: IoU 0.85 and score 0.10 (yolo-fastest-1.1), IoU 0.75 and
 * score 0.21 (xl@416, a cat at 0.43 in fp32 and 0.64 in int8). dog.jpg is
 * also one of the images calibration picks its width on (unlabeled); the
 * six highway frames are not. */
#define AGREE_MIN_SCORE 0.4f
#define AGREE_IOU 0.7f
#define AGREE_SCORE 0.25f

static const char *g_specx;
extern char **environ;

static const char *const g_images[] = {"dog.jpg",   "test1.jpg", "test2.jpg", "test3.jpg",
                                       "test4.jpg", "test5.jpg", "test6.jpg"};
#define NIMAGES (sizeof g_images / sizeof g_images[0])

static void load_sample(size_t i, specx_image *img)
{
    char path[4096];
    if (i == 0) {
        snprintf(path, sizeof path, "/usr/share/darknet/data/%s", g_images[i]);
    } else {
        char rel[256];
        snprintf(rel, sizeof rel, "images/udacity_highway/%s", g_images[i]);
        xt_asset(path, sizeof path, rel);
    }
    image im = load_image_color(path, 0, 0);
    assert_true(im.w > 0);
    assert_int_equal(xt_to_specx(&im, img), 0);
    free_image(im);
}

static sx_xnn *open_xnn(const xt_model *mf, sx_xnn_precision p, int threads, unsigned flags)
{
    specx_image calib[16];
    int ncalib = p == SX_XNN_INT8 ? xt_calib_images(calib, 16) : 0;
    sx_xnn_opts o = {
        .threads = threads, .flags = flags, .precision = p, .calib = calib, .ncalib = ncalib};
    sx_xnn *x = NULL;
    specx_err err = {0};
    specx_status st = sx_xnn_open(mf->cfg, mf->weights, mf->names, &o, &x, &err);
    for (int i = 0; i < ncalib; i++) {
        specx_image_clear(&calib[i]);
    }
    if (st != SPECX_OK) {
        fail_msg("open: %s", err.msg);
    }
    return x;
}

static float iou(const specx_detection *a, const specx_detection *b)
{
    float w = fminf(a->xmax, b->xmax) - fmaxf(a->xmin, b->xmin);
    float h = fminf(a->ymax, b->ymax) - fmaxf(a->ymin, b->ymin);
    float inter = w > 0 && h > 0 ? w * h : 0;
    float ua =
        (a->xmax - a->xmin) * (a->ymax - a->ymin) + (b->xmax - b->xmin) * (b->ymax - b->ymin);
    return ua > inter ? inter / (ua - inter) : 0;
}

/* Every detection of `a` scoring >= AGREE_MIN_SCORE against its best match
 * in b; returns how many failed and the worst IoU and score difference. */
static int match(const specx_detections *a, const specx_detections *b, float *worst_iou,
                 float *worst_ds)
{
    int bad = 0;
    for (size_t i = 0; i < a->count; i++) {
        const specx_detection *d = &a->items[i];
        if (d->score < AGREE_MIN_SCORE) {
            continue;
        }
        float best = 0, ds = 1;
        for (size_t j = 0; j < b->count; j++) {
            const specx_detection *e = &b->items[j];
            float v = e->class_id == d->class_id ? iou(d, e) : 0;
            if (v > best) {
                best = v;
                ds = fabsf(e->score - d->score);
            }
        }
        *worst_iou = best < *worst_iou ? best : *worst_iou;
        *worst_ds = ds > *worst_ds ? ds : *worst_ds;
        if (best < AGREE_IOU || ds > AGREE_SCORE) {
            printf("  unmatched: %s %.2f at %.0f,%.0f-%.0f,%.0f (best IoU %.2f, score diff %.2f)\n",
                   d->label, (double)d->score, (double)d->xmin, (double)d->ymin, (double)d->xmax,
                   (double)d->ymax, (double)best, (double)ds);
            bad++;
        }
    }
    return bad;
}

static void check_agreement(const char *model)
{
    xt_model mf;
    assert_int_equal(xt_model_files(model, &mf), 0);
    sx_xnn *xf = open_xnn(&mf, SX_XNN_FP32, 1, 0), *xq = open_xnn(&mf, SX_XNN_INT8, 1, 0);
    float worst_iou = 1, worst_ds = 0;
    int bad = 0, compared = 0;
    for (size_t i = 0; i < NIMAGES; i++) {
        specx_image img;
        load_sample(i, &img);
        specx_detections a, b;
        specx_detections_init(&a);
        specx_detections_init(&b);
        specx_err err = {0};
        assert_int_equal(sx_xnn_detect(xf, &img, 0.25f, 0.45f, NULL, &a, &err), SPECX_OK);
        assert_int_equal(sx_xnn_detect(xq, &img, 0.25f, 0.45f, NULL, &b, &err), SPECX_OK);
        bad += match(&a, &b, &worst_iou, &worst_ds) + match(&b, &a, &worst_iou, &worst_ds);
        for (size_t k = 0; k < a.count; k++) {
            compared += a.items[k].score >= AGREE_MIN_SCORE;
        }
        specx_detections_clear(&a);
        specx_detections_clear(&b);
        specx_image_clear(&img);
    }
    printf("%s int8 vs fp32 on %zu images: %d fp32 detections >= %.2f, worst IoU %.3f, worst "
           "score difference %.3f, %d unmatched\n",
           model, NIMAGES, compared, (double)AGREE_MIN_SCORE, (double)worst_iou, (double)worst_ds,
           bad);
    assert_true(compared >= 10);
    assert_int_equal(bad, 0);
    sx_xnn_close(xf);
    sx_xnn_close(xq);
    xt_model_files_free(&mf);
}

static void test_agreement(void **state)
{
    (void)state;
    check_agreement("yolo-fastest-1.1");
    check_agreement("yolo-fastest-1.1-xl-416");
}

/* The [yolo] outputs of every layer after a forward, concatenated. */
static float *yolo_all(sx_xnn *x, size_t *len)
{
    float *all = NULL;
    size_t n = 0;
    specx_err err = {0};
    for (int k = 0; k < sx_xnn_yolo_count(x); k++) {
        float *p = NULL;
        int w, h, c;
        assert_int_equal(sx_xnn_yolo_output(x, k, &p, &w, &h, &c, &err), SPECX_OK);
        size_t m = (size_t)w * h * c;
        all = realloc(all, (n + m) * sizeof *all);
        assert_non_null(all);
        memcpy(all + n, p, m * sizeof *p);
        n += m;
        free(p);
    }
    *len = n;
    return all;
}

static float *run_variant(const xt_model *mf, const specx_image *img, int threads, unsigned flags,
                          size_t *len)
{
    /* fixed ranges (no images), so every variant quantizes alike */
    sx_xnn_opts o = {.threads = threads,
                     .flags = flags,
                     .precision = SX_XNN_INT8,
                     .calib_method = SX_XNN_CALIB_BN,
                     .calib_param = 8};
    sx_xnn *x = NULL;
    specx_err err = {0};
    if (sx_xnn_open(mf->cfg, mf->weights, mf->names, &o, &x, &err) != SPECX_OK) {
        fail_msg("open: %s", err.msg);
    }
    assert_int_equal(sx_xnn_forward_image(x, img, &err), SPECX_OK);
    float *out = yolo_all(x, len);
    sx_xnn_close(x);
    return out;
}

/* Same bits from the VNNI and the portable kernels, and from 1 and 2
 * threads: every layer in int8 (SX_XNN_ALL_INT8 reaches the stem, the
 * packed narrow GEMMs and the 8-channel depthwise too), and the default
 * mixed network. */
static void test_identical_outputs(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    specx_image img;
    load_sample(0, &img);
    const unsigned base[] = {SX_XNN_ALL_INT8, 0};
    for (size_t b = 0; b < 2; b++) {
        size_t n1, n2, n3;
        float *simd1 = run_variant(&mf, &img, 1, base[b], &n1);
        float *simd2 = run_variant(&mf, &img, 2, base[b], &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(simd1, simd2, n1 * sizeof *simd1);
        if (sx_xnn_q8_have_simd()) {
            float *port = run_variant(&mf, &img, 1, base[b] | SX_XNN_PORTABLE, &n3);
            assert_int_equal(n1, n3);
            assert_memory_equal(simd1, port, n1 * sizeof *port);
            free(port);
        }
        printf("%s: %zu [yolo] values identical for 1 and 2 threads%s\n",
               base[b] != 0 ? "every layer int8" : "default int8", n1,
               sx_xnn_q8_have_simd() ? " and for the VNNI and portable kernels" : "");
        free(simd1);
        free(simd2);
    }
    specx_image_clear(&img);
    xt_model_files_free(&mf);
}

/* Calibration options: what needs images says so, parameters are checked,
 * the default picks a batch-norm width on the images it is given. */
static void test_calibration_options(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    sx_xnn *x = NULL;
    specx_err err = {0};
    sx_xnn_opts o = {.precision = SX_XNN_INT8, .calib_method = SX_XNN_CALIB_MINMAX};
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "need calibration images"));
    o.calib_method = SX_XNN_CALIB_BN;
    o.calib_param = -1;
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "standard deviations"));
    /* without images the default is a fixed width */
    o.calib_method = SX_XNN_CALIB_DEFAULT;
    o.calib_param = 0;
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err), SPECX_OK);
    assert_true(sx_xnn_calib_param(x) == 8);
    sx_xnn_close(x);
    /* with images it is one of the widths it tries */
    specx_image calib[16];
    int n = xt_calib_images(calib, 16);
    assert_true(n >= 4);
    o.calib = calib;
    o.ncalib = n;
    o.calib_method = SX_XNN_CALIB_PERCENTILE;
    o.calib_param = 0.2;
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "percentile"));
    o.calib_method = SX_XNN_CALIB_DEFAULT;
    o.calib_param = 0;
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err), SPECX_OK);
    double k = sx_xnn_calib_param(x);
    printf("default calibration on %d images chose batch-norm width %g\n", n, k);
    assert_true(k == 6 || k == 7 || k == 8 || k == 10);
    sx_xnn_close(x);
    for (int i = 0; i < n; i++) {
        specx_image_clear(&calib[i]);
    }
    xt_model_files_free(&mf);
}

/* specx_detector_config.precision through the public API. */
static void test_precision_option(void **state)
{
    (void)state;
    char models[4096];
    xt_asset(models, sizeof models, "models");
    specx_detector_config cfg = {.model = "yolo-fastest-1.1", .model_dir = models};
    specx_detector *d = NULL;
    specx_err err = {0};
    cfg.precision = "int4";
    assert_int_equal(specx_detector_open(&cfg, &d, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "precision must be fp32 or int8 (got 'int4')"));
    cfg.precision = "int8";
    cfg.backend = "darknet";
    assert_int_equal(specx_detector_open(&cfg, &d, &err), SPECX_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "needs the xnnpack backend"));
    cfg.backend = NULL;
    assert_int_equal(specx_detector_open(&cfg, &d, &err), SPECX_OK);
    assert_string_equal(specx_detector_get_info(d)->backend, "xnnpack-int8");
    specx_detector_close(d);
    cfg.precision = "";
    assert_int_equal(specx_detector_open(&cfg, &d, &err), SPECX_OK);
    assert_string_equal(specx_detector_get_info(d)->backend, "xnnpack");
    specx_detector_close(d);
}

/* `specx detect --precision int4`: fails, saying what is accepted. */
static void test_cli_bad_precision(void **state)
{
    (void)state;
    char models[4096];
    xt_asset(models, sizeof models, "models");
    char *args[] = {(char *)g_specx,
                    "detect",
                    "/usr/share/darknet/data/dog.jpg",
                    "--model",
                    "yolo-fastest-1.1",
                    "--model-dir",
                    models,
                    "--precision",
                    "int4",
                    NULL};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, g_specx, &fa, NULL, args, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    char out[4096];
    size_t got = 0;
    ssize_t r;
    while (got + 1 < sizeof out && (r = read(fds[0], out + got, sizeof out - 1 - got)) > 0) {
        got += (size_t)r;
    }
    out[got] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    printf("specx detect --precision int4: exit %d, \"%s\"\n", WEXITSTATUS(status), out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(out, "precision must be fp32 or int8 (got 'int4')"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_xnn_int8 PATH-TO-specx\n");
        return 2;
    }
    g_specx = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agreement),           cmocka_unit_test(test_identical_outputs),
        cmocka_unit_test(test_calibration_options), cmocka_unit_test(test_precision_option),
        cmocka_unit_test(test_cli_bad_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
