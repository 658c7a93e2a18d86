/* test_darknet.c — the darknet backend against the `darknet detector test`
 * CLI (labels, scores) and against darknet's own library path (boxes),
 * cancellation checkpoints, and the raw YOLO-output hook. */
#include <darknet.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/detector.h"

#include "darknet_backend.h"

#define DOG "/usr/share/darknet/data/dog.jpg"
#define THRESH 0.25f

typedef struct ref_det {
    char label[SPECX_LABEL_MAX];
    float score;
    float box[4]; /* xmin ymin xmax ymax; NAN when unknown (CLI) */
    int used;
} ref_det;

static const char *models_dir(void)
{
    static char buf[4096];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(buf, sizeof buf, "%s/models", a != NULL ? a : "../shared/assets");
    return buf;
}

/* dog.jpg through darknet's own loader (as the CLI reads it), as RGB8. */
static void load_dog(specx_image *img)
{
    image im = load_image_color(DOG, 0, 0);
    assert_non_null(im.data);
    assert_int_equal(specx_image_alloc(img, im.w, im.h), SPECX_OK);
    size_t plane = (size_t)im.w * (size_t)im.h;
    for (int y = 0; y < im.h; y++) {
        for (int x = 0; x < im.w; x++) {
            for (int c = 0; c < 3; c++) {
                float v = im.data[c * plane + (size_t)y * (size_t)im.w + (size_t)x];
                img->data[(size_t)y * (size_t)img->stride + 3 * (size_t)x + (size_t)c] =
                    (uint8_t)lrintf(v * 255.0f);
            }
        }
    }
    free_image(im);
}

static void open_model(const char *model, specx_detector **det)
{
    specx_detector_config cfg = {
        .model = model, .model_dir = models_dir(), .backend = "darknet", .threshold = THRESH};
    specx_err err = {{0}};
    specx_status st = specx_detector_open(&cfg, det, &err);
    if (st != SPECX_OK) {
        fail_msg("open %s: %s", model, specx_err_text(&err, st));
    }
}

/* Runs `darknet detector test` and parses its "label: NN%" lines. */
static int run_cli(const char *cfg, const char *weights, ref_det *out, int max)
{
    FILE *f = fopen("detect_coco.data", "w");
    assert_non_null(f);
    fprintf(f, "classes=80\nnames=%s/coco.names\n", models_dir());
    fclose(f);
    char cmd[8192];
    /* -out keeps the CLI from opening a window; offscreen Qt in case. */
    snprintf(cmd, sizeof cmd,
             "QT_QPA_PLATFORM=offscreen darknet detector test detect_coco.data '%s' '%s' '%s' "
             "-thresh %.2f -out detect_cli_predictions 2>/dev/null",
             cfg, weights, DOG, (double)THRESH);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int n = 0, predicted = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        if (strstr(line, "Predicted in") != NULL) {
            predicted = 1;
            continue;
        }
        char label[SPECX_LABEL_MAX];
        int pct = -1;
        if (sscanf(line, "%47[^:]: %d%%", label, &pct) == 2 && n < max) {
            snprintf(out[n].label, sizeof out[n].label, "%s", label);
            out[n].score = (float)pct / 100.0f;
            out[n].box[0] = NAN;
            out[n].used = 0;
            n++;
        }
    }
    int rc = pclose(p);
    if (rc != 0 || !predicted) {
        fail_msg("darknet CLI failed (status %d): %s", rc, cmd);
    }
    return n;
}

/* The CLI's own computation through libdarknet (load_network,
 * network_predict, get_network_boxes, do_nms_sort), with boxes as
 * draw_detections computes them. */
