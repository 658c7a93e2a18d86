/* server.c — the detection server's lifecycle: start (identities and
 * quotas, metrics, detectors, gRPC server, armed calls, threads), graceful
 * stop, destroy, statistics, token reload.
 *
 * Design notes
 * - Start order: detectors (may fail, slow), then the gRPC server and its
 *   port, then calls armed, workers, and the completion-queue thread. A
 *   failure at any step undoes the earlier ones (server_free).
 * - Health: SERVING from start; set_serving flips it (Watch calls hear at
 *   once) while every call is still served, which is how a replica drains.
 * - Stop: NOT_SERVING, grpc_server_shutdown_and_notify (no new calls), end
 *   the open streams once their work is answered and the Watch calls after
 *   their last update, wait for the notification up to
 *   the grace period, then grpc_server_cancel_all_calls (cancel flags reach
 *   the detectors) and wait for it; then stop the workers (they answer what
 *   is still queued, into finished calls), then the completion queue. */
#include "serve/server.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARMED_PER_METHOD 8
#define ARMED_HEALTH 2
#define ARMED_GENERIC 2
#define DEFAULT_MAX_MSG (16u << 20)
#define DEFAULT_MAX_STREAMS 100
#define DEFAULT_MAX_PENDING 1000
#define DEFAULT_REQUEST_TIMEOUT SPECX_SEC(30)
#define DEFAULT_KEEPALIVE SPECX_SEC(60)
#define DEFAULT_KEEPALIVE_TIMEOUT SPECX_SEC(20)
#define DEFAULT_HANDSHAKE SPECX_SEC(10)
#define DEFAULT_CONNECTION_IDLE SPECX_SEC(300)

bool sx_serve_stopping(specx_server *srv)
{
    pthread_mutex_lock(&srv->mu);
    bool stopping = srv->stopping;
    pthread_mutex_unlock(&srv->mu);
    return stopping;
}

