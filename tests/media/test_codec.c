/* test_codec.c — JPEG/PNG codecs: real images, round trips, every PNG colour
 * variant, truncation, garbage, size limits, files, and a mutation fuzz loop. */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "specx/codec.h"

/* ---- helpers ------------------------------------------------------------- */

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* A smooth gradient with some edges: JPEG-friendly but not trivial. */
static void make_pattern(specx_image *img, int w, int h)
{
    assert_int_equal(specx_image_alloc(img, w, h), SPECX_OK);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
            int c = ((x / 16 + y / 16) % 2) ? 40 : -40;
            int v[3] = {x * 160 / (w - 1) + 48, y * 160 / (h - 1) + 48, 128};
            for (int k = 0; k < 3; k++) {
                p[k] = (uint8_t)(v[k] + c);
            }
        }
    }
}

static double psnr(const specx_image *a, const specx_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    double se = 0;
    for (int y = 0; y < a->height; y++) {
        for (int x = 0; x < a->width * 3; x++) {
            double d = (double)a->data[(size_t)y * (size_t)a->stride + (size_t)x] -
                       (double)b->data[(size_t)y * (size_t)b->stride + (size_t)x];
            se += d * d;
        }
    }
    double mse = se / ((double)a->width * a->height * 3);
    return mse == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / mse);
}

static int images_equal(const specx_image *a, const specx_image *b)
{
    if (a->width != b->width || a->height != b->height) {
        return 0;
    }
    for (int y = 0; y < a->height; y++) {
        if (memcmp(a->data + (size_t)y * (size_t)a->stride, b->data + (size_t)y * (size_t)b->stride,
                   (size_t)a->width * 3) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Writes an arbitrary PNG variant with libpng's classic API, so the decoder is
 * checked against files it did not produce itself. */
typedef struct membuf {
    uint8_t *p;
    size_t len, cap;
} membuf;

static void mb_write(png_structp png, png_bytep src, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->p = realloc(m->p, m->cap);
        assert_non_null(m->p);
    }
    memcpy(m->p + m->len, src, n);
    m->len += n;
}

static void mb_flush(png_structp png)
{
    (void)png;
}

static membuf write_png(int w, int h, int depth, int ctype, int interlace, const png_color *pal,
                        int npal, const uint8_t *rows, size_t rowbytes)
{
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) {
        fail_msg("libpng failed while writing a test PNG");
    }
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal != NULL) {
        png_set_PLTE(png, info, pal, npal);
    }
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int p = 0; p < passes; p++) {
        for (int y = 0; y < h; y++) {
            png_write_row(png, rows + (size_t)y * rowbytes);
        }
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return m;
}

static const uint8_t *px(const specx_image *img, int x, int y)
{
    return img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
}

static void assert_px(const specx_image *img, int x, int y, int r, int g, int b)
{
    const uint8_t *p = px(img, x, y);
    if (p[0] != r || p[1] != g || p[2] != b) {
        fail_msg("pixel (%d,%d) is %d,%d,%d; expected %d,%d,%d", x, y, p[0], p[1], p[2], r, g, b);
    }
}

static const char *assets(void)
{
    const char *a = getenv("SPECX_SHARED_ASSETS");
    return a ? a : "../shared/assets";
}

/* ---- tests --------------------------------------------------------------- */

static void test_sniff(void **state)
{
    (void)state;
    const uint8_t jpg[] = {0xff, 0xd8, 0xff, 0xe0};
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
    const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a'};
    assert_int_equal(specx_image_sniff(jpg, sizeof jpg), SPECX_FORMAT_JPEG);
    assert_int_equal(specx_image_sniff(png, sizeof png), SPECX_FORMAT_PNG);
    assert_int_equal(specx_image_sniff(png, 7), SPECX_FORMAT_UNKNOWN);
    assert_int_equal(specx_image_sniff(gif, sizeof gif), SPECX_FORMAT_UNKNOWN);
    assert_int_equal(specx_image_sniff(NULL, 0), SPECX_FORMAT_UNKNOWN);
}

