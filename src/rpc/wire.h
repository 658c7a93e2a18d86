/* rpc/wire.h — internal to src/rpc and src/serve: the object_detection wire
 * messages (Request, Response; DESIGN.md §3, docs/rpc.md) to and from gRPC
 * byte buffers. Every message goes through the protobuf-c code generated
 * from proto/object_detection.proto at build time; nothing is hand-encoded.
 *
 * Ownership: encoders return a new byte buffer (the caller destroys it or
 * hands it to a send op); a request's image bytes are referenced, not copied
 * (the buffer holds a frame reference until gRPC is done with it). Decoded
 * messages own their memory until their _clear. Thread-safe, no blocking. */
#ifndef SX_RPC_WIRE_H
#define SX_RPC_WIRE_H

#include <grpc/byte_buffer.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/rpc.h"

/* ---- Any generated message ---------------------------------------------- */

/* Packs a message into a new byte buffer (one copy). NULL when out of memory. */
grpc_byte_buffer *sx_rpc_message_pack(const ProtobufCMessage *msg);
/* Unpacks a message of type d from bb; NULL when bb is not one (or out of
 * memory). Free with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *sx_rpc_message_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb);

/* ---- Request ---------------------------------------------------------- */

/* Request{image_data = the frame's bytes, req_id, deadline_budget_us, cancel}.
 * frame may be NULL (a stream's cancel message has no image). NULL when out
 * of memory. */
grpc_byte_buffer *sx_rpc_request_encode(specx_encoded_frame *frame, int32_t req_id,
                                        int64_t budget_us, bool cancel);

typedef struct sx_rpc_request {
    int32_t req_id;
    int64_t deadline_budget_us; /* 0 = none */
    bool cancel;
    const uint8_t *image; /* image_data, image_len bytes; valid until _clear */
    size_t image_len;
    void *msg; /* the unpacked message, which owns image */
} sx_rpc_request;

/* SPECX_EINVAL when bb is not an object_detection.Request (msg says so),
 * SPECX_ENOMEM. On SPECX_OK release with sx_rpc_request_clear. */
specx_status sx_rpc_request_decode(grpc_byte_buffer *bb, sx_rpc_request *out, char *msg,
                                   size_t msglen);
void sx_rpc_request_clear(sx_rpc_request *r);

/* ---- Response --------------------------------------------------------- */

/* What a Response carries besides the detections. */
typedef struct sx_rpc_response_info {
    int32_t req_id;
    double recv_time; /* the server's wall clock at arrival, s */
    double infer_ms, queue_ms;
    specx_status status;
    bool with_status;           /* streams: status_code/status_message in-band */
    const char *status_message; /* with_status and status != OK */
    int model_input_width;      /* the model's input size; 0 = unknown (not sent) */
    int model_input_height;
} sx_rpc_response_info;

/* A Response with det's boxes, classes and image size when info->status is
 * SPECX_OK (none otherwise; det's model, and the model input size when
 * known, are sent either way). NULL when out of memory. */
grpc_byte_buffer *sx_rpc_response_encode(const specx_detections *det,
                                         const sx_rpc_response_info *info);

typedef struct sx_rpc_response {
    int32_t req_id;
    int32_t status_code; /* the in-band gRPC status (streams); 0 = OK */
    char status_message[512];
    double queue_ms, infer_ms; /* the server's own account of its time (0: not sent) */
    specx_detections *det;     /* status_code 0: the detections (the caller owns them) */
    int32_t model_input_width, model_input_height; /* 0 when the server did not say */
} sx_rpc_response;

/* SPECX_EFORMAT when bb is not an object_detection.Response, SPECX_ENOMEM. */
specx_status sx_rpc_response_decode(grpc_byte_buffer *bb, sx_rpc_response *out);

#endif
