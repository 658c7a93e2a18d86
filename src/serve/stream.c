/* stream.c — the server's ProcessImageStreaming calls: every message is a
 * job on the work queue (or a cancel of an earlier one); replies go back in
 * completion order, matched by req_id; per-request errors are answered
 * in-band (Response.status_code) and the stream goes on.
 *
 * Design notes
 * - refs = outstanding batches + live jobs, under c->mu. All batches of a
 *   stream start under c->mu (gRPC wants start_batch serialised per call);
 *   only one SEND_MESSAGE is in flight, the rest wait in outq.
 * - The stream ends (status sent) once the client half-closed, or the
 *   server is stopping, and every request has its reply.
 * - Open streams are on srv->streams so that stop() can end them.
 * - Identity is checked when the stream opens (its metadata): a refused
 *   stream ends at once with the refusal as its status. After a token
 *   reload it is checked again at the next message: a revoked token's
 *   message is refused in-band and the stream ends once its other requests
 *   are answered. Quotas are taken per message.
 * - A stream is admitted when it opens (or answered RESOURCE_EXHAUSTED at
 *   once; at the server-wide limit the stream longest without a message
 *   may be evicted for a newer call, admit.h), and an idle timer holds a
 *   ref while it runs: a stream with nothing outstanding that receives no message for
 *   the request timeout is ended (UNAVAILABLE; the client opens a new one).
 *   That also ends a stream whose client announced a message and stopped
 *   sending it, which gRPC alone would keep open for as long as the
 *   connection lives. The timer is checked lazily: a message only records
 *   its time, and the timer re-arms itself from the last one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/sendq.h"
#include "serve/server.h"

/* A request of this stream on the queue or a worker. */
typedef struct sjob {
    sx_serve_job job;
    sx_serve_stream *sc;
    struct sjob *next, *prev; /* sc->jobs */
} sjob;

struct sx_serve_stream {
    sx_rpc_tag t_new, t_close, t_recv, t_send, t_md, t_status;
    sx_serve_timer_entry idle; /* holds a ref while armed */
    specx_time_t last_msg;     /* real monotonic time of the last message, under mu */
    sx_serve_admission adm;    /* not admitted when refused */
    specx_server *srv;
    grpc_call *call;
    gpr_timespec deadline;
    specx_time_t mono_deadline; /* the call's deadline, converted once */
    grpc_metadata_array md;
    pthread_mutex_t mu;
    int refs;
    grpc_byte_buffer *recv_bb;
    grpc_byte_buffer *sending_bb;
    grpc_slice details;
    int cancelled;
    bool closed_by_peer; /* RECV_CLOSE fired */
    bool recv_done;      /* the client half-closed, or receiving failed */
    bool send_broken;
    bool status_started;
    bool server_stopping; /* end the stream once its work is done */
    bool idle_expired;    /* ... because it sat idle past the request timeout */
    bool registered;      /* on srv->streams */
    specx_status refused; /* not OK: end the stream with this status */
    char refused_msg[256];
    char identity[SX_SERVE_CLIENT_MAX]; /* the caller's identity (serve/auth.h) */
    uint64_t auth_gen;                  /* the token table identity was checked on */
    sx_serve_stream *snext, *sprev;
    sx_rpc_sendq outq;
    sjob *jobs;                           /* live jobs (queued or running) */
    char client[SX_SERVE_CLIENT_KEY_MAX]; /* fairness key, set once per stream */
};

typedef sx_serve_stream scall;

