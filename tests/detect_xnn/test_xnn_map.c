/* test_xnn_map.c — mAP@0.5 over the coco128 validation images of the
 * xnnpack backend in fp32 and int8, and of libdarknet when asked:
 * fp32 equals darknet within 0.005, int8 equals fp32 within 0.01.
 *
 * Usage: test_xnn_map MODEL [darknet]. int8 is opened as the backend opens
 * it: activation ranges from the weights' batch-norm statistics, their
 * width chosen on darknet's sample images (unlabeled, not in coco128), so
 * nothing about coco128 leaks into the quantization. */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/xnn/xnn.h"
#include "xnn_test_util.h"

#define EVAL_THRESH 0.005f
#define MAX_IMAGES 512

static const char *g_model = "yolo-fastest-1.1";
static bool g_darknet;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_images(const char *imgdir, char **files)
{
    DIR *d = opendir(imgdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_IMAGES) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".jpg") == 0) {
            files[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    return n;
}

/* int8 as the backend opens it by default: batch-norm ranges, their width
 * chosen on darknet's sample images */
static sx_xnn *open_int8(const xt_model *mf)
{
    specx_image calib[16];
    int ncalib = xt_calib_images(calib, 16);
    assert_true(ncalib >= 4);
    sx_xnn_opts o = {.precision = SX_XNN_INT8, .calib = calib, .ncalib = ncalib};
    sx_xnn *x = NULL;
    specx_err err = {0};
    specx_status st = sx_xnn_open(mf->cfg, mf->weights, mf->names, &o, &x, &err);
    for (int i = 0; i < ncalib; i++) {
        specx_image_clear(&calib[i]);
    }
    if (st != SPECX_OK) {
        fail_msg("int8 open: %s", err.msg);
    }
    assert_int_equal(sx_xnn_get_precision(x), SX_XNN_INT8);
    return x;
}

static void test_map(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files(g_model, &mf), 0);
    char dir[4096], imgdir[4200], lbldir[4200];
    xt_asset(dir, sizeof dir, "labeled/coco128_val");
    snprintf(imgdir, sizeof imgdir, "%s/images", dir);
    snprintf(lbldir, sizeof lbldir, "%s/labels", dir);
    char *files[MAX_IMAGES];
    int n = list_images(imgdir, files);
    assert_true(n >= 100);

    network *net = NULL;
    if (g_darknet) {
        net = load_network(mf.cfg, mf.weights, 0);
        assert_non_null(net);
        set_batch_network(net, 1);
    }
    sx_xnn *xf = NULL, *xq = open_int8(&mf);
    specx_err err = {0};
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, NULL, &xf, &err), SPECX_OK);
    xt_map *m_dn = xt_map_new(80), *m_f = xt_map_new(80), *m_q = xt_map_new(80);
    int gt_total = 0;
    for (int i = 0; i < n; i++) {
        char path[4400], lbl[4400];
        snprintf(path, sizeof path, "%s/%s", imgdir, files[i]);
        snprintf(lbl, sizeof lbl, "%s/%.*s.txt", lbldir, (int)(strlen(files[i]) - 4), files[i]);
        image im = load_image_color(path, 0, 0);
        assert_true(im.w > 0);
        specx_image img;
        assert_int_equal(xt_to_specx(&im, &img), 0);
        specx_detections a, b, c;
        specx_detections_init(&a);
        specx_detections_init(&b);
        specx_detections_init(&c);
        if (net != NULL) {
            image sized = letterbox_image(im, net->w, net->h);
            network_predict(net, sized.data);
            xt_darknet_detections(net, im.w, im.h, EVAL_THRESH, 0.45f, mf.nnames, mf.name_list, &a);
            free_image(sized);
            xt_map_add_image(m_dn, lbl, im.w, im.h, &a);
        }
        assert_int_equal(sx_xnn_detect(xf, &img, EVAL_THRESH, 0.45f, NULL, &b, &err), SPECX_OK);
        assert_int_equal(sx_xnn_detect(xq, &img, EVAL_THRESH, 0.45f, NULL, &c, &err), SPECX_OK);
        int g1 = xt_map_add_image(m_f, lbl, im.w, im.h, &b);
        int g2 = xt_map_add_image(m_q, lbl, im.w, im.h, &c);
        assert_int_equal(g1, g2);
        gt_total += g1 > 0 ? g1 : 0;
        specx_detections_clear(&a);
        specx_detections_clear(&b);
        specx_detections_clear(&c);
        specx_image_clear(&img);
        free_image(im);
        free(files[i]);
    }
    double map_dn = xt_map_value(m_dn), map_f = xt_map_value(m_f), map_q = xt_map_value(m_q);
    printf("%s, coco128 val (%d images, %d boxes): mAP@0.5 xnnpack fp32 %.4f, int8 %.4f (%+.4f; "
           "batch-norm width %g)",
           g_model, n, gt_total, map_f, map_q, map_q - map_f, sx_xnn_calib_param(xq));
    if (net != NULL) {
        printf(", darknet %.4f", map_dn);
    }
    printf("\n");
    assert_true(gt_total > 0);
    /* a working detector: yolo-fastest-1.1 has 0.36 on this set */
    assert_true(map_f > 0.25);
    if (net != NULL) {
        assert_true(fabs(map_dn - map_f) <= 0.005);
    }
    assert_true(fabs(map_q - map_f) <= 0.01);
    xt_map_free(m_dn);
    xt_map_free(m_f);
    xt_map_free(m_q);
    sx_xnn_close(xf);
    sx_xnn_close(xq);
    if (net != NULL) {
        free_network(net);
    }
    xt_model_files_free(&mf);
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        g_model = argv[1];
    }
    g_darknet = argc > 2 && strcmp(argv[2], "darknet") == 0;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_map)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
