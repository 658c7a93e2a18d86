/* xnn_kernels.c — element-wise loops over strided NHWC views, split by rows.
 *
 * Design notes: the inner loops are plain C over one pixel's channels that
 * GCC vectorises; target_clones builds AVX-512, AVX2 and baseline versions
 * and picks one at load time, so the library still runs on any x86-64. */
#include "detect/xnn/xnn_kernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define XK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XK_CLONES
#endif

typedef struct ktask {
    sx_xnn_view a, b, o;
    int arg;
} ktask;

XK_CLONES static void leaky_row(float *restrict p, int w, int c, int stride);

static void leaky_task(void *ctx, size_t y)
{
    const ktask *t = ctx;
    leaky_row(t->a.p + y * (size_t)t->a.w * t->a.stride, t->a.w, t->a.c, t->a.stride);
}

void sx_xnn_k_leaky(pthreadpool_t pool, const sx_xnn_view *v)
{
    ktask t = {.a = *v};
    if (v->stride == v->c) {
        /* a dense tensor: one long row per image row */
        t.a.c = t.a.stride = v->c * v->w;
        t.a.w = 1;
    }
    pthreadpool_parallelize_1d(pool, leaky_task, &t, (size_t)v->h, 0);
}

static void logistic_task(void *ctx, size_t y)
{
    const ktask *t = ctx;
    float *p = t->a.p + y * (size_t)t->a.w * t->a.stride;
    for (int x = 0; x < t->a.w; x++, p += t->a.stride) {
        for (int k = 0; k < t->a.c; k++) {
            p[k] = (float)(1.0 / (1.0 + exp(-(double)p[k])));
        }
    }
}

void sx_xnn_k_logistic(pthreadpool_t pool, const sx_xnn_view *v)
{
    ktask t = {.a = *v};
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
    const ktask *t = ctx;
    size_t w = (size_t)t->o.w;
    add_row(t->a.p + y * w * t->a.stride, t->a.stride, t->b.p + y * w * t->b.stride, t->b.stride,
            t->o.p + y * w * t->o.stride, t->o.stride, t->o.w, t->o.c, t->arg);
}

void sx_xnn_k_add(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *b,
                  const sx_xnn_view *o, int leaky)
{
    ktask t = {.a = *a, .b = *b, .o = *o, .arg = leaky};
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
    const ktask *t = ctx;
    int s = t->arg;
    const float *a = t->a.p + (oy / (size_t)s) * (size_t)t->a.w * t->a.stride;
    float *o = t->o.p + oy * (size_t)t->o.w * t->o.stride;
    for (int ox = 0; ox < t->o.w; ox++, o += t->o.stride) {
        copy_px(a + (size_t)(ox / s) * t->a.stride, o, t->o.c);
    }
}

void sx_xnn_k_upsample(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *o, int s)
{
    ktask t = {.a = *a, .o = *o, .arg = s};
    pthreadpool_parallelize_1d(pool, upsample_task, &t, (size_t)o->h, 0);
}

static void copy_task(void *ctx, size_t y)
{
    const ktask *t = ctx;
    const float *a = t->a.p + y * (size_t)t->a.w * t->a.stride;
    float *o = t->o.p + y * (size_t)t->o.w * t->o.stride;
    for (int x = 0; x < t->o.w; x++, a += t->a.stride, o += t->o.stride) {
        copy_px(a, o, t->o.c);
    }
}

