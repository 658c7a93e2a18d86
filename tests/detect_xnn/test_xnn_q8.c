/* test_xnn_q8.c — the int8 kernels against a plain float reference on
 * random data (within the quantization error they must have), and the
 * SIMD versions bit-identical to the portable ones (where the CPU has
 * AVX-512 VNNI; elsewhere only the portable versions run). */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/xnn/xnn_q8.h"

static uint32_t g_rng = 12345;

static uint32_t rnd(void)
{
    g_rng = g_rng * 1664525u + 1013904223u;
    return g_rng >> 8;
}

/* uniform in [-1, 1) */
static float frnd(void)
{
    return (float)(rnd() % 20001) / 10000.0f - 1.0f;
}

static float act_ref(float y, sx_xnn_q8_act act)
{
    if (act == SX_XNN_Q8_LEAKY) {
        return y > 0 ? y : 0.1f * y;
    }
    if (act == SX_XNN_Q8_RELU) {
        return y > 0 ? y : 0;
    }
    return y;
}

/* n random per-channel (scale, zero point) pairs: scales 0.005 .. 0.1,
 * zero points 0 .. 255 (so some ranges are all negative or all positive) */
static void qparams(int n, float *s, int32_t *z)
{
    for (int i = 0; i < n; i++) {
        s[i] = 0.005f + (float)(rnd() % 1000) * 0.000095f;
        z[i] = (int32_t)(rnd() % 256);
    }
}

static float deq(uint8_t q, float s, int z)
{
    return s * (float)((int)q - z);
}

/* the reference result y clamped to what channel (s, z) can hold */
static double clamp_q(double y, float s, int z)
{
    double lo = deq(0, s, z), hi = deq(255, s, z);
    return y < lo ? lo : y > hi ? hi : y;
}

static bool simd_ok(void)
{
    static bool printed;
    bool have = sx_xnn_q8_have_simd();
    if (!printed) {
        printf("AVX-512 VNNI kernels: %s\n", have ? "yes (compared with portable)" : "no");
        printed = true;
    }
    return have;
}

/* The weights as the GEMM quantizes them: input scales folded in, then per
 * output channel, symmetric, 127 steps to the largest magnitude. */
static float *quantized_weights(const float *w, int k, int n, const float *s_in)
{
    float *wq = malloc(sizeof(float) * (size_t)k * n);
    for (int o = 0; o < n; o++) {
        float amax = 0;
        for (int i = 0; i < k; i++) {
            float v = fabsf(w[(size_t)o * k + i] * s_in[i]);
            amax = v > amax ? v : amax;
        }
        float sw = amax / 127.0f;
        for (int i = 0; i < k; i++) {
            wq[(size_t)o * k + i] = sw * (float)lrintf(w[(size_t)o * k + i] * s_in[i] / sw);
        }
    }
    return wq;
}

/* A GEMM of P pixels (k inputs, pixel stride k + 3 to test strides) vs
 * the reference on the dequantized inputs; u8 and f32 outputs; every input
 * and output channel with its own (scale, zero point). */
