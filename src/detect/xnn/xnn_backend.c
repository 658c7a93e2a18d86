/* xnn_backend.c — the "xnnpack" detector backend: sx_xnn behind the
 * specx_detector interface, in fp32 or int8. int8 takes its activation
 * ranges from the batch-norm statistics in the weights, their width chosen
 * on a few unlabeled images: $SPECX_CALIB_DIR, else Debian darknet's
 * sample images (SPECX_XNN_CALIB_DIR), else a fixed width. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/codec.h"
#include "specx/detector.h"

#include "detect/backend.h"
#include "detect/xnn/xnn.h"

#ifndef SPECX_XNN_CALIB_DIR
#define SPECX_XNN_CALIB_DIR "/usr/share/darknet/data"
#endif

/* Enough images for the few layers they are needed for; more only make
 * opening slower. */
#define CALIB_MAX_IMAGES 16

typedef struct backend_impl {
    sx_xnn *x;
    float thresh, nms;
} backend_impl;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static specx_status backend_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                   specx_detections *out, specx_err *err)
{
    backend_impl *d = impl;
    double t0 = now_ms();
    specx_status st = sx_xnn_detect(d->x, img, d->thresh, d->nms, cancel, out, err);
    out->infer_ms = now_ms() - t0;
    return st;
}

static void backend_destroy(void *impl)
{
    backend_impl *d = impl;
    sx_xnn_close(d->x);
    free(d);
}

static const specx_detector_ops backend_ops = {.detect = backend_detect,
                                               .destroy = backend_destroy};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_image_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 4 && (strcmp(n + l - 4, ".jpg") == 0 || strcmp(n + l - 4, ".png") == 0)) ||
           (l > 5 && strcmp(n + l - 5, ".jpeg") == 0);
}

/* The first `max` JPEG/PNG files of dir by name. */
static specx_status load_calib(const char *dir, specx_image *imgs, int max, int *n, specx_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return specx_err_set(err, SPECX_ENOTFOUND, "xnnpack int8: cannot open SPECX_CALIB_DIR %s",
                             dir);
    }
    char *names[256] = {0};
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 256) {
        if (is_image_name(e->d_name) && (names[count] = strdup(e->d_name)) != NULL) {
            count++;
        }
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, cmp_name);
    specx_status st = SPECX_OK;
    *n = 0;
    for (int i = 0; i < count; i++) {
        if (st == SPECX_OK && *n < max) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            st = specx_image_load(path, &imgs[*n], err);
            *n += st == SPECX_OK;
        }
        free(names[i]);
    }
    if (st == SPECX_OK && *n == 0) {
        st = specx_err_set(err, SPECX_ENOTFOUND,
                           "xnnpack int8: no images (*.jpg, *.jpeg, *.png) in SPECX_CALIB_DIR %s",
                           dir);
    }
    return st;
}

specx_status sx_xnn_calib_images(specx_image *imgs, int max, int *n, specx_err *err)
{
    const char *dir = getenv("SPECX_CALIB_DIR");
    *n = 0;
    if (dir != NULL && dir[0] != '\0') {
        return load_calib(dir, imgs, max, n, err);
    }
    specx_err ignored = {0};
    if (load_calib(SPECX_XNN_CALIB_DIR, imgs, max, n, &ignored) != SPECX_OK) {
        /* optional: without images the width is fixed */
        for (int i = 0; i < *n; i++) {
            specx_image_clear(&imgs[i]);
        }
        *n = 0;
    }
    return SPECX_OK;
}

/* precision: NULL, "" or "fp32", or "int8". */
static specx_status parse_precision(const char *s, sx_xnn_precision *p, specx_err *err)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "fp32") == 0) {
        *p = SX_XNN_FP32;
    } else if (strcmp(s, "int8") == 0) {
        *p = SX_XNN_INT8;
    } else {
        return specx_err_set(err, SPECX_EINVAL,
                             "xnnpack: precision must be fp32 or int8 (got '%s')", s);
    }
    return SPECX_OK;
}

static specx_status open_engine(const sx_model_files *files, const specx_detector_config *cfg,
                                sx_xnn **x, specx_err *err)
{
    sx_xnn_opts o = {.threads = cfg->threads > 0 ? cfg->threads : 1};
    specx_status st = parse_precision(cfg->precision, &o.precision, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_image imgs[CALIB_MAX_IMAGES];
    int n = 0;
    if (o.precision == SX_XNN_INT8) {
        st = sx_xnn_calib_images(imgs, CALIB_MAX_IMAGES, &n, err);
    }
    o.calib = imgs;
    o.ncalib = n;
    if (st == SPECX_OK) {
        st = sx_xnn_open(files->cfg, files->weights, files->names, &o, x, err);
    }
    for (int i = 0; i < n; i++) {
        specx_image_clear(&imgs[i]);
    }
    return st;
}

specx_status sx_backend_xnnpack_open(const sx_model_files *files, const specx_detector_config *cfg,
                                     specx_detector **out, specx_err *err)
{
    if (files == NULL || cfg == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: missing model files or config");
    }
    if (cfg->threshold < 0 || cfg->threshold >= 1 || cfg->nms < 0 || cfg->nms > 1 ||
        cfg->threads < 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "xnnpack: threshold must be in [0,1), nms in [0,1], threads >= 0");
    }
    backend_impl *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    d->thresh = cfg->threshold > 0 ? cfg->threshold : 0.25f;
    d->nms = cfg->nms > 0 ? cfg->nms : 0.45f;
    specx_status st = open_engine(files, cfg, &d->x, err);
    if (st != SPECX_OK) {
        free(d);
        return st;
    }
    specx_detector_info info = {0};
    snprintf(info.model, sizeof info.model, "%s", files->name);
    snprintf(info.backend, sizeof info.backend, "%s",
             sx_xnn_get_precision(d->x) == SX_XNN_INT8 ? "xnnpack-int8" : "xnnpack");
    sx_xnn_input_size(d->x, &info.input_width, &info.input_height);
    info.num_classes = sx_xnn_num_classes(d->x);
    st = specx_detector_wrap(&backend_ops, d, &info, out);
    if (st != SPECX_OK) {
        backend_destroy(d);
        return specx_err_set(err, st, "xnnpack: out of memory");
    }
    return SPECX_OK;
}
