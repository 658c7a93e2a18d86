/* client_stream.c — the client's bidirectional stream: one
 * ProcessImageStreaming call per client, opened on demand and replaced after
 * a failure.
 *
 * Design notes
 * - Requests carry a client-unique req_id (never the frame number, so two
 *   sends of one frame are never confused) and their remaining budget;
 *   replies are matched by req_id, in any order. One SEND_MESSAGE in flight,
 *   the rest wait in the send queue.
 * - A stream has no per-message deadline on the wire, so the CQ thread waits
 *   with a timeout equal to the earliest pending deadline and expires calls
 *   itself (sx_rpc_stream_expire); an empty batch on the stream call wakes it
 *   when an earlier deadline arrives. A cancelled or expired request is
 *   followed by a cancel message so the server stops its work too.
 * - refs = outstanding batches + 1 while it is the client's stream; all
 *   under the client lock. */
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap.h" /* SX_CONTAINER_OF */
#include "rpc/client.h"
#include "rpc/wire.h"

struct sx_rpc_stream {
    sx_rpc_tag t_md, t_recv, t_send, t_status, t_wake;
    specx_rpc_client *c;
    grpc_call *gc;
    int refs;
    bool broken;
    bool first_recv;
    grpc_metadata_array md_init, md_trail;
    grpc_byte_buffer *recv_bb, *sending;
    sx_rpc_sendq q;
    grpc_status_code status;
    grpc_slice details;
    specx_rpc_call *pending;
    char peer[96]; /* the backend, once known ("" before) */
};

typedef sx_rpc_stream stream;

static void stream_free(stream *s)
{
    if (s->gc != NULL) {
        grpc_call_unref(s->gc);
    }
    grpc_metadata_array_destroy(&s->md_init);
    grpc_metadata_array_destroy(&s->md_trail);
    if (s->recv_bb != NULL) {
        grpc_byte_buffer_destroy(s->recv_bb);
    }
    if (s->sending != NULL) {
        grpc_byte_buffer_destroy(s->sending);
    }
    sx_rpc_sendq_clear(&s->q);
    grpc_slice_unref(s->details);
    free(s);
}

/* Returns true when the caller must free s (after unlocking). */
static bool stream_unref_locked(stream *s)
{
    if (--s->refs > 0) {
        return false;
    }
    if (--s->c->streams == 0) {
        pthread_cond_broadcast(&s->c->cv);
    }
    return true;
}

/* Drops a batch's ref and unlocks the client. */
static void stream_done(stream *s)
{
    bool free_it = stream_unref_locked(s);
    pthread_mutex_unlock(&s->c->mu);
    if (free_it) {
        stream_free(s);
    }
}

static bool stream_batch(stream *s, const grpc_op *ops, size_t n, sx_rpc_tag *tag)
{
    s->refs++;
    if (sx_rpc_start_batch(s->gc, ops, n, tag) != GRPC_CALL_OK) {
        s->refs--;
        return false;
    }
    return true;
}

static void stream_pump_locked(stream *s)
{
    if (s->sending != NULL || sx_rpc_sendq_empty(&s->q) || s->broken) {
        return;
    }
    s->sending = sx_rpc_sendq_pop(&s->q);
    grpc_op one = {.op = GRPC_OP_SEND_MESSAGE};
    one.data.send_message.send_message = s->sending;
    if (!stream_batch(s, &one, 1, &s->t_send)) {
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
    }
}

/* The backend this stream went to ("" while gRPC reports only the target);
 * a stream's calls all count against it. */
static const char *stream_peer_locked(stream *s)
{
    if (s->peer[0] == '\0') {
        char *p = grpc_call_get_peer(s->gc);
        if (p != NULL && strcmp(p, s->c->cfg.target) != 0) {
            snprintf(s->peer, sizeof s->peer, "%s", p);
        }
        gpr_free(p);
    }
    return s->peer;
}

static void stream_queue_locked(stream *s, grpc_byte_buffer *bb)
{
    if (sx_rpc_sendq_push(&s->q, bb)) {
        stream_pump_locked(s);
    }
}

static void pending_unlink(stream *s, specx_rpc_call *k)
{
    if (k->prev != NULL) {
        k->prev->next = k->next;
    } else {
        s->pending = k->next;
    }
    if (k->next != NULL) {
        k->next->prev = k->prev;
    }
    k->next = k->prev = NULL;
    k->s = NULL;
}

/* Tells the server to drop req_id's work (best effort). */
static void stream_send_cancel_locked(stream *s, int32_t req_id)
{
    if (!s->broken) {
        stream_queue_locked(s, sx_rpc_request_encode(NULL, req_id, 0, true));
    }
}

static void stream_end_locked(stream *s, specx_rpc_client *c)
{
    if (c->st == s) {
        c->st = NULL;
        s->refs--; /* the client's ref; the caller holds a batch ref */
    }
}

/* ---- completions ------------------------------------------------------ */

