/* sendq.c — the queue of byte buffers waiting to be sent on a call
 * (see rpc/sendq.h). */
#include "rpc/sendq.h"

#include <stdlib.h>

struct sx_rpc_sendq_item {
    grpc_byte_buffer *bb;
    struct sx_rpc_sendq_item *next;
};

bool sx_rpc_sendq_push(sx_rpc_sendq *q, grpc_byte_buffer *bb)
{
    if (bb == NULL) {
        return false;
    }
    struct sx_rpc_sendq_item *m = malloc(sizeof *m);
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

grpc_byte_buffer *sx_rpc_sendq_pop(sx_rpc_sendq *q)
{
    struct sx_rpc_sendq_item *m = q->head;
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

bool sx_rpc_sendq_empty(const sx_rpc_sendq *q)
{
    return q->head == NULL;
}

void sx_rpc_sendq_clear(sx_rpc_sendq *q)
{
    grpc_byte_buffer *bb;
    while ((bb = sx_rpc_sendq_pop(q)) != NULL) {
        grpc_byte_buffer_destroy(bb);
    }
}
