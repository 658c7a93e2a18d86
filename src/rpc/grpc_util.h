/* rpc/grpc_util.h — internal to src/rpc and src/serve: the gRPC glue both
 * sides share: method paths, completion-queue tags, deadline conversion
 * between specx and gRPC time, reading byte buffers, process-wide init.
 *
 * Contract: every tag put on a completion queue by specx starts with an
 * sx_rpc_tag, is handed to gRPC through sx_rpc_start_batch (or
 * sx_rpc_tag_post just before any other gRPC call taking a tag), and the
 * thread draining the queue runs it with sx_rpc_tag_run. What a thread wrote
 * before handing a tag over is then visible to the tag's handler, also to
 * ThreadSanitizer (rpc/tsan_annot.h).
 * Every function here is thread-safe and never blocks on the network. */
#ifndef SX_RPC_GRPC_UTIL_H
#define SX_RPC_GRPC_UTIL_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"
#include "specx/time.h"

#define SX_RPC_METHOD_SYNC "/object_detection.GRPCImage/ProcessImageSync"
#define SX_RPC_METHOD_STREAM "/object_detection.GRPCImage/ProcessImageStreaming"
#define SX_RPC_METHOD_HEALTH "/grpc.health.v1.Health/Check"
#define SX_RPC_METHOD_HEALTH_WATCH "/grpc.health.v1.Health/Watch"
/* The service name a health check may ask about ("" means the server). */
#define SX_RPC_SERVICE_NAME "object_detection.GRPCImage"

typedef struct sx_rpc_tag {
    void (*fn)(struct sx_rpc_tag *tag, bool ok);
} sx_rpc_tag;

/* Before a tag goes to gRPC (grpc_server_request_call and the like):
 * publishes what this thread wrote so far to the tag's handler. */
void sx_rpc_tag_post(sx_rpc_tag *tag);
/* grpc_call_start_batch with the tag posted first. */
grpc_call_error sx_rpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, sx_rpc_tag *tag);
/* A completion-queue event's tag: runs tag->fn(tag, ok) after what was
 * posted with it. */
void sx_rpc_tag_run(sx_rpc_tag *tag, bool ok);

/* Absolute monotonic specx time -> gRPC deadline (NEVER -> infinite). */
gpr_timespec sx_rpc_deadline_to_gpr(specx_time_t deadline);
/* gRPC deadline (any clock) -> specx monotonic time (infinite -> NEVER). */
specx_time_t sx_rpc_deadline_from_gpr(gpr_timespec t);

/* A byte buffer holding a copy of data (len may be 0); NULL-safe free. */
grpc_byte_buffer *sx_rpc_bb_from(const uint8_t *data, size_t len);
void sx_rpc_bb_free(grpc_byte_buffer *bb);
/* Flattens a byte buffer into one malloc'd block (len may be 0). */
specx_status sx_rpc_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len);
/* gRPC status details slice -> C string in buf (truncated to n - 1). */
void sx_rpc_slice_to_buf(grpc_slice s, char *buf, size_t n);

/* Runs each event's tag until the queue reports shutdown (the calling
 * thread is the queue's only consumer). */
void sx_rpc_cq_run(grpc_completion_queue *cq);

/* grpc_init / grpc_shutdown_blocking, paired per client and per server. */
void sx_rpc_global_init(void);
void sx_rpc_global_shutdown(void);

#endif
