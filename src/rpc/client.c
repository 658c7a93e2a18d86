/* client.c — the gRPC client of the detection service: one channel per
 * server, unary calls (here) or one long-lived bidirectional stream
 * (client_stream.c), cancellation on the wire, fail-fast by default.
 *
 * Design notes
 * - One completion queue and one thread (cq_main) per client; every
 *   completion and every user callback runs there (or inline in cancel for a
 *   streamed call, which has nothing left to wait for).
 * - One lock (c->mu) guards the client, its calls and its stream. Callbacks
 *   run with no lock held; a call object is freed only after its callback has
 *   returned, so cancel() stays safe up to then.
 * - Unary: one batch with all six ops; the gRPC deadline is the call's.
 * - Several backends (an ipv4: list, a DNS name): gRPC's client channel
 *   balances calls between them as the service config says (lb=, health
 *   checking); the client only counts where each call went
 *   (grpc_call_get_peer once it finished). Each client has its own
 *   connections (a local subchannel pool), so two executors, or two
 *   emulated vehicles in one process, are two clients to a server. */
#include "rpc/client.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/wire.h"

static void call_free(specx_rpc_call *k)
{
    if (k->gc != NULL) {
        grpc_call_unref(k->gc);
    }
    grpc_metadata_array_destroy(&k->md_init);
    grpc_metadata_array_destroy(&k->md_trail);
    if (k->send_bb != NULL) {
        grpc_byte_buffer_destroy(k->send_bb);
    }
    if (k->recv_bb != NULL) {
        grpc_byte_buffer_destroy(k->recv_bb);
    }
    grpc_slice_unref(k->details);
    free(k);
}

/* The link's share of a successful call: its round trip less the server's
 * own time (never below 0: the clocks are not the same). */
static void link_update(specx_rpc_client *c, const specx_rpc_call *k, double server_ms)
{
    specx_time_t now = specx_time_now();
    specx_dur_t rtt = now - k->started - (specx_dur_t)(server_ms * 1e6);
    atomic_store_explicit(&c->link_rtt, rtt > 0 ? rtt : 0, memory_order_relaxed);
    atomic_store_explicit(&c->link_measured, now, memory_order_relaxed);
}

void specx_rpc_client_link(const specx_rpc_client *c, specx_rpc_link *out)
{
    out->rtt = atomic_load_explicit(&c->link_rtt, memory_order_relaxed);
    out->measured = atomic_load_explicit(&c->link_measured, memory_order_relaxed);
}

