/* xnn_kernels.c — element-wise loops over strided NHWC views, split by rows.
 *
 * Design notes: the inner loops are plain C over one pixel's channels that
 * GCC vectorises; target_clones builds AVX-512, AVX2 and baseline versions
 * and picks one at load time, so the library still runs on any x86-64. */
#include "xnn_kernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define XK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XK_CLONES
#endif

typedef struct xk_task {
    xk_view a, b, o;
    int arg;
} xk_task;

XK_CLONES static void leaky_row(float *restrict p, int w, int c, int stride);

static void leaky_task(void *ctx, size_t y)
{
    const xk_task *t = ctx;
    leaky_row(t->a.p + y * (size_t)t->a.w * t->a.stride, t->a.w, t->a.c, t->a.stride);
}

void xk_leaky(pthreadpool_t pool, const xk_view *v)
{
    xk_task t = {.a = *v};
    pthreadpool_parallelize_1d(pool, leaky_task, &t, (size_t)v->h, 0);
}

static void logistic_task(void *ctx, size_t y)
{
    const xk_task *t = ctx;
    float *p = t->a.p + y * (size_t)t->a.w * t->a.stride;
    for (int x = 0; x < t->a.w; x++, p += t->a.stride) {
        for (int k = 0; k < t->a.c; k++) {
            p[k] = (float)(1.0 / (1.0 + exp(-(double)p[k])));
        }
    }
}

void xk_logistic(pthreadpool_t pool, const xk_view *v)
{
    xk_task t = {.a = *v};
    pthreadpool_parallelize_1d(pool, logistic_task, &t, (size_t)v->h, 0);
}

XK_CLONES static void add_row(const float *a, int sa, const float *b, int sb, float *o, int so,
                              int w, int c, int leaky)
{
    for (int x = 0; x < w; x++, a += sa, b += sb, o += so) {
        if (leaky) {
            for (int k = 0; k < c; k++) {
                float v = a[k] + b[k];
                o[k] = v > 0.0f ? v : 0.1f * v;
            }
        } else {
            for (int k = 0; k < c; k++) {
                o[k] = a[k] + b[k];
            }
        }
    }
}

static void add_task(void *ctx, size_t y)
{
    const xk_task *t = ctx;
    size_t w = (size_t)t->o.w;
    add_row(t->a.p + y * w * t->a.stride, t->a.stride, t->b.p + y * w * t->b.stride, t->b.stride,
            t->o.p + y * w * t->o.stride, t->o.stride, t->o.w, t->o.c, t->arg);
}

void xk_add(pthreadpool_t pool, const xk_view *a, const xk_view *b, const xk_view *o, int leaky)
{
    xk_task t = {.a = *a, .b = *b, .o = *o, .arg = leaky};
    if (a->stride == a->c && b->stride == b->c && o->stride == o->c) {
        /* dense tensors: one long row per output row, whatever c is */
        t.a.c = t.b.c = t.o.c = a->c * a->w;
        t.a.stride = t.b.stride = t.o.stride = t.o.c;
        t.a.w = t.b.w = t.o.w = 1;
    }
    pthreadpool_parallelize_1d(pool, add_task, &t, (size_t)o->h, 0);
}

XK_CLONES static void copy_px(const float *restrict a, float *restrict o, int c)
{
    for (int k = 0; k < c; k++) {
        o[k] = a[k];
    }
}

static void upsample_task(void *ctx, size_t oy)
{
    const xk_task *t = ctx;
    int s = t->arg;
    const float *a = t->a.p + (oy / (size_t)s) * (size_t)t->a.w * t->a.stride;
    float *o = t->o.p + oy * (size_t)t->o.w * t->o.stride;
    for (int ox = 0; ox < t->o.w; ox++, o += t->o.stride) {
        copy_px(a + (size_t)(ox / s) * t->a.stride, o, t->o.c);
    }
}

void xk_upsample(pthreadpool_t pool, const xk_view *a, const xk_view *o, int s)
{
    xk_task t = {.a = *a, .o = *o, .arg = s};
    pthreadpool_parallelize_1d(pool, upsample_task, &t, (size_t)o->h, 0);
}

static void copy_task(void *ctx, size_t y)
{
    const xk_task *t = ctx;
    const float *a = t->a.p + y * (size_t)t->a.w * t->a.stride;
    float *o = t->o.p + y * (size_t)t->o.w * t->o.stride;
    for (int x = 0; x < t->o.w; x++, a += t->a.stride, o += t->o.stride) {
        copy_px(a, o, t->o.c);
    }
}

void xk_copy(pthreadpool_t pool, const xk_view *a, const xk_view *o)
{
    xk_task t = {.a = *a, .o = *o};
    pthreadpool_parallelize_1d(pool, copy_task, &t, (size_t)o->h, 0);
}

/* ---- direct depthwise convolution ---------------------------------------
 * One task per output row. The channel tile is NV vectors of 8 floats (GCC
 * vector extensions: AVX in the avx2/avx512 clones, SSE pairs otherwise),
 * a compile-time constant, so the accumulators live in registers; each
 * variant is instantiated per tile size and per "leaky on load" so the inner
 * loops have no branches. Leaky ReLU is a compare-and-select. */

/* The helpers below pass vectors by value; they are static and inlined, so
 * the AVX-vs-SSE calling convention GCC warns about (-Wpsabi, turned off
 * for this file in CMakeLists.txt) never applies. */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

