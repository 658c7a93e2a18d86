/* serve/queue.h — internal to src/serve: the work queue, shared fairly
 * between clients, and its worker threads, one detector each.
 *
 * Contract
 *  - A job is a request waiting for a worker. Every job names its client
 *    (job->client: the authenticated identity when there is one, else a
 *    trusted proxy's header, else the connection; sx_serve_client_key). The
 *    order in which workers take jobs is serve/fairq.h's: earliest deadline
 *    first within a client; between clients, start-time fair queueing with
 *    idle clients first at equal tags.
 *  - The queue is bounded across clients. When it is full, a job from a
 *    client with fewer queued jobs than the longest queue pushes out that
 *    queue's latest-deadline job (answered RESOURCE_EXHAUSTED by the next
 *    free worker, counted evicted); otherwise push fails with SPECX_EBUSY
 *    (counted rejected).
 *  - A job whose deadline has passed, or is nearer than the shortest recent
 *    inference (it could not finish in time), or whose cancel flag is set,
 *    by the time it reaches a worker is answered without computing it
 *    (counted expired / cancelled; it does not use up its client's turn);
 *    otherwise the worker decodes the image (a JPEG at the DCT scale that
 *    fits its detector's input, specx_image_decode_fit) and runs its
 *    detector, which sees the job's cancel flag; boxes go back in pixels of
 *    the image as sent. Either way it calls job->done(job, reply) once, with
 *    no queue lock held; the job then belongs to done.
 *  - Lock order: a stream's lock, then the queue's, then the statistics'.
 *  - Not restartable: init, start, stop (workers finish what is queued and
 *    exit), fini. */
#ifndef SX_SERVE_QUEUE_H
#define SX_SERVE_QUEUE_H

#include <pthread.h>
#include <stdatomic.h>

#include "specx/auth.h"
#include "specx/serve.h"

#include "core/heap.h"
#include "rpc/wire.h"
#include "serve/fairq.h"
#include "serve/stats.h"

typedef struct sx_serve_reply {
    specx_status st;
    char msg[256]; /* why, when st != SPECX_OK */
    specx_detections det;
    double infer_ms, queue_ms;
    int model_input_width, model_input_height; /* the worker's model; 0 = none */
} sx_serve_reply;

typedef struct sx_serve_job sx_serve_job;
typedef void (*sx_serve_job_done_fn)(sx_serve_job *j, const sx_serve_reply *r);

/* Longest client key kept (longer keys are cut; they stay distinct in
 * practice: peer strings and identities are far shorter). */
#define SX_SERVE_CLIENT_KEY_MAX 128

struct sx_serve_job {
    sx_heap_node node; /* key = deadline */
    specx_time_t arrival, deadline;
    char client[SX_SERVE_CLIENT_KEY_MAX]; /* fairness key ("" = one anonymous client) */
    bool evicted;                         /* pushed out of a full queue */
    sx_serve_job *next_unstarted;         /* fairq's list of jobs not to compute */
    double recv_wall;                     /* wall clock at arrival, s (Response.recv_time) */
    sx_rpc_request req;
    atomic_bool cancel; /* set by the call's owner; the detector checks it */
    sx_serve_job_done_fn done;
    /* The authenticated identity of the call (serve/auth.h): the vehicle id
     * of its token, else its client certificate's name; "" when anonymous.
     * The key of per-client accounting (quotas, metrics) and, when not
     * empty, the fairness key (client). */
    char identity[SPECX_AUTH_ID_MAX + 1];
};

/* Arrival now, the given deadline, no request yet, client "", anonymous. */
void sx_serve_job_init(sx_serve_job *j, specx_time_t deadline, sx_serve_job_done_fn done);
/* Sets the job's fairness key (cut to SX_SERVE_CLIENT_KEY_MAX - 1 bytes). */
void sx_serve_job_set_client(sx_serve_job *j, const char *key);
/* Decodes a Request into j->req and checks it: an image that is there, is
 * JPEG or PNG and whose header says at most max_pixels (unless no_decode;
 * SPECX_ETOOBIG when over), or a cancel. Tightens j->deadline by the
 * request's budget. On error msg says what was wrong (j->req is empty). */
specx_status sx_serve_job_parse(sx_serve_job *j, grpc_byte_buffer *bb, bool no_decode,
                                size_t max_pixels, char *msg, size_t msglen);

typedef struct sx_serve_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* workers: a job, or quit */
    sx_serve_fairq fq; /* the jobs, in the order workers take them */
    /* The shortest successful inference of the last 32-64 (0 before any): a
     * request with less time than that left is not started. */
    specx_dur_t least, block_min, prev_block_min;
    int block_n;
    bool have_prev;
    bool quit;
    sx_serve_stats *stats;
    bool no_decode;
    size_t max_pixels; /* in effect (the default applied) */
    int nworkers, started;
    specx_detector **dets;
    pthread_t *threads;
} sx_serve_queue;

/* Opens one detector per worker (blocks while they load). Success or not,
 * sx_serve_queue_fini releases what it made. */
specx_status sx_serve_queue_init(sx_serve_queue *q, const specx_server_config *cfg,
                                 sx_serve_stats *stats, specx_err *err);
/* Starts the workers; fails only if none could be started. */
specx_status sx_serve_queue_start(sx_serve_queue *q, specx_err *err);
/* SPECX_EBUSY: full (and this client's queue is among the longest);
 * SPECX_ESTOPPED: stopping. Counts received / rejected. */
specx_status sx_serve_queue_push(sx_serve_queue *q, sx_serve_job *j);
/* Requests waiting now (the queue's lock, for a copy). */
size_t sx_serve_queue_len(sx_serve_queue *q);
/* Statistics with the queue length and the number of clients with queued
 * jobs, consistent with the received count. */
void sx_serve_queue_stats(sx_serve_queue *q, specx_server_stats *out);
/* Workers answer what is queued, then exit; joins them. Idempotent. */
void sx_serve_queue_stop(sx_serve_queue *q);
/* Closes the detectors and frees (after stop, or after init failed). */
void sx_serve_queue_fini(sx_serve_queue *q);

#endif