static void test_real_jpegs(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/images/udacity_highway/test1.jpg", assets());
    struct {
        const char *path;
        int w, h;
    } files[] = {
        {path, 1280, 720},
        {"/usr/share/darknet/data/dog.jpg", 768, 576},
        {"/usr/share/darknet/data/eagle.jpg", 773, 512},
        {"/usr/share/darknet/data/scream.jpg", 352, 448},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(files[i].path, R_OK) != 0) {
            fail_msg("test image missing: %s", files[i].path);
        }
        specx_image img = {0};
        specx_err err = {{0}};
        specx_status st = specx_image_load(files[i].path, &img, &err);
        if (st != SPECX_OK) {
            fail_msg("%s", err.msg);
        }
        assert_int_equal(img.width, files[i].w);
        assert_int_equal(img.height, files[i].h);
        /* A photo is not flat: the decoder produced real content. */
        long sum = 0, sumsq = 0, n = 0;
        for (int y = 0; y < img.height; y += 7) {
            for (int x = 0; x < img.width; x += 7) {
                int v = px(&img, x, y)[1];
                sum += v;
                sumsq += (long)v * v;
                n++;
            }
        }
        double mean = (double)sum / (double)n;
        assert_true((double)sumsq / (double)n - mean * mean > 100.0);

        /* Real photo round trips: PNG exact, JPEG close. */
        uint8_t *enc = NULL;
        size_t len = 0;
        specx_image back = {0};
        assert_int_equal(specx_png_encode(&img, &enc, &len, &err), SPECX_OK);
        assert_int_equal(specx_image_sniff(enc, len), SPECX_FORMAT_PNG);
        assert_int_equal(specx_image_decode(enc, len, 0, &back, &err), SPECX_OK);
        assert_true(images_equal(&img, &back));
        specx_image_clear(&back);
        free(enc);
        assert_int_equal(specx_jpeg_encode(&img, 90, &enc, &len, &err), SPECX_OK);
        assert_int_equal(specx_image_decode(enc, len, 0, &back, &err), SPECX_OK);
        assert_true(psnr(&img, &back) > 30.0);
        specx_image_clear(&back);
        free(enc);
        specx_image_clear(&img);
    }
}

static void test_round_trips(void **state)
{
    (void)state;
    specx_image img, back = {0};
    make_pattern(&img, 97, 61); /* odd sizes exercise partial MCUs and rows */
    specx_err err = {{0}};
    uint8_t *enc = NULL;
    size_t len = 0;

    assert_int_equal(specx_png_encode(&img, &enc, &len, &err), SPECX_OK);
    assert_int_equal(specx_image_decode(enc, len, 0, &back, &err), SPECX_OK);
    assert_true(images_equal(&img, &back));
    specx_image_clear(&back);
    free(enc);

    double last = 0;
    const int qs[] = {50, 90, 98};
    const double bound[] = {27.0, 32.0, 38.0};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(specx_jpeg_encode(&img, qs[i], &enc, &len, &err), SPECX_OK);
        assert_int_equal(specx_image_sniff(enc, len), SPECX_FORMAT_JPEG);
        assert_int_equal(specx_image_decode(enc, len, 0, &back, &err), SPECX_OK);
        assert_int_equal(back.width, 97);
        assert_int_equal(back.height, 61);
        double p = psnr(&img, &back);
        if (p < bound[i] || p < last) {
            fail_msg("quality %d: PSNR %.1f dB (bound %.1f, previous %.1f)", qs[i], p, bound[i],
                     last);
        }
        last = p;
        specx_image_clear(&back);
        free(enc);
    }

    /* A view into a wider buffer (stride > 3*width) encodes only its pixels. */
    specx_image view = img;
    view.width = 40;
    view.height = 30;
    assert_int_equal(specx_png_encode(&view, &enc, &len, &err), SPECX_OK);
    assert_int_equal(specx_image_decode(enc, len, 0, &back, &err), SPECX_OK);
    assert_true(images_equal(&view, &back));
    specx_image_clear(&back);
    free(enc);

    /* Bad arguments. */
    assert_int_equal(specx_jpeg_encode(&img, 0, &enc, &len, &err), SPECX_EINVAL);
    assert_int_equal(specx_jpeg_encode(&img, 101, &enc, &len, &err), SPECX_EINVAL);
    specx_image empty = {0};
    assert_int_equal(specx_png_encode(&empty, &enc, &len, &err), SPECX_EINVAL);
    specx_image_clear(&img);
}