static inline v8 ld8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st8(float *p, v8 v)
{
    memcpy(p, &v, sizeof v);
}

static inline v8 leaky8(v8 v)
{
    v8i m = v > 0.0f;
    v8 s = v * 0.1f;
    return (v8)(((v8i)v & m) | ((v8i)s & ~m));
}

XK_CLONES static void leaky_row(float *restrict p, int w, int c, int stride)
{
    for (int x = 0; x < w; x++, p += stride) {
        int k = 0;
        for (; k + 8 <= c; k += 8) {
            st8(p + k, leaky8(ld8(p + k)));
        }
        for (; k < c; k++) {
            p[k] = p[k] > 0.0f ? p[k] : 0.1f * p[k];
        }
    }
}

static inline v8 act8(v8 v, int act)
{
    if (act == 1) {
        return leaky8(v);
    }
    if (act == 2) {
        v8i m = v > 0.0f;
        return (v8)((v8i)v & m);
    }
    return v;
}

/* one 8-channel tile of one output pixel, any kernel size, borders too */
static inline void dw_pixel(const xk_conv *cv, int oy, int ox, int c0)
{
    const int C = cv->out.c, k = cv->k, is = cv->in.stride;
    const int iy0 = oy * cv->s - cv->pad, ix0 = ox * cv->s - cv->pad;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + k > cv->in.h ? cv->in.h - iy0 : k;
    const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + k > cv->in.w ? cv->in.w - ix0 : k;
    v8 acc = ld8(cv->b + c0);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *src = cv->in.p + ((size_t)(iy0 + ky) * cv->in.w + ix0) * is + c0;
        const float *wt = cv->w + (size_t)ky * k * C + c0;
        for (int kx = kx0; kx < kx1; kx++) {
            acc += ld8(src + (size_t)kx * is) * ld8(wt + (size_t)kx * C);
        }
    }
    st8(cv->out.p + ((size_t)oy * cv->out.w + ox) * cv->out.stride + c0, act8(acc, cv->act));
}

/* 3x3: the nine weight vectors of a channel tile stay in registers while
 * the tile sweeps the row; only border pixels take the generic path. */
XK_CLONES static void dw3_row(const xk_conv *cv, int oy)
{
    const int C = cv->out.c, s = cv->s, pad = cv->pad, is = cv->in.stride;
    const int os = cv->out.stride, ow = cv->out.w, act = cv->act;
    const int iy0 = oy * s - pad;
    const bool full = iy0 >= 0 && iy0 + 3 <= cv->in.h;
    int lo = (pad + s - 1) / s, hi = (cv->in.w - 3 + pad) / s + 1;
    lo = lo > ow ? ow : lo;
    hi = hi > ow ? ow : hi < lo ? lo : hi;
    float *orow = cv->out.p + (size_t)oy * ow * os;
    for (int c0 = 0; c0 < C; c0 += 8) {
        if (!full) {
            for (int ox = 0; ox < ow; ox++) {
                dw_pixel(cv, oy, ox, c0);
            }
            continue;
        }
        const float *w = cv->w + c0;
        const v8 w0 = ld8(w), w1 = ld8(w + C), w2 = ld8(w + 2 * C);
        const v8 w3 = ld8(w + 3 * C), w4 = ld8(w + 4 * C), w5 = ld8(w + 5 * C);
        const v8 w6 = ld8(w + 6 * C), w7 = ld8(w + 7 * C), w8 = ld8(w + 8 * C);
        const v8 bias = ld8(cv->b + c0);
        const float *r0 = cv->in.p + (size_t)iy0 * cv->in.w * is + c0;
        const float *r1 = r0 + (size_t)cv->in.w * is, *r2 = r1 + (size_t)cv->in.w * is;
        for (int ox = 0; ox < lo; ox++) {
            dw_pixel(cv, oy, ox, c0);
        }
        for (int ox = lo; ox < hi; ox++) {
            size_t x = (size_t)(ox * s - pad) * is;
            v8 acc = bias;
            acc += ld8(r0 + x) * w0;
            acc += ld8(r0 + x + is) * w1;
            acc += ld8(r0 + x + 2 * is) * w2;
            acc += ld8(r1 + x) * w3;
            acc += ld8(r1 + x + is) * w4;
            acc += ld8(r1 + x + 2 * is) * w5;
            acc += ld8(r2 + x) * w6;
            acc += ld8(r2 + x + is) * w7;
            acc += ld8(r2 + x + 2 * is) * w8;
            st8(orow + (size_t)ox * os + c0, act8(acc, act));
        }
        for (int ox = hi; ox < ow; ox++) {
            dw_pixel(cv, oy, ox, c0);
        }
    }
}

XK_CLONES static void dw_row(const xk_conv *cv, int oy)
{
    for (int ox = 0; ox < cv->out.w; ox++) {
        for (int c0 = 0; c0 < cv->out.c; c0 += 8) {
            dw_pixel(cv, oy, ox, c0);
        }
    }
}

static void dw_task(void *ctx, size_t oy)
{
    const xk_conv *cv = ctx;
    if (cv->k == 3) {
        dw3_row(cv, (int)oy);
    } else {
        dw_row(cv, (int)oy);
    }
}

void xk_dwconv(pthreadpool_t pool, const xk_conv *cv)
{
    pthreadpool_parallelize_1d(pool, dw_task, (void *)cv, (size_t)cv->out.h, 0);
}