void sx_xnn_k_copy(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *o)
{
    ktask t = {.a = *a, .o = *o};
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

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

static inline v16 ld16(const float *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void st16(float *p, v16 v)
{
    memcpy(p, &v, sizeof v);
}

static inline v16 act16(v16 v, int act)
{
    if (act == 0) {
        return v;
    }
    v16i m = v > 0.0f;
    v16 s = act == 1 ? v * 0.1f : (v16){0};
    return (v16)(((v16i)v & m) | ((v16i)s & ~m));
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
static inline void dw_pixel(const sx_xnn_conv *cv, int oy, int ox, int c0)
{
    const int C = cv->out.c, k = cv->k, is = cv->in.stride;
    const int iy0 = oy * cv->s - cv->pad, ix0 = ox * cv->s - cv->pad;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + k > cv->in.h ? cv->in.h - iy0 : k;
    const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + k > cv->in.w ? cv->in.w - ix0 : k;
    v8 acc = ld8(cv->b + c0);
    for (int ky = ky0; ky < ky1; ky++) {
        const float *src = cv->in.p + ((size_t)(iy0 + ky - cv->row0) * cv->in.w + ix0) * is + c0;
        const float *wt = cv->w + (size_t)ky * k * C + c0;
        for (int kx = kx0; kx < kx1; kx++) {
            acc += ld8(src + (size_t)kx * is) * ld8(wt + (size_t)kx * C);
        }
    }
    st8(cv->out.p + ((size_t)(oy - cv->out_row0) * cv->out.w + ox) * cv->out.stride + c0,
        act8(acc, cv->act));
}

/* 3x3: the nine weight vectors of a channel tile stay in registers while
 * the tile sweeps the row, four output pixels at a time (four independent
 * FMA chains); only border pixels take the generic path. Instantiated for
 * 8- and 16-channel tiles (VT = v8 or v16; 16 when C % 16 == 0, one AVX-512
 * register in the x86-64-v4 clone, two AVX registers otherwise). */
#define DW3_ROW(NAME, VT, LD, ST, ACT, T)                                                          \
    XK_CLONES static void NAME(const sx_xnn_conv *cv, int oy)                                      \
    {                                                                                              \
        const int C = cv->out.c, s = cv->s, pad = cv->pad, is = cv->in.stride;                     \
        const int os = cv->out.stride, ow = cv->out.w, act = cv->act;                              \
        const int iy0 = oy * s - pad;                                                              \
        const bool full = iy0 >= 0 && iy0 + 3 <= cv->in.h;                                         \
        int lo = (pad + s - 1) / s, hi = (cv->in.w - 3 + pad) / s + 1;                             \
        lo = lo > ow ? ow : lo;                                                                    \
        hi = hi > ow ? ow : hi < lo ? lo : hi;                                                     \
        if (!full) {                                                                               \
            lo = hi = ow;                                                                          \
        }                                                                                          \
        float *orow = cv->out.p + (size_t)(oy - cv->out_row0) * ow * os;                           \
        const size_t step = (size_t)s * is;                                                        \
        for (int c0 = 0; c0 < C; c0 += (T)) {                                                      \
            for (int ox = 0; ox < lo; ox++) {                                                      \
                for (int c = c0; c < c0 + (T); c += 8) {                                           \
                    dw_pixel(cv, oy, ox, c);                                                       \
                }                                                                                  \
            }                                                                                      \
            if (lo < hi) {                                                                         \
                const float *w = cv->w + c0;                                                       \
                const VT w0 = LD(w), w1 = LD(w + C), w2 = LD(w + 2 * C);                           \
                const VT w3 = LD(w + 3 * C), w4 = LD(w + 4 * C), w5 = LD(w + 5 * C);               \
                const VT w6 = LD(w + 6 * C), w7 = LD(w + 7 * C), w8 = LD(w + 8 * C);               \
                const VT bias = LD(cv->b + c0);                                                    \
                const float *r0 = cv->in.p + (size_t)(iy0 - cv->row0) * cv->in.w * is + c0;        \
                const float *r1 = r0 + (size_t)cv->in.w * is, *r2 = r1 + (size_t)cv->in.w * is;    \
                int ox = lo;                                                                       \
                if (s == 1) {                                                                      \
                    /* stride 1: the four pixels share columns; six loads per row, not twelve */   \
                    for (; ox + 4 <= hi; ox += 4) {                                                \
                        size_t x = (size_t)(ox - pad) * is;                                        \
                        VT a0 = bias, a1 = bias, a2 = bias, a3 = bias;                             \
                        for (int r = 0; r < 3; r++) {                                              \
                            const float *q = (r == 0 ? r0 : r == 1 ? r1 : r2) + x;                 \
                            const VT wa = r == 0 ? w0 : r == 1 ? w3 : w6;                          \
                            const VT wb = r == 0 ? w1 : r == 1 ? w4 : w7;                          \
                            const VT wc = r == 0 ? w2 : r == 1 ? w5 : w8;                          \
                            const VT c0_ = LD(q), c1_ = LD(q + is), c2_ = LD(q + 2 * (size_t)is);  \
                            const VT c3_ = LD(q + 3 * (size_t)is), c4_ = LD(q + 4 * (size_t)is);   \
                            const VT c5_ = LD(q + 5 * (size_t)is);                                 \
                            a0 += c0_ * wa;                                                        \
                            a0 += c1_ * wb;                                                        \
                            a0 += c2_ * wc;                                                        \
                            a1 += c1_ * wa;                                                        \
                            a1 += c2_ * wb;                                                        \
                            a1 += c3_ * wc;                                                        \
                            a2 += c2_ * wa;                                                        \
                            a2 += c3_ * wb;                                                        \
                            a2 += c4_ * wc;                                                        \
                            a3 += c3_ * wa;                                                        \
                            a3 += c4_ * wb;                                                        \
                            a3 += c5_ * wc;                                                        \
                        }                                                                          \
                        float *o = orow + (size_t)ox * os + c0;                                    \
                        ST(o, ACT(a0, act));                                                       \
                        ST(o + os, ACT(a1, act));                                                  \
                        ST(o + 2 * (size_t)os, ACT(a2, act));                                      \
                        ST(o + 3 * (size_t)os, ACT(a3, act));                                      \
                    }                                                                              \
                }                                                                                  \
                for (; ox + 4 <= hi; ox += 4) {                                                    \
                    size_t x = (size_t)(ox * s - pad) * is;                                        \
                    VT a0 = bias, a1 = bias, a2 = bias, a3 = bias;                                 \
                    for (int t = 0; t < 9; t++) {                                                  \
                        const VT wv = t == 0   ? w0                                                \
                                      : t == 1 ? w1                                                \
                                      : t == 2 ? w2                                                \
                                      : t == 3 ? w3                                                \
                                      : t == 4 ? w4                                                \
                                      : t == 5 ? w5                                                \
                                      : t == 6 ? w6                                                \
                                      : t == 7 ? w7                                                \
                                               : w8;                                               \
                        const float *q = (t < 3   ? r0                                             \
                                          : t < 6 ? r1                                             \
                                                  : r2) +                                          \
                                         x + (t % 3) * (size_t)is;                                 \
                        a0 += LD(q) * wv;                                                          \
                        a1 += LD(q + step) * wv;                                                   \
                        a2 += LD(q + 2 * step) * wv;                                               \
                        a3 += LD(q + 3 * step) * wv;                                               \
                    }                                                                              \
                    float *o = orow + (size_t)ox * os + c0;                                        \
                    ST(o, ACT(a0, act));                                                           \
                    ST(o + os, ACT(a1, act));                                                      \
                    ST(o + 2 * (size_t)os, ACT(a2, act));                                          \
                    ST(o + 3 * (size_t)os, ACT(a3, act));                                          \
                }                                                                                  \
                for (; ox < hi; ox++) {                                                            \
                    size_t x = (size_t)(ox * s - pad) * is;                                        \
                    VT acc = bias;                                                                 \
                    acc += LD(r0 + x) * w0;                                                        \
                    acc += LD(r0 + x + is) * w1;                                                   \
                    acc += LD(r0 + x + 2 * is) * w2;                                               \
                    acc += LD(r1 + x) * w3;                                                        \
                    acc += LD(r1 + x + is) * w4;                                                   \
                    acc += LD(r1 + x + 2 * is) * w5;                                               \
                    acc += LD(r2 + x) * w6;                                                        \
                    acc += LD(r2 + x + is) * w7;                                                   \
                    acc += LD(r2 + x + 2 * is) * w8;                                               \
                    ST(orow + (size_t)ox * os + c0, ACT(acc, act));                                \
                }                                                                                  \
            }                                                                                      \
            for (int ox = hi; ox < ow; ox++) {                                                     \
                for (int c = c0; c < c0 + (T); c += 8) {                                           \
                    dw_pixel(cv, oy, ox, c);                                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DW3_ROW(dw3_row_8, v8, ld8, st8, act8, 8)
DW3_ROW(dw3_row_16, v16, ld16, st16, act16, 16)

XK_CLONES static void dw_row(const sx_xnn_conv *cv, int oy)
{
    for (int ox = 0; ox < cv->out.w; ox++) {
        for (int c0 = 0; c0 < cv->out.c; c0 += 8) {
            dw_pixel(cv, oy, ox, c0);
        }
    }
}

static void dw_task(void *ctx, size_t oy)
{
    const sx_xnn_conv *cv = ctx;
    if (cv->k == 3 && cv->out.c % 16 == 0) {
        dw3_row_16(cv, (int)oy);
    } else if (cv->k == 3) {
        dw3_row_8(cv, (int)oy);
    } else {
        dw_row(cv, (int)oy);
    }
}

void sx_xnn_k_dwconv(pthreadpool_t pool, const sx_xnn_conv *cv)
{
    pthreadpool_parallelize_1d(pool, dw_task, (void *)cv, (size_t)cv->out.h, 0);
}

typedef struct dw_rows_ctx {
    const sx_xnn_conv *cv;
    int oy0;
} dw_rows_ctx;

static void dw_rows_task(void *ctx, size_t i)
{
    const dw_rows_ctx *r = ctx;
    dw_task((void *)r->cv, (size_t)r->oy0 + i);
}

void sx_xnn_k_dwconv_rows(pthreadpool_t pool, const sx_xnn_conv *cv, int oy0, int oy1)
{
    dw_rows_ctx r = {.cv = cv, .oy0 = oy0};
    pthreadpool_parallelize_1d(pool, dw_rows_task, &r, (size_t)(oy1 - oy0), 0);
}

/* ---- dense 3x3 stem convolution (few input channels) -------------------
 * out[px][0..T) = b + sum over the 3x3 taps and the input channels of
 * x * W[tap][ci][0..T): four output pixels at a time (independent FMA
 * chains), one weight vector load feeding four FMAs; borders one pixel at a
 * time over the valid taps. T = out.c = 8 or 16. */
#define STEM_ROW(NAME, VT, LD, ST, ACT, T)                                                         \
    static inline void NAME##_px(const sx_xnn_conv *cv, int oy, int ox)                            \
    {                                                                                              \
        const int CI = cv->in.c, is = cv->in.stride;                                               \
        const int iy0 = oy * cv->s - cv->pad, ix0 = ox * cv->s - cv->pad;                          \
        const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + 3 > cv->in.h ? cv->in.h - iy0 : 3;         \
        const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + 3 > cv->in.w ? cv->in.w - ix0 : 3;         \
        VT acc = LD(cv->b);                                                                        \
        for (int ky = ky0; ky < ky1; ky++) {                                                       \
            for (int kx = kx0; kx < kx1; kx++) {                                                   \
                const float *x = cv->in.p + ((size_t)(iy0 + ky) * cv->in.w + ix0 + kx) * is;       \
                const float *w = cv->w + (size_t)((ky * 3 + kx) * CI) * (T);                       \
                for (int ci = 0; ci < CI; ci++) {                                                  \
                    acc += x[ci] * LD(w + (size_t)ci * (T));                                       \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        ST(cv->out.p + ((size_t)oy * cv->out.w + ox) * cv->out.stride, ACT(acc, cv->act));         \
    }                                                                                              \
    XK_CLONES static void NAME(const sx_xnn_conv *cv, int oy)                                      \
    {                                                                                              \
        const int CI = cv->in.c, s = cv->s, pad = cv->pad, is = cv->in.stride;                     \
        const int os = cv->out.stride, ow = cv->out.w, act = cv->act;                              \
        const int iy0 = oy * s - pad;                                                              \
        const bool full = iy0 >= 0 && iy0 + 3 <= cv->in.h;                                         \
        int lo = (pad + s - 1) / s, hi = (cv->in.w - 3 + pad) / s + 1;                             \
        lo = lo > ow ? ow : lo;                                                                    \
        hi = hi > ow ? ow : hi < lo ? lo : hi;                                                     \
        if (!full) {                                                                               \
            lo = hi = ow;                                                                          \
        }                                                                                          \
        for (int ox = 0; ox < lo; ox++) {                                                          \
            NAME##_px(cv, oy, ox);                                                                 \
        }                                                                                          \
        const VT bias = LD(cv->b);                                                                 \
        const size_t step = (size_t)s * is;                                                        \
        float *orow = cv->out.p + (size_t)oy * ow * os;                                            \
        int ox = lo;                                                                               \
        for (; ox + 4 <= hi; ox += 4) {                                                            \
            VT a0 = bias, a1 = bias, a2 = bias, a3 = bias;                                         \
            for (int ky = 0; ky < 3; ky++) {                                                       \
                const float *row =                                                                 \
                    cv->in.p + ((size_t)(iy0 + ky) * cv->in.w + (size_t)(ox * s - pad)) * is;      \
                for (int kx = 0; kx < 3; kx++) {                                                   \
                    const float *x = row + (size_t)kx * is;                                        \
                    const float *w = cv->w + (size_t)((ky * 3 + kx) * CI) * (T);                   \
                    for (int ci = 0; ci < CI; ci++) {                                              \
                        const VT wv = LD(w + (size_t)ci * (T));                                    \
                        a0 += x[ci] * wv;                                                          \
                        a1 += x[step + ci] * wv;                                                   \
                        a2 += x[2 * step + ci] * wv;                                               \
                        a3 += x[3 * step + ci] * wv;                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            float *o = orow + (size_t)ox * os;                                                     \
            ST(o, ACT(a0, act));                                                                   \
            ST(o + os, ACT(a1, act));                                                              \
            ST(o + 2 * (size_t)os, ACT(a2, act));                                                  \
            ST(o + 3 * (size_t)os, ACT(a3, act));                                                  \
        }                                                                                          \
        for (; ox < ow; ox++) {                                                                    \
            NAME##_px(cv, oy, ox);                                                                 \
        }                                                                                          \
    }

STEM_ROW(stem_row_8, v8, ld8, st8, act8, 8)
STEM_ROW(stem_row_16, v16, ld16, st16, act16, 16)

static void stem_task(void *ctx, size_t oy)
{
    const sx_xnn_conv *cv = ctx;
    if (cv->out.c == 16) {
        stem_row_16(cv, (int)oy);
    } else {
        stem_row_8(cv, (int)oy);
    }
}

void sx_xnn_k_stem3(pthreadpool_t pool, const sx_xnn_conv *cv)
{
    pthreadpool_parallelize_1d(pool, stem_task, (void *)cv, (size_t)cv->out.h, 0);
}

/* ---- 1x1 expansion fused with the depthwise convolution ----------------
 * Output rows are cut into bands; per band the expanded rows it needs (the
 * band's rows times the stride, plus the 3x3 halo) are computed into a small
 * buffer that stays in cache, then the depthwise kernel runs on it (its
 * row0 says which tensor row the buffer starts at). The expanded tensor is
 * never written to memory; halo rows are computed twice (once per band). */

/* rows [y0, y1) of the 1x1 convolution into buf (rows of mid.w x mid.c),
 * T output channels per vector (16: one AVX-512 register, when mid_c allows) */
#define PW_ROWS(NAME, VT, LD, ST, ACT, T)                                                          \
    XK_CLONES static void NAME(const sx_xnn_pwdw *f, int y0, int y1, float *buf)                   \
    {                                                                                              \
        const int K = f->in.c, N = f->mid_c, W = f->in.w, is = f->in.stride, act = f->pw_act;      \
        for (int y = y0; y < y1; y++) {                                                            \
            const float *in = f->in.p + (size_t)y * W * is;                                        \
            float *o = buf + (size_t)(y - y0) * W * N;                                             \
            int x = 0;                                                                             \
            for (; x + 4 <= W; x += 4) {                                                           \
                const float *i0 = in + (size_t)x * is, *i1 = i0 + is, *i2 = i1 + is,               \
                            *i3 = i2 + is;                                                         \
                for (int n0 = 0; n0 < N; n0 += (T)) {                                              \
                    VT b = LD(f->pw_b + n0);                                                       \
                    VT a0 = b, a1 = b, a2 = b, a3 = b;                                             \
                    const float *w = f->pw_w + n0;                                                 \
                    for (int k = 0; k < K; k++, w += N) {                                          \
                        VT wv = LD(w);                                                             \
                        a0 += i0[k] * wv;                                                          \
                        a1 += i1[k] * wv;                                                          \
                        a2 += i2[k] * wv;                                                          \
                        a3 += i3[k] * wv;                                                          \
                    }                                                                              \
                    float *q = o + (size_t)x * N + n0;                                             \
                    ST(q, ACT(a0, act));                                                           \
                    ST(q + N, ACT(a1, act));                                                       \
                    ST(q + 2 * N, ACT(a2, act));                                                   \
                    ST(q + 3 * N, ACT(a3, act));                                                   \
                }                                                                                  \
            }                                                                                      \
            for (; x < W; x++) {                                                                   \
                const float *i0 = in + (size_t)x * is;                                             \
                for (int n0 = 0; n0 < N; n0 += (T)) {                                              \
                    VT a0 = LD(f->pw_b + n0);                                                      \
                    const float *w = f->pw_w + n0;                                                 \
                    for (int k = 0; k < K; k++, w += N) {                                          \
                        a0 += i0[k] * LD(w);                                                       \
                    }                                                                              \
                    ST(o + (size_t)x * N + n0, ACT(a0, act));                                      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

PW_ROWS(pw_rows_8, v8, ld8, st8, act8, 8)
PW_ROWS(pw_rows_16, v16, ld16, st16, act16, 16)

static void pwdw_task(void *ctx, size_t task)
{
    const sx_xnn_pwdw *f = ctx;
    const sx_xnn_conv *dw = &f->dw;
    int per = (dw->out.h + f->tasks - 1) / f->tasks;
    int oy_end = (int)(task + 1) * per > dw->out.h ? dw->out.h : (int)(task + 1) * per;
    float *buf = f->bufs[task];
    for (int oy0 = (int)task * per; oy0 < oy_end; oy0 += f->band) {
        int oy1 = oy0 + f->band > oy_end ? oy_end : oy0 + f->band;
        int y0 = oy0 * dw->s - dw->pad, y1 = (oy1 - 1) * dw->s - dw->pad + dw->k;
        y0 = y0 < 0 ? 0 : y0;
        y1 = y1 > dw->in.h ? dw->in.h : y1;
        if (f->mid_c % 16 == 0) {
            pw_rows_16(f, y0, y1, buf);
        } else {
            pw_rows_8(f, y0, y1, buf);
        }
        sx_xnn_conv c = *dw;
        c.in.p = buf;
        c.in.stride = f->mid_c;
        c.row0 = y0;
        for (int oy = oy0; oy < oy1; oy++) {
            dw_task(&c, (size_t)oy);
        }
    }
}

void sx_xnn_k_pwdw_run(pthreadpool_t pool, const sx_xnn_pwdw *f)
{
    pthreadpool_parallelize_1d(pool, pwdw_task, (void *)f, (size_t)f->tasks, 0);
}
