/* cmd_serve.c — `specx serve`: serve a detection model over gRPC until
 * SIGINT/SIGTERM, then stop gracefully and print the statistics. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/detector.h"
#include "specx/rpc.h"

#include "cli.h"
#include "commands.h"

typedef struct serve_opts {
    const char *model, *backend, *model_dir, *bind, *tls_cert, *tls_key, *stats_json, *precision;
    int port, workers, queue, threads;
    double grace_s, stats_interval_s, max_message_mb;
    float threshold;
} serve_opts;

static void usage(FILE *f)
{
    fprintf(f, "usage: specx serve --model NAME [options]\n"
               "\n"
               "Serves object_detection.GRPCImage (ProcessImageSync, ProcessImageStreaming)\n"
               "and grpc.health.v1.Health/Check. Prints \"listening on ADDR:PORT\" once ready.\n"
               "SIGINT/SIGTERM: stop accepting, finish in-flight work within --grace, exit 0.\n"
               "\n"
               "  --model NAME        model name (resolved in the model directory), or\n"
               "                      test[:delay_ms=N[,fail=1]] for the built-in test detector\n"
               "  --port N            TCP port (default 12345; 0 = pick a free one)\n"
               "  --bind ADDR         address to listen on (default 0.0.0.0)\n"
               "  --workers N         detector threads, one detector each (default 1)\n"
               "  --queue N           requests waiting for a worker (default 64)\n"
               "  --backend B         detector backend (default: the detector's default)\n"
               "  --model-dir DIR     where models live (default: $SPECX_MODEL_DIR, ...)\n"
               "  --threads N         backend threads per detector (default 1)\n"
               "  --precision P       fp32 (default) or int8 (xnnpack backend)\n"
               "  --threshold X       score threshold (default 0.25)\n"
               "  --max-message-mb X  largest accepted request (default 16)\n"
               "  --tls-cert FILE --tls-key FILE   serve TLS instead of plaintext\n"
               "  --stats-json FILE   write statistics as JSON to FILE every --stats-interval\n"
               "                      seconds (default 5) and at exit (atomically replaced)\n"
               "  --grace S           seconds to finish in-flight work at shutdown (default 5)\n");
}

typedef struct factory {
    const serve_opts *o;
} factory;

static specx_status open_detector(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)worker;
    const serve_opts *o = ((factory *)user)->o;
    if (strcmp(o->model, "test") == 0) {
        return specx_rpc_test_detector_open("", out, err);
    }
    if (strncmp(o->model, "test:", 5) == 0) {
        return specx_rpc_test_detector_open(o->model + 5, out, err);
    }
    specx_detector_config cfg = {.model = o->model,
                                 .model_dir = o->model_dir,
                                 .backend = o->backend,
                                 .threshold = o->threshold,
                                 .threads = o->threads,
                                 .precision = o->precision};
    return specx_detector_open(&cfg, out, err);
}

static int parse_int_opt(const char *name, const char *v, int lo, int hi, int *out)
{
    if (!specx_cli_int(v, lo, hi, out)) {
        fprintf(stderr, "specx serve: %s needs an integer in %d..%d (got '%s')\n", name, lo, hi,
                v != NULL ? v : "");
        return -1;
    }
    return 0;
}

static int parse_double_opt(const char *name, const char *v, double lo, double *out)
{
    if (!specx_cli_double(v, lo, INFINITY, out)) {
        fprintf(stderr, "specx serve: %s needs a number >= %g (got '%s')\n", name, lo,
                v != NULL ? v : "");
        return -1;
    }
    return 0;
}

static void write_stats(specx_rpc_server *srv, const char *path)
{
    char *json = specx_rpc_server_stats_json(srv);
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

static void print_stats(specx_rpc_server *srv)
{
    specx_rpc_server_stats *st = malloc(sizeof *st);
    if (st == NULL) {
        return;
    }
    specx_rpc_server_get_stats(srv, st);
    printf("requests: received %llu, completed %llu, expired-before-start %llu, cancelled %llu, "
           "rejected %llu, errors %llu (streams %llu, health checks %llu)\n",
           (unsigned long long)st->received, (unsigned long long)st->completed,
           (unsigned long long)st->expired, (unsigned long long)st->cancelled,
           (unsigned long long)st->rejected, (unsigned long long)st->errors,
           (unsigned long long)st->streams, (unsigned long long)st->health_checks);
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

int specx_cmd_serve(int argc, char **argv)
{
    serve_opts o = {.port = 12345, .workers = 1, .grace_s = 5, .stats_interval_s = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--model") == 0) {
            o.model = v;
        } else if (strcmp(a, "--backend") == 0) {
            o.backend = v;
        } else if (strcmp(a, "--precision") == 0) {
            o.precision = v;
        } else if (strcmp(a, "--model-dir") == 0) {
            o.model_dir = v;
        } else if (strcmp(a, "--bind") == 0) {
            o.bind = v;
        } else if (strcmp(a, "--tls-cert") == 0) {
            o.tls_cert = v;
        } else if (strcmp(a, "--tls-key") == 0) {
            o.tls_key = v;
        } else if (strcmp(a, "--stats-json") == 0) {
            o.stats_json = v;
        } else if (strcmp(a, "--port") == 0) {
            rc = parse_int_opt(a, v, 0, 65535, &o.port);
        } else if (strcmp(a, "--workers") == 0) {
            rc = parse_int_opt(a, v, 1, 256, &o.workers);
        } else if (strcmp(a, "--queue") == 0) {
            rc = parse_int_opt(a, v, 1, 1000000, &o.queue);
        } else if (strcmp(a, "--threads") == 0) {
            rc = parse_int_opt(a, v, 1, 256, &o.threads);
        } else if (strcmp(a, "--grace") == 0) {
            rc = parse_double_opt(a, v, 0, &o.grace_s);
        } else if (strcmp(a, "--stats-interval") == 0) {
            rc = parse_double_opt(a, v, 0.05, &o.stats_interval_s);
        } else if (strcmp(a, "--max-message-mb") == 0) {
            rc = parse_double_opt(a, v, 0.001, &o.max_message_mb);
        } else if (strcmp(a, "--threshold") == 0) {
            double t = 0;
            rc = parse_double_opt(a, v, 0, &t);
            o.threshold = (float)t;
        } else {
            fprintf(stderr, "specx serve: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (rc != 0) {
            return 2;
        }
        if (v == NULL) {
            fprintf(stderr, "specx serve: %s needs a value\n", a);
            return 2;
        }
        i++;
    }
    if (o.model == NULL) {
        fprintf(stderr, "specx serve: --model NAME is required (or --model test)\n");
        usage(stderr);
        return 2;
    }

    /* Signals go to this thread only (sigwait below); every thread started
     * from here on inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN); /* a reader of our stdout may go away first */

    factory fac = {.o = &o};
    specx_rpc_server_config cfg = {.bind = o.bind,
                                   .port = o.port,
                                   .workers = o.workers,
                                   .queue_capacity = o.queue,
                                   .max_message_bytes = (size_t)(o.max_message_mb * 1048576.0),
                                   .open_detector = open_detector,
                                   .open_detector_user = &fac,
                                   .tls_cert_file = o.tls_cert,
                                   .tls_key_file = o.tls_key};
    specx_rpc_server *srv;
    specx_err err = {{0}};
    specx_status st = specx_rpc_server_start(&cfg, &srv, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx serve: %s\n", specx_err_text(&err, st));
        return 1;
    }
    printf("listening on %s:%d\n", o.bind != NULL ? o.bind : "0.0.0.0", specx_rpc_server_port(srv));
    fflush(stdout);

    for (;;) {
        int sig;
        if (o.stats_json != NULL) {
            write_stats(srv, o.stats_json);
            struct timespec ts = {
                .tv_sec = (time_t)o.stats_interval_s,
                .tv_nsec = (long)((o.stats_interval_s - (double)(time_t)o.stats_interval_s) * 1e9)};
            sig = sigtimedwait(&sigs, NULL, &ts);
            if (sig < 0) {
                continue; /* the interval passed (or EINTR): write again */
            }
        } else if (sigwait(&sigs, &sig) != 0) {
            continue;
        }
        fprintf(stderr, "specx serve: %s, stopping (grace %.1f s)\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", o.grace_s);
        break;
    }
    specx_rpc_server_stop(srv, (specx_dur_t)(o.grace_s * 1e9));
    if (o.stats_json != NULL) {
        write_stats(srv, o.stats_json);
    }
    print_stats(srv);
    specx_rpc_server_destroy(srv);
    return 0;
}
