/* metrics.c — the detection server's metric families and their updates
 * (serve/metrics.h; names in docs/metrics.md).
 *
 * Design notes
 *  - The unlabelled series and every (method, code) series are looked up
 *    once, at create, and kept: an update on the call path is then one
 *    relaxed atomic add. Only per-client series are looked up per update
 *    (a hash of two short strings and a lock-free probe; the first request
 *    of a client creates its series under the family's mutex).
 *  - requests_total{method,code} series exist up front for the codes the
 *    server sends, so a dashboard sees zeros instead of gaps (and a rate
 *    counts a series' first request); any other code is looked up when it
 *    happens. */
#include "serve/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "specx/rpc.h"

#include "metrics/define.h"

#define NCODES 17

static const char *const code_names[NCODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

static const char *const rpc_names[SX_SERVE_RPC_COUNT_] = {"ProcessImageSync",
                                                           "ProcessImageStreaming", "Check"};
static const char *const shed_names[SX_SERVE_SHED_COUNT_] = {"queue_full", "draining"};
static const char *const auth_names[SX_SERVE_AUTH_COUNT_] = {"missing", "invalid", "client_cert"};
static const char *const limit_names[SX_SERVE_QUOTA_COUNT_] = {"requests", "bytes"};

static const double latency_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                        0.1,   0.2,   0.5,   1,    2,    5};

struct sx_serve_metrics {
    specx_metrics *reg;
    bool per_client;
    sx_serve_queue_len_fn queue_len;
    void *queue_len_arg;
    specx_counter_family *requests_family;
    specx_counter *requests[SX_SERVE_RPC_COUNT_][NCODES]; /* NULL: looked up when used */
    specx_counter *bytes[SX_SERVE_RPC_COUNT_];
    specx_counter *shed[SX_SERVE_SHED_COUNT_];
    specx_counter *auth_failures[SX_SERVE_AUTH_COUNT_];
    specx_counter *reloads_ok, *reloads_failed;
    specx_counter *expired, *cancelled;
    specx_histogram *queue_wait, *compute;
    specx_gauge *queue_depth, *in_flight, *tokens;
    /* quota refusals: by limit alone, or by (limit, client) with auth */
    specx_counter *quota[SX_SERVE_QUOTA_COUNT_];
    specx_counter_family *quota_by_client;
    specx_counter_family *client_requests, *client_bytes;
    _Atomic uint64_t queued, dequeued;
};

const char *sx_serve_grpc_code_name(specx_status st)
{
    int code = specx_rpc_status_to_grpc(st);
    return code >= 0 && code < NCODES ? code_names[code] : "UNKNOWN";
}

/* ---- registration ------------------------------------------------------- */

typedef sx_metrics_def reg_ctx;

static specx_counter_family *counter(reg_ctx *r, const char *name, const char *help,
                                     const char *const *labels, size_t nlabels, size_t max_series)
{
    specx_metric_desc d = {
        .name = name, .help = help, .labels = labels, .nlabels = nlabels, .max_series = max_series};
    return sx_metrics_def_counter(r, &d);
}

static specx_gauge *gauge(reg_ctx *r, const char *name, const char *help)
{
    specx_metric_desc d = {.name = name, .help = help};
    specx_gauge_family *f = sx_metrics_def_gauge(r, &d);
    return f != NULL ? specx_gauge_family_get(f, NULL) : NULL;
}

static specx_histogram *seconds(reg_ctx *r, const char *name, const char *help)
{
    specx_metric_desc d = {.name = name,
                           .help = help,
                           .bounds = latency_bounds,
                           .nbounds = sizeof latency_bounds / sizeof latency_bounds[0],
                           .scale = 1e9};
    specx_histogram_family *f = sx_metrics_def_histogram(r, &d);
    return f != NULL ? specx_histogram_family_get(f, NULL) : NULL;
}

/* Each label value of a one-label family, looked up into out[0..n). */
static void each_value(specx_counter_family *f, const char *const *values, size_t n,
                       specx_counter **out)
{
    for (size_t i = 0; f != NULL && i < n; i++) {
        out[i] = specx_counter_family_get(f, &values[i]);
    }
}

