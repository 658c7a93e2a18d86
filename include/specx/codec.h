/* specx/codec.h — still-image codecs: JPEG (libjpeg-turbo's TurboJPEG) and PNG
 * (libpng), to and from specx_image (RGB8).
 *
 * Decoding sniffs the format from the magic bytes; anything that is not a
 * complete JPEG or PNG fails with SPECX_EFORMAT and a message saying what was
 * wrong (empty, unknown format, truncated, corrupt), never a crash. Images
 * larger than max_pixels (0 = 64 Mpixel) fail with SPECX_ETOOBIG.
 * All functions are thread-safe (no shared state). Encoded buffers are
 * malloc'd and owned by the caller (free()). */
#ifndef SPECX_CODEC_H
#define SPECX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "specx/image.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum specx_image_format {
    SPECX_FORMAT_UNKNOWN = 0,
    SPECX_FORMAT_JPEG,
    SPECX_FORMAT_PNG,
} specx_image_format;

specx_image_format specx_image_sniff(const uint8_t *data, size_t len);

/* The image size from the header alone (PNG's IHDR, JPEG's frame header),
 * without decoding anything: for refusing an image whose decoded size would
 * be over a limit before spending memory or time on it. SPECX_EFORMAT when
 * there is no readable header. */
specx_status specx_image_probe(const uint8_t *data, size_t len, int *width, int *height,
                               specx_err *err);

/* Decodes JPEG or PNG (grey, RGB, RGBA, palette, 16-bit are converted to RGB8). */
specx_status specx_image_decode(const uint8_t *data, size_t len, size_t max_pixels,
                                specx_image *out, specx_err *err);

/* Decodes for a detector whose letterbox is fit_width x fit_height: a JPEG
 * is decoded with libjpeg-turbo's DCT scaling at the smallest of 1/8, 1/4
 * and 1/2 at which it still covers its letterbox (specx_image_fit_size), or
 * at full size when none does; PNG, and fit 0, decode at full size. Errors
 * and max_pixels (applied to the full size) as specx_image_decode.
 * *full_width / *full_height (either may be NULL) get the image's own size,
 * to map boxes found on *out back to it. */
specx_status specx_image_decode_fit(const uint8_t *data, size_t len, size_t max_pixels,
                                    int fit_width, int fit_height, specx_image *out,
                                    int *full_width, int *full_height, specx_err *err);

/* The size width x height takes inside a fit_width x fit_height letterbox,
 * aspect kept, computed as the detectors' (darknet's) letterbox does: the
 * limiting side fills the box, the other is scaled by integer division
 * (at least 1). 0 x 0 when any argument is below 1. */
void specx_image_fit_size(int width, int height, int fit_width, int fit_height, int *out_width,
                          int *out_height);

/* Bilinear resampling of src to width x height (1..32768) on the grid the
 * detectors' letterbox samples: output column c reads source x = c * (src
 * width - 1) / (width - 1), corners aligned (rows alike), rounded to 8 bits.
 * An image resized to its letterbox size therefore passes the letterbox
 * unchanged. *out is allocated (specx_image_clear). */
specx_status specx_image_resize(const specx_image *src, int width, int height, specx_image *out,
                                specx_err *err);

/* quality 1..100; chroma at half resolution both ways (4:2:0) below 95,
 * full (4:4:4) from 95. */
specx_status specx_jpeg_encode(const specx_image *img, int quality, uint8_t **out, size_t *out_len,
                               specx_err *err);

typedef enum specx_jpeg_chroma {
    SPECX_CHROMA_AUTO = 0, /* as specx_jpeg_encode */
    SPECX_CHROMA_420,      /* halved both ways */
    SPECX_CHROMA_444,      /* full resolution */
} specx_jpeg_chroma;

/* specx_jpeg_encode with the chroma resolution chosen. */
specx_status specx_jpeg_encode_chroma(const specx_image *img, int quality, specx_jpeg_chroma chroma,
                                      uint8_t **out, size_t *out_len, specx_err *err);
specx_status specx_png_encode(const specx_image *img, uint8_t **out, size_t *out_len,
                              specx_err *err);

/* Reads a JPEG/PNG file. Errors name the path. */
specx_status specx_image_load(const char *path, specx_image *out, specx_err *err);
/* Writes by extension: .jpg/.jpeg (quality 90) or .png. */
specx_status specx_image_save(const char *path, const specx_image *img, specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
