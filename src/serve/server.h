/* serve/server.h — internal to src/serve: the server object and the entry
 * points of its parts: lifecycle (server.c), unary calls (unary.c), streams
 * (stream.c), health messages and Check (health.c), health Watch (watch.c),
 * the fairness key (client_key.c), calls to unknown methods (generic.c).
 * The queue, statistics, call admission and timers have their own headers.
 *
 * Design notes
 * - One completion queue drained by one thread: it accepts calls, parses
 *   requests, enqueues jobs and runs every batch completion. Workers compute
 *   and start the reply batches themselves.
 * - Each method keeps a few calls armed (grpc_server_request_registered_call,
 *   and grpc_server_request_call for unknown methods); a call that arrives
 *   re-arms one of its kind before it is handled. Every method reads its
 *   request itself (GRPC_SRM_PAYLOAD_NONE), so every call reaches the
 *   server at its headers and counts against the call limits (admit.h).
 * - Lock order: streams_mu, then a stream's lock, then the queue's, then the
 *   statistics'; srv->mu (lifecycle flags) is taken alone; health_mu (the
 *   health status and the Watch calls) before the statistics' only; the
 *   admission and timer locks are leaves. */
#ifndef SX_SERVE_SERVER_H
#define SX_SERVE_SERVER_H

#include <pthread.h>

#include "specx/serve.h"

#include "rpc/grpc_util.h"
#include "serve/admit.h"
#include "serve/auth.h"
#include "serve/metrics.h"
#include "serve/queue.h"
#include "serve/stats.h"
#include "serve/timer.h"

typedef enum sx_serve_method {
    SX_SERVE_METHOD_DETECT, /* object_detection.GRPCImage/ProcessImageSync */
    SX_SERVE_METHOD_HEALTH, /* grpc.health.v1.Health/Check */
} sx_serve_method;

typedef struct sx_serve_stream sx_serve_stream;
typedef struct sx_serve_watch sx_serve_watch;

typedef enum sx_serve_health_status {
    SX_SERVE_HEALTH_SERVING,
    SX_SERVE_HEALTH_NOT_SERVING,
    SX_SERVE_HEALTH_SERVICE_UNKNOWN, /* Watch only */
} sx_serve_health_status;

struct specx_server {
    specx_server_config cfg;
    grpc_server *server;
    grpc_completion_queue *cq;
    void *m_sync, *m_stream, *m_health, *m_watch; /* registered methods */
    pthread_t cq_thread;
    bool cq_started;
    int port;
    sx_serve_queue queue;
    bool queue_made; /* sx_serve_queue_init ran (fini needed) */
    sx_serve_stats stats;
    sx_serve_auth auth;        /* identities and quotas */
    sx_serve_metrics *metrics; /* NULL: metrics off */
    sx_serve_admit admit;
    sx_serve_timers timers;
    specx_dur_t request_timeout; /* in effect; SPECX_TIME_NEVER = none */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* shutdown_done, stopped */
    bool stopping, shutdown_done, stopped;
    sx_rpc_tag t_shutdown;

    pthread_mutex_t streams_mu; /* the list of open streams */
    sx_serve_stream *streams;
    bool streams_stopping; /* streams opened from now on end when idle */

    pthread_mutex_t health_mu;
    bool serving;            /* the health status */
    bool watches_ending;     /* stop began: Watch calls end after their update */
    sx_serve_watch *watches; /* open Watch calls */
};

/* True once stop() began. */
bool sx_serve_stopping(specx_server *srv);

/* unary.c: arms one call of method m. */
void sx_serve_unary_arm(specx_server *srv, sx_serve_method m);

/* generic.c: arms one call to a method the server does not implement (it
 * is answered UNIMPLEMENTED). */
void sx_serve_generic_arm(specx_server *srv);

/* stream.c: arms one ProcessImageStreaming call. */
void sx_serve_stream_arm(specx_server *srv);
/* stream.c: ends every open stream (and every later one) as soon as its
 * outstanding requests are answered; new messages on them are refused. */
void sx_serve_streams_stop(specx_server *srv);

/* health.c: reads a HealthCheckRequest (payload may be NULL: the server
 * itself); *known says whether the service is ours (else msg names it).
 * SPECX_EINVAL when it is malformed. */
specx_status sx_serve_health_request(grpc_byte_buffer *payload, bool *known, char *msg,
                                     size_t msglen);
/* health.c: a HealthCheckResponse; NULL when out of memory. */
grpc_byte_buffer *sx_serve_health_reply(sx_serve_health_status status);
/* health.c: answers a Check. On SPECX_OK *reply is the HealthCheckResponse;
 * otherwise msg says why (INVALID_ARGUMENT, NOT_FOUND). */
specx_status sx_serve_health_check(grpc_byte_buffer *payload, bool serving,
                                   grpc_byte_buffer **reply, char *msg, size_t msglen);

/* watch.c: arms one Health/Watch call. */
void sx_serve_watch_arm(specx_server *srv);
/* watch.c: sets the health status and sends it to every open Watch call. */
void sx_serve_watch_set_serving(specx_server *srv, bool serving);
/* watch.c: NOT_SERVING, then every open (and later) Watch call ends with
 * UNAVAILABLE once that status is sent: shutdown is not held up by them. */
void sx_serve_watches_end(specx_server *srv);

/* client_key.c: the fairness key of a call, into out (n bytes): an
 * authenticated identity when the caller has one (identity non-NULL and
 * not empty), else the value of the configured client_key_header when the
 * call carries it, else the connection (grpc_call_get_peer, e.g.
 * "ipv4:10.1.2.3:53122"). */
void sx_serve_client_key(const specx_server *srv, grpc_call *call, const grpc_metadata_array *md,
                         const char *identity, char *out, size_t n);

#endif