static void scall_free(scall *c)
{
    specx_server *srv = c->srv;
    if (c->registered) {
        pthread_mutex_lock(&srv->streams_mu);
        if (c->sprev != NULL) {
            c->sprev->snext = c->snext;
        } else if (srv->streams == c) {
            srv->streams = c->snext;
        }
        if (c->snext != NULL) {
            c->snext->sprev = c->sprev;
        }
        pthread_mutex_unlock(&srv->streams_mu);
    }
    sx_serve_admit_release(&srv->admit, &c->adm);
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    grpc_metadata_array_destroy(&c->md);
    if (c->recv_bb != NULL) {
        grpc_byte_buffer_destroy(c->recv_bb);
    }
    if (c->sending_bb != NULL) {
        grpc_byte_buffer_destroy(c->sending_bb);
    }
    sx_rpc_sendq_clear(&c->outq);
    grpc_slice_unref(c->details);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Drops one ref and unlocks c (freeing it at 0). */
static void scall_done(scall *c)
{
    bool free_it = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (free_it) {
        scall_free(c);
    }
}

static void scall_start(scall *c, const grpc_op *ops, size_t n, sx_rpc_tag *tag)
{
    c->refs++;
    if (sx_rpc_start_batch(c->call, ops, n, tag) != GRPC_CALL_OK) {
        c->refs--;
    }
}

/* Sends the next queued reply, or the final status when all is done. */
static void scall_pump_locked(scall *c)
{
    if (c->sending_bb != NULL || c->status_started) {
        return;
    }
    if (!sx_rpc_sendq_empty(&c->outq) && !c->send_broken && !c->closed_by_peer) {
        c->sending_bb = sx_rpc_sendq_pop(&c->outq);
        grpc_op one = {.op = GRPC_OP_SEND_MESSAGE};
        one.data.send_message.send_message = c->sending_bb;
        scall_start(c, &one, 1, &c->t_send);
        return;
    }
    bool ending = c->recv_done || c->server_stopping || c->refused != SPECX_OK;
    if (ending && c->jobs == NULL && !c->closed_by_peer) {
        c->status_started = true;
        grpc_op one = {.op = GRPC_OP_SEND_STATUS_FROM_SERVER};
        if (c->refused != SPECX_OK) {
            c->details = grpc_slice_from_copied_string(c->refused_msg);
            one.data.send_status_from_server.status = specx_rpc_status_to_grpc(c->refused);
        } else {
            c->details = grpc_slice_from_static_string(
                c->recv_done      ? ""
                : c->idle_expired ? "stream idle with nothing outstanding for the server's "
                                    "request timeout (--request-timeout): closed, open a new one"
                                  : "server shutting down: reconnect or use another server");
            one.data.send_status_from_server.status =
                c->send_broken || !c->recv_done ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK;
        }
        one.data.send_status_from_server.status_details = &c->details;
        scall_start(c, &one, 1, &c->t_status);
    }
}

/* Queues an in-band answer to request req_id (an error, or detections). */
static void scall_reply_locked(scall *c, const sx_serve_job *j, const sx_serve_reply *r)
{
    sx_serve_metrics_answered(c->srv->metrics, SX_SERVE_RPC_STREAM, r->st, j->identity);
    sx_rpc_response_info info = {.req_id = j->req.req_id,
                                 .recv_time = j->recv_wall,
                                 .infer_ms = r->infer_ms,
                                 .queue_ms = r->queue_ms,
                                 .status = r->st,
                                 .with_status = true,
                                 .status_message = r->msg,
                                 .model_input_width = r->model_input_width,
                                 .model_input_height = r->model_input_height};
    /* false: out of memory, this reply is lost */
    (void)sx_rpc_sendq_push(&c->outq, sx_rpc_response_encode(&r->det, &info));
}

/* An answer that needs no worker: status st with msg. */
static void scall_refuse_locked(scall *c, const sx_serve_job *j, specx_status st, const char *msg)
{
    sx_serve_reply r = {.st = st};
    snprintf(r.msg, sizeof r.msg, "%s", msg);
    specx_detections_init(&r.det);
    scall_reply_locked(c, j, &r);
}

static void sjob_unlink_locked(scall *c, sjob *sj)
{
    if (sj->prev != NULL) {
        sj->prev->next = sj->next;
    } else {
        c->jobs = sj->next;
    }
    if (sj->next != NULL) {
        sj->next->prev = sj->prev;
    }
}

static void sjob_free(sjob *sj)
{
    sx_rpc_request_clear(&sj->job.req);
    free(sj);
}

/* The worker's answer (job done callback). */
static void sjob_done(sx_serve_job *j, const sx_serve_reply *r)
{
    sjob *sj = SX_CONTAINER_OF(j, sjob, job);
    scall *c = sj->sc;
    sx_serve_metrics_dequeued(c->srv->metrics);
    pthread_mutex_lock(&c->mu);
    sjob_unlink_locked(c, sj);
    scall_reply_locked(c, j, r);
    scall_pump_locked(c);
    scall_done(c); /* the job's ref */
    sjob_free(sj);
}

/* ---- receiving -------------------------------------------------------- */

static void s_recv_next_locked(scall *c)
{
    grpc_op one = {.op = GRPC_OP_RECV_MESSAGE};
    one.data.recv_message.recv_message = &c->recv_bb;
    scall_start(c, &one, 1, &c->t_recv);
}

/* A cancel message: stops the work on the earlier request(s) with its id. */
static void cancel_matching_locked(scall *c, int32_t req_id)
{
    for (sjob *k = c->jobs; k != NULL; k = k->next) {
        if (k->job.req.req_id == req_id) {
            atomic_store(&k->job.cancel, true);
        }
    }
}

/* Puts sj on the queue, or answers it at once; takes sj. */
static void submit_locked(scall *c, sjob *sj)
{
    sx_serve_metrics *m = c->srv->metrics;
    if (c->server_stopping) {
        sx_serve_metrics_shed(m, SX_SERVE_SHED_DRAINING);
        scall_refuse_locked(c, &sj->job, SPECX_ESTOPPED, "server shutting down");
        sjob_free(sj);
        return;
    }
    /* Linked and ref'd before it is visible to workers. */
    sj->next = c->jobs;
    if (c->jobs != NULL) {
        c->jobs->prev = sj;
    }
    c->jobs = sj;
    c->refs++;
    sx_serve_metrics_queued(m);
    specx_status st = sx_serve_queue_push(&c->srv->queue, &sj->job);
    if (st != SPECX_OK) {
        sx_serve_metrics_dequeued(m);
        sx_serve_metrics_shed(m, st == SPECX_EBUSY ? SX_SERVE_SHED_QUEUE_FULL
                                                   : SX_SERVE_SHED_DRAINING);
        sjob_unlink_locked(c, sj);
        c->refs--;
        scall_refuse_locked(c, &sj->job, st,
                            st == SPECX_EBUSY ? "server queue full" : "server shutting down");
        sjob_free(sj);
    }
}

/* A decoded message (st its parse outcome): queued, refused or a cancel.
 * Takes sj (NULL when out of memory; j is then a stand-in). */
static void dispatch_locked(scall *c, sjob *sj, sx_serve_job *j, specx_status st, const char *msg)
{
    if (st != SPECX_OK) {
        scall_refuse_locked(c, j, st, msg);
    } else if (j->req.cancel) {
        cancel_matching_locked(c, j->req.req_id);
    } else {
        sj->sc = c;
        submit_locked(c, sj);
        return;
    }
    if (sj != NULL) {
        sjob_free(sj);
    }
}

/* The identity again, into id, if the tokens were reloaded since
 * c->identity was checked (else id is c->identity). Receiving thread only
 * (one receive at a time per stream); c->identity itself changes under
 * c->mu, as workers answering this stream read it. */
static specx_status stream_reauth(scall *c, char id[SX_SERVE_CLIENT_MAX], char *msg, size_t cap)
{
    sx_serve_auth *a = &c->srv->auth;
    uint64_t gen = sx_serve_auth_generation(a);
    memcpy(id, c->identity, SX_SERVE_CLIENT_MAX);
    if (gen == c->auth_gen) {
        return SPECX_OK;
    }
    specx_status st = sx_serve_auth_identify(a, c->call, &c->md, id, msg, cap);
    if (st == SPECX_OK) {
        c->auth_gen = gen;
    }
    return st;
}

static void s_on_recv(sx_rpc_tag *t, bool ok)
{
    scall *c = SX_CONTAINER_OF(t, scall, t_recv);
    specx_server *srv = c->srv;
    grpc_byte_buffer *bb = c->recv_bb;
    c->recv_bb = NULL;
    if (!ok || bb == NULL) {
        pthread_mutex_lock(&c->mu);
        c->recv_done = true;
        scall_pump_locked(c);
        scall_done(c);
        return;
    }
    /* Decoded outside the lock: workers answering this stream need it. */
    sjob *sj = calloc(1, sizeof *sj);
    sx_serve_job oom = {0};
    sx_serve_job *j = sj != NULL ? &sj->job : &oom;
    sx_serve_job_init(j, c->mono_deadline, sjob_done);
    memcpy(j->client, c->client, sizeof j->client);
    char msg[256] = "out of memory", why[256] = "";
    specx_status auth = stream_reauth(c, j->identity, why, sizeof why);
    size_t bytes = grpc_byte_buffer_length(bb);
    sx_serve_metrics_received(srv->metrics, SX_SERVE_RPC_STREAM, j->identity, bytes);
    /* parsed even when refused: the in-band refusal carries its req_id */
    specx_status st = sj != NULL ? sx_serve_job_parse(j, bb, srv->cfg.no_decode,
                                                      srv->queue.max_pixels, msg, sizeof msg)
                                 : SPECX_ENOMEM;
    grpc_byte_buffer_destroy(bb);
    if (auth != SPECX_OK) {
        st = auth;
        snprintf(msg, sizeof msg, "%s", why);
    } else if (st != SPECX_OK) {
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
    } else if (!j->req.cancel) {
        st = sx_serve_auth_admit(&srv->auth, j->identity, bytes, msg, sizeof msg);
    }
    sx_serve_admit_touch(&srv->admit, &c->adm);
    pthread_mutex_lock(&c->mu);
    memcpy(c->identity, j->identity, sizeof c->identity);
    if (auth != SPECX_OK) {
        /* revoked: this message is answered with the refusal, then the
         * stream ends with it once its other requests are answered */
        c->refused = auth;
        snprintf(c->refused_msg, sizeof c->refused_msg, "%s", why);
    }
    c->last_msg = specx_time_mono();
    dispatch_locked(c, sj, j, st, msg);
    scall_pump_locked(c);
    if (auth == SPECX_OK) {
        s_recv_next_locked(c);
    }
    scall_done(c);
}

/* ---- other completions ------------------------------------------------ */

static void s_on_md(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    scall *c = SX_CONTAINER_OF(t, scall, t_md);
    pthread_mutex_lock(&c->mu);
    scall_done(c);
}

static void s_on_status(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    scall *c = SX_CONTAINER_OF(t, scall, t_status);
    pthread_mutex_lock(&c->mu);
    scall_done(c);
}

static void s_on_close(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    scall *c = SX_CONTAINER_OF(t, scall, t_close);
    pthread_mutex_lock(&c->mu);
    c->closed_by_peer = true;
    if (c->cancelled) {
        for (sjob *k = c->jobs; k != NULL; k = k->next) {
            atomic_store(&k->job.cancel, true);
        }
    }
    if (sx_serve_timer_disarm(&c->srv->timers, &c->idle)) {
        c->refs--; /* the idle timer's; the close batch's below keeps c alive */
    }
    scall_done(c);
}

/* The idle timer (see the design notes); owns one ref. */
static void s_on_idle(sx_serve_timer_entry *e)
{
    scall *c = SX_CONTAINER_OF(e, scall, idle);
    specx_server *srv = c->srv;
    pthread_mutex_lock(&c->mu);
    bool over =
        c->status_started || c->closed_by_peer || c->server_stopping || sx_serve_stopping(srv);
    bool busy = c->jobs != NULL || c->sending_bb != NULL || !sx_rpc_sendq_empty(&c->outq);
    specx_time_t now = specx_time_mono();
    specx_time_t due = specx_time_add(busy ? now : c->last_msg, srv->request_timeout);
    if (!over && due > now && sx_serve_timer_arm(&srv->timers, &c->idle, due) == SPECX_OK) {
        pthread_mutex_unlock(&c->mu); /* still running: the ref stays with the timer */
        return;
    }
    if (!over && due <= now) {
        c->idle_expired = true;
        c->server_stopping = true;
        sx_serve_stats_count(&srv->stats, SX_SERVE_REJECTED);
        scall_pump_locked(c);
    }
    scall_done(c);
}

static void s_on_send(sx_rpc_tag *t, bool ok)
{
    scall *c = SX_CONTAINER_OF(t, scall, t_send);
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer_destroy(c->sending_bb);
    c->sending_bb = NULL;
    if (!ok) {
        c->send_broken = true;
    }
    scall_pump_locked(c);
    scall_done(c);
}

/* Puts c on the server's list; returns whether the server is stopping. */
static bool scall_register(scall *c)
{
    specx_server *srv = c->srv;
    pthread_mutex_lock(&srv->streams_mu);
    c->snext = srv->streams;
    if (srv->streams != NULL) {
        srv->streams->sprev = c;
    }
    srv->streams = c;
    c->registered = true;
    bool stopping = srv->streams_stopping;
    pthread_mutex_unlock(&srv->streams_mu);
    return stopping;
}

/* Made room for a newer call at the server-wide limit (admit.h; under the
 * admission lock): the cancel reaches RECV_CLOSE, which ends the stream. */
static void s_evict(sx_serve_admission *a, const char *why)
{
    scall *c = SX_CONTAINER_OF(a, scall, adm);
    sx_serve_stats_count(&c->srv->stats, SX_SERVE_REJECTED);
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_RESOURCE_EXHAUSTED, why, NULL);
}

