/* internal.h — internal to src/rpc: completion-queue tags, conversions between
 * specx and gRPC types, and the wire encoding of Request/Response. */
#ifndef SPECX_RPC_INTERNAL_H
#define SPECX_RPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdbool.h>

#include "specx/rpc.h"

#include "object_detection.pb-c.h"

#define RPC_METHOD_SYNC "/object_detection.GRPCImage/ProcessImageSync"
#define RPC_METHOD_STREAM "/object_detection.GRPCImage/ProcessImageStreaming"
#define RPC_METHOD_HEALTH "/grpc.health.v1.Health/Check"

/* Every tag put on a completion queue starts with this: the CQ thread calls
 * fn(tag, ok). */
typedef struct rpc_tag {
    void (*fn)(struct rpc_tag *tag, bool ok);
} rpc_tag;

/* Absolute monotonic specx time -> gRPC deadline (NEVER -> infinite). */
gpr_timespec rpc_deadline_to_gpr(specx_time_t deadline);
/* gRPC deadline (any clock) -> specx monotonic time (infinite -> NEVER). */
specx_time_t rpc_deadline_from_gpr(gpr_timespec t);

/* Flattens a byte buffer into one malloc'd block (len may be 0; *out NULL then). */
specx_status rpc_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len);
/* A byte buffer owning a copy of data. */
grpc_byte_buffer *rpc_bb_from_copy(const void *data, size_t len);
/* A byte buffer of one serialized Request whose image bytes reference `frame`
 * (refcounted, not copied). */
grpc_byte_buffer *rpc_bb_request(specx_encoded_frame *frame, int32_t req_id, int64_t budget_us,
                                 bool cancel);

/* Response -> specx_detections (malloc'd). */
specx_status rpc_response_to_detections(const ObjectDetection__Response *r, specx_detections **out);

/* gRPC status details slice -> C string in buf. */
void rpc_slice_to_buf(grpc_slice s, char *buf, size_t n);

/* A FIFO of byte buffers waiting for their turn to be sent on one call (a
 * send batch may have only one message in flight). Owns the buffers it holds.
 * Not thread-safe: the caller holds its call's lock. Zero-initialised = empty. */
typedef struct rpc_sendq {
    struct rpc_sendq_item *head, *tail;
} rpc_sendq;
/* Appends bb and takes it; out of memory: destroys bb, returns false. */
bool rpc_sendq_push(rpc_sendq *q, grpc_byte_buffer *bb);
/* The oldest buffer (the caller owns it now), or NULL when empty. */
grpc_byte_buffer *rpc_sendq_pop(rpc_sendq *q);
bool rpc_sendq_empty(const rpc_sendq *q);
/* Destroys every queued buffer; the queue is empty after. */
void rpc_sendq_clear(rpc_sendq *q);

void rpc_global_init(void);
void rpc_global_shutdown(void);

#endif
