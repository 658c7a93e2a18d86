/* specx/serve.h — the detection service (object_detection.GRPCImage and
 * grpc.health.v1.Health/Check and /Watch over gRPC, DESIGN.md §3,
 * docs/rpc.md) run in this process: what `specx serve` runs, and what tests, benchmarks and
 * `specx demo`/`eval` start in-process. Only specx types here; gRPC stays
 * inside src/serve/. Library specx_serve (links the detectors and the image
 * codecs; a vehicle that only calls servers needs specx/rpc.h alone).
 *
 * Threads and blocking: a server runs one completion-queue thread plus one
 * thread per worker, each worker with its own detector. specx_server_start
 * blocks while the detectors load; stop and destroy block until every call
 * is over and the workers have exited (never call them from a detector).
 * Every function is thread-safe unless noted; a failing start leaves nothing
 * behind. Deadlines: the work queue runs the earliest deadline first within
 * each client and answers a request whose deadline passed before a worker
 * was free without computing it (DEADLINE_EXCEEDED). Fairness: clients
 * (the connection, or a key a trusted proxy sets: client_key_header) take
 * turns at the workers, one request each (docs/rpc.md).
 * Health: SERVING from start until specx_server_set_serving(false) or stop;
 * Watch calls are told of every change (client-side load balancing uses it
 * to take a draining replica out of rotation).
 *
 * Identity and access (docs/security.md): with a CA file the TLS handshake
 * requires a client certificate it signed; with a token file every
 * detection call needs `authorization: Bearer TOKEN` for a listed token
 * (else UNAUTHENTICATED); quotas limit each identity's requests and bytes
 * per second (else RESOURCE_EXHAUSTED, naming the limit). Health checks
 * need no token and are not metered. Metrics (docs/metrics.md): the server
 * registers its families in the registry given and updates them lock-free;
 * serving the registry over HTTP is the caller's (specx_metrics_http_open). */
#ifndef SPECX_SERVE_H
#define SPECX_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detector.h"
#include "specx/hist.h"
#include "specx/metrics.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_server specx_server;

/* Opens the detector of worker `worker` (0..workers-1); called once per worker
 * at start, from the starting thread. Each worker owns its detector. */
typedef specx_status (*specx_server_open_detector_fn)(void *user, int worker, specx_detector **out,
                                                      specx_err *err);

typedef struct specx_server_config {
    const char *bind;         /* address to listen on; NULL = "0.0.0.0" */
    int port;                 /* 0 = pick a free port (see specx_server_port) */
    int workers;              /* detector threads; 0 = 1 */
    int queue_capacity;       /* requests waiting for a worker; 0 = 64; more = RESOURCE_EXHAUSTED */
    size_t max_message_bytes; /* largest accepted request; 0 = 16 MiB */
    size_t max_pixels;        /* decoded image limit, checked from the header before any decode; 0 =
                               * SPECX_SERVER_DEFAULT_MAX_PIXELS; more = RESOURCE_EXHAUSTED */
    specx_server_open_detector_fn open_detector; /* required */
    void *open_detector_user;
    /* Benchmarks of the transport only: image_data is not decoded (any bytes
     * are accepted) and detectors get a 1x1 image. Never for serving. */
    bool no_decode;
    const char *tls_cert_file; /* PEM; both or neither: TLS instead of plaintext */
    const char *tls_key_file;
    /* PEM CA certificate(s): require a client certificate signed by one
     * (needs TLS). Without a token file, the certificate's common name is
     * the caller's identity. */
    const char *tls_client_ca_file;
    /* Token file ("VEHICLE-ID sha256:HEX" lines; specx/auth.h): require a
     * bearer token per call; the vehicle id is the identity. Re-read with
     * specx_server_reload_auth. */
    const char *auth_tokens_file;
    /* Quotas per identity (token buckets); 0 = no limit. Bursts: 0 = one
     * second's worth (at least 1 request). */
    double quota_rps, quota_rps_burst;
    double quota_bytes_per_s, quota_bytes_burst;
    /* Registry for the server's metric families (borrowed; must outlive the
     * server; one server per registry); NULL = no metrics. */
    specx_metrics *metrics;
    /* Series limit of the per-client families (identities); 0 = 1024. */
    size_t metrics_max_clients;
    /* Fairness key: requests are shared fairly between clients, a client
     * being its connection (the peer address and port). A proxy in front
     * (nginx) makes every vehicle one connection: when this names a request
     * header (e.g. "x-specx-client", lower case) and a request carries it,
     * its value is the client instead. Only for headers that a trusted proxy
     * sets (it overwrites what vehicles send); NULL = the connection. */
    const char *client_key_header;
    /* Limits against broken or hostile clients (docs/reliability.md); 0 = the
     * default named. A call over a call limit is answered RESOURCE_EXHAUSTED
     * at once. */
    int max_streams_per_conn; /* calls at once on one connection (also HTTP/2
                               * SETTINGS_MAX_CONCURRENT_STREAMS); 0 = 100 */
    int max_pending_calls;    /* calls in progress in the whole server; 0 = 1000 */
    /* A unary call's request must arrive within this after its headers
     * (else DEADLINE_EXCEEDED), and a stream with nothing outstanding that
     * receives no message for this long is ended (UNAVAILABLE); 0 = 30 s,
     * SPECX_TIME_NEVER = no limit. */
    specx_dur_t request_timeout;
    specx_dur_t keepalive_time;    /* ping a connection after this long without traffic; 0 = 60 s */
    specx_dur_t keepalive_timeout; /* close it if the ping is not answered in this; 0 = 20 s */
    specx_dur_t handshake_timeout; /* accept to HTTP/2 (and TLS) set up, else closed; 0 = 10 s */
    specx_dur_t max_connection_idle; /* close a connection without calls after this; 0 = 300 s,
                                      * SPECX_TIME_NEVER = never */
} specx_server_config;