static void test_png_variants(void **state)
{
    (void)state;
    specx_image out = {0};
    specx_err err = {{0}};
    const int w = 5, h = 3;
    uint8_t rows[5 * 3 * 8];

    /* 8-bit grey: value x*50 + y. */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            rows[y * w + x] = (uint8_t)(x * 50 + y);
        }
    }
    membuf m = write_png(w, h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, NULL, 0, rows, w);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 3, 2, 152, 152, 152);
    assert_px(&out, 0, 0, 0, 0, 0);
    specx_image_clear(&out);
    free(m.p);

    /* 1-bit grey: a checkerboard expands to 0/255. */
    for (int y = 0; y < h; y++) {
        rows[y] = (y % 2) ? 0x50 : 0xa8; /* 1010 1... / 0101 0... */
    }
    m = write_png(w, h, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, NULL, 0, rows, 1);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 0, 0, 255, 255, 255);
    assert_px(&out, 1, 0, 0, 0, 0);
    assert_px(&out, 0, 1, 0, 0, 0);
    assert_px(&out, 1, 1, 255, 255, 255);
    specx_image_clear(&out);
    free(m.p);

    /* Grey + alpha: alpha dropped, grey kept. */
    for (int i = 0; i < w * h; i++) {
        rows[i * 2] = (uint8_t)(i * 10);
        rows[i * 2 + 1] = (uint8_t)(255 - i);
    }
    m = write_png(w, h, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, NULL, 0, rows, w * 2);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 2, 1, 70, 70, 70);
    specx_image_clear(&out);
    free(m.p);

    /* RGBA: colour channels kept as stored, alpha dropped. */
    for (int i = 0; i < w * h; i++) {
        rows[i * 4 + 0] = (uint8_t)i;
        rows[i * 4 + 1] = (uint8_t)(100 + i);
        rows[i * 4 + 2] = (uint8_t)(200 + i);
        rows[i * 4 + 3] = (uint8_t)(i * 17);
    }
    m = write_png(w, h, 8, PNG_COLOR_TYPE_RGB_ALPHA, PNG_INTERLACE_NONE, NULL, 0, rows, w * 4);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 4, 2, 14, 114, 214);
    assert_px(&out, 0, 0, 0, 100, 200);
    specx_image_clear(&out);
    free(m.p);

    /* Palette, 4-bit indices. */
    png_color pal[3] = {{10, 20, 30}, {200, 100, 50}, {1, 2, 3}};
    for (int y = 0; y < h; y++) {
        rows[y * 3 + 0] = 0x01; /* pixels 0,1 */
        rows[y * 3 + 1] = 0x20; /* pixels 2,3 */
        rows[y * 3 + 2] = 0x10; /* pixel 4 */
    }
    m = write_png(w, h, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, pal, 3, rows, 3);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 0, 1, 10, 20, 30);
    assert_px(&out, 1, 1, 200, 100, 50);
    assert_px(&out, 2, 1, 1, 2, 3);
    assert_px(&out, 4, 2, 200, 100, 50);
    specx_image_clear(&out);
    free(m.p);

    /* 16-bit RGB, interlaced: scaled to 8 bits (0xABCD -> 0xAB or 0xAC). */
    for (int i = 0; i < w * h; i++) {
        uint8_t *p = rows + i * 6;
        p[0] = 0xff, p[1] = 0xff;           /* 65535 -> 255 */
        p[2] = (uint8_t)(i * 16), p[3] = 0; /* i*16*256 -> i*16 */
        p[4] = 0x80, p[5] = 0x80;           /* 0x8080 -> 128 */
    }
    m = write_png(w, h, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, NULL, 0, rows, w * 6);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 3, 1, 255, 128, 128);
    assert_px(&out, 0, 0, 255, 0, 128);
    specx_image_clear(&out);
    free(m.p);

    /* 16-bit grey. */
    for (int i = 0; i < w * h; i++) {
        rows[i * 2] = (uint8_t)(i * 8);
        rows[i * 2 + 1] = 0;
    }
    m = write_png(w, h, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, NULL, 0, rows, w * 2);
    assert_int_equal(specx_image_decode(m.p, m.len, 0, &out, &err), SPECX_OK);
    assert_px(&out, 1, 1, 48, 48, 48);
    specx_image_clear(&out);
    free(m.p);
}