/* Over a call limit: the status at once, then freed (never registered). */
static void s_refuse_locked(scall *c, const char *msg)
{
    c->status_started = true;
    c->details = grpc_slice_from_copied_string(msg);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    ops[1].data.send_status_from_server.status_details = &c->details;
    scall_start(c, ops, 2, &c->t_status);
}

static void s_on_new(sx_rpc_tag *t, bool ok)
{
    scall *c = SX_CONTAINER_OF(t, scall, t_new);
    specx_server *srv = c->srv;
    if (!ok) {
        scall_free(c);
        return;
    }
    sx_serve_stream_arm(srv);
    char msg[200];
    specx_status admitted =
        sx_serve_admit_take(&srv->admit, c->call, &c->adm, s_evict, msg, sizeof msg);
    sx_serve_stats_count(&srv->stats, admitted == SPECX_OK ? SX_SERVE_STREAMS : SX_SERVE_REJECTED);
    bool stopping = admitted == SPECX_OK && scall_register(c);
    c->mono_deadline = sx_rpc_deadline_from_gpr(c->deadline);
    c->auth_gen = sx_serve_auth_generation(&srv->auth); /* before: a reload re-checks */
    specx_status auth = sx_serve_auth_identify(&srv->auth, c->call, &c->md, c->identity,
                                               c->refused_msg, sizeof c->refused_msg);
    if (auth != SPECX_OK) {
        sx_serve_metrics_answered(srv->metrics, SX_SERVE_RPC_STREAM, auth, NULL);
    }
    sx_serve_client_key(srv, c->call, &c->md, c->identity, c->client, sizeof c->client);
    pthread_mutex_lock(&c->mu);
    c->refs = 1; /* held until the end of this function */
    c->server_stopping = stopping;
    c->refused = auth;
    c->last_msg = specx_time_mono();
    grpc_op one = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    one.data.recv_close_on_server.cancelled = &c->cancelled;
    scall_start(c, &one, 1, &c->t_close);
    if (admitted != SPECX_OK) {
        s_refuse_locked(c, msg);
        scall_done(c);
        return;
    }
    if (srv->request_timeout != SPECX_TIME_NEVER) {
        c->refs++;
        if (sx_serve_timer_arm(&srv->timers, &c->idle,
                               specx_time_add(c->last_msg, srv->request_timeout)) != SPECX_OK) {
            c->refs--;
        }
    }
    one = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
    scall_start(c, &one, 1, &c->t_md);
    if (auth == SPECX_OK) {
        s_recv_next_locked(c);
    } else {
        scall_pump_locked(c); /* the refusal, as the stream's status */
    }
    scall_done(c);
}

void sx_serve_stream_arm(specx_server *srv)
{
    scall *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->srv = srv;
    c->t_new.fn = s_on_new;
    c->t_close.fn = s_on_close;
    c->t_recv.fn = s_on_recv;
    c->t_send.fn = s_on_send;
    c->t_md.fn = s_on_md;
    c->t_status.fn = s_on_status;
    sx_serve_timer_entry_init(&c->idle, s_on_idle);
    c->details = grpc_empty_slice();
    pthread_mutex_init(&c->mu, NULL);
    grpc_metadata_array_init(&c->md);
    sx_rpc_tag_post(&c->t_new);
    if (grpc_server_request_registered_call(srv->server, srv->m_stream, &c->call, &c->deadline,
                                            &c->md, NULL, srv->cq, srv->cq,
                                            &c->t_new) != GRPC_CALL_OK) {
        scall_free(c);
    }
}

void sx_serve_streams_stop(specx_server *srv)
{
    pthread_mutex_lock(&srv->streams_mu);
    srv->streams_stopping = true;
    for (scall *c = srv->streams; c != NULL; c = c->snext) {
        pthread_mutex_lock(&c->mu);
        if (c->refs > 0) {
            c->server_stopping = true;
            scall_pump_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&srv->streams_mu);
}
