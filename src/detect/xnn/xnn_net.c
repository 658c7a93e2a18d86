/* xnn_net.c — plans buffers and builds the XNNPACK operator schedule of a
 * darknet network, then runs it.
 *
 * Design notes:
 * - Every layer output is a view (buffer, channel offset, channels) into an
 *   NHWC buffer whose pixel stride is the buffer's channel count. A [route]
 *   that concatenates is a buffer whose slices its producers write directly
 *   (XNNPACK operators take pixel strides), so concatenation costs nothing;
 *   only an input that is already placed elsewhere (or the network input, or
 *   another concatenation) is copied. One-input routes, dropout and yolo are
 *   pure aliases.
 * - Buffers get arenas by liveness (first writer .. last reader); an arena is
 *   reused only by a buffer first written strictly after the arena's last
 *   read, so no step reads and writes the same memory. The yolo inputs stay
 *   live after the run (the caller decodes them).
 * - XNNPACK operators are created and set up once with the final pointers;
 *   a run only calls xnn_run_operator, the post activation loops and ours.
 *   The exception is banded GEMMs (fully_connected operators, whose setup is
 *   cheap): set up per band of rows so that what runs next on the band
 *   (leaky, or the GEMM reading a depthwise band) finds it in cache. */
#include "detect/xnn/xnn_net.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xnnpack.h>

#include "detect/xnn/xnn_net_impl.h"
#include "detect/xnn/xnn_q8.h"

static sx_xnn_view resolve(const sx_xnn_net *net, tview v)
{
    const tbuf *b = &net->bufs[v.buf];
    return (sx_xnn_view){
        .p = b->p != NULL ? b->p + v.coff : NULL, .h = b->h, .w = b->w, .c = v.c, .stride = b->c};
}

static int add_buf(sx_xnn_net *net, int h, int w, int c)
{
    tbuf *b = &net->bufs[net->nbuf];
    *b = (tbuf){.h = h, .w = w, .c = c, .def = INT_MAX, .last = -1, .arena = -1};
    return net->nbuf++;
}

static op *add_op(sx_xnn_net *net, op_kind k, int layer)
{
    op *o = &net->ops[net->nop++];
    memset(o, 0, sizeof *o);
    o->kind = k;
    o->layer = layer;
    o->pw_layer = -1;
    o->post = SX_XNN_ACT_LINEAR;
    return o;
}

/* The layer whose computation actually holds layer i's output. */
static int producer_of(const sx_xnn_model *m, int i)
{
    while (i >= 0) {
        const sx_xnn_layer *l = &m->layers[i];
        if (l->type == SX_XNN_L_DROPOUT || l->type == SX_XNN_L_YOLO) {
            i = i - 1;
        } else if (l->type == SX_XNN_L_ROUTE && l->n_inputs == 1) {
            i = l->inputs[0];
        } else {
            return i;
        }
    }
    return -1; /* the network input */
}

static tview view_of(const sx_xnn_net *net, int layer)
{
    return layer < 0 ? (tview){.buf = 0, .coff = 0, .c = 3} : net->views[layer];
}

static void touch(sx_xnn_net *net, tview v, int step, bool write)
{
    tbuf *b = &net->bufs[v.buf];
    if (write) {
        b->def = step < b->def ? step : b->def;
    } else {
        b->last = step > b->last ? step : b->last;
    }
}

/* When to fuse (measured on yolo-fastest-1.1-xl@416, see docs/xnnpack.md):
 * the expanded tensor must be too big for L2 (below, XNNPACK's GEMM plus
 * our activation pass are as fast), and the 1x1 thin (our simple
 * broadcast-FMA loop loses to XNNPACK's GEMM micro-tiles once K grows: at
 * K = 32 it was 4x slower). */
#define PWDW_MIN_BYTES (2u << 20)
#define PWDW_MAX_K 8
/* Depthwise outputs at least this big (past L2) go through a band buffer
 * instead (xl@416: -0.04..-0.26 ms at 208x208x16 and 104x104x64, -0.01..-0.04
 * at 52x52x192; below, every fused pair was 0.01-0.025 ms slower). */
#define DWPW_MIN_BYTES (1900u << 10)

/* How many ops (and yolo heads) read each layer's output; calloc'd, NULL
 * when out of memory. */
static int *count_readers(const sx_xnn_net *net)
{
    const sx_xnn_model *m = net->m;
    int *readers = calloc((size_t)m->n, sizeof *readers);
    if (readers == NULL) {
        return NULL;
    }
    for (int s = 0; s < net->nop; s++) {
        const op *o = &net->ops[s];
        if (o->in_layer >= 0) {
            readers[o->in_layer]++;
        }
        if (o->kind == OP_ADD && o->in2_layer >= 0) {
            readers[o->in2_layer]++;
        }
    }
    for (int k = 0; k < net->nyolo; k++) {
        int p = producer_of(m, net->yolo_layer[k] - 1);
        if (p >= 0) {
            readers[p]++;
        }
    }
    return readers;
}

/* A 1x1 convolution whose only reader is a direct 3x3 depthwise
 * convolution: computed band by band inside the depthwise op, so the
 * expanded tensor (the widest of an inverted-residual block) never goes
 * through memory. Producers written into a concatenation stay as they are. */
static void fuse_pwdw(sx_xnn_net *net, const bool *is_placed)
{
    const sx_xnn_model *m = net->m;
    int n = m->n;
    int *readers = count_readers(net);
    int *op_of = malloc((size_t)n * sizeof *op_of);
    if (readers == NULL || op_of == NULL) {
        free(readers);
        free(op_of);
        return; /* an optimisation: run unfused */
    }
    for (int i = 0; i < n; i++) {
        op_of[i] = -1;
    }
    for (int s = 0; s < net->nop; s++) {
        if (net->ops[s].kind != OP_COPY) {
            op_of[net->ops[s].layer] = s;
        }
    }
    for (int s = 0; s < net->nop; s++) {
        op *rd = &net->ops[s];
        int p = rd->in_layer;
        if (rd->kind != OP_DW || p < 0 || is_placed[p] || readers[p] != 1 || op_of[p] < 0) {
            continue;
        }
        const sx_xnn_layer *pl = &m->layers[p];
        op *pr = &net->ops[op_of[p]];
        size_t bytes = (size_t)pl->out_h * pl->out_w * pl->out_c * sizeof(float);
        if (pr->layer != p || pr->kind != OP_CONV || pl->size != 1 || pl->stride != 1 ||
            pl->pad != 0 || pl->groups != 1 || pl->filters % 8 != 0 ||
            pl->act == SX_XNN_ACT_LOGISTIC || bytes < PWDW_MIN_BYTES || pl->in_c > PWDW_MAX_K) {
            continue;
        }
        rd->kind = OP_PWDW;
        rd->pw_layer = p;
        rd->in = pr->in;
        rd->in_layer = pr->in_layer;
        pr->kind = OP_NOP;
    }
    free(readers);
    free(op_of);
}

/* A direct depthwise convolution whose only reader is the 1x1 convolution
 * scheduled right after it: per band of rows the depthwise output goes to
 * a buffer that stays in cache and XNNPACK's GEMM reads it from there. */
