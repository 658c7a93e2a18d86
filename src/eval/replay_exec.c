/* replay_exec.c — the replay's simulated executors: the local model (one
 * frame at a time, drop-oldest queue) and the cloud (JPEG encode, the
 * connection through the netem simulator, the server's deadline-ordered
 * queue and workers, the wire deadline, cancellation).
 *
 * Design notes (each decision mirrors the live system; docs/eval.md lists
 * them with the reasons)
 *  - Encoding: the pipeline's uplink thread scales and encodes a frame for
 *    the cloud off the submitting thread, so the local call starts at
 *    arrival and the request encode_ms later.
 *  - Local: like specx_local_executor with one worker and queue depth D
 *    (DROP_OLDEST): a frame arriving while D wait displaces the oldest,
 *    whose call completes with SPECX_EBUSY. A cancel removes a waiting call
 *    or stops the running one at once (the detectors check between layers).
 *  - Connection: opened by the first request (TCP handshake: one small
 *    packet each way); requests wait for it. HTTP/2 headers and gRPC
 *    framing are counted as bytes; flow control is not modelled (as in the
 *    netem simulator): a request's bytes enter the link when it is sent.
 *  - Wire deadline: the client's gRPC deadline is the plan's; at it, an
 *    unanswered call completes with SPECX_ETIMEDOUT and the client sends
 *    RST_STREAM. The server's deadline is its receipt of the headers plus
 *    the remaining budget (grpc-timeout). A cancelled call completes at once
 *    and sends RST_STREAM. Requests never sent (cancelled while encoding) cost
 *    nothing.
 *  - Host overhead (optional, cfg->host_ms): a draw per call added between
 *    the request's last byte and its joining the server's queue.
 *  - Server (specx serve): workers pop the earliest deadline first; a
 *    request whose deadline has passed, or whose RST has arrived, is dropped
 *    unstarted; a running one stops when its deadline passes or its RST
 *    arrives (no reply); one that finishes replies with reply_bytes. */
#include <stdlib.h>

#include "eval/replay_sim.h"
#include "netem/rng.h"

#define HANDSHAKE_BYTES 60    /* SYN, SYN-ACK */
#define REQ_HEADERS_BYTES 100 /* HTTP/2 HEADERS of a call (HPACK-indexed) */
#define GRPC_PREFIX_BYTES 5   /* length-prefixed message */
#define H2_FRAME_BYTES 9      /* per DATA frame of up to 16 KiB */
#define RESP_HEADERS_BYTES 40 /* response HEADERS + trailers */
#define RST_BYTES 13          /* RST_STREAM frame */
#define STREAM_LOCAL UINT64_C(0x10ca100000000000)
#define STREAM_CLOUD UINT64_C(0xc10d000000000000)
#define STREAM_HOST UINT64_C(0x4057000000000000)

static size_t framed(size_t msg)
{
    size_t payload = msg + GRPC_PREFIX_BYTES;
    return payload + H2_FRAME_BYTES * ((payload + 16383) / 16384);
}

/* Request: Request{image_data, req_id} (unary: no budget field). */
static size_t request_wire_bytes(size_t jpeg)
{
    size_t v = 1;
    for (size_t x = jpeg; x >= 0x80; x >>= 7) {
        v++;
    }
    return framed(1 + v + jpeg + 3);
}

specx_dur_t sx_replay_draw(const sx_replay *w, const specx_replay_dist *d, uint64_t stream,
                           size_t frame)
{
    if (!d || d->n == 0) {
        return 0;
    }
    sx_netem_rng r;
    sx_netem_rng_seed(&r, w->cfg->seed, stream ^ (uint64_t)frame);
    double ms = d->ms[sx_netem_rng_next(&r) % d->n];
    return (specx_dur_t)(ms * 1e6 + 0.5);
}

static specx_dur_t encode_ns(const sx_replay *w, const sx_rframe *f)
{
    return (specx_dur_t)(w->cfg->frames[f->index].encode_ms * 1e6 + 0.5);
}

/* Through the link in direction dir at now; no link: arrives at once. */
static specx_time_t link_send(sx_replay *w, specx_netem_dir dir, specx_time_t at, size_t bytes)
{
    if (!w->link) {
        return at;
    }
    specx_time_t arr;
    specx_err err;
    specx_dur_t off = w->cfg->link_offset > 0 ? w->cfg->link_offset : 0;
    specx_status st = specx_netem_sim_send(w->link, dir, at - w->t0 + off, bytes, &arr, &err);
    if (st != SPECX_OK) {
        w->failed = true;
        w->fail_st = st;
        w->err = err;
        return at;
    }
    return arr + w->t0 - off;
}