static void assert_eformat(const uint8_t *data, size_t len, const char *expect_word)
{
    specx_image out = {0};
    specx_err err = {{0}};
    specx_status st = specx_image_decode(data, len, 0, &out, &err);
    if (st != SPECX_EFORMAT) {
        fail_msg("decode of %zu bytes gave %s (%s), expected EFORMAT", len, specx_status_name(st),
                 err.msg);
    }
    assert_null(out.data);
    if (expect_word != NULL && strstr(err.msg, expect_word) == NULL) {
        fail_msg("decode of %zu bytes: message '%s' does not say '%s'", len, err.msg, expect_word);
    }
}

static void test_truncated(void **state)
{
    (void)state;
    specx_image img;
    make_pattern(&img, 64, 48);
    uint8_t *enc[2];
    size_t len[2];
    assert_int_equal(specx_jpeg_encode(&img, 85, &enc[0], &len[0], NULL), SPECX_OK);
    assert_int_equal(specx_png_encode(&img, &enc[1], &len[1], NULL), SPECX_OK);
    for (int k = 0; k < 2; k++) {
        /* Every cut point of a small file: all of them must fail cleanly, and
         * say "truncated" (a cut can never look like corruption here). */
        for (size_t cut = 1; cut < len[k]; cut++) {
            assert_eformat(enc[k], cut, "truncated");
        }
    }
    /* A complete file with trailing bytes is still fine. */
    for (int k = 0; k < 2; k++) {
        uint8_t *more = malloc(len[k] + 10);
        assert_non_null(more);
        memcpy(more, enc[k], len[k]);
        memset(more + len[k], 0, 10);
        specx_image out = {0};
        assert_int_equal(specx_image_decode(more, len[k] + 10, 0, &out, NULL), SPECX_OK);
        specx_image_clear(&out);
        free(more);
        free(enc[k]);
    }
    specx_image_clear(&img);

    /* A real photo cut at a few places, including mid-scan. */
    size_t n = 0;
    uint8_t *dog = read_all("/usr/share/darknet/data/dog.jpg", &n);
    assert_non_null(dog);
    const double fracs[] = {0.01, 0.1, 0.5, 0.9, 0.999};
    for (size_t i = 0; i < 5; i++) {
        assert_eformat(dog, (size_t)((double)n * fracs[i]), "truncated");
    }
    free(dog);
}

static void test_garbage(void **state)
{
    (void)state;
    specx_image out = {0};
    specx_err err = {{0}};
    assert_int_equal(specx_image_decode((const uint8_t *)"", 0, 0, &out, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "empty"));
    assert_int_equal(specx_image_decode(NULL, 0, 0, &out, &err), SPECX_EFORMAT);
    assert_int_equal(specx_image_decode(NULL, 5, 0, &out, &err), SPECX_EINVAL);

    srand(12345);
    uint8_t buf[4096];
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (size_t)(rand() % (int)sizeof buf);
        for (size_t j = 0; j < len; j++) {
            buf[j] = (uint8_t)rand();
        }
        if (buf[0] == 0xff || buf[0] == 0x89) {
            buf[0] = 0;
        }
        assert_eformat(buf, len, "unknown image format");
        /* The same garbage behind a valid magic number reaches each decoder. */
        memcpy(buf, "\xff\xd8\xff", 3);
        assert_eformat(buf, len < 3 ? 3 : len, NULL);
        if (len >= 8) {
            memcpy(buf, "\x89PNG\r\n\x1a\n", 8);
            assert_eformat(buf, len, NULL);
        }
    }
    assert_eformat((const uint8_t *)"GIF89a......", 12, "unknown image format");
}

static void fix_png_crcs(uint8_t *p, size_t len);