static void fuse_dwpw(sx_xnn_net *net, const bool *is_placed)
{
    const sx_xnn_model *m = net->m;
    int *readers = count_readers(net);
    if (readers == NULL) {
        return; /* an optimisation: run unfused */
    }
    for (int s = 0; s + 1 < net->nop; s++) {
        op *dw = &net->ops[s], *pw = &net->ops[s + 1];
        if (dw->kind != OP_DW || pw->kind != OP_CONV || pw->in_layer != dw->layer ||
            is_placed[dw->layer] || readers[dw->layer] != 1) {
            continue;
        }
        const sx_xnn_layer *dl = &m->layers[dw->layer], *pl = &m->layers[pw->layer];
        size_t bytes = (size_t)dl->out_h * dl->out_w * dl->out_c * sizeof(float);
        if (pl->size != 1 || pl->stride != 1 || pl->pad != 0 || pl->groups != 1 ||
            dl->act == SX_XNN_ACT_LOGISTIC || bytes < DWPW_MIN_BYTES) {
            continue;
        }
        dw->kind = OP_DWPW;
        dw->pw_layer = pw->layer;
        dw->pw_post = pw->post;
        dw->out = pw->out;
        pw->kind = OP_NOP;
    }
    free(readers);
}

/* Buffers and the view of every layer: concatenations first (they decide
 * where their producers write), then one buffer per remaining computing
 * layer; aliases (dropout, yolo, one-input routes) share their producer's.
 * is_placed / needs_copy say which route inputs are written in place. */
static void plan_views(sx_xnn_net *net, tview *placed, bool *is_placed, bool *needs_copy)
{
    const sx_xnn_model *m = net->m;
    int n = m->n;
    add_buf(net, m->height, m->width, 3);
    for (int i = 0; i < n; i++) {
        const sx_xnn_layer *l = &m->layers[i];
        if (l->type != SX_XNN_L_ROUTE || l->n_inputs < 2) {
            continue;
        }
        int b = add_buf(net, l->out_h, l->out_w, l->out_c);
        net->views[i] = (tview){.buf = b, .coff = 0, .c = l->out_c};
        int off = 0;
        for (int j = 0; j < l->n_inputs; j++) {
            int p = producer_of(m, l->inputs[j]);
            sx_xnn_layer_type t = p >= 0 ? m->layers[p].type : SX_XNN_L_ROUTE;
            if (p >= 0 && !is_placed[p] && t != SX_XNN_L_ROUTE) {
                is_placed[p] = true;
                placed[p] = (tview){.buf = b, .coff = off, .c = m->layers[p].out_c};
            } else {
                needs_copy[i * SX_XNN_MAX_ROUTE + j] = true;
            }
            off += m->layers[l->inputs[j]].out_c;
        }
    }
    for (int i = 0; i < n; i++) {
        const sx_xnn_layer *l = &m->layers[i];
        if (l->type == SX_XNN_L_ROUTE && l->n_inputs >= 2) {
            continue;
        }
        int p = producer_of(m, i);
        if (p != i) {
            net->views[i] = view_of(net, p);
        } else if (is_placed[i]) {
            net->views[i] = placed[i];
        } else {
            int b = add_buf(net, l->out_h, l->out_w, l->out_c);
            net->views[i] = (tview){.buf = b, .coff = 0, .c = l->out_c};
        }
    }
}

/* The fp32 op computing convolution layer i. */
static op *schedule_conv_f32(sx_xnn_net *net, int i)
{
    const sx_xnn_layer *l = &net->m->layers[i];
    bool dw = l->groups > 1 && l->groups == l->in_c && l->groups == l->filters;
    bool direct = (net->flags & SX_XNN_NET_NO_DIRECT) == 0;
    op *o = NULL;
    if (direct && dw && l->in_c % 8 == 0 && l->size == 3) {
        o = add_op(net, OP_DW, i);
        o->post = l->act;
    } else if (direct && l->groups == 1 && l->size == 3 && l->in_c <= 4 &&
               (l->filters == 8 || l->filters == 16)) {
        o = add_op(net, OP_STEM, i);
        o->post = l->act;
    } else {
        o = add_op(net, OP_CONV, i);
        o->post = l->act == SX_XNN_ACT_RELU ? SX_XNN_ACT_LINEAR : l->act;
    }
    return o;
}

static specx_status q8_unsupported(specx_err *err, int i, const sx_xnn_layer *l, const char *why)
{
    return specx_err_set(err, SPECX_EUNSUPPORTED,
                         "xnnpack int8: layer %d [%s] %dx%dx%d: %s (use precision fp32)", i,
                         sx_xnn_layer_type_name(l->type), l->in_w, l->in_h, l->in_c, why);
}

/* The int8 op computing convolution layer i: 1x1 as a GEMM, depthwise, or
 * the first convolution (reading the float network input). */
static specx_status schedule_conv_q8(sx_xnn_net *net, int i, op **out, specx_err *err)
{
    const sx_xnn_layer *l = &net->m->layers[i];
    bool dw = l->groups > 1 && l->groups == l->in_c && l->groups == l->filters;
    if (l->act == SX_XNN_ACT_LOGISTIC) {
        return q8_unsupported(err, i, l, "logistic activation");
    }
    q8_kind qk;
    if (dw && l->in_c % 8 == 0 && l->size % 2 == 1 && l->pad == l->size / 2) {
        qk = QK_DW;
    } else if (l->groups == 1 && l->size == 1 && l->stride == 1 && l->pad == 0) {
        qk = QK_GEMM;
    } else if (l->groups == 1 && l->in_c <= 4 && l->filters <= 32 &&
               producer_of(net->m, i - 1) < 0) {
        qk = QK_STEM;
    } else {
        return q8_unsupported(err, i, l, "only 1x1, depthwise and first convolutions");
    }
    op *o = add_op(net, OP_Q8, i);
    o->qk = qk;
    o->post = l->act;
    *out = o;
    return SPECX_OK;
}

/* The op of layer i (NULL for layers that compute nothing), after any copies
 * a route needs. */
