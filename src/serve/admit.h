/* serve/admit.h — internal to src/serve: admission of calls against the
 * server's call limits: calls in progress per connection (peer address) and
 * in the whole server.
 *
 * Contract
 *  - Every call the server handles (unary, stream) is admitted when it
 *    arrives and released when its object is freed. The per-connection
 *    limit is hard: take() fails with SPECX_EBUSY (msg says why) and the
 *    caller answers RESOURCE_EXHAUSTED at once.
 *  - At the server-wide limit, a new call evicts the least recently active
 *    evictable call instead of being refused (evict() is called on it, and
 *    its slot counts until it is released), so that a few connections
 *    filling the server with idle calls cannot lock other clients out. Only
 *    when nothing is evictable is the new call refused. A call is evictable
 *    from take() until busy(); touch() makes it the most recently active.
 *  - A connection is known by gRPC's peer string ("ipv4:10.0.0.7:51234"),
 *    which names one TCP connection.
 *  - evict() runs under the admission lock: it may start a cancel (for
 *    example grpc_call_cancel_with_status) and count in the statistics
 *    (whose lock comes after this one), nothing else.
 *  - Thread-safe; the lock is a leaf. */
#ifndef SX_SERVE_ADMIT_H
#define SX_SERVE_ADMIT_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "specx/status.h"

#define SX_SERVE_ADMIT_BUCKETS 256

typedef struct sx_serve_peer sx_serve_peer;
typedef struct sx_serve_admission sx_serve_admission;
typedef void (*sx_serve_evict_fn)(sx_serve_admission *a, const char *why);

/* One call's admission, embedded in the call object. */
struct sx_serve_admission {
    sx_serve_peer *peer;             /* NULL: not admitted */
    sx_serve_admission *prev, *next; /* the evictable list, oldest first */
    bool listed, evicted;
    sx_serve_evict_fn evict;
};

typedef struct sx_serve_admit {
    pthread_mutex_t mu;
    int max_per_peer, max_total;
    int total;    /* admitted and not released */
    int evicting; /* of which evicted, not yet released */
    sx_serve_admission *lru_head, *lru_tail;
    sx_serve_peer *buckets[SX_SERVE_ADMIT_BUCKETS];
} sx_serve_admit;

void sx_serve_admit_init(sx_serve_admit *a, int max_per_peer, int max_total);
/* Frees the table (every call must have been released). */
void sx_serve_admit_fini(sx_serve_admit *a);
/* Admits `call` into *e (evictable, evict as its eviction): SPECX_OK,
 * SPECX_EBUSY over a limit (msg says which), SPECX_ENOMEM. */
specx_status sx_serve_admit_take(sx_serve_admit *a, grpc_call *call, sx_serve_admission *e,
                                 sx_serve_evict_fn evict, char *msg, size_t msglen);
/* The call did something: it becomes the most recently active. */
void sx_serve_admit_touch(sx_serve_admit *a, sx_serve_admission *e);
/* The call holds work now (a request is queued): no longer evictable. */
void sx_serve_admit_busy(sx_serve_admit *a, sx_serve_admission *e);
/* Releases an admission (not admitted: no-op). */
void sx_serve_admit_release(sx_serve_admit *a, sx_serve_admission *e);

#endif
