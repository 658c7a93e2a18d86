/* server.c — the detection server: gRPC front end, a bounded work queue
 * ordered by deadline, one detector per worker thread, and the health service.
 *
 * Design notes
 * - One completion queue, one thread (cq_main) draining it: it accepts calls,
 *   parses requests, enqueues jobs and handles every batch completion.
 *   Workers decode + detect, then start the reply batch themselves.
 * - Unary call (ucall): refs = 1 for the RECV_CLOSE batch (which also tells us
 *   about client cancellation and deadline expiry) + 1 for the job and its
 *   reply batch. Freed at 0.
 * - Stream (scall): refs = outstanding batches + live jobs. All batches of a
 *   stream start under scall->mu (gRPC wants start_batch serialised per call);
 *   only one SEND_MESSAGE is in flight, the rest wait in outq.
 * - Queue: binary heap on (deadline, seq) under srv->mu with the statistics.
 *   A worker that pops an already expired or cancelled job answers it without
 *   computing it.
 * - Lock order: scall->mu before srv->mu; never the other way round.
 * - Shutdown: grpc_server_shutdown_and_notify (no new calls), wait for the
 *   notification up to the grace period, then grpc_server_cancel_all_calls
 *   (cancel flags reach the detectors), wait for it, then stop the workers,
 *   then the CQ. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"

#include "internal.h"

#define ARMED_PER_METHOD 8
#define DEFAULT_QUEUE 64
#define DEFAULT_MAX_MSG (16u << 20)

typedef struct server server_t;
typedef struct scall scall;
typedef struct ucall ucall;

typedef enum { JOB_UNARY, JOB_STREAM } job_kind;

typedef struct job {
    job_kind kind;
    uint64_t seq;
    specx_time_t arrival, deadline;
    double recv_wall;
    int32_t req_id;
    atomic_bool cancel;
    uint8_t *data; /* the request's image bytes (owned) */
    size_t len;
    ucall *uc;
    scall *sc;
    struct job *next, *prev; /* scall->jobs list (streams only) */
} job;

struct ucall {
    rpc_tag t_new, t_close, t_send;
    server_t *srv;
    int method; /* 0 sync, 2 health */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    int cancelled;
    atomic_int refs;
    job job; /* embedded: lives as long as the call object */
};

struct scall {
    rpc_tag t_new, t_close, t_recv, t_send, t_md, t_status;
    server_t *srv;
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
    bool server_stopping;        /* end the stream once its work is done */
    bool registered;             /* on srv->streams */
    struct scall *snext, *sprev; /* srv->streams */
    rpc_sendq outq;
    job *jobs; /* live jobs (queued or running) */
};

struct server {
    specx_rpc_server_config cfg;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *m_sync, *m_stream, *m_health;
    pthread_t cq_thread;
    bool cq_started;
    int port;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* workers: queue non-empty or quit */
    pthread_cond_t done_cv; /* stop(): shutdown notification */
    job **heap;
    size_t heap_len, heap_cap;
    uint64_t next_seq;
    bool stopping, quit, shutdown_done, stopped;
    int running;
    specx_rpc_server_stats st;

    rpc_tag t_shutdown;
    pthread_mutex_t streams_mu; /* the stream list; before any scall->mu */
    scall *streams;
    bool streams_stopping;
    int nworkers;
    pthread_t *workers;
    specx_detector **dets;
    int workers_started;
};

struct specx_rpc_server {
    server_t s;
};

#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---- heap ------------------------------------------------------------- */

static bool job_before(const job *a, const job *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_push(server_t *s, job *j)
{
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!job_before(j, s->heap[p])) {
            break;
        }
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = j;
}

static job *heap_pop(server_t *s)
{
    job *top = s->heap[0];
    job *last = s->heap[--s->heap_len];
    size_t i = 0, n = s->heap_len;
    while (n > 0) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && job_before(s->heap[c + 1], s->heap[c])) {
            c++;
        }
        if (!job_before(s->heap[c], last)) {
            break;
        }
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) {
        s->heap[i] = last;
    }
    return top;
}

/* Enqueues or fails with SPECX_EBUSY (queue full) / SPECX_ESTOPPED. */
static specx_status enqueue(server_t *s, job *j)
{
    pthread_mutex_lock(&s->mu);
    if (s->quit) {
        pthread_mutex_unlock(&s->mu);
        return SPECX_ESTOPPED;
    }
    if (s->heap_len >= s->heap_cap) {
        s->st.rejected++;
        pthread_mutex_unlock(&s->mu);
        return SPECX_EBUSY;
    }
    s->st.received++;
    j->seq = s->next_seq++;
    heap_push(s, j);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return SPECX_OK;
}

static void count(server_t *s, uint64_t *ctr)
{
    pthread_mutex_lock(&s->mu);
    (*ctr)++;
    pthread_mutex_unlock(&s->mu);
}

