/* replay.c — one replay run: the real operator (manual timers, inline
 * delivery) on a virtual clock, fed by the simulated executors of
 * replay_exec.c, frames arriving at i / fps (specx/eval.h).
 *
 * Design notes
 *  - The loop takes the earlier of the next event and the operator's next
 *    deadline (sx_operator_next_deadline), sets the clock there, fires the
 *    operator's due deadlines (sx_operator_advance), then runs the events
 *    due at that time in scheduling order. Events scheduled while handling
 *    one at the same time run in the same pass.
 *  - The run ends when no event is left and no deadline is armed; every
 *    call has then completed, so shutdown and destroy never wait.
 *  - Outputs are delivered inline (SPECX_DELIVER_INLINE), in frame order,
 *    on this thread; the mode's post hook runs there, at emission time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "specx/operator.h"
#include "specx/stats.h"

#include "core/deadline_policy.h"
#include "core/virtual_time.h"
#include "eval/replay_sim.h"

#define T0 SPECX_SEC(1) /* virtual time of the first arrival: keeps 0 unused */

static const specx_replay_mode builtin[] = {
    {.name = "local", .local = true},
    {.name = "cloud", .remote = true},
    {.name = "speculative", .local = true, .remote = true},
    {.name = "cloud-unbounded", .remote = true, .unbounded = true},
    {.name = "speculative-adaptive", .local = true, .remote = true, .adaptive_target = 0.5},
};

const specx_replay_mode *specx_replay_mode_builtin(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtin / sizeof builtin[0]; i++) {
        if (strcmp(builtin[i].name, name) == 0) {
            return &builtin[i];
        }
    }
    return NULL;
}

static specx_time_t read_clock(void *arg)
{
    return ((const sx_replay *)arg)->now;
}

void sx_replay_schedule(sx_replay *w, specx_time_t t, sx_rev_kind kind, size_t frame)
{
    sx_rev *e = malloc(sizeof *e);
    if (!e) {
        w->failed = true;
        w->fail_st = specx_err_set(&w->err, SPECX_ENOMEM, "replay: out of memory");
        return;
    }
    sx_heap_node_init(&e->node);
    e->node.key = t < w->now ? w->now : t;
    e->node.seq = w->next_seq++;
    e->kind = kind;
    e->frame = frame;
    if (sx_heap_push(&w->events, &e->node) != SPECX_OK) {
        free(e);
        w->failed = true;
        w->fail_st = specx_err_set(&w->err, SPECX_ENOMEM, "replay: out of memory");
    }
}

/* ---- operator glue ------------------------------------------------------------ */

static void plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    sx_replay *w = user; /* one remote executor */
    sx_rframe *f = msg->input;
    specx_dur_t d = w->mode->unbounded ? SPECX_TIME_NEVER : w->cfg->deadline;
    if (w->mode->plan) {
        d = w->mode->plan(w->mode->user, f->index, msg->arrival, d);
    }
    if (d < 0) {
        out->skip = true;
        return;
    }
    f->plan_deadline = d;
    out->request = f;
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = d;
    if (w->policy) {
        sx_deadline_policy_plan(w->policy, msg, exec_index, d, out);
    }
}

static void on_output(void *user, specx_output *o)
{
    sx_replay *w = user;
    const sx_rframe *f = o->input;
    if (w->policy) {
        sx_deadline_policy_observe(w->policy, o);
    }
    /* executor indices: the remote (if any) was registered first */
    int winner = -1;
    if (o->winner >= 0) {
        winner = o->is_local ? 1 : 0;
    }
    specx_replay_output ro = {.frame = f->index,
                              .winner = winner,
                              .fallback = o->fallback,
                              .status = o->status,
                              .latency_ms = specx_dur_ms(o->latency),
                              .arrival = o->arrival,
                              .emitted = o->emitted,
                              .detections = o->winner >= 0 ? o->result : NULL};
    w->st.outputs++;
    w->st.no_result += winner < 0;
    w->st.fallbacks += o->fallback;
    w->st.cloud_won += winner == 0;
    if (w->mode->post) {
        specx_detections_reset(&w->scored);
        if (w->mode->post(w->mode->user, &ro, &w->scored)) {
            ro.detections = &w->scored;
        }
    }
    if (w->cfg->output) {
        w->cfg->output(w->cfg->output_user, &ro);
    }
}