static specx_status schedule_layer(sx_xnn_net *net, int i, const bool *needs_copy, op **out,
                                   specx_err *err)
{
    const sx_xnn_model *m = net->m;
    const sx_xnn_layer *l = &m->layers[i];
    bool q8 = net->precision == SX_XNN_INT8 && i >= net->q8_from;
    op *o = NULL;
    *out = NULL;
    switch (l->type) {
    case SX_XNN_L_CONV:
        if (!q8) {
            o = schedule_conv_f32(net, i);
        } else {
            specx_status st = schedule_conv_q8(net, i, &o, err);
            if (st != SPECX_OK) {
                return st;
            }
        }
        break;
    case SX_XNN_L_MAXPOOL:
        o = q8 ? add_op(net, OP_Q8, i) : add_op(net, OP_MAXPOOL, i);
        o->qk = QK_MAXPOOL;
        break;
    case SX_XNN_L_SHORTCUT:
        o = q8 ? add_op(net, OP_Q8, i) : add_op(net, OP_ADD, i);
        o->qk = QK_ADD;
        o->in2 = view_of(net, l->inputs[0]);
        o->in2_layer = producer_of(m, l->inputs[0]);
        o->post = l->act;
        break;
    case SX_XNN_L_UPSAMPLE:
        o = q8 ? add_op(net, OP_Q8, i) : add_op(net, OP_UPSAMPLE, i);
        o->qk = QK_UPSAMPLE;
        break;
    case SX_XNN_L_ROUTE: {
        int off = 0;
        for (int j = 0; j < l->n_inputs; j++) {
            int c = m->layers[l->inputs[j]].out_c;
            if (l->n_inputs >= 2 && needs_copy[i * SX_XNN_MAX_ROUTE + j]) {
                op *cp = q8 ? add_op(net, OP_Q8, i) : add_op(net, OP_COPY, i);
                cp->qk = QK_COPY;
                cp->in = view_of(net, l->inputs[j]);
                cp->in_layer = producer_of(m, l->inputs[j]);
                cp->out = net->views[i];
                cp->out.coff += off;
                cp->out.c = c;
            }
            off += c;
        }
        return SPECX_OK;
    }
    case SX_XNN_L_YOLO:
        if (net->nyolo == (int)(sizeof net->yolo_layer / sizeof net->yolo_layer[0])) {
            return specx_err_set(err, SPECX_EUNSUPPORTED, "xnnpack: too many [yolo] layers");
        }
        net->yolo_layer[net->nyolo++] = i;
        return SPECX_OK;
    case SX_XNN_L_DROPOUT:
        return SPECX_OK;
    }
    o->in = view_of(net, i - 1);
    o->in_layer = producer_of(m, i - 1);
    o->out = net->views[i];
    *out = o;
    return SPECX_OK;
}

/* int8: the [yolo] inputs must be 1x1 convolutions with a float store
 * (their own buffers, read by nothing else). */
static specx_status yolo_inputs_q8(sx_xnn_net *net, bool *f32_out, specx_err *err)
{
    const sx_xnn_model *m = net->m;
    int *readers = count_readers(net);
    if (readers == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory planning buffers");
    }
    specx_status st = SPECX_OK;
    for (int k = 0; k < net->nyolo && st == SPECX_OK; k++) {
        int y = net->yolo_layer[k];
        int p = producer_of(m, y - 1), po = -1;
        for (int s = 0; s < net->nop; s++) {
            if (net->ops[s].layer == p && net->ops[s].kind != OP_COPY) {
                po = s;
            }
        }
        const op *o = po >= 0 ? &net->ops[po] : NULL;
        if (o != NULL && o->kind != OP_Q8) {
            continue; /* an fp32 layer: a float buffer anyway */
        }
        if (o == NULL || o->qk != QK_GEMM || readers[p] != 1 ||
            net->bufs[o->out.buf].c != o->out.c) {
            st = q8_unsupported(err, y, &m->layers[y],
                                "its input must be a 1x1 convolution read by nothing else");
        } else {
            f32_out[po] = true;
        }
    }
    free(readers);
    return st;
}

/* Puts a QK_QUANT op converting float view v (of layer `layer`) into a new
 * u8 buffer at schedule position s; returns the new view. */
static tview insert_quant(sx_xnn_net *net, int s, tview v, int layer)
{
    const tbuf *src = &net->bufs[v.buf];
    int b = add_buf(net, src->h, src->w, v.c);
    net->bufs[b].u8 = true;
    memmove(&net->ops[s + 1], &net->ops[s], (size_t)(net->nop - s) * sizeof *net->ops);
    net->nop++;
    op *q = &net->ops[s];
    memset(q, 0, sizeof *q);
    *q = (op){.kind = OP_Q8,
              .qk = QK_QUANT,
              .layer = layer,
              .in_layer = layer,
              .pw_layer = -1,
              .in = v,
              .out = {.buf = b, .coff = 0, .c = v.c}};
    return q->out;
}

/* int8: a quantizing op before the first int8 op that reads each float
 * tensor of the fp32 part; later readers share its output. */
static specx_status quantize_inputs_q8(sx_xnn_net *net, specx_err *err)
{
    const sx_xnn_model *m = net->m;
    tview *from = malloc((size_t)net->nop * 2 * sizeof *from);
    int npairs = 0;
    if (from == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory planning buffers");
    }
    tview *to = from + net->nop;
    for (int s = 0; s < net->nop; s++) {
        if (net->ops[s].kind != OP_Q8 || net->ops[s].qk == QK_STEM || net->ops[s].qk == QK_QUANT) {
            continue;
        }
        for (int k = 0; k < (net->ops[s].qk == QK_ADD ? 2 : 1); k++) {
            tview v = k == 0 ? net->ops[s].in : net->ops[s].in2;
            int pl = k == 0 ? net->ops[s].in_layer : net->ops[s].in2_layer;
            if (net->bufs[v.buf].u8) {
                continue;
            }
            if (pl < 0) {
                free(from);
                return q8_unsupported(err, net->ops[s].layer, &m->layers[net->ops[s].layer],
                                      "reads the image");
            }
            int j = 0;
            while (j < npairs &&
                   (from[j].buf != v.buf || from[j].coff != v.coff || from[j].c != v.c)) {
                j++;
            }
            if (j == npairs) {
                from[j] = v;
                to[j] = insert_quant(net, s, v, pl);
                npairs++;
                s++; /* the reader moved one place on */
            }
            if (k == 0) {
                net->ops[s].in = to[j];
            } else {
                net->ops[s].in2 = to[j];
            }
        }
    }
    free(from);
    return SPECX_OK;
}

/* int8: which buffers hold u8 (those int8 ops write, except [yolo]
 * inputs), no buffer written by both parts, then the quantizing ops. */
static specx_status mark_buffers_q8(sx_xnn_net *net, specx_err *err)
{
    const sx_xnn_model *m = net->m;
    bool *f32_out = calloc((size_t)net->nop + 1, sizeof *f32_out);
    if (f32_out == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory planning buffers");
    }
    specx_status st = yolo_inputs_q8(net, f32_out, err);
    for (int s = 0; s < net->nop && st == SPECX_OK; s++) {
        const op *o = &net->ops[s];
        if (o->kind == OP_Q8 && !f32_out[s]) {
            net->bufs[o->out.buf].u8 = true;
        }
    }
    for (int s = 0; s < net->nop && st == SPECX_OK; s++) {
        const op *o = &net->ops[s];
        if (o->kind != OP_NOP && net->bufs[o->out.buf].u8 != (o->kind == OP_Q8 && !f32_out[s])) {
            st = q8_unsupported(err, o->layer, &m->layers[o->layer],
                                "a concatenation of fp32 and int8 layers");
        }
    }
    for (int s = 0; s < net->nop && st == SPECX_OK; s++) {
        const op *o = &net->ops[s];
        bool reads_u8 = net->bufs[o->in.buf].u8 || (o->kind == OP_ADD && net->bufs[o->in2.buf].u8);
        if (o->kind != OP_Q8 && o->kind != OP_NOP && reads_u8) {
            st = q8_unsupported(err, o->layer, &m->layers[o->layer],
                                "an fp32 layer reading an int8 one");
        }
    }
    free(f32_out);
    return st == SPECX_OK ? quantize_inputs_q8(net, err) : st;
}

/* int8: a 1x1 convolution whose only reader is a depthwise one becomes the
 * source of the depthwise op's input band: its output (float, in cache)
 * is never quantized or stored. */
