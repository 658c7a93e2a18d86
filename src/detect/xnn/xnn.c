/* xnn.c — the XNNPACK detector engine: darknet letterbox, network run, yolo
 * box decoding and per-class NMS with darknet's semantics.
 *
 * Design notes: the pre- and post-processing reproduce Debian's darknet
 * (letterbox_image with its two-pass bilinear resize_image and 0.5 grey
 * fill; get_yolo_detections, correct_yolo_boxes and do_nms_sort), including
 * where it computes in double, so that both backends return the same boxes.
 * Decoding only takes the logistic of a cell's box and classes once its
 * objectness passed the threshold; the full darknet-layout tensor is built
 * only on request (sx_xnn_yolo_output, for the agreement tests). */
#include "detect/xnn/xnn.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/xnn/xnn_calib.h"
#include "detect/xnn/xnn_model.h"
#include "detect/xnn/xnn_net.h"

struct sx_xnn {
    sx_xnn_model model;
    sx_xnn_net *net;
    sx_xnn_precision precision;
    double calib_width; /* int8: the method's parameter calibration settled on */
    int classes;
    char **names;
    int nnames;
    char *names_buf;
    /* decoding scratch, grown as needed */
    struct det *dets;
    float *probs;
    size_t det_cap;
    int *order;
    int *emit;
    float *lb_scratch;
    int *lb_ix;
    size_t lb_cap;
};

typedef struct det {
    float x, y, w, h;
    float objectness;
    float *prob;
} det;

static float lut255[256];

static void init_lut(void)
{
    /* darknet's OpenCV loader stores byte / 255. (a double) as float */
    for (int i = 0; i < 256; i++) {
        lut255[i] = (float)(i / 255.);
    }
}

static specx_status load_names(sx_xnn *x, const char *path, specx_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return specx_err_set(err, errno == ENOENT ? SPECX_ENOTFOUND : SPECX_EIO, "%s: %s", path,
                             strerror(errno));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf != NULL && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (b == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    buf[len] = '\0';
    int lines = 1;
    for (size_t i = 0; i < len; i++) {
        lines += buf[i] == '\n';
    }
    x->names = calloc((size_t)lines, sizeof *x->names);
    if (x->names == NULL) {
        free(buf);
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    x->names_buf = buf;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ')) {
            line[--n] = '\0';
        }
        x->names[x->nnames++] = line;
    }
    if (x->nnames < x->classes) {
        return specx_err_set(err, SPECX_EFORMAT, "%s: %d names for a model with %d classes", path,
                             x->nnames, x->classes);
    }
    return SPECX_OK;
}

static specx_status calibrate(sx_xnn *x, const sx_xnn_opts *o, sx_xnn_ranges *ranges,
                              specx_err *err);

static specx_status check_opts(const sx_xnn_opts *o, specx_err *err)
{
    if (o->threads < 1 || o->threads > 64) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: threads must be 1..64, got %d",
                             o->threads);
    }
    if (o->precision != SX_XNN_FP32 && o->precision != SX_XNN_INT8) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: unknown precision %d", (int)o->precision);
    }
    if (o->ncalib < 0 || (o->ncalib > 0 && o->calib == NULL)) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: bad calibration image list");
    }
    return SPECX_OK;
}

/* The network of x in the precision asked for (int8: calibrated first). */
static specx_status build_net(sx_xnn *x, const sx_xnn_opts *o, specx_err *err)
{
    sx_xnn_ranges ranges = {0};
    specx_status st = SPECX_OK;
    if (o->precision == SX_XNN_INT8) {
        st = calibrate(x, o, &ranges, err);
    }
    if (st == SPECX_OK) {
        sx_xnn_net_opts no = {
            .threads = o->threads, .flags = o->flags, .precision = o->precision, .ranges = &ranges};
        st = sx_xnn_net_create(&x->model, &no, &x->net, err);
    }
    sx_xnn_ranges_clear(&ranges);
    x->precision = o->precision;
    return st;
}

