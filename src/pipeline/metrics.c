/* metrics.c — the vehicle side's metric families, updated per output
 * (pipeline/metrics.h; names in docs/metrics.md).
 *
 * Design notes
 *  - Every series an output touches is looked up at create and kept in
 *    arrays indexed by executor and fate, so an output costs a few relaxed
 *    atomic adds and one histogram observation per completed call.
 *  - The round-trip gauge of an executor is made at the first scrape after
 *    its first measurement: before that there is nothing to report, and a 0
 *    would read as a perfect link. */
#include "pipeline/metrics.h"

#include <stdlib.h>

#include "specx/local_executor.h"
#include "specx/rpc.h"

#include "metrics/define.h"
#include "pipeline/uplink.h"

/* The fates exported, and where each operator fate is counted. */
enum { F_WON, F_OUTRANKED, F_LATE, F_FAILED, F_SKIPPED, F_SHED, F_CANCELLED, F_COUNT };
static const char *const fate_names[F_COUNT] = {"won",     "outranked", "late",     "failed",
                                                "skipped", "shed",      "cancelled"};

static int fate_index(specx_fate f)
{
    switch (f) {
    case SPECX_FATE_WON:
        return F_WON;
    case SPECX_FATE_OUTRANKED:
        return F_OUTRANKED;
    case SPECX_FATE_LATE:
    case SPECX_FATE_PENDING_CANCELLED: /* its deadline had passed unanswered */
        return F_LATE;
    case SPECX_FATE_FAILED:
        return F_FAILED;
    case SPECX_FATE_SKIPPED:
        return F_SKIPPED;
    case SPECX_FATE_SHED:
        return F_SHED;
    case SPECX_FATE_CANCELLED:
        return F_CANCELLED;
    default:
        return -1;
    }
}

static const double latency_bounds[] = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1,
                                        0.15,  0.2,  0.3,  0.5,  1,    2,     5};

typedef struct exec_series {
    sx_pipeline_metrics_exec src;
    specx_counter *fate[F_COUNT];
    specx_histogram *latency;
    specx_gauge *in_flight;
    specx_gauge *rtt; /* made once a round trip was measured */
} exec_series;

struct sx_pipeline_metrics {
    specx_metrics *reg;
    specx_counter *frames, *fallbacks, *no_result;
    specx_counter *outputs[3]; /* remote, local, none */
    specx_histogram *end_to_end;
    specx_gauge_family *rtt_family;
    size_t n;
    exec_series ex[];
};

typedef sx_metrics_def reg_ctx;

static specx_counter_family *counter(reg_ctx *r, const char *name, const char *help,
                                     const char *const *labels, size_t nlabels, size_t max_series)
{
    specx_metric_desc d = {
        .name = name, .help = help, .labels = labels, .nlabels = nlabels, .max_series = max_series};
    return sx_metrics_def_counter(r, &d);
}

static specx_counter *plain_counter(reg_ctx *r, const char *name, const char *help)
{
    specx_counter_family *f = counter(r, name, help, NULL, 0, 0);
    return f != NULL ? specx_counter_family_get(f, NULL) : NULL;
}

static specx_histogram_family *seconds(reg_ctx *r, const char *name, const char *help,
                                       const char *const *labels, size_t nlabels, size_t n)
{
    specx_metric_desc d = {.name = name,
                           .help = help,
                           .labels = labels,
                           .nlabels = nlabels,
                           .max_series = n,
                           .bounds = latency_bounds,
                           .nbounds = sizeof latency_bounds / sizeof latency_bounds[0],
                           .scale = 1e9};
    return sx_metrics_def_histogram(r, &d);
}

static specx_gauge_family *gauge(reg_ctx *r, const char *name, const char *help, size_t n)
{
    static const char *const exec_label[1] = {"executor"};
    specx_metric_desc d = {
        .name = name, .help = help, .labels = exec_label, .nlabels = 1, .max_series = n};
    return sx_metrics_def_gauge(r, &d);
}

static void register_frames(sx_pipeline_metrics *m, reg_ctx *r)
{
    static const char *const source[1] = {"source"};
    static const char *const sources[3] = {"remote", "local", "none"};
    m->frames = plain_counter(r, "specx_vehicle_frames_total", "Frames accepted by the pipeline.");
    specx_counter_family *f =
        counter(r, "specx_vehicle_outputs_total",
                "Outputs delivered, by the kind of executor whose result won (none: no result).",
                source, 1, 3);
    for (int i = 0; f != NULL && i < 3; i++) {
        m->outputs[i] = specx_counter_family_get(f, &sources[i]);
    }
    m->fallbacks = plain_counter(r, "specx_vehicle_fallbacks_total",
                                 "Outputs from the local result after the frame's deadline.");
    m->no_result = plain_counter(r, "specx_vehicle_no_result_total",
                                 "Outputs with no result from any executor.");
    specx_histogram_family *h =
        seconds(r, "specx_vehicle_end_to_end_seconds", "Frame arrival to its output.", NULL, 0, 1);
    m->end_to_end = h != NULL ? specx_histogram_family_get(h, NULL) : NULL;
}