static int run_reference(const char *cfg, const char *weights, ref_det *out, int max)
{
    char c[4096], w[4096];
    /* The cfg with batch=1: darknet otherwise allocates every layer for the
     * training batch (32), which only costs time (the CLI's set_batch_network
     * makes inference batch 1 either way). */
    snprintf(c, sizeof c, "detect_reference_batch1.cfg");
    FILE *src = fopen(cfg, "r"), *dst = fopen(c, "w");
    assert_non_null(src);
    assert_non_null(dst);
    char buf[1024];
    while (fgets(buf, sizeof buf, src) != NULL) {
        if (strncmp(buf, "batch=", 6) == 0 || strncmp(buf, "subdivisions=", 13) == 0) {
            fputs(buf[0] == 'b' ? "batch=1\n" : "subdivisions=1\n", dst);
        } else {
            fputs(buf, dst);
        }
    }
    fclose(src);
    fclose(dst);
    snprintf(w, sizeof w, "%s", weights);
    network *net = load_network(c, w, 0);
    assert_non_null(net);
    set_batch_network(net, 1);
    image im = load_image_color(DOG, 0, 0);
    image sized = letterbox_image(im, net->w, net->h);
    network_predict(net, sized.data);
    int nboxes = 0;
    detection *dets = get_network_boxes(net, im.w, im.h, THRESH, 0.5f, NULL, 1, &nboxes);
    int classes = net->layers[net->n - 1].classes;
    do_nms_sort(dets, nboxes, classes, 0.45f);
    static const char *coco[80];
    FILE *f = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/coco.names", models_dir());
    f = fopen(path, "r");
    assert_non_null(f);
    char line[128];
    for (int i = 0; i < 80 && fgets(line, sizeof line, f) != NULL; i++) {
        line[strcspn(line, "\r\n")] = '\0';
        coco[i] = strdup(line);
    }
    fclose(f);
    int n = 0;
    for (int i = 0; i < nboxes; i++) {
        for (int j = 0; j < classes; j++) {
            if (dets[i].prob[j] > THRESH && n < max) {
                box b = dets[i].bbox;
                snprintf(out[n].label, sizeof out[n].label, "%s", coco[j]);
                out[n].score = dets[i].prob[j];
                out[n].box[0] = fmaxf((b.x - b.w / 2) * im.w, 0);
                out[n].box[1] = fmaxf((b.y - b.h / 2) * im.h, 0);
                out[n].box[2] = fminf((b.x + b.w / 2) * im.w, (float)(im.w - 1));
                out[n].box[3] = fminf((b.y + b.h / 2) * im.h, (float)(im.h - 1));
                out[n].used = 0;
                n++;
            }
        }
    }
    for (int i = 0; i < 80; i++) {
        free((void *)coco[i]);
    }
    free_detections(dets, nboxes);
    free_image(im);
    free_image(sized);
    free_network(net);
    return n;
}

/* Every reference entry has exactly one detection of ours with its label,
 * a score within tol and (if known) a box within 2 px, and vice versa. */
static void match(const char *what, ref_det *ref, int nref, const specx_detections *d, float tol)
{
    if ((size_t)nref != d->count) {
        fail_msg("%s: %d reference detections, backend gave %zu", what, nref, d->count);
    }
    for (size_t k = 0; k < d->count; k++) {
        const specx_detection *x = &d->items[k];
        int best = -1;
        float bestdiff = 1e9f;
        for (int i = 0; i < nref; i++) {
            float diff = fabsf(ref[i].score - x->score);
            if (!ref[i].used && strcmp(ref[i].label, x->label) == 0 && diff < bestdiff) {
                best = i;
                bestdiff = diff;
            }
        }
        if (best < 0 || bestdiff > tol) {
            fail_msg("%s: backend's %s %.3f has no reference counterpart within %.3f", what,
                     x->label, (double)x->score, (double)tol);
        }
        ref[best].used = 1;
        if (!isnan(ref[best].box[0])) {
            float ours[4] = {x->xmin, x->ymin, x->xmax, x->ymax};
            for (int c = 0; c < 4; c++) {
                if (fabsf(ours[c] - ref[best].box[c]) > 2.0f) {
                    fail_msg("%s: %s box coord %d: backend %.1f, reference %.1f", what, x->label, c,
                             (double)ours[c], (double)ref[best].box[c]);
                }
            }
        }
    }
}

