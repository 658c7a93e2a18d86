/* watch.c — grpc.health.v1.Health/Watch: a server-streaming call per
 * watcher; the present status is sent at once and again at every change
 * (specx_server_set_serving, stop), until the client goes away or the server
 * stops. gRPC's client-side health checking (service config
 * healthCheckConfig) keeps one Watch per connection and takes a replica
 * out of rotation when it says anything but SERVING.
 *
 * Design notes
 * - Every open watch is on srv->watches; srv->health_mu guards that list,
 *   the health status and each watch's fields. Batches start under it.
 * - refs = batches in flight (+1 while a completion runs); freed at 0 after
 *   leaving the list. RECV_CLOSE is one of the batches: it completes when
 *   the call is over (status sent, or cancelled by the client).
 * - One SEND_MESSAGE in flight. When it completes the latest status is sent
 *   if it differs from the last one sent: a watcher needs the present
 *   state, not every flip.
 * - An unknown service gets SERVICE_UNKNOWN and the call stays open (the
 *   health protocol), so a mistyped name shows up as "not serving".
 * - Stop: watches_end makes every watch send its final status (UNAVAILABLE)
 *   after NOT_SERVING, so that grpc_server_shutdown is not held up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/server.h"

struct sx_serve_watch {
    sx_rpc_tag t_new, t_close, t_send, t_status;
    specx_server *srv;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *sending;
    grpc_slice details;
    int cancelled;
    int refs;
    bool known; /* the service asked about is ours */
    int sent;   /* last status sent; -1 = none yet */
    bool md_sent;
    bool over;   /* RECV_CLOSE fired, or a send failed: send nothing more */
    bool ending; /* send the final status after the present one */
    bool status_started;
    bool listed;
    sx_serve_watch *next, *prev;
};

typedef sx_serve_watch watch;

static void watch_free(watch *w)
{
    if (w->call != NULL) {
        grpc_call_unref(w->call);
    }
    grpc_metadata_array_destroy(&w->md);
    if (w->payload != NULL) {
        grpc_byte_buffer_destroy(w->payload);
    }
    if (w->sending != NULL) {
        grpc_byte_buffer_destroy(w->sending);
    }
    grpc_slice_unref(w->details);
    free(w);
}

/* Drops one ref under health_mu; returns true when the caller must free w
 * (after unlocking). */
static bool watch_unref_locked(watch *w)
{
    if (--w->refs > 0) {
        return false;
    }
    if (w->listed) {
        specx_server *srv = w->srv;
        if (w->prev != NULL) {
            w->prev->next = w->next;
        } else {
            srv->watches = w->next;
        }
        if (w->next != NULL) {
            w->next->prev = w->prev;
        }
        w->listed = false;
    }
    return true;
}

static void watch_done(watch *w)
{
    bool free_it = watch_unref_locked(w);
    pthread_mutex_unlock(&w->srv->health_mu);
    if (free_it) {
        watch_free(w);
    }
}

static bool watch_batch(watch *w, const grpc_op *ops, size_t n, sx_rpc_tag *tag)
{
    w->refs++;
    if (sx_rpc_start_batch(w->call, ops, n, tag) != GRPC_CALL_OK) {
        w->refs--;
        return false;
    }
    return true;
}

static sx_serve_health_status status_now(const watch *w)
{
    if (!w->known) {
        return SX_SERVE_HEALTH_SERVICE_UNKNOWN;
    }
    return w->srv->serving ? SX_SERVE_HEALTH_SERVING : SX_SERVE_HEALTH_NOT_SERVING;
}

/* Sends the present status if it was not sent yet, else the final status
 * once the watch is ending. */
static void watch_pump_locked(watch *w)
{
    if (w->sending != NULL || w->status_started || w->over) {
        return;
    }
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!w->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    sx_serve_health_status now = status_now(w);
    if ((int)now != w->sent) {
        w->sending = sx_serve_health_reply(now);
        if (w->sending == NULL) {
            return; /* out of memory: the next change tries again */
        }
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = w->sending;
        if (!watch_batch(w, ops, n, &w->t_send)) {
            grpc_byte_buffer_destroy(w->sending);
            w->sending = NULL;
            w->over = true;
            return;
        }
        w->sent = (int)now;
        w->md_sent = true;
        return;
    }
    if (w->ending) {
        w->status_started = true;
        w->md_sent = true;
        w->details = grpc_slice_from_static_string("server shutting down");
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
        ops[n++].data.send_status_from_server.status_details = &w->details;
        watch_batch(w, ops, n, &w->t_status);
    }
}

