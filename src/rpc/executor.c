/* executor.c — the remote executor: the operator's executor interface on top
 * of a gRPC client (request = specx_encoded_frame*, result = specx_detections*). */
#include "specx/executor.h"

#include <stdlib.h>

#include "rpc/client.h"

static void on_done(void *user, specx_status st, specx_detections *result, const char *msg)
{
    specx_call_complete(user, st, result, msg);
}

static void on_created(void *arg, specx_rpc_call *rc)
{
    specx_call_set_data(arg, rc);
}

static specx_status exec_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    if (request == NULL) {
        return SPECX_EINVAL;
    }
    specx_status st = sx_rpc_call_begin(ctx, request, deadline, on_done, call, on_created, call);
    if (st != SPECX_OK) {
        specx_call_set_data(call, NULL); /* the handle was freed */
    }
    return st;
}

static void exec_cancel(void *ctx, specx_call *call)
{
    (void)ctx;
    specx_rpc_call_cancel(specx_call_data(call)); /* NULL-safe */
}

static void exec_free_result(void *ctx, void *result)
{
    (void)ctx;
    specx_detections_destroy(result);
}

static void exec_destroy(void *ctx)
{
    specx_rpc_client_destroy(ctx);
}

static const specx_executor_ops rpc_exec_ops = {
    .start = exec_start,
    .cancel = exec_cancel,
    .free_result = exec_free_result,
    .destroy = exec_destroy,
};

specx_status specx_rpc_executor_create(const specx_rpc_client_config *cfg, specx_executor *out,
                                       specx_err *err)
{
    if (out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "rpc executor: no output");
    }
    specx_rpc_client *c;
    specx_status st = specx_rpc_client_create(cfg, &c, err);
    if (st != SPECX_OK) {
        return st;
    }
    out->ops = &rpc_exec_ops;
    out->ctx = c;
    return SPECX_OK;
}

void specx_rpc_executor_link(const specx_executor *ex, specx_rpc_link *out)
{
    specx_rpc_client_link(ex->ctx, out);
}

size_t specx_rpc_executor_backends(const specx_executor *e, specx_rpc_backend_stats *out,
                                   size_t max)
{
    if (e == NULL || e->ops != &rpc_exec_ops) {
        return 0;
    }
    return specx_rpc_client_backends(e->ctx, out, max);
}
