/* xnn_q8.c — the int8 path's kernels: VNNI GEMM, fp32 depthwise and stem
 * convolutions with a quantizing store, and the small u8 loops.
 *
 * Design notes:
 * - Bit-identical SIMD and portable versions. Integer accumulation is exact;
 *   every floating-point step is written as the same operations in the same
 *   order in both (fmaf / _mm512_fmadd_ps, `a > b ? a : b` / _mm512_max_ps,
 *   round half to even), and this file is compiled with -ffp-contract=off so
 *   the compiler does not fuse anything on its own.
 * - The u8 store: y -> int32 (round half to even; out of range -> INT32_MIN, as
 *   cvtps2dq) -> saturate to int16 -> saturate to u8, i.e. clamp to [0, 255].
 *   The SIMD version packs four vectors at a time (packssdw, packuswb) and
 *   one vpermd puts each vector's 16 bytes back together.
 * - GEMM register tiles: 16 accumulators (4 pixels x 64 channels, 8 x 32 or
 *   16 x 16, chosen by how many output channels are left), weights packed
 *   so one 64-byte load holds 4 inputs x 16 outputs (vpdpbusd's layout); the
 *   input is u8 (the unsigned operand), the weights s8. Tail pixels of a
 *   range repeat its last pixel (same value stored twice). */
#include "detect/xnn/xnn_q8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define Q8_X86 1
#define SIMD __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))
#else
#define Q8_X86 0
#endif

