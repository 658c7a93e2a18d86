/* client_creds.c — what a client proves about itself: its channel
 * credentials (TLS roots, a client certificate for mutual TLS) and the
 * bearer token it sends on every call.
 *
 * Design notes
 *  - The token is read once, at client create, from a file or an
 *    environment variable (specx/auth.h), and kept only as the value of the
 *    call metadata (a slice gRPC references and copies as it sends; not
 *    ours to wipe); our temporary copies are wiped. No message holds a
 *    token's characters.
 *  - A bearer token over plaintext can be read by anyone on the path, so it
 *    is refused unless the target is a loopback address. */
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/auth.h"

#include "rpc/client.h"

#define PEM_MAX (1 << 20)

/* The PEM text of path (malloc'd), or NULL with *st and err set. */
static char *read_pem(const char *target, const char *what, const char *path, specx_status *st,
                      specx_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *st = specx_err_set(err, SPECX_ENOTFOUND, "client %s: cannot open %s '%s'", target, what,
                            path);
        return NULL;
    }
    char *pem = calloc(1, PEM_MAX);
    size_t n = pem != NULL ? fread(pem, 1, PEM_MAX - 1, f) : 0;
    fclose(f);
    if (n == 0) {
        free(pem);
        *st = specx_err_set(err, SPECX_EFORMAT, "client %s: %s '%s' is empty or unreadable", target,
                            what, path);
        return NULL;
    }
    return pem;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

specx_status sx_rpc_creds_create(const specx_rpc_client_config *cfg, grpc_channel_credentials **out,
                                 specx_err *err)
{
    bool tls = cfg->tls_ca[0] != '\0' || cfg->tls_cert[0] != '\0';
    if (!tls) {
        *out = grpc_insecure_credentials_create();
        return SPECX_OK;
    }
    specx_status st = SPECX_OK;
    char *ca = NULL, *cert = NULL, *key = NULL;
    if (cfg->tls_ca[0] != '\0') {
        ca = read_pem(cfg->target, "tls-ca", cfg->tls_ca, &st, err);
    }
    if (st == SPECX_OK && cfg->tls_cert[0] != '\0') {
        cert = read_pem(cfg->target, "tls-cert", cfg->tls_cert, &st, err);
        key = cert != NULL ? read_pem(cfg->target, "tls-key", cfg->tls_key, &st, err) : NULL;
    }
    if (st == SPECX_OK) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        /* NULL roots: gRPC's default (system) roots */
        *out = grpc_ssl_credentials_create(ca, key != NULL ? &pair : NULL, NULL, NULL);
        if (*out == NULL) {
            st = specx_err_set(err, SPECX_EFORMAT, "client %s: bad TLS certificate files",
                               cfg->target);
        }
    }
    free(ca);
    free(cert);
    free_secret(key);
    return st;
}

/* Whether target names this machine: "localhost", 127.x.x.x or ::1, with
 * an optional "dns:///" or "ipv4:"/"ipv6:" scheme. */
static bool loopback(const char *target)
{
    const char *h = strrchr(target, '/');
    h = h != NULL ? h + 1 : target;
    if (strncmp(h, "ipv4:", 5) == 0 || strncmp(h, "ipv6:", 5) == 0) {
        h += 5;
    }
    return strncmp(h, "localhost:", 10) == 0 || strncmp(h, "127.", 4) == 0 ||
           strncmp(h, "[::1]:", 6) == 0;
}

specx_status sx_rpc_auth_md_init(specx_rpc_client *c, specx_err *err)
{
    const specx_rpc_client_config *cfg = &c->cfg;
    c->n_md = 0;
    bool from_file = cfg->token_file[0] != '\0';
    if (!from_file && cfg->token_env[0] == '\0') {
        return SPECX_OK;
    }
    if (cfg->tls_ca[0] == '\0' && cfg->tls_cert[0] == '\0' && !loopback(cfg->target)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "client %s: refusing to send a token over plaintext (anyone on the "
                             "path could read it): add tls-ca=FILE",
                             cfg->target);
    }
    specx_token tok;
    specx_err terr = {{0}};
    specx_status st = from_file ? specx_token_read_file(cfg->token_file, &tok, &terr)
                                : specx_token_read_env(cfg->token_env, &tok, &terr);
    if (st != SPECX_OK) {
        return specx_err_set(err, st, "client %s: %s", cfg->target, specx_err_text(&terr, st));
    }
    char value[sizeof "Bearer " + SPECX_TOKEN_MAX];
    int n = snprintf(value, sizeof value, "Bearer %s", tok.s);
    specx_token_clear(&tok);
    c->md[0].key = grpc_slice_from_static_string("authorization");
    c->md[0].value = grpc_slice_from_copied_buffer(value, (size_t)n);
    explicit_bzero(value, sizeof value);
    c->n_md = 1;
    return SPECX_OK;
}

void sx_rpc_auth_md_clear(specx_rpc_client *c)
{
    if (c->n_md == 0) {
        return;
    }
    grpc_slice_unref(c->md[0].value);
    grpc_slice_unref(c->md[0].key);
    c->n_md = 0;
}
