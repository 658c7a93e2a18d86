/* test_scale.c — scaling for the uplink: the letterbox size
 * (specx_image_fit_size), bilinear resampling on the letterbox's grid
 * (specx_image_resize) and JPEG decoding at a DCT scale
 * (specx_image_decode_fit). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "specx/codec.h"

/* ---- helpers ------------------------------------------------------------- */

static uint8_t *px(const specx_image *img, int x, int y)
{
    return img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
}

/* Smooth shapes with a few edges, so that JPEG keeps it well. */
static void make_scene(specx_image *img, int w, int h)
{
    assert_int_equal(specx_image_alloc(img, w, h), SPECX_OK);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = px(img, x, y);
            p[0] = (uint8_t)(255 * x / (w - 1));
            p[1] = (uint8_t)(255 * y / (h - 1));
            p[2] = (uint8_t)((x / 97 + y / 61) % 2 ? 200 : 40);
        }
    }
}

static void make_noise(specx_image *img, int w, int h, unsigned seed)
{
    assert_int_equal(specx_image_alloc(img, w, h), SPECX_OK);
    for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) {
        seed = seed * 1103515245u + 12345u;
        img->data[i] = (uint8_t)(seed >> 16);
    }
}

static double psnr(const specx_image *a, const specx_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    double se = 0;
    for (int y = 0; y < a->height; y++) {
        for (int x = 0; x < a->width * 3; x++) {
            double d = (double)px(a, 0, y)[x] - (double)px(b, 0, y)[x];
            se += d * d;
        }
    }
    double mse = se / ((double)a->width * a->height * 3);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static uint8_t *jpeg_of(const specx_image *img, size_t *len)
{
    uint8_t *buf = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_jpeg_encode(img, 90, &buf, len, &err), SPECX_OK);
    return buf;
}

/* ---- fit size ------------------------------------------------------------ */

static void test_fit_size(void **state)
{
    (void)state;
    static const struct {
        int w, h, fw, fh, ow, oh;
    } cases[] = {
        {1280, 720, 416, 416, 416, 234}, /* wide: the width fills */
        {720, 1280, 416, 416, 234, 416}, /* tall: the height fills */
        {960, 540, 416, 416, 416, 234},  {640, 480, 320, 320, 320, 240},
        {1242, 375, 416, 416, 416, 125}, /* KITTI: 125.6 rounds down */
        {416, 416, 416, 416, 416, 416},  {100, 100, 416, 416, 416, 416}, /* grows */
        {640, 480, 320, 192, 256, 192},                                  /* a non-square input */
        {5000, 1, 416, 416, 416, 1},                                     /* never below 1 */
        {0, 480, 416, 416, 0, 0},        {640, 480, 0, 416, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int w = -1, h = -1;
        specx_image_fit_size(cases[i].w, cases[i].h, cases[i].fw, cases[i].fh, &w, &h);
        if (w != cases[i].ow || h != cases[i].oh) {
            fail_msg("%dx%d into %dx%d: %dx%d, expected %dx%d", cases[i].w, cases[i].h, cases[i].fw,
                     cases[i].fh, w, h, cases[i].ow, cases[i].oh);
        }
    }
}

/* ---- resize -------------------------------------------------------------- */

/* The value the letterbox's grid gives at output (x, y), computed directly in
 * double from the definition (corners aligned, bilinear). */
static double expected_at(const specx_image *s, int w, int h, int x, int y, int k)
{
    double sx = w > 1 ? x * (double)(s->width - 1) / (w - 1) : 0;
    double sy = h > 1 ? y * (double)(s->height - 1) / (h - 1) : 0;
    int x0 = (int)sx, y0 = (int)sy;
    int x1 = x0 + 1 < s->width ? x0 + 1 : x0, y1 = y0 + 1 < s->height ? y0 + 1 : y0;
    double fx = sx - x0, fy = sy - y0;
    double top = (1 - fx) * px(s, x0, y0)[k] + fx * px(s, x1, y0)[k];
    double bot = (1 - fx) * px(s, x0, y1)[k] + fx * px(s, x1, y1)[k];
    return (1 - fy) * top + fy * bot;
}

static void test_resize_values(void **state)
{
    (void)state;
    specx_err err = {{0}};
    static const int sizes[][4] = {{1280, 720, 416, 234}, {97, 61, 40, 25}, {50, 40, 50, 40},
                                   {64, 48, 200, 150},    {33, 1, 7, 1},    {1, 20, 5, 4},
                                   {300, 200, 1, 1}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        specx_image src, out;
        make_noise(&src, sizes[t][0], sizes[t][1], (unsigned)t + 1);
        int w = sizes[t][2], h = sizes[t][3];
        assert_int_equal(specx_image_resize(&src, w, h, &out, &err), SPECX_OK);
        assert_int_equal(out.width, w);
        assert_int_equal(out.height, h);
        double worst = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int k = 0; k < 3; k++) {
                    double d = fabs(px(&out, x, y)[k] - expected_at(&src, w, h, x, y, k));
                    worst = d > worst ? d : worst;
                }
            }
        }
        /* 8-bit rounding plus float against double positions */
        if (worst > 0.51 + 1e-3 * src.width) {
            fail_msg("%dx%d -> %dx%d: off by %.3f", src.width, src.height, w, h, worst);
        }
        /* corners aligned: the outer corners are the source's */
        assert_memory_equal(px(&out, 0, 0), px(&src, 0, 0), 3);
        if (w > 1 && h > 1) {
            assert_memory_equal(px(&out, w - 1, h - 1), px(&src, src.width - 1, src.height - 1), 3);
        }
        specx_image_clear(&out);
        specx_image_clear(&src);
    }
}

