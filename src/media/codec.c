/* codec.c — JPEG (TurboJPEG) and PNG (libpng) to and from specx_image RGB8.
 *
 * Design notes:
 * - No shared state: every call creates and destroys its own TurboJPEG handle
 *   or libpng structs, so all functions are thread-safe.
 * - libpng reports errors by longjmp. Each setjmp lives in a function whose
 *   only mutable state is a struct owned by its caller (reached through a
 *   pointer that is never modified after setjmp), so nothing the cleanup needs
 *   is an indeterminate automatic variable after the jump.
 * - Decoding checks the dimensions against the pixel limit before allocating
 *   anything proportional to them: a 40-byte file cannot make us allocate GBs.
 * - TurboJPEG warnings (e.g. "Premature end of JPEG file" for a truncated
 *   stream, which libjpeg pads with grey) are errors here: the caller asked
 *   for a complete image, not a plausible-looking partial one. */
#include "specx/codec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#define DEFAULT_MAX_PIXELS ((size_t)64 * 1024 * 1024)
#define IMAGE_MAX_SIDE 32768                          /* specx_image_alloc's limit */
#define FILE_MAX_BYTES ((long long)512 * 1024 * 1024) /* specx_image_load */

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

specx_image_format specx_image_sniff(const uint8_t *data, size_t len)
{
    if (data == NULL) {
        return SPECX_FORMAT_UNKNOWN;
    }
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        return SPECX_FORMAT_JPEG;
    }
    if (len >= sizeof png_magic && memcmp(data, png_magic, sizeof png_magic) == 0) {
        return SPECX_FORMAT_PNG;
    }
    return SPECX_FORMAT_UNKNOWN;
}

/* Shared by both decoders: the limit, then an allocation that cannot fail for
 * size reasons the caller did not choose. */
static specx_status check_dims(const char *fmt, long w, long h, size_t max_pixels, specx_err *err)
{
    if (w < 1 || h < 1) {
        return specx_err_set(err, SPECX_EFORMAT, "corrupt %s: image size %ldx%ld", fmt, w, h);
    }
    size_t limit = max_pixels ? max_pixels : DEFAULT_MAX_PIXELS;
    if ((size_t)w * (size_t)h > limit || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
        return specx_err_set(err, SPECX_ETOOBIG,
                             "%s image %ldx%ld exceeds the limit (%zu pixels, %d per side)", fmt, w,
                             h, limit, IMAGE_MAX_SIDE);
    }
    return SPECX_OK;
}

/* ---- JPEG ---------------------------------------------------------------- */

/* A complete JPEG contains an EOI marker; one that does not was cut short,
 * whatever libjpeg happened to trip over first. (Trailing bytes after EOI are
 * legal, so "ends with EOI" would be too strict.) */
static int jpeg_has_eoi(const uint8_t *data, size_t len)
{
    for (size_t i = 2; i + 1 < len; i++) {
        if (data[i] == 0xff && data[i + 1] == 0xd9) {
            return 1;
        }
    }
    return 0;
}

static specx_status jpeg_error(const uint8_t *data, size_t len, const char *why, specx_err *err)
{
    if (why == NULL) {
        why = "unknown error";
    }
    /* "Premature end of JPEG file" is libjpeg's wording for running out of
     * input; a missing EOI says the same when libjpeg failed elsewhere. */
    if (strstr(why, "Premature end") != NULL || !jpeg_has_eoi(data, len)) {
        return specx_err_set(err, SPECX_EFORMAT, "truncated JPEG (%zu bytes: %s)", len, why);
    }
    return specx_err_set(err, SPECX_EFORMAT, "corrupt JPEG (%s)", why);
}

/* libjpeg hands back Adobe-style (inverted) CMYK; approximate RGB from it. */
static void cmyk_to_rgb(const uint8_t *cmyk, specx_image *img)
{
    for (int y = 0; y < img->height; y++) {
        const uint8_t *s = cmyk + (size_t)y * (size_t)img->width * 4;
        uint8_t *d = img->data + (size_t)y * (size_t)img->stride;
        for (int x = 0; x < img->width; x++, s += 4, d += 3) {
            unsigned k = s[3];
            d[0] = (uint8_t)((s[0] * k + 127) / 255);
            d[1] = (uint8_t)((s[1] * k + 127) / 255);
            d[2] = (uint8_t)((s[2] * k + 127) / 255);
        }
    }
}

