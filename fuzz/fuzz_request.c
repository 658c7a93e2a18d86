/* fuzz_request.c — libFuzzer harness: a server's request path on arbitrary
 * bytes as a gRPC message: the Request decoder (protobuf-c), the arrival
 * checks (sx_serve_job_parse: image magic, header probe, pixel limit,
 * deadline budget) and, for what passes, the image decode a worker runs.
 * Also the client's Response decoder on the same bytes. */
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/codec.h"
#include "specx/detection.h"

#include "rpc/wire.h"
#include "serve/queue.h"

#define MAX_PIXELS ((size_t)1 << 22) /* 4 Mpixel: keeps each run's memory small */

static void done(sx_serve_job *j, const sx_serve_reply *r)
{
    (void)j;
    (void)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, size);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);

    sx_serve_job j;
    sx_serve_job_init(&j, SPECX_TIME_NEVER, done);
    char msg[256];
    if (sx_serve_job_parse(&j, bb, false, MAX_PIXELS, msg, sizeof msg) == SPECX_OK &&
        !j.req.cancel) {
        specx_image img = {0};
        specx_err err = {{0}};
        if (specx_image_decode(j.req.image, j.req.image_len, MAX_PIXELS, &img, &err) == SPECX_OK) {
            specx_image_clear(&img);
        }
    }
    sx_rpc_request_clear(&j.req);

    sx_rpc_response r = {0};
    if (sx_rpc_response_decode(bb, &r) == SPECX_OK) {
        specx_detections_destroy(r.det);
    }
    grpc_byte_buffer_destroy(bb);
    return 0;
}
