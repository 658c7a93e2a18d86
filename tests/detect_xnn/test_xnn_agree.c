/* test_xnn_agree.c — the xnnpack backend against Debian's libdarknet on the
 * same cfg/weights: letterbox, raw yolo outputs, final detections.
 *
 * Usage: test_xnn_agree MODEL (a model name of the shared assets, e.g.
 * yolo-fastest-1.1 or alt/MobileNetV2-YOLOv3-Nano-coco; "xl-416" uses the
 * xl weights with the 416 cfg). Images: darknet's dog.jpg and the six
 * udacity highway frames. */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <darknet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/detection.h"
#include "specx/image.h"

#include "detect/xnn/xnn.h"
#include "xnn_test_util.h"

static const char *g_model;

static void test_letterbox(void **state)
{
    (void)state;
    char path[4096];
    const char *imgs[] = {"/usr/share/darknet/data/dog.jpg", NULL};
    xt_asset(path, sizeof path, "images/udacity_highway/test1.jpg");
    imgs[1] = path;
    /* square, wide and tall targets, so both letterbox directions run */
    const int sizes[][2] = {{320, 320}, {416, 416}, {320, 200}, {200, 320}};
    for (size_t i = 0; i < 2; i++) {
        image im = load_image_color((char *)imgs[i], 0, 0);
        assert_true(im.w > 0);
        specx_image img;
        assert_int_equal(xt_to_specx(&im, &img), 0);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int w = sizes[s][0], h = sizes[s][1];
            image ref = letterbox_image(im, w, h);
            float *mine = malloc((size_t)w * h * 3 * sizeof(float));
            assert_non_null(mine);
            specx_err err = {0};
            assert_int_equal(sx_xnn_letterbox_chw(&img, w, h, mine, &err), SPECX_OK);
            double md = 0;
            for (size_t k = 0; k < (size_t)w * h * 3; k++) {
                double d = fabs((double)mine[k] - ref.data[k]);
                md = d > md ? d : md;
            }
            printf("letterbox %s -> %dx%d: max abs diff %.3g\n", imgs[i], w, h, md);
            assert_true(md <= 1e-6);
            free(mine);
            free_image(ref);
        }
        specx_image_clear(&img);
        free_image(im);
    }
}

/* Our engine in three set-ups: with our direct depthwise kernel, XNNPACK
 * only, and two threads. All must agree with darknet. */
static const struct {
    unsigned flags;
    int threads;
    const char *what;
} configs[] = {
    {0, 1, "direct dw"},
    {SX_XNN_NO_DIRECT, 1, "xnnpack-only"},
    {0, 2, "2 threads"},
};
#define NCONF (sizeof configs / sizeof configs[0])

static void test_agreement(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files(g_model, &mf), 0);
    network *net = load_network(mf.cfg, mf.weights, 0);
    assert_non_null(net);
    set_batch_network(net, 1);
    sx_xnn *xs[NCONF] = {NULL};
    specx_err err = {0};
    for (size_t c = 0; c < NCONF; c++) {
        sx_xnn_opts o = {.threads = configs[c].threads, .flags = configs[c].flags};
        specx_status st = sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &xs[c], &err);
        if (st != SPECX_OK) {
            fail_msg("open: %s", err.msg);
        }
        int nw, nh;
        sx_xnn_input_size(xs[c], &nw, &nh);
        assert_int_equal(nw, net->w);
        assert_int_equal(nh, net->h);
    }

    char paths[7][4096];
    snprintf(paths[0], sizeof paths[0], "/usr/share/darknet/data/dog.jpg");
    for (int i = 1; i < 7; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "images/udacity_highway/test%d.jpg", i);
        xt_asset(paths[i], sizeof paths[i], rel);
    }
    int total_dets = 0;
    for (int i = 0; i < 7; i++) {
        image im = load_image_color(paths[i], 0, 0);
        assert_true(im.w > 0);
        specx_image img;
        assert_int_equal(xt_to_specx(&im, &img), 0);

        /* darknet */
        image sized = letterbox_image(im, net->w, net->h);
        network_predict(net, sized.data);
        specx_detections ref;
        specx_detections_init(&ref);
        xt_darknet_detections(net, im.w, im.h, 0.25f, 0.45f, mf.nnames, mf.name_list, &ref);

        for (size_t cf = 0; cf < NCONF; cf++) {
            sx_xnn *x = xs[cf];
            /* raw outputs after a plain forward */
            assert_int_equal(sx_xnn_forward_image(x, &img, &err), SPECX_OK);
            int k = 0;
            double worst = 0;
            for (int li = 0; li < net->n; li++) {
                layer *l = &net->layers[li];
                if (l->type != YOLO) {
                    continue;
                }
                float *mine = NULL;
                int w, h, c;
                assert_int_equal(sx_xnn_yolo_output(x, k, &mine, &w, &h, &c, &err), SPECX_OK);
                assert_int_equal(w, l->w);
                assert_int_equal(h, l->h);
                assert_int_equal(w * h * c, l->outputs);
                double md = 0;
                for (int e = 0; e < l->outputs; e++) {
                    double d = fabs((double)mine[e] - l->output[e]);
                    md = d > md ? d : md;
                }
                worst = md > worst ? md : worst;
                free(mine);
                k++;
            }
            assert_int_equal(k, sx_xnn_yolo_count(x));

            /* detections */
            specx_detections got;
            specx_detections_init(&got);
            assert_int_equal(sx_xnn_detect(x, &img, 0.25f, 0.45f, NULL, &got, &err), SPECX_OK);
            printf("%s [%s] %s: yolo max abs diff %.3g; darknet %zu detections, xnnpack %zu\n",
                   g_model, configs[cf].what, paths[i], worst, ref.count, got.count);
            assert_true(worst <= 1e-3);
            char why[256];
            if (!xt_same_detections(&ref, &got, 0.25f, 0.01f, 1.0f, why, sizeof why)) {
                xt_print_detections("darknet", &ref);
                xt_print_detections("xnnpack", &got);
                fail_msg("%s [%s] %s: %s", g_model, configs[cf].what, paths[i], why);
            }
            /* same order as darknet's (informative: near-equal scores may swap) */
            size_t same = 0;
            for (size_t q = 0; q < got.count && q < ref.count; q++) {
                same += got.items[q].class_id == ref.items[q].class_id &&
                        fabsf(got.items[q].score - ref.items[q].score) <= 0.01f;
            }
            if (same != ref.count) {
                printf("  note: %zu of %zu detections in darknet's order\n", same, ref.count);
            }
            total_dets += (int)got.count;
            specx_detections_clear(&got);
        }
        specx_detections_clear(&ref);
        free_image(sized);
        specx_image_clear(&img);
        free_image(im);
    }
    /* the comparison means something only if there were boxes to compare */
    assert_true(total_dets > 0);
    for (size_t c = 0; c < NCONF; c++) {
        sx_xnn_close(xs[c]);
    }
    free_network(net);
    xt_model_files_free(&mf);
}

int main(int argc, char **argv)
{
    g_model = argc > 1 ? argv[1] : "yolo-fastest-1.1";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_letterbox),
        cmocka_unit_test(test_agreement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
