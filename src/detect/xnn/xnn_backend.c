/* xnn_backend.c — the "xnnpack" detector backend: sx_xnn behind the
 * specx_detector interface. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/detector.h"

#include "backend.h"
#include "xnn.h"

typedef struct xnn_impl {
    sx_xnn *x;
    float thresh, nms;
} xnn_impl;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static specx_status xnn_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                               specx_detections *out, specx_err *err)
{
    xnn_impl *d = impl;
    double t0 = now_ms();
    specx_status st = sx_xnn_detect(d->x, img, d->thresh, d->nms, cancel, out, err);
    out->infer_ms = now_ms() - t0;
    return st;
}

static void xnn_destroy(void *impl)
{
    xnn_impl *d = impl;
    sx_xnn_close(d->x);
    free(d);
}

static const specx_detector_ops xnn_ops = {.detect = xnn_detect, .destroy = xnn_destroy};

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
    xnn_impl *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    d->thresh = cfg->threshold > 0 ? cfg->threshold : 0.25f;
    d->nms = cfg->nms > 0 ? cfg->nms : 0.45f;
    specx_status st = sx_xnn_open(files->cfg, files->weights, files->names,
                                  cfg->threads > 0 ? cfg->threads : 1, 0, &d->x, err);
    if (st != SPECX_OK) {
        free(d);
        return st;
    }
    specx_detector_info info = {0};
    snprintf(info.model, sizeof info.model, "%s", files->name);
    snprintf(info.backend, sizeof info.backend, "xnnpack");
    sx_xnn_input_size(d->x, &info.input_width, &info.input_height);
    info.num_classes = sx_xnn_num_classes(d->x);
    st = specx_detector_wrap(&xnn_ops, d, &info, out);
    if (st != SPECX_OK) {
        xnn_destroy(d);
        return specx_err_set(err, st, "xnnpack: out of memory");
    }
    return SPECX_OK;
}
