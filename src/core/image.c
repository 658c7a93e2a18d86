/* image.c — RGB image buffers. */
#include "specx/image.h"

#include <stdlib.h>
#include <string.h>

#define SPECX_IMAGE_MAX_SIDE 32768

specx_status specx_image_alloc(specx_image *img, int width, int height)
{
    if (img == NULL || width < 1 || height < 1 || width > SPECX_IMAGE_MAX_SIDE ||
        height > SPECX_IMAGE_MAX_SIDE) {
        return SPECX_EINVAL;
    }
    size_t stride = (size_t)width * 3;
    uint8_t *data = calloc((size_t)height, stride);
    if (data == NULL) {
        return SPECX_ENOMEM;
    }
    img->width = width;
    img->height = height;
    img->stride = (int)stride;
    img->data = data;
    return SPECX_OK;
}

void specx_image_clear(specx_image *img)
{
    if (img == NULL) {
        return;
    }
    free(img->data);
    memset(img, 0, sizeof *img);
}

specx_status specx_image_copy(specx_image *dst, const specx_image *src)
{
    specx_image tmp;
    specx_status st = specx_image_alloc(&tmp, src->width, src->height);
    if (st != SPECX_OK) {
        return st;
    }
    for (int y = 0; y < src->height; y++) {
        memcpy(tmp.data + (size_t)y * (size_t)tmp.stride,
               src->data + (size_t)y * (size_t)src->stride, (size_t)src->width * 3);
    }
    *dst = tmp;
    return SPECX_OK;
}