static void test_resize_identity_and_ramps(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image src, out;
    make_noise(&src, 123, 45, 7);
    assert_int_equal(specx_image_resize(&src, 123, 45, &out, &err), SPECX_OK);
    assert_memory_equal(out.data, src.data, (size_t)123 * 45 * 3); /* the letterbox's identity */
    specx_image_clear(&out);
    specx_image_clear(&src);

    /* a ramp x = 0..255 sampled every 3 source pixels is exactly 3c */
    assert_int_equal(specx_image_alloc(&src, 256, 2), SPECX_OK);
    for (int y = 0; y < 2; y++) {
        for (int x = 0; x < 256; x++) {
            memset(px(&src, x, y), x, 3);
        }
    }
    assert_int_equal(specx_image_resize(&src, 86, 1, &out, &err), SPECX_OK);
    for (int c = 0; c < 86; c++) {
        assert_int_equal(px(&out, c, 0)[0], 3 * c);
    }
    specx_image_clear(&out);

    /* a view: stride larger than 3 * width */
    specx_image view = src;
    view.width = 100;
    assert_int_equal(specx_image_resize(&view, 34, 2, &out, &err), SPECX_OK);
    assert_int_equal(px(&out, 33, 1)[1], 99);
    assert_int_equal(px(&out, 11, 0)[2], 33);
    specx_image_clear(&out);
    specx_image_clear(&src);
}

static void test_resize_errors(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image src, out = {0};
    make_noise(&src, 8, 8, 1);
    assert_int_equal(specx_image_resize(&src, 0, 4, &out, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "0x4"));
    assert_int_equal(specx_image_resize(&src, 4, 40000, &out, &err), SPECX_EINVAL);
    assert_int_equal(specx_image_resize(NULL, 4, 4, &out, &err), SPECX_EINVAL);
    assert_int_equal(specx_image_resize(&src, 4, 4, NULL, &err), SPECX_EINVAL);
    specx_image bad = src;
    bad.stride = 3;
    assert_int_equal(specx_image_resize(&bad, 4, 4, &out, &err), SPECX_EINVAL);
    assert_null(out.data);
    specx_image_clear(&src);
}

