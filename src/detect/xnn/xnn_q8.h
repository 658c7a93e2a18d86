/* xnn_q8.h — internal: the kernels of the xnnpack backend's int8 path.
 *
 * Tensors are u8 NHWC with one (scale s, zero point z) per channel:
 * real = s[c] * (q - z[c]). (One pair per tensor lost too much: after batch
 * norm folding the channels of one tensor span ranges orders of magnitude
 * apart. Per channel costs nothing at run time: a GEMM folds its input
 * scales into the weights and every store is per output channel anyway.)
 * A 1x1 convolution is a u8 x s8 GEMM with int32 accumulation (AVX-512 VNNI)
 * and weights quantized per output channel (symmetric, s8 in [-127, 127]).
 * Depthwise and stem convolutions compute in fp32 (int8 dot products do not
 * help a per-channel filter) from a float input and store quantized.
 *
 * Every kernel has a SIMD version (AVX-512 F/BW/VL + VNNI) and a portable C
 * version that perform the same operations in the same order, so both give
 * bit-identical results (a test checks it); `simd` in each descriptor says
 * which one runs, set from sx_xnn_q8_have_simd() when it is built.
 *
 * All functions block and are thread-safe on disjoint outputs; callers split
 * the work (by pixels or rows). Nothing here allocates except the _init
 * functions, whose contents are released by the matching _clear. */
#ifndef SPECX_DETECT_XNN_Q8_H
#define SPECX_DETECT_XNN_Q8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"

/* The activations the int8 path fuses into a store. */
typedef enum sx_xnn_q8_act {
    SX_XNN_Q8_LINEAR,
    SX_XNN_Q8_LEAKY, /* x > 0 ? x : 0.1 x */
    SX_XNN_Q8_RELU,
} sx_xnn_q8_act;

/* The CPU runs the SIMD kernels (AVX-512 F, BW, VL, DQ and VNNI). */
bool sx_xnn_q8_have_simd(void);

/* u8 value of a real value y already divided by the output scale and offset
 * by its zero point: round half to even, saturate to [0, 255]. The rounding
 * every quantizing store uses (exposed for tests). */
uint8_t sx_xnn_q8_round(float y);

/* ---- 1x1 convolution (GEMM over pixels) ---------------------------------- */

typedef struct sx_xnn_q8_gemm {
    int k, n;     /* input and output channels */
    int kq, nb;   /* k / 4 and n / 16, rounded up */
    int8_t *w;    /* [nb][kq][16][4]: 16 output channels x 4 inputs per vector */
    int32_t *acc; /* [nb * 16] initial accumulator: -z_in * sum of the channel's weights */
    /* y = max(acc * m1 + b1, acc * m2 + b2) (the second only when act2):
     * the output in its own units (u8: real / s_out + z_out; f32: real) */
    float *m1, *b1, *m2, *b2; /* [nb * 16] */
    /* n <= 8: pk pixels share a vector (2 for n <= 8, 4 for n <= 4), with
     * w, acc and the four factors repeated per pixel slot of 16 / pk lanes */
    int pk;
    int8_t *pk_w;
    int32_t *pk_acc;
    float *pk_f; /* m1, b1, m2, b2, 16 each */
    bool act2, f32_out, simd;
} sx_xnn_q8_gemm;

/* w: [n][k] fp32 weights, bias [n]; the input is u8 with s_in, z_in [k];
 * the output u8 with s_out, z_out [n] or, with f32_out, real fp32 values
 * (s_out, z_out unused). */
specx_status sx_xnn_q8_gemm_init(sx_xnn_q8_gemm *g, int k, int n, const float *w, const float *bias,
                                 sx_xnn_q8_act act, const float *s_in, const int32_t *z_in,
                                 bool f32_out, const float *s_out, const int32_t *z_out, bool simd);
void sx_xnn_q8_gemm_clear(sx_xnn_q8_gemm *g);

/* Pixels of a grid `w` pixels wide: pixel p is at in + (p / w) * in_row +
 * (p % w) * in_px (bytes) and at out + ... (bytes, or floats for f32_out).
 * Reads up to 3 bytes past each pixel's k channels (their weights are 0). */
typedef struct sx_xnn_q8_grid {
    const uint8_t *in;
    size_t in_row, in_px;
    void *out;
    size_t out_row, out_px;
    int w;
} sx_xnn_q8_grid;

/* Computes pixels [p0, p1) of the grid. */
void sx_xnn_q8_gemm_run(const sx_xnn_q8_gemm *g, const sx_xnn_q8_grid *io, size_t p0, size_t p1);

/* ---- depthwise convolution from a float band ------------------------------ */

typedef struct sx_xnn_q8_dw {
    int k, s, c;       /* kernel size, stride, channels (a multiple of 8) */
    float *w;          /* [k * k][c], already divided by the output scales */
    float *b;          /* [c], idem */
    float *zo;         /* [c] output zero points */
    sx_xnn_q8_act act; /* applied before the zero point is added */
    bool simd;
} sx_xnn_q8_dw;

