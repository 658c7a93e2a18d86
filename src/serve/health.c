/* health.c — grpc.health.v1.Health/Check: the server ("") and
 * object_detection.GRPCImage are SERVING until stop() begins, NOT_SERVING
 * after; any other service is NOT_FOUND. Messages go through the protobuf-c
 * code generated from proto/health.proto. */
#include <stdio.h>
#include <string.h>

#include "health.pb-c.h"
#include "rpc/wire.h"
#include "serve/server.h"

specx_status sx_serve_health_check(grpc_byte_buffer *payload, bool serving,
                                   grpc_byte_buffer **reply, char *msg, size_t msglen)
{
    Grpc__Health__V1__HealthCheckRequest *req = NULL;
    if (payload != NULL) {
        req = (Grpc__Health__V1__HealthCheckRequest *)sx_rpc_message_unpack(
            &grpc__health__v1__health_check_request__descriptor, payload);
        if (req == NULL) {
            snprintf(msg, msglen, "malformed HealthCheckRequest");
            return SPECX_EINVAL;
        }
    }
    const char *service = req != NULL && req->service != NULL ? req->service : "";
    specx_status st = SPECX_OK;
    if (service[0] != '\0' && strcmp(service, SX_RPC_SERVICE_NAME) != 0) {
        snprintf(msg, msglen, "unknown service '%.100s'", service);
        st = SPECX_ENOTFOUND;
    }
    if (req != NULL) {
        grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    }
    if (st != SPECX_OK) {
        return st;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                          : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    *reply = sx_rpc_message_pack(&resp.base);
    if (*reply == NULL) {
        snprintf(msg, msglen, "out of memory");
        return SPECX_ENOMEM;
    }
    return SPECX_OK;
}