/* ---- local ------------------------------------------------------------------ */

static void local_run(sx_replay *w, sx_rframe *f)
{
    w->lbusy = f;
    f->lstate = SX_LOCAL_RUNNING;
    f->lend = w->now + sx_replay_draw(w, w->cfg->local_ms, STREAM_LOCAL, f->index);
    sx_replay_schedule(w, f->lend, SX_REV_LOCAL_DONE, f->index);
}

static void local_next(sx_replay *w)
{
    w->lbusy = NULL;
    sx_rframe *f = w->lhead;
    if (f) {
        w->lhead = f->lnext;
        if (!w->lhead) {
            w->ltail = NULL;
        }
        w->lqueued--;
        f->lnext = NULL;
        local_run(w, f);
    }
}

static void local_complete(sx_replay *w, sx_rframe *f, specx_status st)
{
    f->lstate = SX_LOCAL_DONE;
    void *result = st == SPECX_OK ? (void *)w->cfg->frames[f->index].local : NULL;
    specx_call_complete(f->lcall, st, result,
                        st == SPECX_EBUSY ? "dropped from the local queue by a newer frame" : NULL);
}

static void local_enqueue(sx_replay *w, sx_rframe *f)
{
    if (!w->lbusy) {
        local_run(w, f);
        return;
    }
    if (w->lqueued >= w->ldepth) {
        sx_rframe *old = w->lhead;
        w->lhead = old->lnext;
        if (!w->lhead) {
            w->ltail = NULL;
        }
        w->lqueued--;
        old->lnext = NULL;
        w->st.local_dropped++;
        local_complete(w, old, SPECX_EBUSY);
    }
    f->lstate = SX_LOCAL_QUEUED;
    if (w->ltail) {
        w->ltail->lnext = f;
    } else {
        w->lhead = f;
    }
    w->ltail = f;
    w->lqueued++;
}

static void local_unqueue(sx_replay *w, sx_rframe *f)
{
    sx_rframe **pp = &w->lhead, *prev = NULL;
    while (*pp && *pp != f) {
        prev = *pp;
        pp = &(*pp)->lnext;
    }
    if (*pp) {
        *pp = f->lnext;
        if (w->ltail == f) {
            w->ltail = prev;
        }
        w->lqueued--;
        f->lnext = NULL;
    }
}

void sx_replay_local_event(sx_replay *w, sx_rev_kind kind, sx_rframe *f)
{
    switch (kind) {
    case SX_REV_LOCAL_ENQ:
        if (f->lstate == SX_LOCAL_STARTING) {
            local_enqueue(w, f);
        }
        break;
    case SX_REV_LOCAL_DONE:
        if (f->lstate == SX_LOCAL_RUNNING && w->lbusy == f && f->lend == w->now) {
            w->st.local_computed++;
            local_complete(w, f, SPECX_OK);
            local_next(w);
        }
        break;
    case SX_REV_LOCAL_CANCEL:
        if (f->lstate == SX_LOCAL_STARTING) {
            w->st.local_cancelled++;
            local_complete(w, f, SPECX_ECANCELED);
        } else if (f->lstate == SX_LOCAL_QUEUED) {
            local_unqueue(w, f);
            w->st.local_cancelled++;
            local_complete(w, f, SPECX_ECANCELED);
        } else if (f->lstate == SX_LOCAL_RUNNING) {
            w->st.local_cancelled++;
            local_complete(w, f, SPECX_ECANCELED);
            local_next(w);
        }
        break;
    default:
        break;
    }
}

static specx_status local_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)deadline; /* the local call has none */
    sx_replay *w = ctx;
    sx_rframe *f = request;
    f->lcall = call;
    f->lstate = SX_LOCAL_STARTING;
    sx_replay_schedule(w, w->now, SX_REV_LOCAL_ENQ, f->index);
    return w->failed ? SPECX_ENOMEM : SPECX_OK;
}

static void local_cancel(void *ctx, specx_call *call)
{
    sx_replay *w = ctx;
    sx_rframe *f = specx_call_data(call);
    sx_replay_schedule(w, w->now, SX_REV_LOCAL_CANCEL, f->index);
}

