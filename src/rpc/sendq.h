/* rpc/sendq.h — internal to src/rpc and src/serve: a FIFO of byte buffers
 * waiting for their turn to be sent on one call (a call may have only one
 * SEND_MESSAGE in flight). Owns the buffers it holds. Not thread-safe: the
 * caller holds its call's lock. Zero-initialised = empty. */
#ifndef SX_RPC_SENDQ_H
#define SX_RPC_SENDQ_H

#include <grpc/byte_buffer.h>
#include <stdbool.h>

typedef struct sx_rpc_sendq {
    struct sx_rpc_sendq_item *head, *tail;
} sx_rpc_sendq;

/* Appends bb and takes it; out of memory (or bb NULL): destroys bb, returns
 * false. */
bool sx_rpc_sendq_push(sx_rpc_sendq *q, grpc_byte_buffer *bb);
/* The oldest buffer (the caller owns it now), or NULL when empty. */
grpc_byte_buffer *sx_rpc_sendq_pop(sx_rpc_sendq *q);
bool sx_rpc_sendq_empty(const sx_rpc_sendq *q);
/* Destroys every queued buffer; the queue is empty after. */
void sx_rpc_sendq_clear(sx_rpc_sendq *q);

#endif
