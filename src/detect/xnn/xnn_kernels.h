/* xnn_kernels.h — internal: the small element-wise loops the XNNPACK
 * operator set lacks or does worse (in-place leaky ReLU on a strided channel
 * slice, residual add, nearest upsample, slice copy).
 *
 * Tensors are NHWC views: `p` points at channel 0 of pixel (0,0), pixels are
 * `stride` floats apart, `c` channels are used. Work is split by rows over
 * the pool (NULL: the calling thread). Blocking; thread-safe on disjoint
 * outputs. */
#ifndef SPECX_DETECT_XNN_KERNELS_H
#define SPECX_DETECT_XNN_KERNELS_H

#include <pthreadpool.h>
#include <stddef.h>

typedef struct xk_view {
    float *p;
    int h, w, c, stride;
} xk_view;

void xk_leaky(pthreadpool_t pool, const xk_view *v);
void xk_logistic(pthreadpool_t pool, const xk_view *v);
/* o = a + b (then `leaky` if set); views of equal shape. o may equal a. */
void xk_add(pthreadpool_t pool, const xk_view *a, const xk_view *b, const xk_view *o, int leaky);
/* o is (h*s) x (w*s) of a's pixels repeated. */
void xk_upsample(pthreadpool_t pool, const xk_view *a, const xk_view *o, int s);
void xk_copy(pthreadpool_t pool, const xk_view *a, const xk_view *o);

/* Direct convolutions for the layers where XNNPACK's per-pixel overhead
 * dominates (thin tensors) and where fusing saves whole passes over memory:
 * `in_leaky` applies leaky ReLU to every input value as it is read (the
 * producer stored its raw output), `act` is applied to the result, then
 * `res` (if res.p != NULL) is added (a fused [shortcut]). */
typedef struct xk_conv {
    xk_view in, out, res;
    const float *w; /* depthwise: [k*k][c]; dense: [k*k*in.c][out.c] */
    const float *b; /* [out.c] */
    int k, s, pad;
    int in_leaky;
    int act; /* 0 linear, 1 leaky, 2 relu */
} xk_conv;

/* Depthwise (one filter per channel); out.c == in.c, a multiple of 8. */
void xk_dwconv(pthreadpool_t pool, const xk_conv *cv);
/* Dense (groups = 1); out.c a multiple of 4 and at most 64. */
void xk_dense(pthreadpool_t pool, const xk_conv *cv);

#endif