/* ---- decode at a DCT scale ----------------------------------------------- */

static void test_decode_fit_scales(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image scene;
    make_scene(&scene, 1280, 720);
    size_t len;
    uint8_t *jpg = jpeg_of(&scene, &len);
    static const struct {
        int fw, fh, w, h;
    } cases[] = {
        {416, 416, 640, 360},   /* letterbox 416x234: 1/2 covers it, 1/4 does not */
        {320, 320, 320, 180},   /* exactly 1/4 */
        {64, 64, 160, 90},      /* 1/8 is the smallest scale */
        {1280, 720, 1280, 720}, /* nothing smaller covers it */
        {2000, 2000, 1280, 720}, {0, 0, 1280, 720}, /* no fit: full size */
        {416, 0, 1280, 720},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        specx_image img;
        int w = 0, h = 0;
        assert_int_equal(
            specx_image_decode_fit(jpg, len, 0, cases[i].fw, cases[i].fh, &img, &w, &h, &err),
            SPECX_OK);
        assert_int_equal(w, 1280);
        assert_int_equal(h, 720);
        if (img.width != cases[i].w || img.height != cases[i].h) {
            fail_msg("fit %dx%d: decoded %dx%d, expected %dx%d", cases[i].fw, cases[i].fh,
                     img.width, img.height, cases[i].w, cases[i].h);
        }
        specx_image_clear(&img);
    }
    /* the sizes may be left out */
    specx_image img;
    assert_int_equal(specx_image_decode_fit(jpg, len, 0, 416, 416, &img, NULL, NULL, &err),
                     SPECX_OK);
    specx_image_clear(&img);
    free(jpg);
    specx_image_clear(&scene);

    /* odd sizes round up, as libjpeg-turbo scales them */
    make_scene(&scene, 1001, 601);
    jpg = jpeg_of(&scene, &len);
    assert_int_equal(specx_image_decode_fit(jpg, len, 0, 416, 416, &img, NULL, NULL, &err),
                     SPECX_OK);
    assert_int_equal(img.width, 501);
    assert_int_equal(img.height, 301);
    specx_image_clear(&img);
    free(jpg);
    specx_image_clear(&scene);
}

/* The scaled picture is the picture: close to the full decode averaged over
 * 2x2 blocks. */
static void test_decode_fit_content(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image scene, full, half, avg;
    make_scene(&scene, 640, 480);
    size_t len;
    uint8_t *jpg = jpeg_of(&scene, &len);
    assert_int_equal(specx_image_decode(jpg, len, 0, &full, &err), SPECX_OK);
    assert_int_equal(specx_image_decode_fit(jpg, len, 0, 300, 300, &half, NULL, NULL, &err),
                     SPECX_OK);
    assert_int_equal(half.width, 320);
    assert_int_equal(specx_image_alloc(&avg, 320, 240), SPECX_OK);
    for (int y = 0; y < 240; y++) {
        for (int x = 0; x < 320; x++) {
            for (int k = 0; k < 3; k++) {
                int s = px(&full, 2 * x, 2 * y)[k] + px(&full, 2 * x + 1, 2 * y)[k] +
                        px(&full, 2 * x, 2 * y + 1)[k] + px(&full, 2 * x + 1, 2 * y + 1)[k];
                px(&avg, x, y)[k] = (uint8_t)((s + 2) / 4);
            }
        }
    }
    double db = psnr(&half, &avg);
    printf("1/2 DCT decode vs 2x2 average of the full decode: %.1f dB\n", db);
    assert_true(db > 30.0);
    specx_image_clear(&avg);
    specx_image_clear(&half);
    specx_image_clear(&full);
    free(jpg);
    specx_image_clear(&scene);
}