/* The DCT scale a fit decode uses: the smallest of 1/8, 1/4 and 1/2 whose
 * image still covers what a letterbox into fit_w x fit_h keeps of it, else
 * 1. Only these four: libjpeg-turbo computes them with its reduced IDCTs
 * (1/2 costs fewer instructions than the full decode), while other n/8
 * scales go through generic C IDCTs (3/8 of a 1280x720 q90 frame costs
 * about as much as decoding it whole). docs/media.md has the figures. */
static int jpeg_fit_scale(int w, int h, int fit_w, int fit_h)
{
    if (fit_w < 1 || fit_h < 1) {
        return 8;
    }
    int need_w, need_h;
    specx_image_fit_size(w, h, fit_w, fit_h, &need_w, &need_h);
    for (int num = 1; num < 8; num *= 2) {
        tjscalingfactor sf = {num, 8};
        if (TJSCALED(w, sf) >= need_w && TJSCALED(h, sf) >= need_h) {
            return num;
        }
    }
    return 8;
}

/* Decodes at the fit scale (full size without a fit); full_w, full_h
 * get the header's size. */
static specx_status jpeg_decode(const uint8_t *data, size_t len, size_t max_pixels, int fit_w,
                                int fit_h, specx_image *out, int *full_w, int *full_h,
                                specx_err *err)
{
    if (len > ULONG_MAX) {
        return specx_err_set(err, SPECX_ETOOBIG, "JPEG of %zu bytes is too large", len);
    }
    tjhandle tj = tjInitDecompress();
    if (tj == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a JPEG decoder: %s",
                             tjGetErrorStr2(NULL));
    }
    specx_status st;
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    uint8_t *cmyk = NULL;
    specx_image img = {0};
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0) {
        st = jpeg_error(data, len, tjGetErrorStr2(tj), err);
        goto done;
    }
    /* The header parser can succeed without finding a frame (tables only, or
     * input that ran out before SOF). */
    if (w < 1 || h < 1) {
        st = jpeg_error(data, len, "no image frame", err);
        goto done;
    }
    st = check_dims("JPEG", w, h, max_pixels, err);
    if (st != SPECX_OK) {
        goto done;
    }
    tjscalingfactor sf = {jpeg_fit_scale(w, h, fit_w, fit_h), 8};
    int sw = TJSCALED(w, sf), sh = TJSCALED(h, sf);
    st = specx_image_alloc(&img, sw, sh);
    if (st != SPECX_OK) {
        st = specx_err_set(err, st, "cannot allocate a %dx%d image", sw, sh);
        goto done;
    }
    int is_cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    int rc;
    if (is_cmyk) {
        cmyk = malloc((size_t)sw * (size_t)sh * 4);
        if (cmyk == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "cannot allocate a %dx%d CMYK buffer", sw, sh);
            goto done;
        }
        rc = tjDecompress2(tj, data, (unsigned long)len, cmyk, sw, sw * 4, sh, TJPF_CMYK,
                           TJFLAG_STOPONWARNING);
    } else {
        rc = tjDecompress2(tj, data, (unsigned long)len, img.data, sw, img.stride, sh, TJPF_RGB,
                           TJFLAG_STOPONWARNING);
    }
    /* With STOPONWARNING a warning also returns -1 (code TJERR_WARNING);
     * either way the pixels are not a complete image. */
    if (rc != 0) {
        st = jpeg_error(data, len, tjGetErrorStr2(tj), err);
        goto done;
    }
    if (is_cmyk) {
        cmyk_to_rgb(cmyk, &img);
    }
    *out = img;
    img.data = NULL;
    *full_w = w;
    *full_h = h;
    st = SPECX_OK;
