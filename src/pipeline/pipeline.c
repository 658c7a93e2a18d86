/* pipeline.c — frames in, one output per frame out: the operator wired to a
 * local detector and remote servers (specx/pipeline.h).
 *
 * Design notes
 *  - Executors are registered remotes first (in the order given), then the
 *    local one, so a server's executor index is its palette index.
 *  - A frame (struct frame) is the operator's message input; its first member
 *    is the specx_image, which is exactly the local executor's request. The
 *    servers' request is the frame's uplink state (pipeline/uplink.h): each
 *    server's executor scales and encodes on the uplink thread, once per
 *    distinct size, so the submitting thread starts the local detector
 *    without waiting for any encoding. The uplink stops reading the pixels
 *    before the output callback gets them (it may draw).
 *  - Frame lifetime: the operator may deliver a frame's output while the
 *    local executor still holds its call (queued, or running on the pixels
 *    while being cancelled), and the executor borrows the image until the
 *    call completes. The operator's input_release says when nothing
 *    references the frame any more (output delivered, or released in SYNC
 *    mode, and every call completed): the frame is freed there, whatever
 *    the local executor's workers or queue order (the uplink keeps its own
 *    per-frame state alive while an encoding job is queued). A
 *    local call still queued for a delivered frame is cancelled by the
 *    operator (rule 6) and removed from the queue without running; a running
 *    one stops at the detector's next cancel checkpoint.
 *  - The local executor has one worker (one detector instance; the
 *    backend's own threads, local.threads, parallelise inside it).
 *  - Remote calls in flight: plan counts a call started when it hands out a
 *    request, and the request's release (the call is over, or the plan was
 *    not used) counts it finished; the metrics read the difference.
 *  - Lock order: p->mu is a leaf; no operator or executor call under it.
 *  - Teardown: the operator first (every call completes, the executors and
 *    their clients go), then the uplink thread. */
#include "specx/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/draw.h"
#include "specx/rpc.h"

#include "core/deadline_policy.h"
#include "pipeline/metrics.h"
#include "pipeline/uplink.h"

typedef struct frame {
    specx_image image; /* first: the local executor's request is &frame->image */
    int64_t index;
    double pts;
    sx_uplink_frame *up; /* the servers' request; NULL without servers */
    bool early;          /* a plan set emit_local_early (read after the decision) */
} frame;

typedef struct exec_meta {
    char name[SPECX_NAME_MAX];
    int priority;
    bool is_local;
    specx_executor exec;                            /* owned by the operator */
    _Atomic uint64_t calls_started, calls_finished; /* remote */
    size_t remote;                                  /* remotes: index in remote_exec */
} exec_meta;

struct specx_pipeline {
    specx_pipeline_config cfg;
    specx_operator *op;
    size_t n_exec;
    exec_meta *meta;
    int local_index;
    specx_executor local_exec; /* copy for stats; owned by the operator */
    specx_executor remote_exec[SPECX_PIPELINE_MAX_SERVERS]; /* copies, for counts */
    size_t n_remote;
    sx_uplink *uplink;          /* NULL without servers */
    sx_deadline_policy *policy; /* adaptive deadline; NULL: fixed */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t pushed, delivered;
    sx_pipeline_metrics *metrics; /* NULL: none */
};

/* ---- frames --------------------------------------------------------------- */

static void frame_free(frame *f)
{
    sx_uplink_frame_unref(f->up);
    specx_image_clear(&f->image);
    free(f);
}

/* input_release: the operator no longer references the frame. */
static void frame_release(void *user, void *input, void *msg_user)
{
    (void)user;
    (void)msg_user;
    frame_free(input);
}

/* Output delivered. */
static void frame_delivered(specx_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    p->delivered++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- operator glue -------------------------------------------------------- */

/* request_free of a remote call (the request is borrowed): one call over. */
static void request_done(void *request, void *user)
{
    (void)request;
    exec_meta *m = user;
    atomic_fetch_add_explicit(&m->calls_finished, 1, memory_order_release);
}

static void plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    specx_pipeline *p = user;
    frame *f = msg->input;
    /* borrowed from the message: the executor scales and encodes it */
    out->request = f->up;
    exec_meta *m = &p->meta[exec_index];
    atomic_fetch_add_explicit(&m->calls_started, 1, memory_order_release);
    out->request_free = request_done;
    out->request_free_user = m;
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = p->cfg.deadline;
    if (p->policy != NULL) {
        sx_deadline_policy_plan(p->policy, msg, exec_index, p->cfg.deadline, out);
        f->early = f->early || out->emit_local_early;
    }
}

