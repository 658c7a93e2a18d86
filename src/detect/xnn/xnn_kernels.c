/* xnn_kernels.c — element-wise loops over strided NHWC views, split by rows.
 *
 * Design notes: the inner loops are plain C over one pixel's channels that
 * GCC vectorises; target_clones builds AVX-512, AVX2 and baseline versions
 * and picks one at load time, so the library still runs on any x86-64. */
#include "xnn_kernels.h"

#include <math.h>

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define XK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define XK_CLONES
#endif

typedef struct xk_task {
    xk_view a, b, o;
    int arg;
} xk_task;

XK_CLONES static void leaky_row(float *restrict p, int w, int c, int stride)
{
    for (int x = 0; x < w; x++, p += stride) {
        for (int k = 0; k < c; k++) {
            float v = p[k];
            p[k] = v > 0.0f ? v : 0.1f * v;
        }
    }
}

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

/* ---- direct convolutions ------------------------------------------------
 * One task per output row. Per output pixel the accumulators of one channel
 * tile (T = 4..32 floats, a compile-time constant so they stay in vector
 * registers) run over the valid taps; the tile loop is instantiated per T. */

static inline float act_apply(float v, int act)
{
    if (act == 1) {
        return v > 0.0f ? v : 0.1f * v;
    }
    if (act == 2) {
        return v > 0.0f ? v : 0.0f;
    }
    return v;
}