specx_status sx_xnn_open(const char *cfg, const char *weights, const char *names,
                         const sx_xnn_opts *opts, sx_xnn **out, specx_err *err)
{
    if (cfg == NULL || weights == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: cfg and weights are required");
    }
    sx_xnn_opts o = opts != NULL ? *opts : (sx_xnn_opts){0};
    o.threads = o.threads == 0 ? 1 : o.threads;
    specx_status st = check_opts(&o, err);
    if (st != SPECX_OK) {
        return st;
    }
    init_lut();
    sx_xnn *x = calloc(1, sizeof *x);
    if (x == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    st = sx_xnn_model_load(&x->model, cfg, weights, err);
    if (st == SPECX_OK) {
        st = build_net(x, &o, err);
    }
    if (st == SPECX_OK && sx_xnn_net_yolo_count(x->net) == 0) {
        st = specx_err_set(err, SPECX_EUNSUPPORTED, "%s: the network has no [yolo] layer", cfg);
    }
    if (st == SPECX_OK) {
        x->classes = sx_xnn_net_yolo_layer(x->net, 0)->classes;
        for (int k = 1; k < sx_xnn_net_yolo_count(x->net); k++) {
            if (sx_xnn_net_yolo_layer(x->net, k)->classes != x->classes) {
                st = specx_err_set(err, SPECX_EUNSUPPORTED,
                                   "%s: [yolo] layers disagree on the number of classes", cfg);
            }
        }
    }
    if (st == SPECX_OK && names != NULL && names[0] != '\0') {
        st = load_names(x, names, err);
    }
    if (st != SPECX_OK) {
        sx_xnn_close(x);
        return st;
    }
    *out = x;
    return SPECX_OK;
}

void sx_xnn_close(sx_xnn *x)
{
    if (x == NULL) {
        return;
    }
    sx_xnn_net_destroy(x->net);
    sx_xnn_model_clear(&x->model);
    free(x->names);
    free(x->names_buf);
    free(x->dets);
    free(x->probs);
    free(x->order);
    free(x->emit);
    free(x->lb_scratch);
    free(x->lb_ix);
    free(x);
}

void sx_xnn_input_size(const sx_xnn *x, int *width, int *height)
{
    *width = x->model.width;
    *height = x->model.height;
}

int sx_xnn_num_classes(const sx_xnn *x)
{
    return x->classes;
}

sx_xnn_precision sx_xnn_get_precision(const sx_xnn *x)
{
    return x->precision;
}

double sx_xnn_calib_param(const sx_xnn *x)
{
    return x->calib_width;
}

double sx_xnn_gflops(const sx_xnn *x)
{
    return x->model.flops / 1e9;
}

/* ---- letterbox ---------------------------------------------------------- */

/* Horizontal pass of darknet's resize_image for source row y into part
 * (new_w pixels x 3). */
static void resize_row(const specx_image *img, int y, int new_w, const int *ix, const float *dx,
                       float *part)
{
    const uint8_t *row = img->data + (size_t)y * img->stride;
    const uint8_t *lastpx = row + (size_t)(img->width - 1) * 3;
    /* darknet copies the last column (and every column of a 1-wide image) */
    int n = img->width == 1 ? 0 : new_w - 1;
    for (int c = 0; c < n; c++) {
        const uint8_t *p = row + (size_t)ix[c] * 3;
        float d = dx[c], e = 1 - d;
        part[c * 3 + 0] = e * lut255[p[0]] + d * lut255[p[3]];
        part[c * 3 + 1] = e * lut255[p[1]] + d * lut255[p[4]];
        part[c * 3 + 2] = e * lut255[p[2]] + d * lut255[p[5]];
    }
    for (int c = n; c < new_w; c++) {
        part[c * 3 + 0] = lut255[lastpx[0]];
        part[c * 3 + 1] = lut255[lastpx[1]];
        part[c * 3 + 2] = lut255[lastpx[2]];
    }
}

/* Writes the letterboxed image as NHWC floats (W x H x 3). scratch holds
 * 7 * W floats, ix W ints. */
static void letterbox(const specx_image *img, int W, int H, float *dst, float *scratch, int *ix)
{
    int new_w, new_h;
    if ((float)W / img->width < (float)H / img->height) {
        new_w = W;
        new_h = (img->height * W) / img->width;
    } else {
        new_h = H;
        new_w = (img->width * H) / img->height;
    }
    if (new_w < 1) {
        new_w = 1;
    }
    if (new_h < 1) {
        new_h = 1;
    }
    int ox = (W - new_w) / 2, oy = (H - new_h) / 2;
    float *rows[2] = {scratch, scratch + (size_t)W * 3};
    int have[2] = {-1, -1};
    float *dxs = scratch + (size_t)W * 6;
    float w_scale = new_w > 1 ? (float)(img->width - 1) / (new_w - 1) : 0.0f;
    float h_scale = new_h > 1 ? (float)(img->height - 1) / (new_h - 1) : 0.0f;
    for (int c = 0; c < new_w; c++) {
        float sx = c * w_scale;
        ix[c] = (int)sx;
        dxs[c] = sx - ix[c];
    }
    for (int y = 0; y < H; y++) {
        int r = y - oy;
        if (r < 0 || r >= new_h) {
            for (size_t i = 0; i < (size_t)W * 3; i++) {
                dst[(size_t)y * W * 3 + i] = 0.5f;
            }
            continue;
        }
        float sy = r * h_scale;
        int iy = (int)sy;
        float dy = sy - iy;
        bool second = !(r == new_h - 1 || img->height == 1);
        const float *p[2] = {NULL, NULL};
        for (int t = 0; t < (second ? 2 : 1); t++) {
            int want = iy + t;
            int slot = have[0] == want ? 0 : have[1] == want ? 1 : -1;
            if (slot < 0) {
                /* evict a row that this output row does not need */
                int keep = t == 0 ? iy + 1 : iy;
                slot = have[0] == keep ? 1 : have[1] == keep ? 0 : have[0] < have[1] ? 0 : 1;
                resize_row(img, want, new_w, ix, dxs, rows[slot]);
                have[slot] = want;
            }
            p[t] = rows[slot];
        }
        float *d = dst + (size_t)y * W * 3;
        for (int i = 0; i < ox * 3; i++) {
            d[i] = 0.5f;
        }
        float *m = d + (size_t)ox * 3;
        const float *p0 = p[0], *p1 = p[1];
        float e = 1 - dy;
        if (second) {
            for (int i = 0; i < new_w * 3; i++) {
                float val = e * p0[i];
                m[i] = val + dy * p1[i];
            }
        } else {
            for (int i = 0; i < new_w * 3; i++) {
                m[i] = e * p0[i];
            }
        }
        for (int i = (ox + new_w) * 3; i < W * 3; i++) {
            d[i] = 0.5f;
        }
    }
}

static specx_status check_image(const specx_image *img, specx_err *err)
{
    if (img == NULL || img->data == NULL || img->width < 1 || img->height < 1 ||
        img->stride < 3 * img->width) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: no image or a bad image layout");
    }
    return SPECX_OK;
}

