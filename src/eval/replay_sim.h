/* eval/replay_sim.h — internal to src/eval: one replay run's world on a
 * virtual clock: the event queue, the simulated local executor, and the
 * simulated remote executor with its link and server.
 *
 * Contract
 *  - Everything runs on the thread in specx_replay_run. `now` is the
 *    virtual clock the installed sx_clock_fn returns; events run in
 *    (time, scheduling order), so ties are deterministic.
 *  - The executors never complete a call inside start() or cancel(): both
 *    only schedule events (at the current time when nothing else is due), so
 *    the operator is never re-entered from its own callbacks. Every
 *    specx_call_complete happens from the event loop.
 *  - Per frame there is at most one local and one remote call (the
 *    operator's one message per frame); their state lives in sx_rframe,
 *    indexed by frame, for the whole run, so a stale event (a deadline for
 *    a call that already completed) finds its frame and sees it is done. */
#ifndef SX_EVAL_REPLAY_SIM_H
#define SX_EVAL_REPLAY_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/eval.h"
#include "specx/executor.h"
#include "specx/netem.h"

#include "core/heap.h"

typedef enum sx_rev_kind {
    SX_REV_ARRIVE,        /* frame arrives: submit */
    SX_REV_LOCAL_ENQ,     /* local call reaches the local executor's queue */
    SX_REV_LOCAL_DONE,    /* local model finished a frame */
    SX_REV_LOCAL_CANCEL,  /* the operator cancelled a local call */
    SX_REV_SEND,          /* the vehicle writes a request on the connection */
    SX_REV_SERVER_ARRIVE, /* the request's last byte reached the server */
    SX_REV_WORKER_DONE,   /* a server worker finished (or hit the deadline) */
    SX_REV_SERVER_CANCEL, /* the client's RST_STREAM reached the server */
    SX_REV_REPLY,         /* the reply's last byte reached the vehicle */
    SX_REV_WIRE_DEADLINE, /* the call's gRPC deadline on the vehicle */
    SX_REV_REMOTE_CANCEL, /* the operator cancelled a remote call */
} sx_rev_kind;

typedef struct sx_rev {
    sx_heap_node node; /* key = time */
    sx_rev_kind kind;
    size_t frame;
} sx_rev;

enum { SX_LOCAL_NONE, SX_LOCAL_STARTING, SX_LOCAL_QUEUED, SX_LOCAL_RUNNING, SX_LOCAL_DONE };
enum { SX_WIRE_NONE, SX_WIRE_ENCODING, SX_WIRE_SENT, SX_WIRE_OVER };
enum { SX_SRV_NONE, SX_SRV_UPLINK, SX_SRV_QUEUED, SX_SRV_RUNNING, SX_SRV_OVER };

typedef struct sx_rframe {
    size_t index;
    specx_time_t arrival;
    specx_dur_t plan_deadline;
    /* local call */
    specx_call *lcall;
    int lstate;
    struct sx_rframe *lnext; /* local queue */
    specx_time_t lend;
    /* remote call: the operator's view, the wire, the server */
    specx_call *rcall;
    bool rdone; /* completed to the operator */
    int wire;
    int srv;
    specx_time_t wire_deadline, srv_deadline, srv_end;
    bool srv_finishes;  /* srv_end is the end of computing, not the deadline */
    bool srv_cancel;    /* the RST reached the server */
    sx_heap_node qnode; /* server queue: key = srv_deadline */
} sx_rframe;

typedef struct sx_replay {
    const specx_replay_config *cfg;
    const specx_replay_mode *mode;
    specx_time_t now, t0;
    sx_heap events;
    uint64_t next_seq;
    bool failed; /* out of memory scheduling, or a link error */
    specx_status fail_st;
    specx_err err;
    sx_rframe *fr;
    specx_replay_stats st;
    /* local executor: one worker, a FIFO of depth ldepth */
    sx_rframe *lbusy, *lhead, *ltail;
    size_t lqueued, ldepth;
    /* remote: one connection through the link, the server */
    specx_netem_sim *link; /* NULL: no link */
    bool conn_started;
    specx_time_t conn_ready;
    sx_heap srvq;
    uint64_t srv_seq;
    int workers_idle;
    /* the adaptive deadline (mode->adaptive_target > 0), else NULL */
    struct sx_deadline_policy *policy;
    /* scoring hook scratch */
    specx_detections scored;
} sx_replay;

/* Schedules an event at t (>= now). On allocation failure sets failed. */
void sx_replay_schedule(sx_replay *w, specx_time_t t, sx_rev_kind kind, size_t frame);

/* The executors (ctx = the sx_replay). */
specx_executor sx_replay_local_executor(sx_replay *w);
specx_executor sx_replay_remote_executor(sx_replay *w);

/* Handles an executor event at w->now. */
void sx_replay_local_event(sx_replay *w, sx_rev_kind kind, sx_rframe *f);
void sx_replay_remote_event(sx_replay *w, sx_rev_kind kind, sx_rframe *f);

/* A compute-time draw for frame f from d: common to every mode and
 * deadline of a seed (a function of seed, stream and frame only). */
specx_dur_t sx_replay_draw(const sx_replay *w, const specx_replay_dist *d, uint64_t stream,
                           size_t frame);

#endif
