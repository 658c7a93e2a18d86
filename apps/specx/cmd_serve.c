/* cmd_serve.c — `specx serve`: serve a detection model over gRPC until
 * SIGINT/SIGTERM, then stop gracefully and print the statistics. SIGTERM
 * (what an orchestrator sends) first drains: health NOT_SERVING while every
 * call is still served for --drain seconds, so that load balancers move
 * traffic away before anything is refused. SIGHUP re-reads the token file;
 * --metrics serves /metrics. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/detector.h"
#include "specx/metrics.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"

#include "cli.h"
#include "commands.h"

typedef struct serve_opts {
    specx_detector_config model; /* every worker opens this */
    const char *bind, *tls_cert, *tls_key, *tls_client_ca, *auth_tokens, *stats_json, *metrics,
        *client_key_header;
    int port, workers, queue, max_clients;
    double grace_s, drain_s, stats_interval_s, max_message_mb;
    double quota_rps, quota_rps_burst, quota_bps, quota_bps_burst;
    /* limits (0 = the library's default) */
    int max_streams, max_pending;
    double max_mpixels, request_timeout_s, keepalive_s, keepalive_timeout_s, handshake_timeout_s,
        idle_timeout_s;
} serve_opts;

/* Seconds from the command line as a duration: 0 stays 0 (the default). */
static specx_dur_t secs(double s)
{
    return s >= 9e9 ? SPECX_TIME_NEVER : (specx_dur_t)(s * 1e9);
}

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx serve --model NAME [options]\n"
               "\n"
               "Serves object_detection.GRPCImage (ProcessImageSync, ProcessImageStreaming)\n"
               "and grpc.health.v1.Health (Check, Watch). Prints \"listening on ADDR:PORT\"\n"
               "once ready. Requests are shared fairly between clients (connections, or\n"
               "--client-key-header behind a proxy), earliest deadline first within each.\n"
               "SIGTERM: health NOT_SERVING, keep serving for --drain seconds, then stop\n"
               "accepting, finish in-flight work within --grace, exit 0. SIGINT: the same\n"
               "without the drain. A second signal cuts the drain short.\n"
               "SIGHUP: re-read the --auth-tokens file (connections stay up).\n"
               "Access control (--tls-client-ca, --auth-tokens, --quota-*) and the token\n"
               "file: docs/security.md; the metrics: docs/metrics.md.\n"
               "\n");
    specx_cli_print_options(f, opts);
}

static void write_stats(specx_server *srv, const char *path)
{
    char *json = specx_server_stats_json(srv);
    if (json == NULL) {
        return;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f != NULL) {
        fprintf(f, "%s\n", json);
        if (fclose(f) == 0) {
            rename(tmp, path);
        }
    } else {
        fprintf(stderr, "specx serve: cannot write %s: %s\n", tmp, strerror(errno));
    }
    free(json);
}

static void print_stats(specx_server *srv)
{
    specx_server_stats *st = malloc(sizeof *st);
    if (st == NULL) {
        return;
    }
    specx_server_get_stats(srv, st);
    printf("requests: received %llu, completed %llu, expired-before-start %llu, cancelled %llu, "
           "rejected %llu, errors %llu (streams %llu, health checks %llu), evicted %llu\n",
           (unsigned long long)st->received, (unsigned long long)st->completed,
           (unsigned long long)st->expired, (unsigned long long)st->cancelled,
           (unsigned long long)st->rejected, (unsigned long long)st->errors,
           (unsigned long long)st->streams, (unsigned long long)st->health_checks,
           (unsigned long long)st->evicted);
    const specx_hist *h[2] = {&st->queue_wait, &st->compute};
    const char *names[2] = {"queue wait", "compute"};
    for (int i = 0; i < 2; i++) {
        printf("%-10s ms: n %llu  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", names[i],
               (unsigned long long)h[i]->count, specx_hist_quantile(h[i], 0.5) / 1e6,
               specx_hist_quantile(h[i], 0.9) / 1e6, specx_hist_quantile(h[i], 0.99) / 1e6,
               specx_hist_quantile(h[i], 1.0) / 1e6);
    }
    free(st);
}

/* SIGHUP: the token file again; the outcome on stdout (ok) or stderr. */
static void reload(specx_server *srv, const serve_opts *o)
{
    specx_err err = {{0}};
    specx_status st = specx_server_reload_auth(srv, &err);
    if (st == SPECX_OK) {
        printf("auth tokens reloaded from %s\n", o->auth_tokens);
        fflush(stdout);
    } else {
        fprintf(stderr, "specx serve: SIGHUP: %s (the tokens in use stay)\n",
                specx_err_text(&err, st));
    }
}