void sx_rpc_finish(sx_rpc_finished *f)
{
    specx_rpc_call *k = f->call;
    specx_rpc_client *c = k->c;
    if (f->st == SPECX_OK) {
        link_update(c, k, f->server_ms);
    }
    k->done(k->user, f->st, f->result, f->st == SPECX_OK ? NULL : f->msg);
    call_free(k);
    pthread_mutex_lock(&c->mu);
    if (--c->outstanding == 0) {
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void sx_rpc_reply_decode(specx_rpc_client *c, grpc_byte_buffer *bb, sx_rpc_finished *f,
                         int32_t *req_id)
{
    sx_rpc_response r;
    f->st = sx_rpc_response_decode(bb, &r);
    if (f->st == SPECX_ENOMEM) {
        snprintf(f->msg, sizeof f->msg, "out of memory decoding the reply");
        return;
    }
    if (f->st != SPECX_OK) {
        snprintf(f->msg, sizeof f->msg, "server reply is not an object_detection.Response");
        return;
    }
    if (req_id != NULL) {
        *req_id = r.req_id;
    }
    f->server_ms = r.queue_ms + r.infer_ms;
    if (r.status_code != 0) {
        f->st = specx_rpc_status_from_grpc(r.status_code);
        snprintf(f->msg, sizeof f->msg, "server: %s",
                 r.status_message[0] != '\0' ? r.status_message : specx_strerror(f->st));
        return;
    }
    f->result = r.det;
    /* Only replies with detections: an error may come from a server that
     * never reached its model (a proxy, a refusal). A server that does not
     * say (an old one, or a model without a fixed input) resets it. */
    uint64_t input = (uint64_t)(uint32_t)r.model_input_width << 32 | (uint32_t)r.model_input_height;
    atomic_store_explicit(&c->model_input, input, memory_order_relaxed);
}

/* ---- backends ---------------------------------------------------------- */

void sx_rpc_count_peer_locked(specx_rpc_client *c, const char *peer, specx_status st)
{
    specx_rpc_backend_stats *b = NULL;
    for (size_t i = 0; i < c->n_backends && b == NULL; i++) {
        if (strcmp(c->backends[i].peer, peer) == 0) {
            b = &c->backends[i];
        }
    }
    if (b == NULL) {
        b = &c->backends[c->n_backends < SPECX_RPC_MAX_BACKENDS ? c->n_backends++
                                                                : SPECX_RPC_MAX_BACKENDS - 1];
        if (b->calls == 0) {
            snprintf(b->peer, sizeof b->peer, "%s", peer);
        }
    }
    b->calls++;
    if (st == SPECX_OK) {
        b->ok++;
    } else {
        b->failed++;
    }
}

void sx_rpc_count_backend(specx_rpc_client *c, grpc_call *gc, specx_status st)
{
    /* Before a call reaches a backend gRPC reports the channel's target. */
    char *peer = gc != NULL ? grpc_call_get_peer(gc) : NULL;
    const char *p = peer != NULL && strcmp(peer, c->cfg.target) != 0 ? peer : "";
    pthread_mutex_lock(&c->mu);
    sx_rpc_count_peer_locked(c, p, st);
    pthread_mutex_unlock(&c->mu);
    gpr_free(peer);
}

size_t specx_rpc_client_backends(specx_rpc_client *c, specx_rpc_backend_stats *out, size_t max)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n_backends;
    for (size_t i = 0; i < n && i < max; i++) {
        out[i] = c->backends[i];
    }
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- unary ------------------------------------------------------------ */

static void unary_done(sx_rpc_tag *t, bool ok)
{
    specx_rpc_call *k = (specx_rpc_call *)t; /* the tag is the call's first member */
    specx_rpc_client *c = k->c;
    /* Out of the client's list first; cancel_requested is written under the
     * lock by specx_rpc_call_cancel on another thread. */
    pthread_mutex_lock(&c->mu);
    bool cancelled = k->cancel_requested;
    if (k->prev != NULL) {
        k->prev->next = k->next;
    } else {
        c->calls = k->next;
    }
    if (k->next != NULL) {
        k->next->prev = k->prev;
    }
    pthread_mutex_unlock(&c->mu);
    sx_rpc_finished f = {.call = k, .st = SPECX_OK};
    if (!ok) {
        f.st = SPECX_EINTERNAL;
        snprintf(f.msg, sizeof f.msg, "%s: call batch failed", c->cfg.target);
    } else if (k->status != GRPC_STATUS_OK) {
        f.st = specx_rpc_status_from_grpc(k->status);
        char det[200];
        sx_rpc_slice_to_buf(k->details, det, sizeof det);
        snprintf(f.msg, sizeof f.msg, "%s: %s%s%s", c->cfg.target,
                 cancelled && f.st == SPECX_ECANCELED ? "cancelled" : specx_strerror(f.st),
                 det[0] != '\0' ? ": " : "", det);
    } else if (k->recv_bb == NULL) {
        f.st = SPECX_EFORMAT;
        snprintf(f.msg, sizeof f.msg, "%s: OK status without a reply message", c->cfg.target);
    } else {
        sx_rpc_reply_decode(c, k->recv_bb, &f, NULL);
    }
    sx_rpc_count_backend(c, k->gc, f.st);
    sx_rpc_finish(&f);
}

static specx_status unary_start_locked(specx_rpc_call *k, specx_encoded_frame *frame,
                                       specx_time_t deadline)
{
    specx_rpc_client *c = k->c;
    k->gc =
        grpc_channel_create_registered_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                            c->reg_sync, sx_rpc_deadline_to_gpr(deadline), NULL);
    if (k->gc == NULL) {
        return SPECX_EINTERNAL;
    }
    k->send_bb = sx_rpc_request_encode(frame, (int32_t)(c->next_req_id++ & 0x7fffffff), 0, false);
    if (k->send_bb == NULL) {
        return SPECX_ENOMEM;
    }
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].flags = c->cfg.wait_for_ready ? GRPC_INITIAL_METADATA_WAIT_FOR_READY : 0;
    ops[0].data.send_initial_metadata.count = c->n_md;
    ops[0].data.send_initial_metadata.metadata = c->n_md > 0 ? c->md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = k->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &k->md_init;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &k->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &k->md_trail;
    ops[5].data.recv_status_on_client.status = &k->status;
    ops[5].data.recv_status_on_client.status_details = &k->details;
    k->tag.fn = unary_done;
    if (sx_rpc_start_batch(k->gc, ops, 6, &k->tag) != GRPC_CALL_OK) {
        return SPECX_EINTERNAL;
    }
    k->next = c->calls;
    if (c->calls != NULL) {
        c->calls->prev = k;
    }
    c->calls = k;
    if (k->cancel_requested) {
        grpc_call_cancel(k->gc, NULL);
    }
    return SPECX_OK;
}

