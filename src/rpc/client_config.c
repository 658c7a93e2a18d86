/* client_config.c — the remote-server string "HOST:PORT[,prio=N][,stream]...". */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/rpc.h"

void specx_rpc_client_config_init(specx_rpc_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->priority = 1;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    *out = (int)v;
    return true;
}

static bool copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len == 0 || len >= n) {
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

specx_status specx_rpc_client_config_parse(const char *s, specx_rpc_client_config *out,
                                           specx_err *err)
{
    if (s == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "server: no string given");
    }
    char buf[1024];
    if (strlen(s) >= sizeof buf) {
        return specx_err_set(err, SPECX_EINVAL, "server '%.40s...': too long", s);
    }
    strcpy(buf, s);
    specx_rpc_client_config cfg;
    specx_rpc_client_config_init(&cfg);
    char *save = NULL;
    char *tok = strtok_r(buf, ",", &save);
    if (tok == NULL || !copy_str(cfg.target, sizeof cfg.target, tok)) {
        return specx_err_set(err, SPECX_EINVAL, "server '%s': expected HOST:PORT first", s);
    }
    const char *colon = strrchr(cfg.target, ':');
    int port;
    if (colon == NULL || colon == cfg.target || !parse_int(colon + 1, 1, 65535, &port)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server '%s': '%s' is not HOST:PORT with a port 1..65535", s,
                             cfg.target);
    }
    while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        const char *val = eq != NULL ? eq + 1 : NULL;
        if (eq != NULL) {
            *eq = '\0';
        }
        bool ok = true;
        if (strcmp(tok, "prio") == 0 || strcmp(tok, "priority") == 0) {
            ok = val != NULL && parse_int(val, INT_MIN, INT_MAX, &cfg.priority);
            cfg.priority_set = true;
        } else if (strcmp(tok, "stream") == 0) {
            ok = val == NULL;
            cfg.streaming = true;
        } else if (strcmp(tok, "unary") == 0) {
            ok = val == NULL;
            cfg.streaming = false;
        } else if (strcmp(tok, "wait-ready") == 0) {
            ok = val == NULL;
            cfg.wait_for_ready = true;
        } else if (strcmp(tok, "tls-ca") == 0) {
            ok = val != NULL && copy_str(cfg.tls_ca, sizeof cfg.tls_ca, val);
        } else if (strcmp(tok, "tls-cert") == 0) {
            ok = val != NULL && copy_str(cfg.tls_cert, sizeof cfg.tls_cert, val);
        } else if (strcmp(tok, "tls-key") == 0) {
            ok = val != NULL && copy_str(cfg.tls_key, sizeof cfg.tls_key, val);
        } else if (strcmp(tok, "token-file") == 0) {
            ok = val != NULL && copy_str(cfg.token_file, sizeof cfg.token_file, val);
        } else if (strcmp(tok, "token-env") == 0) {
            ok = val != NULL && copy_str(cfg.token_env, sizeof cfg.token_env, val);
        } else if (strcmp(tok, "token") == 0) {
            /* Deliberately not echoed: the value would be the secret. */
            return specx_err_set(err, SPECX_EINVAL,
                                 "server '%s': a token is never given on the command line (other "
                                 "users see it in the process list): use token-file=PATH or "
                                 "token-env=VAR",
                                 cfg.target);
        } else if (strcmp(tok, "tls-host") == 0) {
            ok = val != NULL && copy_str(cfg.tls_host, sizeof cfg.tls_host, val);
        } else if (strcmp(tok, "name") == 0) {
            ok = val != NULL && copy_str(cfg.name, sizeof cfg.name, val);
        } else if (strcmp(tok, "inflight") == 0) {
            ok = val != NULL && parse_int(val, 0, 1000000, &cfg.max_in_flight);
            cfg.max_in_flight_set = true;
        } else {
            return specx_err_set(err, SPECX_EINVAL,
                                 "server '%s': unknown option '%s' (known: prio=N, stream, "
                                 "unary, wait-ready, tls-ca=FILE, tls-cert=FILE, tls-key=FILE, "
                                 "token-file=PATH, token-env=VAR, tls-host=NAME, name=S, "
                                 "inflight=N)",
                                 cfg.target, tok);
        }
        if (!ok) {
            return specx_err_set(err, SPECX_EINVAL, "server '%s': bad value for '%s'", cfg.target,
                                 tok);
        }
    }
    if ((cfg.tls_cert[0] == '\0') != (cfg.tls_key[0] == '\0')) {
        return specx_err_set(
            err, SPECX_EINVAL,
            "server '%s': a client certificate needs both tls-cert= and tls-key=", cfg.target);
    }
    if (cfg.token_file[0] != '\0' && cfg.token_env[0] != '\0') {
        return specx_err_set(err, SPECX_EINVAL,
                             "server '%s': give token-file= or token-env=, not both", cfg.target);
    }
    *out = cfg;
    return SPECX_OK;
}