static void agreement(const char *model, const char *cfgfile, const char *weightsfile)
{
    char cfg[4200], weights[4200];
    snprintf(cfg, sizeof cfg, "%s/%s", models_dir(), cfgfile);
    snprintf(weights, sizeof weights, "%s/%s", models_dir(), weightsfile);
    specx_detector *det = NULL;
    open_model(model, &det);
    specx_image img;
    load_dog(&img);
    specx_detections d;
    specx_detections_init(&d);
    specx_err err = {{0}};
    specx_status st = specx_detector_detect(det, &img, NULL, &d, &err);
    assert_int_equal(st, SPECX_OK);
    assert_true(d.count > 0);
    assert_string_equal(d.model, model);
    assert_int_equal(d.image_width, 768);
    assert_int_equal(d.image_height, 576);
    for (size_t k = 0; k < d.count; k++) {
        const specx_detection *x = &d.items[k];
        assert_true(x->class_id >= 0 && x->class_id < 80);
        assert_true(x->score > THRESH && x->score <= 1.0f);
        assert_true(x->xmin <= x->xmax && x->ymin <= x->ymax);
    }

    ref_det cli[64], ref[64];
    int ncli = run_cli(cfg, weights, cli, 64);
    /* The CLI prints whole percents: 0.01 plus half a percent of rounding. */
    match("CLI", cli, ncli, &d, 0.015f);
    int nref = run_reference(cfg, weights, ref, 64);
    match("libdarknet reference", ref, nref, &d, 0.01f);

    specx_detections_clear(&d);
    specx_image_clear(&img);
    specx_detector_close(det);
}

static void test_cli_agreement_fast(void **state)
{
    (void)state;
    agreement("yolo-fastest-1.1", "yolo-fastest-1.1.cfg", "yolo-fastest-1.1.weights");
}

static void test_cli_agreement_xl416(void **state)
{
    (void)state;
    /* -416 uses the xl weights with its own cfg. */
    agreement("yolo-fastest-1.1-xl-416", "yolo-fastest-1.1-xl-416.cfg",
              "yolo-fastest-1.1-xl.weights");
}

typedef struct hook_state {
    atomic_bool *flag;
    int cancel_at;
    int last_seen;
    int calls;
} hook_state;

static void hook(void *user, int layer_index, int layer_count)
{
    hook_state *h = user;
    assert_true(layer_index < layer_count);
    h->last_seen = layer_index;
    h->calls++;
    if (layer_index == h->cancel_at) {
        atomic_store(h->flag, true);
    }
}