/* ---- replies ---------------------------------------------------------- */

typedef struct reply {
    specx_status st;
    char msg[256];
    specx_detections det;
    double infer_ms, queue_ms;
} reply;

static grpc_byte_buffer *encode_response(const job *j, const reply *r, bool with_status)
{
    size_t n = r->st == SPECX_OK ? r->det.count : 0;
    ObjectDetection__Response resp = OBJECT_DETECTION__RESPONSE__INIT;
    ObjectDetection__DetectedObject *objs = NULL, **ptrs = NULL;
    ObjectDetection__BoundingBox *boxes = NULL;
    if (n > 0) {
        objs = calloc(n, sizeof *objs);
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        ptrs = calloc(n, sizeof *ptrs);
        boxes = calloc(n, sizeof *boxes);
        if (objs == NULL || ptrs == NULL || boxes == NULL) {
            n = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const specx_detection *d = &r->det.items[i];
        object_detection__detected_object__init(&objs[i]);
        object_detection__bounding_box__init(&boxes[i]);
        boxes[i].xmin = d->xmin;
        boxes[i].xmax = d->xmax;
        boxes[i].ymin = d->ymin;
        boxes[i].ymax = d->ymax;
        objs[i].score = d->score;
        objs[i].label = (char *)d->label;
        objs[i].box = &boxes[i];
        objs[i].class_number = d->class_id >= 0 ? d->class_id + 1 : 0;
        ptrs[i] = &objs[i];
    }
    resp.n_detected_objects = n;
    resp.detected_objects = ptrs;
    resp.req_id = j->req_id;
    resp.recv_time = j->recv_wall;
    resp.model = (char *)r->det.model;
    resp.infer_ms = r->infer_ms;
    resp.queue_ms = r->queue_ms;
    if (r->st == SPECX_OK) {
        resp.image_width = r->det.image_width;
        resp.image_height = r->det.image_height;
    }
    if (with_status) {
        resp.status_code = specx_rpc_status_to_grpc(r->st);
        resp.status_message = (char *)(r->st == SPECX_OK ? "" : r->msg);
    }
    size_t len = object_detection__response__get_packed_size(&resp);
    grpc_slice sl = grpc_slice_malloc(len);
    object_detection__response__pack(&resp, GRPC_SLICE_START_PTR(sl));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    free(objs);
    free(ptrs);
    free(boxes);
    return bb;
}

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
    free(u->job.data);
    free(u);
}

/* Sends the unary reply (message if OK) and the status; the caller has taken
 * a ref that the send completion drops. */
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

static void scall_unref_locked(scall *c, bool *free_it)
{
    *free_it = --c->refs == 0;
}

static void scall_free(scall *c)
{
    server_t *s = c->srv;
    if (c->registered) {
        /* Registered in s_on_new; stop() walks this list under streams_mu. */
        pthread_mutex_lock(&s->streams_mu);
        if (c->sprev != NULL) {
            c->sprev->snext = c->snext;
        } else if (s->streams == c) {
            s->streams = c->snext;
        }
        if (c->snext != NULL) {
            c->snext->sprev = c->sprev;
        }
        pthread_mutex_unlock(&s->streams_mu);
    }
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
    rpc_sendq_clear(&c->outq);
    grpc_slice_unref(c->details);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static void scall_start(scall *c, const grpc_op *ops, size_t n, rpc_tag *tag)
{
    c->refs++;
    if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
        c->refs--;
    }
}

/* Under c->mu: send the next queued message, or the final status when all
 * is done. */
static void scall_pump_locked(scall *c)
{
    if (c->sending_bb != NULL || c->status_started) {
        return;
    }
    if (!rpc_sendq_empty(&c->outq) && !c->send_broken && !c->closed_by_peer) {
        c->sending_bb = rpc_sendq_pop(&c->outq);
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = c->sending_bb;
        scall_start(c, &op, 1, &c->t_send);
        return;
    }
    if ((c->recv_done || c->server_stopping) && c->jobs == NULL && !c->closed_by_peer) {
        /* The client half-closed, or the server is stopping: once every
         * request has its reply, end the stream. */
        c->status_started = true;
        c->details = grpc_slice_from_static_string(
            c->recv_done ? "" : "server shutting down: reconnect or use another server");
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        op.data.send_status_from_server.status =
            c->send_broken || !c->recv_done ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_OK;
        op.data.send_status_from_server.status_details = &c->details;
        scall_start(c, &op, 1, &c->t_status);
    }
}

static void scall_push_reply(scall *c, grpc_byte_buffer *bb)
{
    (void)rpc_sendq_push(&c->outq, bb); /* false: out of memory, this reply is lost */
}

