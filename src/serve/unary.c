/* unary.c — the server's unary calls: ProcessImageSync (a job on the work
 * queue, answered by the worker that ran it) and Health/Check (answered at
 * once).
 *
 * Design notes
 * - A call reaches us at its headers (GRPC_SRM_PAYLOAD_NONE): it is
 *   admitted (or answered RESOURCE_EXHAUSTED at once; while it waits for
 *   its request it may be evicted for a newer call, admit.h), then reads
 *   its request itself under a timer: a request that has not arrived within
 *   the request timeout is answered DEADLINE_EXCEEDED (UNAVAILABLE when the
 *   server is stopping), so a client that sends headers, or a length prefix,
 *   and nothing more holds nothing for long.
 * - refs: 1 for the RECV_CLOSE batch (which also reports a client cancel or
 *   an expired deadline; it sets the job's cancel flag) + 1 for the main
 *   line (the RECV_MESSAGE batch, then the job, then its send batch) + 1
 *   while the request timer is armed. Freed at 0.
 * - The job is embedded in the call object and lives as long as it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

typedef struct ucall {
    sx_rpc_tag t_new, t_recv, t_close, t_send;
    sx_serve_timer_entry timer; /* the request timeout */
    bool timer_armed;
    specx_server *srv;
    sx_serve_method method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    sx_serve_admission adm;
    atomic_bool evicted; /* cancelled to make room (admit.h) */
    int cancelled;
    atomic_int refs;
    sx_serve_job job;
} ucall;

