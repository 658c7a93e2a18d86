/* make_seeds.c — writes the binary seed files of the fuzz corpora (small
 * images, encoded Requests, a weights file) into DIR/<harness>/. The text
 * seeds (cfgs, profiles, labels, server strings) are written by hand.
 * usage: fuzz_make_seeds DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "specx/codec.h"
#include "specx/rpc.h"

#include "rpc/grpc_util.h"
#include "rpc/wire.h"

static const char *g_dir;

static void put(const char *harness, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* A small gradient with a bright square, w x h. */
static specx_image picture(int w, int h)
{
    specx_image img;
    if (specx_image_alloc(&img, w, h) != SPECX_OK) {
        exit(1);
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.data + (size_t)y * (size_t)img.stride + 3 * (size_t)x;
            int in = x > w / 4 && x < w / 2 && y > h / 4 && y < h / 2;
            p[0] = (uint8_t)(in ? 250 : 8 * x);
            p[1] = (uint8_t)(in ? 240 : 8 * y);
            p[2] = (uint8_t)(in ? 10 : 4 * (x + y));
        }
    }
    return img;
}

static void request(const char *name, const uint8_t *img, size_t len, int32_t id, int64_t budget,
                    bool cancel)
{
    specx_encoded_frame *f = NULL;
    if (img != NULL) {
        uint8_t *copy = malloc(len);
        memcpy(copy, img, len);
        if (specx_encoded_frame_take(copy, len, &f) != SPECX_OK) {
            exit(1);
        }
    }
    grpc_byte_buffer *bb = sx_rpc_request_encode(f, id, budget, cancel);
    uint8_t *flat = NULL;
    size_t n = 0;
    if (bb == NULL || sx_rpc_bb_read(bb, &flat, &n) != SPECX_OK) {
        exit(1);
    }
    put("request", name, flat, n);
    free(flat);
    sx_rpc_bb_free(bb);
    specx_encoded_frame_unref(f);
}

/* The weights of fuzz_weights.c's cfg: header 0.2.0, seen, then 159 floats
 * (biases, bn scales, means, variances, kernels; then the 1x1 layer). */
static void weights(void)
{
    uint8_t buf[20 + 159 * 4];
    int32_t hdr[3] = {0, 2, 0};
    uint64_t seen = 0;
    memcpy(buf, hdr, sizeof hdr);
    memcpy(buf + 12, &seen, sizeof seen);
    for (int i = 0; i < 159; i++) {
        float v = i >= 8 && i < 12 ? 1.0f : 0.01f * (float)(i % 17); /* variances positive */
        memcpy(buf + 20 + 4 * i, &v, 4);
    }
    put("weights", "small.weights", buf, sizeof buf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    specx_err err = {{0}};
    specx_image a = picture(16, 12), b = picture(33, 7);
    uint8_t *png = NULL, *jpg = NULL, *jpg444 = NULL, *png2 = NULL;
    size_t npng, njpg, njpg444, npng2;
    if (specx_png_encode(&a, &png, &npng, &err) != SPECX_OK ||
        specx_png_encode(&b, &png2, &npng2, &err) != SPECX_OK ||
        specx_jpeg_encode(&a, 80, &jpg, &njpg, &err) != SPECX_OK ||
        specx_jpeg_encode(&b, 97, &jpg444, &njpg444, &err) != SPECX_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    put("image", "rgb16x12.png", png, npng);
    put("image", "rgb33x7.png", png2, npng2);
    put("image", "q80_420.jpg", jpg, njpg);
    put("image", "q97_444.jpg", jpg444, njpg444);
    request("png.req", png, npng, 7, 0, false);
    request("jpeg_budget.req", jpg, njpg, 41, 1000000, false);
    request("budget_max.req", jpg444, njpg444, 2, INT64_MAX, false);
    request("cancel.req", NULL, 0, 3, 0, true);
    request("jpeg_fit8.req", jpg444, njpg444, 43, 0, false); /* fuzz_request: 8x8 fit */
    weights();
    free(png);
    free(png2);
    free(jpg);
    free(jpg444);
    specx_image_clear(&a);
    specx_image_clear(&b);
    return 0;
}
