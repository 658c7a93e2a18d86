/* uplink.c — frames to servers: scaled to each server's model input and
 * JPEG-encoded once per size, on the uplink thread (pipeline/uplink.h).
 *
 * Design notes
 *  - One lock (u->mu) guards the job queue, every frame's encodings and
 *    every call's state. A frame's pixel lock (f->pix) is taken only by the
 *    uplink thread while it reads the pixels and by retire, never together
 *    with u->mu.
 *  - A call (ucall) is WAITING for its encoding, STARTING (being handed to
 *    the gRPC client, outside the lock), STARTED (rc valid) or DONE. cancel()
 *    completes a WAITING call itself, waits out STARTING (specx_rpc_call_start
 *    never blocks on the network) and cancels a STARTED call on the wire.
 *    rc stays valid through that cancel: the rpc callback completes the
 *    operator's call, and the operator makes a completion wait for a
 *    concurrent cancel() of the same call (executor.h, operator.h).
 *  - refs of a ucall: 1 until its end (its gRPC callback returned, or its
 *    completion when it never went out), +1 while a thread is starting it. refs of a frame: 1 for
 * the pipeline's frame, +1 per queued job. An encoding lives as long as its frame.
 *  - A job whose callers were all cancelled (or that is popped after the
 *    frame was retired) is skipped; a later call for that size queues it
 *    again.
 *  - Learning a server's size: only a reply with detections tells it, and a
 *    unary call cut at its deadline gets none; with a deadline shorter than
 *    the server's time every call would be cut, the size never learnt, and
 *    every frame sent whole. So while a server's size is unknown, one call
 *    at a time is a probe: it goes out with a wire deadline of at least
 *    PROBE_WIRE_S, and when the operator cancels it, its operator call
 *    completes at once (ECANCELED) but the gRPC call is left to finish
 *    ("detached"); its reply teaches the client the size and is dropped. A
 *    server whose reply has detections but no size (an old server, a model
 *    of any size) gets whole frames from then on, and no more probes. */
#include "pipeline/uplink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"
#include "specx/detection.h"

#define PROBE_WIRE_S 10 /* a probe's wire deadline is at least this far away */

typedef enum { E_QUEUED, E_RUNNING, E_DONE, E_FAILED, E_SKIPPED } enc_state;
typedef enum { C_WAITING, C_STARTING, C_STARTED, C_DONE } call_state;

typedef struct ucall ucall;

typedef struct enc {
    int w, h; /* the size sent (the frame's own for a whole frame) */
    enc_state state;
    specx_encoded_frame *jpeg; /* E_DONE */
    specx_status st;           /* E_FAILED */
    char msg[200];
    ucall *waiters;
    struct enc *next;
} enc;

struct sx_uplink_frame {
    atomic_int refs;
    const specx_image *img;
    int width, height;
    pthread_mutex_t pix;
    bool retired; /* under pix */
    enc *encs;    /* under the uplink's lock */
};

typedef struct job {
    sx_uplink_frame *f;
    enc *e;
    struct job *next;
} job;

struct sx_uplink {
    int quality;
    bool full_frames;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a job, or stop */
    pthread_cond_t left_cv; /* a call left STARTING */
    pthread_cond_t idle_cv; /* the queue ran empty */
    job *head, *tail;
    bool busy; /* a job is being run */
    bool stop;
    sx_uplink_work work; /* under mu */
};

typedef struct uexec {
    sx_uplink *u;
    specx_rpc_client *client;
    atomic_bool probing;     /* a probe call is out (see the design notes) */
    atomic_bool size_untold; /* a probe's reply had detections but no size */
    atomic_uint_fast64_t frames, scaled, bytes;
} uexec;

struct ucall {
    specx_call *call;
    uexec *x;
    specx_time_t deadline;      /* the operator's */
    specx_time_t wire_deadline; /* the gRPC call's: later for a probe */
    bool probe;
    bool detached; /* under u->mu: a probe whose operator call is over */
    int sent_w, sent_h, frame_w, frame_h;
    call_state state;   /* under u->mu */
    specx_rpc_call *rc; /* C_STARTED */
    enc *e;             /* C_WAITING: in e->waiters */
    ucall *next;
    atomic_int refs;
};

/* ---- frames ------------------------------------------------------------- */