/* Letterbox scratch: 7 * W floats (two resized rows, the x fractions) and
 * W ints (the x indices). */
static bool lb_scratch(sx_xnn *x, int W)
{
    size_t need = (size_t)W;
    if (x->lb_cap < need) {
        float *p = realloc(x->lb_scratch, need * 7 * sizeof(float));
        if (p == NULL) {
            return false;
        }
        x->lb_scratch = p;
        int *q = realloc(x->lb_ix, need * sizeof(int));
        if (q == NULL) {
            return false;
        }
        x->lb_ix = q;
        x->lb_cap = need;
    }
    return true;
}

specx_status sx_xnn_letterbox_chw(const specx_image *img, int width, int height, float *dst,
                                  specx_err *err)
{
    specx_status st = check_image(img, err);
    if (st != SPECX_OK) {
        return st;
    }
    init_lut();
    size_t plane = (size_t)width * height;
    float *scratch = malloc((size_t)width * 7 * sizeof(float));
    int *ix = malloc((size_t)width * sizeof(int));
    float *nhwc = malloc(plane * 3 * sizeof(float));
    if (scratch == NULL || ix == NULL || nhwc == NULL) {
        free(scratch);
        free(ix);
        free(nhwc);
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    /* the same code as the network input, then transposed */
    letterbox(img, width, height, nhwc, scratch, ix);
    for (size_t i = 0; i < plane; i++) {
        for (int k = 0; k < 3; k++) {
            dst[k * plane + i] = nhwc[i * 3 + k];
        }
    }
    free(scratch);
    free(ix);
    free(nhwc);
    return SPECX_OK;
}

/* Letterbox img into the network input and run the network. */
static specx_status forward(sx_xnn *x, const specx_image *img, const atomic_bool *cancel,
                            specx_err *err)
{
    specx_status st = check_image(img, err);
    if (st != SPECX_OK) {
        return st;
    }
    if (!lb_scratch(x, x->model.width)) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    letterbox(img, x->model.width, x->model.height, sx_xnn_net_input(x->net), x->lb_scratch,
              x->lb_ix);
    return sx_xnn_net_run(x->net, cancel, err);
}

/* int8 ranges (xnn_calib.c) from the calibration images, letterboxed as
 * the network sees them. */
static specx_status calibrate(sx_xnn *x, const sx_xnn_opts *o, sx_xnn_ranges *ranges,
                              specx_err *err)
{
    size_t in_len = (size_t)x->model.width * x->model.height * 3;
    float **inputs = calloc((size_t)o->ncalib + 1, sizeof *inputs);
    specx_status st = inputs != NULL && lb_scratch(x, x->model.width)
                          ? SPECX_OK
                          : specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    for (int i = 0; i < o->ncalib && st == SPECX_OK; i++) {
        st = check_image(&o->calib[i], err);
        inputs[i] = st == SPECX_OK ? malloc(in_len * sizeof(float)) : NULL;
        if (st == SPECX_OK && inputs[i] == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
        }
        if (st == SPECX_OK) {
            letterbox(&o->calib[i], x->model.width, x->model.height, inputs[i], x->lb_scratch,
                      x->lb_ix);
        }
    }
    if (st == SPECX_OK) {
        st = sx_xnn_calibrate(&x->model, (const float *const *)inputs, o->ncalib, o->calib_method,
                              o->calib_param, o->flags, ranges, &x->calib_width, err);
    }
    for (int i = 0; inputs != NULL && i < o->ncalib; i++) {
        free(inputs[i]);
    }
    free(inputs);
    return st;
}

specx_status sx_xnn_forward_image(sx_xnn *x, const specx_image *img, specx_err *err)
{
    return forward(x, img, NULL, err);
}

specx_status sx_xnn_forward_chw(sx_xnn *x, const float *chw, specx_err *err)
{
    size_t plane = (size_t)x->model.width * x->model.height;
    float *in = sx_xnn_net_input(x->net);
    for (size_t i = 0; i < plane; i++) {
        for (int k = 0; k < 3; k++) {
            in[i * 3 + k] = chw[k * plane + i];
        }
    }
    return sx_xnn_net_run(x->net, NULL, err);
}

/* ---- raw outputs -------------------------------------------------------- */

static float logistic(float v)
{
    return (float)(1. / (1. + exp(-(double)v)));
}

int sx_xnn_yolo_count(const sx_xnn *x)
{
    return sx_xnn_net_yolo_count(x->net);
}

specx_status sx_xnn_yolo_output(const sx_xnn *x, int k, float **data, int *w, int *h, int *c,
                                specx_err *err)
{
    if (k < 0 || k >= sx_xnn_net_yolo_count(x->net)) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: no yolo layer %d", k);
    }
    const sx_xnn_layer *l = sx_xnn_net_yolo_layer(x->net, k);
    sx_xnn_view v = sx_xnn_net_yolo_view(x->net, k);
    size_t plane = (size_t)v.w * v.h;
    float *out = malloc(plane * (size_t)v.c * sizeof(float));
    if (out == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    int entries = l->classes + 5;
    for (size_t i = 0; i < plane; i++) {
        const float *px = v.p + i * v.stride;
        for (int ch = 0; ch < v.c; ch++) {
            int e = ch % entries;
            out[(size_t)ch * plane + i] = (e == 2 || e == 3) ? px[ch] : logistic(px[ch]);
        }
    }
    *data = out;
    *w = v.w;
    *h = v.h;
    *c = v.c;
    return SPECX_OK;
}

/* ---- decoding and NMS --------------------------------------------------- */

static specx_status reserve_dets(sx_xnn *x, size_t n)
{
    if (n <= x->det_cap) {
        return SPECX_OK;
    }
    size_t cap = x->det_cap ? x->det_cap : 64;
    while (cap < n) {
        cap *= 2;
    }
    det *d = realloc(x->dets, cap * sizeof *d);
    if (d == NULL) {
        return SPECX_ENOMEM;
    }
    x->dets = d;
    float *p = realloc(x->probs, cap * (size_t)x->classes * sizeof *p);
    if (p == NULL) {
        return SPECX_ENOMEM;
    }
    x->probs = p;
    int *o = realloc(x->order, cap * sizeof *o);
    if (o == NULL) {
        return SPECX_ENOMEM;
    }
    x->order = o;
    int *e = realloc(x->emit, cap * sizeof *e);
    if (e == NULL) {
        return SPECX_ENOMEM;
    }
    x->emit = e;
    x->det_cap = cap;
    return SPECX_OK;
}

static float overlap(float x1, float w1, float x2, float w2)
{
    float l1 = x1 - w1 / 2;
    float l2 = x2 - w2 / 2;
    float left = l1 > l2 ? l1 : l2;
    float r1 = x1 + w1 / 2;
    float r2 = x2 + w2 / 2;
    float right = r1 < r2 ? r1 : r2;
    return right - left;
}

static float box_iou(const det *a, const det *b)
{
    float w = overlap(a->x, a->w, b->x, b->w);
    float h = overlap(a->y, a->h, b->y, b->h);
    float inter = (w < 0 || h < 0) ? 0 : w * h;
    float uni = a->w * a->h + b->w * b->h - inter;
    return inter / uni;
}

typedef struct sort_ctx {
    const det *dets;
    int k;
} sort_ctx;

static _Thread_local sort_ctx g_sort;

/* by prob[k] descending, ties by index so the order is deterministic */
static int by_prob(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    float fa = g_sort.dets[a].prob[g_sort.k], fb = g_sort.dets[b].prob[g_sort.k];
    if (fa != fb) {
        return fa < fb ? 1 : -1;
    }
    return (a > b) - (a < b);
}

/* Collects candidates of every yolo layer; returns the count in *n. */
static specx_status decode(sx_xnn *x, float thresh, int imw, int imh, size_t *n)
{
    int netw = x->model.width, neth = x->model.height;
    size_t count = 0;
    for (int k = 0; k < sx_xnn_net_yolo_count(x->net); k++) {
        const sx_xnn_layer *l = sx_xnn_net_yolo_layer(x->net, k);
        sx_xnn_view v = sx_xnn_net_yolo_view(x->net, k);
        int entries = l->classes + 5;
        for (int i = 0; i < v.w * v.h; i++) {
            int row = i / v.w, col = i % v.w;
            const float *px = v.p + (size_t)i * v.stride;
            for (int a = 0; a < l->n_mask; a++) {
                const float *e = px + a * entries;
                float obj = logistic(e[4]);
                if (obj <= thresh) {
                    continue;
                }
                if (reserve_dets(x, count + 1) != SPECX_OK) {
                    return SPECX_ENOMEM;
                }
                det *d = &x->dets[count];
                d->prob = x->probs + count * (size_t)x->classes;
                int m = l->mask[a];
                d->x = (col + logistic(e[0])) / v.w;
                d->y = (row + logistic(e[1])) / v.h;
                d->w = (float)(exp((double)e[2]) * l->anchors[2 * m] / netw);
                d->h = (float)(exp((double)e[3]) * l->anchors[2 * m + 1] / neth);
                d->objectness = obj;
                for (int j = 0; j < l->classes; j++) {
                    float prob = obj * logistic(e[5 + j]);
                    d->prob[j] = prob > thresh ? prob : 0;
                }
                count++;
            }
        }
    }
    /* the probability rows may have moved while growing */
    for (size_t i = 0; i < count; i++) {
        x->dets[i].prob = x->probs + i * (size_t)x->classes;
    }
    /* correct_yolo_boxes: undo the letterbox (relative coordinates) */
    int new_w, new_h;
    if ((float)netw / imw < (float)neth / imh) {
        new_w = netw;
        new_h = (imh * netw) / imw;
    } else {
        new_h = neth;
        new_w = (imw * neth) / imh;
    }
    for (size_t i = 0; i < count; i++) {
        det *d = &x->dets[i];
        d->x = (float)((d->x - (netw - new_w) / 2. / netw) / ((float)new_w / netw));
        d->y = (float)((d->y - (neth - new_h) / 2. / neth) / ((float)new_h / neth));
        d->w *= (float)netw / new_w;
        d->h *= (float)neth / new_h;
    }
    *n = count;
    return SPECX_OK;
}

static void nms(sx_xnn *x, size_t n, float thresh)
{
    for (int k = 0; k < x->classes; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (x->dets[i].prob[k] > 0) {
                x->order[m++] = (int)i;
            }
        }
        if (m == 0) {
            continue;
        }
        g_sort = (sort_ctx){x->dets, k};
        qsort(x->order, m, sizeof *x->order, by_prob);
        for (size_t i = 0; i < m; i++) {
            const det *a = &x->dets[x->order[i]];
            if (a->prob[k] == 0) {
                continue;
            }
            for (size_t j = i + 1; j < m; j++) {
                det *b = &x->dets[x->order[j]];
                if (box_iou(a, b) > thresh) {
                    b->prob[k] = 0;
                }
            }
        }
    }
}

