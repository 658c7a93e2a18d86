/* test_xnn_map.c — mAP@0.5 of the xnnpack and darknet backends over the
 * coco128 validation images for yolo-fastest-1.1: equal within 0.005. */
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

#include "xnn.h"
#include "xnn_test_util.h"

#define EVAL_THRESH 0.005f

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_map(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    char dir[4096], imgdir[4200], lbldir[4200];
    xt_asset(dir, sizeof dir, "labeled/coco128_val");
    snprintf(imgdir, sizeof imgdir, "%s/images", dir);
    snprintf(lbldir, sizeof lbldir, "%s/labels", dir);
    DIR *d = opendir(imgdir);
    assert_non_null(d);
    char *files[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".jpg") == 0) {
            files[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(files, (size_t)n, sizeof *files, cmp_str);
    assert_true(n >= 100);

    network *net = load_network(mf.cfg, mf.weights, 0);
    assert_non_null(net);
    set_batch_network(net, 1);
    sx_xnn *x = NULL;
    specx_err err = {0};
    assert_int_equal(sx_xnn_open(mf.cfg, mf.weights, mf.names, 1, 0, &x, &err), SPECX_OK);
    xt_map *m_dn = xt_map_new(80), *m_xn = xt_map_new(80);
    int gt_total = 0;
    for (int i = 0; i < n; i++) {
        char path[4400], lbl[4400];
        snprintf(path, sizeof path, "%s/%s", imgdir, files[i]);
        snprintf(lbl, sizeof lbl, "%s/%.*s.txt", lbldir, (int)(strlen(files[i]) - 4), files[i]);
        image im = load_image_color(path, 0, 0);
        assert_true(im.w > 0);
        specx_image img;
        assert_int_equal(xt_to_specx(&im, &img), 0);
        image sized = letterbox_image(im, net->w, net->h);
        network_predict(net, sized.data);
        specx_detections a, b;
        specx_detections_init(&a);
        specx_detections_init(&b);
        xt_darknet_detections(net, im.w, im.h, EVAL_THRESH, 0.45f, mf.nnames, mf.name_list, &a);
        assert_int_equal(sx_xnn_detect(x, &img, EVAL_THRESH, 0.45f, NULL, &b, &err), SPECX_OK);
        int g1 = xt_map_add_image(m_dn, lbl, im.w, im.h, &a);
        int g2 = xt_map_add_image(m_xn, lbl, im.w, im.h, &b);
        assert_int_equal(g1, g2);
        gt_total += g1 > 0 ? g1 : 0;
        specx_detections_clear(&a);
        specx_detections_clear(&b);
        free_image(sized);
        specx_image_clear(&img);
        free_image(im);
        free(files[i]);
    }
    double map_dn = xt_map_value(m_dn), map_xn = xt_map_value(m_xn);
    printf("coco128 val (%d images, %d boxes): mAP@0.5 darknet %.4f, xnnpack %.4f\n", n, gt_total,
           map_dn, map_xn);
    assert_true(gt_total > 0);
    /* a working detector: DESIGN.md quotes 0.358 for darknet on this set */
    assert_true(map_dn > 0.25);
    assert_true(fabs(map_dn - map_xn) <= 0.005);
    xt_map_free(m_dn);
    xt_map_free(m_xn);
    sx_xnn_close(x);
    free_network(net);
    xt_model_files_free(&mf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_map)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