static void deliver(specx_pipeline *p, specx_output *o)
{
    frame *f = o->input;
    if (p->policy != NULL) {
        sx_deadline_policy_observe(p->policy, o);
    }
    if (f->up != NULL) {
        sx_uplink_frame_retire(f->up); /* the callback may draw on the pixels */
    }
    specx_pipeline_exec ex[o->n_exec > 0 ? o->n_exec : 1];
    for (size_t i = 0; i < o->n_exec; i++) {
        const specx_exec_report *r = &o->exec[i];
        ex[i] = (specx_pipeline_exec){.name = p->meta[i].name,
                                      .priority = p->meta[i].priority,
                                      .is_local = p->meta[i].is_local,
                                      .fate = r->fate,
                                      .status = r->status,
                                      .latency_ms = r->latency >= 0 ? specx_dur_ms(r->latency) : -1,
                                      .message = r->message};
    }
    specx_pipeline_output po = {
        .index = f->index,
        .pts = f->pts,
        .winner = o->winner,
        .winner_name = o->winner_name,
        .priority = o->priority,
        .is_local = o->is_local,
        .fallback = o->fallback,
        .late_accepted = o->late_accepted,
        .early = f->early,
        .status = o->status,
        .reason = o->reason,
        .latency_ms = specx_dur_ms(o->latency),
        .deadline_ms =
            o->deadline == SPECX_TIME_NEVER ? -1 : specx_dur_ms(o->deadline - o->arrival),
        .hol_wait_ms = specx_dur_ms(o->emitted - o->decided),
        .n_exec = o->n_exec,
        .exec = ex,
        .detections = o->winner >= 0 ? o->result : NULL,
        .image = &f->image,
        .raw = o,
    };
    sx_pipeline_metrics_output(p->metrics, &po);
    p->cfg.output(p->cfg.output_user, &po);
    frame_delivered(p);
}

static void on_output(void *user, specx_output *o)
{
    deliver(user, o);
}

/* ---- set-up ----------------------------------------------------------------- */

static specx_status add_local(specx_pipeline *p, specx_detector *det, specx_err *err)
{
    specx_local_executor_config lc = {
        .workers = 1,
        .queue_depth = p->cfg.local_queue_depth > 0 ? p->cfg.local_queue_depth : 1,
        .policy = SPECX_LOCAL_DROP_OLDEST,
    };
    specx_executor ex;
    specx_status st = specx_local_executor_create_with(&det, 1, &lc, &ex, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_executor_config ec = {.priority = 0, .max_in_flight = 0, .exec = ex};
    snprintf(ec.name, sizeof ec.name, "local");
    size_t idx;
    st = specx_operator_add_local(p->op, &ec, &idx, err);
    if (st != SPECX_OK) {
        ex.ops->destroy(ex.ctx);
        return st;
    }
    p->local_index = (int)idx;
    p->local_exec = ex;
    p->meta[idx].exec = ex;
    snprintf(p->meta[idx].name, sizeof p->meta[idx].name, "%s", ec.name);
    p->meta[idx].priority = ec.priority;
    p->meta[idx].is_local = true;
    return SPECX_OK;
}

static specx_status add_remote(specx_pipeline *p, const specx_pipeline_config *cfg, size_t i,
                               specx_err *err)
{
    specx_rpc_client_config cc = cfg->servers[i];
    /* Without prio=, earlier servers are preferred: n, n-1, ..., 1. */
    if (!cc.priority_set) {
        cc.priority = (int)(cfg->n_servers - i);
    }
    if (!cc.max_in_flight_set) {
        cc.max_in_flight = cfg->remote_max_in_flight > 0 ? cfg->remote_max_in_flight : 4;
    }
    specx_executor_config ec = {.priority = cc.priority, .max_in_flight = cc.max_in_flight};
    snprintf(ec.name, sizeof ec.name, "%.63s", cc.name[0] != '\0' ? cc.name : cc.target);
    /* Two servers with the same name would be indistinguishable in outputs. */
    for (size_t j = 0; j < i; j++) {
        if (strcmp(p->meta[j].name, ec.name) == 0) {
            snprintf(ec.name, sizeof ec.name, "%.50s#%u", cc.target, (unsigned)(i + 1));
        }
    }
    specx_status st = sx_uplink_executor_create(p->uplink, &cc, &ec.exec, err);
    if (st != SPECX_OK) {
        return st;
    }
    size_t idx;
    st = specx_operator_add_remote(p->op, &ec, &idx, err);
    if (st != SPECX_OK) {
        ec.exec.ops->destroy(ec.exec.ctx);
        return st;
    }
    snprintf(p->meta[idx].name, sizeof p->meta[idx].name, "%s", ec.name);
    p->meta[idx].priority = ec.priority;
    p->meta[idx].is_local = false;
    p->meta[idx].exec = ec.exec;
    p->meta[idx].remote = p->n_remote;
    p->remote_exec[p->n_remote++] = ec.exec;
    return SPECX_OK;
}

static specx_status check_config(const specx_pipeline_config *cfg, specx_pipeline **out,
                                 specx_err *err)
{
    if (cfg == NULL || out == NULL || cfg->output == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "pipeline: no configuration or output callback");
    }
    bool has_local =
        cfg->local_detector != NULL || (cfg->local.model != NULL && cfg->local.model[0] != '\0');
    if (!has_local && cfg->n_servers == 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "nothing to run: give a local model and/or at least one server");
    }
    if (cfg->n_servers > SPECX_PIPELINE_MAX_SERVERS ||
        (cfg->n_servers > 0 && cfg->servers == NULL)) {
        return specx_err_set(err, SPECX_EINVAL, "pipeline: %zu servers given, at most %d",
                             cfg->n_servers, SPECX_PIPELINE_MAX_SERVERS);
    }
    if (cfg->jpeg_quality < 0 || cfg->jpeg_quality > 100) {
        return specx_err_set(err, SPECX_EINVAL, "JPEG quality %d is not in 1..100",
                             cfg->jpeg_quality);
    }
    return SPECX_OK;
}

