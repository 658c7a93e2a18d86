/* client_internal.h — internal to src/rpc: starting a client call with a hook
 * that runs before the call can complete (the executor stores the call handle
 * in its specx_call there). */
#ifndef SPECX_RPC_CLIENT_INTERNAL_H
#define SPECX_RPC_CLIENT_INTERNAL_H

#include "specx/rpc.h"

/* As specx_rpc_call_start; `created(created_arg, call)` runs under the client
 * lock before any work begins (it must not call into the client). */
specx_status rpc_call_begin(specx_rpc_client *c, specx_encoded_frame *frame, specx_time_t deadline,
                            specx_rpc_done_fn done, void *user,
                            void (*created)(void *arg, specx_rpc_call *call), void *created_arg);

#endif
