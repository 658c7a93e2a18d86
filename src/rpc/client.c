/* client.c — the gRPC client of the detection service: one channel per
 * server, unary calls or one long-lived bidirectional stream, cancellation on
 * the wire, fail-fast by default.
 *
 * Design notes
 * - One completion queue and one thread (cq_main) per client; every
 *   completion and every user callback runs there (or inline in cancel for a
 *   streamed call, which has nothing left to wait for).
 * - One lock (c->mu) guards the client, its calls and its stream. Callbacks
 *   run with no lock held; a call object is freed only after its callback has
 *   returned, so cancel() stays safe up to then.
 * - Unary: one batch with all six ops; the gRPC deadline is the call's.
 * - Stream: one call per client, opened on demand and replaced after a
 *   failure. Requests carry a client-unique req_id (never the frame number,
 *   so two sends of one frame are never confused) and their remaining budget;
 *   replies are matched by req_id, in any order. One SEND_MESSAGE in flight,
 *   the rest queued. A stream has no per-message deadline on the wire, so the
 *   CQ thread waits with a timeout equal to the earliest pending deadline and
 *   expires calls itself; an empty batch on the stream call wakes it when an
 *   earlier deadline arrives. A cancelled or expired streamed request is
 *   followed by a cancel message so the server stops its work too. */
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "internal.h"

typedef struct stream stream;

struct specx_rpc_call {
    rpc_tag tag;
    specx_rpc_client *c;
    specx_rpc_done_fn done;
    void *user;
    bool streaming;
    bool cancel_requested;
    struct specx_rpc_call *next, *prev; /* c->calls, or s->pending when streamed */
    /* unary */
    grpc_call *gc;
    grpc_metadata_array md_init, md_trail;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_status_code status;
    grpc_slice details;
    /* streamed */
    stream *s; /* non-NULL while waiting for its reply */
    int32_t req_id;
    specx_time_t deadline;
};

struct stream {
    rpc_tag t_md, t_recv, t_send, t_status, t_wake;
    specx_rpc_client *c;
    grpc_call *gc;
    int refs; /* outstanding batches + 1 while it is the client's stream */
    bool broken;
    bool first_recv;
    grpc_metadata_array md_init, md_trail;
    grpc_byte_buffer *recv_bb, *sending;
    rpc_sendq q;
    grpc_status_code status;
    grpc_slice details;
    specx_rpc_call *pending;
};