static void register_requests(sx_serve_metrics *m, reg_ctx *r)
{
    static const char *const mc[2] = {"method", "code"};
    static const char *const meth[1] = {"method"};
    specx_counter_family *req =
        counter(r, "specx_server_requests_total",
                "Requests answered, by RPC method and gRPC status code (a stream message is "
                "one request).",
                mc, 2, SX_SERVE_RPC_COUNT_ * NCODES);
    /* the codes specx_rpc_status_to_grpc gives */
    static const specx_status sent[] = {SPECX_OK,        SPECX_ECANCELED, SPECX_EINVAL,
                                        SPECX_ETIMEDOUT, SPECX_ENOTFOUND, SPECX_EBUSY,
                                        SPECX_ESTOPPED,  SPECX_EINTERNAL, SPECX_EACCESS};
    m->requests_family = req;
    for (int k = 0; req != NULL && k < SX_SERVE_RPC_COUNT_; k++) {
        for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++) {
            int c = specx_rpc_status_to_grpc(sent[i]);
            const char *v[2] = {rpc_names[k], code_names[c]};
            m->requests[k][c] = specx_counter_family_get(req, v);
        }
    }
    specx_counter_family *bytes =
        counter(r, "specx_server_received_bytes_total", "Request payload bytes received.", meth, 1,
                SX_SERVE_RPC_COUNT_);
    each_value(bytes, rpc_names, SX_SERVE_RPC_COUNT_, m->bytes);
}

static void register_load(sx_serve_metrics *m, reg_ctx *r)
{
    static const char *const reason[1] = {"reason"};
    m->in_flight = gauge(r, "specx_server_in_flight",
                         "Requests accepted into the work queue and not yet answered.");
    m->queue_depth = gauge(r, "specx_server_queue_depth", "Requests waiting for a worker.");
    m->queue_wait = seconds(r, "specx_server_queue_wait_seconds",
                            "Time from arrival to a worker starting a computed request.");
    m->compute = seconds(r, "specx_server_compute_seconds",
                         "Decode and detection time of one computed request.");
    specx_counter_family *f = counter(
        r, "specx_server_expired_total",
        "Requests whose deadline passed before a worker was free (not computed).", NULL, 0, 0);
    m->expired = f != NULL ? specx_counter_family_get(f, NULL) : NULL;
    f = counter(r, "specx_server_cancelled_total",
                "Requests cancelled by the client before their answer.", NULL, 0, 0);
    m->cancelled = f != NULL ? specx_counter_family_get(f, NULL) : NULL;
    f = counter(r, "specx_server_shed_total",
                "Requests refused unqueued: queue full, or the server draining.", reason, 1,
                SX_SERVE_SHED_COUNT_);
    each_value(f, shed_names, SX_SERVE_SHED_COUNT_, m->shed);
}

static void register_auth(sx_serve_metrics *m, reg_ctx *r, size_t max_clients)
{
    static const char *const reason[1] = {"reason"};
    static const char *const result[1] = {"result"};
    static const char *const limit[1] = {"limit"};
    static const char *const limit_client[2] = {"limit", "client"};
    static const char *const client[1] = {"client"};
    static const char *const client_code[2] = {"client", "code"};
    specx_counter_family *f =
        counter(r, "specx_server_auth_failures_total",
                "Calls refused as UNAUTHENTICATED: token missing or invalid, or a client "
                "certificate naming no vehicle id.",
                reason, 1, SX_SERVE_AUTH_COUNT_);
    each_value(f, auth_names, SX_SERVE_AUTH_COUNT_, m->auth_failures);
    m->tokens = gauge(r, "specx_server_auth_tokens", "Entries of the token table in use.");
    f = counter(r, "specx_server_auth_reloads_total", "Token file reloads, by result.", result, 1,
                2);
    static const char *const results[2] = {"ok", "failed"};
    specx_counter *res[2] = {NULL, NULL};
    each_value(f, results, 2, res);
    m->reloads_ok = res[0];
    m->reloads_failed = res[1];
    if (!m->per_client) {
        f = counter(r, "specx_server_quota_refused_total",
                    "Requests refused as RESOURCE_EXHAUSTED by a quota, by limit.", limit, 1,
                    SX_SERVE_QUOTA_COUNT_);
        each_value(f, limit_names, SX_SERVE_QUOTA_COUNT_, m->quota);
        return;
    }
    m->quota_by_client =
        counter(r, "specx_server_quota_refused_total",
                "Requests refused as RESOURCE_EXHAUSTED by a quota, by limit and client.",
                limit_client, 2, SX_SERVE_QUOTA_COUNT_ * max_clients);
    m->client_requests = counter(r, "specx_server_client_requests_total",
                                 "Requests answered per authenticated client, by gRPC status code.",
                                 client_code, 2, max_clients * 4);
    m->client_bytes =
        counter(r, "specx_server_client_received_bytes_total",
                "Request payload bytes per authenticated client.", client, 1, max_clients);
}

static void collect(void *arg)
{
    sx_serve_metrics *m = arg;
    /* dequeued first: a request counted there was queued before, so the
     * difference never goes below 0 */
    uint64_t done = atomic_load_explicit(&m->dequeued, memory_order_acquire);
    uint64_t in = atomic_load_explicit(&m->queued, memory_order_acquire);
    specx_gauge_set(m->in_flight, (double)(in - done));
    if (m->queue_len != NULL) {
        specx_gauge_set(m->queue_depth, (double)m->queue_len(m->queue_len_arg));
    }
}