bool sx_xnn_q8_have_simd(void)
{
#if Q8_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

uint8_t sx_xnn_q8_round(float y)
{
    /* cvtps2dq gives INT32_MIN for NaN and out-of-range values; the packs
     * then saturate it to 0 */
    if (!(y > -2147483648.0f && y < 2147483648.0f)) {
        return 0;
    }
    long q = lrintf(y);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

static inline float maxf(float a, float b)
{
    return a > b ? a : b; /* _mm512_max_ps(a, b) */
}

/* The activation and zero point of a depthwise / stem / add result t that is
 * already in output units. */
static inline float act_out(float t, sx_xnn_q8_act act, float zo)
{
    float y = t + zo;
    if (act == SX_XNN_Q8_LEAKY) {
        y = maxf(y, fmaf(t, 0.1f, zo));
    } else if (act == SX_XNN_Q8_RELU) {
        y = maxf(y, zo);
    }
    return y;
}

/* ---- GEMM: set-up ---------------------------------------------------------- */

/* 64-byte aligned, zeroed, size rounded up to 64 bytes */
static void *zalloc64(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (p != NULL) {
        memset(p, 0, bytes);
    }
    return p;
}

/* n <= 8: the weights and factors repeated for 2 or 4 pixels per vector */
static specx_status gemm_init_packed(sx_xnn_q8_gemm *g)
{
    g->pk = g->n <= 4 ? 4 : 2;
    const int slot = 16 / g->pk;
    g->pk_w = zalloc64((size_t)g->kq * 64);
    g->pk_acc = zalloc64(16 * sizeof *g->pk_acc);
    g->pk_f = zalloc64(4 * 16 * sizeof *g->pk_f);
    if (g->pk_w == NULL || g->pk_acc == NULL || g->pk_f == NULL) {
        return SPECX_ENOMEM;
    }
    for (int l = 0; l < 16; l++) {
        int o = l % slot; /* lanes past n hold zero weights */
        for (int q = 0; q < g->kq; q++) {
            memcpy(g->pk_w + (size_t)q * 64 + (size_t)l * 4, g->w + (size_t)q * 64 + (size_t)o * 4,
                   4);
        }
        g->pk_acc[l] = g->acc[o];
        g->pk_f[l] = g->m1[o];
        g->pk_f[16 + l] = g->b1[o];
        g->pk_f[32 + l] = g->m2[o];
        g->pk_f[48 + l] = g->b2[o];
    }
    return SPECX_OK;
}

specx_status sx_xnn_q8_gemm_init(sx_xnn_q8_gemm *g, int k, int n, const float *w, const float *bias,
                                 sx_xnn_q8_act act, const float *s_in, const int32_t *z_in,
                                 bool f32_out, const float *s_out, const int32_t *z_out, bool simd)
{
    memset(g, 0, sizeof *g);
    g->k = k;
    g->n = n;
    g->kq = (k + 3) / 4;
    g->nb = (n + 15) / 16;
    g->f32_out = f32_out;
    g->act2 = act != SX_XNN_Q8_LINEAR;
    g->simd = simd;
    size_t nn = (size_t)g->nb * 16;
    g->w = zalloc64((size_t)g->nb * (size_t)g->kq * 64);
    g->acc = zalloc64(nn * sizeof *g->acc);
    float *f = zalloc64(4 * nn * sizeof *f);
    float *row = malloc((size_t)k * sizeof *row);
    if (g->w == NULL || g->acc == NULL || f == NULL || row == NULL) {
        free(f);
        free(row);
        sx_xnn_q8_gemm_clear(g);
        return SPECX_ENOMEM;
    }
    g->m1 = f;
    g->b1 = f + nn;
    g->m2 = f + 2 * nn;
    g->b2 = f + 3 * nn;
    for (int o = 0; o < n; o++) {
        /* the input scales folded into the weights, then one symmetric
         * scale per output channel */
        float amax = 0;
        for (int i = 0; i < k; i++) {
            row[i] = w[(size_t)o * k + i] * s_in[i];
            amax = fabsf(row[i]) > amax ? fabsf(row[i]) : amax;
        }
        float sw = amax > 0 ? amax / 127.0f : 1.0f;
        int32_t zsum = 0;
        int b = o / 16, l = o % 16;
        for (int i = 0; i < k; i++) {
            long q = lrintf(row[i] / sw);
            q = q < -127 ? -127 : q > 127 ? 127 : q;
            g->w[(((size_t)b * g->kq + (size_t)i / 4) * 16 + (size_t)l) * 4 + (size_t)i % 4] =
                (int8_t)q;
            zsum += z_in[i] * (int32_t)q;
        }
        g->acc[o] = -zsum;
        float inv = f32_out ? 1.0f : 1.0f / s_out[o];
        float zo = f32_out ? 0.0f : (float)z_out[o];
        float m = sw * inv, bb = bias[o] * inv;
        g->m1[o] = m;
        g->b1[o] = bb + zo;
        if (act == SX_XNN_Q8_LEAKY) {
            g->m2[o] = 0.1f * m;
            g->b2[o] = 0.1f * bb + zo;
        } else {
            g->m2[o] = 0;
            g->b2[o] = zo;
        }
    }
    free(row);
    return n <= 8 ? gemm_init_packed(g) : SPECX_OK;
}

void sx_xnn_q8_gemm_clear(sx_xnn_q8_gemm *g)
{
    free(g->pk_w);
    free(g->pk_acc);
    free(g->pk_f);
    free(g->w);
    free(g->acc);
    free(g->m1);
    memset(g, 0, sizeof *g);
}

/* ---- GEMM: portable ---------------------------------------------------------- */

static inline float gemm_y(const sx_xnn_q8_gemm *g, int32_t acc, int o)
{
    float a = (float)acc;
    float y = fmaf(a, g->m1[o], g->b1[o]);
    if (g->act2) {
        y = maxf(y, fmaf(a, g->m2[o], g->b2[o]));
    }
    return y;
}

static void gemm_pixel(const sx_xnn_q8_gemm *g, const uint8_t *in, void *out)
{
    for (int b = 0; b < g->nb; b++) {
        int32_t acc[16];
        memcpy(acc, g->acc + b * 16, sizeof acc);
        const int8_t *wb = g->w + (size_t)b * g->kq * 64;
        for (int i = 0; i < g->k; i++) {
            const int8_t *wq = wb + (size_t)(i / 4) * 64 + i % 4;
            int x = in[i];
            for (int l = 0; l < 16; l++) {
                acc[l] += x * wq[l * 4];
            }
        }
        for (int l = 0; l < 16 && b * 16 + l < g->n; l++) {
            int o = b * 16 + l;
            float y = gemm_y(g, acc[l], o);
            if (g->f32_out) {
                ((float *)out)[o] = y;
            } else {
                ((uint8_t *)out)[o] = sx_xnn_q8_round(y);
            }
        }
    }
}

/* ---- GEMM: AVX-512 VNNI ------------------------------------------------------- */

#if Q8_X86
SIMD static inline __m512i epi_i32(const sx_xnn_q8_gemm *g, __m512i acc, int o)
{
    __m512 a = _mm512_cvtepi32_ps(acc);
    __m512 y = _mm512_fmadd_ps(a, _mm512_loadu_ps(g->m1 + o), _mm512_loadu_ps(g->b1 + o));
    if (g->act2) {
        __m512 y2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(g->m2 + o), _mm512_loadu_ps(g->b2 + o));
        y = _mm512_max_ps(y, y2);
    }
    return _mm512_cvtps_epi32(y);
}

SIMD static inline __m512 epi_f32(const sx_xnn_q8_gemm *g, __m512i acc, int o)
{
    __m512 a = _mm512_cvtepi32_ps(acc);
    __m512 y = _mm512_fmadd_ps(a, _mm512_loadu_ps(g->m1 + o), _mm512_loadu_ps(g->b1 + o));
    if (g->act2) {
        __m512 y2 = _mm512_fmadd_ps(a, _mm512_loadu_ps(g->m2 + o), _mm512_loadu_ps(g->b2 + o));
        y = _mm512_max_ps(y, y2);
    }
    return y;
}

/* Four int32 vectors to 64 bytes, vector j's 16 values (clamped to
 * [0, 255]) in bytes 16 j .. 16 j + 15. */
SIMD static inline __m512i pack4(__m512i a, __m512i b, __m512i c, __m512i d)
{
    __m512i ab = _mm512_packs_epi32(a, b), cd = _mm512_packs_epi32(c, d);
    __m512i r = _mm512_packus_epi16(ab, cd);
    return _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), r);
}

SIMD static inline __mmask16 lanes(int left)
{
    return left >= 16  ? (__mmask16)0xffff
           : left <= 0 ? (__mmask16)0
                       : (__mmask16)((1u << left) - 1);
}

/* Stores piece u (16 bytes) of v at p, only the first `left` bytes. */
SIMD static inline void store_piece(uint8_t *p, __m512i v, int u, int left)
{
    if (left <= 0) {
        return;
    }
    __mmask64 m = (__mmask64)(left >= 16 ? 0xffffu : (1u << left) - 1) << (16 * u);
    _mm512_mask_storeu_epi8(p - 16 * u, m, v);
}

