/* client_config.c — the remote-server string "TARGET[,prio=N][,stream]...",
 * TARGET being HOST:PORT, a target URI, or "ipv4:A:P,B:P,..." (a list of
 * backends that runs until the first option). */
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

/* HOST:PORT with a port in 1..65535 and a non-empty host. */
static bool host_port_ok(const char *a)
{
    const char *colon = strrchr(a, ':');
    int port;
    return colon != NULL && colon != a && parse_int(colon + 1, 1, 65535, &port);
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Checks the first item of a server string (the target); *list says
 * whether further items may be more backends (ipv4:/ipv6: lists). */
static specx_status check_target(const char *s, const char *t, bool *list, specx_err *err)
{
    *list = has_prefix(t, "ipv4:") || has_prefix(t, "ipv6:");
    const char *addr = t;
    if (*list) {
        addr = t + 5;
    } else if (has_prefix(t, "dns:")) {
        /* dns:HOST:PORT or dns://AUTHORITY/HOST:PORT */
        addr = t + 4;
        if (has_prefix(addr, "//")) {
            const char *slash = strchr(addr + 2, '/');
            addr = slash != NULL ? slash + 1 : "";
        }
    } else if (strstr(t, ":/") != NULL || has_prefix(t, "unix:") ||
               has_prefix(t, "unix-abstract:")) {
        return SPECX_OK; /* another URI scheme: gRPC checks it */
    }
    if (!host_port_ok(addr)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server '%s': '%s' is not HOST:PORT with a port 1..65535 (or a "
                             "target URI: ipv4:A:P,B:P,..., dns:///HOST:PORT)",
                             s, t);
    }
    return SPECX_OK;
}

/* Appends ",item" (one more backend of a list) to cfg->target. */
static specx_status add_backend(const char *s, specx_rpc_client_config *cfg, const char *item,
                                specx_err *err)
{
    if (!host_port_ok(item)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server '%s': backend '%s' is not HOST:PORT with a port 1..65535", s,
                             item);
    }
    size_t len = strlen(cfg->target), add = strlen(item);
    if (len + 1 + add >= sizeof cfg->target) {
        return specx_err_set(err, SPECX_EINVAL, "server '%.40s...': target longer than %zu", s,
                             sizeof cfg->target - 1);
    }
    cfg->target[len] = ',';
    memcpy(cfg->target + len + 1, item, add + 1);
    return SPECX_OK;
}

/* lb=: a policy gRPC's service config knows. */
static bool lb_ok(const char *v)
{
    return strcmp(v, "round_robin") == 0 || strcmp(v, "pick_first") == 0;
}

