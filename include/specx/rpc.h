/* specx/rpc.h — the detection service over gRPC (object_detection.GRPCImage,
 * DESIGN.md §3, docs/rpc.md): an in-process server, and a client usable as an
 * operator executor. Only specx types here; gRPC stays inside src/rpc/.
 *
 * Encoded frames: a frame (JPEG/PNG bytes) is encoded once and shared by every
 * server it is sent to; specx_encoded_frame is an immutable refcounted byte
 * buffer, and the wire layer references its bytes without copying.
 *
 * Errors: gRPC status codes map to specx_status as listed in docs/rpc.md
 * (DEADLINE_EXCEEDED → SPECX_ETIMEDOUT, UNAVAILABLE → SPECX_EUNAVAILABLE, ...).
 * Every function is thread-safe unless noted. If a function taking a callback
 * returns an error, the callback is never called.
 *
 * Threads and blocking: a server runs one completion-queue thread plus one
 * thread per worker; specx_rpc_server_start blocks while detectors load,
 * stop/destroy block until every call is over (never call them from a
 * detector). A client runs one completion-queue thread; call_start and
 * call_cancel never block on the network; client_destroy waits for
 * outstanding callbacks. Frame refcounts are atomic; frame bytes are
 * immutable once created. */
#ifndef SPECX_RPC_H
#define SPECX_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/detector.h"
#include "specx/executor.h"
#include "specx/hist.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Encoded frame ---------------------------------------------------- */

typedef struct specx_encoded_frame specx_encoded_frame;

/* Copies len bytes into a new frame with refcount 1. */
specx_status specx_encoded_frame_copy(const void *data, size_t len, specx_encoded_frame **out);
/* Takes ownership of a malloc'd buffer (freed with free() at the last unref).
 * On error the buffer is NOT freed. */
specx_status specx_encoded_frame_take(void *data, size_t len, specx_encoded_frame **out);
specx_encoded_frame *specx_encoded_frame_ref(specx_encoded_frame *f);
void specx_encoded_frame_unref(specx_encoded_frame *f); /* NULL-safe */
const uint8_t *specx_encoded_frame_data(const specx_encoded_frame *f);
size_t specx_encoded_frame_size(const specx_encoded_frame *f);
/* Matches specx_plan.request_free: unrefs `request` (a specx_encoded_frame). */
void specx_encoded_frame_request_free(void *request, void *user);

/* ---- Server ----------------------------------------------------------- */

typedef struct specx_rpc_server specx_rpc_server;

/* Opens the detector of worker `worker` (0..workers-1); called once per worker
 * at start, from the starting thread. Each worker owns its detector. */
typedef specx_status (*specx_rpc_open_detector_fn)(void *user, int worker, specx_detector **out,
                                                   specx_err *err);

typedef struct specx_rpc_server_config {
    const char *bind;         /* address to listen on; NULL = "0.0.0.0" */
    int port;                 /* 0 = pick a free port (see specx_rpc_server_port) */
    int workers;              /* detector threads; 0 = 1 */
    int queue_capacity;       /* requests waiting for a worker; 0 = 64; more = RESOURCE_EXHAUSTED */
    size_t max_message_bytes; /* largest accepted request; 0 = 16 MiB */
    size_t max_pixels;        /* decode limit; 0 = the codec's default */
    specx_rpc_open_detector_fn open_detector; /* required */
    void *open_detector_user;
    /* Benchmarks of the transport only: image_data is not decoded (any bytes
     * are accepted) and detectors get a 1x1 image. Never for serving. */
    bool no_decode;
    const char *tls_cert_file; /* PEM; both or neither: TLS instead of plaintext */
    const char *tls_key_file;
} specx_rpc_server_config;

typedef struct specx_rpc_server_stats {
    uint64_t received;  /* requests accepted for work (unary calls and stream messages) */
    uint64_t completed; /* answered with detections */
    uint64_t expired;   /* deadline passed before a worker started them: not computed */
    uint64_t cancelled; /* cancelled by the client (before or during work) */
    uint64_t rejected;  /* queue full or bad request (bad image, bad message) */
    uint64_t errors;    /* detector or internal failures */
    uint64_t health_checks;
    uint64_t streams;      /* streaming calls opened */
    uint64_t queue_len;    /* now waiting */
    specx_hist queue_wait; /* ns, arrival to worker start */
    specx_hist compute;    /* ns, decode + detect */
} specx_rpc_server_stats;

/* Binds, opens one detector per worker and starts serving; returns when the
 * server accepts calls. Blocks for detector loading. */
specx_status specx_rpc_server_start(const specx_rpc_server_config *cfg, specx_rpc_server **out,
                                    specx_err *err);
