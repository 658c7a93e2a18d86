/* bench_detect.c — `specx bench detect`: inference time per model, backend
 * and thread count (letterbox + network + decoding + NMS, as detect() does),
 * with the ratio to darknet measured in the same run, and an optional
 * per-layer profile of the xnnpack backend.
 *
 * Figures only, never pass/fail: the machine is shared and noisy, so each
 * configuration reports p50 and p99 over many frames after a warm-up. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/detector.h"
#include "specx/image.h"
#include "specx/time.h"

#include "bench.h"
#include "cli.h"
#include "detect/backend.h"
#include "detect/xnn/xnn.h"

#define MAX_LIST 16

typedef struct bench_opts {
    const char *models[MAX_LIST];
    int nmodels;
    int threads[MAX_LIST];
    int nthreads;
    int frames, warmup, darknet_frames;
    bool profile, csv;
    const char *image;
    const char *model_dir;
} bench_opts;

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench detect [options]\n\n");
    specx_cli_print_options(f, opts);
    fprintf(f, "The ratio is darknet's p50 over this configuration's p50, both measured in\n"
               "this run.\n");
}

/* "A,B,...": into out (at most max), in place. */
static int split_list(char *s, const char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t != NULL && n < max;
         t = strtok_r(NULL, ",", &save)) {
        out[n++] = t;
    }
    return n;
}

/* A list option, copied (into a 1024-byte buffer) for split_list to cut. */
static bool take_list(const char *v, void *out, char *msg, size_t n)
{
    char *buf = out; /* 1024 bytes */
    if (snprintf(buf, 1024, "%s", v) >= 1024) {
        snprintf(msg, n, "too long");
        return false;
    }
    return true;
}