/* Delivers a finished job's reply and releases the job. */
static void job_finish(server_t *s, job *j, const reply *r)
{
    (void)s;
    if (j->kind == JOB_UNARY) {
        ucall *u = j->uc;
        grpc_byte_buffer *bb = r->st == SPECX_OK ? encode_response(j, r, false) : NULL;
        ucall_send(u, r->st, r->msg, bb);
        return;
    }
    scall *c = j->sc;
    grpc_byte_buffer *bb = encode_response(j, r, true);
    pthread_mutex_lock(&c->mu);
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        c->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    scall_push_reply(c, bb);
    scall_pump_locked(c);
    bool free_it;
    scall_unref_locked(c, &free_it);
    pthread_mutex_unlock(&c->mu);
    free(j->data);
    free(j);
    if (free_it) {
        scall_free(c);
    }
}

/* ---- workers ---------------------------------------------------------- */

typedef struct worker_arg {
    server_t *s;
    int index;
} worker_arg;

static void run_job(server_t *s, specx_detector *det, job *j, specx_time_t start, reply *r)
{
    r->queue_ms = specx_dur_ms(start - j->arrival);
    /* Expiry first: a deadline passing also cancels the call (gRPC), and such
     * a request counts as expired, not as cancelled by the client. */
    if (start >= j->deadline) {
        r->st = SPECX_ETIMEDOUT;
        snprintf(r->msg, sizeof r->msg,
                 "deadline passed %.1f ms before a worker was free (queued %.1f ms): not "
                 "computed",
                 specx_dur_ms(start - j->deadline), r->queue_ms);
        count(s, &s->st.expired);
        return;
    }
    if (atomic_load(&j->cancel)) {
        r->st = SPECX_ECANCELED;
        snprintf(r->msg, sizeof r->msg, "cancelled by the client before it started");
        count(s, &s->st.cancelled);
        return;
    }
    specx_err err = {{0}};
    specx_image img = {0};
    specx_status st = s->cfg.no_decode
                          ? specx_image_alloc(&img, 1, 1)
                          : specx_image_decode(j->data, j->len, s->cfg.max_pixels, &img, &err);
    if (st != SPECX_OK) {
        r->st = st == SPECX_ETOOBIG ? SPECX_ETOOBIG : SPECX_EINVAL;
        snprintf(r->msg, sizeof r->msg, "image_data (%zu bytes): %s", j->len,
                 specx_err_text(&err, st));
        count(s, &s->st.rejected);
        return;
    }
    st = specx_detector_detect(det, &img, &j->cancel, &r->det, &err);
    specx_image_clear(&img);
    specx_time_t end = specx_time_now();
    r->infer_ms = specx_dur_ms(end - start);
    pthread_mutex_lock(&s->mu);
    specx_hist_record(&s->st.queue_wait, start - j->arrival);
    specx_hist_record(&s->st.compute, end - start);
    if (st == SPECX_OK) {
        s->st.completed++;
    } else if (st == SPECX_ECANCELED) {
        s->st.cancelled++;
    } else {
        s->st.errors++;
    }
    pthread_mutex_unlock(&s->mu);
    r->st = st;
    if (st == SPECX_ECANCELED) {
        snprintf(r->msg, sizeof r->msg, "cancelled by the client during inference");
    } else if (st != SPECX_OK) {
        snprintf(r->msg, sizeof r->msg, "detector: %s", specx_err_text(&err, st));
    }
}

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    server_t *s = wa->s;
    specx_detector *det = s->dets[wa->index];
    free(wa);
    reply r;
    specx_detections_init(&r.det);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->quit && s->heap_len == 0) {
            pthread_cond_wait(&s->cv, &s->mu);
        }
        if (s->heap_len == 0) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        job *j = heap_pop(s);
        s->running++;
        pthread_mutex_unlock(&s->mu);

        specx_detections_reset(&r.det);
        r.det.model[0] = '\0';
        r.det.image_width = r.det.image_height = 0;
        r.infer_ms = r.queue_ms = 0;
        r.msg[0] = '\0';
        run_job(s, det, j, specx_time_now(), &r);
        job_finish(s, j, &r);

        pthread_mutex_lock(&s->mu);
        s->running--;
        pthread_mutex_unlock(&s->mu);
    }
    specx_detections_clear(&r.det);
    return NULL;
}

/* ---- calls ------------------------------------------------------------ */

static void arm_unary(server_t *s, int method);
static void arm_stream(server_t *s);

static void u_on_send(rpc_tag *t, bool ok)
{
    (void)ok;
    ucall_unref(CONTAINER(t, ucall, t_send));
}

static void u_on_close(rpc_tag *t, bool ok)
{
    (void)ok;
    ucall *u = CONTAINER(t, ucall, t_close);
    if (u->cancelled) {
        atomic_store(&u->job.cancel, true);
    }
    ucall_unref(u);
}