static void check_gemm(int P, int k, int n, sx_xnn_q8_act act, bool f32_out)
{
    float *w = malloc(sizeof(float) * (size_t)k * n), *b = malloc(sizeof(float) * (size_t)n);
    float *s_in = malloc(sizeof(float) * k), *s_out = malloc(sizeof(float) * n);
    int32_t *z_in = malloc(sizeof(int32_t) * k), *z_out = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < k * n; i++) {
        w[i] = frnd() * 0.5f;
    }
    for (int i = 0; i < n; i++) {
        b[i] = frnd();
    }
    qparams(k, s_in, z_in);
    qparams(n, s_out, z_out);
    const size_t ipx = (size_t)k + 3, opx = (size_t)n + 5;
    uint8_t *in = calloc((size_t)P * ipx + 64, 1);
    for (size_t i = 0; i < (size_t)P * ipx; i++) {
        in[i] = (uint8_t)rnd();
    }
    size_t esz = f32_out ? sizeof(float) : 1;
    void *out[2] = {calloc((size_t)P * opx, esz), calloc((size_t)P * opx, esz)};
    int modes = simd_ok() ? 2 : 1;
    for (int m = 0; m < modes; m++) {
        sx_xnn_q8_gemm g;
        assert_int_equal(
            sx_xnn_q8_gemm_init(&g, k, n, w, b, act, s_in, z_in, f32_out, s_out, z_out, m == 1),
            SPECX_OK);
        /* a 7-pixel-wide grid, run in two ranges (a tile split mid-row) */
        sx_xnn_q8_grid io = {.in = in,
                             .in_row = 7 * ipx,
                             .in_px = ipx,
                             .out = out[m],
                             .out_row = 7 * opx,
                             .out_px = opx,
                             .w = 7};
        sx_xnn_q8_gemm_run(&g, &io, 0, (size_t)P / 3);
        sx_xnn_q8_gemm_run(&g, &io, (size_t)P / 3, (size_t)P);
        sx_xnn_q8_gemm_clear(&g);
    }
    float *wq = quantized_weights(w, k, n, s_in);
    double max_err = 0; /* in output steps */
    for (int p = 0; p < P; p++) {
        for (int o = 0; o < n; o++) {
            double y = b[o];
            for (int i = 0; i < k; i++) {
                y += (double)wq[(size_t)o * k + i] * ((int)in[(size_t)p * ipx + i] - z_in[i]);
            }
            y = act_ref((float)y, act);
            double got, step;
            if (f32_out) {
                got = ((float *)out[0])[(size_t)p * opx + o];
                step = 1.0;
            } else {
                y = clamp_q(y, s_out[o], z_out[o]);
                got = deq(((uint8_t *)out[0])[(size_t)p * opx + o], s_out[o], z_out[o]);
                step = s_out[o];
            }
            double e = fabs(got - y) / step;
            max_err = e > max_err ? e : max_err;
        }
    }
    printf("gemm %dx%d->%d act %d %s: max error %.4f %s\n", P, k, n, (int)act,
           f32_out ? "f32" : "u8", max_err, f32_out ? "" : "steps");
    /* only the output rounding (half a step) and float rounding remain */
    assert_true(max_err <= (f32_out ? 1e-4 : 0.501));
    if (modes == 2) {
        assert_memory_equal(out[0], out[1], (size_t)P * opx * esz);
    }
    free(w);
    free(wq);
    free(b);
    free(s_in);
    free(s_out);
    free(z_in);
    free(z_out);
    free(in);
    free(out[0]);
    free(out[1]);
}

static void test_gemm(void **state)
{
    (void)state;
    const int shapes[][3] = {{61, 8, 4},   {61, 8, 8},     {50, 16, 96}, {33, 32, 192},
                             {29, 96, 16}, {40, 120, 255}, {9, 3, 20},   {100, 272, 48}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        for (int a = 0; a < 3; a++) {
            check_gemm(shapes[i][0], shapes[i][1], shapes[i][2], (sx_xnn_q8_act)a, false);
        }
        check_gemm(shapes[i][0], shapes[i][1], shapes[i][2], SX_XNN_Q8_LEAKY, true);
    }
}

/* A depthwise convolution from a padded float band vs the reference. */
static void check_dw(int h, int wd, int c, int k, int s, sx_xnn_q8_act act)
{
    int pad = k / 2, pw = wd + 2 * pad, ph = h + 2 * pad;
    int ow = (wd + 2 * pad - k) / s + 1, oh = (h + 2 * pad - k) / s + 1;
    float *w = malloc(sizeof(float) * (size_t)c * k * k), *b = malloc(sizeof(float) * (size_t)c);
    for (int i = 0; i < c * k * k; i++) {
        w[i] = frnd() * 0.5f;
    }
    for (int i = 0; i < c; i++) {
        b[i] = frnd();
    }
    float *unit = malloc(sizeof(float) * c), *s_out = malloc(sizeof(float) * c);
    int32_t *z_out = malloc(sizeof(int32_t) * c), *zdummy = malloc(sizeof(int32_t) * c);
    qparams(c, unit, zdummy);
    qparams(c, s_out, z_out);
    /* integer-valued band (q - z), zero padding */
    float *band = calloc((size_t)ph * pw * c, sizeof(float));
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < wd; x++) {
            for (int ch = 0; ch < c; ch++) {
                band[((size_t)(y + pad) * pw + x + pad) * c + ch] =
                    (float)((int)(rnd() % 256) - 40);
            }
        }
    }
    const size_t opx = (size_t)c + 8;
    uint8_t *out[2] = {calloc((size_t)oh * ow * opx, 1), calloc((size_t)oh * ow * opx, 1)};
    int modes = simd_ok() ? 2 : 1;
    for (int m = 0; m < modes; m++) {
        sx_xnn_q8_dw d;
        assert_int_equal(sx_xnn_q8_dw_init(&d, k, s, c, w, b, act, unit, s_out, z_out, m == 1),
                         SPECX_OK);
        for (int oy = 0; oy < oh; oy++) {
            sx_xnn_q8_dw_row(&d, band + (size_t)oy * s * pw * c, (size_t)pw * c,
                             out[m] + (size_t)oy * ow * opx, opx, ow);
        }
        sx_xnn_q8_dw_clear(&d);
    }
    double max_err = 0; /* in output steps */
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            for (int ch = 0; ch < c; ch++) {
                double y = b[ch];
                for (int ky = 0; ky < k; ky++) {
                    for (int kx = 0; kx < k; kx++) {
                        y += (double)w[((size_t)ch * k + ky) * k + kx] * unit[ch] *
                             band[((size_t)(oy * s + ky) * pw + ox * s + kx) * c + ch];
                    }
                }
                y = clamp_q(act_ref((float)y, act), s_out[ch], z_out[ch]);
                double got = deq(out[0][((size_t)oy * ow + ox) * opx + ch], s_out[ch], z_out[ch]);
                double e = fabs(got - y) / s_out[ch];
                max_err = e > max_err ? e : max_err;
            }
        }
    }
    printf("dw %dx%dx%d k%d s%d act %d: max error %.4f steps\n", h, wd, c, k, s, (int)act, max_err);
    assert_true(max_err <= 0.501);
    if (modes == 2) {
        assert_memory_equal(out[0], out[1], (size_t)oh * ow * opx);
    }
    free(w);
    free(b);
    free(unit);
    free(s_out);
    free(z_out);
    free(zdummy);
    free(band);
    free(out[0]);
    free(out[1]);
}