/* Big dimensions in a tiny file fail before any allocation. */
static void test_size_limits(void **state)
{
    (void)state;
    specx_image img, out = {0};
    specx_err err = {{0}};
    make_pattern(&img, 64, 48);
    uint8_t *enc;
    size_t len;
    assert_int_equal(specx_jpeg_encode(&img, 80, &enc, &len, NULL), SPECX_OK);
    assert_int_equal(specx_image_decode(enc, len, 64 * 48 - 1, &out, &err), SPECX_ETOOBIG);
    assert_int_equal(specx_image_decode(enc, len, 64 * 48, &out, &err), SPECX_OK);
    specx_image_clear(&out);
    /* Patch the SOF0 frame header to 60000x60000. */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++) {
        if (enc[i] == 0xff && enc[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    }
    assert_true(sof > 0);
    enc[sof + 5] = 0xea, enc[sof + 6] = 0x60;
    enc[sof + 7] = 0xea, enc[sof + 8] = 0x60;
    assert_int_equal(specx_image_decode(enc, len, 0, &out, &err), SPECX_ETOOBIG);
    assert_non_null(strstr(err.msg, "60000x60000"));
    assert_null(out.data);
    free(enc);

    assert_int_equal(specx_png_encode(&img, &enc, &len, NULL), SPECX_OK);
    assert_int_equal(specx_image_decode(enc, len, 100, &out, &err), SPECX_ETOOBIG);
    /* Patch IHDR (right after the signature) to 100000x100000, fix its CRC. */
    const uint8_t big[4] = {0x00, 0x01, 0x86, 0xa0};
    memcpy(enc + 16, big, 4);
    memcpy(enc + 20, big, 4);
    fix_png_crcs(enc, len);
    assert_int_equal(specx_image_decode(enc, len, 0, &out, &err), SPECX_ETOOBIG);
    assert_non_null(strstr(err.msg, "100000x100000"));
    assert_null(out.data);
    free(enc);
    specx_image_clear(&img);
}

/* The format requires IHDR first; libpng skips an ancillary chunk placed
 * before it. The probe (the server's check on arrival) and the decoders
 * must accept the same files: before, the server refused such a file on
 * arrival while `specx detect` decoded it (found by fuzz_image). */
static void test_png_chunk_before_ihdr(void **state)
{
    (void)state;
    specx_image img, out = {0};
    specx_err err = {{0}};
    make_pattern(&img, 33, 7);
    uint8_t *enc;
    size_t len;
    assert_int_equal(specx_png_encode(&img, &enc, &len, NULL), SPECX_OK);
    /* signature, then a 13-byte ancillary chunk "ghGg", then the file's IHDR */
    size_t extra = 12 + 13;
    uint8_t *p = malloc(len + extra);
    assert_non_null(p);
    memcpy(p, enc, 8);
    const uint8_t chunk[8] = {0, 0, 0, 13, 'g', 'h', 'G', 'g'};
    memcpy(p + 8, chunk, sizeof chunk);
    memset(p + 16, 'x', 13 + 4);
    memcpy(p + 8 + extra, enc + 8, len - 8);
    fix_png_crcs(p, len + extra);
    int w = 0, h = 0;
    assert_int_equal(specx_image_probe(p, len + extra, &w, &h, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "IHDR"));
    assert_eformat(p, len + extra, "IHDR");
    int fw = 0, fh = 0;
    assert_int_equal(specx_image_decode_fit(p, len + extra, 0, 16, 16, &out, &fw, &fh, &err),
                     SPECX_EFORMAT);
    assert_null(out.data);
    /* the file without the extra chunk is fine */
    assert_int_equal(specx_image_probe(enc, len, &w, &h, &err), SPECX_OK);
    assert_int_equal(w, 33);
    assert_int_equal(h, 7);
    assert_int_equal(specx_image_decode(enc, len, 0, &out, &err), SPECX_OK);
    assert_int_equal(out.width, 33);
    specx_image_clear(&out);
    free(p);
    free(enc);
    specx_image_clear(&img);
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/specx-codec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p_png[256], p_jpg[256], p_bad[256], p_txt[256];
    snprintf(p_png, sizeof p_png, "%s/a.PNG", dir);
    snprintf(p_jpg, sizeof p_jpg, "%s/b.jpeg", dir);
    snprintf(p_bad, sizeof p_bad, "%s/c.gif", dir);
    snprintf(p_txt, sizeof p_txt, "%s/d.png", dir);
    specx_image img, back = {0};
    specx_err err = {{0}};
    make_pattern(&img, 33, 17);
    assert_int_equal(specx_image_save(p_png, &img, &err), SPECX_OK);
    assert_int_equal(specx_image_load(p_png, &back, &err), SPECX_OK);
    assert_true(images_equal(&img, &back));
    specx_image_clear(&back);
    assert_int_equal(specx_image_save(p_jpg, &img, &err), SPECX_OK);
    assert_int_equal(specx_image_load(p_jpg, &back, &err), SPECX_OK);
    assert_true(psnr(&img, &back) > 28.0);
    specx_image_clear(&back);

    assert_int_equal(specx_image_save(p_bad, &img, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, p_bad));
    FILE *f = fopen(p_txt, "w");
    fputs("not an image\n", f);
    fclose(f);
    assert_int_equal(specx_image_load(p_txt, &back, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, p_txt));
    assert_int_equal(specx_image_load("/nonexistent/x.png", &back, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/x.png"));
    assert_int_equal(specx_image_load(dir, &back, &err), SPECX_EIO);

    unlink(p_png);
    unlink(p_jpg);
    unlink(p_txt);
    rmdir(dir);
    specx_image_clear(&img);
}

/* Rewrites every chunk CRC so mutations get past libpng's CRC check and into
 * the zlib and row-filter code. */
static void fix_png_crcs(uint8_t *p, size_t len)
{
    size_t pos = 8;
    while (pos + 12 <= len) {
        uint32_t n = (uint32_t)p[pos] << 24 | (uint32_t)p[pos + 1] << 16 |
                     (uint32_t)p[pos + 2] << 8 | p[pos + 3];
        if (n > len - pos - 12) {
            return;
        }
        uLong c = crc32(0L, p + pos + 4, (uInt)(n + 4));
        uint8_t *q = p + pos + 8 + n;
        q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8),
        q[3] = (uint8_t)c;
        pos += 12 + n;
    }
}

static void test_fuzz_mutations(void **state)
{
    (void)state;
    specx_image img;
    make_pattern(&img, 40, 24);
    uint8_t *seed[2];
    size_t seed_len[2];
    assert_int_equal(specx_jpeg_encode(&img, 75, &seed[0], &seed_len[0], NULL), SPECX_OK);
    assert_int_equal(specx_png_encode(&img, &seed[1], &seed_len[1], NULL), SPECX_OK);
    specx_image_clear(&img);

    unsigned rng = 0x5eed;
    int ok = 0, bad = 0;
    for (int k = 0; k < 2; k++) {
        uint8_t *buf = malloc(seed_len[k] + 64);
        assert_non_null(buf);
        for (int iter = 0; iter < 1500; iter++) {
            size_t len = seed_len[k];
            memcpy(buf, seed[k], len);
            rng = rng * 1103515245u + 12345u;
            int nmut = 1 + (int)((rng >> 16) % 8);
            for (int j = 0; j < nmut; j++) {
                rng = rng * 1103515245u + 12345u;
                size_t at = (rng >> 8) % len;
                switch ((rng >> 28) % 4) {
                case 0: /* random byte */
                    buf[at] = (uint8_t)(rng >> 3);
                    break;
                case 1: /* bit flip */
                    buf[at] ^= (uint8_t)(1u << ((rng >> 4) % 8));
                    break;
                case 2: /* interesting values */
                    buf[at] = (rng & 16) ? 0xff : 0x00;
                    break;
                default: /* truncate */
                    len = at + 1;
                    break;
                }
            }
            if (k == 1 && (iter % 2) == 0) {
                fix_png_crcs(buf, len);
            }
            specx_image out = {0};
            specx_err err = {{0}};
            specx_status st = specx_image_decode(buf, len, 1 << 20, &out, &err);
            if (st == SPECX_OK) {
                assert_non_null(out.data);
                assert_true(out.width > 0 && out.height > 0);
                ok++;
            } else {
                if (st != SPECX_EFORMAT && st != SPECX_ETOOBIG) {
                    fail_msg("mutation %d gave %s: %s", iter, specx_status_name(st), err.msg);
                }
                assert_null(out.data);
                assert_true(err.msg[0] != '\0');
                bad++;
            }
            specx_image_clear(&out);
        }
        free(buf);
        free(seed[k]);
    }
    /* Both outcomes occur, so the loop really exercised the decoders. */
    assert_true(ok > 0);
    assert_true(bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),          cmocka_unit_test(test_real_jpegs),
        cmocka_unit_test(test_round_trips),    cmocka_unit_test(test_png_variants),
        cmocka_unit_test(test_truncated),      cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_size_limits),    cmocka_unit_test(test_files),
        cmocka_unit_test(test_fuzz_mutations), cmocka_unit_test(test_png_chunk_before_ihdr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