static void ucall_unref(ucall *u)
{
    if (atomic_fetch_sub(&u->refs, 1) != 1) {
        return;
    }
    sx_serve_admit_release(&u->srv->admit, &u->adm);
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
    sx_serve_metrics_answered(u->srv->metrics,
                              u->method == SX_SERVE_METHOD_HEALTH ? SX_SERVE_RPC_HEALTH
                                                                  : SX_SERVE_RPC_SYNC,
                              st, u->job.identity);
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
    if (sx_rpc_start_batch(u->call, ops, n, &u->t_send) != GRPC_CALL_OK) {
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

/* Starts RECV_CLOSE with a ref of its own. */
static void ucall_watch_close(ucall *u)
{
    atomic_fetch_add(&u->refs, 1);
    grpc_op one = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    one.data.recv_close_on_server.cancelled = &u->cancelled;
    if (sx_rpc_start_batch(u->call, &one, 1, &u->t_close) != GRPC_CALL_OK) {
        atomic_fetch_sub(&u->refs, 1);
    }
}

/* The request timer: the request did not arrive in time (or the server is
 * stopping). The pending RECV_MESSAGE then completes empty and is dropped. */
static void u_on_timeout(sx_serve_timer_entry *e)
{
    ucall *u = SX_CONTAINER_OF(e, ucall, timer);
    specx_server *srv = u->srv;
    char msg[160];
    grpc_status_code code = GRPC_STATUS_UNAVAILABLE;
    if (sx_serve_stopping(srv)) {
        snprintf(msg, sizeof msg, "server shutting down");
    } else {
        code = GRPC_STATUS_DEADLINE_EXCEEDED;
        snprintf(msg, sizeof msg,
                 "request message not received within %.1f s of the call's headers "
                 "(--request-timeout)",
                 specx_dur_ms(srv->request_timeout) / 1e3);
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
    }
    grpc_call_cancel_with_status(u->call, code, msg, NULL);
    ucall_unref(u);
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
    sx_serve_metrics_dequeued(u->srv->metrics);
    if (r->st != SPECX_OK) {
        ucall_send(u, r->st, r->msg, NULL);
        return;
    }
    sx_rpc_response_info info = {.req_id = j->req.req_id,
                                 .recv_time = j->recv_wall,
                                 .infer_ms = r->infer_ms,
                                 .queue_ms = r->queue_ms,
                                 .status = SPECX_OK,
                                 .model_input_width = r->model_input_width,
                                 .model_input_height = r->model_input_height};
    grpc_byte_buffer *bb = sx_rpc_response_encode(&r->det, &info);
    ucall_send(u, bb != NULL ? SPECX_OK : SPECX_ENOMEM, bb != NULL ? "" : "out of memory", bb);
}

/* Who is calling and whether they may (identity, quota); then the request
 * itself. SPECX_OK when the job is ready for the queue. */
static specx_status admit_detect(ucall *u, char *msg, size_t cap)
{
    specx_server *srv = u->srv;
    size_t bytes = u->payload != NULL ? grpc_byte_buffer_length(u->payload) : 0;
    specx_status st =
        sx_serve_auth_identify(&srv->auth, u->call, &u->md, u->job.identity, msg, cap);
    sx_serve_metrics_received(srv->metrics, SX_SERVE_RPC_SYNC, u->job.identity, bytes);
    if (st == SPECX_OK) {
        st = sx_serve_auth_admit(&srv->auth, u->job.identity, bytes, msg, cap);
    }
    if (st != SPECX_OK) {
        return st;
    }
    sx_serve_client_key(srv, u->call, &u->md, u->job.identity, u->job.client, sizeof u->job.client);
    st = sx_serve_job_parse(&u->job, u->payload, srv->cfg.no_decode, srv->queue.max_pixels, msg,
                            cap);
    if (st == SPECX_OK && u->job.req.cancel) {
        st = SPECX_EINVAL;
        snprintf(msg, cap,
                 "cancel is for streams (a unary call is cancelled by cancelling the call)");
    }
    if (st != SPECX_OK) {
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
    }
    return st;
}

static void handle_detect(ucall *u)
{
    specx_server *srv = u->srv;
    sx_serve_job_init(&u->job, sx_rpc_deadline_from_gpr(u->deadline), detect_done);
    char msg[256];
    specx_status st = admit_detect(u, msg, sizeof msg);
    if (st != SPECX_OK) {
        ucall_send(u, st, msg, NULL);
        return;
    }
    sx_serve_metrics_queued(srv->metrics);
    st = sx_serve_queue_push(&srv->queue, &u->job);
    if (st != SPECX_OK) {
        sx_serve_metrics_dequeued(srv->metrics);
        sx_serve_metrics_shed(srv->metrics, st == SPECX_EBUSY ? SX_SERVE_SHED_QUEUE_FULL
                                                              : SX_SERVE_SHED_DRAINING);
    }
    if (st == SPECX_EBUSY) {
        ucall_send(u, st, "server queue full: try again or another server", NULL);
    } else if (st != SPECX_OK) {
        ucall_send(u, st, "server shutting down", NULL);
    }
}

/* The request has arrived (payload NULL: the client sent none). */
static void u_on_recv(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    ucall *u = SX_CONTAINER_OF(t, ucall, t_recv);
    specx_server *srv = u->srv;
    bool timer_fired = u->timer_armed && !sx_serve_timer_disarm(&srv->timers, &u->timer);
    if (u->timer_armed && !timer_fired) {
        atomic_fetch_sub(&u->refs, 1); /* the timer's; the main ref keeps u */
    }
    sx_serve_admit_busy(&srv->admit, &u->adm);
    if (timer_fired || atomic_load(&u->evicted)) {
        ucall_unref(u); /* already answered by the timer or the eviction */
        return;
    }
    switch (u->method) {
    case SX_SERVE_METHOD_HEALTH:
        handle_health(u);
        break;
    case SX_SERVE_METHOD_DETECT:
        handle_detect(u);
        break;
    }
}

/* Made room for a newer call at the server-wide limit (admit.h; under the
 * admission lock). */
static void u_evict(sx_serve_admission *a, const char *why)
{
    ucall *u = SX_CONTAINER_OF(a, ucall, adm);
    atomic_store(&u->evicted, true);
    sx_serve_stats_count(&u->srv->stats, SX_SERVE_REJECTED);
    grpc_call_cancel_with_status(u->call, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL);
}

/* Reads the request under the request timer; takes the main ref. */
static void read_request(ucall *u)
{
    specx_server *srv = u->srv;
    if (srv->request_timeout != SPECX_TIME_NEVER) {
        atomic_fetch_add(&u->refs, 1);
        u->timer_armed =
            sx_serve_timer_arm(&srv->timers, &u->timer,
                               specx_time_add(specx_time_mono(), srv->request_timeout)) == SPECX_OK;
        if (!u->timer_armed) {
            atomic_fetch_sub(&u->refs, 1);
        }
    }
    grpc_op one = {.op = GRPC_OP_RECV_MESSAGE};
    one.data.recv_message.recv_message = &u->payload;
    if (sx_rpc_start_batch(u->call, &one, 1, &u->t_recv) != GRPC_CALL_OK) {
        if (u->timer_armed && sx_serve_timer_disarm(&srv->timers, &u->timer)) {
            atomic_fetch_sub(&u->refs, 1); /* the timer's; the main ref keeps u */
        }
        ucall_unref(u);
    }
}

static void u_on_new(sx_rpc_tag *t, bool ok)
{
    ucall *u = SX_CONTAINER_OF(t, ucall, t_new);
    atomic_store(&u->refs, 1);
    if (!ok) {
        ucall_unref(u);
        return;
    }
    specx_server *srv = u->srv;
    sx_serve_unary_arm(srv, u->method);
    ucall_watch_close(u);
    char msg[200];
    specx_status st = sx_serve_admit_take(&srv->admit, u->call, &u->adm, u_evict, msg, sizeof msg);
    if (st != SPECX_OK) {
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
        ucall_send(u, st, msg, NULL);
        return;
    }
    read_request(u);
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
    u->t_recv.fn = u_on_recv;
    u->t_close.fn = u_on_close;
    u->t_send.fn = u_on_send;
    sx_serve_timer_entry_init(&u->timer, u_on_timeout);
    u->details = grpc_empty_slice();
    grpc_metadata_array_init(&u->md);
    void *method = m == SX_SERVE_METHOD_HEALTH ? srv->m_health : srv->m_sync;
    sx_rpc_tag_post(&u->t_new);
    if (grpc_server_request_registered_call(srv->server, method, &u->call, &u->deadline, &u->md,
                                            NULL, srv->cq, srv->cq, &u->t_new) != GRPC_CALL_OK) {
        atomic_store(&u->refs, 1);
        ucall_unref(u);
    }
}