static void test_dw(void **state)
{
    (void)state;
    check_dw(9, 11, 8, 3, 1, SX_XNN_Q8_LEAKY);
    check_dw(160, 160, 8, 3, 1, SX_XNN_Q8_LEAKY);
    check_dw(9, 11, 24, 3, 2, SX_XNN_Q8_LEAKY);
    check_dw(6, 7, 136, 3, 1, SX_XNN_Q8_RELU);
    check_dw(8, 9, 48, 5, 1, SX_XNN_Q8_LINEAR);
    check_dw(5, 13, 16, 3, 2, SX_XNN_Q8_LEAKY);
}

/* The stem: a dense convolution of a float image with borders. */
static void check_stem(int h, int wd, int ci, int n, int k, int s, sx_xnn_q8_act act)
{
    int pad = k / 2;
    int ow = (wd + 2 * pad - k) / s + 1, oh = (h + 2 * pad - k) / s + 1;
    float *w = malloc(sizeof(float) * (size_t)n * ci * k * k), *b = malloc(sizeof(float) * n);
    for (int i = 0; i < n * ci * k * k; i++) {
        w[i] = frnd();
    }
    for (int i = 0; i < n; i++) {
        b[i] = frnd() * 0.1f;
    }
    float *img = malloc(sizeof(float) * (size_t)h * wd * ci);
    for (int i = 0; i < h * wd * ci; i++) {
        img[i] = (float)(rnd() % 256) / 255.0f;
    }
    float s_out[32];
    int32_t z_out[32];
    qparams(n, s_out, z_out);
    uint8_t *out[2] = {calloc((size_t)oh * ow * n, 1), calloc((size_t)oh * ow * n, 1)};
    int modes = simd_ok() ? 2 : 1;
    for (int m = 0; m < modes; m++) {
        sx_xnn_q8_stem st;
        assert_int_equal(
            sx_xnn_q8_stem_init(&st, k, s, pad, ci, n, w, b, act, s_out, z_out, m == 1), SPECX_OK);
        for (int oy = 0; oy < oh; oy++) {
            sx_xnn_q8_stem_row(&st, img, h, wd, (size_t)ci, oy, out[m] + (size_t)oy * ow * n,
                               (size_t)n, ow);
        }
        sx_xnn_q8_stem_clear(&st);
    }
    double max_err = 0; /* in output steps */
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            for (int o = 0; o < n; o++) {
                double y = b[o];
                for (int c = 0; c < ci; c++) {
                    for (int ky = 0; ky < k; ky++) {
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                                y += (double)w[(((size_t)o * k + ky) * k + kx) * ci + c] *
                                     img[((size_t)iy * wd + ix) * ci + c];
                            }
                        }
                    }
                }
                y = clamp_q(act_ref((float)y, act), s_out[o], z_out[o]);
                double got = deq(out[0][((size_t)oy * ow + ox) * n + o], s_out[o], z_out[o]);
                double e = fabs(got - y) / s_out[o];
                max_err = e > max_err ? e : max_err;
            }
        }
    }
    printf("stem %dx%dx%d->%d k%d s%d: max error %.4f steps\n", h, wd, ci, n, k, s, max_err);
    assert_true(max_err <= 0.501);
    if (modes == 2) {
        assert_memory_equal(out[0], out[1], (size_t)oh * ow * n);
    }
    free(w);
    free(b);
    free(img);
    free(out[0]);
    free(out[1]);
}

