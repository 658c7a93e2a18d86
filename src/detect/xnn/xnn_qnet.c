/* xnn_qnet.c — the int8 ops of an sx_xnn_net: set-up from the model's fp32
 * weights and the buffers' quantization, and their runs over the pool.
 *
 * Design notes:
 * - A depthwise op (QK_DW) works through bands of output rows. Each task
 *   (one per thread: a contiguous range of rows) owns a float buffer of
 *   padded input rows: zero columns left and right, zero rows above and
 *   below the image, so the kernel never checks a border. The rows come
 *   either from the u8 input tensor (as q - z, the input scale folded into
 *   the weights) or, when the 1x1 convolution before it was fused in, from
 *   that convolution's GEMM with a float store (real values, never
 *   quantized). Rows the next band shares with this one are moved to the
 *   top of the buffer, not computed again; only the first band of a task
 *   recomputes its halo.
 * - GEMMs split pixels into tiles over the pool; row loops split rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/xnn/xnn_net_impl.h"
#include "detect/xnn/xnn_q8.h"

/* Input rows a depthwise band buffer holds, about this many bytes. */
#define DW_BAND_BYTES (192u << 10)
/* Pixels per GEMM task: enough to amortise a task, small enough to balance. */
#define GEMM_TILE_PIXELS 256

struct qop {
    sx_xnn_q8_gemm gemm; /* QK_GEMM, and QK_DW's fused 1x1 convolution */
    sx_xnn_q8_dw dw;
    sx_xnn_q8_stem stem;
    sx_xnn_q8_add add;
    uint8_t *lut;      /* c x 256 requantizing tables; NULL: identity */
    float *inv_s, *zo; /* QK_QUANT: [c] 1 / scale and zero point */
    /* resolved tensors; pixel strides in elements */
    const uint8_t *in, *in2;
    const float *in_f;
    size_t in_px, in2_px, out_px;
    uint8_t *out;
    float *out_f;
    int in_h, in_w, out_h, out_w, c;
    /* QK_DW */
    bool expand;
    const int32_t *in_z; /* the input tensor's zero points */
    int k, s, pad, band, tasks;
    size_t buf_row; /* floats per padded input row */
    float **bufs;   /* one per task */
};

static sx_xnn_q8_act q8_act(sx_xnn_act a)
{
    return a == SX_XNN_ACT_LEAKY  ? SX_XNN_Q8_LEAKY
           : a == SX_XNN_ACT_RELU ? SX_XNN_Q8_RELU
                                  : SX_XNN_Q8_LINEAR;
}

static const tbuf *buf_of(const sx_xnn_net *net, tview v)
{
    return &net->bufs[v.buf];
}

/* The u8 tensors an op reads and writes (or the floats of the network
 * input and of [yolo] inputs). */
static void resolve_q(const sx_xnn_net *net, const op *o, struct qop *q)
{
    const tbuf *bi = buf_of(net, o->in), *bo = buf_of(net, o->out), *b2 = buf_of(net, o->in2);
    q->in_px = (size_t)bi->c;
    if (bi->u8) {
        q->in = bi->q + o->in.coff;
    } else {
        q->in_f = bi->p + o->in.coff;
    }
    q->in2_px = (size_t)b2->c;
    q->in2 = b2->u8 ? b2->q + o->in2.coff : NULL;
    q->out_px = (size_t)bo->c;
    if (bo->u8) {
        q->out = bo->q + o->out.coff;
    } else {
        q->out_f = bo->p + o->out.coff;
    }
    q->in_h = bi->h;
    q->in_w = bi->w;
    q->out_h = bo->h;
    q->out_w = bo->w;
    q->c = o->out.c;
}