/* The port actually bound (useful with port 0). */
int specx_rpc_server_port(const specx_rpc_server *s);
/* Graceful stop: stop accepting calls, let queued and running work finish for
 * up to `grace`, then cancel what is left; returns once every call is over and
 * the workers have exited. Idempotent. Blocks. */
void specx_rpc_server_stop(specx_rpc_server *s, specx_dur_t grace);
/* Stops (grace 0 if not stopped yet), closes the detectors, frees. NULL-safe. */
void specx_rpc_server_destroy(specx_rpc_server *s);
/* A consistent snapshot. */
void specx_rpc_server_get_stats(specx_rpc_server *s, specx_rpc_server_stats *out);
/* The statistics as one JSON object (malloc'd string, caller frees); NULL on
 * allocation failure. Field names are listed in docs/rpc.md. */
char *specx_rpc_server_stats_json(specx_rpc_server *s);

/* The built-in test detector: no model files; sleeps delay_ms in 1 ms slices
 * (checking `cancel` between slices, like a network between layers) and
 * returns `boxes` boxes (default 1) covering the whole image, label "test",
 * class i, score 1/(i+1). spec: comma-separated delay_ms=N, fail=1 (always
 * fail), boxes=N, delay_from_width=1 (delay = image width in ms). Used by
 * `specx serve --model test:...`, benchmarks and tests. */
specx_status specx_rpc_test_detector_open(const char *spec, specx_detector **out, specx_err *err);

/* ---- Client ----------------------------------------------------------- */

typedef struct specx_rpc_client_config {
    char target[256];          /* HOST:PORT (any gRPC target string) */
    char name[64];             /* executor name; "" = the target */
    int priority;              /* higher = more preferred (operator convention) */
    int max_in_flight;         /* operator bound; 0 = unbounded */
    bool streaming;            /* one bidirectional stream instead of unary calls */
    bool wait_for_ready;       /* wait for the server to come up instead of failing fast */
    char tls_ca[512];          /* PEM root certificates file; "" = plaintext */
    char tls_host[128];        /* TLS name override (tests); "" = from target */
    specx_dur_t reconnect_max; /* max reconnect backoff; 0 = 1 s */
} specx_rpc_client_config;

/* Parses "HOST:PORT[,prio=N][,stream][,tls-ca=FILE][,wait-ready][,name=S]
 * [,inflight=N][,tls-host=S]". Defaults: priority 1, unary, plaintext, fail
 * fast. On error *out is unchanged and err says which part is wrong. */
specx_status specx_rpc_client_config_parse(const char *s, specx_rpc_client_config *out,
                                           specx_err *err);
void specx_rpc_client_config_init(specx_rpc_client_config *cfg);

typedef struct specx_rpc_client specx_rpc_client;
typedef struct specx_rpc_call specx_rpc_call;

/* Result callback: on SPECX_OK `result` is handed over (free it with
 * specx_detections_destroy); otherwise result is NULL and msg says why. Runs
 * on the client's completion thread; must not block for long and must not
 * destroy the client. */
typedef void (*specx_rpc_done_fn)(void *user, specx_status st, specx_detections *result,
                                  const char *msg);

/* Creates the channel (connects lazily, reused for every call). */
specx_status specx_rpc_client_create(const specx_rpc_client_config *cfg, specx_rpc_client **out,
                                     specx_err *err);
/* Cancels every outstanding call, waits for their callbacks, frees. NULL-safe.
 * Not from a done callback. */
void specx_rpc_client_destroy(specx_rpc_client *c);

/* Sends `frame` (referenced, not copied) with an absolute monotonic deadline
 * (SPECX_TIME_NEVER = none). On SPECX_OK, done runs exactly once; *out (may be
 * NULL) is set before any work begins and stays valid until done returns. */
specx_status specx_rpc_call_start(specx_rpc_client *c, specx_encoded_frame *frame,
                                  specx_time_t deadline, specx_rpc_done_fn done, void *user,
                                  specx_rpc_call **out);
/* Cancels on the wire (the server stops the work); done still runs, with
 * SPECX_ECANCELED unless the result was already in. Idempotent; only until
 * done has returned. */
void specx_rpc_call_cancel(specx_rpc_call *call);

/* An operator executor backed by a new client. The request given to start()
 * is a specx_encoded_frame*; results are specx_detections* (freed with
 * specx_detections_destroy). The executor owns the client (ops->destroy). */
specx_status specx_rpc_executor_create(const specx_rpc_client_config *cfg, specx_executor *out,
                                       specx_err *err);

/* gRPC status code <-> specx_status (docs/rpc.md). */
specx_status specx_rpc_status_from_grpc(int code);
int specx_rpc_status_to_grpc(specx_status st);

#ifdef __cplusplus
}
#endif
#endif