static specx_status build_operator(sx_replay *w, specx_operator **op, specx_err *err)
{
    const specx_replay_config *c = w->cfg;
    specx_operator_config oc = {.plan = plan,
                                .plan_user = w,
                                .output = on_output,
                                .output_user = w,
                                .delivery = SPECX_DELIVER_INLINE};
    specx_status st = sx_operator_create_manual(&oc, op, err);
    if (st != SPECX_OK) {
        return st;
    }
    if (w->mode->remote) {
        int inflight = c->max_in_flight;
        if (w->mode->unbounded) {
            inflight = 0;
        } else if (inflight <= 0) {
            double need = ceil(specx_dur_ms(c->deadline) / 1000.0 * c->fps) + 1;
            inflight = need < 4 ? 4 : need > 100000 ? 100000 : (int)need;
        }
        specx_executor_config ec = {.name = "cloud",
                                    .priority = 1,
                                    .max_in_flight = inflight,
                                    .exec = sx_replay_remote_executor(w)};
        st = specx_operator_add_remote(*op, &ec, NULL, err);
    }
    if (st == SPECX_OK && w->mode->local) {
        specx_executor_config ec = {
            .name = "local", .priority = 0, .exec = sx_replay_local_executor(w)};
        st = specx_operator_add_local(*op, &ec, NULL, err);
    }
    return st;
}

/* ---- the loop ---------------------------------------------------------------- */

static void handle(sx_replay *w, specx_operator *op, const sx_rev *e)
{
    sx_rframe *f = &w->fr[e->frame];
    switch (e->kind) {
    case SX_REV_ARRIVE:
        f->arrival = w->now;
        if (specx_operator_submit(op, f, NULL, NULL) != SPECX_OK) {
            w->failed = true;
            w->fail_st = specx_err_set(&w->err, SPECX_EINTERNAL,
                                       "replay: the operator refused frame %zu", f->index);
        }
        break;
    case SX_REV_LOCAL_ENQ:
    case SX_REV_LOCAL_DONE:
    case SX_REV_LOCAL_CANCEL:
        sx_replay_local_event(w, e->kind, f);
        break;
    default:
        sx_replay_remote_event(w, e->kind, f);
        break;
    }
}

static void run_loop(sx_replay *w, specx_operator *op)
{
    for (;;) {
        sx_heap_node *top = sx_heap_top(&w->events);
        specx_time_t te = top ? top->key : SPECX_TIME_NEVER;
        specx_time_t td = sx_operator_next_deadline(op);
        specx_time_t t = te < td ? te : td;
        if (t == SPECX_TIME_NEVER || w->failed) {
            return;
        }
        w->now = t;
        if (td <= t) {
            sx_operator_advance(op, t);
        }
        while ((top = sx_heap_top(&w->events)) && top->key <= t && !w->failed) {
            sx_rev *e = SX_CONTAINER_OF(sx_heap_pop(&w->events), sx_rev, node);
            handle(w, op, e);
            free(e);
        }
    }
}

/* After a failure: complete what is still outstanding, so that the
 * operator's shutdown has nothing to wait for. */
static void abort_calls(sx_replay *w)
{
    for (size_t i = 0; i < w->cfg->n_frames; i++) {
        sx_rframe *f = &w->fr[i];
        if (f->lcall && f->lstate != SX_LOCAL_DONE && f->lstate != SX_LOCAL_NONE) {
            f->lstate = SX_LOCAL_DONE;
            specx_call_complete(f->lcall, SPECX_ECANCELED, NULL, "replay aborted");
        }
        if (f->rcall && !f->rdone) {
            f->rdone = true;
            specx_call_complete(f->rcall, SPECX_ECANCELED, NULL, "replay aborted");
        }
    }
}

static void collect_stats(sx_replay *w, specx_operator *op)
{
    specx_operator_stats *os = NULL;
    if (w->mode->remote && specx_operator_stats_snapshot(op, &os) == SPECX_OK) {
        const specx_exec_stats *cs = &os->exec[0];
        w->st.cloud_shed = (size_t)cs->shed;
        w->st.cloud_late = (size_t)cs->late;
        w->st.cloud_cancelled = (size_t)cs->cancelled;
    }
    specx_operator_stats_free(os);
    w->st.virtual_s = specx_dur_ms(w->now - w->t0) / 1e3;
}