#define GEMM_TILE(NAME, MR, NB)                                                                    \
    SIMD static void NAME(const sx_xnn_q8_gemm *g, const uint8_t *const *ip, void *const *op,      \
                          int n0)                                                                  \
    {                                                                                              \
        __m512i acc[MR][NB];                                                                       \
        for (int j = 0; j < (NB); j++) {                                                           \
            __m512i b = _mm512_load_si512(g->acc + n0 + 16 * j);                                   \
            for (int i = 0; i < (MR); i++) {                                                       \
                acc[i][j] = b;                                                                     \
            }                                                                                      \
        }                                                                                          \
        const int8_t *w = g->w + (size_t)(n0 / 16) * g->kq * 64;                                   \
        const size_t bs = (size_t)g->kq * 64;                                                      \
        for (int q = 0; q < g->kq; q++) {                                                          \
            __m512i wv[NB];                                                                        \
            for (int j = 0; j < (NB); j++) {                                                       \
                wv[j] = _mm512_load_si512(w + j * bs + (size_t)q * 64);                            \
            }                                                                                      \
            for (int i = 0; i < (MR); i++) {                                                       \
                int32_t x4;                                                                        \
                memcpy(&x4, ip[i] + 4 * q, 4);                                                     \
                __m512i x = _mm512_set1_epi32(x4);                                                 \
                for (int j = 0; j < (NB); j++) {                                                   \
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], x, wv[j]);                          \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        const int left = g->n - n0;                                                                \
        if (g->f32_out) {                                                                          \
            for (int i = 0; i < (MR); i++) {                                                       \
                for (int j = 0; j < (NB); j++) {                                                   \
                    _mm512_mask_storeu_ps((float *)op[i] + n0 + 16 * j, lanes(left - 16 * j),      \
                                          epi_f32(g, acc[i][j], n0 + 16 * j));                     \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        __m512i r[(MR) * (NB)];                                                                    \
        for (int i = 0; i < (MR); i++) {                                                           \
            for (int j = 0; j < (NB); j++) {                                                       \
                r[i * (NB) + j] = epi_i32(g, acc[i][j], n0 + 16 * j);                              \
            }                                                                                      \
        }                                                                                          \
        for (int t = 0; t < (MR) * (NB); t += 4) {                                                 \
            __m512i v = pack4(r[t], r[t + 1], r[t + 2], r[t + 3]);                                 \
            for (int u = 0; u < 4; u++) {                                                          \
                int i = (t + u) / (NB), j = (t + u) % (NB);                                        \
                store_piece((uint8_t *)op[i] + n0 + 16 * j, v, u, left - 16 * j);                  \
            }                                                                                      \
        }                                                                                          \
    }

GEMM_TILE(tile_4x64, 4, 4)
GEMM_TILE(tile_8x32, 8, 2)
GEMM_TILE(tile_16x16, 16, 1)

typedef void (*tile_fn)(const sx_xnn_q8_gemm *, const uint8_t *const *, void *const *, int);

SIMD static inline __m512 epi_pk(const sx_xnn_q8_gemm *g, __m512i acc)
{
    __m512 a = _mm512_cvtepi32_ps(acc);
    __m512 y = _mm512_fmadd_ps(a, _mm512_load_ps(g->pk_f), _mm512_load_ps(g->pk_f + 16));
    if (g->act2) {
        __m512 y2 = _mm512_fmadd_ps(a, _mm512_load_ps(g->pk_f + 32), _mm512_load_ps(g->pk_f + 48));
        y = _mm512_max_ps(y, y2);
    }
    return y;
}

/* n <= 8: 16 vectors of P pixels each (the P-th slot of 16 / P lanes per
 * pixel); ip / op hold 16 P pixels. */
#define GEMM_PK_TILE(NAME, P)                                                                      \
    SIMD static void NAME(const sx_xnn_q8_gemm *g, const uint8_t *const *ip, void *const *op)      \
    {                                                                                              \
        const int slot = 16 / (P);                                                                 \
        __m512i acc[16];                                                                           \
        const __m512i a0 = _mm512_load_si512(g->pk_acc);                                           \
        for (int v = 0; v < 16; v++) {                                                             \
            acc[v] = a0;                                                                           \
        }                                                                                          \
        for (int q = 0; q < g->kq; q++) {                                                          \
            const __m512i w = _mm512_load_si512(g->pk_w + (size_t)q * 64);                         \
            for (int v = 0; v < 16; v++) {                                                         \
                int32_t x4;                                                                        \
                memcpy(&x4, ip[v * (P)] + 4 * q, 4);                                               \
                __m512i x = _mm512_set1_epi32(x4);                                                 \
                for (int j = 1; j < (P); j++) {                                                    \
                    memcpy(&x4, ip[v * (P) + j] + 4 * q, 4);                                       \
                    x = _mm512_mask_set1_epi32(x, (__mmask16)(((1u << slot) - 1) << (j * slot)),   \
                                               x4);                                                \
                }                                                                                  \
                acc[v] = _mm512_dpbusd_epi32(acc[v], x, w);                                        \
            }                                                                                      \
        }                                                                                          \
        const int n = g->n;                                                                        \
        if (g->f32_out) {                                                                          \
            for (int v = 0; v < 16; v++) {                                                         \
                __m512 y = epi_pk(g, acc[v]);                                                      \
                for (int j = 0; j < (P); j++) {                                                    \
                    _mm512_mask_storeu_ps((float *)op[v * (P) + j] - j * slot,                     \
                                          (__mmask16)(((1u << n) - 1) << (j * slot)), y);          \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int t = 0; t < 16; t += 4) {                                                          \
            __m512i v4 = pack4(_mm512_cvtps_epi32(epi_pk(g, acc[t])),                              \
                               _mm512_cvtps_epi32(epi_pk(g, acc[t + 1])),                          \
                               _mm512_cvtps_epi32(epi_pk(g, acc[t + 2])),                          \
                               _mm512_cvtps_epi32(epi_pk(g, acc[t + 3])));                         \
            for (int u = 0; u < 4; u++) {                                                          \
                for (int j = 0; j < (P); j++) {                                                    \
                    int at = 16 * u + j * slot;                                                    \
                    _mm512_mask_storeu_epi8((uint8_t *)op[(t + u) * (P) + j] - at,                 \
                                            (__mmask64)((1ull << n) - 1) << at, v4);               \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

GEMM_PK_TILE(tile_pk2, 2)
GEMM_PK_TILE(tile_pk4, 4)

/* Fills ip / op with mr pixels from p on (the last pixel repeated past p1);
 * row / col track p's place in the grid. */
static inline void tile_ptrs(const sx_xnn_q8_grid *io, size_t esz, size_t p, size_t p1, int mr,
                             size_t *row, size_t *col, const uint8_t **ip, void **op)
{
    for (int i = 0; i < mr; i++) {
        if (p + (size_t)i < p1) {
            ip[i] = io->in + *row * io->in_row + *col * io->in_px;
            op[i] = (uint8_t *)io->out + (*row * io->out_row + *col * io->out_px) * esz;
            if (++*col == (size_t)io->w) {
                *col = 0;
                ++*row;
            }
        } else {
            ip[i] = ip[i - 1];
            op[i] = op[i - 1];
        }
    }
}

SIMD static void gemm_run_simd(const sx_xnn_q8_gemm *g, const sx_xnn_q8_grid *io, size_t p0,
                               size_t p1)
{
    const size_t esz = g->f32_out ? sizeof(float) : 1;
    const uint8_t *ip[64];
    void *op[64];
    if (g->pk > 0) {
        int mr = 16 * g->pk;
        size_t row = p0 / (size_t)io->w, col = p0 % (size_t)io->w;
        for (size_t p = p0; p < p1; p += (size_t)mr) {
            tile_ptrs(io, esz, p, p1, mr, &row, &col, ip, op);
            if (g->pk == 4) {
                tile_pk4(g, ip, op);
            } else {
                tile_pk2(g, ip, op);
            }
        }
        return;
    }
    for (int n0 = 0; n0 < g->n;) {
        int left = g->n - n0;
        tile_fn f = left > 48 ? tile_4x64 : left > 16 ? tile_8x32 : tile_16x16;
        int mr = left > 48 ? 4 : left > 16 ? 8 : 16;
        int width = left > 48 ? 64 : left > 16 ? 32 : 16;
        size_t row = p0 / (size_t)io->w, col = p0 % (size_t)io->w;
        for (size_t p = p0; p < p1; p += (size_t)mr) {
            tile_ptrs(io, esz, p, p1, mr, &row, &col, ip, op);
            f(g, ip, op, n0);
        }
        n0 += width;
    }
}
#endif

void sx_xnn_q8_gemm_run(const sx_xnn_q8_gemm *g, const sx_xnn_q8_grid *io, size_t p0, size_t p1)
{
#if Q8_X86
    if (g->simd) {
        gemm_run_simd(g, io, p0, p1);
        return;
    }
#endif
    const size_t esz = g->f32_out ? sizeof(float) : 1;
    size_t row = p0 / (size_t)io->w, col = p0 % (size_t)io->w;
    for (size_t p = p0; p < p1; p++) {
        gemm_pixel(g, io->in + row * io->in_row + col * io->in_px,
                   (uint8_t *)io->out + (row * io->out_row + col * io->out_px) * esz);
        if (++col == (size_t)io->w) {
            col = 0;
            row++;
        }
    }
}

/* ---- depthwise ---------------------------------------------------------------- */

specx_status sx_xnn_q8_dw_init(sx_xnn_q8_dw *d, int k, int s, int c, const float *w,
                               const float *bias, sx_xnn_q8_act act, const float *in_unit,
                               const float *s_out, const int32_t *z_out, bool simd)
{
    memset(d, 0, sizeof *d);
    d->k = k;
    d->s = s;
    d->c = c;
    d->act = act;
    d->simd = simd;
    size_t taps = (size_t)k * k, cp = ((size_t)c + 15) / 16 * 16;
    d->w = zalloc64(taps * cp * sizeof(float));
    d->b = zalloc64(cp * sizeof(float));
    d->zo = zalloc64(cp * sizeof(float));
    if (d->w == NULL || d->b == NULL || d->zo == NULL) {
        sx_xnn_q8_dw_clear(d);
        return SPECX_ENOMEM;
    }
    for (int ch = 0; ch < c; ch++) {
        float wk = in_unit[ch] / s_out[ch];
        for (size_t t = 0; t < taps; t++) {
            d->w[t * c + ch] = w[(size_t)ch * taps + t] * wk;
        }
        d->b[ch] = bias[ch] / s_out[ch];
        d->zo[ch] = (float)z_out[ch];
    }
    return SPECX_OK;
}

void sx_xnn_q8_dw_clear(sx_xnn_q8_dw *d)
{
    free(d->w);
    free(d->b);
    free(d->zo);
    memset(d, 0, sizeof *d);
}

static void dw_row_portable(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out,
                            size_t out_px, int ow)
{
    const int C = d->c, k = d->k, s = d->s;
    for (int ox = 0; ox < ow; ox++) {
        for (int ch = 0; ch < C; ch++) {
            float acc = d->b[ch];
            for (int ky = 0; ky < k; ky++) {
                const float *r = in + (size_t)ky * in_row + (size_t)ox * s * C + ch;
                for (int kx = 0; kx < k; kx++) {
                    acc = fmaf(r[(size_t)kx * C], d->w[(size_t)(ky * k + kx) * C + ch], acc);
                }
            }
            out[(size_t)ox * out_px + ch] = sx_xnn_q8_round(act_out(acc, d->act, d->zo[ch]));
        }
    }
}

#if Q8_X86
SIMD static inline __m512i dw_epi(__m512 t, sx_xnn_q8_act act, __m512 zo)
{
    __m512 y = _mm512_add_ps(t, zo);
    if (act == SX_XNN_Q8_LEAKY) {
        y = _mm512_max_ps(y, _mm512_fmadd_ps(t, _mm512_set1_ps(0.1f), zo));
    } else if (act == SX_XNN_Q8_RELU) {
        y = _mm512_max_ps(y, zo);
    }
    return _mm512_cvtps_epi32(y);
}

/* One 16-lane int32 vector to u8 at p (`left` lanes): the same clamp as
 * pack4 (max with 0, then unsigned saturation). */
SIMD static inline void store_u8(uint8_t *p, __m512i q, int left)
{
    __m128i b = _mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512()));
    _mm_mask_storeu_epi8(p, (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1), b);
}

SIMD static inline __m512 ld_full_or_masked(const float *p, bool full, __mmask16 m)
{
    return full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}

/* One tile of 16 channels (FULL) or the last, partial tile, along a row:
 * four output pixels at a time, the K x K weights in registers, each input
 * column loaded once per kernel row for all four pixels. K and S are
 * compile-time constants after inlining. Per lane the sum runs over ky,
 * then kx, as in the portable version. */
SIMD static inline __attribute__((always_inline)) void
dw_tile(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out, size_t out_px, int ow,
        int c0, const int K, const int S, const bool full)
{
    const int C = d->c, left = C - c0;
    const __mmask16 m = lanes(left);
    __m512 wv[25] = {0}; /* K * K used */
    for (int t = 0; t < K * K; t++) {
        wv[t] = ld_full_or_masked(d->w + (size_t)t * C + c0, full, m);
    }
    const __m512 bias = ld_full_or_masked(d->b + c0, full, m);
    const __m512 zo = ld_full_or_masked(d->zo + c0, full, m);
    const size_t step = (size_t)S * C;
    int ox = 0;
    for (; ox + 4 <= ow; ox += 4) {
        __m512 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (int ky = 0; ky < K; ky++) {
            const float *r = in + (size_t)ky * in_row + (size_t)ox * step + c0;
            __m512 col[3 * 2 + 5];
            for (int j = 0; j < 3 * S + K; j++) {
                col[j] = ld_full_or_masked(r + (size_t)j * C, full, m);
            }
            for (int kx = 0; kx < K; kx++) {
                const __m512 w = wv[ky * K + kx];
                a0 = _mm512_fmadd_ps(col[kx], w, a0);
                a1 = _mm512_fmadd_ps(col[S + kx], w, a1);
                a2 = _mm512_fmadd_ps(col[2 * S + kx], w, a2);
                a3 = _mm512_fmadd_ps(col[3 * S + kx], w, a3);
            }
        }
        __m512i v = pack4(dw_epi(a0, d->act, zo), dw_epi(a1, d->act, zo), dw_epi(a2, d->act, zo),
                          dw_epi(a3, d->act, zo));
        uint8_t *o = out + (size_t)ox * out_px + c0;
        for (int u = 0; u < 4; u++) {
            store_piece(o + (size_t)u * out_px, v, u, left);
        }
    }
    for (; ox < ow; ox++) {
        __m512 a = bias;
        for (int ky = 0; ky < K; ky++) {
            const float *r = in + (size_t)ky * in_row + (size_t)ox * step + c0;
            for (int kx = 0; kx < K; kx++) {
                a = _mm512_fmadd_ps(ld_full_or_masked(r + (size_t)kx * C, full, m), wv[ky * K + kx],
                                    a);
            }
        }
        store_u8(out + (size_t)ox * out_px + c0, dw_epi(a, d->act, zo), left);
    }
}

SIMD static inline __attribute__((always_inline)) void dw_row_ks(const sx_xnn_q8_dw *d,
                                                                 const float *in, size_t in_row,
                                                                 uint8_t *out, size_t out_px,
                                                                 int ow, const int K, const int S)
{
    int c0 = 0;
    for (; c0 + 16 <= d->c; c0 += 16) {
        dw_tile(d, in, in_row, out, out_px, ow, c0, K, S, true);
    }
    if (c0 < d->c) {
        dw_tile(d, in, in_row, out, out_px, ow, c0, K, S, false);
    }
}

/* 8 channels, stride 1, 3x3: a vector holds two neighbouring pixels, so no
 * lane is idle; eight output pixels per step (first ow - ow % 8 of them). */
SIMD static int dw_row_c8(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out,
                          size_t out_px, int ow)
{
    __m512 wv[9];
    for (int t = 0; t < 9; t++) {
        wv[t] = _mm512_broadcast_f32x8(_mm256_loadu_ps(d->w + (size_t)t * 8));
    }
    const __m512 bias = _mm512_broadcast_f32x8(_mm256_loadu_ps(d->b));
    const __m512 zo = _mm512_broadcast_f32x8(_mm256_loadu_ps(d->zo));
    int ox = 0;
    for (; ox + 8 <= ow; ox += 8) {
        __m512 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (int ky = 0; ky < 3; ky++) {
            const float *r = in + (size_t)ky * in_row + (size_t)ox * 8;
            __m512 col[9];
            for (int j = 0; j < 9; j++) {
                col[j] = _mm512_loadu_ps(r + (size_t)j * 8);
            }
            for (int kx = 0; kx < 3; kx++) {
                const __m512 w = wv[ky * 3 + kx];
                a0 = _mm512_fmadd_ps(col[kx], w, a0);
                a1 = _mm512_fmadd_ps(col[2 + kx], w, a1);
                a2 = _mm512_fmadd_ps(col[4 + kx], w, a2);
                a3 = _mm512_fmadd_ps(col[6 + kx], w, a3);
            }
        }
        __m512i v = pack4(dw_epi(a0, d->act, zo), dw_epi(a1, d->act, zo), dw_epi(a2, d->act, zo),
                          dw_epi(a3, d->act, zo));
        uint8_t *o = out + (size_t)ox * out_px;
        if (out_px == 8) {
            _mm512_storeu_si512(o, v);
        } else {
            for (int p = 0; p < 8; p++) {
                /* pixel p is bytes 8p .. 8p + 7 of v */
                _mm512_mask_storeu_epi8(o + (size_t)p * out_px - 8 * p, (__mmask64)0xff << (8 * p),
                                        v);
            }
        }
    }
    return ox;
}

SIMD static void dw_row_simd(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out,
                             size_t out_px, int ow)
{
    if (d->k == 3 && d->s == 1 && d->c == 8) {
        int done = dw_row_c8(d, in, in_row, out, out_px, ow);
        in += (size_t)done * 8;
        out += (size_t)done * out_px;
        ow -= done;
    }
    if (d->k == 3 && d->s == 1) {
        dw_row_ks(d, in, in_row, out, out_px, ow, 3, 1);
    } else if (d->k == 3 && d->s == 2) {
        dw_row_ks(d, in, in_row, out, out_px, ow, 3, 2);
    } else if (d->k == 5 && d->s == 1) {
        dw_row_ks(d, in, in_row, out, out_px, ow, 5, 1);
    } else {
        dw_row_portable(d, in, in_row, out, out_px, ow);
    }
}
#endif

void sx_xnn_q8_dw_row(const sx_xnn_q8_dw *d, const float *in, size_t in_row, uint8_t *out,
                      size_t out_px, int ow)
{
#if Q8_X86
    if (d->simd) {
        dw_row_simd(d, in, in_row, out, out_px, ow);
        return;
    }
#endif
    dw_row_portable(d, in, in_row, out, out_px, ow);
}

/* ---- stem --------------------------------------------------------------------- */

specx_status sx_xnn_q8_stem_init(sx_xnn_q8_stem *st, int k, int s, int pad, int ci, int n,
                                 const float *w, const float *bias, sx_xnn_q8_act act,
                                 const float *s_out, const int32_t *z_out, bool simd)
{
    memset(st, 0, sizeof *st);
    if (n > 32) {
        return SPECX_EUNSUPPORTED;
    }
    *st = (sx_xnn_q8_stem){.k = k, .s = s, .pad = pad, .ci = ci, .n = n, .act = act, .simd = simd};
    size_t taps = (size_t)k * k * ci;
    st->w = zalloc64(taps * 32 * sizeof(float));
    st->b = zalloc64(32 * sizeof(float));
    st->zo = zalloc64(32 * sizeof(float));
    if (st->w == NULL || st->b == NULL || st->zo == NULL) {
        sx_xnn_q8_stem_clear(st);
        return SPECX_ENOMEM;
    }
    /* [n][ky][kx][ci] (the model's layout) -> [ky][kx][ci][32] */
    for (int o = 0; o < n; o++) {
        for (size_t t = 0; t < (size_t)k * k; t++) {
            for (int c = 0; c < ci; c++) {
                st->w[(t * ci + c) * 32 + o] = w[((size_t)o * k * k + t) * ci + c] / s_out[o];
            }
        }
        st->b[o] = bias[o] / s_out[o];
        st->zo[o] = (float)z_out[o];
    }
    return SPECX_OK;
}

void sx_xnn_q8_stem_clear(sx_xnn_q8_stem *st)
{
    free(st->w);
    free(st->b);
    free(st->zo);
    memset(st, 0, sizeof *st);
}

static void stem_px_portable(const sx_xnn_q8_stem *st, const float *in, int ih, int iw,
                             size_t in_px, int oy, int ox, uint8_t *out)
{
    const int iy0 = oy * st->s - st->pad, ix0 = ox * st->s - st->pad;
    for (int o = 0; o < st->n; o++) {
        float acc = st->b[o];
        for (int ky = 0; ky < st->k; ky++) {
            for (int kx = 0; kx < st->k; kx++) {
                int iy = iy0 + ky, ix = ix0 + kx;
                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                    continue;
                }
                const float *x = in + ((size_t)iy * iw + ix) * in_px;
                const float *w = st->w + (size_t)((ky * st->k + kx) * st->ci) * 32 + o;
                for (int c = 0; c < st->ci; c++) {
                    acc = fmaf(x[c], w[(size_t)c * 32], acc);
                }
            }
        }
        out[o] = sx_xnn_q8_round(act_out(acc, st->act, st->zo[o]));
    }
}

#if Q8_X86
/* One output pixel, every tap checked (borders). */
SIMD static void stem_px_simd(const sx_xnn_q8_stem *st, const float *in, int ih, int iw,
                              size_t in_px, int oy, int ox, uint8_t *out)
{
    const int iy0 = oy * st->s - st->pad, ix0 = ox * st->s - st->pad;
    for (int n0 = 0; n0 < st->n; n0 += 16) {
        __m512 acc = _mm512_load_ps(st->b + n0);
        for (int ky = 0; ky < st->k; ky++) {
            for (int kx = 0; kx < st->k; kx++) {
                int iy = iy0 + ky, ix = ix0 + kx;
                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                    continue;
                }
                const float *x = in + ((size_t)iy * iw + ix) * in_px;
                const float *w = st->w + (size_t)((ky * st->k + kx) * st->ci) * 32 + n0;
                for (int c = 0; c < st->ci; c++) {
                    acc = _mm512_fmadd_ps(_mm512_set1_ps(x[c]), _mm512_load_ps(w + (size_t)c * 32),
                                          acc);
                }
            }
        }
        store_u8(out + n0, dw_epi(acc, st->act, _mm512_load_ps(st->zo + n0)), st->n - n0);
    }
}

SIMD static void stem_row_simd(const sx_xnn_q8_stem *st, const float *in, int ih, int iw,
                               size_t in_px, int oy, uint8_t *out, size_t out_px, int ow)
{
    const int s = st->s, pad = st->pad, k = st->k, ci = st->ci;
    const int iy0 = oy * s - pad;
    int lo = (pad + s - 1) / s, hi = (iw - k + pad) / s + 1;
    lo = lo > ow ? ow : lo;
    hi = hi > ow ? ow : hi < lo ? lo : hi;
    if (iy0 < 0 || iy0 + k > ih) {
        lo = hi = ow;
    }
    for (int ox = 0; ox < lo; ox++) {
        stem_px_simd(st, in, ih, iw, in_px, oy, ox, out + (size_t)ox * out_px);
    }
    const size_t step = (size_t)s * in_px;
    int ox = lo;
    for (; ox + 4 <= hi; ox += 4) {
        for (int n0 = 0; n0 < st->n; n0 += 16) {
            const __m512 bias = _mm512_load_ps(st->b + n0), zo = _mm512_load_ps(st->zo + n0);
            __m512 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
            for (int ky = 0; ky < k; ky++) {
                const float *row = in + ((size_t)(iy0 + ky) * iw + (size_t)(ox * s - pad)) * in_px;
                for (int kx = 0; kx < k; kx++) {
                    const float *x = row + (size_t)kx * in_px;
                    const float *w = st->w + (size_t)((ky * k + kx) * ci) * 32 + n0;
                    for (int c = 0; c < ci; c++) {
                        const __m512 wv = _mm512_load_ps(w + (size_t)c * 32);
                        a0 = _mm512_fmadd_ps(_mm512_set1_ps(x[c]), wv, a0);
                        a1 = _mm512_fmadd_ps(_mm512_set1_ps(x[step + c]), wv, a1);
                        a2 = _mm512_fmadd_ps(_mm512_set1_ps(x[2 * step + c]), wv, a2);
                        a3 = _mm512_fmadd_ps(_mm512_set1_ps(x[3 * step + c]), wv, a3);
                    }
                }
            }
            __m512i v = pack4(dw_epi(a0, st->act, zo), dw_epi(a1, st->act, zo),
                              dw_epi(a2, st->act, zo), dw_epi(a3, st->act, zo));
            uint8_t *o = out + (size_t)ox * out_px + n0;
            for (int u = 0; u < 4; u++) {
                store_piece(o + (size_t)u * out_px, v, u, st->n - n0);
            }
        }
    }
    for (; ox < ow; ox++) {
        stem_px_simd(st, in, ih, iw, in_px, oy, ox, out + (size_t)ox * out_px);
    }
}
#endif

void sx_xnn_q8_stem_row(const sx_xnn_q8_stem *st, const float *in, int ih, int iw, size_t in_px,
                        int oy, uint8_t *out, size_t out_px, int ow)
{
#if Q8_X86
    if (st->simd) {
        stem_row_simd(st, in, ih, iw, in_px, oy, out, out_px, ow);
        return;
    }
#endif
    for (int ox = 0; ox < ow; ox++) {
        stem_px_portable(st, in, ih, iw, in_px, oy, ox, out + (size_t)ox * out_px);
    }
}

/* ---- small loops -------------------------------------------------------------- */

#if Q8_X86
SIMD static void to_float_simd(const uint8_t *q, size_t px, int w, int c, const int32_t *z,
                               float *dst)
{
    for (int x = 0; x < w; x++) {
        const uint8_t *s = q + (size_t)x * px;
        float *d = dst + (size_t)x * c;
        for (int c0 = 0; c0 < c; c0 += 16) {
            __mmask16 m = lanes(c - c0);
            __m512i v = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, s + c0));
            __m512i zv = _mm512_maskz_loadu_epi32(m, z + c0);
            _mm512_mask_storeu_ps(d + c0, m, _mm512_cvtepi32_ps(_mm512_sub_epi32(v, zv)));
        }
    }
}
#endif

void sx_xnn_q8_to_float(const uint8_t *q, size_t px, int w, int c, const int32_t *z, float *dst,
                        bool simd)
{
#if Q8_X86
    if (simd) {
        to_float_simd(q, px, w, c, z, dst);
        return;
    }
#endif
    for (int x = 0; x < w; x++) {
        for (int ch = 0; ch < c; ch++) {
            dst[(size_t)x * c + ch] = (float)((int)q[(size_t)x * px + ch] - z[ch]);
        }
    }
}

#if Q8_X86
SIMD static void quantize_row_simd(const float *x, size_t px, int w, int c, const float *inv_s,
                                   const float *zo, uint8_t *o, size_t po)
{
    for (int p = 0; p < w; p++) {
        const float *xp = x + (size_t)p * px;
        uint8_t *op = o + (size_t)p * po;
        for (int c0 = 0; c0 < c; c0 += 16) {
            __mmask16 m = lanes(c - c0);
            __m512 y = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xp + c0),
                                       _mm512_maskz_loadu_ps(m, inv_s + c0),
                                       _mm512_maskz_loadu_ps(m, zo + c0));
            store_u8(op + c0, _mm512_cvtps_epi32(y), c - c0);
        }
    }
}
#endif

void sx_xnn_q8_quantize_row(const float *x, size_t px, int w, int c, const float *inv_s,
                            const float *zo, uint8_t *o, size_t po, bool simd)
{
#if Q8_X86
    if (simd) {
        quantize_row_simd(x, px, w, c, inv_s, zo, o, po);
        return;
    }
#endif
    for (int p = 0; p < w; p++) {
        for (int ch = 0; ch < c; ch++) {
            o[(size_t)p * po + ch] =
                sx_xnn_q8_round(fmaf(x[(size_t)p * px + ch], inv_s[ch], zo[ch]));
        }
    }
}

specx_status sx_xnn_q8_add_init(sx_xnn_q8_add *p, int c, const float *sa, const int32_t *za,
                                const float *sb, const int32_t *zb, const float *so,
                                const int32_t *zo, sx_xnn_q8_act act, bool simd)
{
    memset(p, 0, sizeof *p);
    size_t cp = ((size_t)c + 15) / 16 * 16;
    float *f = zalloc64(4 * cp * sizeof(float));
    if (f == NULL) {
        return SPECX_ENOMEM;
    }
    *p = (sx_xnn_q8_add){.c = c,
                         .ka = f,
                         .kb = f + cp,
                         .k0 = f + 2 * cp,
                         .zo = f + 3 * cp,
                         .act = act,
                         .simd = simd};
    /* lanes past c repeat the channels when c divides 16 (packed rows) */
    int lanes_used = c < 16 && 16 % c == 0 ? 16 : c;
    for (int l = 0; l < lanes_used; l++) {
        int ch = l % c;
        p->ka[l] = sa[ch] / so[ch];
        p->kb[l] = sb[ch] / so[ch];
        p->k0[l] = -(float)za[ch] * p->ka[l] - (float)zb[ch] * p->kb[l];
        p->zo[l] = (float)zo[ch];
    }
    return SPECX_OK;
}

void sx_xnn_q8_add_clear(sx_xnn_q8_add *p)
{
    free(p->ka);
    memset(p, 0, sizeof *p);
}

#if Q8_X86
SIMD static void add_row_simd(const sx_xnn_q8_add *p, const uint8_t *a, size_t pa, const uint8_t *b,
                              size_t pb, uint8_t *o, size_t po, int w)
{
    for (int x = 0; x < w; x++) {
        const uint8_t *ax = a + (size_t)x * pa, *bx = b + (size_t)x * pb;
        uint8_t *ox = o + (size_t)x * po;
        for (int c0 = 0; c0 < p->c; c0 += 16) {
            __mmask16 m = lanes(p->c - c0);
            __m512 va = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, ax + c0)));
            __m512 vb = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, bx + c0)));
            __m512 t = _mm512_fmadd_ps(
                va, _mm512_load_ps(p->ka + c0),
                _mm512_fmadd_ps(vb, _mm512_load_ps(p->kb + c0), _mm512_load_ps(p->k0 + c0)));
            store_u8(ox + c0, dw_epi(t, p->act, _mm512_load_ps(p->zo + c0)), p->c - c0);
        }
    }
}
#endif

