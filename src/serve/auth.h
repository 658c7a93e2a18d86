/* serve/auth.h — internal to src/serve: who is calling (identity), and
 * whether this request may go on (quotas). docs/security.md.
 *
 * Contract
 *  - Identity of a call: with a token file, the vehicle id of the call's
 *    `authorization: Bearer TOKEN` (missing or unknown token: SPECX_EACCESS,
 *    sent as UNAUTHENTICATED); else, with client certificates required, the
 *    certificate's common name (checked at the TLS handshake; a name that is
 *    not a vehicle id is refused); else "" — anonymous, every call shares one
 *    identity. The identity is what the server's per-client accounting keys
 *    on: the job's `client` field (serve/queue.h), quotas, metrics.
 *  - Admission: every detection request takes from its identity's buckets
 *    (one request, its payload bytes) before it is decoded; over quota is
 *    SPECX_EBUSY (RESOURCE_EXHAUSTED) with a message naming the limit.
 *  - A stream is identified when it opens, and again at its next message
 *    after each token reload: a revoked token ends the stream.
 *  - Health checks are neither authenticated nor metered (load balancers
 *    call them without tokens); client certificates, being checked at the
 *    handshake, apply to them too.
 *  - Refusals are counted in the metrics (auth failures, quota refusals).
 *    Messages never contain a token or a token hash.
 *  - Thread-safe: identify and admit from any thread, concurrently with a
 *    reload (which swaps the token table whole). */
#ifndef SX_SERVE_AUTH_H
#define SX_SERVE_AUTH_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/auth.h"
#include "specx/serve.h"

#include "auth/quota.h"
#include "auth/tokens.h"
#include "serve/metrics.h"

/* Bytes of an identity, NUL included. */
#define SX_SERVE_CLIENT_MAX (SPECX_AUTH_ID_MAX + 1)

typedef struct sx_serve_auth {
    sx_auth_tokens *tokens; /* NULL: no bearer tokens */
    sx_auth_quota *quota;   /* NULL: no quotas */
    bool client_certs;      /* identities from client certificates */
    sx_serve_metrics *metrics;
} sx_serve_auth;

/* Loads the token file and makes the quota table the config asks for.
 * Errors name the file (and line) or the bad quota value; on error nothing
 * is left to free. */
specx_status sx_serve_auth_init(sx_serve_auth *a, const specx_server_config *cfg, specx_err *err);
void sx_serve_auth_fini(sx_serve_auth *a);

/* Whether calls carry authenticated identities (tokens or certificates). */
bool sx_serve_auth_on(const sx_serve_auth *a);

/* The identity of call into id. SPECX_OK, or SPECX_EACCESS with why in msg. */
specx_status sx_serve_auth_identify(sx_serve_auth *a, grpc_call *call,
                                    const grpc_metadata_array *md, char id[SX_SERVE_CLIENT_MAX],
                                    char *msg, size_t cap);

/* Takes one request of `bytes` from id's quota. SPECX_OK, or SPECX_EBUSY
 * with the limit and the retry time in msg. */
specx_status sx_serve_auth_admit(sx_serve_auth *a, const char *id, size_t bytes, char *msg,
                                 size_t cap);

/* Which token table is in use (it changes with every successful reload; 0
 * without tokens): a stream checks its token again when it changed. */
uint64_t sx_serve_auth_generation(sx_serve_auth *a);

/* Re-reads the token file. SPECX_EINVAL when there is none; otherwise as
 * sx_auth_tokens_reload (the old table stays on failure). */
specx_status sx_serve_auth_reload(sx_serve_auth *a, specx_err *err);

#endif
