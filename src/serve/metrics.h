/* serve/metrics.h — internal to src/serve: the detection server's metric
 * families (names and meanings in docs/metrics.md) and the updates the call
 * paths make.
 *
 * Contract
 *  - Families are registered once, at server start, into the registry the
 *    server's config names; a registry holds one server's families (a second
 *    server on it fails to start: the names are taken).
 *  - Every update is lock-free (relaxed atomics in specx_metrics) and never
 *    fails; every function is a no-op on a NULL sx_serve_metrics (metrics
 *    off), so call sites need no test.
 *  - Per-client families (label `client`) exist only when the server
 *    authenticates (tokens or client certificates): identities then come
 *    from the operator's token file or CA, and the series limit is
 *    max_clients. Without authentication `client` arguments are ignored.
 *  - The queue depth and in-flight gauges are filled by a collector at
 *    scrape time: the depth is read under the queue's lock (one integer
 *    copied), in-flight from two atomic counters.
 *  - Thread-safe. */
#ifndef SX_SERVE_METRICS_H
#define SX_SERVE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/metrics.h"
#include "specx/status.h"
#include "specx/time.h"

typedef enum sx_serve_rpc {
    SX_SERVE_RPC_SYNC,   /* ProcessImageSync */
    SX_SERVE_RPC_STREAM, /* ProcessImageStreaming (each message is a request) */
    SX_SERVE_RPC_HEALTH, /* Check */
    SX_SERVE_RPC_COUNT_
} sx_serve_rpc;

typedef enum sx_serve_shed {
    SX_SERVE_SHED_QUEUE_FULL,
    SX_SERVE_SHED_DRAINING,
    SX_SERVE_SHED_COUNT_
} sx_serve_shed;

typedef enum sx_serve_auth_failure {
    SX_SERVE_AUTH_MISSING, /* no authorization header */
    SX_SERVE_AUTH_INVALID, /* not a bearer token, or no token file entry matches */
    SX_SERVE_AUTH_NO_CERT, /* the client certificate's name is not a vehicle id */
    SX_SERVE_AUTH_COUNT_
} sx_serve_auth_failure;

typedef enum sx_serve_quota_limit {
    SX_SERVE_QUOTA_REQUESTS,
    SX_SERVE_QUOTA_BYTES,
    SX_SERVE_QUOTA_COUNT_
} sx_serve_quota_limit;

typedef struct sx_serve_metrics sx_serve_metrics;

/* What the collector reads: the queue length (takes the queue's lock for a
 * copy). */
typedef size_t (*sx_serve_queue_len_fn)(void *arg);

/* Registers the server's families on reg. per_client: authentication is on
 * (max_clients bounds the client label; 0 = 1024). SPECX_EINVAL when a name
 * is taken, SPECX_ENOMEM. */
specx_status sx_serve_metrics_create(specx_metrics *reg, bool per_client, size_t max_clients,
                                     sx_serve_queue_len_fn queue_len, void *queue_len_arg,
                                     sx_serve_metrics **out, specx_err *err);
/* Removes the collector (waits for a scrape in progress) and frees. The
 * families stay in the registry, which the caller owns. NULL-safe. */
void sx_serve_metrics_destroy(sx_serve_metrics *m);

/* A request answered with st (requests_total{method,code}; per client
 * client_requests_total{client,code}). */
void sx_serve_metrics_answered(sx_serve_metrics *m, sx_serve_rpc rpc, specx_status st,
                               const char *client);
/* Request payload bytes received (before any check). */
void sx_serve_metrics_received(sx_serve_metrics *m, sx_serve_rpc rpc, const char *client,
                               size_t bytes);
/* A request enters the work queue / leaves it answered (in-flight gauge). */
void sx_serve_metrics_queued(sx_serve_metrics *m);
void sx_serve_metrics_dequeued(sx_serve_metrics *m);
void sx_serve_metrics_shed(sx_serve_metrics *m, sx_serve_shed why);
void sx_serve_metrics_expired(sx_serve_metrics *m);
void sx_serve_metrics_cancelled(sx_serve_metrics *m);
/* A request a worker computed: its queue wait and compute time. */
void sx_serve_metrics_computed(sx_serve_metrics *m, specx_dur_t queue_wait, specx_dur_t compute);
void sx_serve_metrics_auth_failure(sx_serve_metrics *m, sx_serve_auth_failure why);
void sx_serve_metrics_quota_refused(sx_serve_metrics *m, sx_serve_quota_limit limit,
                                    const char *client);
/* A token file (re)load: its outcome and the entries now in use. */
void sx_serve_metrics_tokens_loaded(sx_serve_metrics *m, bool ok, size_t entries, bool initial);

/* The gRPC status code name of st as the server sends it ("OK",
 * "UNAUTHENTICATED", ...). Static. */
const char *sx_serve_grpc_code_name(specx_status st);

#endif
