/* serve/stats.h — internal to src/serve: the server's counters and latency
 * histograms behind one lock, and their JSON form (fields in docs/rpc.md);
 * expiries, cancellations and computed requests also go to the metrics
 * (serve/metrics.h), lock-free.
 * Thread-safe; never blocks beyond its own short lock, which is taken after
 * any other server lock (lock order: stream, queue, stats). */
#ifndef SX_SERVE_STATS_H
#define SX_SERVE_STATS_H

#include <pthread.h>

#include "specx/serve.h"

typedef enum sx_serve_counter {
    SX_SERVE_RECEIVED,
    SX_SERVE_COMPLETED,
    SX_SERVE_EXPIRED,
    SX_SERVE_CANCELLED,
    SX_SERVE_REJECTED,
    SX_SERVE_ERRORS,
    SX_SERVE_HEALTH_CHECKS,
    SX_SERVE_STREAMS,
    SX_SERVE_EVICTED,
} sx_serve_counter;

struct sx_serve_metrics;

typedef struct sx_serve_stats {
    pthread_mutex_t mu;
    specx_server_stats st; /* queue_len is filled in by the snapshot's caller */
    /* The same events counted into the exported metrics (NULL: none); set
     * before the workers start. */
    struct sx_serve_metrics *metrics;
} sx_serve_stats;

void sx_serve_stats_init(sx_serve_stats *s);
void sx_serve_stats_fini(sx_serve_stats *s);
void sx_serve_stats_count(sx_serve_stats *s, sx_serve_counter c);
/* A request a detector ran on: both histograms, and completed, cancelled or
 * errors by its outcome. */
void sx_serve_stats_computed(sx_serve_stats *s, specx_dur_t queue_wait, specx_dur_t compute,
                             specx_status outcome);
void sx_serve_stats_get(sx_serve_stats *s, specx_server_stats *out);
/* One JSON object (malloc'd; NULL when out of memory); serving is the
 * health status. */
char *sx_serve_stats_json(const specx_server_stats *st, int port, int workers, bool serving);

#endif