void sx_xnn_q8_add_row(const sx_xnn_q8_add *p, const uint8_t *a, size_t pa, const uint8_t *b,
                       size_t pb, uint8_t *o, size_t po, int w)
{
#if Q8_X86
    if (p->simd) {
        add_row_simd(p, a, pa, b, pb, o, po, w);
        return;
    }
#endif
    for (int x = 0; x < w; x++) {
        const uint8_t *ax = a + (size_t)x * pa, *bx = b + (size_t)x * pb;
        uint8_t *ox = o + (size_t)x * po;
        for (int ch = 0; ch < p->c; ch++) {
            float t = fmaf((float)ax[ch], p->ka[ch], fmaf((float)bx[ch], p->kb[ch], p->k0[ch]));
            ox[ch] = sx_xnn_q8_round(act_out(t, p->act, p->zo[ch]));
        }
    }
}

bool sx_xnn_q8_lut(int c, const float *s_in, const int32_t *z_in, const float *s_out,
                   const int32_t *z_out, uint8_t *lut)
{
    bool any = false;
    for (int ch = 0; ch < c; ch++) {
        any = any || s_in[ch] != s_out[ch] || z_in[ch] != z_out[ch];
    }
    if (!any || lut == NULL) {
        return any;
    }
    for (int ch = 0; ch < c; ch++) {
        float k = s_in[ch] / s_out[ch];
        for (int q = 0; q < 256; q++) {
            lut[(size_t)ch * 256 + (size_t)q] =
                sx_xnn_q8_round(fmaf((float)(q - z_in[ch]), k, (float)z_out[ch]));
        }
    }
    return true;
}

