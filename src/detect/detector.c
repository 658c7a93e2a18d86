/* detector.c — the detector handle: wraps a backend implementation behind
 * specx_detector_ops, with its static description. */
#include "specx/detector.h"

#include <stdlib.h>
#include <string.h>

struct specx_detector {
    const specx_detector_ops *ops;
    void *impl;
    specx_detector_info info;
};

specx_status specx_detector_wrap(const specx_detector_ops *ops, void *impl,
                                 const specx_detector_info *info, specx_detector **out)
{
    if (ops == NULL || ops->detect == NULL || info == NULL || out == NULL) {
        return SPECX_EINVAL;
    }
    specx_detector *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return SPECX_ENOMEM;
    }
    d->ops = ops;
    d->impl = impl;
    d->info = *info;
    *out = d;
    return SPECX_OK;
}

specx_status specx_detector_detect(specx_detector *det, const specx_image *img,
                                   const atomic_bool *cancel, specx_detections *out, specx_err *err)
{
    if (det == NULL || img == NULL || img->data == NULL || img->width < 1 || img->height < 1 ||
        out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "detect: no image or no output");
    }
    specx_detections_reset(out);
    specx_status st = det->ops->detect(det->impl, img, cancel, out, err);
    if (st == SPECX_OK) {
        if (out->model[0] == '\0') {
            memcpy(out->model, det->info.model, sizeof out->model);
        }
        out->image_width = img->width;
        out->image_height = img->height;
    }
    return st;
}

const specx_detector_info *specx_detector_get_info(const specx_detector *det)
{
    return &det->info;
}

void specx_detector_close(specx_detector *det)
{
    if (det == NULL) {
        return;
    }
    if (det->ops->destroy != NULL) {
        det->ops->destroy(det->impl);
    }
    free(det);
}