static void test_cancel_between_layers(void **state)
{
    (void)state;
    char path[4200];
    sx_model_files files;
    memset(&files, 0, sizeof files);
    snprintf(files.name, sizeof files.name, "yolo-fastest-1.1");
    snprintf(files.cfg, sizeof files.cfg, "%s/yolo-fastest-1.1.cfg", models_dir());
    snprintf(files.weights, sizeof files.weights, "%s/yolo-fastest-1.1.weights", models_dir());
    snprintf(path, sizeof path, "%s/coco.names", models_dir());
    snprintf(files.names, sizeof files.names, "%s", path);
    sx_darknet *dn = NULL;
    specx_err err = {{0}};
    assert_int_equal(sx_darknet_load(&files, &dn, &err), SPECX_OK);
    specx_image img;
    load_dog(&img);

    specx_detections base, d;
    specx_detections_init(&base);
    specx_detections_init(&d);
    assert_int_equal(sx_darknet_detect(dn, &img, THRESH, 0.45f, NULL, &base, &err), SPECX_OK);
    assert_true(base.count > 0);

    atomic_bool flag = false;
    hook_state h = {.flag = &flag, .cancel_at = 10, .last_seen = -1};
    sx_darknet_set_layer_hook(dn, hook, &h);
    /* Cancelled mid-network: stops at the checkpoint right after the flag. */
    assert_int_equal(sx_darknet_detect(dn, &img, THRESH, 0.45f, &flag, &d, &err), SPECX_ECANCELED);
    assert_int_equal(h.last_seen, 10);
    assert_int_equal(h.calls, 11);
    assert_int_equal(d.count, 0);

    /* Already cancelled: no layer runs. */
    h.calls = 0;
    h.cancel_at = -1;
    assert_int_equal(sx_darknet_detect(dn, &img, THRESH, 0.45f, &flag, &d, &err), SPECX_ECANCELED);
    assert_int_equal(h.calls, 1);

    /* The network is intact afterwards: same detections as before. */
    atomic_store(&flag, false);
    h.calls = 0;
    assert_int_equal(sx_darknet_detect(dn, &img, THRESH, 0.45f, &flag, &d, &err), SPECX_OK);
    assert_true(h.calls > 100);
    assert_int_equal(d.count, base.count);
    for (size_t k = 0; k < d.count; k++) {
        assert_string_equal(d.items[k].label, base.items[k].label);
        assert_float_equal(d.items[k].score, base.items[k].score, 1e-6);
        assert_float_equal(d.items[k].xmin, base.items[k].xmin, 1e-3);
    }

    /* Raw outputs: two YOLO layers at strides 32 and 16 of 320; the letterbox
     * pads 768x576 to 320x240 centred (grey 0.5 bars of 40 rows); the best
     * objectness*class in the raw outputs is the best detection's score. */
    sx_darknet_set_layer_hook(dn, NULL, NULL);
    sx_yolo_outputs yo;
    assert_int_equal(sx_darknet_yolo_outputs(dn, &img, &yo, &err), SPECX_OK);
    assert_int_equal(yo.in_w, 320);
    assert_int_equal(yo.in_h, 320);
    assert_float_equal(yo.input[0], 0.5, 1e-6);
    assert_float_equal(yo.input[(size_t)160 * 320 + 160],
                       img.data[288 * img.stride + 3 * 384] / 255.0, 0.1);
    assert_int_equal(yo.n, 2);
    assert_int_equal(yo.layers[0].w, 10);
    assert_int_equal(yo.layers[1].w, 20);
    for (size_t i = 0; i < yo.n; i++) {
        const sx_yolo_output *o = &yo.layers[i];
        assert_int_equal(o->anchors, 3);
        assert_int_equal(o->classes, 80);
        assert_int_equal(o->count, (size_t)o->w * o->h * o->anchors * (5 + o->classes));
    }
    for (size_t k = 0; k < base.count; k++) {
        int cls = base.items[k].class_id;
        float best = 0;
        for (size_t i = 0; i < yo.n; i++) {
            const sx_yolo_output *o = &yo.layers[i];
            size_t cells = (size_t)o->w * o->h;
            for (int a = 0; a < o->anchors; a++) {
                const float *p = o->data + (size_t)a * (5 + o->classes) * cells;
                for (size_t c = 0; c < cells; c++) {
                    float obj = p[4 * cells + c];
                    float s = obj * p[(5 + (size_t)cls) * cells + c];
                    if (obj > THRESH && s > best) {
                        best = s;
                    }
                }
            }
        }
        float top = 0;
        for (size_t m = 0; m < base.count; m++) {
            if (base.items[m].class_id == cls && base.items[m].score > top) {
                top = base.items[m].score;
            }
        }
        assert_float_equal(best, top, 1e-5);
    }
    sx_yolo_outputs_free(&yo);
    sx_yolo_outputs_free(&yo); /* zeroed: safe twice */

    /* An image that letterboxes to 0 rows is refused, one that gives 1 row
     * works. */
    specx_image thin;
    assert_int_equal(specx_image_alloc(&thin, 2000, 1), SPECX_OK);
    assert_int_equal(sx_darknet_detect(dn, &thin, THRESH, 0.45f, NULL, &d, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "2000x1"));
    specx_image_clear(&thin);
    assert_int_equal(specx_image_alloc(&thin, 2000, 7), SPECX_OK);
    assert_int_equal(sx_darknet_detect(dn, &thin, THRESH, 0.45f, NULL, &d, &err), SPECX_OK);
    specx_image_clear(&thin);

    specx_detections_clear(&base);
    specx_detections_clear(&d);
    specx_image_clear(&img);
    sx_darknet_free(dn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_agreement_fast),
        cmocka_unit_test(test_cli_agreement_xl416),
        cmocka_unit_test(test_cancel_between_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
