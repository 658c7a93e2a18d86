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

typedef struct sx_xnn_view {
    float *p;
    int h, w, c, stride;
} sx_xnn_view;

void sx_xnn_k_leaky(pthreadpool_t pool, const sx_xnn_view *v);
void sx_xnn_k_logistic(pthreadpool_t pool, const sx_xnn_view *v);
/* o = a + b (then `leaky` if set); views of equal shape. o may equal a. */
void sx_xnn_k_add(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *b,
                  const sx_xnn_view *o, int leaky);
/* o is (h*s) x (w*s) of a's pixels repeated. */
void sx_xnn_k_upsample(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *o, int s);
void sx_xnn_k_copy(pthreadpool_t pool, const sx_xnn_view *a, const sx_xnn_view *o);

/* Direct depthwise convolution for thin layers, where XNNPACK's per-pixel
 * overhead dominates: `act` is applied as the result is stored (no
 * separate activation pass). */
typedef struct sx_xnn_conv {
    sx_xnn_view in, out;
    const float *w; /* [k*k][c] (stem: [k*k][in.c][out.c]) */
    const float *b; /* [c] */
    int k, s, pad;
    int act;      /* 0 linear, 1 leaky, 2 relu */
    int row0;     /* tensor row stored first in in.p (0 unless fused) */
    int out_row0; /* tensor row stored first in out.p (0 unless fused) */
} sx_xnn_conv;

/* One filter per channel; out.c == in.c, a multiple of 8. */
void sx_xnn_k_dwconv(pthreadpool_t pool, const sx_xnn_conv *cv);
/* Output rows [oy0, oy1) only (out.p holds rows from out_row0 on). */
void sx_xnn_k_dwconv_rows(pthreadpool_t pool, const sx_xnn_conv *cv, int oy0, int oy1);

/* Dense 3x3 convolution (groups 1) with few input channels and out.c 8 or
 * 16: the network's first layer. w is [3][3][in.c][out.c]. */
void sx_xnn_k_stem3(pthreadpool_t pool, const sx_xnn_conv *cv);

/* A 1x1 convolution (in.c inputs, mid_c outputs, a multiple of 8) fused
 * into the 3x3 depthwise convolution that reads it: the expanded tensor is
 * produced band by band into per-task buffers that stay in cache instead
 * of going through memory. dw.in describes the logical expanded tensor
 * (h, w, c; its p and stride are ignored). */
typedef struct sx_xnn_pwdw {
    sx_xnn_view in;
    int mid_c;
    const float *pw_w; /* [in.c][mid_c] */
    const float *pw_b; /* [mid_c] */
    int pw_act;        /* 0 linear, 1 leaky, 2 relu */
    sx_xnn_conv dw;
    int band;     /* output rows per band */
    int tasks;    /* parallel tasks, one buffer each */
    float **bufs; /* tasks buffers of (band * s + k) x w x mid_c floats */
} sx_xnn_pwdw;
void sx_xnn_k_pwdw_run(pthreadpool_t pool, const sx_xnn_pwdw *f);

#endif