static void s_on_status(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    stream *s = SX_CONTAINER_OF(t, stream, t_status);
    specx_rpc_client *c = s->c;
    pthread_mutex_lock(&c->mu);
    s->broken = true;
    stream_end_locked(s, c);
    specx_status st = specx_rpc_status_from_grpc(s->status);
    if (st == SPECX_OK) {
        st = SPECX_EUNAVAILABLE;
    }
    char det[200];
    sx_rpc_slice_to_buf(s->details, det, sizeof det);
    size_t n = 0;
    for (specx_rpc_call *k = s->pending; k != NULL; k = k->next) {
        n++;
    }
    sx_rpc_finished *fs = n > 0 ? calloc(n, sizeof *fs) : NULL;
    size_t i = 0;
    const char *peer = stream_peer_locked(s);
    while (s->pending != NULL) {
        specx_rpc_call *k = s->pending;
        pending_unlink(s, k);
        sx_rpc_count_peer_locked(c, peer, st);
        if (fs != NULL) {
            fs[i].call = k;
            fs[i].st = st;
            snprintf(fs[i].msg, sizeof fs[i].msg, "%s: stream ended: %s%s%s", c->cfg.target,
                     specx_strerror(st), det[0] != '\0' ? ": " : "", det);
            i++;
        }
    }
    bool free_it = stream_unref_locked(s);
    pthread_mutex_unlock(&c->mu);
    for (size_t j = 0; j < i; j++) {
        sx_rpc_finish(&fs[j]);
    }
    free(fs);
    if (free_it) {
        stream_free(s);
    }
}

static void s_on_md(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    stream *s = SX_CONTAINER_OF(t, stream, t_md);
    pthread_mutex_lock(&s->c->mu);
    stream_done(s);
}

static void s_on_wake(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    stream *s = SX_CONTAINER_OF(t, stream, t_wake);
    pthread_mutex_lock(&s->c->mu);
    stream_done(s);
}

static void s_on_send(sx_rpc_tag *t, bool ok)
{
    stream *s = SX_CONTAINER_OF(t, stream, t_send);
    specx_rpc_client *c = s->c;
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer_destroy(s->sending);
    s->sending = NULL;
    if (!ok) {
        /* The stream is failing; RECV_STATUS will fail its pending calls. */
        s->broken = true;
        stream_end_locked(s, c);
    } else {
        stream_pump_locked(s);
    }
    stream_done(s);
}

static void s_recv_next_locked(stream *s)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (s->first_recv) {
        s->first_recv = false;
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->md_init;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_bb;
    stream_batch(s, ops, n, &s->t_recv);
}

static specx_rpc_call *pending_take(stream *s, int32_t req_id)
{
    for (specx_rpc_call *k = s->pending; k != NULL; k = k->next) {
        if (k->req_id == req_id) {
            pending_unlink(s, k);
            return k;
        }
    }
    return NULL;
}

static void s_on_recv(sx_rpc_tag *t, bool ok)
{
    stream *s = SX_CONTAINER_OF(t, stream, t_recv);
    specx_rpc_client *c = s->c;
    grpc_byte_buffer *bb = s->recv_bb;
    s->recv_bb = NULL;
    bool more = ok && bb != NULL;
    sx_rpc_finished f = {.st = SPECX_OK};
    int32_t req_id = 0;
    if (more) {
        sx_rpc_reply_decode(c, bb, &f, &req_id);
        grpc_byte_buffer_destroy(bb);
    }
    pthread_mutex_lock(&c->mu);
    if (more) {
        f.call = pending_take(s, req_id);
        if (f.call != NULL) {
            sx_rpc_count_peer_locked(c, stream_peer_locked(s), f.st);
        }
        s_recv_next_locked(s);
    } else {
        /* End of the server's messages: the status follows. */
        s->broken = true;
        stream_end_locked(s, c);
    }
    stream_done(s);
    if (f.call != NULL) {
        sx_rpc_finish(&f);
    } else {
        /* A reply nobody waits for (cancelled or expired call): dropped. */
        specx_detections_destroy(f.result);
    }
}

/* ---- opening ---------------------------------------------------------- */

static stream *stream_new(specx_rpc_client *c)
{
    stream *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->c = c;
    s->t_md.fn = s_on_md;
    s->t_recv.fn = s_on_recv;
    s->t_send.fn = s_on_send;
    s->t_status.fn = s_on_status;
    s->t_wake.fn = s_on_wake;
    s->details = grpc_empty_slice();
    s->first_recv = true;
    grpc_metadata_array_init(&s->md_init);
    grpc_metadata_array_init(&s->md_trail);
    s->gc = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                                c->reg_stream, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    if (s->gc == NULL) {
        stream_free(s);
        return NULL;
    }
    return s;
}

/* Starts the stream's standing batches: status, initial metadata, first
 * receive. */