/* The health request is HealthCheckRequest{string service = 1}; the reply
 * HealthCheckResponse{ServingStatus status = 1} (SERVING = 1, NOT_SERVING = 2). */
static void handle_health(server_t *s, ucall *u)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char service[128] = "";
    bool bad = false;
    if (u->payload != NULL && rpc_bb_read(u->payload, &data, &len) == SPECX_OK && len > 0) {
        if (data[0] != 0x0a || len < 2 || data[1] >= 0x80 || (size_t)data[1] + 2 != len ||
            data[1] >= sizeof service) {
            bad = true;
        } else {
            memcpy(service, data + 2, data[1]);
            service[data[1]] = '\0';
        }
    }
    free(data);
    count(s, &s->st.health_checks);
    if (bad) {
        ucall_send(u, SPECX_EINVAL, "malformed HealthCheckRequest", NULL);
        return;
    }
    if (service[0] != '\0' && strcmp(service, "object_detection.GRPCImage") != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown service '%s'", service);
        ucall_send(u, SPECX_ENOTFOUND, msg, NULL);
        return;
    }
    pthread_mutex_lock(&s->mu);
    bool serving = !s->stopping;
    pthread_mutex_unlock(&s->mu);
    uint8_t resp[2] = {0x08, serving ? 1 : 2};
    ucall_send(u, SPECX_OK, "", rpc_bb_from_copy(resp, 2));
}

/* Reads Request bytes; fills the job (image bytes copied out). */
static specx_status parse_request(grpc_byte_buffer *bb, bool no_decode, job *j, int64_t *budget_us,
                                  bool *cancel, char *msg, size_t msglen)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (bb == NULL) {
        snprintf(msg, msglen, "no request message");
        return SPECX_EINVAL;
    }
    if (rpc_bb_read(bb, &data, &len) != SPECX_OK) {
        snprintf(msg, msglen, "cannot read the request message");
        return SPECX_EINVAL;
    }
    ObjectDetection__Request *req = object_detection__request__unpack(NULL, len, data);
    free(data);
    if (req == NULL) {
        snprintf(msg, msglen, "request is not a valid object_detection.Request (%zu bytes)", len);
        return SPECX_EINVAL;
    }
    j->req_id = req->req_id;
    *budget_us = req->deadline_budget_us;
    *cancel = req->cancel;
    if (!req->cancel) {
        if (req->image_data.len == 0) {
            object_detection__request__free_unpacked(req, NULL);
            snprintf(msg, msglen, "image_data is empty (expected a JPEG or PNG image)");
            return SPECX_EINVAL;
        }
        if (!no_decode &&
            specx_image_sniff(req->image_data.data, req->image_data.len) == SPECX_FORMAT_UNKNOWN) {
            snprintf(msg, msglen,
                     "image_data (%zu bytes) is neither JPEG nor PNG (first bytes %02x %02x)",
                     req->image_data.len, req->image_data.data[0],
                     req->image_data.len > 1 ? req->image_data.data[1] : 0);
            object_detection__request__free_unpacked(req, NULL);
            return SPECX_EINVAL;
        }
        j->data = malloc(req->image_data.len);
        if (j->data == NULL) {
            object_detection__request__free_unpacked(req, NULL);
            snprintf(msg, msglen, "out of memory");
            return SPECX_ENOMEM;
        }
        memcpy(j->data, req->image_data.data, req->image_data.len);
        j->len = req->image_data.len;
    }
    object_detection__request__free_unpacked(req, NULL);
    return SPECX_OK;
}

static void handle_unary(server_t *s, ucall *u)
{
    job *j = &u->job;
    j->kind = JOB_UNARY;
    j->uc = u;
    j->arrival = specx_time_now();
    j->recv_wall = specx_wall_seconds(specx_wall_now());
    j->deadline = rpc_deadline_from_gpr(u->deadline);
    atomic_init(&j->cancel, false);

    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &u->cancelled;
    atomic_store(&u->refs, 2); /* the RECV_CLOSE batch, and the job with its reply */
    if (grpc_call_start_batch(u->call, &op, 1, &u->t_close, NULL) != GRPC_CALL_OK) {
        atomic_store(&u->refs, 1);
    }
    char msg[256];
    int64_t budget;
    bool cancel;
    specx_status st =
        parse_request(u->payload, s->cfg.no_decode, j, &budget, &cancel, msg, sizeof msg);
    if (st == SPECX_OK && cancel) {
        st = SPECX_EINVAL;
        snprintf(msg, sizeof msg,
                 "cancel is for streams (a unary call is cancelled by "
                 "cancelling the call)");
    }
    if (st == SPECX_OK && budget > 0) {
        specx_time_t d = specx_time_add(j->arrival, SPECX_US(budget));
        j->deadline = d < j->deadline ? d : j->deadline;
    }
    if (st != SPECX_OK) {
        count(s, &s->st.rejected);
        ucall_send(u, st, msg, NULL);
        return;
    }
    st = enqueue(s, j);
    if (st == SPECX_EBUSY) {
        ucall_send(u, st, "server queue full: try again or another server", NULL);
    } else if (st != SPECX_OK) {
        ucall_send(u, st, "server shutting down", NULL);
    }
}