static void on_shutdown(sx_rpc_tag *t, bool ok)
{
    (void)ok;
    specx_server *srv = SX_CONTAINER_OF(t, specx_server, t_shutdown);
    pthread_mutex_lock(&srv->mu);
    srv->shutdown_done = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

static void *cq_main(void *arg)
{
    specx_server *srv = arg;
    sx_rpc_cq_run(srv->cq);
    return NULL;
}

/* ---- start ------------------------------------------------------------ */

static char *read_file(const char *path, specx_err *err, specx_status *st)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *st = specx_err_set(err, SPECX_ENOTFOUND, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) {
        *st = specx_err_set(err, SPECX_ENOMEM, "out of memory reading '%s'", path);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Plaintext, or TLS from the configured PEM files (requiring and verifying
 * client certificates when a client CA is given). NULL with *st set. */
static grpc_server_credentials *credentials(const specx_server_config *cfg, specx_status *st,
                                            specx_err *err)
{
    if (cfg->tls_cert_file == NULL) {
        return grpc_insecure_server_credentials_create();
    }
    grpc_server_credentials *creds = NULL;
    char *cert = read_file(cfg->tls_cert_file, err, st);
    char *key = cert != NULL ? read_file(cfg->tls_key_file, err, st) : NULL;
    char *ca = key != NULL && cfg->tls_client_ca_file != NULL
                   ? read_file(cfg->tls_client_ca_file, err, st)
                   : NULL;
    if (key != NULL && (ca != NULL || cfg->tls_client_ca_file == NULL)) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            ca != NULL ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                       : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    }
    if (key != NULL) {
        explicit_bzero(key, strlen(key));
    }
    free(cert);
    free(key);
    free(ca);
    if (creds == NULL && *st == SPECX_OK) {
        *st = specx_err_set(err, SPECX_EINVAL, "server: bad TLS certificate/key");
    }
    return creds;
}

/* A duration as gRPC's integer milliseconds: `def` for 0, INT_MAX (gRPC's
 * "infinite") for SPECX_TIME_NEVER or anything that large. */
static int arg_ms(specx_dur_t d, specx_dur_t def)
{
    d = d == 0 ? def : d;
    return d >= (specx_dur_t)INT_MAX * 1000000 ? INT_MAX : (int)(d / 1000000);
}

static void arg_int(grpc_arg *a, const char *key, int v)
{
    a->type = GRPC_ARG_INTEGER;
    a->key = (char *)key;
    a->value.integer = v;
}

/* The gRPC server with its queue and methods (not listening yet). Every
 * limit on what a peer may hold is set here on purpose (docs/rpc.md,
 * "Limits"), not left at gRPC's defaults (no stream bound, 120 s handshakes,
 * keepalive pings every 2 h). */
static void listener_create(specx_server *srv)
{
    const specx_server_config *c = &srv->cfg;
    size_t max_msg = c->max_message_bytes > 0 ? c->max_message_bytes : DEFAULT_MAX_MSG;
    grpc_arg args[9];
    memset(args, 0, sizeof args);
    size_t n = 0;
    arg_int(&args[n++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
            max_msg > INT32_MAX ? INT32_MAX : (int)max_msg);
    arg_int(&args[n++], GRPC_ARG_ALLOW_REUSEPORT, 0); /* a taken port must fail, not be shared */
    arg_int(&args[n++], GRPC_ARG_MAX_CONCURRENT_STREAMS,
            c->max_streams_per_conn > 0 ? c->max_streams_per_conn : DEFAULT_MAX_STREAMS);
    arg_int(&args[n++], GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
            arg_ms(c->handshake_timeout, DEFAULT_HANDSHAKE));
    arg_int(&args[n++], GRPC_ARG_KEEPALIVE_TIME_MS, arg_ms(c->keepalive_time, DEFAULT_KEEPALIVE));
    arg_int(&args[n++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
            arg_ms(c->keepalive_timeout, DEFAULT_KEEPALIVE_TIMEOUT));
    /* Keep pinging a connection that carries no data, or a dead peer holding
     * an idle stream is never noticed (gRPC stops after 2 pings by default). */
    arg_int(&args[n++], GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    arg_int(&args[n++], GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    arg_int(&args[n++], GRPC_ARG_MAX_CONNECTION_IDLE_MS,
            arg_ms(c->max_connection_idle, DEFAULT_CONNECTION_IDLE));
    grpc_channel_args ch_args = {.num_args = n, .args = args};
    srv->server = grpc_server_create(&ch_args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    srv->m_sync = grpc_server_register_method(srv->server, SX_RPC_METHOD_SYNC, NULL,
                                              GRPC_SRM_PAYLOAD_NONE, 0);
    srv->m_stream = grpc_server_register_method(srv->server, SX_RPC_METHOD_STREAM, NULL,
                                                GRPC_SRM_PAYLOAD_NONE, 0);
    srv->m_health = grpc_server_register_method(srv->server, SX_RPC_METHOD_HEALTH, NULL,
                                                GRPC_SRM_PAYLOAD_NONE, 0);
    srv->m_watch = grpc_server_register_method(srv->server, SX_RPC_METHOD_HEALTH_WATCH, NULL,
                                               GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
}

static specx_status listener_bind(specx_server *srv, specx_err *err)
{
    const char *bind =
        srv->cfg.bind != NULL && srv->cfg.bind[0] != '\0' ? srv->cfg.bind : "0.0.0.0";
    char addr[300];
    bool v6 = strchr(bind, ':') != NULL && bind[0] != '[';
    snprintf(addr, sizeof addr, v6 ? "[%s]:%d" : "%s:%d", bind, srv->cfg.port);
    specx_status st = SPECX_OK;
    grpc_server_credentials *creds = credentials(&srv->cfg, &st, err);
    if (creds == NULL) {
        return st;
    }
    srv->port = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (srv->port == 0) {
        return specx_err_set(err, SPECX_EUNAVAILABLE,
                             "server: cannot listen on %s (address in use, or not local?)", addr);
    }
    return SPECX_OK;
}

static specx_status check_config(const specx_server_config *cfg, specx_err *err)
{
    if (cfg == NULL || cfg->open_detector == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "server: no config or no detector factory");
    }
    if (cfg->port < 0 || cfg->port > 65535) {
        return specx_err_set(err, SPECX_EINVAL, "server: port %d out of range 0..65535", cfg->port);
    }
    if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server: TLS needs both a certificate and a key file");
    }
    if (cfg->tls_client_ca_file != NULL && cfg->tls_cert_file == NULL) {
        return specx_err_set(err, SPECX_EINVAL,
                             "server: client certificates (a client CA) need TLS: give the "
                             "server's own certificate and key too");
    }
    if (cfg->max_streams_per_conn < 0 || cfg->max_pending_calls < 0) {
        return specx_err_set(err, SPECX_EINVAL, "server: call limits must be >= 0 (0 = default)");
    }
    if (cfg->request_timeout < 0 || cfg->keepalive_time < 0 || cfg->keepalive_timeout < 0 ||
        cfg->handshake_timeout < 0 || cfg->max_connection_idle < 0) {
        return specx_err_set(err, SPECX_EINVAL, "server: timeouts must be >= 0 (0 = default)");
    }
    return SPECX_OK;
}

static size_t queue_len(void *arg)
{
    return sx_serve_queue_len(arg);
}

/* The metric families and their collector (after the queue, which the
 * collector reads), before anything that listens. */
static specx_status metrics_init(specx_server *srv, specx_err *err)
{
    if (srv->cfg.metrics == NULL) {
        return SPECX_OK;
    }
    specx_status st = sx_serve_metrics_create(srv->cfg.metrics, sx_serve_auth_on(&srv->auth),
                                              srv->cfg.metrics_max_clients, queue_len, &srv->queue,
                                              &srv->metrics, err);
    if (st != SPECX_OK) {
        return st;
    }
    srv->auth.metrics = srv->metrics;
    srv->stats.metrics = srv->metrics;
    if (srv->auth.tokens != NULL) {
        sx_serve_metrics_tokens_loaded(srv->metrics, true, sx_auth_tokens_count(srv->auth.tokens),
                                       true);
    }
    return SPECX_OK;
}

static specx_server *server_alloc(const specx_server_config *cfg)
{
    specx_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        return NULL;
    }
    srv->cfg = *cfg;
    srv->t_shutdown.fn = on_shutdown;
    srv->request_timeout =
        cfg->request_timeout > 0 ? cfg->request_timeout : DEFAULT_REQUEST_TIMEOUT;
    sx_serve_admit_init(&srv->admit,
                        cfg->max_streams_per_conn > 0 ? cfg->max_streams_per_conn
                                                      : DEFAULT_MAX_STREAMS,
                        cfg->max_pending_calls > 0 ? cfg->max_pending_calls : DEFAULT_MAX_PENDING);
    sx_serve_stats_init(&srv->stats);
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->streams_mu, NULL);
    pthread_mutex_init(&srv->health_mu, NULL);
    srv->serving = true;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->cv, &ca);
    pthread_condattr_destroy(&ca);
    return srv;
}

/* Undoes whatever start got to, in reverse (also the end of stop). */
static void server_teardown(specx_server *srv)
{
    sx_serve_timers_stop(&srv->timers);
    sx_serve_queue_stop(&srv->queue);
    if (srv->cq != NULL) {
        grpc_completion_queue_shutdown(srv->cq);
        if (srv->cq_started) {
            pthread_join(srv->cq_thread, NULL);
            srv->cq_started = false;
        } else {
            sx_rpc_cq_run(srv->cq);
        }
    }
    if (srv->server != NULL) {
        grpc_server_destroy(srv->server);
        srv->server = NULL;
    }
    if (srv->cq != NULL) {
        grpc_completion_queue_destroy(srv->cq);
        srv->cq = NULL;
    }
}

static void server_free(specx_server *srv)
{
    sx_serve_metrics_destroy(srv->metrics);
    sx_serve_auth_fini(&srv->auth);
    if (srv->queue_made) {
        sx_serve_queue_fini(&srv->queue);
    }
    sx_serve_admit_fini(&srv->admit);
    sx_serve_stats_fini(&srv->stats);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->streams_mu);
    pthread_mutex_destroy(&srv->health_mu);
    pthread_cond_destroy(&srv->cv);
    free(srv);
}

static specx_status server_run(specx_server *srv, specx_err *err)
{
    specx_status st = sx_serve_timers_start(&srv->timers, err);
    if (st != SPECX_OK) {
        return st;
    }
    grpc_server_start(srv->server);
    for (int i = 0; i < ARMED_PER_METHOD; i++) {
        sx_serve_unary_arm(srv, SX_SERVE_METHOD_DETECT);
        sx_serve_stream_arm(srv);
    }
    for (int i = 0; i < ARMED_HEALTH; i++) {
        sx_serve_unary_arm(srv, SX_SERVE_METHOD_HEALTH);
        sx_serve_watch_arm(srv);
    }
    for (int i = 0; i < ARMED_GENERIC; i++) {
        sx_serve_generic_arm(srv);
    }
    st = sx_serve_queue_start(&srv->queue, err);
    if (st == SPECX_OK && pthread_create(&srv->cq_thread, NULL, cq_main, srv) != 0) {
        st = specx_err_set(err, SPECX_EINTERNAL, "server: cannot start its thread");
    }
    srv->cq_started = st == SPECX_OK;
    return st;
}

specx_status specx_server_start(const specx_server_config *cfg, specx_server **out, specx_err *err)
{
    specx_status st = check_config(cfg, err);
    if (st != SPECX_OK || out == NULL) {
        return st != SPECX_OK ? st : specx_err_set(err, SPECX_EINVAL, "server: no output");
    }
    specx_server *srv = server_alloc(cfg);
    if (srv == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "server: out of memory");
    }
    /* Token file and quota errors before the (slow) detectors load. */
    st = sx_serve_auth_init(&srv->auth, cfg, err);
    if (st == SPECX_OK) {
        srv->queue_made = true;
        st = sx_serve_queue_init(&srv->queue, cfg, &srv->stats, err);
    }
    if (st == SPECX_OK) {
        st = metrics_init(srv, err);
    }
    if (st != SPECX_OK) {
        server_free(srv);
        return st;
    }
    sx_rpc_global_init();
    listener_create(srv);
    st = listener_bind(srv, err);
    if (st == SPECX_OK) {
        st = server_run(srv, err);
    }
    if (st != SPECX_OK) {
        if (srv->port != 0) {
            /* Listening, maybe with calls armed: shut down as stop() does. */
            sx_rpc_tag_post(&srv->t_shutdown);
            grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
            grpc_server_cancel_all_calls(srv->server);
        }
        server_teardown(srv);
        sx_rpc_global_shutdown();
        server_free(srv);
        return st;
    }
    *out = srv;
    return SPECX_OK;
}

