/* specx/rpc.h — the vehicle side of the detection service over gRPC
 * (object_detection.GRPCImage, DESIGN.md §3, docs/rpc.md): a client usable as
 * an operator executor, the encoded frames it sends, and the status mapping.
 * The server is in specx/serve.h. Only specx types here; gRPC stays inside
 * src/rpc/. Library specx_rpc: links specx_core, gRPC and protobuf-c only.
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
 * Threads and blocking: a client runs one completion-queue thread; call_start and
 * call_cancel never block on the network; client_destroy waits for
 * outstanding callbacks. Frame refcounts are atomic; frame bytes are
 * immutable once created. */
#ifndef SPECX_RPC_H
#define SPECX_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/executor.h"
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

/* ---- Client ----------------------------------------------------------- */

typedef struct specx_rpc_client_config {
    /* A gRPC target: HOST:PORT, a list of backends "ipv4:A:P,B:P,..." (or
     * ipv6:), "dns:///HOST:PORT" (every address the name resolves to), or
     * any other target URI gRPC understands. */
    char target[512];
    char name[64];          /* executor name; "" = the target */
    int priority;           /* higher = more preferred (operator convention) */
    bool priority_set;      /* prio=N was given (else priority is the default) */
    int max_in_flight;      /* operator bound; 0 = unbounded */
    bool max_in_flight_set; /* inflight=N was given */
    bool streaming;         /* one bidirectional stream instead of unary calls */
    bool wait_for_ready;    /* wait for the server to come up instead of failing fast */
    char tls_ca[512];       /* PEM root certificates file; "" = plaintext */
    char tls_host[128];     /* TLS name override (tests); "" = from target */
    char tls_cert[512];     /* PEM client certificate (mutual TLS); with tls_key */
    char tls_key[512];      /* PEM private key of tls_cert */
    /* Bearer token for `authorization: Bearer ...` on every call, read at
     * client_create from a file or an environment variable (never given on
     * a command line); "" = none. At most one of the two. */
    char token_file[512];
    char token_env[128];
    specx_dur_t reconnect_max; /* max reconnect backoff; 0 = 1 s */
    /* Load balancing between the target's backends, through gRPC's service
     * config: "" = gRPC's default (pick_first: one backend at a time),
     * "round_robin" (every call to the next healthy backend), "pick_first". */
    char lb[32];
    /* No client-side health checking. By default the service config asks
     * gRPC to watch grpc.health.v1 on every backend (healthCheckConfig,
     * service object_detection.GRPCImage); round_robin then sends calls only
     * to backends that report SERVING (pick_first ignores health). */
    bool no_health_check;
} specx_rpc_client_config;

/* Parses "TARGET[,prio=N][,stream][,tls-ca=FILE][,tls-cert=FILE,
 * tls-key=FILE][,token-file=PATH|token-env=VAR][,wait-ready][,name=S]
 * [,inflight=N][,tls-host=S][,lb=POLICY][,health=on|off]", where TARGET is
 * HOST:PORT, a target URI (dns:///HOST:PORT, unix:PATH, ...), or a list of
 * backends "ipv4:HOST:PORT,HOST:PORT,..." / "ipv6:[ADDR]:PORT,...": after
 * an ipv4:/ipv6: target every comma-separated item that has a ':' and no
 * '=' is one more backend, up to the first option (options have no ':'
 * unless after '='), so the list needs no other separator. Defaults:
 * priority 1, unary, plaintext, fail fast, gRPC's pick_first, health
 * checking on; priority_set / max_in_flight_set say whether prio= /
 * inflight= were given, so that a caller can apply its own default (specx
 * run gives the i-th of n servers priority n - i). On error *out is
 * unchanged and err says which part is wrong. */
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

/* Creates the channel (connects lazily, reused for every call). Reads the
 * TLS files and the token now: errors name the file or variable, never the
 * token's characters. A token over plaintext is refused unless the target
 * is a loopback address (it would cross the network readable). */
specx_status specx_rpc_client_create(const specx_rpc_client_config *cfg, specx_rpc_client **out,
                                     specx_err *err);
/* Cancels every outstanding call, waits for their callbacks, frees. NULL-safe.
 * Not from a done callback. */
void specx_rpc_client_destroy(specx_rpc_client *c);

/* The input size of the model behind this server (its letterbox), as the
 * latest reply with detections said (the Response's model_input); false
 * while unknown: no such reply yet, or a server that does not send it (the
 * last reply decides, so a server restarted with another model is followed).
 * Lock-free; *width / *height are left alone when false. */
bool specx_rpc_client_model_input(const specx_rpc_client *c, int *width, int *height);

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

/* The link to the server as the client last saw it. rtt: the most recent
 * successful call's round trip minus the queue and compute time the server
 * reported in its reply (the network's and gRPC's share), -1 before the
 * first; measured: when (monotonic), SPECX_TIME_NEVER before the first.
 * Lock-free; thread-safe. */
typedef struct specx_rpc_link {
    specx_dur_t rtt;
    specx_time_t measured;
} specx_rpc_link;
void specx_rpc_client_link(const specx_rpc_client *c, specx_rpc_link *out);

/* Calls per backend, as gRPC reports the peer of each finished call. */
typedef struct specx_rpc_backend_stats {
    char peer[96];   /* "ipv4:10.0.0.5:5001"; "" = calls that reached no backend */
    uint64_t calls;  /* finished calls (a streamed request is a call) */
    uint64_t ok;     /* answered with detections */
    uint64_t failed; /* any other outcome (error, deadline, cancel) */
} specx_rpc_backend_stats;

#define SPECX_RPC_MAX_BACKENDS 32

/* Copies up to max backends' counts (in the order first seen) into out and
 * returns how many there are (at most SPECX_RPC_MAX_BACKENDS; calls beyond
 * that many backends count under the last). Behind a proxy (nginx) the only
 * peer is the proxy: the replicas' own statistics tell the split. */
size_t specx_rpc_client_backends(specx_rpc_client *c, specx_rpc_backend_stats *out, size_t max);

/* An operator executor backed by a new client. The request given to start()
 * is a specx_encoded_frame*; results are specx_detections* (freed with
 * specx_detections_destroy). The executor owns the client (ops->destroy). */
specx_status specx_rpc_executor_create(const specx_rpc_client_config *cfg, specx_executor *out,
                                       specx_err *err);
/* specx_rpc_client_link of such an executor's client. */
void specx_rpc_executor_link(const specx_executor *ex, specx_rpc_link *out);
/* specx_rpc_client_backends of an executor made by specx_rpc_executor_create
 * (0 for any other executor). */
size_t specx_rpc_executor_backends(const specx_executor *e, specx_rpc_backend_stats *out,
                                   size_t max);

/* gRPC status code <-> specx_status (docs/rpc.md). */
specx_status specx_rpc_status_from_grpc(int code);
int specx_rpc_status_to_grpc(specx_status st);

#ifdef __cplusplus
}
#endif
#endif
