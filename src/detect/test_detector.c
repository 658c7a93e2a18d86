/* test_detector.c — the built-in "test" detector: simulated compute time with
 * cancellation checkpoints, boxes over the whole image. No model files. */
#include "detect/test_detector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct test_det {
    int delay_ms;
    bool fail;
    bool delay_from_width; /* delay = image width in ms (out-of-order replies) */
    int boxes;             /* boxes per reply (reply size for benchmarks) */
} test_det;

static specx_status test_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    test_det *t = impl;
    int delay_ms = t->delay_from_width ? img->width : t->delay_ms;
    /* Stands in for a network's layers: 1 ms of "compute" per slice, with a
     * cancellation checkpoint between slices, as darknet checks between layers.
     * Slice i ends at start + (i + 1) ms on an absolute schedule, so the whole
     * takes delay_ms plus one wake-up, however late each slice wakes (relative
     * sleeps would add every wake-up: 20 ms became 25 on a loaded machine). */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < delay_ms; i++) {
        if (cancel != NULL && atomic_load(cancel)) {
            return specx_err_set(err, SPECX_ECANCELED, "test detector: cancelled after %d ms", i);
        }
        long long ns = t0.tv_nsec + (long long)(i + 1) * 1000000;
        struct timespec until = {.tv_sec = t0.tv_sec + (time_t)(ns / 1000000000),
                                 .tv_nsec = (long)(ns % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
        }
    }
    if (cancel != NULL && atomic_load(cancel)) {
        return specx_err_set(err, SPECX_ECANCELED, "test detector: cancelled");
    }
    if (t->fail) {
        return specx_err_set(err, SPECX_EINTERNAL, "test detector: failing on purpose (fail=1)");
    }
    for (int i = 0; i < t->boxes; i++) {
        specx_detection d = {.class_id = i,
                             .score = 1.0f / (float)(i + 1),
                             .xmin = 0,
                             .ymin = 0,
                             .xmax = (float)img->width,
                             .ymax = (float)img->height};
        snprintf(d.label, sizeof d.label, "test");
        specx_status st = specx_detections_push(out, &d);
        if (st != SPECX_OK) {
            return specx_err_set(err, st, "test detector: out of memory");
        }
    }
    return SPECX_OK;
}

static void test_destroy(void *impl)
{
    free(impl);
}

static const specx_detector_ops test_ops = {.detect = test_detect, .destroy = test_destroy};

bool sx_detect_test_model(const char *model, const char **spec)
{
    if (model == NULL || strncmp(model, "test", 4) != 0 || (model[4] != '\0' && model[4] != ':')) {
        return false;
    }
    *spec = model[4] == ':' ? model + 5 : "";
    return true;
}

specx_status sx_detect_test_open(const char *spec, specx_detector **out, specx_err *err)
{
    test_det *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "test detector: out of memory");
    }
    t->boxes = 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec != NULL ? spec : "");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        int v;
        char extra;
        if (sscanf(tok, "delay_ms=%d%c", &v, &extra) == 1 && v >= 0 && v <= 600000) {
            t->delay_ms = v;
        } else if (sscanf(tok, "fail=%d%c", &v, &extra) == 1) {
            t->fail = v != 0;
        } else if (sscanf(tok, "delay_from_width=%d%c", &v, &extra) == 1) {
            t->delay_from_width = v != 0;
        } else if (sscanf(tok, "boxes=%d%c", &v, &extra) == 1 && v >= 0 && v <= 10000) {
            t->boxes = v;
        } else {
            free(t);
            return specx_err_set(err, SPECX_EINVAL,
                                 "test detector: bad option '%s' (known: delay_ms=N, fail=0|1, "
                                 "boxes=N, delay_from_width=0|1)",
                                 tok);
        }
    }
    specx_detector_info info = {.input_width = 0, .input_height = 0, .num_classes = 1};
    snprintf(info.model, sizeof info.model, "test");
    snprintf(info.backend, sizeof info.backend, "test");
    specx_status st = specx_detector_wrap(&test_ops, t, &info, out);
    if (st != SPECX_OK) {
        free(t);
        return specx_err_set(err, st, "test detector: %s", specx_strerror(st));
    }
    return SPECX_OK;
}
