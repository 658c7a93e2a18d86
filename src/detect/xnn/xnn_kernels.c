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