/* ---- remote: vehicle side ------------------------------------------------------ */

static void remote_complete(sx_replay *w, sx_rframe *f, specx_status st)
{
    f->rdone = true;
    void *result = st == SPECX_OK ? (void *)w->cfg->frames[f->index].cloud : NULL;
    const char *msg = st == SPECX_ETIMEDOUT   ? "deadline exceeded on the wire"
                      : st == SPECX_ECANCELED ? "cancelled by the vehicle"
                                              : NULL;
    specx_call_complete(f->rcall, st, result, msg);
}

/* The client gives up on a sent call: RST_STREAM up the link. */
static void send_rst(sx_replay *w, sx_rframe *f)
{
    specx_time_t arr = link_send(w, SPECX_NETEM_UP, w->now, RST_BYTES);
    sx_replay_schedule(w, arr, SX_REV_SERVER_CANCEL, f->index);
}

/* The connection opens with the first request: one round trip of small
 * packets; false while it is not ready (the send is retried then). */
static bool connection_ready(sx_replay *w)
{
    if (!w->conn_started) {
        w->conn_started = true;
        specx_time_t syn = link_send(w, SPECX_NETEM_UP, w->now, HANDSHAKE_BYTES);
        w->conn_ready = link_send(w, SPECX_NETEM_DOWN, syn, HANDSHAKE_BYTES);
    }
    return w->now >= w->conn_ready;
}

static void remote_send(sx_replay *w, sx_rframe *f)
{
    if (!connection_ready(w)) {
        sx_replay_schedule(w, w->conn_ready, SX_REV_SEND, f->index);
        return;
    }
    const specx_replay_frame *fr = &w->cfg->frames[f->index];
    specx_time_t h = link_send(w, SPECX_NETEM_UP, w->now, REQ_HEADERS_BYTES);
    specx_time_t b = link_send(w, SPECX_NETEM_UP, w->now, request_wire_bytes(fr->request_bytes));
    f->wire = SX_WIRE_SENT;
    f->srv = SX_SRV_UPLINK;
    f->srv_deadline = f->wire_deadline == SPECX_TIME_NEVER
                          ? SPECX_TIME_NEVER
                          : specx_time_add(h, f->wire_deadline - w->now);
    w->st.cloud_sent++;
    specx_dur_t host = sx_replay_draw(w, w->cfg->host_ms, STREAM_HOST, f->index);
    sx_replay_schedule(w, b + host, SX_REV_SERVER_ARRIVE, f->index);
}

/* ---- remote: server ---------------------------------------------------------------- */

static void workers_kick(sx_replay *w)
{
    while (w->workers_idle > 0 && sx_heap_len(&w->srvq) > 0) {
        sx_rframe *f = SX_CONTAINER_OF(sx_heap_pop(&w->srvq), sx_rframe, qnode);
        if (f->srv_cancel || w->now >= f->srv_deadline) {
            f->srv = SX_SRV_OVER; /* answered without computing */
            if (f->srv_cancel) {
                w->st.server_cancelled++;
            } else {
                w->st.server_expired++;
            }
            continue;
        }
        w->workers_idle--;
        f->srv = SX_SRV_RUNNING;
        specx_time_t end = w->now + sx_replay_draw(w, w->cfg->cloud_ms, STREAM_CLOUD, f->index);
        f->srv_finishes = end < f->srv_deadline;
        f->srv_end = f->srv_finishes ? end : f->srv_deadline;
        sx_replay_schedule(w, f->srv_end, SX_REV_WORKER_DONE, f->index);
    }
}

static void server_event(sx_replay *w, sx_rev_kind kind, sx_rframe *f)
{
    if (kind == SX_REV_SERVER_ARRIVE && f->srv == SX_SRV_UPLINK) {
        f->srv = SX_SRV_QUEUED;
        f->qnode.key = f->srv_deadline;
        f->qnode.seq = w->srv_seq++;
        if (sx_heap_push(&w->srvq, &f->qnode) != SPECX_OK) {
            w->failed = true;
            w->fail_st = specx_err_set(&w->err, SPECX_ENOMEM, "replay: out of memory");
        }
    } else if (kind == SX_REV_SERVER_CANCEL) {
        f->srv_cancel = true;
        if (f->srv == SX_SRV_RUNNING) { /* stops at its next checkpoint: now */
            f->srv = SX_SRV_OVER;
            w->st.server_stopped++;
            w->workers_idle++;
        }
    } else if (kind == SX_REV_WORKER_DONE && f->srv == SX_SRV_RUNNING && f->srv_end == w->now) {
        f->srv = SX_SRV_OVER;
        w->workers_idle++;
        if (f->srv_finishes) {
            w->st.server_computed++;
            size_t bytes = framed(w->cfg->frames[f->index].reply_bytes) + RESP_HEADERS_BYTES;
            specx_time_t arr = link_send(w, SPECX_NETEM_DOWN, w->now, bytes);
            sx_replay_schedule(w, arr, SX_REV_REPLY, f->index);
        } else {
            w->st.server_stopped++; /* its deadline passed while it ran */
        }
    }
    workers_kick(w);
}

