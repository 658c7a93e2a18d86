/* health.c — grpc.health.v1 messages and Check: the server ("") and
 * object_detection.GRPCImage are SERVING while the health status is (until
 * specx_server_set_serving(false) or stop), NOT_SERVING after; any other
 * service is NOT_FOUND (Check) or SERVICE_UNKNOWN (Watch, watch.c). Messages
 * go through the protobuf-c code generated from proto/health.proto. */
#include <stdio.h>
#include <string.h>

#include "health.pb-c.h"
#include "rpc/wire.h"
#include "serve/server.h"

specx_status sx_serve_health_request(grpc_byte_buffer *payload, bool *known, char *msg,
                                     size_t msglen)
{
    *known = true;
    if (payload == NULL) {
        return SPECX_OK;
    }
    Grpc__Health__V1__HealthCheckRequest *req =
        (Grpc__Health__V1__HealthCheckRequest *)sx_rpc_message_unpack(
            &grpc__health__v1__health_check_request__descriptor, payload);
    if (req == NULL) {
        snprintf(msg, msglen, "malformed HealthCheckRequest");
        return SPECX_EINVAL;
    }
    const char *service = req->service != NULL ? req->service : "";
    if (service[0] != '\0' && strcmp(service, SX_RPC_SERVICE_NAME) != 0) {
        snprintf(msg, msglen, "unknown service '%.100s'", service);
        *known = false;
    }
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    return SPECX_OK;
}

grpc_byte_buffer *sx_serve_health_reply(sx_serve_health_status status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    switch (status) {
    case SX_SERVE_HEALTH_SERVING:
        resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        break;
    case SX_SERVE_HEALTH_NOT_SERVING:
        resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
        break;
    case SX_SERVE_HEALTH_SERVICE_UNKNOWN:
        resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
        break;
    }
    return sx_rpc_message_pack(&resp.base);
}

specx_status sx_serve_health_check(grpc_byte_buffer *payload, bool serving,
                                   grpc_byte_buffer **reply, char *msg, size_t msglen)
{
    bool known;
    specx_status st = sx_serve_health_request(payload, &known, msg, msglen);
    if (st != SPECX_OK) {
        return st;
    }
    if (!known) {
        return SPECX_ENOTFOUND; /* msg names the service */
    }
    *reply = sx_serve_health_reply(serving ? SX_SERVE_HEALTH_SERVING : SX_SERVE_HEALTH_NOT_SERVING);
    if (*reply == NULL) {
        snprintf(msg, msglen, "out of memory");
        return SPECX_ENOMEM;
    }
    return SPECX_OK;
}