static void u_on_new(rpc_tag *t, bool ok)
{
    ucall *u = CONTAINER(t, ucall, t_new);
    server_t *s = u->srv;
    if (!ok) {
        atomic_store(&u->refs, 1);
        ucall_unref(u);
        return;
    }
    arm_unary(s, u->method);
    if (u->method == 2) {
        atomic_store(&u->refs, 2); /* RECV_CLOSE, and the reply */
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        op.data.recv_close_on_server.cancelled = &u->cancelled;
        if (grpc_call_start_batch(u->call, &op, 1, &u->t_close, NULL) != GRPC_CALL_OK) {
            atomic_store(&u->refs, 1);
        }
        handle_health(s, u);
        return;
    }
    handle_unary(s, u);
}

static void arm_unary(server_t *s, int method)
{
    ucall *u = calloc(1, sizeof *u);
    if (u == NULL) {
        return;
    }
    u->srv = s;
    u->method = method;
    u->t_new.fn = u_on_new;
    u->t_close.fn = u_on_close;
    u->t_send.fn = u_on_send;
    u->details = grpc_empty_slice();
    grpc_metadata_array_init(&u->md);
    if (grpc_server_request_registered_call(s->server, method == 2 ? s->m_health : s->m_sync,
                                            &u->call, &u->deadline, &u->md, &u->payload, s->cq,
                                            s->cq, &u->t_new) != GRPC_CALL_OK) {
        atomic_store(&u->refs, 1);
        ucall_unref(u);
    }
}

/* Streams. */

static void s_done(scall *c)
{
    bool free_it;
    scall_unref_locked(c, &free_it);
    pthread_mutex_unlock(&c->mu);
    if (free_it) {
        scall_free(c);
    }
}

static void s_on_simple(rpc_tag *t, bool ok, size_t off)
{
    (void)ok;
    scall *c = (scall *)((char *)t - off);
    pthread_mutex_lock(&c->mu);
    s_done(c);
}

static void s_on_md(rpc_tag *t, bool ok)
{
    s_on_simple(t, ok, offsetof(scall, t_md));
}
static void s_on_status(rpc_tag *t, bool ok)
{
    s_on_simple(t, ok, offsetof(scall, t_status));
}

static void s_on_close(rpc_tag *t, bool ok)
{
    (void)ok;
    scall *c = CONTAINER(t, scall, t_close);
    pthread_mutex_lock(&c->mu);
    c->closed_by_peer = true;
    if (c->cancelled) {
        for (job *j = c->jobs; j != NULL; j = j->next) {
            atomic_store(&j->cancel, true);
        }
    }
    s_done(c);
}

static void s_on_send(rpc_tag *t, bool ok)
{
    scall *c = CONTAINER(t, scall, t_send);
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer_destroy(c->sending_bb);
    c->sending_bb = NULL;
    if (!ok) {
        c->send_broken = true;
    }
    scall_pump_locked(c);
    s_done(c);
}

static void s_recv_next_locked(scall *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    scall_start(c, &op, 1, &c->t_recv);
}