sx_uplink_frame *sx_uplink_frame_create(const specx_image *img)
{
    sx_uplink_frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    atomic_init(&f->refs, 1);
    f->img = img;
    f->width = img->width;
    f->height = img->height;
    pthread_mutex_init(&f->pix, NULL);
    return f;
}

void sx_uplink_frame_retire(sx_uplink_frame *f)
{
    pthread_mutex_lock(&f->pix);
    f->retired = true;
    pthread_mutex_unlock(&f->pix);
}

void sx_uplink_frame_unref(sx_uplink_frame *f)
{
    if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1) {
        return;
    }
    for (enc *e = f->encs, *next; e != NULL; e = next) {
        next = e->next;
        specx_encoded_frame_unref(e->jpeg);
        free(e);
    }
    pthread_mutex_destroy(&f->pix);
    free(f);
}

/* Scales to w x h (unless that is the frame's size) and encodes. The pixels
 * are read under f->pix, and not at all once the frame is retired. */
static specx_status encode(const sx_uplink *u, sx_uplink_frame *f, int w, int h,
                           specx_encoded_frame **out, char *msg, size_t msglen)
{
    specx_err err = {{0}};
    specx_image small = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    specx_status st = SPECX_OK;
    bool whole = w == f->width && h == f->height;
    pthread_mutex_lock(&f->pix);
    if (f->retired) {
        st = specx_err_set(&err, SPECX_ECANCELED, "frame delivered before it was encoded");
    } else if (whole) {
        st = specx_jpeg_encode(f->img, u->quality, &buf, &len, &err);
    } else {
        st = specx_image_resize(f->img, w, h, &small, &err);
    }
    pthread_mutex_unlock(&f->pix);
    if (st == SPECX_OK && !whole) {
        /* Full chroma: the letterbox samples a whole frame's 4:2:0 chroma
         * at about the model's resolution, so halving it at that size would
         * give the network less colour detail than it had (+18 % bytes). */
        st = specx_jpeg_encode_chroma(&small, u->quality, SPECX_CHROMA_444, &buf, &len, &err);
    }
    specx_image_clear(&small);
    if (st == SPECX_OK && specx_encoded_frame_take(buf, len, out) != SPECX_OK) {
        st = specx_err_set(&err, SPECX_ENOMEM, "out of memory");
    }
    if (st != SPECX_OK) {
        free(buf);
        snprintf(msg, msglen, "frame for the server (%dx%d): %s", w, h, specx_err_text(&err, st));
    }
    return st;
}

/* ---- calls -------------------------------------------------------------- */

static void ucall_unref(ucall *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1) {
        free(c);
    }
}

/* The call ends here without a result (c is C_STARTING or was C_WAITING). */
static void finish(ucall *c, specx_status st, const char *msg)
{
    sx_uplink *u = c->x->u;
    if (c->probe) {
        atomic_store(&c->x->probing, false); /* it never went out */
    }
    pthread_mutex_lock(&u->mu);
    c->state = C_DONE;
    pthread_cond_broadcast(&u->left_cv);
    pthread_mutex_unlock(&u->mu);
    specx_call_complete(c->call, st, NULL, msg);
    ucall_unref(c);
}

static void rpc_done(void *user, specx_status st, specx_detections *result, const char *msg)
{
    ucall *c = user;
    sx_uplink *u = c->x->u;
    if (result != NULL && (c->sent_w != c->frame_w || c->sent_h != c->frame_h)) {
        /* Boxes refer to the image sent, whatever a server says its size is. */
        specx_detections_rescale(result, c->sent_w, c->sent_h, c->frame_w, c->frame_h);
    }
    pthread_mutex_lock(&u->mu);
    bool detached = c->detached;
    c->state = C_DONE;
    c->rc = NULL;
    pthread_cond_broadcast(&u->left_cv);
    pthread_mutex_unlock(&u->mu);
    if (c->probe) {
        int mw, mh;
        if (result != NULL && !specx_rpc_client_model_input(c->x->client, &mw, &mh)) {
            atomic_store(&c->x->size_untold, true); /* an old server: no more probes */
        }
        atomic_store(&c->x->probing, false); /* the client has its answer, if any */
    }
    if (detached) {
        specx_detections_destroy(result); /* its operator call is long over */
    } else {
        specx_call_complete(c->call, st, result, msg);
    }
    ucall_unref(c);
}

/* c is C_STARTING: hands it to the gRPC client. On error the call was not
 * started (c stays C_STARTING; the caller ends it). */