static bool stream_open_locked(stream *s)
{
    grpc_op one = {.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    one.data.recv_status_on_client.trailing_metadata = &s->md_trail;
    one.data.recv_status_on_client.status = &s->status;
    one.data.recv_status_on_client.status_details = &s->details;
    if (!stream_batch(s, &one, 1, &s->t_status)) {
        return false;
    }
    one = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
    one.flags = s->c->cfg.wait_for_ready ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    one.data.send_initial_metadata.count = s->c->n_md;
    one.data.send_initial_metadata.metadata = s->c->n_md > 0 ? s->c->md : NULL;
    if (!stream_batch(s, &one, 1, &s->t_md)) {
        return false;
    }
    s_recv_next_locked(s);
    return true;
}

/* The client's stream, opened if needed. */
static stream *stream_get_locked(specx_rpc_client *c)
{
    if (c->st != NULL && !c->st->broken) {
        return c->st;
    }
    stream *s = stream_new(c);
    if (s == NULL) {
        return NULL;
    }
    c->streams++;
    s->refs = 1; /* the client's */
    bool ok = stream_open_locked(s);
    if (c->st != NULL) {
        stream *old = c->st;
        c->st = NULL;
        if (stream_unref_locked(old)) {
            stream_free(old); /* no batch left on it: nothing can touch it */
        }
    }
    c->st = s;
    if (!ok) {
        s->broken = true;
        grpc_call_cancel(s->gc, NULL);
    }
    return s;
}

specx_status sx_rpc_stream_start_locked(specx_rpc_call *k, specx_encoded_frame *frame,
                                        specx_time_t deadline)
{
    specx_rpc_client *c = k->c;
    stream *s = stream_get_locked(c);
    if (s == NULL) {
        return SPECX_EINTERNAL;
    }
    if (s->broken) {
        return SPECX_EUNAVAILABLE;
    }
    c->next_req_id = (c->next_req_id % 0x7ffffffe) + 1;
    k->req_id = c->next_req_id;
    k->deadline = deadline;
    k->s = s;
    k->next = s->pending;
    if (s->pending != NULL) {
        s->pending->prev = k;
    }
    s->pending = k;
    int64_t budget_us = 0;
    if (deadline != SPECX_TIME_NEVER) {
        budget_us = (deadline - specx_time_now()) / 1000;
        if (budget_us < 1) {
            budget_us = 1;
        }
    }
    stream_queue_locked(s, sx_rpc_request_encode(frame, k->req_id, budget_us, false));
    if (deadline < c->armed) {
        /* Wake the CQ thread so that it waits until this earlier deadline. */
        stream_batch(s, NULL, 0, &s->t_wake);
    }
    return SPECX_OK;
}

void sx_rpc_stream_cancel_locked(specx_rpc_call *k, sx_rpc_finished *f)
{
    stream *s = k->s;
    if (s == NULL) {
        return; /* its reply is in: the callback is on its way */
    }
    pending_unlink(s, k);
    stream_send_cancel_locked(s, k->req_id);
    sx_rpc_count_peer_locked(k->c, stream_peer_locked(s), SPECX_ECANCELED);
    f->call = k;
    f->st = SPECX_ECANCELED;
    snprintf(f->msg, sizeof f->msg, "%s: cancelled", k->c->cfg.target);
}

specx_time_t sx_rpc_stream_expire(specx_rpc_client *c)
{
    specx_time_t now = specx_time_now(), next = SPECX_TIME_NEVER;
    sx_rpc_finished fs[16];
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    stream *s = c->st;
    for (specx_rpc_call *k = s != NULL ? s->pending : NULL, *nx; k != NULL; k = nx) {
        nx = k->next;
        if (k->deadline <= now && n < sizeof fs / sizeof fs[0]) {
            pending_unlink(s, k);
            stream_send_cancel_locked(s, k->req_id);
            sx_rpc_count_peer_locked(c, stream_peer_locked(s), SPECX_ETIMEDOUT);
            fs[n] = (sx_rpc_finished){.call = k, .st = SPECX_ETIMEDOUT};
            snprintf(fs[n].msg, sizeof fs[n].msg, "%s: deadline exceeded (streamed request)",
                     c->cfg.target);
            n++;
        } else if (k->deadline < next) {
            next = k->deadline;
        }
    }
    if (n == sizeof fs / sizeof fs[0]) {
        next = now; /* more to expire: come back at once */
    }
    c->armed = next;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        sx_rpc_finish(&fs[i]);
    }
    return next;
}

void sx_rpc_stream_cancel_wire_locked(specx_rpc_client *c)
{
    if (c->st != NULL) {
        grpc_call_cancel(c->st->gc, NULL);
    }
}

void sx_rpc_stream_release_locked(specx_rpc_client *c)
{
    stream *s = c->st;
    if (s == NULL) {
        return;
    }
    c->st = NULL;
    grpc_call_cancel(s->gc, NULL);
    if (stream_unref_locked(s)) {
        stream_free(s);
    }
}
