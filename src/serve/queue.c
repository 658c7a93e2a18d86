/* queue.c — the server's work queue (the fair order of serve/fairq.h
 * behind a lock) and its workers (see serve/queue.h). Jobs to answer
 * without computing (evicted, expired, cancelled) come out of the fair
 * queue first, so the next free worker answers them at once; push cannot
 * answer an evicted job itself, as its done callback may take a stream lock
 * that the pushing thread already holds. */
#include "serve/queue.h"

#include <stdio.h>
#include <stdlib.h>

#include "specx/codec.h"

#define DEFAULT_QUEUE 64

void sx_serve_job_init(sx_serve_job *j, specx_time_t deadline, sx_serve_job_done_fn done)
{
    sx_heap_node_init(&j->node);
    j->arrival = specx_time_now();
    j->recv_wall = specx_wall_seconds(specx_wall_now());
    j->deadline = deadline;
    j->req = (sx_rpc_request){0};
    j->client[0] = '\0';
    j->evicted = false;
    j->next_unstarted = NULL;
    atomic_init(&j->cancel, false);
    j->done = done;
    j->identity[0] = '\0';
}

void sx_serve_job_set_client(sx_serve_job *j, const char *key)
{
    snprintf(j->client, sizeof j->client, "%s", key != NULL ? key : "");
}

/* The image is there, is JPEG or PNG, and its header says it decodes to
 * no more than max_pixels: checked on arrival, so an image too large to
 * decode never reaches a worker. */
static specx_status check_image(const sx_rpc_request *r, bool no_decode, size_t max_pixels,
                                char *msg, size_t msglen)
{
    if (r->image_len == 0) {
        snprintf(msg, msglen, "image_data is empty (expected a JPEG or PNG image)");
        return SPECX_EINVAL;
    }
    if (no_decode) {
        return SPECX_OK;
    }
    if (specx_image_sniff(r->image, r->image_len) == SPECX_FORMAT_UNKNOWN) {
        snprintf(msg, msglen,
                 "image_data (%zu bytes) is neither JPEG nor PNG (first bytes %02x %02x)",
                 r->image_len, r->image[0], r->image_len > 1 ? r->image[1] : 0);
        return SPECX_EINVAL;
    }
    int w = 0, h = 0;
    specx_err err = {{0}};
    specx_status st = specx_image_probe(r->image, r->image_len, &w, &h, &err);
    if (st != SPECX_OK) {
        snprintf(msg, msglen, "image_data (%zu bytes): %s", r->image_len, specx_err_text(&err, st));
        return SPECX_EINVAL;
    }
    if ((uint64_t)w * (uint64_t)h > max_pixels) {
        snprintf(msg, msglen,
                 "image_data is %dx%d (%.1f Mpixel), over the server's limit of %zu pixels "
                 "(--max-mpixels)",
                 w, h, (double)w * h / 1e6, max_pixels);
        return SPECX_ETOOBIG;
    }
    return SPECX_OK;
}

specx_status sx_serve_job_parse(sx_serve_job *j, grpc_byte_buffer *bb, bool no_decode,
                                size_t max_pixels, char *msg, size_t msglen)
{
    if (bb == NULL) {
        snprintf(msg, msglen, "no request message");
        return SPECX_EINVAL;
    }
    specx_status st = sx_rpc_request_decode(bb, &j->req, msg, msglen);
    if (st != SPECX_OK) {
        return st;
    }
    if (!j->req.cancel &&
        (st = check_image(&j->req, no_decode, max_pixels, msg, msglen)) != SPECX_OK) {
        /* keep req_id: a stream answers the error in-band under it */
        int32_t id = j->req.req_id;
        sx_rpc_request_clear(&j->req);
        j->req.req_id = id;
        return st;
    }
    /* A budget too large for the clock (1e16 us and up overflow ns) is no
     * tighter than none: saturate instead of wrapping into the past. */
    int64_t budget = j->req.deadline_budget_us;
    if (budget > 0 && budget < (SPECX_TIME_NEVER - j->arrival) / 1000) {
        specx_time_t d = j->arrival + SPECX_US(budget);
        j->deadline = d < j->deadline ? d : j->deadline;
    }
    return SPECX_OK;
}

/* ---- workers ---------------------------------------------------------- */

/* A successful inference took d: the shortest in the last 32 to 64 of them
 * (two blocks of 32) is what no request can beat. */
static void note_compute(sx_serve_queue *q, specx_dur_t d)
{
    pthread_mutex_lock(&q->mu);
    if (q->block_n == 0 || d < q->block_min) {
        q->block_min = d;
    }
    q->block_n++;
    q->least = q->have_prev && q->prev_block_min < q->block_min ? q->prev_block_min : q->block_min;
    if (q->block_n == 32) {
        q->prev_block_min = q->block_min;
        q->have_prev = true;
        q->block_n = 0;
    }
    pthread_mutex_unlock(&q->mu);
}