static void fuse_q8(sx_xnn_net *net, const bool *is_placed)
{
    int *readers = count_readers(net);
    if (readers == NULL) {
        return; /* an optimisation: run unfused */
    }
    for (int s = 0; s < net->nop; s++) {
        op *rd = &net->ops[s];
        int p = rd->in_layer;
        if (rd->kind != OP_Q8 || rd->qk != QK_DW || p < 0 || is_placed[p] || readers[p] != 1) {
            continue;
        }
        for (int t = 0; t < s; t++) {
            op *pr = &net->ops[t];
            if (pr->layer == p && pr->kind == OP_Q8 && pr->qk == QK_GEMM) {
                rd->pw_layer = p;
                rd->in = pr->in;
                rd->in_layer = pr->in_layer;
                pr->kind = OP_NOP;
            }
        }
    }
    free(readers);
}

static void liveness(sx_xnn_net *net)
{
    net->bufs[0].def = -1;
    for (int s = 0; s < net->nop; s++) {
        op *o = &net->ops[s];
        if (o->kind == OP_NOP) {
            continue;
        }
        touch(net, o->in, s, false);
        if (o->kind == OP_ADD || (o->kind == OP_Q8 && o->qk == QK_ADD)) {
            touch(net, o->in2, s, false);
        }
        touch(net, o->out, s, true);
    }
    for (int k = 0; k < net->nyolo; k++) {
        touch(net, view_of(net, net->yolo_layer[k] - 1), INT_MAX, false);
    }
}

/* The first layer the int8 path computes in int8: the first at no more
 * than a quarter of the input width (before it, 4-24 channels at full and
 * half resolution, where int8 was measured no faster than fp32). */
static int first_q8_layer(const sx_xnn_net *net)
{
    const sx_xnn_model *m = net->m;
    if ((net->flags & SX_XNN_NET_ALL_INT8) != 0) {
        return 0;
    }
    int i = 0;
    while (i < m->n && m->layers[i].in_w * 4 > m->width) {
        i++;
    }
    return i;
}

static specx_status plan(sx_xnn_net *net, specx_err *err)
{
    const sx_xnn_model *m = net->m;
    int n = m->n;
    /* one buffer per layer at most, plus the input (and, int8, as many
     * again for quantized copies of fp32 tensors) */
    net->bufs = calloc(2 * (size_t)n + 1, sizeof *net->bufs);
    net->views = calloc((size_t)n, sizeof *net->views);
    /* ops: one per layer plus copies into concatenations (and quantizing
     * ops) */
    int maxops = 2 * n;
    for (int i = 0; i < n; i++) {
        maxops += m->layers[i].type == SX_XNN_L_ROUTE ? m->layers[i].n_inputs : 0;
    }
    net->ops = calloc((size_t)maxops, sizeof *net->ops);
    tview *placed = calloc((size_t)n, sizeof *placed);
    bool *is_placed = calloc((size_t)n, sizeof *is_placed);
    bool *needs_copy = calloc((size_t)n * SX_XNN_MAX_ROUTE, sizeof *needs_copy);
    specx_status st = SPECX_OK;
    if (net->bufs == NULL || net->views == NULL || net->ops == NULL || placed == NULL ||
        is_placed == NULL || needs_copy == NULL) {
        st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory planning buffers");
    }
    if (st == SPECX_OK) {
        plan_views(net, placed, is_placed, needs_copy);
    }
    net->q8_from = first_q8_layer(net);
    for (int i = 0; i < n && st == SPECX_OK; i++) {
        op *o = NULL;
        st = schedule_layer(net, i, needs_copy, &o, err);
    }
    if (st == SPECX_OK && net->precision == SX_XNN_INT8) {
        st = mark_buffers_q8(net, err);
        if (st == SPECX_OK && (net->flags & SX_XNN_NET_NO_FUSE) == 0) {
            fuse_q8(net, is_placed);
        }
    }
    if (st == SPECX_OK && (net->flags & SX_XNN_NET_NO_DIRECT) == 0) {
        fuse_pwdw(net, is_placed);
        fuse_dwpw(net, is_placed);
    }
    free(placed);
    free(is_placed);
    free(needs_copy);
    if (st == SPECX_OK) {
        liveness(net);
    }
    return st;
}

void sx_xnn_ranges_clear(sx_xnn_ranges *r)
{
    for (int i = 0; i < r->n && r->layer != NULL; i++) {
        free(r->layer[i]);
    }
    free(r->layer);
    r->layer = NULL;
    r->n = 0;
}

/* The union of the calibrated ranges of every layer written into buffer
 * b, per channel, into lo / hi (zeroed: every range contains 0). */
static specx_status gather_ranges(const sx_xnn_net *net, const sx_xnn_ranges *ranges, int b,
                                  float *lo, float *hi, specx_err *err)
{
    for (int s = 0; s < net->nop; s++) {
        const op *o = &net->ops[s];
        if (o->kind == OP_NOP || o->out.buf != b) {
            continue;
        }
        const sx_xnn_range *r = o->layer < ranges->n ? ranges->layer[o->layer] : NULL;
        if (r == NULL) {
            return specx_err_set(err, SPECX_EUNSUPPORTED,
                                 "xnnpack int8: layer %d has no activation range (no batch-norm "
                                 "statistics and no calibration images)",
                                 o->layer);
        }
        for (int j = 0; j < o->out.c; j++) {
            int ch = o->out.coff + j;
            lo[ch] = r[j].lo < lo[ch] ? r[j].lo : lo[ch];
            hi[ch] = r[j].hi > hi[ch] ? r[j].hi : hi[ch];
        }
    }
    return SPECX_OK;
}

/* int8: each u8 buffer channel's (scale, zero point), so all slices and
 * channels of a buffer keep their own ranges. */
static specx_status assign_quant(sx_xnn_net *net, const sx_xnn_ranges *ranges, specx_err *err)
{
    specx_status st = SPECX_OK;
    for (int b = 0; b < net->nbuf && st == SPECX_OK; b++) {
        tbuf *t = &net->bufs[b];
        if (!t->u8) {
            continue;
        }
        t->qs = calloc((size_t)t->c, sizeof *t->qs);
        t->qz = calloc((size_t)t->c, sizeof *t->qz);
        float *lo = calloc((size_t)t->c, sizeof *lo), *hi = calloc((size_t)t->c, sizeof *hi);
        if (t->qs == NULL || t->qz == NULL || lo == NULL || hi == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
        } else {
            st = gather_ranges(net, ranges, b, lo, hi, err);
        }
        for (int ch = 0; st == SPECX_OK && ch < t->c; ch++) {
            /* a channel that is constant 0: any scale represents it */
            float sc = hi[ch] > lo[ch] ? (hi[ch] - lo[ch]) / 255.0f : 1.0f / 255.0f;
            long z = lrintf(-lo[ch] / sc);
            t->qs[ch] = sc;
            t->qz[ch] = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
        }
        free(lo);
        free(hi);
    }
    return st;
}

static size_t buf_bytes(const tbuf *b)
{
    return (size_t)b->h * b->w * b->c * (b->u8 ? 1 : sizeof(float));
}

/* Greedy interval allocation: buffers in order of first write; each takes
 * the smallest free arena that fits, else grows the largest free one, else
 * opens a new arena. */