done:
    free(cmyk);
    specx_image_clear(&img);
    tjDestroy(tj);
    return st;
}

specx_status specx_jpeg_encode_chroma(const specx_image *img, int quality, specx_jpeg_chroma chroma,
                                      uint8_t **out, size_t *out_len, specx_err *err)
{
    if (img == NULL || img->data == NULL || img->width < 1 || img->height < 1 ||
        img->stride < 3 * img->width || out == NULL || out_len == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "jpeg encode: invalid image or output");
    }
    if (quality < 1 || quality > 100) {
        return specx_err_set(err, SPECX_EINVAL, "jpeg encode: quality %d is not in 1..100",
                             quality);
    }
    /* Chroma subsampling costs little visible quality at normal settings and
     * halves the size; near-lossless requests keep full chroma. */
    int subsamp = chroma == SPECX_CHROMA_444   ? TJSAMP_444
                  : chroma == SPECX_CHROMA_420 ? TJSAMP_420
                  : quality >= 95              ? TJSAMP_444
                                               : TJSAMP_420;
    unsigned long cap = tjBufSize(img->width, img->height, subsamp);
    if (cap == (unsigned long)-1) {
        return specx_err_set(err, SPECX_EINVAL, "jpeg encode: bad size %dx%d", img->width,
                             img->height);
    }
    /* Our own malloc'd buffer (NOREALLOC) so the caller can free() it. */
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "jpeg encode: cannot allocate %lu bytes", cap);
    }
    tjhandle tj = tjInitCompress();
    if (tj == NULL) {
        free(buf);
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a JPEG encoder: %s",
                             tjGetErrorStr2(NULL));
    }
    unsigned long size = cap;
    int rc = tjCompress2(tj, img->data, img->width, img->stride, img->height, TJPF_RGB, &buf, &size,
                         subsamp, quality, TJFLAG_NOREALLOC);
    if (rc != 0) {
        specx_status st =
            specx_err_set(err, SPECX_EINTERNAL, "jpeg encode failed: %s", tjGetErrorStr2(tj));
        tjDestroy(tj);
        free(buf);
        return st;
    }
    tjDestroy(tj);
    /* tjBufSize is a worst case, several times the usual size. */
    unsigned char *shrunk = realloc(buf, size);
    if (shrunk != NULL) {
        buf = shrunk;
    }
    *out = buf;
    *out_len = size;
    return SPECX_OK;
}

specx_status specx_jpeg_encode(const specx_image *img, int quality, uint8_t **out, size_t *out_len,
                               specx_err *err)
{
    return specx_jpeg_encode_chroma(img, quality, SPECX_CHROMA_AUTO, out, out_len, err);
}

/* ---- PNG ----------------------------------------------------------------- */

/* Everything the PNG decoder touches after setjmp. Owned by the caller of
 * png_decode_run, so its members are well defined after a longjmp. */
typedef struct png_dec {
    const uint8_t *data;
    size_t len, pos;
    size_t max_pixels;
    int truncated;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    specx_image img;
    specx_status st;
    char why[160];
} png_dec;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_dec *d = png_get_error_ptr(png);
    if (d->why[0] == '\0') {
        snprintf(d->why, sizeof d->why, "%s", msg ? msg : "unknown error");
    }
    png_longjmp(png, 1);
}