#define SPECX_SERVER_DEFAULT_MAX_PIXELS ((size_t)4096 * 4096)

typedef struct specx_server_stats {
    uint64_t received;  /* requests accepted for work (unary calls and stream messages) */
    uint64_t completed; /* answered with detections */
    uint64_t expired;   /* deadline passed before a worker started them: not computed */
    uint64_t cancelled; /* cancelled by the client (before or during work) */
    uint64_t rejected;  /* queue full or bad request (bad image, bad message) */
    uint64_t evicted;   /* queued, then pushed out of the full queue for a client with fewer */
    uint64_t errors;    /* detector or internal failures */
    uint64_t health_checks;
    uint64_t streams;       /* streaming calls opened */
    uint64_t queue_len;     /* now waiting */
    uint64_t queue_clients; /* clients with requests waiting now */
    specx_hist queue_wait;  /* ns, arrival to worker start */
    specx_hist compute;     /* ns, decode + detect */
} specx_server_stats;

/* Binds, opens one detector per worker and starts serving; returns when the
 * server accepts calls. Blocks for detector loading. */
specx_status specx_server_start(const specx_server_config *cfg, specx_server **out, specx_err *err);
/* The port actually bound (useful with port 0). */
int specx_server_port(const specx_server *s);
/* Graceful stop: stop accepting calls, end open streams once their work is
 * answered, let queued and running work finish for up to `grace`, then cancel
 * what is left (cancel flags reach the detectors); returns once every call is
 * over and the workers have exited. Idempotent. Blocks. */
void specx_server_stop(specx_server *s, specx_dur_t grace);
/* Sets the health status (grpc.health.v1, the server "" and
 * object_detection.GRPCImage): SERVING (true, the state after start) or
 * NOT_SERVING. Open Watch calls are sent the new status at once. The server
 * keeps serving every call either way: this is how a replica drains (health
 * NOT_SERVING, load balancers move new calls away, then stop). Never blocks
 * on the network. Ignored once stop began (stop reports NOT_SERVING). */
void specx_server_set_serving(specx_server *s, bool serving);
/* The health status: false after set_serving(false) or once stop began. */
bool specx_server_serving(specx_server *s);
/* Stops (grace 0 if not stopped yet), closes the detectors, frees. NULL-safe. */
void specx_server_destroy(specx_server *s);
/* Re-reads the token file (revocations take effect for the next call;
 * connections stay up). On failure the tokens in use stay, and err says
 * why (file, line). SPECX_EINVAL when the server has no token file.
 * Thread-safe; blocks while reading the file, never a call. */
specx_status specx_server_reload_auth(specx_server *s, specx_err *err);
/* A consistent snapshot (the histograms are copied). */
void specx_server_get_stats(specx_server *s, specx_server_stats *out);
/* The statistics as one JSON object (malloc'd string, caller frees); NULL on
 * allocation failure. Field names are listed in docs/rpc.md. */
char *specx_server_stats_json(specx_server *s);

#ifdef __cplusplus
}
#endif
#endif
