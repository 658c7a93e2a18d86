/* fuzz_image.c — libFuzzer harness: the image codecs on arbitrary bytes:
 * the header probe (what the server checks on arrival), the full decode
 * under a pixel limit, which must agree on the size of what they accept,
 * and the decode at a DCT scale for a letterbox (specx_image_decode_fit,
 * what a server's worker and the replay run) followed by the resize to
 * the letterbox size (what the uplink sends). The letterbox is taken from
 * the input's last two bytes (after a JPEG's or PNG's end, where the
 * decoders do not look), as a fraction of the header's size, so the
 * fuzzer reaches every scale. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "specx/codec.h"

#define MAX_PIXELS ((size_t)1 << 22)

/* The decode_fit contract: the header's size comes back, the image is no
 * larger than it, and a reduced one still covers its letterbox. */
static void check_fit(const specx_image *img, int fw, int fh, int w, int h, int fit_w, int fit_h)
{
    if (fw != w || fh != h || img->width < 1 || img->height < 1 || img->width > w ||
        img->height > h) {
        abort();
    }
    int need_w, need_h;
    specx_image_fit_size(w, h, fit_w, fit_h, &need_w, &need_h);
    if ((img->width < w || img->height < h) && (img->width < need_w || img->height < need_h)) {
        abort();
    }
    if (need_w < 1 || need_h < 1 || need_w > fit_w || need_h > fit_h) {
        abort();
    }
    specx_image small = {0};
    specx_err err = {{0}};
    if (specx_image_resize(img, need_w, need_h, &small, &err) != SPECX_OK ||
        small.width != need_w || small.height != need_h) {
        abort();
    }
    specx_image_clear(&small);
}

static void fuzz_fit(const uint8_t *data, size_t size, int w, int h)
{
    if (size < 2) {
        return;
    }
    /* 1/16 .. 17/16 of each side: from well below 1/8 to above full size */
    int fit_w = (int)(((long long)w * (1 + data[size - 1] % 17)) / 16);
    int fit_h = (int)(((long long)h * (1 + data[size - 2] % 17)) / 16);
    fit_w = fit_w < 1 ? 1 : fit_w;
    fit_h = fit_h < 1 ? 1 : fit_h;
    specx_image img = {0};
    specx_err err = {{0}};
    int fw = 0, fh = 0;
    if (specx_image_decode_fit(data, size, MAX_PIXELS, fit_w, fit_h, &img, &fw, &fh, &err) ==
        SPECX_OK) {
        check_fit(&img, fw, fh, w, h, fit_w, fit_h);
        specx_image_clear(&img);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int w = 0, h = 0;
    specx_err err = {{0}};
    specx_status probed = specx_image_probe(data, size, &w, &h, &err);
    specx_image img = {0};
    if (specx_image_decode(data, size, MAX_PIXELS, &img, &err) == SPECX_OK) {
        /* a decoded image had a header, and it said this size */
        if (probed != SPECX_OK || img.width != w || img.height != h) {
            abort();
        }
        specx_image_clear(&img);
    }
    if (probed == SPECX_OK) {
        fuzz_fit(data, size, w, h);
    }
    return 0;
}