static specx_status assign_arenas(sx_xnn_net *net, specx_err *err)
{
    int nb = net->nbuf;
    if (nb < 1) {
        return specx_err_set(err, SPECX_EINTERNAL, "xnnpack: no buffers planned");
    }
    int *order = malloc((size_t)nb * sizeof *order);
    size_t *size = calloc((size_t)nb, sizeof *size);
    int *busy = malloc((size_t)nb * sizeof *busy);
    net->arenas = calloc((size_t)nb, sizeof *net->arenas);
    if (order == NULL || size == NULL || busy == NULL || net->arenas == NULL) {
        free(order);
        free(size);
        free(busy);
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory planning buffers");
    }
    for (int i = 0; i < nb; i++) {
        order[i] = i;
    }
    for (int i = 1; i < nb; i++) { /* insertion sort by def; nb is small */
        int x = order[i], j = i - 1;
        while (j >= 0 && net->bufs[order[j]].def > net->bufs[x].def) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = x;
    }
    int na = 0;
    for (int i = 0; i < nb; i++) {
        tbuf *b = &net->bufs[order[i]];
        if (b->def == INT_MAX) {
            continue; /* never written */
        }
        size_t need = buf_bytes(b);
        int best = -1, largest = -1;
        for (int a = 0; a < na; a++) {
            if (busy[a] >= b->def) {
                continue;
            }
            if (size[a] >= need && (best < 0 || size[a] < size[best])) {
                best = a;
            }
            if (largest < 0 || size[a] > size[largest]) {
                largest = a;
            }
        }
        if (best < 0) {
            best = largest >= 0 ? largest : na++;
        }
        if (size[best] < need) {
            size[best] = need;
        }
        busy[best] = b->last < b->def ? b->def : b->last;
        b->arena = best;
    }
    specx_status st = SPECX_OK;
    net->narena = na;
    for (int a = 0; a < na; a++) {
        /* XNNPACK may read XNN_EXTRA_BYTES past an input's end */
        size_t bytes = (size[a] + XNN_EXTRA_BYTES + 63) / 64 * 64;
        net->arenas[a] = aligned_alloc(64, bytes);
        if (net->arenas[a] == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory (%zu bytes)", bytes);
            break;
        }
        memset(net->arenas[a], 0, bytes);
        net->arena_bytes += bytes;
    }
    for (int i = 0; i < nb && st == SPECX_OK; i++) {
        void *mem = net->bufs[i].arena >= 0 ? net->arenas[net->bufs[i].arena] : NULL;
        if (net->bufs[i].u8) {
            net->bufs[i].q = mem;
        } else {
            net->bufs[i].p = mem;
        }
    }
    free(order);
    free(size);
    free(busy);
    return st;
}

static specx_status op_fail(specx_err *err, int layer, const char *what, enum xnn_status xs)
{
    return specx_err_set(err, SPECX_EINTERNAL, "xnnpack: layer %d: %s failed (xnn_status %d)",
                         layer, what, (int)xs);
}

/* Reorders the model's weights [out][kh][kw][in/g] to the kernels'
 * [kh][kw][in/g][out] (depthwise: in/g = 1) and fills the descriptor. */
static specx_status setup_direct(op *o, const sx_xnn_layer *l)
{
    int k = l->size, c = l->filters, ci = l->in_c / l->groups;
    size_t taps = (size_t)k * k;
    o->wt = aligned_alloc(64, (taps * ci * c * sizeof(float) + 63) / 64 * 64);
    if (o->wt == NULL) {
        return SPECX_ENOMEM;
    }
    for (int ch = 0; ch < c; ch++) {
        for (size_t t = 0; t < taps; t++) {
            for (int ic = 0; ic < ci; ic++) {
                o->wt[(t * ci + ic) * c + ch] = l->weights[((size_t)ch * taps + t) * ci + ic];
            }
        }
    }
    o->cv = (sx_xnn_conv){.in = o->vin,
                          .out = o->vout,
                          .w = o->wt,
                          .b = l->bias,
                          .k = k,
                          .s = l->stride,
                          .pad = l->pad,
                          .act = o->post == SX_XNN_ACT_LEAKY  ? 1
                                 : o->post == SX_XNN_ACT_RELU ? 2
                                                              : 0};
    return SPECX_OK;
}

/* The 1x1 part of an OP_PWDW: weights [in][out] (darknet/XNNPACK hold
 * [out][in]), and one band buffer per parallel task. The depthwise part was
 * set up by setup_direct with the logical expanded tensor as its input. */
static specx_status setup_pwdw(sx_xnn_net *net, op *o)
{
    const sx_xnn_layer *pl = &net->m->layers[o->pw_layer];
    int K = pl->in_c, N = pl->filters;
    sx_xnn_pwdw *f = &o->pw;
    float *w = aligned_alloc(64, ((size_t)K * N * sizeof(float) + 63) / 64 * 64);
    if (w == NULL) {
        return SPECX_ENOMEM;
    }
    for (int nn = 0; nn < N; nn++) {
        for (int k = 0; k < K; k++) {
            w[(size_t)k * N + nn] = pl->weights[(size_t)nn * K + k];
        }
    }
    int tasks = net->threads;
    f->bufs = calloc((size_t)tasks, sizeof *f->bufs);
    if (f->bufs == NULL) {
        free(w);
        return SPECX_ENOMEM;
    }
    f->in = o->vin;
    f->mid_c = N;
    f->pw_w = w;
    f->pw_b = pl->bias;
    f->pw_act = pl->act == SX_XNN_ACT_LEAKY ? 1 : pl->act == SX_XNN_ACT_RELU ? 2 : 0;
    f->dw = o->cv;
    f->dw.in = (sx_xnn_view){.p = NULL, .h = pl->out_h, .w = pl->out_w, .c = N, .stride = N};
    f->band = 8;
    f->tasks = tasks;
    size_t rows = (size_t)f->band * f->dw.s + (size_t)f->dw.k;
    for (int t = 0; t < tasks; t++) {
        f->bufs[t] =
            aligned_alloc(64, ((rows * pl->out_w * N + 16) * sizeof(float) + 63) / 64 * 64);
        if (f->bufs[t] == NULL) {
            return SPECX_ENOMEM;
        }
    }
    return SPECX_OK;
}

/* Output band of a banded 1x1 convolution: small enough to stay in L2 for
 * the leaky pass (128 KB to 512 KB measured the same on xl@416; a whole
 * 2 MB tensor run at once costs ~0.4 ms more there). */
#define BAND_BYTES (256u << 10)

