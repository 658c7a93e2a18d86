/* The queue of byte buffers waiting to be sent on a call (see internal.h). */
#include <stdlib.h>

#include "internal.h"

struct rpc_sendq_item {
    grpc_byte_buffer *bb;
    struct rpc_sendq_item *next;
};

bool rpc_sendq_push(rpc_sendq *q, grpc_byte_buffer *bb)
{
    struct rpc_sendq_item *m = malloc(sizeof *m);
    if (m == NULL) {
        grpc_byte_buffer_destroy(bb);
        return false;
    }
    m->bb = bb;
    m->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = m;
    } else {
        q->head = m;
    }
    q->tail = m;
    return true;
}

grpc_byte_buffer *rpc_sendq_pop(rpc_sendq *q)
{
    struct rpc_sendq_item *m = q->head;
    if (m == NULL) {
        return NULL;
    }
    q->head = m->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    grpc_byte_buffer *bb = m->bb;
    free(m);
    return bb;
}

bool rpc_sendq_empty(const rpc_sendq *q)
{
    return q->head == NULL;
}

void rpc_sendq_clear(rpc_sendq *q)
{
    grpc_byte_buffer *bb;
    while ((bb = rpc_sendq_pop(q)) != NULL) {
        grpc_byte_buffer_destroy(bb);
    }
}