int specx_server_port(const specx_server *srv)
{
    return srv->port;
}

/* ---- stop ------------------------------------------------------------- */

/* Waits for the shutdown notification until `until`; false on timeout. */
static bool wait_shutdown(specx_server *srv, specx_time_t until)
{
    struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
    pthread_mutex_lock(&srv->mu);
    while (!srv->shutdown_done) {
        if (until == SPECX_TIME_NEVER) {
            pthread_cond_wait(&srv->cv, &srv->mu);
        } else if (pthread_cond_timedwait(&srv->cv, &srv->mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    bool done = srv->shutdown_done;
    pthread_mutex_unlock(&srv->mu);
    return done;
}

void specx_server_stop(specx_server *srv, specx_dur_t grace)
{
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping) {
        while (!srv->stopped) {
            pthread_cond_wait(&srv->cv, &srv->mu);
        }
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    srv->stopping = true;
    pthread_mutex_unlock(&srv->mu);

    sx_serve_watch_set_serving(srv, false);
    sx_rpc_tag_post(&srv->t_shutdown);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
    /* Open streams end as soon as their queued work is answered, so that
     * clients reconnect elsewhere instead of waiting out the grace period;
     * calls still waiting for their request hold no work and are answered
     * now (their timers run at once and see the server stopping). Watch
     * calls end after telling NOT_SERVING. */
    sx_serve_streams_stop(srv);
    sx_serve_watches_end(srv);
    sx_serve_timers_expire_all(&srv->timers);
    specx_time_t until = specx_time_add(specx_time_mono(), grace > 0 ? grace : 0);
    if (!wait_shutdown(srv, until)) {
        /* Grace is over: cancel what is left; cancel flags reach the detectors. */
        grpc_server_cancel_all_calls(srv->server);
        wait_shutdown(srv, SPECX_TIME_NEVER);
    }
    server_teardown(srv);
    pthread_mutex_lock(&srv->mu);
    srv->stopped = true;
    pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

void specx_server_destroy(specx_server *srv)
{
    if (srv == NULL) {
        return;
    }
    specx_server_stop(srv, 0);
    sx_rpc_global_shutdown();
    server_free(srv);
}

specx_status specx_server_reload_auth(specx_server *srv, specx_err *err)
{
    return sx_serve_auth_reload(&srv->auth, err);
}

/* ---- health ----------------------------------------------------------- */

void specx_server_set_serving(specx_server *srv, bool serving)
{
    sx_serve_watch_set_serving(srv, serving);
}

bool specx_server_serving(specx_server *srv)
{
    pthread_mutex_lock(&srv->health_mu);
    bool serving = srv->serving;
    pthread_mutex_unlock(&srv->health_mu);
    return serving;
}

/* ---- statistics ------------------------------------------------------- */

void specx_server_get_stats(specx_server *srv, specx_server_stats *out)
{
    sx_serve_queue_stats(&srv->queue, out);
}

char *specx_server_stats_json(specx_server *srv)
{
    specx_server_stats *st = malloc(sizeof *st);
    if (st == NULL) {
        return NULL;
    }
    sx_serve_queue_stats(&srv->queue, st);
    char *txt = sx_serve_stats_json(st, srv->port, srv->queue.nworkers, specx_server_serving(srv));
    free(st);
    return txt;
}