static void s_on_recv(rpc_tag *t, bool ok)
{
    scall *c = CONTAINER(t, scall, t_recv);
    server_t *s = c->srv;
    grpc_byte_buffer *bb = c->recv_bb;
    c->recv_bb = NULL;
    if (!ok || bb == NULL) {
        pthread_mutex_lock(&c->mu);
        c->recv_done = true;
        scall_pump_locked(c);
        s_done(c);
        return;
    }
    job *j = calloc(1, sizeof *j);
    char msg[256] = "";
    int64_t budget = 0;
    bool cancel = false;
    specx_status st = SPECX_ENOMEM;
    if (j != NULL) {
        j->kind = JOB_STREAM;
        j->sc = c;
        j->arrival = specx_time_now();
        j->recv_wall = specx_wall_seconds(specx_wall_now());
        j->deadline = c->mono_deadline;
        atomic_init(&j->cancel, false);
        st = parse_request(bb, s->cfg.no_decode, j, &budget, &cancel, msg, sizeof msg);
        if (budget > 0) {
            specx_time_t d = specx_time_add(j->arrival, SPECX_US(budget));
            j->deadline = d < j->deadline ? d : j->deadline;
        }
    }
    grpc_byte_buffer_destroy(bb);
    pthread_mutex_lock(&c->mu);
    if (st == SPECX_OK && cancel) {
        for (job *k = c->jobs; k != NULL; k = k->next) {
            if (k->req_id == j->req_id) {
                atomic_store(&k->cancel, true);
            }
        }
        free(j->data);
        free(j);
    } else if (st != SPECX_OK) {
        count(s, &s->st.rejected);
        reply r = {.st = st};
        snprintf(r.msg, sizeof r.msg, "%s", msg);
        specx_detections_init(&r.det);
        job dummy = {.req_id = j != NULL ? j->req_id : 0,
                     .recv_wall = j != NULL ? j->recv_wall : 0};
        scall_push_reply(c, encode_response(&dummy, &r, true));
        if (j != NULL) {
            free(j->data);
            free(j);
        }
    } else if (c->server_stopping) {
        reply r = {.st = SPECX_ESTOPPED};
        snprintf(r.msg, sizeof r.msg, "server shutting down");
        specx_detections_init(&r.det);
        scall_push_reply(c, encode_response(j, &r, true));
        free(j->data);
        free(j);
    } else {
        /* Linked and ref'd before it is visible to workers. */
        j->next = c->jobs;
        if (c->jobs != NULL) {
            c->jobs->prev = j;
        }
        c->jobs = j;
        c->refs++;
        st = enqueue(s, j);
        if (st != SPECX_OK) {
            c->jobs = j->next;
            if (c->jobs != NULL) {
                c->jobs->prev = NULL;
            }
            c->refs--;
            reply r = {.st = st};
            snprintf(r.msg, sizeof r.msg, "%s",
                     st == SPECX_EBUSY ? "server queue full" : "server shutting down");
            specx_detections_init(&r.det);
            scall_push_reply(c, encode_response(j, &r, true));
            free(j->data);
            free(j);
        }
    }
    scall_pump_locked(c);
    s_recv_next_locked(c);
    s_done(c);
}

static void s_on_new(rpc_tag *t, bool ok)
{
    scall *c = CONTAINER(t, scall, t_new);
    server_t *s = c->srv;
    if (!ok) {
        scall_free(c);
        return;
    }
    arm_stream(s);
    count(s, &s->st.streams);
    pthread_mutex_lock(&s->streams_mu);
    c->snext = s->streams;
    if (s->streams != NULL) {
        s->streams->sprev = c;
    }
    s->streams = c;
    c->registered = true;
    bool stopping = s->streams_stopping;
    pthread_mutex_unlock(&s->streams_mu);
    c->mono_deadline = rpc_deadline_from_gpr(c->deadline);
    pthread_mutex_lock(&c->mu);
    c->refs = 1; /* held until the end of this function */
    c->server_stopping = stopping;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    scall_start(c, &op, 1, &c->t_close);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    scall_start(c, &op, 1, &c->t_md);
    s_recv_next_locked(c);
    s_done(c);
}

static void arm_stream(server_t *s)
{
    scall *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return;
    }
    c->srv = s;
    c->t_new.fn = s_on_new;
    c->t_close.fn = s_on_close;
    c->t_recv.fn = s_on_recv;
    c->t_send.fn = s_on_send;
    c->t_md.fn = s_on_md;
    c->t_status.fn = s_on_status;
    c->details = grpc_empty_slice();
    pthread_mutex_init(&c->mu, NULL);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_registered_call(s->server, s->m_stream, &c->call, &c->deadline, &c->md,
                                            NULL, s->cq, s->cq, &c->t_new) != GRPC_CALL_OK) {
        scall_free(c);
    }
}

/* ---- lifecycle -------------------------------------------------------- */

static void on_shutdown(rpc_tag *t, bool ok)
{
    (void)ok;
    server_t *s = CONTAINER(t, server_t, t_shutdown);
    pthread_mutex_lock(&s->mu);
    s->shutdown_done = true;
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
}

static void *cq_main(void *arg)
{
    server_t *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            rpc_tag *t = ev.tag;
            t->fn(t, ev.success != 0);
        }
    }
    return NULL;
}