static void test_stem(void **state)
{
    (void)state;
    check_stem(13, 17, 3, 8, 3, 2, SX_XNN_Q8_LEAKY);
    check_stem(12, 10, 3, 16, 3, 2, SX_XNN_Q8_LEAKY);
    check_stem(9, 14, 3, 32, 3, 1, SX_XNN_Q8_RELU);
}

static void check_add(int c, int stride)
{
    enum { W = 7 };
    float sa[32], sb[32], so[32];
    int32_t za[32], zb[32], zo[32];
    qparams(c, sa, za);
    qparams(c, sb, zb);
    qparams(c, so, zo);
    uint8_t a[W * 32], b[W * 32], o[2][W * 32];
    for (int i = 0; i < W * 32; i++) {
        a[i] = (uint8_t)rnd();
        b[i] = (uint8_t)rnd();
    }
    int modes = simd_ok() ? 2 : 1;
    for (int act = 0; act < 3; act++) {
        memset(o, 0, sizeof o);
        for (int m = 0; m < modes; m++) {
            sx_xnn_q8_add p;
            assert_int_equal(
                sx_xnn_q8_add_init(&p, c, sa, za, sb, zb, so, zo, (sx_xnn_q8_act)act, m == 1),
                SPECX_OK);
            sx_xnn_q8_add_row(&p, a, (size_t)stride, b, (size_t)stride, o[m], (size_t)stride, W);
            sx_xnn_q8_add_clear(&p);
        }
        for (int x = 0; x < W; x++) {
            for (int ch = 0; ch < c; ch++) {
                int i = x * stride + ch;
                double y = act_ref(deq(a[i], sa[ch], za[ch]) + deq(b[i], sb[ch], zb[ch]),
                                   (sx_xnn_q8_act)act);
                y = clamp_q(y, so[ch], zo[ch]);
                assert_true(fabs(deq(o[0][i], so[ch], zo[ch]) - y) <= 0.501 * so[ch]);
                if (modes == 2) {
                    assert_int_equal(o[0][i], o[1][i]);
                }
            }
        }
    }
}

static void test_small_loops(void **state)
{
    (void)state;
    /* rounding: half to even, saturation */
    assert_int_equal(sx_xnn_q8_round(2.5f), 2);
    assert_int_equal(sx_xnn_q8_round(3.5f), 4);
    assert_int_equal(sx_xnn_q8_round(-0.6f), 0);
    assert_int_equal(sx_xnn_q8_round(300.0f), 255);
    assert_int_equal(sx_xnn_q8_round(NAN), 0);
    /* add: sa (a - za) + sb (b - zb), requantized, per channel; strided
     * rows and dense rows of 4 and 8 channels (16 / c pixels per vector) */
    const int cs[][2] = {{24, 32}, {8, 8}, {4, 4}};
    for (size_t t = 0; t < sizeof cs / sizeof cs[0]; t++) {
        check_add(cs[t][0], cs[t][1]);
    }
    enum { C = 24 };
    float sa[C];
    int32_t za[C];
    qparams(C, sa, za);
    /* requantizing tables: none needed when every channel is equal */
    float s2[C];
    int32_t z2[C];
    memcpy(s2, sa, sizeof s2);
    memcpy(z2, za, sizeof z2);
    assert_false(sx_xnn_q8_lut(C, sa, za, s2, z2, NULL));
    s2[3] = sa[3] * 2;
    z2[3] = za[3] / 2;
    static uint8_t lut[C * 256];
    assert_true(sx_xnn_q8_lut(C, sa, za, s2, z2, lut));
    for (int q = 0; q < 256; q++) {
        assert_int_equal(lut[q], q); /* channel 0: identity */
        double want = clamp_q(deq((uint8_t)q, sa[3], za[3]), s2[3], z2[3]);
        assert_true(fabs(deq(lut[3 * 256 + q], s2[3], z2[3]) - want) <= 0.501 * s2[3]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_dw),
        cmocka_unit_test(test_stem),
        cmocka_unit_test(test_small_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
