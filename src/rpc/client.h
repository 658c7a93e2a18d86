/* rpc/client.h — internal to src/rpc: the client's objects, shared by
 * client.c (channel, calls, unary) and client_stream.c (the bidirectional
 * stream), and the call start with a hook that executor.c uses.
 *
 * Locking: one lock per client (c->mu) guards the client, its calls and its
 * stream; functions named _locked expect it held. Callbacks (sx_rpc_finish)
 * run with no lock held. */
#ifndef SX_RPC_CLIENT_H
#define SX_RPC_CLIENT_H

#include <pthread.h>
#include <stdatomic.h>

#include "specx/rpc.h"

#include "rpc/grpc_util.h"
#include "rpc/sendq.h"

typedef struct sx_rpc_stream sx_rpc_stream;

struct specx_rpc_call {
    sx_rpc_tag tag;
    specx_rpc_client *c;
    specx_rpc_done_fn done;
    void *user;
    bool streaming;
    bool cancel_requested;
    struct specx_rpc_call *next, *prev; /* c->calls, or s->pending when streamed */
    /* unary */
    grpc_call *gc;
    grpc_metadata_array md_init, md_trail;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_status_code status;
    grpc_slice details;
    /* streamed */
    sx_rpc_stream *s; /* non-NULL while waiting for its reply */
    int32_t req_id;
    specx_time_t deadline;
    specx_time_t started; /* for the link's round trip */
};

struct specx_rpc_client {
    specx_rpc_client_config cfg;
    grpc_channel *ch;
    grpc_completion_queue *cq;
    void *reg_sync, *reg_stream;
    pthread_t thr;
    bool thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outstanding; /* started calls whose callback has not returned */
    int streams;     /* stream objects alive */
    bool closing;
    specx_rpc_call *calls; /* unary calls in flight */
    sx_rpc_stream *st;     /* the current stream */
    int32_t next_req_id;
    specx_time_t armed; /* the CQ thread's current wake-up time */
    /* Initial metadata of every call: `authorization: Bearer TOKEN` when a
     * token was configured (n_md 1), else none. */
    grpc_metadata md[1];
    size_t n_md;
    /* The link's most recent round trip (specx_rpc_link). */
    _Atomic specx_dur_t link_rtt;
    _Atomic specx_time_t link_measured;
    /* Calls per backend (peer), under mu. */
    specx_rpc_backend_stats backends[SPECX_RPC_MAX_BACKENDS];
    size_t n_backends;
    /* The server's model input size as its latest reply said: width << 32 |
     * height, 0 = unknown. Lock-free: read on every frame by the sender. */
    _Atomic uint64_t model_input;
};

/* A finished call waiting for its callback (collected under the lock, run
 * after it is released). */
typedef struct sx_rpc_finished {
    specx_rpc_call *call;
    specx_status st;
    specx_detections *result;
    char msg[768];
    double server_ms; /* st OK: the reply's queue + compute time */
} sx_rpc_finished;

/* Runs the callback, frees the call, and lets destroy() know; a successful
 * reply updates the link's round trip. No lock held. */
void sx_rpc_finish(sx_rpc_finished *f);
/* Counts one finished call against the backend gc was sent to (the
 * channel's target when it reached none). Takes c->mu. */
void sx_rpc_count_backend(specx_rpc_client *c, grpc_call *gc, specx_status st);
/* The same with a peer string already known ("" = no backend); c->mu held. */
void sx_rpc_count_peer_locked(specx_rpc_client *c, const char *peer, specx_status st);
/* Decodes a Response into f's result or error; *req_id (may be NULL) gets
 * its req_id. A reply with detections updates c's model input size. */
void sx_rpc_reply_decode(specx_rpc_client *c, grpc_byte_buffer *bb, sx_rpc_finished *f,
                         int32_t *req_id);

/* client_stream.c. Starts a streamed call (opening the stream if needed). */
specx_status sx_rpc_stream_start_locked(specx_rpc_call *k, specx_encoded_frame *frame,
                                        specx_time_t deadline);
/* Completes a streamed call now with SPECX_ECANCELED into *f (f->call stays
 * NULL if its reply was already in) and tells the server. */
void sx_rpc_stream_cancel_locked(specx_rpc_call *k, sx_rpc_finished *f);
/* CQ thread: completes streamed calls whose deadline has passed; returns the
 * time to wake up at next. */
specx_time_t sx_rpc_stream_expire(specx_rpc_client *c);
/* destroy(): cancels the stream on the wire (its pending calls fail). */
void sx_rpc_stream_cancel_wire_locked(specx_rpc_client *c);
/* destroy(), once no call is outstanding: drops the client's stream. */
void sx_rpc_stream_release_locked(specx_rpc_client *c);

/* client_creds.c. The channel credentials cfg asks for: plaintext, TLS
 * (tls-ca, or the system's roots when only a client certificate is given),
 * mutual TLS (tls-cert, tls-key). Errors name the file. */
specx_status sx_rpc_creds_create(const specx_rpc_client_config *cfg, grpc_channel_credentials **out,
                                 specx_err *err);
/* client_creds.c. Reads the configured token into c->md (`authorization:
 * Bearer TOKEN`); nothing when none is configured. Refuses a token over
 * plaintext to a non-loopback target. Messages never hold the token. */
specx_status sx_rpc_auth_md_init(specx_rpc_client *c, specx_err *err);
/* Releases c->md. Safe on an empty one. */
void sx_rpc_auth_md_clear(specx_rpc_client *c);

/* As specx_rpc_call_start; `created(created_arg, call)` runs under the client
 * lock before any work begins (it must not call into the client). */
specx_status sx_rpc_call_begin(specx_rpc_client *c, specx_encoded_frame *frame,
                               specx_time_t deadline, specx_rpc_done_fn done, void *user,
                               void (*created)(void *arg, specx_rpc_call *call), void *created_arg);

#endif