static specx_status check_config(const specx_replay_config *c, specx_err *err)
{
    if (!c || !c->frames || !c->n_frames || !c->mode || !(c->fps > 0)) {
        return specx_err_set(err, SPECX_EINVAL, "replay: needs frames, a mode and fps > 0");
    }
    if (!c->mode->local && !c->mode->remote) {
        return specx_err_set(err, SPECX_EINVAL, "replay: mode '%s' runs no executor",
                             c->mode->name ? c->mode->name : "?");
    }
    if ((c->mode->local && (!c->local_ms || !c->local_ms->n)) ||
        (c->mode->remote && (!c->cloud_ms || !c->cloud_ms->n))) {
        return specx_err_set(err, SPECX_EINVAL, "replay: no compute-time distribution");
    }
    for (size_t i = 0; i < c->n_frames; i++) {
        if ((c->mode->local && !c->frames[i].local) || (c->mode->remote && !c->frames[i].cloud)) {
            return specx_err_set(err, SPECX_EINVAL, "replay: frame %zu has no answer", i);
        }
    }
    if (!c->mode->unbounded && c->mode->remote && c->deadline < 0) {
        return specx_err_set(err, SPECX_EINVAL, "replay: negative deadline");
    }
    return SPECX_OK;
}

static void world_clear(sx_replay *w)
{
    sx_heap_node *n;
    while ((n = sx_heap_pop(&w->events)) != NULL) {
        free(SX_CONTAINER_OF(n, sx_rev, node));
    }
    sx_heap_fini(&w->events);
    sx_heap_fini(&w->srvq);
    specx_netem_sim_destroy(w->link);
    specx_detections_clear(&w->scored);
    free(w->fr);
}

specx_status specx_replay_run(const specx_replay_config *cfg, specx_replay_stats *stats,
                              specx_err *err)
{
    specx_status st = check_config(cfg, err);
    if (st != SPECX_OK) {
        return st;
    }
    sx_replay w = {.cfg = cfg, .mode = cfg->mode, .now = T0, .t0 = T0};
    sx_heap_init(&w.events);
    sx_heap_init(&w.srvq);
    specx_detections_init(&w.scored);
    w.ldepth = cfg->local_queue_depth > 0 ? (size_t)cfg->local_queue_depth : 1;
    w.workers_idle = cfg->cloud_workers > 0 ? cfg->cloud_workers : 1;
    w.fr = calloc(cfg->n_frames, sizeof *w.fr);
    if (!w.fr) {
        world_clear(&w);
        return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
    }
    if (cfg->profile && cfg->mode->remote) {
        st = specx_netem_sim_create(cfg->profile, cfg->seed, &w.link, err);
    }
    for (size_t i = 0; st == SPECX_OK && i < cfg->n_frames; i++) {
        w.fr[i].index = i;
        sx_heap_node_init(&w.fr[i].qnode);
        specx_time_t at = T0 + (specx_time_t)llround((double)i * 1e9 / cfg->fps);
        sx_replay_schedule(&w, at, SX_REV_ARRIVE, i);
    }
    specx_operator *op = NULL;
    sx_time_set_clock(read_clock, &w);
    if (st == SPECX_OK && cfg->mode->adaptive_target > 0) {
        sx_deadline_policy_config pc = {.kind = SX_DEADLINE_ADAPTIVE,
                                        .target = cfg->mode->adaptive_target};
        st = sx_deadline_policy_create(&pc, 2, &w.policy, err);
    }
    if (st == SPECX_OK && !w.failed) {
        st = build_operator(&w, &op, err);
    }
    if (st == SPECX_OK) {
        run_loop(&w, op);
        collect_stats(&w, op);
    }
    if (w.failed) {
        abort_calls(&w);
    }
    specx_operator_destroy(op); /* every call has completed: does not wait */
    sx_time_set_clock(NULL, NULL);
    if (st == SPECX_OK && w.failed) {
        st = specx_err_set(err, w.fail_st, "%s", w.err.msg);
    }
    if (st == SPECX_OK && w.st.outputs != cfg->n_frames) {
        st = specx_err_set(err, SPECX_EINTERNAL, "replay: %zu outputs for %zu frames", w.st.outputs,
                           cfg->n_frames);
    }
    if (st == SPECX_OK && stats) {
        if (w.policy) {
            w.st.cloud_early = (size_t)sx_deadline_policy_counts_get(w.policy).early;
        }
        *stats = w.st;
    }
    sx_deadline_policy_destroy(w.policy);
    world_clear(&w);
    return st;
}
