/* fuzz_image.c — libFuzzer harness: the image codecs on arbitrary bytes:
 * the header probe (what the server checks on arrival) and the full decode
 * under a pixel limit, which must agree on the size of what they accept. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "specx/codec.h"

#define MAX_PIXELS ((size_t)1 << 22)

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
    return 0;
}