/* One task per thread (at most one per band) for a banded op. */
static specx_status alloc_tasks(const sx_xnn_net *net, op *o, specx_err *err)
{
    int bands = (o->vout.h + o->band - 1) / o->band;
    o->ntask = net->threads < bands ? net->threads : bands;
    o->txop = calloc((size_t)o->ntask, sizeof(xnn_operator_t));
    o->dw_buf = calloc((size_t)o->ntask, sizeof(float *));
    if (o->txop == NULL || o->dw_buf == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    return SPECX_OK;
}

/* The depthwise part writes bands of o->band rows into dw_buf; the 1x1
 * part is a fully connected operator set up per band at run time. */
static specx_status setup_dwpw(sx_xnn_net *net, op *o, const sx_xnn_layer *l, specx_err *err)
{
    const sx_xnn_layer *pl = &net->m->layers[o->pw_layer];
    if (setup_direct(o, l) != SPECX_OK) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    size_t row = (size_t)l->out_w * l->out_c * sizeof(float);
    size_t band = BAND_BYTES / row;
    o->band = band < 1 ? 1 : band > (size_t)l->out_h ? l->out_h : (int)band;
    specx_status st = alloc_tasks(net, o, err);
    size_t bytes = ((size_t)o->band * row + XNN_EXTRA_BYTES + 63) / 64 * 64;
    for (int t = 0; t < o->ntask && st == SPECX_OK; t++) {
        o->dw_buf[t] = aligned_alloc(64, bytes);
        if (o->dw_buf[t] == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
        }
        memset(o->dw_buf[t], 0, bytes);
    }
    o->cv.out =
        (sx_xnn_view){.p = NULL, .h = l->out_h, .w = l->out_w, .c = l->out_c, .stride = l->out_c};
    float lo = pl->act == SX_XNN_ACT_RELU ? 0.0f : -INFINITY;
    for (int t = 0; t < o->ntask && st == SPECX_OK; t++) {
        enum xnn_status xs = xnn_create_fully_connected_nc_f32(
            (size_t)pl->in_c, (size_t)pl->filters, (size_t)l->out_c, (size_t)o->vout.stride,
            pl->weights, pl->bias, lo, INFINITY, 0, &o->txop[t]);
        if (xs != xnn_status_success) {
            st = op_fail(err, o->pw_layer, "create fully connected", xs);
        }
    }
    return st;
}

/* A 1x1 convolution with leaky is a GEMM over pixels: XNNPACK's fully
 * connected operator run band by band (one per task), so the leaky pass
 * finds each band still in cache. */
static specx_status build_banded(sx_xnn_net *net, op *o, const sx_xnn_layer *l, specx_err *err)
{
    size_t row = (size_t)o->vout.w * (size_t)o->vout.c * sizeof(float);
    size_t band = BAND_BYTES / row;
    o->band = band < 1 ? 1 : band > (size_t)o->vout.h ? o->vout.h : (int)band;
    specx_status st = alloc_tasks(net, o, err);
    for (int t = 0; t < o->ntask && st == SPECX_OK; t++) {
        enum xnn_status xs = xnn_create_fully_connected_nc_f32(
            (size_t)l->in_c, (size_t)l->filters, (size_t)o->vin.stride, (size_t)o->vout.stride,
            l->weights, l->bias, -INFINITY, INFINITY, 0, &o->txop[t]);
        if (xs != xnn_status_success) {
            st = op_fail(err, o->layer, "create fully connected", xs);
        }
    }
    return st;
}

/* An XNNPACK convolution or max pooling, set up once on its buffers. */
static specx_status build_xnn_op(sx_xnn_net *net, op *o, const sx_xnn_layer *l, specx_err *err)
{
    enum xnn_status xs;
    if (o->kind == OP_CONV) {
        float lo = l->act == SX_XNN_ACT_RELU ? 0.0f : -INFINITY;
        xs = xnn_create_convolution2d_nhwc_f32(
            (uint32_t)l->pad, (uint32_t)l->pad, (uint32_t)l->pad, (uint32_t)l->pad,
            (uint32_t)l->size, (uint32_t)l->size, (uint32_t)l->stride, (uint32_t)l->stride, 1, 1,
            (uint32_t)l->groups, (size_t)(l->in_c / l->groups), (size_t)(l->filters / l->groups),
            (size_t)o->vin.stride, (size_t)o->vout.stride, l->weights, l->bias, lo, INFINITY, 0,
            &o->xop);
        if (xs != xnn_status_success) {
            return op_fail(err, o->layer, "create convolution", xs);
        }
        xs = xnn_setup_convolution2d_nhwc_f32(o->xop, 1, (size_t)l->in_h, (size_t)l->in_w, o->vin.p,
                                              o->vout.p, net->pool);
        return xs == xnn_status_success ? SPECX_OK
                                        : op_fail(err, o->layer, "setup convolution", xs);
    }
    if (l->size < 2) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "xnnpack: layer %d [maxpool]: size 1 is not supported", o->layer);
    }
    uint32_t p0 = (uint32_t)l->pool_padding / 2, p1 = (uint32_t)l->pool_padding - p0;
    xs = xnn_create_max_pooling2d_nhwc_f32(p0, p1, p1, p0, (uint32_t)l->size, (uint32_t)l->size,
                                           (uint32_t)l->stride, (uint32_t)l->stride, 1, 1,
                                           (size_t)l->in_c, (size_t)o->vin.stride,
                                           (size_t)o->vout.stride, -INFINITY, INFINITY, 0, &o->xop);
    if (xs != xnn_status_success) {
        return op_fail(err, o->layer, "create max pooling", xs);
    }
    xs = xnn_setup_max_pooling2d_nhwc_f32(o->xop, 1, (size_t)l->in_h, (size_t)l->in_w, o->vin.p,
                                          o->vout.p, net->pool);
    return xs == xnn_status_success ? SPECX_OK : op_fail(err, o->layer, "setup max pooling", xs);
}

static specx_status build_ops(sx_xnn_net *net, specx_err *err)
{
    for (int s = 0; s < net->nop; s++) {
        op *o = &net->ops[s];
        const sx_xnn_layer *l = &net->m->layers[o->layer];
        if (o->kind == OP_NOP) {
            continue;
        }
        o->vin = resolve(net, o->in);
        o->vout = resolve(net, o->out);
        if (o->kind == OP_ADD || o->kind == OP_Q8) {
            o->vin2 = resolve(net, o->in2);
        }
        specx_status st = SPECX_OK;
        if (o->kind == OP_Q8) {
            st = sx_xnn_qop_build(net, o, err);
        } else if (o->kind == OP_PWDW) {
            if (setup_direct(o, l) != SPECX_OK || setup_pwdw(net, o) != SPECX_OK) {
                st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
            }
        } else if (o->kind == OP_DWPW) {
            st = setup_dwpw(net, o, l, err);
        } else if (o->kind == OP_DW || o->kind == OP_STEM) {
            if (setup_direct(o, l) != SPECX_OK) {
                st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
            }
        } else if (o->kind == OP_CONV && o->post == SX_XNN_ACT_LEAKY && l->size == 1 &&
                   l->stride == 1 && l->pad == 0 && l->groups == 1) {
            st = build_banded(net, o, l, err);
        } else if (o->kind == OP_CONV || o->kind == OP_MAXPOOL) {
            st = build_xnn_op(net, o, l, err);
        }
        if (st != SPECX_OK) {
            return st;
        }
    }
    return SPECX_OK;
}