static specx_status start_rpc(ucall *c, specx_encoded_frame *jpeg)
{
    uexec *x = c->x;
    sx_uplink *u = x->u;
    /* Counted first: once started, the reply (and everything it releases)
     * can come before call_start returns. */
    size_t size = specx_encoded_frame_size(jpeg);
    bool scaled = c->sent_w != c->frame_w || c->sent_h != c->frame_h;
    atomic_fetch_add(&x->frames, 1);
    atomic_fetch_add(&x->bytes, size);
    atomic_fetch_add(&x->scaled, scaled);
    atomic_fetch_add(&c->refs, 1); /* ours, while we touch c after the start */
    specx_rpc_call *rc = NULL;
    specx_status st = specx_rpc_call_start(x->client, jpeg, c->wire_deadline, rpc_done, c, &rc);
    if (st != SPECX_OK) {
        /* not started: no callback will come, the caller still owns c */
        atomic_fetch_sub(&c->refs, 1);
        atomic_fetch_sub(&x->frames, 1);
        atomic_fetch_sub(&x->bytes, size);
        atomic_fetch_sub(&x->scaled, scaled);
        return st;
    }
    pthread_mutex_lock(&u->mu);
    if (c->state == C_STARTING) { /* else its reply is already in */
        c->rc = rc;
        c->state = C_STARTED;
        pthread_cond_broadcast(&u->left_cv);
    }
    pthread_mutex_unlock(&u->mu);
    ucall_unref(c);
    return SPECX_OK;
}

/* The uplink thread, e finished: start or end every call that waited. */
static void release_waiters(ucall *w, const enc *e)
{
    for (ucall *c = w, *next; c != NULL; c = next) {
        next = c->next;
        c->next = NULL;
        if (e->state != E_DONE) {
            finish(c, e->st, e->msg);
        } else if (specx_time_now() >= c->deadline) {
            finish(c, SPECX_ETIMEDOUT, "deadline passed before the frame was encoded");
        } else {
            specx_status st = start_rpc(c, e->jpeg);
            if (st != SPECX_OK) {
                char msg[96];
                snprintf(msg, sizeof msg, "cannot start the call: %s", specx_strerror(st));
                finish(c, st, msg);
            }
        }
    }
}

/* ---- the uplink thread ---------------------------------------------------- */

/* u->mu held: runs one job (dropping the lock while it encodes). */
static void run_job(sx_uplink *u, job *j)
{
    enc *e = j->e;
    sx_uplink_frame *f = j->f;
    if (e->waiters == NULL) {
        e->state = E_SKIPPED; /* everyone who wanted it was cancelled */
        u->work.skipped++;
    } else {
        e->state = E_RUNNING;
        pthread_mutex_unlock(&u->mu);
        specx_encoded_frame *jpeg = NULL;
        char msg[sizeof e->msg];
        specx_time_t t0 = specx_time_now();
        specx_status st = encode(u, f, e->w, e->h, &jpeg, msg, sizeof msg);
        specx_dur_t took = specx_time_now() - t0;
        pthread_mutex_lock(&u->mu);
        if (st == SPECX_OK) {
            u->work.encodes++;
            specx_hist_record(&u->work.encode_ns, took);
        } else {
            u->work.skipped += st == SPECX_ECANCELED;
        }
        e->state = st == SPECX_OK ? E_DONE : E_FAILED;
        e->jpeg = jpeg;
        e->st = st;
        snprintf(e->msg, sizeof e->msg, "%s", st == SPECX_OK ? "" : msg);
        ucall *w = e->waiters;
        e->waiters = NULL;
        for (ucall *c = w; c != NULL; c = c->next) {
            c->state = C_STARTING;
            c->e = NULL;
        }
        pthread_mutex_unlock(&u->mu);
        release_waiters(w, e);
        pthread_mutex_lock(&u->mu);
    }
    pthread_mutex_unlock(&u->mu);
    sx_uplink_frame_unref(f);
    free(j);
    pthread_mutex_lock(&u->mu);
}