/* Answers without computing: expired, unable to finish by its deadline, or
 * cancelled before a worker was free. Returns false when the job is to be
 * computed. */
static bool answer_unstarted(sx_serve_queue *q, const sx_serve_job *j, specx_time_t start,
                             specx_dur_t least, sx_serve_reply *r)
{
    if (j->evicted) {
        r->st = SPECX_EBUSY;
        snprintf(r->msg, sizeof r->msg,
                 "server queue full: dropped for a client with fewer queued requests (queued "
                 "%.1f ms); try again or another server",
                 r->queue_ms);
        sx_serve_stats_count(q->stats, SX_SERVE_EVICTED);
        return true;
    }
    /* Expiry first: a deadline passing also cancels the call (gRPC), and such
     * a request counts as expired, not as cancelled by the client. */
    if (start >= j->deadline) {
        r->st = SPECX_ETIMEDOUT;
        snprintf(r->msg, sizeof r->msg,
                 "deadline passed %.1f ms before a worker was free (queued %.1f ms): not "
                 "computed",
                 specx_dur_ms(start - j->deadline), r->queue_ms);
        sx_serve_stats_count(q->stats, SX_SERVE_EXPIRED);
        return true;
    }
    if (specx_time_add(start, least) >= j->deadline) {
        /* It would finish after its deadline: the worker goes to a request
         * that can still make it (and its client keeps its turn). */
        r->st = SPECX_ETIMEDOUT;
        snprintf(r->msg, sizeof r->msg,
                 "%.1f ms left before the deadline when a worker was free (queued %.1f ms), "
                 "and inference takes at least %.1f ms: not computed",
                 specx_dur_ms(j->deadline - start), r->queue_ms, specx_dur_ms(least));
        sx_serve_stats_count(q->stats, SX_SERVE_EXPIRED);
        return true;
    }
    if (atomic_load(&j->cancel)) {
        r->st = SPECX_ECANCELED;
        snprintf(r->msg, sizeof r->msg, "cancelled by the client before it started");
        sx_serve_stats_count(q->stats, SX_SERVE_CANCELLED);
        return true;
    }
    return false;
}

static void run_job(sx_serve_queue *q, specx_detector *det, sx_serve_job *j, specx_dur_t least,
                    sx_serve_reply *r)
{
    specx_time_t start = specx_time_now();
    r->queue_ms = specx_dur_ms(start - j->arrival);
    if (answer_unstarted(q, j, start, least, r)) {
        return;
    }
    specx_err err = {{0}};
    specx_image img = {0};
    int full_w = 1, full_h = 1;
    specx_status st = q->no_decode
                          ? specx_image_alloc(&img, 1, 1)
                          : specx_image_decode_fit(j->req.image, j->req.image_len, q->max_pixels,
                                                   r->model_input_width, r->model_input_height,
                                                   &img, &full_w, &full_h, &err);
    if (st != SPECX_OK) {
        r->st = st == SPECX_ETOOBIG ? SPECX_ETOOBIG : SPECX_EINVAL;
        snprintf(r->msg, sizeof r->msg, "image_data (%zu bytes): %s", j->req.image_len,
                 specx_err_text(&err, st));
        sx_serve_stats_count(q->stats, SX_SERVE_REJECTED);
        return;
    }
    st = specx_detector_detect(det, &img, &j->cancel, &r->det, &err);
    /* Decoded at a DCT scale: boxes back to the image as sent. */
    specx_detections_rescale(&r->det, img.width, img.height, full_w, full_h);
    specx_image_clear(&img);
    specx_time_t end = specx_time_now();
    r->infer_ms = specx_dur_ms(end - start);
    sx_serve_stats_computed(q->stats, start - j->arrival, end - start, st);
    if (st == SPECX_OK) {
        note_compute(q, end - start);
    }
    r->st = st;
    if (st == SPECX_ECANCELED) {
        snprintf(r->msg, sizeof r->msg, "cancelled by the client during inference");
    } else if (st != SPECX_OK) {
        snprintf(r->msg, sizeof r->msg, "detector: %s", specx_err_text(&err, st));
    }
}

/* The next job, or NULL once the queue is stopping and empty; *least is
 * the shortest recent inference. */
static sx_serve_job *next_job(sx_serve_queue *q, specx_dur_t *least)
{
    pthread_mutex_lock(&q->mu);
    while (!q->quit && !sx_serve_fairq_ready(&q->fq)) {
        pthread_cond_wait(&q->cv, &q->mu);
    }
    *least = q->least;
    /* Heads that cannot finish in time come out as unstarted. */
    sx_serve_job *j = sx_serve_fairq_take(&q->fq, specx_time_add(specx_time_now(), q->least));
    pthread_mutex_unlock(&q->mu);
    return j;
}