#define DW_TILE(T)                                                                                 \
    XK_CLONES static void dw_row_##T(const xk_conv *cv, int oy)                                    \
    {                                                                                              \
        const int C = cv->out.c, k = cv->k;                                                        \
        const int iy0 = oy * cv->s - cv->pad;                                                      \
        const int ky0 = iy0 < 0 ? -iy0 : 0;                                                        \
        const int ky1 = iy0 + k > cv->in.h ? cv->in.h - iy0 : k;                                   \
        float *orow = cv->out.p + (size_t)oy * cv->out.w * cv->out.stride;                         \
        const float *rrow =                                                                        \
            cv->res.p ? cv->res.p + (size_t)oy * cv->res.w * cv->res.stride : NULL;                \
        for (int ox = 0; ox < cv->out.w; ox++) {                                                   \
            const int ix0 = ox * cv->s - cv->pad;                                                  \
            const int kx0 = ix0 < 0 ? -ix0 : 0;                                                    \
            const int kx1 = ix0 + k > cv->in.w ? cv->in.w - ix0 : k;                               \
            for (int c0 = 0; c0 < C; c0 += T) {                                                    \
                float acc[T];                                                                      \
                for (int c = 0; c < T; c++) {                                                      \
                    acc[c] = cv->b[c0 + c];                                                        \
                }                                                                                  \
                for (int ky = ky0; ky < ky1; ky++) {                                               \
                    const float *src =                                                             \
                        cv->in.p + ((size_t)(iy0 + ky) * cv->in.w + ix0) * cv->in.stride + c0;     \
                    const float *wt = cv->w + (size_t)ky * k * C + c0;                             \
                    for (int kx = kx0; kx < kx1; kx++) {                                           \
                        const float *x = src + (size_t)kx * cv->in.stride;                         \
                        const float *w = wt + (size_t)kx * C;                                      \
                        if (cv->in_leaky) {                                                        \
                            for (int c = 0; c < T; c++) {                                          \
                                float v = x[c];                                                    \
                                v = v > 0.0f ? v : 0.1f * v;                                       \
                                acc[c] += v * w[c];                                                \
                            }                                                                      \
                        } else {                                                                   \
                            for (int c = 0; c < T; c++) {                                          \
                                acc[c] += x[c] * w[c];                                             \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                float *o = orow + (size_t)ox * cv->out.stride + c0;                                \
                for (int c = 0; c < T; c++) {                                                      \
                    o[c] = act_apply(acc[c], cv->act);                                             \
                }                                                                                  \
                if (rrow != NULL) {                                                                \
                    const float *r = rrow + (size_t)ox * cv->res.stride + c0;                      \
                    for (int c = 0; c < T; c++) {                                                  \
                        o[c] += r[c];                                                              \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DW_TILE(8)
DW_TILE(16)
DW_TILE(32)

static void dw_task(void *ctx, size_t oy)
{
    const xk_conv *cv = ctx;
    if (cv->out.c % 32 == 0) {
        dw_row_32(cv, (int)oy);
    } else if (cv->out.c % 16 == 0) {
        dw_row_16(cv, (int)oy);
    } else {
        dw_row_8(cv, (int)oy);
    }
}

void xk_dwconv(pthreadpool_t pool, const xk_conv *cv)
{
    pthreadpool_parallelize_1d(pool, dw_task, (void *)cv, (size_t)cv->out.h, 0);
}

#define DENSE_TILE(T)                                                                              \
    XK_CLONES static void dense_row_##T(const xk_conv *cv, int oy)                                 \
    {                                                                                              \
        const int CI = cv->in.c, CO = cv->out.c, k = cv->k;                                        \
        const int iy0 = oy * cv->s - cv->pad;                                                      \
        const int ky0 = iy0 < 0 ? -iy0 : 0;                                                        \
        const int ky1 = iy0 + k > cv->in.h ? cv->in.h - iy0 : k;                                   \
        float *orow = cv->out.p + (size_t)oy * cv->out.w * cv->out.stride;                         \
        const float *rrow =                                                                        \
            cv->res.p ? cv->res.p + (size_t)oy * cv->res.w * cv->res.stride : NULL;                \
        for (int ox = 0; ox < cv->out.w; ox++) {                                                   \
            const int ix0 = ox * cv->s - cv->pad;                                                  \
            const int kx0 = ix0 < 0 ? -ix0 : 0;                                                    \
            const int kx1 = ix0 + k > cv->in.w ? cv->in.w - ix0 : k;                               \
            for (int c0 = 0; c0 < CO; c0 += T) {                                                   \
                float acc[T];                                                                      \
                for (int c = 0; c < T; c++) {                                                      \
                    acc[c] = cv->b[c0 + c];                                                        \
                }                                                                                  \
                for (int ky = ky0; ky < ky1; ky++) {                                               \
                    for (int kx = kx0; kx < kx1; kx++) {                                           \
                        const float *x = cv->in.p + ((size_t)(iy0 + ky) * cv->in.w + (ix0 + kx)) * \
                                                        cv->in.stride;                             \
                        const float *w = cv->w + ((size_t)(ky * k + kx) * CI) * CO + c0;           \
                        for (int ci = 0; ci < CI; ci++, w += CO) {                                 \
                            float v = x[ci];                                                       \
                            if (cv->in_leaky) {                                                    \
                                v = v > 0.0f ? v : 0.1f * v;                                       \
                            }                                                                      \
                            for (int c = 0; c < T; c++) {                                          \
                                acc[c] += v * w[c];                                                \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
                float *o = orow + (size_t)ox * cv->out.stride + c0;                                \
                for (int c = 0; c < T; c++) {                                                      \
                    o[c] = act_apply(acc[c], cv->act);                                             \
                }                                                                                  \
                if (rrow != NULL) {                                                                \
                    const float *r = rrow + (size_t)ox * cv->res.stride + c0;                      \
                    for (int c = 0; c < T; c++) {                                                  \
                        o[c] += r[c];                                                              \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DENSE_TILE(4)
DENSE_TILE(8)
DENSE_TILE(16)
DENSE_TILE(32)

static void dense_task(void *ctx, size_t oy)
{
    const xk_conv *cv = ctx;
    int co = cv->out.c;
    if (co % 32 == 0) {
        dense_row_32(cv, (int)oy);
    } else if (co % 16 == 0) {
        dense_row_16(cv, (int)oy);
    } else if (co % 8 == 0) {
        dense_row_8(cv, (int)oy);
    } else {
        dense_row_4(cv, (int)oy);
    }
}

void xk_dense(pthreadpool_t pool, const xk_conv *cv)
{
    pthreadpool_parallelize_1d(pool, dense_task, (void *)cv, (size_t)cv->out.h, 0);
}