/* One option "key[=value]" (tok is modified). */
static specx_status parse_option(const char *s, char *tok, specx_rpc_client_config *cfg,
                                 specx_err *err)
{
    char *eq = strchr(tok, '=');
    const char *val = eq != NULL ? eq + 1 : NULL;
    if (eq != NULL) {
        *eq = '\0';
    }
    bool ok = true;
    if (strcmp(tok, "prio") == 0 || strcmp(tok, "priority") == 0) {
        ok = val != NULL && parse_int(val, INT_MIN, INT_MAX, &cfg->priority);
        cfg->priority_set = true;
    } else if (strcmp(tok, "stream") == 0) {
        ok = val == NULL;
        cfg->streaming = true;
    } else if (strcmp(tok, "unary") == 0) {
        ok = val == NULL;
        cfg->streaming = false;
    } else if (strcmp(tok, "wait-ready") == 0) {
        ok = val == NULL;
        cfg->wait_for_ready = true;
    } else if (strcmp(tok, "tls-ca") == 0) {
        ok = val != NULL && copy_str(cfg->tls_ca, sizeof cfg->tls_ca, val);
    } else if (strcmp(tok, "tls-cert") == 0) {
        ok = val != NULL && copy_str(cfg->tls_cert, sizeof cfg->tls_cert, val);
    } else if (strcmp(tok, "tls-key") == 0) {
        ok = val != NULL && copy_str(cfg->tls_key, sizeof cfg->tls_key, val);
    } else if (strcmp(tok, "token-file") == 0) {
        ok = val != NULL && copy_str(cfg->token_file, sizeof cfg->token_file, val);
    } else if (strcmp(tok, "token-env") == 0) {
        ok = val != NULL && copy_str(cfg->token_env, sizeof cfg->token_env, val);
    } else if (strcmp(tok, "token") == 0) {
        /* Deliberately not echoed (neither is the server string): the value
         * would be the secret. */
        return specx_err_set(err, SPECX_EINVAL,
                             "server '%s': a token is never given on the command line (other "
                             "users see it in the process list): use token-file=PATH or "
                             "token-env=VAR",
                             cfg->target);
    } else if (strcmp(tok, "tls-host") == 0) {
        ok = val != NULL && copy_str(cfg->tls_host, sizeof cfg->tls_host, val);
    } else if (strcmp(tok, "name") == 0) {
        ok = val != NULL && copy_str(cfg->name, sizeof cfg->name, val);
    } else if (strcmp(tok, "inflight") == 0) {
        ok = val != NULL && parse_int(val, 0, 1000000, &cfg->max_in_flight);
        cfg->max_in_flight_set = true;
    } else if (strcmp(tok, "lb") == 0) {
        ok = val != NULL && lb_ok(val) && copy_str(cfg->lb, sizeof cfg->lb, val);
    } else if (strcmp(tok, "health") == 0) {
        ok = val != NULL && (strcmp(val, "on") == 0 || strcmp(val, "off") == 0);
        cfg->no_health_check = ok && strcmp(val, "off") == 0;
    } else {
        return specx_err_set(
            err, SPECX_EINVAL,
            "server '%s': unknown option '%s' (known: prio=N, stream, unary, "
            "wait-ready, tls-ca=FILE, tls-cert=FILE, tls-key=FILE, token-file=PATH, "
            "token-env=VAR, tls-host=NAME, name=S, inflight=N, "
            "lb=round_robin|pick_first, health=on|off)",
            s, tok);
    }
    if (!ok) {
        return specx_err_set(err, SPECX_EINVAL, "server '%s': bad value for '%s'", s, tok);
    }
    return SPECX_OK;
}

specx_status specx_rpc_client_config_parse(const char *s, specx_rpc_client_config *out,
                                           specx_err *err)
{
    if (s == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "server: no string given");
    }
    char buf[2048];
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
    bool list;
    specx_status st = check_target(s, cfg.target, &list, err);
    while (st == SPECX_OK && (tok = strtok_r(NULL, ",", &save)) != NULL) {
        /* Options have no ':' before any '='; backends always have one. */
        const char *eq = strchr(tok, '='), *colon = strchr(tok, ':');
        bool backend = colon != NULL && (eq == NULL || colon < eq);
        if (backend && !list) {
            st = specx_err_set(err, SPECX_EINVAL,
                               "server '%s': '%s' looks like a second address: list backends "
                               "as ipv4:HOST:PORT,HOST:PORT,... (or give another --server)",
                               s, tok);
        } else if (backend) {
            st = add_backend(s, &cfg, tok, err);
        } else {
            list = false; /* backends come before options */
            st = parse_option(s, tok, &cfg, err);
        }
    }
    if (st == SPECX_OK && (cfg.tls_cert[0] == '\0') != (cfg.tls_key[0] == '\0')) {
        st = specx_err_set(
            err, SPECX_EINVAL,
            "server '%s': a client certificate needs both tls-cert= and tls-key=", cfg.target);
    }
    if (st == SPECX_OK && cfg.token_file[0] != '\0' && cfg.token_env[0] != '\0') {
        st = specx_err_set(err, SPECX_EINVAL,
                           "server '%s': give token-file= or token-env=, not both", cfg.target);
    }
    if (st == SPECX_OK) {
        *out = cfg;
    }
    return st;
}