typedef struct worker_arg {
    sx_serve_queue *q;
    int index;
} worker_arg;

static void *worker_main(void *arg)
{
    worker_arg *wa = arg;
    sx_serve_queue *q = wa->q;
    specx_detector *det = q->dets[wa->index];
    free(wa);
    sx_serve_reply r;
    specx_detections_init(&r.det);
    const specx_detector_info *info = specx_detector_get_info(det);
    sx_serve_job *j;
    specx_dur_t least;
    while ((j = next_job(q, &least)) != NULL) {
        specx_detections_reset(&r.det);
        r.det.model[0] = '\0';
        r.det.image_width = r.det.image_height = 0;
        r.infer_ms = r.queue_ms = 0;
        r.model_input_width = info->input_width;
        r.model_input_height = info->input_height;
        r.msg[0] = '\0';
        run_job(q, det, j, least, &r);
        j->done(j, &r);
    }
    specx_detections_clear(&r.det);
    return NULL;
}

/* ---- the queue -------------------------------------------------------- */

specx_status sx_serve_queue_init(sx_serve_queue *q, const specx_server_config *cfg,
                                 sx_serve_stats *stats, specx_err *err)
{
    *q = (sx_serve_queue){.stats = stats,
                          .no_decode = cfg->no_decode,
                          .max_pixels = cfg->max_pixels > 0 ? cfg->max_pixels
                                                            : SPECX_SERVER_DEFAULT_MAX_PIXELS,
                          .nworkers = cfg->workers > 0 ? cfg->workers : 1};
    sx_serve_fairq_init(&q->fq,
                        cfg->queue_capacity > 0 ? (size_t)cfg->queue_capacity : DEFAULT_QUEUE);
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    q->dets = calloc((size_t)q->nworkers, sizeof *q->dets);
    q->threads = calloc((size_t)q->nworkers, sizeof *q->threads);
    if (q->dets == NULL || q->threads == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "server: out of memory");
    }
    for (int i = 0; i < q->nworkers; i++) {
        specx_status st = cfg->open_detector(cfg->open_detector_user, i, &q->dets[i], err);
        if (st != SPECX_OK) {
            return st;
        }
    }
    return SPECX_OK;
}

specx_status sx_serve_queue_start(sx_serve_queue *q, specx_err *err)
{
    for (int i = 0; i < q->nworkers; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa == NULL) {
            break;
        }
        *wa = (worker_arg){.q = q, .index = i};
        if (pthread_create(&q->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        q->started++;
    }
    if (q->started == 0) {
        return specx_err_set(err, SPECX_EINTERNAL, "server: cannot start worker threads");
    }
    return SPECX_OK;
}

specx_status sx_serve_queue_push(sx_serve_queue *q, sx_serve_job *j)
{
    pthread_mutex_lock(&q->mu);
    if (q->quit) {
        pthread_mutex_unlock(&q->mu);
        return SPECX_ESTOPPED;
    }
    sx_serve_job *had_unstarted = q->fq.unstarted;
    specx_status st = sx_serve_fairq_push(&q->fq, j);
    sx_serve_stats_count(q->stats, st == SPECX_OK ? SX_SERVE_RECEIVED : SX_SERVE_REJECTED);
    if (st == SPECX_OK) {
        /* One more job, and maybe an evicted one to answer too. */
        pthread_cond_signal(&q->cv);
        if (had_unstarted == NULL && q->fq.unstarted != NULL) {
            pthread_cond_signal(&q->cv);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return st == SPECX_OK ? SPECX_OK : SPECX_EBUSY;
}

size_t sx_serve_queue_len(sx_serve_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->fq.len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void sx_serve_queue_stats(sx_serve_queue *q, specx_server_stats *out)
{
    pthread_mutex_lock(&q->mu);
    sx_serve_stats_get(q->stats, out);
    out->queue_len = q->fq.len;
    out->queue_clients = sx_serve_fairq_clients(&q->fq);
    pthread_mutex_unlock(&q->mu);
}

void sx_serve_queue_stop(sx_serve_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->quit = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->started; i++) {
        pthread_join(q->threads[i], NULL);
    }
    q->started = 0;
}

void sx_serve_queue_fini(sx_serve_queue *q)
{
    for (int i = 0; i < q->nworkers && q->dets != NULL; i++) {
        specx_detector_close(q->dets[i]);
    }
    free(q->dets);
    q->dets = NULL;
    free(q->threads);
    q->threads = NULL;
    sx_serve_fairq_fini(&q->fq);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}