static struct timespec seconds_ts(double s)
{
    return (struct timespec){.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
}

/* Waits for the next signal of sigs; with --stats-json, writes the
 * statistics every interval meanwhile. */
static int next_signal(specx_server *srv, const serve_opts *o, const sigset_t *sigs)
{
    for (;;) {
        int sig;
        if (o->stats_json != NULL) {
            write_stats(srv, o->stats_json);
            struct timespec ts = seconds_ts(o->stats_interval_s);
            sig = sigtimedwait(sigs, NULL, &ts);
            if (sig < 0) {
                continue; /* the interval passed (or EINTR): write again */
            }
        } else if (sigwait(sigs, &sig) != 0) {
            continue;
        }
        return sig;
    }
}

/* SIGTERM: NOT_SERVING while still serving, for the drain period or until
 * SIGINT/SIGTERM (SIGHUP reloads the tokens meanwhile). */
static void drain(specx_server *srv, const serve_opts *o, const sigset_t *sigs)
{
    specx_server_set_serving(srv, false);
    if (o->stats_json != NULL) {
        write_stats(srv, o->stats_json);
    }
    specx_time_t until = specx_time_add(specx_time_mono(), (specx_dur_t)(o->drain_s * 1e9));
    for (;;) {
        specx_time_t now = specx_time_mono();
        if (now >= until) {
            return;
        }
        struct timespec ts = seconds_ts((double)(until - now) / 1e9);
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGHUP) {
            reload(srv, o);
        } else if (sig > 0) {
            fprintf(stderr, "specx serve: %s during the drain, stopping now\n",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
            return;
        }
    }
}

static void server_config(const serve_opts *o, specx_metrics *reg, specx_server_config *cfg)
{
    *cfg = (specx_server_config){.bind = o->bind,
                                 .port = o->port,
                                 .workers = o->workers,
                                 .queue_capacity = o->queue,
                                 .max_message_bytes = (size_t)(o->max_message_mb * 1048576.0),
                                 .open_detector = specx_pipeline_open_detector,
                                 .open_detector_user = (void *)&o->model,
                                 .tls_cert_file = o->tls_cert,
                                 .tls_key_file = o->tls_key,
                                 .tls_client_ca_file = o->tls_client_ca,
                                 .auth_tokens_file = o->auth_tokens,
                                 .quota_rps = o->quota_rps,
                                 .quota_rps_burst = o->quota_rps_burst,
                                 .quota_bytes_per_s = o->quota_bps,
                                 .quota_bytes_burst = o->quota_bps_burst,
                                 .metrics = reg,
                                 .metrics_max_clients = (size_t)o->max_clients,
                                 .client_key_header = o->client_key_header,
                                 .max_pixels = (size_t)(o->max_mpixels * 1e6),
                                 .max_streams_per_conn = o->max_streams,
                                 .max_pending_calls = o->max_pending,
                                 .request_timeout = secs(o->request_timeout_s),
                                 .keepalive_time = secs(o->keepalive_s),
                                 .keepalive_timeout = secs(o->keepalive_timeout_s),
                                 .handshake_timeout = secs(o->handshake_timeout_s),
                                 .max_connection_idle = secs(o->idle_timeout_s)};
}

/* The registry and its endpoint for --metrics (nothing without it). */
static specx_status metrics_open(const serve_opts *o, specx_metrics **reg,
                                 specx_metrics_http **http, specx_err *err)
{
    *reg = NULL;
    *http = NULL;
    if (o->metrics == NULL) {
        return SPECX_OK;
    }
    specx_status st = specx_metrics_create(reg, err);
    if (st == SPECX_OK) {
        st = specx_metrics_http_open(*reg, o->metrics, http, err);
    }
    return st;
}

/* Serves until SIGINT/SIGTERM, then stops gracefully and prints statistics. */
static int serve(const serve_opts *o)
{
    /* Signals go to this thread only (sigwait below); every thread started
     * from here on inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader of our stdout may go away first */

    specx_metrics *reg;
    specx_metrics_http *http;
    specx_server *srv = NULL;
    specx_err err = {{0}};
    specx_status st = metrics_open(o, &reg, &http, &err);
    specx_server_config cfg;
    server_config(o, reg, &cfg);
    if (st == SPECX_OK) {
        st = specx_server_start(&cfg, &srv, &err);
    }
    if (st != SPECX_OK) {
        fprintf(stderr, "specx serve: %s\n", specx_err_text(&err, st));
        specx_metrics_http_close(http);
        specx_metrics_destroy(reg);
        return 1;
    }
    bool loopback =
        o->bind != NULL && (strncmp(o->bind, "127.", 4) == 0 || strcmp(o->bind, "::1") == 0 ||
                            strcmp(o->bind, "localhost") == 0);
    if (o->auth_tokens != NULL && o->tls_cert == NULL && !loopback) {
        fprintf(stderr, "specx serve: warning: bearer tokens over plaintext can be read on the "
                        "network: add --tls-cert/--tls-key (vehicles refuse to send a token "
                        "without TLS except to a loopback address)\n");
    }
    printf("listening on %s:%d\n", o->bind != NULL ? o->bind : "0.0.0.0", specx_server_port(srv));
    if (http != NULL) {
        printf("metrics on http://%.*s:%d/metrics\n", (int)(strrchr(o->metrics, ':') - o->metrics),
               o->metrics, specx_metrics_http_port(http));
    }
    fflush(stdout);

    int sig;
    while ((sig = next_signal(srv, o, &sigs)) == SIGHUP) {
        reload(srv, o);
    }
    if (sig == SIGTERM && o->drain_s > 0) {
        fprintf(stderr, "specx serve: SIGTERM, health NOT_SERVING, draining for %.1f s\n",
                o->drain_s);
        drain(srv, o, &sigs);
    }
    fprintf(stderr, "specx serve: %s, stopping (grace %.1f s)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", o->grace_s);
    specx_server_stop(srv, (specx_dur_t)(o->grace_s * 1e9));
    if (o->stats_json != NULL) {
        write_stats(srv, o->stats_json);
    }
    print_stats(srv);
    specx_metrics_http_close(http);
    specx_server_destroy(srv);
    specx_metrics_destroy(reg);
    return 0;
}

int specx_cmd_serve(int argc, char **argv)
{
    serve_opts o = {.port = 12345, .workers = 1, .grace_s = 5, .drain_s = 1, .stats_interval_s = 5};
    char backend_help[96];
    snprintf(backend_help, sizeof backend_help, "detector backend (default: %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"model", 0, SPECX_CLI_STRING, &o.model.model, .meta = "NAME",
         .help = "model name (resolved in the model directory), or\n"
                 "test[:delay_ms=N[,fail=1]] for the built-in test detector"},
        {"port", 0, SPECX_CLI_INT, &o.port, 0, 65535, .meta = "N",
         .help = "TCP port (default 12345; 0 = pick a free one)"},
        {"bind", 0, SPECX_CLI_STRING, &o.bind, .meta = "ADDR",
         .help = "address to listen on (default 0.0.0.0)"},
        {"workers", 0, SPECX_CLI_INT, &o.workers, 1, 256, .meta = "N",
         .help = "detector threads, one detector each (default 1)"},
        {"queue", 0, SPECX_CLI_INT, &o.queue, 1, 1000000, .meta = "N",
         .help = "requests waiting for a worker (default 64)"},
        {"backend", 0, SPECX_CLI_STRING, &o.model.backend, .meta = "B", .help = backend_help},
        {"precision", 0, SPECX_CLI_STRING, &o.model.precision, .meta = "P",
         .help = "fp32 (default) or int8 (xnnpack backend only)"},
        {"model-dir", 0, SPECX_CLI_STRING, &o.model.model_dir, .meta = "DIR",
         .help = "where models live (default: $SPECX_MODEL_DIR, ./assets/models,\n"
                 "../shared/assets/models)"},
        {"threads", 0, SPECX_CLI_INT, &o.model.threads, 1, 256, .meta = "N",
         .help = "backend threads per detector (default 1)"},
        {"threshold", 0, SPECX_CLI_FLOAT, &o.model.threshold, 0, INFINITY, .meta = "X",
         .help = "score threshold (default 0.25)"},
        {"max-message-mb", 0, SPECX_CLI_DOUBLE, &o.max_message_mb, 0.001, INFINITY, .meta = "X",
         .help = "largest accepted request (default 16)"},
        {"max-mpixels", 0, SPECX_CLI_DOUBLE, &o.max_mpixels, 1e-6, 1e4, .meta = "X",
         .help = "largest decoded image in Mpixel, checked from its header\n"
                 "before decoding (default 16.8: 4096x4096)"},
        {"max-streams", 0, SPECX_CLI_INT, &o.max_streams, 1, 1000000, .meta = "N",
         .help = "calls at once on one connection (default 100)"},
        {"max-pending", 0, SPECX_CLI_INT, &o.max_pending, 1, 10000000, .meta = "N",
         .help = "calls in progress in the whole server (default 1000)"},
        {"request-timeout", 0, SPECX_CLI_DOUBLE, &o.request_timeout_s, 0.001, 1e10, .meta = "S",
         .help = "a unary request must arrive within S seconds of its call;\n"
                 "an idle stream is closed after S (default 30)"},
        {"keepalive", 0, SPECX_CLI_DOUBLE, &o.keepalive_s, 0.01, 1e10, .meta = "S",
         .help = "ping a connection after S seconds without traffic (default 60)"},
        {"keepalive-timeout", 0, SPECX_CLI_DOUBLE, &o.keepalive_timeout_s, 0.01, 1e10, .meta = "S",
         .help = "close it when the ping is unanswered for S (default 20)"},
        {"handshake-timeout", 0, SPECX_CLI_DOUBLE, &o.handshake_timeout_s, 0.01, 1e10, .meta = "S",
         .help = "close a connection not set up within S (default 10)"},
        {"idle-timeout", 0, SPECX_CLI_DOUBLE, &o.idle_timeout_s, 0.01, 1e10, .meta = "S",
         .help = "close a connection without calls after S (default 300)"},
        {"tls-cert", 0, SPECX_CLI_STRING, &o.tls_cert, .meta = "FILE",
         .help = "PEM certificate: serve TLS instead of plaintext (with --tls-key)"},
        {"tls-key", 0, SPECX_CLI_STRING, &o.tls_key, .meta = "FILE",
         .help = "PEM private key of --tls-cert"},
        {"tls-client-ca", 0, SPECX_CLI_STRING, &o.tls_client_ca, .meta = "FILE",
         .help = "PEM CA: require a client certificate signed by it\n"
                 "(mutual TLS; needs --tls-cert)"},
        {"auth-tokens", 0, SPECX_CLI_STRING, &o.auth_tokens, .meta = "FILE",
         .help = "token file (lines 'VEHICLE-ID sha256:HEX', from specx token new):\n"
                 "every call needs 'authorization: Bearer TOKEN'; SIGHUP re-reads it"},
        {"quota-rps", 0, SPECX_CLI_DOUBLE, &o.quota_rps, 0, INFINITY, .meta = "N",
         .help = "requests per second per identity (token bucket; default: none)"},
        {"quota-rps-burst", 0, SPECX_CLI_DOUBLE, &o.quota_rps_burst, 1, INFINITY, .meta = "N",
         .help = "requests the bucket holds (default: one second's worth)"},
        {"quota-bytes-per-s", 0, SPECX_CLI_DOUBLE, &o.quota_bps, 0, INFINITY, .meta = "N",
         .help = "request bytes per second per identity (default: none)"},
        {"quota-bytes-burst", 0, SPECX_CLI_DOUBLE, &o.quota_bps_burst, 1, INFINITY, .meta = "N",
         .help = "bytes the bucket holds; a larger request is always refused\n"
                 "(default: one second's worth)"},
        {"metrics", 0, SPECX_CLI_STRING, &o.metrics, .meta = "ADDR:PORT",
         .help = "serve Prometheus metrics at http://ADDR:PORT/metrics\n"
                 "(port 0 picks one; the address is printed)"},
        {"metrics-max-clients", 0, SPECX_CLI_INT, &o.max_clients, 1, 1000000, .meta = "N",
         .help = "identities with their own metric series (default 1024;\n"
                 "more are counted in specx_metrics_label_sets_refused_total)"},
        {"stats-json", 0, SPECX_CLI_STRING, &o.stats_json, .meta = "FILE",
         .help = "write statistics as JSON to FILE every --stats-interval\n"
                 "seconds and at exit (atomically replaced)"},
        {"stats-interval", 0, SPECX_CLI_DOUBLE, &o.stats_interval_s, 0.05, INFINITY, .meta = "S",
         .help = "seconds between --stats-json writes (default 5)"},
        {"grace", 0, SPECX_CLI_DOUBLE, &o.grace_s, 0, INFINITY, .meta = "S",
         .help = "seconds to finish in-flight work at shutdown (default 5)"},
        {"drain", 0, SPECX_CLI_DOUBLE, &o.drain_s, 0, INFINITY, .meta = "S",
         .help = "on SIGTERM, seconds of health NOT_SERVING while still\n"
                 "serving, before the shutdown (default 1; 0 = none)"},
        {"client-key-header", 0, SPECX_CLI_STRING, &o.client_key_header, .meta = "NAME",
         .help = "fairness: a request header (lower case) naming the client,\n"
                 "set by a trusted proxy (nginx: x-specx-client); default:\n"
                 "each connection is a client"},
        {0},
    };
    int prc = specx_cli_parse("specx serve", opts, argc, argv, NULL);
    if (prc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (prc != SPECX_CLI_OK) {
        return 2;
    }
    if (o.model.model == NULL) {
        fprintf(stderr, "specx serve: --model NAME is required, or --model test (see specx serve "
                        "--help)\n");
        return 2;
    }

    return serve(&o);
}
