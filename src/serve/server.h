/* serve/server.h — internal to src/serve: the server object and the entry
 * points of its parts: lifecycle (server.c), unary calls (unary.c), streams
 * (stream.c), health (health.c). The queue and statistics have their own
 * headers.
 *
 * Design notes
 * - One completion queue drained by one thread: it accepts calls, parses
 *   requests, enqueues jobs and runs every batch completion. Workers compute
 *   and start the reply batches themselves.
 * - Each method keeps a few calls armed (grpc_server_request_registered_call);
 *   a call that arrives re-arms one of its kind before it is handled.
 * - Lock order: streams_mu, then a stream's lock, then the queue's, then the
 *   statistics'; srv->mu (lifecycle flags) is taken alone. */
#ifndef SX_SERVE_SERVER_H
#define SX_SERVE_SERVER_H

#include <pthread.h>

#include "specx/serve.h"

#include "rpc/grpc_util.h"
#include "serve/auth.h"
#include "serve/metrics.h"
#include "serve/queue.h"
#include "serve/stats.h"

typedef enum sx_serve_method {
    SX_SERVE_METHOD_DETECT, /* object_detection.GRPCImage/ProcessImageSync */
    SX_SERVE_METHOD_HEALTH, /* grpc.health.v1.Health/Check */
} sx_serve_method;

typedef struct sx_serve_stream sx_serve_stream;

struct specx_server {
    specx_server_config cfg;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *m_sync, *m_stream, *m_health; /* registered methods */
    pthread_t cq_thread;
    bool cq_started;
    int port;
    sx_serve_queue queue;
    bool queue_made; /* sx_serve_queue_init ran (fini needed) */
    sx_serve_stats stats;
    sx_serve_auth auth;        /* identities and quotas */
    sx_serve_metrics *metrics; /* NULL: metrics off */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* shutdown_done, stopped */
    bool stopping, shutdown_done, stopped;
    sx_rpc_tag t_shutdown;

    pthread_mutex_t streams_mu; /* the list of open streams */
    sx_serve_stream *streams;
    bool streams_stopping; /* streams opened from now on end when idle */
};

/* True once stop() began (health says NOT_SERVING). */
bool sx_serve_stopping(specx_server *srv);

/* unary.c: arms one call of method m. */
void sx_serve_unary_arm(specx_server *srv, sx_serve_method m);

/* stream.c: arms one ProcessImageStreaming call. */
void sx_serve_stream_arm(specx_server *srv);
/* stream.c: ends every open stream (and every later one) as soon as its
 * outstanding requests are answered; new messages on them are refused. */
void sx_serve_streams_stop(specx_server *srv);

/* health.c: answers a HealthCheckRequest (payload may be NULL: the server
 * itself). On SPECX_OK *reply is the HealthCheckResponse; otherwise msg
 * says why (INVALID_ARGUMENT, NOT_FOUND). */
specx_status sx_serve_health_check(grpc_byte_buffer *payload, bool serving,
                                   grpc_byte_buffer **reply, char *msg, size_t msglen);

#endif
