/* unary.c — the server's unary calls: ProcessImageSync (a job on the work
 * queue, answered by the worker that ran it) and Health/Check (answered at
 * once).
 *
 * Design notes
 * - refs: 1 for the RECV_CLOSE batch (which also reports a client cancel or
 *   an expired deadline; it sets the job's cancel flag) + 1 for the reply
 *   (the job, then its send batch). Freed at 0.
 * - The job is embedded in the call object and lives as long as it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

typedef struct ucall {
    sx_rpc_tag t_new, t_close, t_send;
    specx_server *srv;
    sx_serve_method method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    int cancelled;
    atomic_int refs;
    sx_serve_job job;
} ucall;

static void ucall_unref(ucall *u)
{
    if (atomic_fetch_sub(&u->refs, 1) != 1) {
        return;
    }
    if (u->call != NULL) {
        grpc_call_unref(u->call);
    }
    grpc_metadata_array_destroy(&u->md);
    if (u->payload != NULL) {
        grpc_byte_buffer_destroy(u->payload);
    }
    if (u->reply != NULL) {
        grpc_byte_buffer_destroy(u->reply);
    }
    grpc_slice_unref(u->details);
    sx_rpc_request_clear(&u->job.req);
    free(u);
}

/* Sends the reply (message if bb) and the status; consumes the reply ref. */
static void ucall_send(ucall *u, specx_status st, const char *msg, grpc_byte_buffer *bb)
{
    u->reply = bb;
    u->details = grpc_slice_from_copied_string(msg != NULL ? msg : "");
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bb != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = specx_rpc_status_to_grpc(st);
    ops[n++].data.send_status_from_server.status_details = &u->details;
    if (grpc_call_start_batch(u->call, ops, n, &u->t_send, NULL) != GRPC_CALL_OK) {
        ucall_unref(u);
    }
}

static void u_on_send(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    ucall_unref(SX_CONTAINER_OF(t, ucall, t_send));
}

static void u_on_close(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    ucall *u = SX_CONTAINER_OF(t, ucall, t_close);
    if (u->cancelled) {
        atomic_store(&u->job.cancel, true);
    }
    ucall_unref(u);
}

/* Takes the two refs and starts RECV_CLOSE (the close ref is dropped if it
 * cannot start). */
static void ucall_watch_close(ucall *u)
{
    atomic_store(&u->refs, 2);
    grpc_op one = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    one.data.recv_close_on_server.cancelled = &u->cancelled;
    if (grpc_call_start_batch(u->call, &one, 1, &u->t_close, NULL) != GRPC_CALL_OK) {
        atomic_store(&u->refs, 1);
    }
}

static void handle_health(ucall *u)
{
    specx_server *srv = u->srv;
    char msg[200];
    grpc_byte_buffer *reply = NULL;
    sx_serve_stats_count(&srv->stats, SX_SERVE_HEALTH_CHECKS);
    specx_status st =
        sx_serve_health_check(u->payload, specx_server_serving(srv), &reply, msg, sizeof msg);
    ucall_send(u, st, st == SPECX_OK ? "" : msg, reply);
}

/* The worker's answer (job done callback). */
static void detect_done(sx_serve_job *j, const sx_serve_reply *r)
{
    ucall *u = SX_CONTAINER_OF(j, ucall, job);
    if (r->st != SPECX_OK) {
        ucall_send(u, r->st, r->msg, NULL);
        return;
    }
    sx_rpc_response_info info = {.req_id = j->req.req_id,
                                 .recv_time = j->recv_wall,
                                 .infer_ms = r->infer_ms,
                                 .queue_ms = r->queue_ms,
                                 .status = SPECX_OK};
    grpc_byte_buffer *bb = sx_rpc_response_encode(&r->det, &info);
    ucall_send(u, bb != NULL ? SPECX_OK : SPECX_ENOMEM, bb != NULL ? "" : "out of memory", bb);
}

static void handle_detect(ucall *u)
{
    specx_server *srv = u->srv;
    sx_serve_job_init(&u->job, sx_rpc_deadline_from_gpr(u->deadline), detect_done);
    sx_serve_client_key(srv, u->call, &u->md, NULL, u->job.client, sizeof u->job.client);
    ucall_watch_close(u);
    char msg[256];
    specx_status st = sx_serve_job_parse(&u->job, u->payload, srv->cfg.no_decode, msg, sizeof msg);
    if (st == SPECX_OK && u->job.req.cancel) {
        st = SPECX_EINVAL;
        snprintf(msg, sizeof msg,
                 "cancel is for streams (a unary call is cancelled by cancelling the call)");
    }
    if (st != SPECX_OK) {
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
        ucall_send(u, st, msg, NULL);
        return;
    }
    st = sx_serve_queue_push(&srv->queue, &u->job);
    if (st == SPECX_EBUSY) {
        ucall_send(u, st, "server queue full: try again or another server", NULL);
    } else if (st != SPECX_OK) {
        ucall_send(u, st, "server shutting down", NULL);
    }
}

static void u_on_new(sx_rpc_tag *t, bool ok)
{
    ucall *u = SX_CONTAINER_OF(t, ucall, t_new);
    if (!ok) {
        atomic_store(&u->refs, 1);
        ucall_unref(u);
        return;
    }
    sx_serve_unary_arm(u->srv, u->method);
    switch (u->method) {
    case SX_SERVE_METHOD_HEALTH:
        ucall_watch_close(u);
        handle_health(u);
        break;
    case SX_SERVE_METHOD_DETECT:
        handle_detect(u);
        break;
    }
}

void sx_serve_unary_arm(specx_server *srv, sx_serve_method m)
{
    ucall *u = calloc(1, sizeof *u);
    if (u == NULL) {
        return;
    }
    u->srv = srv;
    u->method = m;
    u->t_new.fn = u_on_new;
    u->t_close.fn = u_on_close;
    u->t_send.fn = u_on_send;
    u->details = grpc_empty_slice();
    grpc_metadata_array_init(&u->md);
    void *method = m == SX_SERVE_METHOD_HEALTH ? srv->m_health : srv->m_sync;
    if (grpc_server_request_registered_call(srv->server, method, &u->call, &u->deadline, &u->md,
                                            &u->payload, srv->cq, srv->cq,
                                            &u->t_new) != GRPC_CALL_OK) {
        atomic_store(&u->refs, 1);
        ucall_unref(u);
    }
}