specx_status sx_xnn_net_create(const sx_xnn_model *m, const sx_xnn_net_opts *opts, sx_xnn_net **out,
                               specx_err *err)
{
    int threads = opts->threads;
    if (threads < 1 || threads > 64) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: threads must be 1..64, got %d", threads);
    }
    if (opts->precision == SX_XNN_INT8 && opts->ranges == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack: int8 needs calibrated ranges");
    }
    enum xnn_status xs = xnn_initialize(NULL);
    if (xs != xnn_status_success) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "xnnpack: initialisation failed (xnn_status %d): unsupported CPU?",
                             (int)xs);
    }
    sx_xnn_net *net = calloc(1, sizeof *net);
    if (net == NULL) {
        xnn_deinitialize();
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory");
    }
    net->xnn_inited = true;
    net->m = m;
    net->threads = threads;
    net->flags = opts->flags;
    net->precision = opts->precision;
    net->simd = sx_xnn_q8_have_simd() && (opts->flags & SX_XNN_NET_PORTABLE) == 0;
    specx_status st = SPECX_OK;
    if (threads > 1) {
        net->pool = pthreadpool_create((size_t)threads);
        if (net->pool == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "xnnpack: cannot create %d threads", threads);
        }
    }
    if (st == SPECX_OK) {
        st = plan(net, err);
    }
    if (st == SPECX_OK && net->precision == SX_XNN_INT8) {
        st = assign_quant(net, opts->ranges, err);
    }
    if (st == SPECX_OK) {
        st = assign_arenas(net, err);
    }
    if (st == SPECX_OK) {
        st = build_ops(net, err);
    }
    if (st != SPECX_OK) {
        sx_xnn_net_destroy(net);
        return st;
    }
    *out = net;
    return SPECX_OK;
}

void sx_xnn_net_destroy(sx_xnn_net *net)
{
    if (net == NULL) {
        return;
    }
    for (int s = 0; s < net->nop; s++) {
        if (net->ops[s].xop != NULL) {
            xnn_delete_operator(net->ops[s].xop);
        }
        free(net->ops[s].wt);
        for (int t = 0; t < net->ops[s].ntask; t++) {
            if (net->ops[s].txop[t] != NULL) {
                xnn_delete_operator(net->ops[s].txop[t]);
            }
            free(net->ops[s].dw_buf[t]);
        }
        free(net->ops[s].txop);
        free(net->ops[s].dw_buf);
        if (net->ops[s].pw.bufs != NULL) {
            for (int t = 0; t < net->ops[s].pw.tasks; t++) {
                free(net->ops[s].pw.bufs[t]);
            }
            free(net->ops[s].pw.bufs);
        }
        free((void *)net->ops[s].pw.pw_w);
        sx_xnn_qop_free(&net->ops[s]);
    }
    for (int a = 0; a < net->narena; a++) {
        free(net->arenas[a]);
    }
    free(net->arenas);
    free(net->ops);
    for (int b = 0; b < net->nbuf && net->bufs != NULL; b++) {
        free(net->bufs[b].qs);
        free(net->bufs[b].qz);
    }
    free(net->bufs);
    free(net->views);
    if (net->pool != NULL) {
        pthreadpool_destroy(net->pool);
    }
    if (net->xnn_inited) {
        xnn_deinitialize();
    }
    free(net);
}

float *sx_xnn_net_input(sx_xnn_net *net)
{
    return net->bufs[0].p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void post_act(pthreadpool_t pool, sx_xnn_act act, const sx_xnn_view *v)
{
    if (act == SX_XNN_ACT_LEAKY) {
        sx_xnn_k_leaky(pool, v);
    } else if (act == SX_XNN_ACT_LOGISTIC) {
        sx_xnn_k_logistic(pool, v);
    }
}

/* A banded op's task t: its own rows, band by band, on this thread only
 * (the pool splits by task, so each band's steps need no synchronisation). */
typedef struct band_ctx {
    op *o;
    enum xnn_status *status; /* [ntask] */
} band_ctx;

/* Rows [*y0, *y1) of task t's share. */
static void task_rows(const op *o, size_t t, int *y0, int *y1)
{
    int per = (o->vout.h + o->ntask - 1) / o->ntask;
    per = (per + o->band - 1) / o->band * o->band; /* whole bands */
    *y0 = (int)t * per;
    *y1 = *y0 + per > o->vout.h ? o->vout.h : *y0 + per;
}

/* A 1x1 convolution with leaky: GEMM and leaky per band of output rows. */
static void banded_task(void *ctx, size_t t)
{
    const band_ctx *bc = ctx;
    op *o = bc->o;
    const size_t w = (size_t)o->vout.w;
    int begin, end;
    task_rows(o, t, &begin, &end);
    for (int y0 = begin; y0 < end && bc->status[t] == xnn_status_success; y0 += o->band) {
        int rows = end - y0 < o->band ? end - y0 : o->band;
        sx_xnn_view in = o->vin, out = o->vout;
        in.p += (size_t)y0 * w * (size_t)in.stride;
        out.p += (size_t)y0 * w * (size_t)out.stride;
        in.h = out.h = rows;
        enum xnn_status xs =
            xnn_setup_fully_connected_nc_f32(o->txop[t], (size_t)rows * w, in.p, out.p, NULL);
        if (xs == xnn_status_success) {
            xs = xnn_run_operator(o->txop[t], NULL);
        }
        bc->status[t] = xs;
        sx_xnn_k_leaky(NULL, &out);
    }
}

/* A direct depthwise convolution and the 1x1 one reading it, per band. */
static void dwpw_task(void *ctx, size_t t)
{
    const band_ctx *bc = ctx;
    op *o = bc->o;
    const size_t w = (size_t)o->vout.w;
    sx_xnn_conv c = o->cv;
    c.out.p = o->dw_buf[t];
    int begin, end;
    task_rows(o, t, &begin, &end);
    for (int y0 = begin; y0 < end && bc->status[t] == xnn_status_success; y0 += o->band) {
        int rows = end - y0 < o->band ? end - y0 : o->band;
        c.out_row0 = y0;
        sx_xnn_k_dwconv_rows(NULL, &c, y0, y0 + rows);
        sx_xnn_view out = o->vout;
        out.p += (size_t)y0 * w * (size_t)out.stride;
        out.h = rows;
        enum xnn_status xs = xnn_setup_fully_connected_nc_f32(o->txop[t], (size_t)rows * w,
                                                              o->dw_buf[t], out.p, NULL);
        if (xs == xnn_status_success) {
            xs = xnn_run_operator(o->txop[t], NULL);
        }
        bc->status[t] = xs;
        post_act(NULL, o->pw_post, &out);
    }
}

static specx_status run_tasks(sx_xnn_net *net, op *o, pthreadpool_task_1d_t fn, int layer,
                              specx_err *err)
{
    enum xnn_status status[64];
    for (int t = 0; t < o->ntask; t++) {
        status[t] = xnn_status_success;
    }
    band_ctx bc = {.o = o, .status = status};
    pthreadpool_parallelize_1d(net->pool, fn, &bc, (size_t)o->ntask, 0);
    for (int t = 0; t < o->ntask; t++) {
        if (status[t] != xnn_status_success) {
            return op_fail(err, layer, "run", status[t]);
        }
    }
    return SPECX_OK;
}

specx_status sx_xnn_net_run(sx_xnn_net *net, const atomic_bool *cancel, specx_err *err)
{
    for (int s = 0; s < net->nop; s++) {
        if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed)) {
            return specx_err_set(err, SPECX_ECANCELED, "detection cancelled");
        }
        op *o = &net->ops[s];
        uint64_t t0 = net->profile ? now_ns() : 0;
        switch (o->kind) {
        case OP_NOP:
            break;
        case OP_PWDW:
            sx_xnn_k_pwdw_run(net->pool, &o->pw);
            if (o->post == SX_XNN_ACT_LOGISTIC) {
                sx_xnn_k_logistic(net->pool, &o->vout);
            }
            break;
        case OP_DWPW: {
            specx_status st = run_tasks(net, o, dwpw_task, o->pw_layer, err);
            if (st != SPECX_OK) {
                return st;
            }
            break;
        }
        case OP_STEM:
            sx_xnn_k_stem3(net->pool, &o->cv);
            if (o->post == SX_XNN_ACT_LOGISTIC) {
                sx_xnn_k_logistic(net->pool, &o->vout);
            }
            break;
        case OP_DW:
            sx_xnn_k_dwconv(net->pool, &o->cv);
            if (o->post == SX_XNN_ACT_LOGISTIC) {
                sx_xnn_k_logistic(net->pool, &o->vout);
            }
            break;

        case OP_CONV:
            if (o->band > 0) {
                specx_status st = run_tasks(net, o, banded_task, o->layer, err);
                if (st != SPECX_OK) {
                    return st;
                }
                break;
            }
            /* fall through */
        case OP_MAXPOOL: {
            enum xnn_status xs = xnn_run_operator(o->xop, net->pool);
            if (xs != xnn_status_success) {
                return op_fail(err, o->layer, "run", xs);
            }
            post_act(net->pool, o->post, &o->vout);
            break;
        }
        case OP_ADD:
            sx_xnn_k_add(net->pool, &o->vin, &o->vin2, &o->vout, o->post == SX_XNN_ACT_LEAKY);
            if (o->post == SX_XNN_ACT_LOGISTIC) {
                sx_xnn_k_logistic(net->pool, &o->vout);
            }
            break;
        case OP_UPSAMPLE:
            sx_xnn_k_upsample(net->pool, &o->vin, &o->vout, net->m->layers[o->layer].stride);
            break;
        case OP_COPY:
            sx_xnn_k_copy(net->pool, &o->vin, &o->vout);
            break;
        case OP_Q8:
            sx_xnn_qop_run(net, o);
            break;
        }
        if (net->observe != NULL && o->kind != OP_NOP) {
            net->observe(net->observe_ctx, o->layer, &o->vout);
        }
        if (net->profile) {
            uint64_t d = now_ns() - t0;
            o->ns += d;
            o->min_ns = o->min_ns == 0 || d < o->min_ns ? d : o->min_ns;
        }
    }
    net->runs++;
    return SPECX_OK;
}