static void *uplink_main(void *arg)
{
    sx_uplink *u = arg;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        while (!u->stop && u->head == NULL) {
            pthread_cond_wait(&u->cv, &u->mu);
        }
        job *j = u->head;
        if (j == NULL) {
            break; /* stopping, nothing left */
        }
        u->head = j->next;
        if (u->head == NULL) {
            u->tail = NULL;
        }
        u->busy = true;
        run_job(u, j);
        u->busy = false;
        if (u->head == NULL) {
            pthread_cond_broadcast(&u->idle_cv);
        }
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

/* u->mu held: queues e of f. */
static bool queue_job(sx_uplink *u, sx_uplink_frame *f, enc *e)
{
    job *j = malloc(sizeof *j);
    if (j == NULL) {
        return false;
    }
    atomic_fetch_add(&f->refs, 1);
    *j = (job){.f = f, .e = e};
    if (u->tail != NULL) {
        u->tail->next = j;
    } else {
        u->head = j;
    }
    u->tail = j;
    e->state = E_QUEUED;
    pthread_cond_signal(&u->cv);
    return true;
}

specx_status sx_uplink_create(int jpeg_quality, bool full_frames, sx_uplink **out, specx_err *err)
{
    sx_uplink *u = calloc(1, sizeof *u);
    if (u == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    u->quality = jpeg_quality;
    u->full_frames = full_frames;
    specx_hist_init(&u->work.encode_ns);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    pthread_cond_init(&u->left_cv, NULL);
    pthread_cond_init(&u->idle_cv, NULL);
    if (pthread_create(&u->thread, NULL, uplink_main, u) != 0) {
        pthread_cond_destroy(&u->idle_cv);
        pthread_cond_destroy(&u->left_cv);
        pthread_cond_destroy(&u->cv);
        pthread_mutex_destroy(&u->mu);
        free(u);
        return specx_err_set(err, SPECX_EINTERNAL, "cannot start the uplink thread");
    }
    *out = u;
    return SPECX_OK;
}

void sx_uplink_destroy(sx_uplink *u)
{
    if (u == NULL) {
        return;
    }
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->thread, NULL);
    pthread_cond_destroy(&u->idle_cv);
    pthread_cond_destroy(&u->left_cv);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

void sx_uplink_wait_idle(sx_uplink *u)
{
    pthread_mutex_lock(&u->mu);
    while (u->head != NULL || u->busy) {
        pthread_cond_wait(&u->idle_cv, &u->mu);
    }
    pthread_mutex_unlock(&u->mu);
}

void sx_uplink_work_get(sx_uplink *u, sx_uplink_work *out)
{
    pthread_mutex_lock(&u->mu);
    *out = u->work;
    pthread_mutex_unlock(&u->mu);
}

/* ---- the executor ---------------------------------------------------------- */

/* The size this server gets f at: its model's letterbox, or the whole
 * frame (size unknown, or a model larger than the frame). Returns false
 * when the size is unknown. */
static bool target_size(const uexec *x, const sx_uplink_frame *f, int *w, int *h)
{
    int mw, mh, fw, fh;
    *w = f->width;
    *h = f->height;
    if (x->u->full_frames) {
        return true;
    }
    if (!specx_rpc_client_model_input(x->client, &mw, &mh)) {
        return atomic_load(&x->size_untold); /* whole frames, no probe */
    }
    specx_image_fit_size(f->width, f->height, mw, mh, &fw, &fh);
    if (fw <= f->width && fh <= f->height) {
        *w = fw;
        *h = fh;
    }
    return true;
}

/* u->mu held: f's encoding at w x h, created and queued if needed. */
static enc *enc_get(sx_uplink *u, sx_uplink_frame *f, int w, int h)
{
    enc *e = f->encs;
    while (e != NULL && (e->w != w || e->h != h)) {
        e = e->next;
    }
    if (e == NULL) {
        e = calloc(1, sizeof *e);
        if (e == NULL) {
            return NULL;
        }
        e->w = w;
        e->h = h;
        e->state = E_SKIPPED;
        e->next = f->encs;
        f->encs = e;
    }
    if (e->state == E_SKIPPED && !queue_job(u, f, e)) {
        return NULL;
    }
    return e;
}

static specx_status x_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    uexec *x = ctx;
    sx_uplink *u = x->u;
    sx_uplink_frame *f = request;
    if (f == NULL) {
        return SPECX_EINVAL;
    }
    ucall *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return SPECX_ENOMEM;
    }
    *c = (ucall){.call = call,
                 .x = x,
                 .deadline = deadline,
                 .wire_deadline = deadline,
                 .frame_w = f->width,
                 .frame_h = f->height};
    atomic_init(&c->refs, 1);
    if (!target_size(x, f, &c->sent_w, &c->sent_h) && !atomic_exchange(&x->probing, true)) {
        c->probe = true;
        specx_time_t later = specx_time_add(specx_time_now(), SPECX_SEC(PROBE_WIRE_S));
        c->wire_deadline = deadline > later ? deadline : later;
    }
    specx_call_set_data(call, c);
    pthread_mutex_lock(&u->mu);
    enc *e = enc_get(u, f, c->sent_w, c->sent_h);
    specx_status st = e == NULL ? SPECX_ENOMEM : e->state == E_FAILED ? e->st : SPECX_OK;
    if (st == SPECX_OK && e->state == E_DONE) {
        c->state = C_STARTING;
        pthread_mutex_unlock(&u->mu);
        st = start_rpc(c, e->jpeg); /* e->jpeg is immutable once done */
    } else if (st == SPECX_OK) {
        c->state = C_WAITING;
        c->e = e;
        c->next = e->waiters;
        e->waiters = c;
        pthread_mutex_unlock(&u->mu);
    } else {
        pthread_mutex_unlock(&u->mu);
    }
    if (st != SPECX_OK) {
        if (c->probe) {
            atomic_store(&x->probing, false);
        }
        specx_call_set_data(call, NULL);
        ucall_unref(c);
    }
    return st;
}

