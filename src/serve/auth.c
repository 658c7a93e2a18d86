/* auth.c — the server's identities (bearer tokens, client certificates) and
 * per-identity quotas (serve/auth.h). */
#include "serve/auth.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <stdio.h>
#include <string.h>

static bool quota_wanted(const specx_server_config *cfg)
{
    return cfg->quota_rps > 0 || cfg->quota_bytes_per_s > 0;
}

specx_status sx_serve_auth_init(sx_serve_auth *a, const specx_server_config *cfg, specx_err *err)
{
    *a = (sx_serve_auth){.client_certs = cfg->tls_client_ca_file != NULL};
    if (cfg->auth_tokens_file != NULL) {
        specx_status st = sx_auth_tokens_open(cfg->auth_tokens_file, &a->tokens, err);
        if (st != SPECX_OK) {
            return st;
        }
    }
    if (quota_wanted(cfg)) {
        sx_auth_quota_config qc = {.rps = cfg->quota_rps,
                                   .rps_burst = cfg->quota_rps_burst,
                                   .bps = cfg->quota_bytes_per_s,
                                   .bps_burst = cfg->quota_bytes_burst};
        specx_status st = sx_auth_quota_create(&qc, &a->quota, err);
        if (st != SPECX_OK) {
            sx_auth_tokens_close(a->tokens);
            a->tokens = NULL;
            return st;
        }
    }
    return SPECX_OK;
}

void sx_serve_auth_fini(sx_serve_auth *a)
{
    sx_auth_tokens_close(a->tokens);
    sx_auth_quota_destroy(a->quota);
    *a = (sx_serve_auth){0};
}

bool sx_serve_auth_on(const sx_serve_auth *a)
{
    return a->tokens != NULL || a->client_certs;
}

/* The first "authorization" value of md, or NULL. */
static const grpc_slice *authorization(const grpc_metadata_array *md)
{
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == 13 &&
            memcmp(GRPC_SLICE_START_PTR(*k), "authorization", 13) == 0) {
            return &md->metadata[i].value;
        }
    }
    return NULL;
}

static specx_status refuse(sx_serve_auth *a, sx_serve_auth_failure why, char *msg, size_t cap,
                           const char *text)
{
    sx_serve_metrics_auth_failure(a->metrics, why);
    snprintf(msg, cap, "%s", text);
    return SPECX_EACCESS;
}

static specx_status identify_token(sx_serve_auth *a, const grpc_metadata_array *md,
                                   char id[SX_SERVE_CLIENT_MAX], char *msg, size_t cap)
{
    const grpc_slice *v = authorization(md);
    if (v == NULL) {
        return refuse(a, SX_SERVE_AUTH_MISSING, msg, cap,
                      "missing credentials: this server wants 'authorization: Bearer TOKEN' "
                      "(a per-vehicle token: token-file= or token-env= in --server)");
    }
    const char *tok;
    size_t len;
    if (!sx_auth_bearer((const char *)GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v), &tok,
                        &len)) {
        return refuse(a, SX_SERVE_AUTH_INVALID, msg, cap,
                      "the authorization header is not a bearer token");
    }
    if (!sx_auth_tokens_lookup(a->tokens, tok, len, id)) {
        return refuse(a, SX_SERVE_AUTH_INVALID, msg, cap,
                      "token not recognised (revoked, mistyped, or meant for another server)");
    }
    return SPECX_OK;
}

/* The verified client certificate's common name. */
static specx_status identify_cert(sx_serve_auth *a, grpc_call *call, char id[SX_SERVE_CLIENT_MAX],
                                  char *msg, size_t cap)
{
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_CN_PROPERTY_NAME);
    const grpc_auth_property *p = ctx != NULL ? grpc_auth_property_iterator_next(&it) : NULL;
    bool ok = p != NULL && p->value_length > 0 && p->value_length < SX_SERVE_CLIENT_MAX;
    if (ok) {
        memcpy(id, p->value, p->value_length);
        id[p->value_length] = '\0';
        ok = specx_auth_id_check(id, NULL) == SPECX_OK;
    }
    grpc_auth_context_release(ctx);
    if (!ok) {
        id[0] = '\0';
        return refuse(a, SX_SERVE_AUTH_NO_CERT, msg, cap,
                      "the client certificate's common name is not a vehicle id "
                      "(1 to 64 of A-Z a-z 0-9 . _ -)");
    }
    return SPECX_OK;
}

specx_status sx_serve_auth_identify(sx_serve_auth *a, grpc_call *call,
                                    const grpc_metadata_array *md, char id[SX_SERVE_CLIENT_MAX],
                                    char *msg, size_t cap)
{
    id[0] = '\0';
    if (a->tokens != NULL) {
        return identify_token(a, md, id, msg, cap);
    }
    if (a->client_certs) {
        return identify_cert(a, call, id, msg, cap);
    }
    return SPECX_OK;
}

specx_status sx_serve_auth_admit(sx_serve_auth *a, const char *id, size_t bytes, char *msg,
                                 size_t cap)
{
    if (a->quota == NULL) {
        return SPECX_OK;
    }
    sx_auth_quota_verdict v = sx_auth_quota_take(a->quota, id, bytes, specx_time_now());
    if (v.limit == SX_AUTH_QUOTA_OK) {
        return SPECX_OK;
    }
    sx_serve_metrics_quota_refused(
        a->metrics,
        v.limit == SX_AUTH_QUOTA_REQUESTS ? SX_SERVE_QUOTA_REQUESTS : SX_SERVE_QUOTA_BYTES, id);
    sx_auth_quota_describe(a->quota, id, bytes, v, msg, cap);
    return SPECX_EBUSY;
}

uint64_t sx_serve_auth_generation(sx_serve_auth *a)
{
    return a->tokens != NULL ? sx_auth_tokens_generation(a->tokens) : 0;
}

specx_status sx_serve_auth_reload(sx_serve_auth *a, specx_err *err)
{
    if (a->tokens == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "server: no token file to reload (--auth-tokens)");
    }
    specx_status st = sx_auth_tokens_reload(a->tokens, err);
    sx_serve_metrics_tokens_loaded(a->metrics, st == SPECX_OK, sx_auth_tokens_count(a->tokens),
                                   false);
    return st;
}