/* ---- calls ------------------------------------------------------------ */

static void *cq_main(void *arg)
{
    specx_rpc_client *c = arg;
    specx_time_t wake = SPECX_TIME_NEVER;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(c->cq, sx_rpc_deadline_to_gpr(wake), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            sx_rpc_tag_run(ev.tag, ev.success != 0);
        }
        if (c->cfg.streaming) {
            wake = sx_rpc_stream_expire(c);
        }
    }
    return NULL;
}

specx_status sx_rpc_call_begin(specx_rpc_client *c, specx_encoded_frame *frame,
                               specx_time_t deadline, specx_rpc_done_fn done, void *user,
                               void (*created)(void *arg, specx_rpc_call *call), void *created_arg)
{
    if (c == NULL || frame == NULL || done == NULL) {
        return SPECX_EINVAL;
    }
    specx_rpc_call *k = calloc(1, sizeof *k);
    if (k == NULL) {
        return SPECX_ENOMEM;
    }
    k->c = c;
    k->done = done;
    k->user = user;
    k->streaming = c->cfg.streaming;
    k->started = specx_time_now();
    k->details = grpc_empty_slice();
    grpc_metadata_array_init(&k->md_init);
    grpc_metadata_array_init(&k->md_trail);
    pthread_mutex_lock(&c->mu);
    if (c->closing) {
        pthread_mutex_unlock(&c->mu);
        call_free(k);
        return SPECX_ESTOPPED;
    }
    /* Under the lock, so before anything can complete the call. */
    if (created != NULL) {
        created(created_arg, k);
    }
    specx_status st = k->streaming ? sx_rpc_stream_start_locked(k, frame, deadline)
                                   : unary_start_locked(k, frame, deadline);
    if (st == SPECX_OK) {
        c->outstanding++;
    }
    pthread_mutex_unlock(&c->mu);
    if (st != SPECX_OK) {
        call_free(k);
    }
    return st;
}

static void set_out(void *arg, specx_rpc_call *call)
{
    *(specx_rpc_call **)arg = call;
}

specx_status specx_rpc_call_start(specx_rpc_client *c, specx_encoded_frame *frame,
                                  specx_time_t deadline, specx_rpc_done_fn done, void *user,
                                  specx_rpc_call **out)
{
    return sx_rpc_call_begin(c, frame, deadline, done, user, out != NULL ? set_out : NULL, out);
}

bool specx_rpc_client_model_input(const specx_rpc_client *c, int *width, int *height)
{
    uint64_t v = atomic_load_explicit(&c->model_input, memory_order_relaxed);
    int w = (int)(uint32_t)(v >> 32), h = (int)(uint32_t)v;
    if (w < 1 || h < 1) {
        return false;
    }
    *width = w;
    *height = h;
    return true;
}

void specx_rpc_call_cancel(specx_rpc_call *k)
{
    if (k == NULL) {
        return;
    }
    specx_rpc_client *c = k->c;
    sx_rpc_finished f = {.call = NULL};
    pthread_mutex_lock(&c->mu);
    k->cancel_requested = true;
    if (!k->streaming) {
        if (k->gc != NULL) {
            grpc_call_cancel(k->gc, NULL);
        }
    } else {
        sx_rpc_stream_cancel_locked(k, &f);
    }
    pthread_mutex_unlock(&c->mu);
    if (f.call != NULL) {
        sx_rpc_finish(&f);
    }
}

/* ---- client ----------------------------------------------------------- */

/* The default service config (JSON, into buf): the load-balancing policy
 * and client-side health checking; "" when neither is asked for. */
static void service_config(const specx_rpc_client_config *cfg, char *buf, size_t n)
{
    char lb[96] = "", hc[128] = "";
    if (cfg->lb[0] != '\0') {
        snprintf(lb, sizeof lb, "\"loadBalancingConfig\":[{\"%s\":{}}]", cfg->lb);
    }
    if (!cfg->no_health_check) {
        snprintf(hc, sizeof hc, "\"healthCheckConfig\":{\"serviceName\":\"%s\"}",
                 SX_RPC_SERVICE_NAME);
    }
    if (lb[0] == '\0' && hc[0] == '\0') {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, n, "{%s%s%s}", lb, lb[0] != '\0' && hc[0] != '\0' ? "," : "", hc);
}

