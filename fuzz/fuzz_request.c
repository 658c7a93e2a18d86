/* fuzz_request.c — libFuzzer harness: a server's request path on arbitrary
 * bytes as a gRPC message: the Request decoder (protobuf-c), the arrival
 * checks (sx_serve_job_parse: image magic, header probe, pixel limit,
 * deadline budget) and, for what passes, what a worker does before its
 * detector: the decode at the DCT scale that fits its model's input
 * (specx_image_decode_fit, at a model input picked by req_id) and the
 * mapping of boxes found on that image back to the image as sent. Also
 * the client's Response decoder on the same bytes. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "specx/codec.h"
#include "specx/detection.h"

#include "rpc/grpc_util.h"
#include "rpc/wire.h"
#include "serve/queue.h"

#define MAX_PIXELS ((size_t)1 << 22) /* 4 Mpixel: keeps each run's memory small */

/* Model inputs a worker decodes for: none (no model info), the letterboxes
 * of the detectors the project ships, and an 8 x 8 one at which the small
 * seed images already decode at 1/2 and 1/4. */
static const int fits[4][2] = {{0, 0}, {320, 320}, {416, 416}, {8, 8}};

static void done(sx_serve_job *j, const sx_serve_reply *r)
{
    (void)j;
    (void)r;
}

/* A box over the whole decoded image maps to the whole image as sent. */
static void worker_path(const sx_rpc_request *req)
{
    const int *fit = fits[(uint32_t)req->req_id % 4];
    specx_image img = {0};
    specx_err err = {{0}};
    int full_w = 1, full_h = 1;
    if (specx_image_decode_fit(req->image, req->image_len, MAX_PIXELS, fit[0], fit[1], &img,
                               &full_w, &full_h, &err) != SPECX_OK) {
        return;
    }
    specx_detections d;
    specx_detections_init(&d);
    specx_detection box = {
        .class_id = 0, .score = 1.0f, .xmax = (float)img.width, .ymax = (float)img.height};
    if (specx_detections_push(&d, &box) != SPECX_OK) {
        abort();
    }
    specx_detections_rescale(&d, img.width, img.height, full_w, full_h);
    const specx_detection *e = &d.items[0];
    if (d.image_width != full_w || d.image_height != full_h || e->xmin != 0.0f || e->ymin != 0.0f ||
        fabsf(e->xmax - (float)full_w) > 1e-3f * (float)full_w ||
        fabsf(e->ymax - (float)full_h) > 1e-3f * (float)full_h) {
        abort();
    }
    specx_detections_clear(&d);
    specx_image_clear(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    grpc_byte_buffer *bb = sx_rpc_bb_from(data, size);

    sx_serve_job j;
    sx_serve_job_init(&j, SPECX_TIME_NEVER, done);
    char msg[256];
    if (sx_serve_job_parse(&j, bb, false, MAX_PIXELS, msg, sizeof msg) == SPECX_OK &&
        !j.req.cancel) {
        worker_path(&j.req);
    }
    sx_rpc_request_clear(&j.req);

    sx_rpc_response r = {0};
    if (sx_rpc_response_decode(bb, &r) == SPECX_OK) {
        specx_detections_destroy(r.det);
    }
    sx_rpc_bb_free(bb);
    return 0;
}
