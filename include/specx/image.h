/* specx/image.h — an 8-bit RGB image in memory (row-major, interleaved RGB,
 * `stride` bytes per row). Owned by whoever allocated it; specx_image_alloc /
 * specx_image_clear pair up. Not thread-safe per object; immutable sharing is
 * fine. */
#ifndef SPECX_IMAGE_H
#define SPECX_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_image {
    int width, height;
    int stride;    /* bytes per row, >= 3 * width */
    uint8_t *data; /* RGB, height * stride bytes */
} specx_image;

/* Allocates width*height RGB pixels (stride = 3*width), zeroed. Limits:
 * 1..32768 per side. */
specx_status specx_image_alloc(specx_image *img, int width, int height);
void specx_image_clear(specx_image *img); /* frees data, zeroes the struct; NULL-safe */
specx_status specx_image_copy(specx_image *dst, const specx_image *src);

#ifdef __cplusplus
}
#endif
#endif
