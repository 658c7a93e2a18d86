/* generic.c — calls to methods the server does not implement: answered
 * UNIMPLEMENTED at once.
 *
 * gRPC C-core holds a call to an unregistered method until the application
 * asks for one (grpc_server_request_call); with no such request armed, the
 * client waits out its deadline and the connection stays open after it has
 * gone. So a few are always armed here, re-armed as each call arrives.
 *
 * Design notes: refs = the two batches (status sent, close received); the
 * call is freed when both have completed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

typedef struct gcall {
    sx_rpc_tag t_new, t_send, t_close;
    specx_server *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_slice status_details;
    int cancelled;
    atomic_int refs;
} gcall;

static void gcall_free(gcall *g)
{
    if (g->call != NULL) {
        grpc_call_unref(g->call);
    }
    grpc_call_details_destroy(&g->details);
    grpc_metadata_array_destroy(&g->md);
    grpc_slice_unref(g->status_details);
    free(g);
}

static void gcall_unref(gcall *g)
{
    if (atomic_fetch_sub(&g->refs, 1) == 1) {
        gcall_free(g);
    }
}

static void g_on_send(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    gcall_unref(SX_CONTAINER_OF(t, gcall, t_send));
}

static void g_on_close(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    gcall_unref(SX_CONTAINER_OF(t, gcall, t_close));
}

static void answer(gcall *g)
{
    char method[200];
    sx_rpc_slice_to_buf(g->details.method, method, sizeof method);
    char msg[400];
    snprintf(msg, sizeof msg,
             "method '%s' is not implemented by this server (it serves %s, %s and %s)", method,
             SX_RPC_METHOD_SYNC, SX_RPC_METHOD_STREAM, SX_RPC_METHOD_HEALTH);
    g->status_details = grpc_slice_from_copied_string(msg);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &g->status_details;
    atomic_store(&g->refs, 2);
    if (sx_rpc_start_batch(g->call, ops, 2, &g->t_send) != GRPC_CALL_OK) {
        atomic_fetch_sub(&g->refs, 1);
    }
    grpc_op one = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    one.data.recv_close_on_server.cancelled = &g->cancelled;
    if (sx_rpc_start_batch(g->call, &one, 1, &g->t_close) != GRPC_CALL_OK) {
        gcall_unref(g);
    }
}

static void g_on_new(sx_rpc_tag *t, bool ok)
{
    gcall *g = SX_CONTAINER_OF(t, gcall, t_new);
    if (!ok) {
        gcall_free(g);
        return;
    }
    sx_serve_generic_arm(g->srv);
    sx_serve_stats_count(&g->srv->stats, SX_SERVE_REJECTED);
    answer(g);
}

void sx_serve_generic_arm(specx_server *srv)
{
    gcall *g = calloc(1, sizeof *g);
    if (g == NULL) {
        return;
    }
    g->srv = srv;
    g->t_new.fn = g_on_new;
    g->t_send.fn = g_on_send;
    g->t_close.fn = g_on_close;
    g->status_details = grpc_empty_slice();
    grpc_call_details_init(&g->details);
    grpc_metadata_array_init(&g->md);
    sx_rpc_tag_post(&g->t_new);
    if (grpc_server_request_call(srv->server, &g->call, &g->details, &g->md, srv->cq, srv->cq,
                                 &g->t_new) != GRPC_CALL_OK) {
        gcall_free(g);
    }
}