static void x_cancel(void *ctx, specx_call *call)
{
    sx_uplink *u = ((uexec *)ctx)->u;
    ucall *c = specx_call_data(call);
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&u->mu);
    if (c->state == C_WAITING) {
        ucall **pp = &c->e->waiters;
        while (*pp != c) {
            pp = &(*pp)->next;
        }
        *pp = c->next;
        c->e = NULL;
        pthread_mutex_unlock(&u->mu);
        finish(c, SPECX_ECANCELED, "cancelled before the frame was encoded");
        return;
    }
    while (c->state == C_STARTING) {
        pthread_cond_wait(&u->left_cv, &u->mu);
    }
    specx_rpc_call *rc = c->state == C_STARTED ? c->rc : NULL;
    bool detach = rc != NULL && c->probe;
    c->detached = detach;
    pthread_mutex_unlock(&u->mu);
    if (detach) {
        /* the call goes on; rpc_done drops its reply and the last ref */
        specx_call_complete(call, SPECX_ECANCELED, NULL,
                            "cancelled (left to finish on the server, to learn its model's "
                            "input size)");
        return;
    }
    specx_rpc_call_cancel(rc); /* NULL-safe */
}

static void x_free_result(void *ctx, void *result)
{
    (void)ctx;
    specx_detections_destroy(result);
}

static void x_destroy(void *ctx)
{
    uexec *x = ctx;
    specx_rpc_client_destroy(x->client);
    free(x);
}

static const specx_executor_ops uplink_exec_ops = {
    .start = x_start,
    .cancel = x_cancel,
    .free_result = x_free_result,
    .destroy = x_destroy,
};

specx_status sx_uplink_executor_create(sx_uplink *u, const specx_rpc_client_config *cfg,
                                       specx_executor *out, specx_err *err)
{
    uexec *x = calloc(1, sizeof *x);
    if (x == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    specx_status st = specx_rpc_client_create(cfg, &x->client, err);
    if (st != SPECX_OK) {
        free(x);
        return st;
    }
    x->u = u;
    atomic_init(&x->probing, false);
    atomic_init(&x->size_untold, false);
    atomic_init(&x->frames, 0);
    atomic_init(&x->scaled, 0);
    atomic_init(&x->bytes, 0);
    *out = (specx_executor){.ops = &uplink_exec_ops, .ctx = x};
    return SPECX_OK;
}

size_t sx_uplink_executor_backends(const specx_executor *ex, specx_rpc_backend_stats *out,
                                   size_t max)
{
    const uexec *x = ex->ctx;
    return specx_rpc_client_backends(x->client, out, max);
}

void sx_uplink_executor_link(const specx_executor *ex, specx_rpc_link *out)
{
    const uexec *x = ex->ctx;
    specx_rpc_client_link(x->client, out);
}

void sx_uplink_executor_counts(const specx_executor *ex, sx_uplink_counts *out)
{
    uexec *x = ex->ctx;
    *out = (sx_uplink_counts){.frames = atomic_load(&x->frames),
                              .scaled = atomic_load(&x->scaled),
                              .bytes = atomic_load(&x->bytes)};
}