/* Ancillary-chunk trouble is not our concern and would only spam stderr. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_dec *d = png_get_io_ptr(png);
    if (n > d->len - d->pos) {
        d->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(dst, d->data + d->pos, n);
    d->pos += n;
}

/* Returns through d->st; contains the setjmp, touches only *d. */
static void png_decode_run(png_dec *d, specx_err *err)
{
    if (setjmp(png_jmpbuf(d->png))) {
        if (d->st == SPECX_OK) {
            d->st = specx_err_set(err, SPECX_EFORMAT, "%s PNG (%s)",
                                  d->truncated ? "truncated" : "corrupt", d->why);
        }
        return;
    }
    png_set_read_fn(d->png, d, png_read_mem);
    /* Allow any size the format allows; the pixel limit is ours to apply. */
    png_set_user_limits(d->png, 0x7fffffff, 0x7fffffff);
    png_read_info(d->png, d->info);

    png_uint_32 w = png_get_image_width(d->png, d->info);
    png_uint_32 h = png_get_image_height(d->png, d->info);
    int depth = png_get_bit_depth(d->png, d->info);
    int ctype = png_get_color_type(d->png, d->info);
    specx_status st = check_dims("PNG", (long)w, (long)h, d->max_pixels, err);
    if (st != SPECX_OK) {
        d->st = st;
        return;
    }

    /* Normalise every variant to 8-bit RGB: palette and low-depth grey expand,
     * 16-bit drops to 8, grey becomes RGB, alpha is dropped (the colour
     * channels are kept as stored, as PIL's convert("RGB") does). */
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(d->png);
    }
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) {
        png_set_expand_gray_1_2_4_to_8(d->png);
    }
    if (depth == 16) {
        png_set_scale_16(d->png);
    }
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) {
        png_set_gray_to_rgb(d->png);
    }
    /* tRNS chunks are ignored rather than expanded to an alpha channel. */
    if (ctype & PNG_COLOR_MASK_ALPHA) {
        png_set_strip_alpha(d->png);
    }
    int passes = png_set_interlace_handling(d->png);
    (void)passes;
    png_read_update_info(d->png, d->info);
    if (png_get_rowbytes(d->png, d->info) != (size_t)w * 3) {
        d->st =
            specx_err_set(err, SPECX_EINTERNAL, "PNG conversion gave %zu bytes per row, not %zu",
                          (size_t)png_get_rowbytes(d->png, d->info), (size_t)w * 3);
        return;
    }
    st = specx_image_alloc(&d->img, (int)w, (int)h);
    if (st != SPECX_OK) {
        d->st = specx_err_set(err, st, "cannot allocate a %ux%u image", (unsigned)w, (unsigned)h);
        return;
    }
    d->rows = malloc(sizeof *d->rows * h);
    if (d->rows == NULL) {
        d->st = specx_err_set(err, SPECX_ENOMEM, "cannot allocate PNG row pointers");
        return;
    }
    for (png_uint_32 y = 0; y < h; y++) {
        d->rows[y] = d->img.data + (size_t)y * (size_t)d->img.stride;
    }
    png_read_image(d->png, d->rows);
    /* Up to IEND: a file cut after the last IDAT is still incomplete. */
    png_read_end(d->png, NULL);
    d->st = SPECX_OK;
}

/* The size in the IHDR chunk, which the format requires first. libpng
 * skips ancillary chunks placed before it, so the decoder checks this too:
 * the probe and the decoder then accept the same files with the same size. */
static specx_status png_header(const uint8_t *data, size_t len, int *width, int *height,
                               specx_err *err)
{
    /* signature, then IHDR: length (13), type, width, height */
    if (len < 24) {
        return specx_err_set(err, SPECX_EFORMAT, "truncated PNG (%zu bytes, IHDR incomplete)", len);
    }
    if (memcmp(data + 12, "IHDR", 4) != 0) {
        return specx_err_set(err, SPECX_EFORMAT, "corrupt PNG (no IHDR chunk first)");
    }
    uint32_t w =
        (uint32_t)data[16] << 24 | (uint32_t)data[17] << 16 | (uint32_t)data[18] << 8 | data[19];
    uint32_t h =
        (uint32_t)data[20] << 24 | (uint32_t)data[21] << 16 | (uint32_t)data[22] << 8 | data[23];
    if (w < 1 || h < 1 || w > INT_MAX || h > INT_MAX) {
        return specx_err_set(err, SPECX_EFORMAT, "corrupt PNG: image size %ux%u", (unsigned)w,
                             (unsigned)h);
    }
    *width = (int)w;
    *height = (int)h;
    return SPECX_OK;
}