struct specx_rpc_client {
    specx_rpc_client_config cfg;
    grpc_channel *ch;
    grpc_completion_queue *cq;
    void *reg_sync, *reg_stream;
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding; /* started calls whose callback has not returned */
    int streams;     /* stream objects alive */
    bool closing;
    specx_rpc_call *calls; /* unary calls in flight */
    stream *st;            /* the current stream */
    int32_t next_req_id;
    specx_time_t armed; /* the CQ thread's current wake-up time */
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A finished call waiting for its callback (collected under the lock, run
 * after it is released). */
typedef struct finished {
    specx_rpc_call *call;
    specx_status st;
    specx_detections *result;
    char msg[768];
} finished;

static void call_free(specx_rpc_call *k)
{
    if (k->gc != NULL) {
        grpc_call_unref(k->gc);
    }
    grpc_metadata_array_destroy(&k->md_init);
    grpc_metadata_array_destroy(&k->md_trail);
    if (k->send_bb != NULL) {
        grpc_byte_buffer_destroy(k->send_bb);
    }
    if (k->recv_bb != NULL) {
        grpc_byte_buffer_destroy(k->recv_bb);
    }
    grpc_slice_unref(k->details);
    free(k);
}

/* Runs the callback, frees the call, and lets destroy() know. No lock held. */
static void finish(finished *f)
{
    specx_rpc_call *k = f->call;
    specx_rpc_client *c = k->c;
    k->done(k->user, f->st, f->result, f->st == SPECX_OK ? NULL : f->msg);
    call_free(k);
    pthread_mutex_lock(&c->mu);
    if (--c->outstanding == 0) {
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Decodes a Response into a result or an error. */
static void decode_reply(const uint8_t *data, size_t len, finished *f, int32_t *req_id)
{
    ObjectDetection__Response *r = object_detection__response__unpack(NULL, len, data);
    if (r == NULL) {
        f->st = SPECX_EFORMAT;
        snprintf(f->msg, sizeof f->msg, "server reply is not an object_detection.Response");
        return;
    }
    if (req_id != NULL) {
        *req_id = r->req_id;
    }
    if (r->status_code != 0) {
        f->st = specx_rpc_status_from_grpc(r->status_code);
        snprintf(f->msg, sizeof f->msg, "server: %s",
                 r->status_message != NULL && r->status_message[0] != '\0' ? r->status_message
                                                                           : specx_strerror(f->st));
    } else {
        f->st = rpc_response_to_detections(r, &f->result);
        if (f->st != SPECX_OK) {
            snprintf(f->msg, sizeof f->msg, "out of memory decoding the reply");
        }
    }
    object_detection__response__free_unpacked(r, NULL);
}

/* ---- unary ------------------------------------------------------------ */

static void unary_done(rpc_tag *t, bool ok)
{
    specx_rpc_call *k = CONTAINER(t, specx_rpc_call, tag);
    specx_rpc_client *c = k->c;
    finished f = {.call = k, .st = SPECX_OK};
    if (!ok) {
        f.st = SPECX_EINTERNAL;
        snprintf(f.msg, sizeof f.msg, "%s: call batch failed", c->cfg.target);
    } else if (k->status != GRPC_STATUS_OK) {
        f.st = specx_rpc_status_from_grpc(k->status);
        char det[200];
        rpc_slice_to_buf(k->details, det, sizeof det);
        snprintf(f.msg, sizeof f.msg, "%s: %s%s%s", c->cfg.target,
                 k->cancel_requested && f.st == SPECX_ECANCELED ? "cancelled"
                                                                : specx_strerror(f.st),
                 det[0] != '\0' ? ": " : "", det);
    } else if (k->recv_bb == NULL) {
        f.st = SPECX_EFORMAT;
        snprintf(f.msg, sizeof f.msg, "%s: OK status without a reply message", c->cfg.target);
    } else {
        uint8_t *data;
        size_t len;
        if (rpc_bb_read(k->recv_bb, &data, &len) != SPECX_OK) {
            f.st = SPECX_ENOMEM;
            snprintf(f.msg, sizeof f.msg, "out of memory reading the reply");
        } else {
            decode_reply(data, len, &f, NULL);
            free(data);
        }
    }
    pthread_mutex_lock(&c->mu);
    if (k->prev != NULL) {
        k->prev->next = k->next;
    } else {
        c->calls = k->next;
    }
    if (k->next != NULL) {
        k->next->prev = k->prev;
    }
    pthread_mutex_unlock(&c->mu);
    finish(&f);
}

/* Under c->mu. */
static specx_status unary_start(specx_rpc_call *k, specx_encoded_frame *frame,
                                specx_time_t deadline)
{
    specx_rpc_client *c = k->c;
    k->gc = grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                                c->reg_sync, rpc_deadline_to_gpr(deadline), NULL);
    if (k->gc == NULL) {
        return SPECX_EINTERNAL;
    }
    k->send_bb = rpc_bb_request(frame, (int32_t)(c->next_req_id++ & 0x7fffffff), 0, false);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = c->cfg.wait_for_ready ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = k->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->md_init;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &k->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &k->md_trail;
    ops[5].data.recv_status_on_client.status = &k->status;
    ops[5].data.recv_status_on_client.status_details = &k->details;
    k->tag.fn = unary_done;
    if (grpc_call_start_batch(k->gc, ops, 6, &k->tag, NULL) != GRPC_CALL_OK) {
        return SPECX_EINTERNAL;
    }
    k->next = c->calls;
    if (c->calls != NULL) {
        c->calls->prev = k;
    }
    c->calls = k;
    if (k->cancel_requested) {
        grpc_call_cancel(k->gc, NULL);
    }
    return SPECX_OK;
}

/* ---- stream ----------------------------------------------------------- */

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
    rpc_sendq_clear(&s->q);
    grpc_slice_unref(s->details);
    free(s);
}

/* Under c->mu; returns true when the caller must free s (after unlocking). */
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

static bool stream_batch(stream *s, const grpc_op *ops, size_t n, rpc_tag *tag)
{
    s->refs++;
    if (grpc_call_start_batch(s->gc, ops, n, tag, NULL) != GRPC_CALL_OK) {
        s->refs--;
        return false;
    }
    return true;
}

static void stream_pump_locked(stream *s)
{
    if (s->sending != NULL || rpc_sendq_empty(&s->q) || s->broken) {
        return;
    }
    s->sending = rpc_sendq_pop(&s->q);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = s->sending;
    if (!stream_batch(s, &op, 1, &s->t_send)) {
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
    }
}

static void stream_queue_locked(stream *s, grpc_byte_buffer *bb)
{
    if (rpc_sendq_push(&s->q, bb)) {
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

/* Tells the server to drop req_id's work (best effort). Under c->mu. */
static void stream_send_cancel_locked(stream *s, int32_t req_id)
{
    if (!s->broken) {
        stream_queue_locked(s, rpc_bb_request(NULL, req_id, 0, true));
    }
}

static void stream_end_locked(stream *s, specx_rpc_client *c)
{
    if (c->st == s) {
        c->st = NULL;
        s->refs--; /* the client's ref; the caller holds a batch ref */
    }
}

static void s_on_status(rpc_tag *t, bool ok)
{
    (void)ok;
    stream *s = CONTAINER(t, stream, t_status);
    specx_rpc_client *c = s->c;
    pthread_mutex_lock(&c->mu);
    s->broken = true;
    stream_end_locked(s, c);
    specx_status st = specx_rpc_status_from_grpc(s->status);
    if (st == SPECX_OK) {
        st = SPECX_EUNAVAILABLE;
    }
    char det[200];
    rpc_slice_to_buf(s->details, det, sizeof det);
    size_t n = 0;
    for (specx_rpc_call *k = s->pending; k != NULL; k = k->next) {
        n++;
    }
    finished *fs = n > 0 ? calloc(n, sizeof *fs) : NULL;
    size_t i = 0;
    while (s->pending != NULL) {
        specx_rpc_call *k = s->pending;
        pending_unlink(s, k);
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
        finish(&fs[j]);
    }
    free(fs);
    if (free_it) {
        stream_free(s);
    }
}

static void s_on_simple(stream *s)
{
    specx_rpc_client *c = s->c;
    pthread_mutex_lock(&c->mu);
    bool free_it = stream_unref_locked(s);
    pthread_mutex_unlock(&c->mu);
    if (free_it) {
        stream_free(s);
    }
}

static void s_on_md(rpc_tag *t, bool ok)
{
    (void)ok;
    s_on_simple(CONTAINER(t, stream, t_md));
}

static void s_on_wake(rpc_tag *t, bool ok)
{
    (void)ok;
    s_on_simple(CONTAINER(t, stream, t_wake));
}

static void s_on_send(rpc_tag *t, bool ok)
{
    stream *s = CONTAINER(t, stream, t_send);
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
    bool free_it = stream_unref_locked(s);
    pthread_mutex_unlock(&c->mu);
    if (free_it) {
        stream_free(s);
    }
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

static void s_on_recv(rpc_tag *t, bool ok)
{
    stream *s = CONTAINER(t, stream, t_recv);
    specx_rpc_client *c = s->c;
    grpc_byte_buffer *bb = s->recv_bb;
    s->recv_bb = NULL;
    finished f = {.st = SPECX_OK};
    int32_t req_id = 0;
    bool have = false;
    if (ok && bb != NULL) {
        uint8_t *data;
        size_t len;
        if (rpc_bb_read(bb, &data, &len) == SPECX_OK) {
            decode_reply(data, len, &f, &req_id);
            free(data);
            have = true;
        }
        grpc_byte_buffer_destroy(bb);
    }
    pthread_mutex_lock(&c->mu);
    if (have) {
        for (specx_rpc_call *k = s->pending; k != NULL; k = k->next) {
            if (k->req_id == req_id) {
                pending_unlink(s, k);
                f.call = k;
                break;
            }
        }
    }
    if (ok && bb != NULL) {
        s_recv_next_locked(s);
    } else {
        /* End of the server's messages: the status follows. */
        s->broken = true;
        stream_end_locked(s, c);
    }
    bool free_it = stream_unref_locked(s);
    pthread_mutex_unlock(&c->mu);
    if (f.call != NULL) {
        finish(&f);
    } else {
        /* A reply nobody waits for (cancelled or expired call): dropped. */
        specx_detections_destroy(f.result);
    }
    if (free_it) {
        stream_free(s);
    }
}

/* Under c->mu: the client's stream, opened if needed. */
static stream *stream_get_locked(specx_rpc_client *c)
{
    if (c->st != NULL && !c->st->broken) {
        return c->st;
    }
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
    c->streams++;
    s->refs = 1; /* the client's */
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->md_trail;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    bool ok = stream_batch(s, &op, 1, &s->t_status);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    op.flags = c->cfg.wait_for_ready ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    ok = ok && stream_batch(s, &op, 1, &s->t_md);
    if (ok) {
        s_recv_next_locked(s);
    }
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

/* Under c->mu. */
static specx_status stream_start(specx_rpc_call *k, specx_encoded_frame *frame,
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
    stream_queue_locked(s, rpc_bb_request(frame, k->req_id, budget_us, false));
    if (deadline < c->armed) {
        /* Wake the CQ thread so that it waits until this earlier deadline. */
        stream_batch(s, NULL, 0, &s->t_wake);
    }
    return SPECX_OK;
}

/* CQ thread: completes streamed calls whose deadline has passed; returns the
 * next deadline to wake up at. */
static specx_time_t expire_streamed(specx_rpc_client *c)
{
    specx_time_t now = specx_time_now(), next = SPECX_TIME_NEVER;
    finished fs[16];
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    stream *s = c->st;
    if (s != NULL) {
        specx_rpc_call *k = s->pending;
        while (k != NULL) {
            specx_rpc_call *nx = k->next;
            if (k->deadline <= now && n < sizeof fs / sizeof fs[0]) {
                pending_unlink(s, k);
                stream_send_cancel_locked(s, k->req_id);
                fs[n] = (finished){.call = k, .st = SPECX_ETIMEDOUT};
                snprintf(fs[n].msg, sizeof fs[n].msg, "%s: deadline exceeded (streamed request)",
                         c->cfg.target);
                n++;
            } else if (k->deadline < next) {
                next = k->deadline;
            }
            k = nx;
        }
    }
    if (n == sizeof fs / sizeof fs[0]) {
        next = now; /* more to expire: come back at once */
    }
    c->armed = next;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        finish(&fs[i]);
    }
    return next;
}

/* ---- client ----------------------------------------------------------- */

static void *cq_main(void *arg)
{
    specx_rpc_client *c = arg;
    specx_time_t wake = SPECX_TIME_NEVER;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, rpc_deadline_to_gpr(wake), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            rpc_tag *t = ev.tag;
            t->fn(t, ev.success != 0);
        }
        if (c->cfg.streaming) {
            wake = expire_streamed(c);
        }
    }
    return NULL;
}

specx_status rpc_call_begin(specx_rpc_client *c, specx_encoded_frame *frame, specx_time_t deadline,
                            specx_rpc_done_fn done, void *user,
                            void (*created)(void *arg, specx_rpc_call *call), void *created_arg)
{
    if (c == NULL || frame == NULL || done == NULL) {
        return SPECX_EINVAL;
    }
    specx_rpc_call *k = calloc(1, sizeof *k);
    if (k == NULL) {
        return SPECX_ENOMEM;
    }
    k->c = c;
    k->done = done;
    k->user = user;
    k->streaming = c->cfg.streaming;
    k->details = grpc_empty_slice();
    grpc_metadata_array_init(&k->md_init);
    grpc_metadata_array_init(&k->md_trail);
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        call_free(k);
        return SPECX_ESTOPPED;
    }
    /* Under the lock, so before anything can complete the call. */
    if (created != NULL) {
        created(created_arg, k);
    }
    specx_status st =
        k->streaming ? stream_start(k, frame, deadline) : unary_start(k, frame, deadline);
    if (st == SPECX_OK) {
        c->outstanding++;
    }
    pthread_mutex_unlock(&c->mu);
    if (st != SPECX_OK) {
        call_free(k);
    }
    return st;
}

static void set_out(void *arg, specx_rpc_call *call)
{
    *(specx_rpc_call **)arg = call;
}

specx_status specx_rpc_call_start(specx_rpc_client *c, specx_encoded_frame *frame,
                                  specx_time_t deadline, specx_rpc_done_fn done, void *user,
                                  specx_rpc_call **out)
{
    return rpc_call_begin(c, frame, deadline, done, user, out != NULL ? set_out : NULL, out);
}

void specx_rpc_call_cancel(specx_rpc_call *k)
{
    if (k == NULL) {
        return;
    }
    specx_rpc_client *c = k->c;
    finished f = {.call = NULL};
    pthread_mutex_lock(&c->mu);
    k->cancel_requested = true;
    if (!k->streaming) {
        if (k->gc != NULL) {
            grpc_call_cancel(k->gc, NULL);
        }
    } else if (k->s != NULL) {
        stream *s = k->s;
        pending_unlink(s, k);
        stream_send_cancel_locked(s, k->req_id);
        f.call = k;
        f.st = SPECX_ECANCELED;
        snprintf(f.msg, sizeof f.msg, "%s: cancelled", c->cfg.target);
    }
    pthread_mutex_unlock(&c->mu);
    if (f.call != NULL) {
        finish(&f);
    }
}

specx_status specx_rpc_client_create(const specx_rpc_client_config *cfg, specx_rpc_client **out,
                                     specx_err *err)
{
    if (cfg == NULL || out == NULL || cfg->target[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "client: no target");
    }
    specx_rpc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "client: out of memory");
    }
    c->cfg = *cfg;
    c->armed = SPECX_TIME_NEVER;
    c->next_req_id = 1;
    char *pem = NULL;
    if (cfg->tls_ca[0] != '\0') {
        FILE *f = fopen(cfg->tls_ca, "rb");
        if (f == NULL) {
            free(c);
            return specx_err_set(err, SPECX_ENOTFOUND, "client %s: cannot open tls-ca '%s'",
                                 cfg->target, cfg->tls_ca);
        }
        pem = calloc(1, 1 << 20);
        size_t n = pem != NULL ? fread(pem, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (n == 0) {
            free(pem);
            free(c);
            return specx_err_set(err, SPECX_EFORMAT, "client %s: tls-ca '%s' is empty", cfg->target,
                                 cfg->tls_ca);
        }
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    rpc_global_init();
    int backoff_max = cfg->reconnect_max > 0 ? (int)(cfg->reconnect_max / 1000000) : 1000;
    if (backoff_max < 1) {
        backoff_max = 1;
    }
    grpc_arg args[5];
    memset(args, 0, sizeof args);
    size_t na = 0;
    /* Retry a down server soon (it may be restarting), but leave
     * GRPC_ARG_MIN_RECONNECT_BACKOFF_MS alone: gRPC also uses it as the
     * minimum time a connection attempt gets, and a slow link (or valgrind)
     * needs more than 100 ms for the TCP + HTTP/2 handshake. */
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = backoff_max < 100 ? backoff_max : 100;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = backoff_max;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[na++].value.integer = 64 << 20;
    if (cfg->tls_host[0] != '\0') {
        args[na].type = GRPC_ARG_STRING;
        args[na].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[na++].value.string = c->cfg.tls_host;
    }
    grpc_channel_args ca = {.num_args = na, .args = args};
    grpc_channel_credentials *creds = pem != NULL
                                          ? grpc_ssl_credentials_create(pem, NULL, NULL, NULL)
                                          : grpc_insecure_credentials_create();
    free(pem);
    c->ch = grpc_channel_create(cfg->target, creds, &ca);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    c->reg_sync = grpc_channel_register_call(c->ch, RPC_METHOD_SYNC, NULL, NULL);
    c->reg_stream = grpc_channel_register_call(c->ch, RPC_METHOD_STREAM, NULL, NULL);
    if (pthread_create(&c->thr, NULL, cq_main, c) != 0) {
        grpc_channel_destroy(c->ch);
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(c->cq);
        rpc_global_shutdown();
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        free(c);
        return specx_err_set(err, SPECX_EINTERNAL, "client: cannot start its thread");
    }
    *out = c;
    return SPECX_OK;
}

void specx_rpc_client_destroy(specx_rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    for (specx_rpc_call *k = c->calls; k != NULL; k = k->next) {
        grpc_call_cancel(k->gc, NULL);
    }
    if (c->st != NULL) {
        grpc_call_cancel(c->st->gc, NULL);
    }
    while (c->outstanding > 0) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    if (c->st != NULL) {
        stream *s = c->st;
        c->st = NULL;
        grpc_call_cancel(s->gc, NULL);
        if (stream_unref_locked(s)) {
            stream_free(s);
        }
    }
    while (c->streams > 0) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    grpc_channel_destroy(c->ch);
    grpc_completion_queue_shutdown(c->cq);
    pthread_join(c->thr, NULL);
    grpc_completion_queue_destroy(c->cq);
    rpc_global_shutdown();
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}