/* Creates c->ch from c->cfg with creds (released here). */
static void channel_create(specx_rpc_client *c, grpc_channel_credentials *creds)
{
    int backoff_max = c->cfg.reconnect_max > 0 ? (int)(c->cfg.reconnect_max / 1000000) : 1000;
    if (backoff_max < 1) {
        backoff_max = 1;
    }
    grpc_arg args[8];
    memset(args, 0, sizeof args);
    size_t na = 0;
    char sc[256];
    service_config(&c->cfg, sc, sizeof sc);
    if (sc[0] != '\0') {
        args[na].type = GRPC_ARG_STRING;
        args[na].key = GRPC_ARG_SERVICE_CONFIG;
        args[na++].value.string = sc;
        /* Ours, not one from DNS TXT records. */
        args[na].type = GRPC_ARG_INTEGER;
        args[na].key = GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION;
        args[na++].value.integer = 1;
    }
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[na++].value.integer = 1;
    /* Retry a down server soon (it may be restarting), but leave
     * GRPC_ARG_MIN_RECONNECT_BACKOFF_MS alone: gRPC also uses it as the
     * minimum time a connection attempt gets, and a slow link (or valgrind)
     * needs more than 100 ms for the TCP + HTTP/2 handshake. */
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = backoff_max < 100 ? backoff_max : 100;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[na++].value.integer = backoff_max;
    args[na].type = GRPC_ARG_INTEGER;
    args[na].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[na++].value.integer = 64 << 20;
    if (c->cfg.tls_host[0] != '\0') {
        args[na].type = GRPC_ARG_STRING;
        args[na].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[na++].value.string = c->cfg.tls_host;
    }
    grpc_channel_args ca = {.num_args = na, .args = args};
    c->ch = grpc_channel_create(c->cfg.target, creds, &ca);
    grpc_channel_credentials_release(creds);
    c->reg_sync = grpc_channel_register_call(c->ch, SX_RPC_METHOD_SYNC, NULL, NULL);
    c->reg_stream = grpc_channel_register_call(c->ch, SX_RPC_METHOD_STREAM, NULL, NULL);
}

static void client_free(specx_rpc_client *c)
{
    grpc_channel_destroy(c->ch);
    grpc_completion_queue_shutdown(c->cq);
    if (c->thr_started) {
        pthread_join(c->thr, NULL);
    } else {
        sx_rpc_cq_run(c->cq);
    }
    grpc_completion_queue_destroy(c->cq);
    sx_rpc_auth_md_clear(c);
    sx_rpc_global_shutdown();
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

specx_status specx_rpc_client_create(const specx_rpc_client_config *cfg, specx_rpc_client **out,
                                     specx_err *err)
{
    if (cfg == NULL || out == NULL || cfg->target[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "client: no target");
    }
    specx_rpc_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "client: out of memory");
    }
    c->cfg = *cfg;
    sx_rpc_global_init();
    grpc_channel_credentials *creds = NULL;
    specx_status st = sx_rpc_auth_md_init(c, err);
    if (st == SPECX_OK) {
        st = sx_rpc_creds_create(cfg, &creds, err);
    }
    if (st != SPECX_OK) {
        sx_rpc_auth_md_clear(c);
        sx_rpc_global_shutdown();
        free(c);
        return st;
    }
    c->armed = SPECX_TIME_NEVER;
    c->next_req_id = 1;
    atomic_init(&c->link_rtt, -1);
    atomic_init(&c->link_measured, SPECX_TIME_NEVER);
    atomic_init(&c->model_input, 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    channel_create(c, creds);
    c->cq = grpc_completion_queue_create_for_next(NULL);
    if (pthread_create(&c->thr, NULL, cq_main, c) != 0) {
        client_free(c);
        return specx_err_set(err, SPECX_EINTERNAL, "client: cannot start its thread");
    }
    c->thr_started = true;
    *out = c;
    return SPECX_OK;
}

void specx_rpc_client_destroy(specx_rpc_client *c)
{
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->closing = true;
    for (specx_rpc_call *k = c->calls; k != NULL; k = k->next) {
        grpc_call_cancel(k->gc, NULL);
    }
    sx_rpc_stream_cancel_wire_locked(c);
    while (c->outstanding > 0) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    sx_rpc_stream_release_locked(c);
    while (c->streams > 0) {
        pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    client_free(c);
}