static char *read_file(const char *path, specx_err *err, specx_status *st)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *st = specx_err_set(err, SPECX_ENOTFOUND, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        *st = specx_err_set(err, SPECX_ENOMEM, "out of memory reading '%s'", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static void server_teardown(server_t *s)
{
    if (s->workers != NULL) {
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < s->workers_started; i++) {
            pthread_join(s->workers[i], NULL);
        }
    }
    if (s->cq != NULL) {
        grpc_completion_queue_shutdown(s->cq);
        if (s->cq_started) {
            pthread_join(s->cq_thread, NULL);
        } else {
            while (
                grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
                GRPC_QUEUE_SHUTDOWN) {
            }
        }
    }
    if (s->server != NULL) {
        grpc_server_destroy(s->server);
        s->server = NULL;
    }
    if (s->cq != NULL) {
        grpc_completion_queue_destroy(s->cq);
        s->cq = NULL;
    }
    for (int i = 0; i < s->nworkers && s->dets != NULL; i++) {
        specx_detector_close(s->dets[i]);
    }
    free(s->dets);
    s->dets = NULL;
    free(s->workers);
    s->workers = NULL;
    free(s->heap);
    s->heap = NULL;
}

specx_status specx_rpc_server_start(const specx_rpc_server_config *cfg, specx_rpc_server **out,
                                    specx_err *err)
{
    if (cfg == NULL || out == NULL || cfg->open_detector == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "server: no config or no detector factory");
    }
    if (cfg->port < 0 || cfg->port > 65535) {
        return specx_err_set(err, SPECX_EINVAL, "server: port %d out of range 0..65535", cfg->port);
    }
    if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server: TLS needs both a certificate and a key file");
    }
    specx_rpc_server *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "server: out of memory");
    }
    server_t *s = &h->s;
    s->cfg = *cfg;
    s->nworkers = cfg->workers > 0 ? cfg->workers : 1;
    s->heap_cap = cfg->queue_capacity > 0 ? (size_t)cfg->queue_capacity : DEFAULT_QUEUE;
    size_t max_msg = cfg->max_message_bytes > 0 ? cfg->max_message_bytes : DEFAULT_MAX_MSG;
    s->t_shutdown.fn = on_shutdown;
    specx_hist_init(&s->st.queue_wait);
    specx_hist_init(&s->st.compute);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_cond_init(&s->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    s->heap = calloc(s->heap_cap, sizeof *s->heap);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    s->dets = calloc((size_t)s->nworkers, sizeof *s->dets);
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    if (s->heap == NULL || s->dets == NULL || s->workers == NULL) {
        free(s->heap);
        free(s->dets);
        free(s->workers);
        free(h);
        return specx_err_set(err, SPECX_ENOMEM, "server: out of memory");
    }
    specx_status st = SPECX_OK;
    for (int i = 0; i < s->nworkers; i++) {
        st = cfg->open_detector(cfg->open_detector_user, i, &s->dets[i], err);
        if (st != SPECX_OK) {
            for (int k = 0; k < i; k++) {
                specx_detector_close(s->dets[k]);
            }
            free(s->heap);
            free(s->dets);
            free(s->workers);
            free(h);
            return st;
        }
    }

    rpc_global_init();
    grpc_arg args[2];
    memset(args, 0, sizeof args);
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = max_msg > INT32_MAX ? INT32_MAX : (int)max_msg;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_ALLOW_REUSEPORT; /* a taken port must fail, not be shared */
    args[1].value.integer = 0;
    grpc_channel_args ch_args = {.num_args = 2, .args = args};
    s->server = grpc_server_create(&ch_args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    s->m_sync = grpc_server_register_method(s->server, RPC_METHOD_SYNC, NULL,
                                            GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    s->m_stream =
        grpc_server_register_method(s->server, RPC_METHOD_STREAM, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    s->m_health = grpc_server_register_method(s->server, RPC_METHOD_HEALTH, NULL,
                                              GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);

    const char *bind = cfg->bind != NULL && cfg->bind[0] != '\0' ? cfg->bind : "0.0.0.0";
    char addr[300];
    bool v6 = strchr(bind, ':') != NULL && bind[0] != '[';
    snprintf(addr, sizeof addr, v6 ? "[%s]:%d" : "%s:%d", bind, cfg->port);
    grpc_server_credentials *creds = NULL;
    if (cfg->tls_cert_file != NULL) {
        char *cert = read_file(cfg->tls_cert_file, err, &st);
        char *key = cert != NULL ? read_file(cfg->tls_key_file, err, &st) : NULL;
        if (key != NULL) {
            grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
            creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
        }
        free(cert);
        free(key);
        if (creds == NULL && st == SPECX_OK) {
            st = specx_err_set(err, SPECX_EINVAL, "server: bad TLS certificate/key");
        }
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    if (st == SPECX_OK) {
        s->port = grpc_server_add_http2_port(s->server, addr, creds);
        grpc_server_credentials_release(creds);
        if (s->port == 0) {
            st = specx_err_set(err, SPECX_EUNAVAILABLE,
                               "server: cannot listen on %s (address in use, or not local?)", addr);
        }
    }
    if (st != SPECX_OK) {
        server_teardown(s);
        rpc_global_shutdown();
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->streams_mu);
        pthread_cond_destroy(&s->cv);
        pthread_cond_destroy(&s->done_cv);
        free(h);
        return st;
    }
    grpc_server_start(s->server);
    for (int i = 0; i < ARMED_PER_METHOD; i++) {
        arm_unary(s, 0);
        arm_stream(s);
    }
    arm_unary(s, 2);
    arm_unary(s, 2);
    for (int i = 0; i < s->nworkers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa == NULL) {
            break;
        }
        wa->s = s;
        wa->index = i;
        if (pthread_create(&s->workers[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        s->workers_started++;
    }
    if (pthread_create(&s->cq_thread, NULL, cq_main, s) == 0) {
        s->cq_started = true;
    }
    if (!s->cq_started || s->workers_started == 0) {
        specx_rpc_server_destroy(h);
        return specx_err_set(err, SPECX_EINTERNAL, "server: cannot start threads");
    }
    *out = h;
    return SPECX_OK;
}

int specx_rpc_server_port(const specx_rpc_server *h)
{
    return h->s.port;
}

void specx_rpc_server_stop(specx_rpc_server *h, specx_dur_t grace)
{
    server_t *s = &h->s;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        while (!s->stopped) {
            pthread_cond_wait(&s->done_cv, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);

    grpc_server_shutdown_and_notify(s->server, s->cq, &s->t_shutdown);
    /* Open streams end as soon as their queued work is answered, so that
     * clients reconnect elsewhere instead of waiting out the grace period. */
    pthread_mutex_lock(&s->streams_mu);
    s->streams_stopping = true;
    for (scall *c = s->streams; c != NULL; c = c->snext) {
        pthread_mutex_lock(&c->mu);
        if (c->refs > 0) {
            c->server_stopping = true;
            scall_pump_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_unlock(&s->streams_mu);
    specx_time_t until = specx_time_add(specx_time_mono(), grace > 0 ? grace : 0);
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done) {
        if (pthread_cond_timedwait(&s->done_cv, &s->mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->mu);
    if (!done) {
        /* Grace is over: cancel what is left; cancel flags reach the detectors. */
        grpc_server_cancel_all_calls(s->server);
        pthread_mutex_lock(&s->mu);
        while (!s->shutdown_done) {
            pthread_cond_wait(&s->done_cv, &s->mu);
        }
        pthread_mutex_unlock(&s->mu);
    }
    server_teardown(s);
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    pthread_cond_broadcast(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
}

void specx_rpc_server_destroy(specx_rpc_server *h)
{
    if (h == NULL) {
        return;
    }
    specx_rpc_server_stop(h, 0);
    rpc_global_shutdown();
    pthread_mutex_destroy(&h->s.mu);
    pthread_mutex_destroy(&h->s.streams_mu);
    pthread_cond_destroy(&h->s.cv);
    pthread_cond_destroy(&h->s.done_cv);
    free(h);
}

void specx_rpc_server_get_stats(specx_rpc_server *h, specx_rpc_server_stats *out)
{
    pthread_mutex_lock(&h->s.mu);
    *out = h->s.st;
    out->queue_len = h->s.heap_len;
    pthread_mutex_unlock(&h->s.mu);
}

static cJSON *hist_json(const specx_hist *hh)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)hh->count);
    cJSON_AddNumberToObject(o, "mean_ms", specx_hist_mean(hh) / 1e6);
    cJSON_AddNumberToObject(o, "p50_ms", (double)specx_hist_quantile(hh, 0.5) / 1e6);
    cJSON_AddNumberToObject(o, "p90_ms", (double)specx_hist_quantile(hh, 0.9) / 1e6);
    cJSON_AddNumberToObject(o, "p99_ms", (double)specx_hist_quantile(hh, 0.99) / 1e6);
    cJSON_AddNumberToObject(o, "max_ms", (double)specx_hist_quantile(hh, 1.0) / 1e6);
    return o;
}

char *specx_rpc_server_stats_json(specx_rpc_server *h)
{
    specx_rpc_server_stats *st = malloc(sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    specx_rpc_server_get_stats(h, st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "port", h->s.port);
    cJSON_AddNumberToObject(o, "workers", h->s.nworkers);
    cJSON_AddNumberToObject(o, "received", (double)st->received);
    cJSON_AddNumberToObject(o, "completed", (double)st->completed);
    cJSON_AddNumberToObject(o, "expired_before_start", (double)st->expired);
    cJSON_AddNumberToObject(o, "cancelled", (double)st->cancelled);
    cJSON_AddNumberToObject(o, "rejected", (double)st->rejected);
    cJSON_AddNumberToObject(o, "errors", (double)st->errors);
    cJSON_AddNumberToObject(o, "health_checks", (double)st->health_checks);
    cJSON_AddNumberToObject(o, "streams", (double)st->streams);
    cJSON_AddNumberToObject(o, "queue_len", (double)st->queue_len);
    cJSON_AddItemToObject(o, "queue_wait", hist_json(&st->queue_wait));
    cJSON_AddItemToObject(o, "compute", hist_json(&st->compute));
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(st);
    return txt;
}