/* w: [c][k][k] fp32 weights, bias [c]; the input band holds channel ch in
 * units of in_unit[ch] (1 for real values, s_in[ch] for q - z_in[ch]); the
 * output is u8 with s_out, z_out [c]. */
specx_status sx_xnn_q8_dw_init(sx_xnn_q8_dw *d, int k, int s, int c, const float *w,
                               const float *bias, sx_xnn_q8_act act, const float *in_unit,
                               const float *s_out, const int32_t *z_out, bool simd);
void sx_xnn_q8_dw_clear(sx_xnn_q8_dw *d);

/* One output row of ow pixels. `in` is the padded input row oy * s (no
 * borders to check: padding columns and rows hold 0), rows `in_row` floats
 * apart, pixels c floats apart; out pixels out_px bytes apart. */
void sx_xnn_q8_dw_row(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out,
                      size_t out_px, int ow);

/* ---- stem: dense convolution of the float network input ------------------- */

typedef struct sx_xnn_q8_stem {
    int k, s, pad, ci, n; /* n <= 32 outputs */
    float *w;             /* [k][k][ci][32], divided by the output scales */
    float *b;             /* [32], idem */
    float *zo;            /* [32] */
    sx_xnn_q8_act act;
    bool simd;
} sx_xnn_q8_stem;

/* w: [n][k][k][ci] fp32 weights (the model's layout), bias [n]; output u8
 * with s_out, z_out [n]. */
specx_status sx_xnn_q8_stem_init(sx_xnn_q8_stem *st, int k, int s, int pad, int ci, int n,
                                 const float *w, const float *bias, sx_xnn_q8_act act,
                                 const float *s_out, const int32_t *z_out, bool simd);
void sx_xnn_q8_stem_clear(sx_xnn_q8_stem *st);

/* Output row oy of an ow-wide output from the float input (ih x iw x ci,
 * pixels in_px floats apart); out pixels out_px bytes apart. */
void sx_xnn_q8_stem_row(const sx_xnn_q8_stem *st, const float *in, int ih, int iw, size_t in_px,
                        int oy, uint8_t *out, size_t out_px, int ow);

/* ---- small loops ---------------------------------------------------------- */

/* dst[x * c + ch] = q[x * px + ch] - z[ch], for w pixels of c channels. */
void sx_xnn_q8_to_float(const uint8_t *q, size_t px, int w, int c, const int32_t *z, float *dst,
                        bool simd);

/* o[x * po + ch] = round(x[x * px + ch] * inv_s[ch] + zo[ch]) saturated:
 * w pixels of c channels of a float tensor quantized. */
void sx_xnn_q8_quantize_row(const float *x, size_t px, int w, int c, const float *inv_s,
                            const float *zo, uint8_t *o, size_t po, bool simd);

/* o = act(a + b) of two u8 tensors, requantized: per channel
 * ka = sa / so, kb = sb / so, k0 = -za ka - zb kb. */
typedef struct sx_xnn_q8_add {
    int c;
    float *ka, *kb, *k0, *zo; /* [c], padded; c < 16 dividing 16: repeated to 16 */
    sx_xnn_q8_act act;
    bool simd;
} sx_xnn_q8_add;
specx_status sx_xnn_q8_add_init(sx_xnn_q8_add *p, int c, const float *sa, const int32_t *za,
                                const float *sb, const int32_t *zb, const float *so,
                                const int32_t *zo, sx_xnn_q8_act act, bool simd);
void sx_xnn_q8_add_clear(sx_xnn_q8_add *p);
/* One row of w pixels (dense rows of fewer than 16 channels go 16 values
 * at a time). */
void sx_xnn_q8_add_row(const sx_xnn_q8_add *p, const uint8_t *a, size_t pa, const uint8_t *b,
                       size_t pb, uint8_t *o, size_t po, int w);

/* Tables requantizing c channels from (s_in, z_in) to (s_out, z_out): lut
 * holds c x 256 entries; returns false when every channel is the identity
 * (equal parameters), and then lut is not needed. */
bool sx_xnn_q8_lut(int c, const float *s_in, const int32_t *z_in, const float *s_out,
                   const int32_t *z_out, uint8_t *lut);

/* Copies w pixels of c channels, through lut (c x 256) unless it is NULL. */
void sx_xnn_q8_copy_row(const uint8_t *a, size_t pa, uint8_t *o, size_t po, int w, int c,
                        const uint8_t *lut);

/* Output row oy of a max pooling (darknet: window size k, stride s, the
 * window starting at -off; taps outside the input are ignored) of an
 * ih x iw input, pixels pa bytes apart, through lut unless it is NULL. */
void sx_xnn_q8_maxpool_row(const uint8_t *a, size_t pa, int ih, int iw, int c, int k, int s,
                           int off, int oy, uint8_t *o, size_t po, int ow, const uint8_t *lut);

#endif