void sx_xnn_q8_copy_row(const uint8_t *a, size_t pa, uint8_t *o, size_t po, int w, int c,
                        const uint8_t *lut)
{
    for (int x = 0; x < w; x++) {
        const uint8_t *s = a + (size_t)x * pa;
        uint8_t *d = o + (size_t)x * po;
        if (lut == NULL) {
            memcpy(d, s, (size_t)c);
        } else {
            for (int ch = 0; ch < c; ch++) {
                d[ch] = lut[(size_t)ch * 256 + s[ch]];
            }
        }
    }
}

void sx_xnn_q8_maxpool_row(const uint8_t *a, size_t pa, int ih, int iw, int c, int k, int s,
                           int off, int oy, uint8_t *o, size_t po, int ow, const uint8_t *lut)
{
    const int iy0 = oy * s - off;
    const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = iy0 + k > ih ? ih - iy0 : k;
    for (int ox = 0; ox < ow; ox++) {
        const int ix0 = ox * s - off;
        const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = ix0 + k > iw ? iw - ix0 : k;
        uint8_t *d = o + (size_t)ox * po;
        memset(d, 0, (size_t)c);
        for (int ky = ky0; ky < ky1; ky++) {
            const uint8_t *r = a + ((size_t)(iy0 + ky) * iw + ix0) * pa;
            for (int kx = kx0; kx < kx1; kx++) {
                const uint8_t *src = r + (size_t)kx * pa;
                for (int ch = 0; ch < c; ch++) {
                    d[ch] = src[ch] > d[ch] ? src[ch] : d[ch];
                }
            }
        }
        if (lut != NULL) {
            for (int ch = 0; ch < c; ch++) {
                d[ch] = lut[(size_t)ch * 256 + d[ch]];
            }
        }
    }
}