static specx_status png_decode(const uint8_t *data, size_t len, size_t max_pixels, specx_image *out,
                               specx_err *err)
{
    int hw = 0, hh = 0;
    specx_status hst = png_header(data, len, &hw, &hh, err);
    if (hst != SPECX_OK) {
        return hst;
    }
    png_dec d = {.data = data, .len = len, .max_pixels = max_pixels, .st = SPECX_OK};
    d.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, png_on_error, png_on_warning);
    if (d.png == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a PNG decoder");
    }
    d.info = png_create_info_struct(d.png);
    if (d.info == NULL) {
        png_destroy_read_struct(&d.png, NULL, NULL);
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a PNG decoder");
    }
    png_decode_run(&d, err);
    png_destroy_read_struct(&d.png, &d.info, NULL);
    free(d.rows);
    if (d.st == SPECX_OK && (d.img.width != hw || d.img.height != hh)) {
        d.st = specx_err_set(err, SPECX_EFORMAT, "corrupt PNG (IHDR says %dx%d, decoded %dx%d)", hw,
                             hh, d.img.width, d.img.height);
    }
    if (d.st != SPECX_OK) {
        specx_image_clear(&d.img);
        return d.st;
    }
    *out = d.img;
    return SPECX_OK;
}

typedef struct png_enc {
    const specx_image *img;
    png_structp png;
    png_infop info;
    uint8_t *buf;
    size_t len, cap;
    int oom;
    specx_status st;
    char why[160];
} png_enc;

static void png_enc_error(png_structp png, png_const_charp msg)
{
    png_enc *e = png_get_error_ptr(png);
    if (e->why[0] == '\0') {
        snprintf(e->why, sizeof e->why, "%s", msg ? msg : "unknown error");
    }
    png_longjmp(png, 1);
}

