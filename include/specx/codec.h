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

/* quality 1..100 */
specx_status specx_jpeg_encode(const specx_image *img, int quality, uint8_t **out, size_t *out_len,
                               specx_err *err);
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