specx_status sx_serve_metrics_create(specx_metrics *reg, bool per_client, size_t max_clients,
                                     sx_serve_queue_len_fn queue_len, void *queue_len_arg,
                                     sx_serve_metrics **out, specx_err *err)
{
    sx_serve_metrics *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "server metrics: out of memory");
    }
    m->reg = reg;
    m->per_client = per_client;
    m->queue_len = queue_len;
    m->queue_len_arg = queue_len_arg;
    reg_ctx r = {.reg = reg, .err = err, .st = SPECX_OK};
    register_requests(m, &r);
    register_load(m, &r);
    register_auth(m, &r, max_clients > 0 ? max_clients : 1024);
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

void sx_serve_metrics_destroy(sx_serve_metrics *m)
{
    if (m == NULL) {
        return;
    }
    specx_metrics_remove_collector(m->reg, collect, m);
    free(m);
}

/* ---- updates -------------------------------------------------------------- */

static int code_of(specx_status st)
{
    int code = specx_rpc_status_to_grpc(st);
    return code >= 0 && code < NCODES ? code : 2; /* UNKNOWN */
}

void sx_serve_metrics_answered(sx_serve_metrics *m, sx_serve_rpc rpc, specx_status st,
                               const char *client)
{
    if (m == NULL) {
        return;
    }
    int code = code_of(st);
    specx_counter *c = m->requests[rpc][code];
    if (c == NULL) {
        const char *v[2] = {rpc_names[rpc], code_names[code]};
        c = specx_counter_family_get(m->requests_family, v);
    }
    specx_counter_inc(c);
    if (m->per_client && client != NULL && client[0] != '\0' && rpc != SX_SERVE_RPC_HEALTH) {
        const char *v[2] = {client, code_names[code]};
        specx_counter_inc(specx_counter_family_get(m->client_requests, v));
    }
}

void sx_serve_metrics_received(sx_serve_metrics *m, sx_serve_rpc rpc, const char *client,
                               size_t bytes)
{
    if (m == NULL) {
        return;
    }
    specx_counter_add(m->bytes[rpc], bytes);
    if (m->per_client && client != NULL && client[0] != '\0') {
        specx_counter_add(specx_counter_family_get(m->client_bytes, &client), bytes);
    }
}

void sx_serve_metrics_queued(sx_serve_metrics *m)
{
    if (m != NULL) {
        atomic_fetch_add_explicit(&m->queued, 1, memory_order_release);
    }
}

void sx_serve_metrics_dequeued(sx_serve_metrics *m)
{
    if (m != NULL) {
        atomic_fetch_add_explicit(&m->dequeued, 1, memory_order_release);
    }
}

void sx_serve_metrics_shed(sx_serve_metrics *m, sx_serve_shed why)
{
    if (m != NULL) {
        specx_counter_inc(m->shed[why]);
    }
}

void sx_serve_metrics_expired(sx_serve_metrics *m)
{
    if (m != NULL) {
        specx_counter_inc(m->expired);
    }
}

void sx_serve_metrics_cancelled(sx_serve_metrics *m)
{
    if (m != NULL) {
        specx_counter_inc(m->cancelled);
    }
}

void sx_serve_metrics_computed(sx_serve_metrics *m, specx_dur_t queue_wait, specx_dur_t compute)
{
    if (m != NULL) {
        specx_histogram_observe(m->queue_wait, queue_wait);
        specx_histogram_observe(m->compute, compute);
    }
}

void sx_serve_metrics_auth_failure(sx_serve_metrics *m, sx_serve_auth_failure why)
{
    if (m != NULL) {
        specx_counter_inc(m->auth_failures[why]);
    }
}

void sx_serve_metrics_quota_refused(sx_serve_metrics *m, sx_serve_quota_limit limit,
                                    const char *client)
{
    if (m == NULL) {
        return;
    }
    if (!m->per_client) {
        specx_counter_inc(m->quota[limit]);
        return;
    }
    const char *v[2] = {limit_names[limit], client != NULL ? client : ""};
    specx_counter_inc(specx_counter_family_get(m->quota_by_client, v));
}

void sx_serve_metrics_tokens_loaded(sx_serve_metrics *m, bool ok, size_t entries, bool initial)
{
    if (m == NULL) {
        return;
    }
    if (!initial) {
        specx_counter_inc(ok ? m->reloads_ok : m->reloads_failed);
    }
    specx_gauge_set(m->tokens, (double)entries);
}