static void png_write_mem(png_structp png, png_bytep src, size_t n)
{
    png_enc *e = png_get_io_ptr(png);
    if (n > e->cap - e->len) {
        size_t cap = e->cap ? e->cap : 4096;
        while (cap - e->len < n) {
            if (cap > SIZE_MAX / 2) {
                e->oom = 1;
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        uint8_t *nb = realloc(e->buf, cap);
        if (nb == NULL) {
            e->oom = 1;
            png_error(png, "out of memory");
        }
        e->buf = nb;
        e->cap = cap;
    }
    memcpy(e->buf + e->len, src, n);
    e->len += n;
}

static void png_flush_mem(png_structp png)
{
    (void)png;
}

static void png_encode_run(png_enc *e, specx_err *err)
{
    if (setjmp(png_jmpbuf(e->png))) {
        e->st = specx_err_set(err, e->oom ? SPECX_ENOMEM : SPECX_EINTERNAL, "png encode failed: %s",
                              e->why);
        return;
    }
    const specx_image *img = e->img;
    png_set_write_fn(e->png, e, png_write_mem, png_flush_mem);
    /* Frames go on the wire per request: favour encode speed over the last
     * few percent of size (level 1 + SUB/UP filters is several times faster
     * than libpng's default and typically within ~10% of its size). */
    png_set_compression_level(e->png, 1);
    png_set_filter(e->png, 0, PNG_FILTER_SUB | PNG_FILTER_UP);
    png_set_IHDR(e->png, e->info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(e->png, e->info);
    for (int y = 0; y < img->height; y++) {
        png_write_row(e->png, img->data + (size_t)y * (size_t)img->stride);
    }
    png_write_end(e->png, NULL);
    e->st = SPECX_OK;
}

specx_status specx_png_encode(const specx_image *img, uint8_t **out, size_t *out_len,
                              specx_err *err)
{
    if (img == NULL || img->data == NULL || img->width < 1 || img->height < 1 ||
        img->stride < 3 * img->width || out == NULL || out_len == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "png encode: invalid image or output");
    }
    png_enc e = {.img = img, .st = SPECX_OK};
    e.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, png_enc_error, png_on_warning);
    if (e.png == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a PNG encoder");
    }
    e.info = png_create_info_struct(e.png);
    if (e.info == NULL) {
        png_destroy_write_struct(&e.png, NULL);
        return specx_err_set(err, SPECX_ENOMEM, "cannot create a PNG encoder");
    }
    png_encode_run(&e, err);
    png_destroy_write_struct(&e.png, &e.info);
    if (e.st != SPECX_OK) {
        free(e.buf);
        return e.st;
    }
    *out = e.buf;
    *out_len = e.len;
    return SPECX_OK;
}

/* ---- scaling --------------------------------------------------------------- */

void specx_image_fit_size(int width, int height, int fit_width, int fit_height, int *out_width,
                          int *out_height)
{
    int w = 0, h = 0;
    if (width >= 1 && height >= 1 && fit_width >= 1 && fit_height >= 1) {
        /* The detectors' (darknet's) letterbox: the ratio compared in float,
         * the other side by integer division. */
        if ((float)fit_width / (float)width < (float)fit_height / (float)height) {
            w = fit_width;
            h = (int)(((long long)height * fit_width) / width);
        } else {
            h = fit_height;
            w = (int)(((long long)width * fit_height) / height);
        }
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
    }
    *out_width = w;
    *out_height = h;
}

/* Resampling weights are fixed point, WBITS fractional bits. */
#define WBITS 11
#define WONE (1 << WBITS)

/* Source positions of one axis: output i samples src at i * scale, scale =
 * (n_src - 1) / (n_dst - 1) in float (corners aligned, as the letterbox):
 * idx[i] and the weight of idx[i] + 1, frac[i] in 0..WONE (0 at the last
 * source sample, which has no right-hand neighbour). */
static void resize_axis(int n_src, int n_dst, int *idx, int *frac)
{
    float scale = n_dst > 1 ? (float)(n_src - 1) / (float)(n_dst - 1) : 0.0f;
    for (int i = 0; i < n_dst; i++) {
        float s = (float)i * scale;
        int k = (int)s;
        if (k >= n_src - 1) {
            idx[i] = n_src - 1;
            frac[i] = 0;
        } else {
            idx[i] = k;
            frac[i] = (int)((s - (float)k) * WONE + 0.5f);
        }
    }
}

/* The vertical pass, a plain loop the compiler vectorises: built for AVX-512,
 * AVX2 and baseline x86-64 where GCC supports it (xnn_kernels.c does the
 * same). Not under ThreadSanitizer: the clones' ifunc resolver runs before
 * its runtime is initialised and crashes when instrumented. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SX_VECTOR_CLONES                                                                           \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SX_VECTOR_CLONES
#endif

/* Vertical pass first (bilinear is separable): two source rows blended into
 * one of n values x 256 (8 more bits kept for the horizontal pass). */
SX_VECTOR_CLONES static void blend_rows(const uint8_t *a, const uint8_t *b, int wb, size_t n,
                                        uint16_t *out)
{
    uint32_t wa = (uint32_t)(WONE - wb), w = (uint32_t)wb;
    for (size_t i = 0; i < n; i++) {
        out[i] = (uint16_t)((a[i] * wa + b[i] * w + (1u << (WBITS - 9))) >> (WBITS - 8));
    }
}

/* Horizontal pass of a blended row into dst_w RGB pixels, rounded to 8 bits. */
static void sample_row(const uint16_t *row, int dst_w, const int *ix, const int *fx, uint8_t *dst)
{
    const uint32_t half = 1u << (WBITS + 7);
    for (int c = 0; c < dst_w; c++) {
        const uint16_t *p = row + (size_t)ix[c] * 3;
        uint32_t w = (uint32_t)fx[c], e = (uint32_t)(WONE - fx[c]);
        const uint16_t *q = w != 0 ? p + 3 : p; /* no neighbour read at the edge */
        dst[c * 3 + 0] = (uint8_t)((p[0] * e + q[0] * w + half) >> (WBITS + 8));
        dst[c * 3 + 1] = (uint8_t)((p[1] * e + q[1] * w + half) >> (WBITS + 8));
        dst[c * 3 + 2] = (uint8_t)((p[2] * e + q[2] * w + half) >> (WBITS + 8));
    }
}

specx_status specx_image_resize(const specx_image *src, int width, int height, specx_image *out,
                                specx_err *err)
{
    if (src == NULL || src->data == NULL || src->width < 1 || src->height < 1 ||
        src->stride < 3 * src->width || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "image resize: invalid image or output");
    }
    if (width < 1 || height < 1 || width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE) {
        return specx_err_set(err, SPECX_EINVAL, "image resize: bad size %dx%d", width, height);
    }
    specx_image img = {0};
    int *ix = malloc(sizeof *ix * (size_t)width);
    int *fx = malloc(sizeof *fx * (size_t)width);
    int *iy = malloc(sizeof *iy * (size_t)height);
    int *fy = malloc(sizeof *fy * (size_t)height);
    uint16_t *row = malloc(sizeof *row * (size_t)src->width * 3);
    specx_status st = SPECX_ENOMEM;
    if (ix != NULL && fx != NULL && iy != NULL && fy != NULL && row != NULL) {
        st = specx_image_alloc(&img, width, height);
    }
    if (st != SPECX_OK) {
        st = specx_err_set(err, st, "image resize: cannot allocate a %dx%d image", width, height);
        goto done;
    }
    resize_axis(src->width, width, ix, fx);
    resize_axis(src->height, height, iy, fy);
    /* Each output row blends its two source rows whole (vectorised), then
     * samples that row once: cheaper than sampling two rows per output row
     * when shrinking, and exact where a weight is 0 (an image at its own
     * size comes back unchanged). */
    for (int y = 0; y < height; y++) {
        const uint8_t *a = src->data + (size_t)iy[y] * (size_t)src->stride;
        const uint8_t *b = fy[y] != 0 ? a + src->stride : a;
        blend_rows(a, b, fy[y], (size_t)src->width * 3, row);
        sample_row(row, width, ix, fx, img.data + (size_t)y * (size_t)img.stride);
    }
    *out = img;
    img.data = NULL;
    st = SPECX_OK;
done:
    specx_image_clear(&img);
    free(ix);
    free(fx);
    free(iy);
    free(fy);
    free(row);
    return st;
}