static void register_executors(sx_pipeline_metrics *m, reg_ctx *r)
{
    static const char *const exec_fate[2] = {"executor", "fate"};
    static const char *const exec_label[1] = {"executor"};
    specx_counter_family *fates =
        counter(r, "specx_executor_fate_total",
                "Frames per executor, by what became of its call (counted at the output).",
                exec_fate, 2, m->n * F_COUNT);
    specx_histogram_family *lat =
        seconds(r, "specx_executor_latency_seconds",
                "Call start to completion, for calls completed OK by their frame's output.",
                exec_label, 1, m->n);
    specx_gauge_family *inflight =
        gauge(r, "specx_executor_in_flight", "Calls outstanding now.", m->n);
    m->rtt_family = gauge(r, "specx_link_rtt_seconds",
                          "The most recent round trip to a server less its reported queue and "
                          "compute time.",
                          m->n);
    for (size_t i = 0; r->st == SPECX_OK && i < m->n; i++) {
        exec_series *e = &m->ex[i];
        for (int k = 0; k < F_COUNT; k++) {
            const char *v[2] = {e->src.name, fate_names[k]};
            e->fate[k] = specx_counter_family_get(fates, v);
        }
        e->latency = specx_histogram_family_get(lat, &e->src.name);
        e->in_flight = specx_gauge_family_get(inflight, &e->src.name);
    }
}

static void collect(void *arg)
{
    sx_pipeline_metrics *m = arg;
    for (size_t i = 0; i < m->n; i++) {
        exec_series *e = &m->ex[i];
        if (e->src.is_local) {
            specx_local_executor_stats ls;
            specx_local_executor_get_stats(e->src.exec, &ls);
            specx_gauge_set(e->in_flight, (double)(ls.queued + ls.running));
            continue;
        }
        uint64_t done = atomic_load_explicit(e->src.finished, memory_order_acquire);
        uint64_t in = atomic_load_explicit(e->src.started, memory_order_acquire);
        specx_gauge_set(e->in_flight, (double)(in - done));
        specx_rpc_link link;
        sx_uplink_executor_link(e->src.exec, &link);
        if (link.rtt >= 0) {
            if (e->rtt == NULL) {
                e->rtt = specx_gauge_family_get(m->rtt_family, &e->src.name);
            }
            specx_gauge_set(e->rtt, (double)link.rtt / 1e9);
        }
    }
}

specx_status sx_pipeline_metrics_create(specx_metrics *reg, const sx_pipeline_metrics_exec *ex,
                                        size_t n, sx_pipeline_metrics **out, specx_err *err)
{
    sx_pipeline_metrics *m = calloc(1, sizeof *m + n * sizeof m->ex[0]);
    if (m == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "pipeline metrics: out of memory");
    }
    m->reg = reg;
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        m->ex[i].src = ex[i];
    }
    reg_ctx r = {.reg = reg, .err = err, .st = SPECX_OK};
    register_frames(m, &r);
    register_executors(m, &r);
    if (r.st == SPECX_OK) {
        r.st = specx_metrics_add_collector(reg, collect, m, err);
    }
    if (r.st != SPECX_OK) {
        free(m);
        return r.st;
    }
    *out = m;
    return SPECX_OK;
}

void sx_pipeline_metrics_destroy(sx_pipeline_metrics *m)
{
    if (m != NULL) {
        specx_metrics_remove_collector(m->reg, collect, m);
        free(m);
    }
}

void sx_pipeline_metrics_frame(sx_pipeline_metrics *m)
{
    if (m != NULL) {
        specx_counter_inc(m->frames);
    }
}

void sx_pipeline_metrics_output(sx_pipeline_metrics *m, const specx_pipeline_output *o)
{
    if (m == NULL) {
        return;
    }
    specx_counter_inc(m->outputs[o->winner < 0 ? 2 : o->is_local ? 1 : 0]);
    if (o->winner < 0) {
        specx_counter_inc(m->no_result);
    }
    if (o->fallback) {
        specx_counter_inc(m->fallbacks);
    }
    specx_histogram_observe(m->end_to_end, o->raw->latency);
    for (size_t i = 0; i < o->raw->n_exec && i < m->n; i++) {
        const specx_exec_report *x = &o->raw->exec[i];
        int k = fate_index(x->fate);
        if (k >= 0) {
            specx_counter_inc(m->ex[i].fate[k]);
        }
        if (x->status == SPECX_OK && x->latency >= 0) {
            specx_histogram_observe(m->ex[i].latency, x->latency);
        }
    }
}