static void test_decode_fit_png_limits_errors(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image scene, img;
    make_scene(&scene, 200, 100);
    uint8_t *png = NULL;
    size_t plen = 0;
    assert_int_equal(specx_png_encode(&scene, &png, &plen, &err), SPECX_OK);
    int w = 0, h = 0;
    /* PNG has no DCT: full size, lossless */
    assert_int_equal(specx_image_decode_fit(png, plen, 0, 32, 32, &img, &w, &h, &err), SPECX_OK);
    assert_int_equal(img.width, 200);
    assert_int_equal(w, 200);
    assert_int_equal(h, 100);
    assert_memory_equal(img.data, scene.data, (size_t)200 * 100 * 3);
    specx_image_clear(&img);
    free(png);
    specx_image_clear(&scene);

    make_scene(&scene, 1280, 720);
    size_t len;
    uint8_t *jpg = jpeg_of(&scene, &len);
    /* the pixel limit is the picture's, not the scaled one's */
    assert_int_equal(specx_image_decode_fit(jpg, len, 500000, 64, 64, &img, &w, &h, &err),
                     SPECX_ETOOBIG);
    /* a truncated JPEG is truncated at any scale */
    assert_int_equal(specx_image_decode_fit(jpg, len / 2, 0, 416, 416, &img, &w, &h, &err),
                     SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "truncated"));
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(specx_image_decode_fit(junk, sizeof junk, 0, 416, 416, &img, &w, &h, &err),
                     SPECX_EFORMAT);
    assert_int_equal(specx_image_decode_fit(NULL, 0, 0, 416, 416, &img, &w, &h, &err),
                     SPECX_EFORMAT);
    free(jpg);
    specx_image_clear(&scene);
}

/* Full chroma costs bytes and keeps colour detail; AUTO is specx_jpeg_encode. */
static void test_jpeg_chroma(void **state)
{
    (void)state;
    specx_err err = {{0}};
    specx_image img, back;
    make_noise(&img, 64, 48, 3); /* colour changes every pixel */
    uint8_t *a, *b, *c, *d;
    size_t la, lb, lc, ld;
    assert_int_equal(specx_jpeg_encode_chroma(&img, 90, SPECX_CHROMA_420, &a, &la, &err), SPECX_OK);
    assert_int_equal(specx_jpeg_encode_chroma(&img, 90, SPECX_CHROMA_444, &b, &lb, &err), SPECX_OK);
    assert_int_equal(specx_jpeg_encode_chroma(&img, 90, SPECX_CHROMA_AUTO, &c, &lc, &err),
                     SPECX_OK);
    assert_int_equal(specx_jpeg_encode(&img, 90, &d, &ld, &err), SPECX_OK);
    assert_true(lb > la);
    assert_int_equal(lc, ld);
    assert_memory_equal(c, d, lc);
    assert_int_equal(lc, la); /* 4:2:0 below quality 95 */
    double p420, p444;
    assert_int_equal(specx_image_decode(a, la, 0, &back, &err), SPECX_OK);
    p420 = psnr(&img, &back);
    specx_image_clear(&back);
    assert_int_equal(specx_image_decode(b, lb, 0, &back, &err), SPECX_OK);
    p444 = psnr(&img, &back);
    specx_image_clear(&back);
    printf("q90 4:2:0 %zu B %.1f dB, 4:4:4 %zu B %.1f dB\n", la, p420, lb, p444);
    assert_true(p444 > p420 + 1.0);
    assert_int_equal(specx_jpeg_encode_chroma(&img, 0, SPECX_CHROMA_444, &a, &la, &err),
                     SPECX_EINVAL);
    free(a);
    free(b);
    free(c);
    free(d);
    specx_image_clear(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_size),
        cmocka_unit_test(test_resize_values),
        cmocka_unit_test(test_resize_identity_and_ramps),
        cmocka_unit_test(test_resize_errors),
        cmocka_unit_test(test_decode_fit_scales),
        cmocka_unit_test(test_decode_fit_content),
        cmocka_unit_test(test_decode_fit_png_limits_errors),
        cmocka_unit_test(test_jpeg_chroma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