int sx_xnn_net_yolo_count(const sx_xnn_net *net)
{
    return net->nyolo;
}

const sx_xnn_layer *sx_xnn_net_yolo_layer(const sx_xnn_net *net, int k)
{
    return &net->m->layers[net->yolo_layer[k]];
}

sx_xnn_view sx_xnn_net_yolo_view(const sx_xnn_net *net, int k)
{
    return resolve(net, view_of(net, net->yolo_layer[k] - 1));
}

void sx_xnn_net_set_observer(sx_xnn_net *net, sx_xnn_observer fn, void *ctx)
{
    net->observe = fn;
    net->observe_ctx = ctx;
}

void sx_xnn_net_set_profile(sx_xnn_net *net, bool on)
{
    net->profile = on;
    sx_xnn_net_profile_reset(net);
}

void sx_xnn_net_profile_reset(sx_xnn_net *net)
{
    for (int s = 0; s < net->nop; s++) {
        net->ops[s].ns = 0;
        net->ops[s].min_ns = 0;
    }
    net->runs = 0;
}

static const char *op_name(const op *o, const sx_xnn_layer *l)
{
    switch (o->kind) {
    case OP_DW:
        return "dw-direct";
    case OP_PWDW:
        return "1x1+dw";
    case OP_DWPW:
        return "dw+1x1";
    case OP_STEM:
        return "stem";
    case OP_NOP:
        return "fused";

    case OP_CONV:
        if (l->groups > 1 && l->groups == l->in_c && l->groups == l->filters) {
            return "conv-dw";
        }
        return l->size == 1 ? "conv-1x1" : "conv";
    case OP_MAXPOOL:
        return "maxpool";
    case OP_ADD:
        return "shortcut";
    case OP_UPSAMPLE:
        return "upsample";
    case OP_COPY:
        return "route-copy";
    case OP_Q8:
        return sx_xnn_qop_name(o);
    }
    return "?";
}

void sx_xnn_net_profile_print(const sx_xnn_net *net, FILE *f)
{
    uint64_t total = 0, total_min = 0;
    for (int s = 0; s < net->nop; s++) {
        total += net->ops[s].ns;
        total_min += net->ops[s].min_ns;
    }
    uint64_t runs = net->runs > 0 ? net->runs : 1;
    /* min: the fastest run of each step, the least disturbed on a shared machine */
    fprintf(f, "%5s %-10s %-16s %-16s %-9s %9s %9s %6s\n", "layer", "op", "in (WxHxC)",
            "out (WxHxC)", "act", "ms mean", "ms min", "share");
    for (int s = 0; s < net->nop; s++) {
        const op *o = &net->ops[s];
        const sx_xnn_layer *l = &net->m->layers[o->layer];
        char in[32], outs[32];
        snprintf(in, sizeof in, "%dx%dx%d", o->vin.w, o->vin.h, o->vin.c);
        snprintf(outs, sizeof outs, "%dx%dx%d", o->vout.w, o->vout.h, o->vout.c);
        const char *post = o->post == SX_XNN_ACT_LEAKY                         ? "leaky"
                           : o->post == SX_XNN_ACT_LOGISTIC                    ? "logistic"
                           : o->post == SX_XNN_ACT_RELU                        ? "relu"
                           : (o->kind == OP_CONV && l->act == SX_XNN_ACT_RELU) ? "relu"
                                                                               : "-";
        char act[32];
        snprintf(act, sizeof act, "%s", post);
        if (o->kind == OP_NOP) {
            continue;
        }
        if ((o->kind == OP_CONV || o->kind == OP_DW || o->kind == OP_PWDW || o->kind == OP_DWPW ||
             o->kind == OP_STEM ||
             (o->kind == OP_Q8 && o->qk != QK_QUANT && l->type == SX_XNN_L_CONV)) &&
            l->size > 1) {
            snprintf(outs + strlen(outs), sizeof outs - strlen(outs), " k%d/%d", l->size,
                     l->stride);
        }
        fprintf(f, "%5d %-10s %-16s %-16s %-9s %9.4f %9.4f %5.1f%%\n", o->layer, op_name(o, l), in,
                outs, act, (double)o->ns / runs / 1e6, (double)o->min_ns / 1e6,
                total > 0 ? 100.0 * (double)o->ns / total : 0.0);
    }
    fprintf(f,
            "total %.3f ms/run mean, %.3f ms sum of per-step minima, over %llu runs (network "
            "only, without letterbox/decoding); activations %.2f MB in %d arenas\n",
            (double)total / runs / 1e6, (double)total_min / 1e6, (unsigned long long)net->runs,
            (double)net->arena_bytes / 1e6, net->narena);
}

size_t sx_xnn_net_arena_bytes(const sx_xnn_net *net)
{
    return net->arena_bytes;
}