/* ---- dispatch and files -------------------------------------------------- */

specx_status specx_image_probe(const uint8_t *data, size_t len, int *width, int *height,
                               specx_err *err)
{
    if (data == NULL || width == NULL || height == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "image probe: NULL argument");
    }
    switch (specx_image_sniff(data, len)) {
    case SPECX_FORMAT_PNG:
        return png_header(data, len, width, height, err);
    case SPECX_FORMAT_JPEG: {
        tjhandle tj = tjInitDecompress();
        if (tj == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "cannot create a JPEG decoder");
        }
        int w = 0, h = 0, subsamp = 0, cs = 0;
        specx_status st = SPECX_OK;
        if (len > ULONG_MAX ||
            tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
            st = jpeg_error(data, len, tjGetErrorStr2(tj), err);
        } else if (w < 1 || h < 1) {
            st = jpeg_error(data, len, "no image frame", err);
        }
        tjDestroy(tj);
        *width = w;
        *height = h;
        return st;
    }
    default:
        return specx_err_set(err, SPECX_EFORMAT, "neither JPEG nor PNG");
    }
}

/* Both decoders behind the format sniff; fit 0 x 0 decodes at full size. */
static specx_status decode_any(const uint8_t *data, size_t len, size_t max_pixels, int fit_w,
                               int fit_h, specx_image *out, int *full_w, int *full_h,
                               specx_err *err)
{
    if (out == NULL || (data == NULL && len > 0)) {
        return specx_err_set(err, SPECX_EINVAL, "image decode: NULL argument");
    }
    if (len == 0) {
        return specx_err_set(err, SPECX_EFORMAT, "empty image data (0 bytes)");
    }
    specx_status st;
    switch (specx_image_sniff(data, len)) {
    case SPECX_FORMAT_JPEG:
        return jpeg_decode(data, len, max_pixels, fit_w, fit_h, out, full_w, full_h, err);
    case SPECX_FORMAT_PNG:
        st = png_decode(data, len, max_pixels, out, err);
        if (st == SPECX_OK) {
            *full_w = out->width;
            *full_h = out->height;
        }
        return st;
    default:
        break;
    }
    /* A prefix of a signature is a truncated file, not an unknown format. */
    if ((len < 3 && data[0] == 0xff && (len == 1 || data[1] == 0xd8)) ||
        (len < sizeof png_magic && memcmp(data, png_magic, len) == 0)) {
        return specx_err_set(err, SPECX_EFORMAT, "truncated image data (%zu bytes)", len);
    }
    return specx_err_set(err, SPECX_EFORMAT,
                         "unknown image format (first bytes %02x %02x %02x %02x; expected JPEG "
                         "or PNG)",
                         data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0,
                         len > 3 ? data[3] : 0);
}

