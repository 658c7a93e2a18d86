/* xnn_bench.c — developer tool: xnnpack backend vs libdarknet timing on one
 * model and image, with the per-layer profile (not a test; the user-facing
 * figures come from `specx bench detect`).
 * Usage: xnn_bench MODEL [--frames N] [--threads T] [--darknet-frames N]
 *        [--image PATH] [--profile] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect/xnn/xnn.h"
#include "xnn_test_util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* this thread's CPU time: unlike the wall clock, it does not count the time
 * other processes held the core (one thread only) */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: xnn_bench MODEL [--frames N] [--threads T] [--darknet-frames N] "
                        "[--image PATH] [--profile]\n");
        return 2;
    }
    const char *model = argv[1];
    int frames = 50, threads = 1, dframes = 5, profile = 0, int8 = 0;
    sx_xnn_calib_method method = SX_XNN_CALIB_DEFAULT;
    double param = 0;
    unsigned flags = 0;
    char image_path[4096];
    xt_asset(image_path, sizeof image_path, "images/udacity_highway/test1.jpg");
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--darknet-frames") == 0 && i + 1 < argc) {
            dframes = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--image") == 0 && i + 1 < argc) {
            snprintf(image_path, sizeof image_path, "%s", argv[++i]);
        } else if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc) {
            flags = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--profile") == 0) {
            profile = 1;
        } else if (strcmp(argv[i], "--int8") == 0) {
            int8 = 1;
        } else if (strcmp(argv[i], "--minmax") == 0) {
            method = SX_XNN_CALIB_MINMAX;
        } else if (strcmp(argv[i], "--pct") == 0 && i + 1 < argc) {
            method = SX_XNN_CALIB_PERCENTILE;
            param = atof(argv[++i]);
        }
    }
    xt_model mf;
    if (xt_model_files(model, &mf) != 0) {
        fprintf(stderr, "cannot resolve %s\n", model);
        return 1;
    }
    image im = load_image_color(image_path, 0, 0);
    specx_image img;
    xt_to_specx(&im, &img);
    sx_xnn *x = NULL;
    specx_err err = {0};
    specx_image calib[16];
    int ncalib = int8 ? xt_calib_images(calib, 16) : 0;
    sx_xnn_opts o = {.threads = threads,
                     .flags = flags,
                     .precision = int8 ? SX_XNN_INT8 : SX_XNN_FP32,
                     .calib = calib,
                     .ncalib = ncalib,
                     .calib_method = method,
                     .calib_param = param};
    double t_open = now_ms();
    if (sx_xnn_open(mf.cfg, mf.weights, mf.names, &o, &x, &err) != SPECX_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("opened in %.1f ms (%d calibration images)\n", now_ms() - t_open, ncalib);
    for (int i = 0; i < ncalib; i++) {
        specx_image_clear(&calib[i]);
    }
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; i < 5; i++) {
        specx_detections_reset(&d);
        sx_xnn_detect(x, &img, 0.25f, 0.45f, NULL, &d, &err);
    }
    sx_xnn_profile(x, profile != 0);
    double *t = malloc(sizeof *t * (size_t)(frames > dframes ? frames : dframes));
    double *tc = malloc(sizeof *tc * (size_t)frames);
    for (int i = 0; i < frames; i++) {
        specx_detections_reset(&d);
        double t0 = now_ms(), c0 = cpu_ms();
        sx_xnn_detect(x, &img, 0.25f, 0.45f, NULL, &d, &err);
        t[i] = now_ms() - t0;
        tc[i] = cpu_ms() - c0;
    }
    double xp50 = pct(t, frames, 0.5), xp99 = pct(t, frames, 0.99), xmin = t[0];
    double cp50 = pct(tc, frames, 0.5), cmin = tc[0];
    printf("%s xnnpack %s threads=%d: min %.3f p50 %.3f ms p99 %.3f ms; thread cpu min %.3f p50 "
           "%.3f ms (%d frames, %.3f GFLOP, %zu dets)\n",
           model, int8 ? "int8" : "fp32", threads, xmin, xp50, xp99, cmin, cp50, frames,
           sx_xnn_gflops(x), d.count);
    free(tc);
    if (profile) {
        sx_xnn_profile_print(x, stdout);
    }
    if (dframes > 0) {
        network *net = load_network(mf.cfg, mf.weights, 0);
        set_batch_network(net, 1);
        for (int i = 0; i < dframes + 1; i++) {
            double t0 = now_ms();
            image sized = letterbox_image(im, net->w, net->h);
            network_predict(net, sized.data);
            specx_detections_reset(&d);
            xt_darknet_detections(net, im.w, im.h, 0.25f, 0.45f, mf.nnames, mf.name_list, &d);
            free_image(sized);
            if (i > 0) {
                t[i - 1] = now_ms() - t0;
            }
        }
        double dp50 = pct(t, dframes, 0.5);
        printf("%s darknet: p50 %.3f ms (%d frames); speed-up %.1fx\n", model, dp50, dframes,
               dp50 / xp50);
        free_network(net);
    }
    free(t);
    specx_detections_clear(&d);
    sx_xnn_close(x);
    specx_image_clear(&img);
    free_image(im);
    xt_model_files_free(&mf);
    return 0;
}
