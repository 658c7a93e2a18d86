/* status_map.c — gRPC status codes <-> specx_status (the table is in
 * docs/rpc.md). */
#include <grpc/status.h>

#include "specx/rpc.h"

specx_status specx_rpc_status_from_grpc(int code)
{
    switch ((grpc_status_code)code) {
    case GRPC_STATUS_OK:
        return SPECX_OK;
    case GRPC_STATUS_CANCELLED:
        return SPECX_ECANCELED;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return SPECX_ETIMEDOUT;
    case GRPC_STATUS_INVALID_ARGUMENT:
        return SPECX_EINVAL;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return SPECX_EBUSY;
    case GRPC_STATUS_NOT_FOUND:
        return SPECX_ENOTFOUND;
    case GRPC_STATUS_UNIMPLEMENTED:
        return SPECX_EUNSUPPORTED;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_ABORTED:
        return SPECX_EUNAVAILABLE;
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED:
        return SPECX_EACCESS;
    case GRPC_STATUS_FAILED_PRECONDITION:
        return SPECX_ESTOPPED;
    default:
        return SPECX_EINTERNAL;
    }
}

int specx_rpc_status_to_grpc(specx_status st)
{
    switch (st) {
    case SPECX_OK:
        return GRPC_STATUS_OK;
    case SPECX_EINVAL:
    case SPECX_EFORMAT:
    case SPECX_EUNSUPPORTED:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case SPECX_ETOOBIG:
    case SPECX_EBUSY:
    case SPECX_ENOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case SPECX_ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case SPECX_ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case SPECX_ESTOPPED:
    case SPECX_EUNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case SPECX_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    case SPECX_EACCESS:
        return GRPC_STATUS_UNAUTHENTICATED;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}