specx_status specx_image_decode(const uint8_t *data, size_t len, size_t max_pixels,
                                specx_image *out, specx_err *err)
{
    int w, h;
    return decode_any(data, len, max_pixels, 0, 0, out, &w, &h, err);
}

specx_status specx_image_decode_fit(const uint8_t *data, size_t len, size_t max_pixels,
                                    int fit_width, int fit_height, specx_image *out,
                                    int *full_width, int *full_height, specx_err *err)
{
    int w = 0, h = 0;
    specx_status st = decode_any(data, len, max_pixels, fit_width > 0 ? fit_width : 0,
                                 fit_height > 0 ? fit_height : 0, out, &w, &h, err);
    if (st == SPECX_OK) {
        if (full_width != NULL) {
            *full_width = w;
        }
        if (full_height != NULL) {
            *full_height = h;
        }
    }
    return st;
}

specx_status specx_image_load(const char *path, specx_image *out, specx_err *err)
{
    if (path == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "image load: NULL argument");
    }
    /* Opened without blocking, so that a FIFO (or a device) is refused as
     * not a regular file instead of waiting forever for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return specx_err_set(err, e == ENOENT ? SPECX_ENOTFOUND : SPECX_EIO, "%s: %s", path,
                             strerror(e));
    }
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (f = fdopen(fd, "rb")) == NULL) {
        close(fd);
        return specx_err_set(err, SPECX_EIO, "%s: not a regular file", path);
    }
    if ((long long)sb.st_size > FILE_MAX_BYTES) {
        fclose(f);
        return specx_err_set(err, SPECX_ETOOBIG, "%s: %lld bytes is larger than the %lld limit",
                             path, (long long)sb.st_size, FILE_MAX_BYTES);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        fclose(f);
        return specx_err_set(err, SPECX_ENOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err || got != n) {
        free(buf);
        return specx_err_set(err, SPECX_EIO, "%s: read error", path);
    }
    specx_err inner = {{0}};
    specx_status st = specx_image_decode(buf, n, 0, out, &inner);
    free(buf);
    if (st != SPECX_OK) {
        return specx_err_set(err, st, "%s: %s", path, specx_err_text(&inner, st));
    }
    return SPECX_OK;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

specx_status specx_image_save(const char *path, const specx_image *img, specx_err *err)
{
    if (path == NULL || img == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "image save: NULL argument");
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    specx_err inner = {{0}};
    specx_status st;
    if (has_ext(path, ".jpg") || has_ext(path, ".jpeg")) {
        st = specx_jpeg_encode(img, 90, &buf, &len, &inner);
    } else if (has_ext(path, ".png")) {
        st = specx_png_encode(img, &buf, &len, &inner);
    } else {
        return specx_err_set(err, SPECX_EINVAL,
                             "%s: unknown image extension (use .jpg, .jpeg or .png)", path);
    }
    if (st != SPECX_OK) {
        return specx_err_set(err, st, "%s: %s", path, specx_err_text(&inner, st));
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        int e = errno;
        free(buf);
        return specx_err_set(err, SPECX_EIO, "%s: %s", path, strerror(e));
    }
    size_t put = fwrite(buf, 1, len, f);
    free(buf);
    int close_rc = fclose(f);
    if (put != len || close_rc != 0) {
        return specx_err_set(err, SPECX_EIO, "%s: write error", path);
    }
    return SPECX_OK;
}