static int parse(int argc, char **argv, bench_opts *o)
{
    static char models_buf[1024], threads_buf[1024];
    *o = (bench_opts){.frames = 50, .warmup = 5, .darknet_frames = 5};
    snprintf(models_buf, sizeof models_buf, "yolo-fastest-1.1,yolo-fastest-1.1-xl-416");
    snprintf(threads_buf, sizeof threads_buf, "1,2");
    const specx_cli_opt opts[] = {
        {"models", 0, SPECX_CLI_CALL, models_buf, .call = take_list, .meta = "A,B,...",
         .help = "models (default yolo-fastest-1.1,yolo-fastest-1.1-xl-416)"},
        {"threads", 0, SPECX_CLI_CALL, threads_buf, .call = take_list, .meta = "1,2",
         .help = "xnnpack thread counts (default 1,2)"},
        {"frames", 0, SPECX_CLI_INT, &o->frames, 1, 100000, .meta = "N",
         .help = "timed frames per xnnpack configuration (default 50)"},
        {"warmup", 0, SPECX_CLI_INT, &o->warmup, 0, 100000, .meta = "N",
         .help = "untimed frames first (default 5)"},
        {"darknet-frames", 0, SPECX_CLI_INT, &o->darknet_frames, 0, 100000, .meta = "N",
         .help = "timed darknet frames per model, 0 to skip (default 5)"},
        {"image", 0, SPECX_CLI_STRING, &o->image, .meta = "FILE.ppm",
         .help = "a binary PPM (P6) frame (default: a synthetic 1280x720\n"
                 "frame; the network's work does not depend on content)"},
        {"model-dir", 0, SPECX_CLI_STRING, &o->model_dir, .meta = "DIR",
         .help = "where the models are (default: resolved as usual)"},
        {"per-layer", 0, SPECX_CLI_FLAG, &o->profile,
         .help = "per-layer time of the xnnpack network (1 thread)"},
        {"profile", 0, SPECX_CLI_FLAG, &o->profile, .help = NULL}, /* the old spelling */
        {"csv", 0, SPECX_CLI_FLAG, &o->csv,
         .help = "also print one CSV line per configuration\n"
                 "(csv,model,backend,threads,min,p50,p99,ratio)"},
        {0},
    };
    int rc = specx_cli_parse("specx bench detect", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 1;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    o->nmodels = split_list(models_buf, o->models, MAX_LIST);
    const char *t[MAX_LIST];
    int nt = split_list(threads_buf, t, MAX_LIST);
    for (int i = 0; i < nt; i++) {
        if (!specx_cli_int(t[i], 1, 64, &o->threads[o->nthreads++])) {
            fprintf(stderr, "specx bench detect: bad value '%s' for --threads: want 1..64\n", t[i]);
            return 2;
        }
    }
    if (o->nmodels < 1 || o->nthreads < 1) {
        fprintf(stderr, "specx bench detect: need at least one model and thread count\n");
        return 2;
    }
    return 0;
}

/* A deterministic 1280x720 frame: smooth gradients plus hash noise. */
static int synthetic_frame(specx_image *img)
{
    if (specx_image_alloc(img, 1280, 720) != SPECX_OK) {
        return -1;
    }
    uint32_t h = 2166136261u;
    for (int y = 0; y < img->height; y++) {
        for (int x = 0; x < img->width; x++) {
            h = (h ^ (uint32_t)(x * 7 + y * 13)) * 16777619u;
            uint8_t *p = img->data + (size_t)y * img->stride + 3 * x;
            p[0] = (uint8_t)((x * 255 / img->width + (h & 31)) & 255);
            p[1] = (uint8_t)((y * 255 / img->height + ((h >> 5) & 31)) & 255);
            p[2] = (uint8_t)(((x + y) & 255) ^ ((h >> 10) & 15));
        }
    }
    return 0;
}

static int read_ppm(const char *path, specx_image *img)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "specx bench detect: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int w = 0, h = 0, maxv = 0;
    int ok = fscanf(f, "P6 %d %d %d", &w, &h, &maxv) == 3 && maxv == 255 && fgetc(f) != EOF &&
             specx_image_alloc(img, w, h) == SPECX_OK;
    if (ok) {
        ok = fread(img->data, 1, (size_t)w * h * 3, f) == (size_t)w * h * 3;
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "specx bench detect: %s: not a binary 8-bit PPM (P6)\n", path);
        specx_image_clear(img);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted samples. */
static double pct(const double *v, int n, double q)
{
    int i = (int)(q * n + 0.999999) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

typedef struct result {
    double min, p50, p99;
    int frames;
    size_t dets;
} result;

static int time_detector(specx_detector *det, const specx_image *img, int warmup, int frames,
                         result *r)
{
    specx_detections d;
    specx_detections_init(&d);
    double *t = malloc((size_t)frames * sizeof *t);
    specx_err err = {0};
    int rc = t != NULL ? 0 : -1;
    for (int i = 0; i < warmup + frames && rc == 0; i++) {
        specx_time_t t0 = specx_time_mono();
        specx_status st = specx_detector_detect(det, img, NULL, &d, &err);
        double ms = specx_dur_ms(specx_time_mono() - t0);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx bench detect: %s\n", specx_err_text(&err, st));
            rc = -1;
        } else if (i >= warmup) {
            t[i - warmup] = ms;
        }
    }
    if (rc == 0) {
        qsort(t, (size_t)frames, sizeof *t, cmp_double);
        *r = (result){t[0], pct(t, frames, 0.5), pct(t, frames, 0.99), frames, d.count};
    }
    free(t);
    specx_detections_clear(&d);
    return rc;
}

static specx_detector *open_det(const bench_opts *o, const char *model, const char *backend,
                                int threads)
{
    specx_detector_config cfg = {
        .model = model, .model_dir = o->model_dir, .backend = backend, .threads = threads};
    specx_detector *det = NULL;
    specx_err err = {0};
    specx_status st = specx_detector_open(&cfg, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench detect: %s/%s: %s\n", model, backend,
                specx_err_text(&err, st));
        return NULL;
    }
    return det;
}