/* The engine's own state, before any executor. */
static specx_status pipeline_alloc(const specx_pipeline_config *cfg, specx_pipeline **out,
                                   specx_err *err)
{
    specx_pipeline *p = calloc(1, sizeof *p);
    if (p != NULL) {
        p->meta = calloc(cfg->n_servers + 1, sizeof *p->meta);
    }
    if (p == NULL || p->meta == NULL) {
        free(p);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    p->cfg = *cfg;
    /* borrowed for create only */
    p->cfg.local_detector = NULL;
    p->cfg.servers = NULL;
    p->local_index = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return SPECX_OK;
}

/* The metric families, once every executor is known. */
static specx_status metrics_create(specx_pipeline *p, specx_metrics *reg, specx_err *err)
{
    if (reg == NULL) {
        return SPECX_OK;
    }
    sx_pipeline_metrics_exec ex[SPECX_PIPELINE_MAX_EXEC];
    for (size_t i = 0; i < p->n_exec; i++) {
        exec_meta *m = &p->meta[i];
        ex[i] = (sx_pipeline_metrics_exec){.name = m->name,
                                           .is_local = m->is_local,
                                           .exec = &m->exec,
                                           .started = &m->calls_started,
                                           .finished = &m->calls_finished};
    }
    return sx_pipeline_metrics_create(reg, ex, p->n_exec, &p->metrics, err);
}

specx_status specx_pipeline_create(const specx_pipeline_config *cfg, specx_pipeline **out,
                                   specx_err *err)
{
    specx_detector *det = cfg != NULL ? cfg->local_detector : NULL;
    specx_pipeline *p = NULL;
    specx_status st = check_config(cfg, out, err);
    if (st == SPECX_OK) {
        st = pipeline_alloc(cfg, &p, err);
    }
    if (st == SPECX_OK && det == NULL && cfg->local.model != NULL && cfg->local.model[0] != '\0') {
        st = specx_pipeline_open_detector((void *)&cfg->local, 0, &det, err);
    }
    specx_operator_config oc = {.plan = plan,
                                .plan_user = p,
                                .output = on_output,
                                .output_user = p,
                                .accept_late_while_no_local =
                                    cfg != NULL && cfg->accept_late_while_no_local,
                                .delivery = SPECX_DELIVER_THREAD,
                                .input_release = frame_release,
                                .release_user = p};
    if (st == SPECX_OK && cfg->n_servers > 0) {
        st = sx_uplink_create(cfg->jpeg_quality > 0 ? cfg->jpeg_quality : 90, cfg->full_frames,
                              &p->uplink, err);
    }
    if (st == SPECX_OK && cfg->n_servers > 0 && cfg->adaptive_deadline) {
        sx_deadline_policy_config dc = {.kind = SX_DEADLINE_ADAPTIVE,
                                        .target =
                                            cfg->adaptive_target > 0 ? cfg->adaptive_target : 0.5};
        st = sx_deadline_policy_create(&dc, cfg->n_servers + 1, &p->policy, err);
    }
    if (st == SPECX_OK) {
        st = specx_operator_create(&oc, &p->op, err);
    }
    for (size_t i = 0; st == SPECX_OK && i < cfg->n_servers; i++) {
        st = add_remote(p, cfg, i, err);
    }
    if (st == SPECX_OK && det != NULL) {
        st = add_local(p, det, err); /* takes det, also on error */
        det = NULL;
    }
    if (st == SPECX_OK) {
        p->n_exec = specx_operator_executor_count(p->op);
        st = metrics_create(p, cfg->metrics, err);
    }
    if (st != SPECX_OK) {
        specx_detector_close(det);
        specx_pipeline_destroy(p);
        return st;
    }
    *out = p;
    return SPECX_OK;
}

specx_status specx_pipeline_push(specx_pipeline *p, specx_image *img, int64_t index, double pts,
                                 specx_err *err)
{
    frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        specx_image_clear(img);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    f->image = *img;
    memset(img, 0, sizeof *img);
    f->index = index;
    f->pts = pts;
    if (p->uplink != NULL && (f->up = sx_uplink_frame_create(&f->image)) == NULL) {
        frame_free(f);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&p->mu);
    p->pushed++;
    pthread_mutex_unlock(&p->mu);
    sx_pipeline_metrics_frame(p->metrics);

    specx_status st;
    if (p->cfg.mode == SPECX_PIPELINE_SYNC) {
        specx_output *o = NULL;
        st = specx_operator_process(p->op, f, NULL, &o);
        if (st == SPECX_OK) {
            deliver(p, o);
            specx_output_free(p->op, o);
            return SPECX_OK;
        }
    } else {
        st = specx_operator_submit(p->op, f, NULL, NULL);
        if (st == SPECX_OK) {
            return SPECX_OK;
        }
    }
    /* Not accepted: no output (and no input_release) will come for it. */
    pthread_mutex_lock(&p->mu);
    p->pushed--;
    pthread_mutex_unlock(&p->mu);
    frame_free(f);
    return specx_err_set(err, st, "frame %lld not accepted: %s", (long long)index,
                         specx_strerror(st));
}

void specx_pipeline_drain(specx_pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->delivered < p->pushed) {
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}

void specx_pipeline_finish(specx_pipeline *p)
{
    specx_pipeline_drain(p);
    specx_operator_shutdown(p->op);
    if (p->uplink != NULL) {
        sx_uplink_wait_idle(p->uplink); /* encoder counts final too */
    }
}

size_t specx_pipeline_executor_count(const specx_pipeline *p)
{
    return p->n_exec;
}

const char *specx_pipeline_executor_name(const specx_pipeline *p, size_t i)
{
    return i < p->n_exec ? p->meta[i].name : NULL;
}

int specx_pipeline_executor_priority(const specx_pipeline *p, size_t i)
{
    return i < p->n_exec ? p->meta[i].priority : 0;
}

int specx_pipeline_local_index(const specx_pipeline *p)
{
    return p->local_index;
}

int specx_pipeline_palette_index(const specx_pipeline *p, int exec_index)
{
    return exec_index == p->local_index ? SPECX_PALETTE_LOCAL : exec_index;
}

specx_status specx_pipeline_stats(specx_pipeline *p, specx_operator_stats **out)
{
    return specx_operator_stats_snapshot(p->op, out);
}

bool specx_pipeline_uplink_stats(specx_pipeline *p, size_t exec_index,
                                 specx_pipeline_uplink_counts *out)
{
    if (exec_index >= p->n_remote) {
        return false;
    }
    sx_uplink_counts c;
    sx_uplink_executor_counts(&p->remote_exec[exec_index], &c);
    *out = (specx_pipeline_uplink_counts){
        .frames_sent = c.frames, .frames_scaled = c.scaled, .bytes_sent = c.bytes};
    return true;
}

bool specx_pipeline_encoder_stats(specx_pipeline *p, specx_pipeline_encoder_counts *out)
{
    if (p->uplink == NULL) {
        return false;
    }
    sx_uplink_work w;
    sx_uplink_work_get(p->uplink, &w);
    *out = (specx_pipeline_encoder_counts){
        .encodes = w.encodes, .skipped = w.skipped, .encode_ns = w.encode_ns};
    return true;
}

bool specx_pipeline_local_stats(specx_pipeline *p, specx_local_executor_stats *out)
{
    if (p->local_index < 0) {
        return false;
    }
    specx_local_executor_get_stats(&p->local_exec, out);
    return true;
}

size_t specx_pipeline_server_backends(specx_pipeline *p, size_t i, specx_rpc_backend_stats *out,
                                      size_t max)
{
    if (i >= p->n_exec || p->meta[i].is_local) {
        return 0;
    }
    return sx_uplink_executor_backends(&p->remote_exec[p->meta[i].remote], out, max);
}

void specx_pipeline_destroy(specx_pipeline *p)
{
    if (p == NULL) {
        return;
    }
    /* The collector reads the executors, which the operator destroys. */
    sx_pipeline_metrics_destroy(p->metrics);
    if (p->op != NULL) {
        specx_pipeline_drain(p);
        /* waits for every call; every frame is released before it returns */
        specx_operator_destroy(p->op);
    }
    sx_uplink_destroy(p->uplink);
    sx_deadline_policy_destroy(p->policy);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->meta);
    free(p);
}