/* darknet's do_nms_sort sorts the whole array once per class, k = 0..C-1,
 * with glibc's qsort, a merge sort and so stable; the order it leaves is
 * that of the last sort, ties broken by the previous ones: probabilities of
 * class C-1 descending, then C-2, ..., then the original order. Reproducing
 * it makes both backends list the same detections in the same order. */
static int by_darknet_order(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    const float *fa = g_sort.dets[a].prob, *fb = g_sort.dets[b].prob;
    for (int k = g_sort.k - 1; k >= 0; k--) {
        if (fa[k] != fb[k]) {
            return fa[k] < fb[k] ? 1 : -1;
        }
    }
    return (a > b) - (a < b);
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

specx_status sx_xnn_detect(sx_xnn *x, const specx_image *img, float thresh, float nms_thresh,
                           const atomic_bool *cancel, specx_detections *out, specx_err *err)
{
    specx_status st = forward(x, img, cancel, err);
    if (st != SPECX_OK) {
        return st;
    }
    size_t n = 0;
    if (decode(x, thresh, img->width, img->height, &n) != SPECX_OK) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory decoding boxes");
    }
    for (size_t i = 0; i < n; i++) {
        x->emit[i] = (int)i;
    }
    if (nms_thresh > 0) {
        if (n > 1) {
            g_sort = (sort_ctx){x->dets, x->classes};
            qsort(x->emit, n, sizeof *x->emit, by_darknet_order);
        }
        nms(x, n, nms_thresh);
    }
    /* pixel edges clamped to the last row/column, as the darknet backend */
    float wmax = (float)(img->width - 1), hmax = (float)(img->height - 1);
    for (size_t i = 0; i < n; i++) {
        const det *d = &x->dets[x->emit[i]];
        for (int j = 0; j < x->classes; j++) {
            if (!(d->prob[j] > thresh)) {
                continue;
            }
            specx_detection o = {.class_id = j, .score = d->prob[j]};
            if (x->names != NULL) {
                snprintf(o.label, sizeof o.label, "%s", x->names[j]);
            } else {
                snprintf(o.label, sizeof o.label, "class %d", j);
            }
            o.xmin = clampf((d->x - d->w / 2) * img->width, 0, wmax);
            o.xmax = clampf((d->x + d->w / 2) * img->width, 0, wmax);
            o.ymin = clampf((d->y - d->h / 2) * img->height, 0, hmax);
            o.ymax = clampf((d->y + d->h / 2) * img->height, 0, hmax);
            st = specx_detections_push(out, &o);
            if (st != SPECX_OK) {
                return specx_err_set(err, st, "xnnpack: out of memory");
            }
        }
    }
    return SPECX_OK;
}

void sx_xnn_set_observer(sx_xnn *x, sx_xnn_observer fn, void *ctx)
{
    sx_xnn_net_set_observer(x->net, fn, ctx);
}

void sx_xnn_profile(sx_xnn *x, bool on)
{
    sx_xnn_net_set_profile(x->net, on);
}

void sx_xnn_profile_reset(sx_xnn *x)
{
    sx_xnn_net_profile_reset(x->net);
}

void sx_xnn_profile_print(const sx_xnn *x, FILE *f)
{
    sx_xnn_net_profile_print(x->net, f);
}