/* ---- completions ------------------------------------------------------ */

static void w_on_send(sx_rpc_tag *t, bool ok)
{
    watch *w = SX_CONTAINER_OF(t, watch, t_send);
    pthread_mutex_lock(&w->srv->health_mu);
    grpc_byte_buffer_destroy(w->sending);
    w->sending = NULL;
    if (!ok) {
        w->over = true; /* the client went away; RECV_CLOSE ends it */
    }
    watch_pump_locked(w);
    watch_done(w);
}

static void w_on_status(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    watch *w = SX_CONTAINER_OF(t, watch, t_status);
    pthread_mutex_lock(&w->srv->health_mu);
    watch_done(w);
}

static void w_on_close(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    watch *w = SX_CONTAINER_OF(t, watch, t_close);
    pthread_mutex_lock(&w->srv->health_mu);
    w->over = true;
    watch_done(w);
}

/* A request that is not a HealthCheckRequest: INVALID_ARGUMENT, call over. */
static void watch_refuse_locked(watch *w, const char *msg)
{
    w->status_started = true;
    w->details = grpc_slice_from_copied_string(msg);
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_INVALID_ARGUMENT;
    ops[1].data.send_status_from_server.status_details = &w->details;
    watch_batch(w, ops, 2, &w->t_status);
}

static void w_on_new(sx_rpc_tag *t, bool ok)
{
    watch *w = SX_CONTAINER_OF(t, watch, t_new);
    specx_server *srv = w->srv;
    if (!ok) {
        watch_free(w); /* server shutting down: no call */
        return;
    }
    sx_serve_watch_arm(srv);
    sx_serve_stats_count(&srv->stats, SX_SERVE_HEALTH_CHECKS);
    char msg[200];
    specx_status st = sx_serve_health_request(w->payload, &w->known, msg, sizeof msg);
    pthread_mutex_lock(&srv->health_mu);
    w->refs = 1; /* held until the end of this function */
    w->next = srv->watches;
    if (srv->watches != NULL) {
        srv->watches->prev = w;
    }
    srv->watches = w;
    w->listed = true;
    w->ending = srv->watches_ending;
    grpc_op one = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};
    one.data.recv_close_on_server.cancelled = &w->cancelled;
    watch_batch(w, &one, 1, &w->t_close);
    if (st != SPECX_OK) {
        watch_refuse_locked(w, msg);
    } else {
        watch_pump_locked(w);
    }
    watch_done(w);
}

void sx_serve_watch_arm(specx_server *srv)
{
    watch *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return;
    }
    w->srv = srv;
    w->sent = -1;
    w->t_new.fn = w_on_new;
    w->t_close.fn = w_on_close;
    w->t_send.fn = w_on_send;
    w->t_status.fn = w_on_status;
    w->details = grpc_empty_slice();
    grpc_metadata_array_init(&w->md);
    sx_rpc_tag_post(&w->t_new);
    if (grpc_server_request_registered_call(srv->server, srv->m_watch, &w->call, &w->deadline,
                                            &w->md, &w->payload, srv->cq, srv->cq,
                                            &w->t_new) != GRPC_CALL_OK) {
        watch_free(w);
    }
}

/* ---- status changes --------------------------------------------------- */

void sx_serve_watch_set_serving(specx_server *srv, bool serving)
{
    pthread_mutex_lock(&srv->health_mu);
    if (!srv->watches_ending) {
        srv->serving = serving;
        for (watch *w = srv->watches; w != NULL; w = w->next) {
            watch_pump_locked(w);
        }
    }
    pthread_mutex_unlock(&srv->health_mu);
}

void sx_serve_watches_end(specx_server *srv)
{
    pthread_mutex_lock(&srv->health_mu);
    srv->serving = false;
    srv->watches_ending = true;
    for (watch *w = srv->watches; w != NULL; w = w->next) {
        w->ending = true;
        watch_pump_locked(w);
    }
    pthread_mutex_unlock(&srv->health_mu);
}