static void profile_model(const bench_opts *o, const char *model, const specx_image *img)
{
    char dir[4096];
    sx_model_files files;
    specx_err err = {0};
    sx_xnn *x = NULL;
    if (specx_model_dir_resolve(o->model_dir, dir, sizeof dir, &err) != SPECX_OK ||
        sx_model_files_resolve(model, dir, &files, &err) != SPECX_OK ||
        sx_xnn_open(files.cfg, files.weights, files.names, 1, 0, &x, &err) != SPECX_OK) {
        fprintf(stderr, "specx bench detect: profile %s: %s\n", model, err.msg);
        return;
    }
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; i < o->warmup; i++) {
        specx_detections_reset(&d);
        sx_xnn_detect(x, img, 0.25f, 0.45f, NULL, &d, &err);
    }
    sx_xnn_profile(x, true);
    for (int i = 0; i < o->frames; i++) {
        specx_detections_reset(&d);
        sx_xnn_detect(x, img, 0.25f, 0.45f, NULL, &d, &err);
    }
    printf("\nper-layer profile: %s, xnnpack, 1 thread, %d frames (%.3f GFLOP/frame)\n", model,
           o->frames, sx_xnn_gflops(x));
    sx_xnn_profile_print(x, stdout);
    specx_detections_clear(&d);
    sx_xnn_close(x);
}

int specx_bench_detect(int argc, char **argv)
{
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    specx_image img;
    if ((o.image != NULL ? read_ppm(o.image, &img) : synthetic_frame(&img)) != 0) {
        return 1;
    }
    printf("specx bench detect: %dx%d frame (%s), %d warm-up + %d timed frames per xnnpack "
           "configuration, %d darknet frames; default backend: %s\n",
           img.width, img.height, o.image != NULL ? o.image : "synthetic", o.warmup, o.frames,
           o.darknet_frames, specx_detector_default_backend());
    /* min is shown because the machine is shared: it is the least disturbed run */
    printf("%-26s %-8s %7s %8s %8s %8s %10s %5s\n", "model", "backend", "threads", "min ms",
           "p50 ms", "p99 ms", "vs darknet", "boxes");
    int failures = 0;
    for (int m = 0; m < o.nmodels; m++) {
        const char *model = o.models[m];
        double dn_p50 = 0;
        if (o.darknet_frames > 0) {
            specx_detector *det = open_det(&o, model, "darknet", 1);
            result r;
            if (det != NULL && time_detector(det, &img, 1, o.darknet_frames, &r) == 0) {
                dn_p50 = r.p50;
                printf("%-26s %-8s %7d %8.2f %8.2f %8.2f %10s %5zu\n", model, "darknet", 1, r.min,
                       r.p50, r.p99, "1.0x", r.dets);
                if (o.csv) {
                    printf("csv,%s,darknet,1,%.3f,%.3f,%.3f,1.0\n", model, r.min, r.p50, r.p99);
                }
            } else {
                failures++;
            }
            specx_detector_close(det);
        }
        for (int t = 0; t < o.nthreads; t++) {
            specx_detector *det = open_det(&o, model, "xnnpack", o.threads[t]);
            result r;
            if (det == NULL || time_detector(det, &img, o.warmup, o.frames, &r) != 0) {
                failures++;
                specx_detector_close(det);
                continue;
            }
            char ratio[32] = "-";
            if (dn_p50 > 0) {
                snprintf(ratio, sizeof ratio, "%.1fx", dn_p50 / r.p50);
            }
            printf("%-26s %-8s %7d %8.2f %8.2f %8.2f %10s %5zu\n", model, "xnnpack", o.threads[t],
                   r.min, r.p50, r.p99, ratio, r.dets);
            if (o.csv) {
                printf("csv,%s,xnnpack,%d,%.3f,%.3f,%.3f,%.2f\n", model, o.threads[t], r.min, r.p50,
                       r.p99, dn_p50 > 0 ? dn_p50 / r.p50 : 0.0);
            }
            specx_detector_close(det);
        }
    }
    if (o.profile) {
        for (int m = 0; m < o.nmodels; m++) {
            profile_model(&o, o.models[m], &img);
        }
    }
    specx_image_clear(&img);
    return failures > 0 ? 1 : 0;
}