static specx_status build_dw(sx_xnn_net *net, op *o, struct qop *q, specx_err *err)
{
    const sx_xnn_layer *l = &net->m->layers[o->layer];
    const tbuf *bi = buf_of(net, o->in), *bo = buf_of(net, o->out);
    const float *s_in = bi->qs + o->in.coff;
    const int32_t *z_in = bi->qz + o->in.coff;
    float *ones = malloc((size_t)l->in_c * sizeof *ones);
    if (ones == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    for (int c = 0; c < l->in_c; c++) {
        ones[c] = 1.0f;
    }
    q->expand = o->pw_layer >= 0;
    specx_status st = SPECX_OK;
    if (q->expand) {
        /* the band holds the 1x1 convolution's real (float) outputs */
        const sx_xnn_layer *pl = &net->m->layers[o->pw_layer];
        st = sx_xnn_q8_gemm_init(&q->gemm, pl->in_c, pl->filters, pl->weights, pl->bias,
                                 q8_act(pl->act), s_in, z_in, true, NULL, NULL, net->simd);
    }
    q->in_z = z_in;
    q->k = l->size;
    q->s = l->stride;
    q->pad = l->pad;
    q->in_h = l->in_h;
    q->in_w = l->in_w;
    q->c = l->in_c;
    if (st == SPECX_OK) {
        st = sx_xnn_q8_dw_init(&q->dw, l->size, l->stride, l->in_c, l->weights, l->bias,
                               q8_act(l->act), q->expand ? ones : s_in, bo->qs + o->out.coff,
                               bo->qz + o->out.coff, net->simd);
    }
    free(ones);
    if (st != SPECX_OK) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    q->buf_row = (size_t)(l->in_w + 2 * l->pad) * (size_t)l->in_c;
    size_t rows = DW_BAND_BYTES / (q->buf_row * sizeof(float) * (size_t)l->stride);
    q->band = rows < 1 ? 1 : rows > (size_t)l->out_h ? l->out_h : (int)rows;
    q->tasks = net->threads < l->out_h ? net->threads : l->out_h;
    q->bufs = calloc((size_t)q->tasks, sizeof *q->bufs);
    if (q->bufs == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    size_t bytes =
        (((size_t)(q->band - 1) * l->stride + l->size) * q->buf_row * sizeof(float) + 63) / 64 * 64;
    for (int t = 0; t < q->tasks; t++) {
        q->bufs[t] = aligned_alloc(64, bytes);
        if (q->bufs[t] == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
        }
        memset(q->bufs[t], 0, bytes); /* the padding columns stay 0 */
    }
    return SPECX_OK;
}

/* A requantizing table between a u8 input and output, if they differ. */
static specx_status build_lut(const sx_xnn_net *net, const op *o, struct qop *q)
{
    const tbuf *bi = buf_of(net, o->in), *bo = buf_of(net, o->out);
    const float *si = bi->qs + o->in.coff, *so = bo->qs + o->out.coff;
    const int32_t *zi = bi->qz + o->in.coff, *zo = bo->qz + o->out.coff;
    if (!sx_xnn_q8_lut(o->out.c, si, zi, so, zo, NULL)) {
        return SPECX_OK;
    }
    q->lut = malloc((size_t)o->out.c * 256);
    if (q->lut == NULL) {
        return SPECX_ENOMEM;
    }
    sx_xnn_q8_lut(o->out.c, si, zi, so, zo, q->lut);
    return SPECX_OK;
}

specx_status sx_xnn_qop_build(sx_xnn_net *net, op *o, specx_err *err)
{
    const sx_xnn_layer *l = &net->m->layers[o->layer];
    struct qop *q = calloc(1, sizeof *q);
    if (q == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    o->q = q;
    resolve_q(net, o, q);
    const tbuf *bi = buf_of(net, o->in), *bo = buf_of(net, o->out), *b2 = buf_of(net, o->in2);
    specx_status st = SPECX_OK;
    const int ic = o->in.coff, oc = o->out.coff;
    switch (o->qk) {
    case QK_STEM:
        st = sx_xnn_q8_stem_init(&q->stem, l->size, l->stride, l->pad, l->in_c, l->filters,
                                 l->weights, l->bias, q8_act(l->act), bo->qs + oc, bo->qz + oc,
                                 net->simd);
        break;
    case QK_GEMM:
        st = sx_xnn_q8_gemm_init(&q->gemm, l->in_c, l->filters, l->weights, l->bias, q8_act(l->act),
                                 bi->qs + ic, bi->qz + ic, !bo->u8, bo->u8 ? bo->qs + oc : NULL,
                                 bo->u8 ? bo->qz + oc : NULL, net->simd);
        break;
    case QK_DW:
        return build_dw(net, o, q, err);
    case QK_ADD:
        st = sx_xnn_q8_add_init(&q->add, o->out.c, bi->qs + ic, bi->qz + ic, b2->qs + o->in2.coff,
                                b2->qz + o->in2.coff, bo->qs + oc, bo->qz + oc, q8_act(o->post),
                                net->simd);
        break;
    case QK_MAXPOOL:
    case QK_UPSAMPLE:
    case QK_COPY:
        st = build_lut(net, o, q);
        break;
    case QK_QUANT:
        q->inv_s = malloc((size_t)o->out.c * sizeof *q->inv_s);
        q->zo = malloc((size_t)o->out.c * sizeof *q->zo);
        if (q->inv_s == NULL || q->zo == NULL) {
            st = SPECX_ENOMEM;
            break;
        }
        for (int c = 0; c < o->out.c; c++) {
            q->inv_s[c] = 1.0f / bo->qs[oc + c];
            q->zo[c] = (float)bo->qz[oc + c];
        }
        break;
    }
    if (st != SPECX_OK) {
        return specx_err_set(err, st, "xnnpack int8: layer %d: cannot set up (%s)", o->layer,
                             specx_status_name(st));
    }
    return SPECX_OK;
}

void sx_xnn_qop_free(op *o)
{
    struct qop *q = o->q;
    if (q == NULL) {
        return;
    }
    sx_xnn_q8_gemm_clear(&q->gemm);
    sx_xnn_q8_dw_clear(&q->dw);
    sx_xnn_q8_stem_clear(&q->stem);
    sx_xnn_q8_add_clear(&q->add);
    free(q->lut);
    free(q->inv_s);
    free(q->zo);
    if (q->bufs != NULL) {
        for (int t = 0; t < q->tasks; t++) {
            free(q->bufs[t]);
        }
        free(q->bufs);
    }
    free(q);
    o->q = NULL;
}

/* ---- runs ----------------------------------------------------------------- */

static void gemm_task(void *ctx, size_t p0, size_t n)
{
    const struct qop *q = ctx;
    sx_xnn_q8_grid io = {.in = q->in,
                         .in_row = (size_t)q->out_w * q->in_px,
                         .in_px = q->in_px,
                         .out = q->out != NULL ? (void *)q->out : (void *)q->out_f,
                         .out_row = (size_t)q->out_w * q->out_px,
                         .out_px = q->out_px,
                         .w = q->out_w};
    sx_xnn_q8_gemm_run(&q->gemm, &io, p0, p0 + n);
}

/* Padded input rows [a, b) of a depthwise op into buf (row 0 = padded row
 * `first`). */
static void dw_fill(const struct qop *q, float *buf, int first, int a, int b)
{
    const int W = q->in_w, C = q->c, pad = q->pad;
    const size_t src_row = (size_t)W * q->in_px;
    int pr = a;
    while (pr < b) {
        int iy = pr - pad;
        float *dst = buf + (size_t)(pr - first) * q->buf_row + (size_t)pad * C;
        if (iy < 0 || iy >= q->in_h) {
            memset(dst, 0, (size_t)W * C * sizeof(float));
            pr++;
            continue;
        }
        int run = b - pr; /* rows inside the image from here */
        run = iy + run > q->in_h ? q->in_h - iy : run;
        if (q->expand) {
            sx_xnn_q8_grid io = {.in = q->in + (size_t)iy * src_row,
                                 .in_row = src_row,
                                 .in_px = q->in_px,
                                 .out = dst,
                                 .out_row = q->buf_row,
                                 .out_px = (size_t)C,
                                 .w = W};
            sx_xnn_q8_gemm_run(&q->gemm, &io, 0, (size_t)run * W);
        } else {
            for (int r = 0; r < run; r++) {
                sx_xnn_q8_to_float(q->in + (size_t)(iy + r) * src_row, q->in_px, W, C, q->in_z,
                                   dst + (size_t)r * q->buf_row, q->dw.simd);
            }
        }
        pr += run;
    }
}

static void dw_task(void *ctx, size_t t)
{
    const struct qop *q = ctx;
    const int oh = q->out_h, s = q->s, k = q->k;
    const int per = (oh + q->tasks - 1) / q->tasks;
    const int begin = (int)t * per, end = begin + per > oh ? oh : begin + per;
    float *buf = q->bufs[t];
    int have_lo = 0, have_hi = 0;
    for (int oy0 = begin; oy0 < end; oy0 += q->band) {
        int oy1 = oy0 + q->band > end ? end : oy0 + q->band;
        int need_lo = oy0 * s, need_hi = (oy1 - 1) * s + k;
        int from = need_lo;
        if (have_hi > need_lo && have_lo <= need_lo) {
            int keep = have_hi - need_lo;
            memmove(buf, buf + (size_t)(need_lo - have_lo) * q->buf_row,
                    (size_t)keep * q->buf_row * sizeof(float));
            from = have_hi;
        }
        dw_fill(q, buf, need_lo, from, need_hi);
        have_lo = need_lo;
        have_hi = need_hi;
        for (int oy = oy0; oy < oy1; oy++) {
            sx_xnn_q8_dw_row(&q->dw, buf + (size_t)(oy * s - need_lo) * q->buf_row, q->buf_row,
                             q->out + (size_t)oy * q->out_w * q->out_px, q->out_px, q->out_w);
        }
    }
}

typedef struct row_ctx {
    const struct qop *q;
    const sx_xnn_layer *l;
    q8_kind qk;
    bool simd;
} row_ctx;

static void row_task(void *ctx, size_t y)
{
    const row_ctx *r = ctx;
    const struct qop *q = r->q;
    const int oy = (int)y;
    uint8_t *out = q->out + (size_t)oy * q->out_w * q->out_px;
    const size_t in_row = (size_t)q->in_w * q->in_px;
    const uint8_t *lut = q->lut;
    switch (r->qk) {
    case QK_STEM:
        sx_xnn_q8_stem_row(&q->stem, q->in_f, q->in_h, q->in_w, q->in_px, oy, out, q->out_px,
                           q->out_w);
        break;
    case QK_ADD:
        sx_xnn_q8_add_row(&q->add, q->in + y * in_row, q->in_px,
                          q->in2 + y * (size_t)q->in_w * q->in2_px, q->in2_px, out, q->out_px,
                          q->out_w);
        break;
    case QK_MAXPOOL:
        sx_xnn_q8_maxpool_row(q->in, q->in_px, q->in_h, q->in_w, q->c, r->l->size, r->l->stride,
                              r->l->pool_padding / 2, oy, out, q->out_px, q->out_w, lut);
        break;
    case QK_UPSAMPLE: {
        const int st = r->l->stride;
        const uint8_t *src = q->in + (size_t)(oy / st) * in_row;
        for (int ox = 0; ox < q->out_w; ox++) {
            sx_xnn_q8_copy_row(src + (size_t)(ox / st) * q->in_px, 0, out + (size_t)ox * q->out_px,
                               0, 1, q->c, lut);
        }
        break;
    }
    case QK_COPY:
        sx_xnn_q8_copy_row(q->in + y * in_row, q->in_px, out, q->out_px, q->out_w, q->c, lut);
        break;
    case QK_QUANT:
        sx_xnn_q8_quantize_row(q->in_f + y * in_row, q->in_px, q->out_w, q->c, q->inv_s, q->zo, out,
                               q->out_px, r->simd);
        break;
    case QK_GEMM:
    case QK_DW:
        break;
    }
}

void sx_xnn_qop_run(sx_xnn_net *net, op *o)
{
    struct qop *q = o->q;
    if (o->qk == QK_GEMM) {
        size_t pixels = (size_t)q->out_h * q->out_w;
        size_t tile = GEMM_TILE_PIXELS;
        if (net->threads > 1 && pixels / tile < (size_t)net->threads * 4) {
            tile = (pixels / ((size_t)net->threads * 4) + 15) / 16 * 16;
            tile = tile < 16 ? 16 : tile;
        }
        pthreadpool_parallelize_1d_tile_1d(net->pool, gemm_task, q, pixels, tile, 0);
    } else if (o->qk == QK_DW) {
        pthreadpool_parallelize_1d(net->pool, dw_task, q, (size_t)q->tasks, 0);
    } else {
        row_ctx r = {.q = q, .l = &net->m->layers[o->layer], .qk = o->qk, .simd = net->simd};
        pthreadpool_parallelize_1d(net->pool, row_task, &r, (size_t)q->out_h, 0);
    }
}

const char *sx_xnn_qop_name(const op *o)
{
    switch (o->qk) {
    case QK_STEM:
        return "q8-stem";
    case QK_GEMM:
        return o->q != NULL && o->q->out == NULL ? "q8-1x1>f" : "q8-1x1";
    case QK_DW:
        return o->pw_layer >= 0 ? "q8-1x1+dw" : "q8-dw";
    case QK_MAXPOOL:
        return "q8-maxpool";
    case QK_ADD:
        return "q8-add";
    case QK_UPSAMPLE:
        return "q8-upsample";
    case QK_COPY:
        return "q8-copy";
    case QK_QUANT:
        return "q8-quant";
    }
    return "q8-?";
}