void sx_replay_remote_event(sx_replay *w, sx_rev_kind kind, sx_rframe *f)
{
    switch (kind) {
    case SX_REV_SEND:
        if (f->wire == SX_WIRE_ENCODING) {
            remote_send(w, f);
        }
        break;
    case SX_REV_REPLY:
        f->wire = SX_WIRE_OVER;
        if (w->mode->on_reply) {
            w->mode->on_reply(w->mode->user, f->index, w->now, w->cfg->frames[f->index].cloud);
        }
        if (!f->rdone) {
            remote_complete(w, f, SPECX_OK);
        }
        break;
    case SX_REV_WIRE_DEADLINE:
        if (!f->rdone && f->wire != SX_WIRE_OVER) {
            remote_complete(w, f, SPECX_ETIMEDOUT);
            if (f->wire == SX_WIRE_SENT) {
                send_rst(w, f);
            }
            f->wire = SX_WIRE_OVER;
        }
        break;
    case SX_REV_REMOTE_CANCEL:
        if (!f->rdone) {
            remote_complete(w, f, SPECX_ECANCELED);
        }
        if (!w->mode->keep_calls && f->wire != SX_WIRE_OVER) {
            if (f->wire == SX_WIRE_SENT) {
                send_rst(w, f);
            }
            f->wire = SX_WIRE_OVER;
        }
        break;
    default:
        server_event(w, kind, f);
        break;
    }
}

static specx_status remote_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    sx_replay *w = ctx;
    sx_rframe *f = request;
    f->rcall = call;
    f->rdone = false;
    f->wire = SX_WIRE_ENCODING;
    f->wire_deadline = w->mode->keep_calls ? SPECX_TIME_NEVER : deadline;
    sx_replay_schedule(w, w->now + encode_ns(w, f), SX_REV_SEND, f->index);
    if (f->wire_deadline != SPECX_TIME_NEVER) {
        specx_time_t at = f->wire_deadline > w->now ? f->wire_deadline : w->now;
        sx_replay_schedule(w, at, SX_REV_WIRE_DEADLINE, f->index);
    }
    return w->failed ? SPECX_ENOMEM : SPECX_OK;
}

static void remote_cancel(void *ctx, specx_call *call)
{
    sx_replay *w = ctx;
    sx_rframe *f = specx_call_data(call);
    sx_replay_schedule(w, w->now, SX_REV_REMOTE_CANCEL, f->index);
}

/* ---- executor tables -------------------------------------------------------------- */

/* Results are the frames' cached answers, borrowed: nothing to free. */
static void no_free(void *ctx, void *result)
{
    (void)ctx;
    (void)result;
}

static specx_status local_start_tagged(void *ctx, specx_call *call, void *request,
                                       specx_time_t deadline)
{
    specx_call_set_data(call, request);
    return local_start(ctx, call, request, deadline);
}

static specx_status remote_start_tagged(void *ctx, specx_call *call, void *request,
                                        specx_time_t deadline)
{
    specx_call_set_data(call, request);
    return remote_start(ctx, call, request, deadline);
}

static const specx_executor_ops local_ops = {
    .start = local_start_tagged, .cancel = local_cancel, .free_result = no_free};
static const specx_executor_ops remote_ops = {
    .start = remote_start_tagged, .cancel = remote_cancel, .free_result = no_free};

specx_executor sx_replay_local_executor(sx_replay *w)
{
    return (specx_executor){.ops = &local_ops, .ctx = w};
}

specx_executor sx_replay_remote_executor(sx_replay *w)
{
    return (specx_executor){.ops = &remote_ops, .ctx = w};
}
