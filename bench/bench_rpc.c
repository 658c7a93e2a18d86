/* bench_rpc.c — `specx bench rpc`: gRPC loopback round trip of the paper's
 * per-frame message (33.3 KB request, ~1 KB reply) against the specx server
 * and against a Python grpcio server started in the same run. Prints figures;
 * never passes or fails on time. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "specx/hist.h"
#include "specx/rpc.h"
#include "specx/serve.h"
#include "specx/time.h"

#include "bench.h"
#include "cli.h"

#define REQ_BYTES 33300
#define REPLY_BOXES 26 /* ~1 KB Response with the test detector's boxes */

typedef struct run {
    specx_rpc_client *c;
    specx_encoded_frame *frame;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int remaining, outstanding, errors;
    specx_hist lat;
    specx_time_t t_start, t_end;
    char err[256];
} run;

typedef struct slot {
    run *r;
    specx_time_t t0;
} slot;

static void start_one(slot *s);

static void on_done(void *user, specx_status st, specx_detections *res, const char *msg)
{
    slot *s = user;
    run *r = s->r;
    specx_time_t now = specx_time_now();
    specx_detections_destroy(res);
    pthread_mutex_lock(&r->mu);
    if (st == SPECX_OK) {
        specx_hist_record(&r->lat, now - s->t0);
    } else {
        r->errors++;
        snprintf(r->err, sizeof r->err, "%s", msg != NULL ? msg : specx_strerror(st));
    }
    bool again = r->remaining > 0;
    if (again) {
        r->remaining--;
    } else {
        r->outstanding--;
        r->t_end = now;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (again) {
        start_one(s);
    }
}

static void start_one(slot *s)
{
    run *r = s->r;
    s->t0 = specx_time_now();
    specx_time_t dl = specx_time_add(s->t0, SPECX_SEC(10));
    if (specx_rpc_call_start(r->c, r->frame, dl, on_done, s, NULL) != SPECX_OK) {
        on_done(s, SPECX_EINTERNAL, NULL, "call_start failed");
    }
}

/* Closed loop: `inflight` calls always outstanding, `calls` in total. */
static int measure(specx_rpc_client *c, specx_encoded_frame *frame, int inflight, int calls,
                   specx_hist *lat, double *calls_per_s)
{
    run *r = calloc(1, sizeof *r);
    slot *slots = calloc((size_t)inflight, sizeof *slots);
    r->c = c;
    r->frame = frame;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    specx_hist_init(&r->lat);
    r->remaining = calls - inflight;
    r->outstanding = inflight;
    r->t_start = specx_time_now();
    for (int i = 0; i < inflight; i++) {
        slots[i].r = r;
        start_one(&slots[i]);
    }
    pthread_mutex_lock(&r->mu);
    while (r->outstanding > 0) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    *lat = r->lat;
    *calls_per_s = (double)r->lat.count / ((double)(r->t_end - r->t_start) / 1e9);
    int errors = r->errors;
    if (errors > 0) {
        fprintf(stderr, "bench rpc: %d call(s) failed, e.g. %s\n", errors, r->err);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(slots);
    free(r);
    return errors;
}

static specx_status open_noop(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)user;
    (void)worker;
    char model[64];
    snprintf(model, sizeof model, "test:boxes=%d", REPLY_BOXES);
    specx_detector_config dc = {.model = model};
    return specx_detector_open(&dc, out, err);
}

/* ---- the Python baseline ------------------------------------------------ */

/* Generates object_detection_pb2.py into a temporary directory and starts
 * tests/rpc/py/od_server.py; returns its pid and port. */
static pid_t start_python(const char *src, char *tmpdir, int *port, FILE **outp)
{
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "protoc --python_out=%s -I %s/proto %s/proto/object_detection.proto",
             tmpdir, src, src);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench rpc: '%s' failed\n", cmd);
        return -1;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("SPECX_PYGEN", tmpdir, 1);
        char script[PATH_MAX + 64], boxes[16];
        snprintf(script, sizeof script, "%s/tests/rpc/py/od_server.py", src);
        snprintf(boxes, sizeof boxes, "%d", REPLY_BOXES);
        execl("/usr/bin/python3", "python3", script, "--boxes", boxes, "--workers", "8",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256];
    *port = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        const char *colon = strrchr(line, ':');
        if (strstr(line, "listening on") != NULL && colon != NULL) {
            if (!specx_cli_int(colon + 1, 1, 65535, port)) {
                *port = 0; /* the caller reports a server that did not start */
            }
            break;
        }
    }
    *outp = f;
    return pid;
}

/* ---- driver ------------------------------------------------------------- */

typedef struct figure {
    const char *server, *mode;
    int inflight;
    double p50_ms, p99_ms, calls_per_s;
    int errors;
} figure;

static void print_row(const figure *f)
{
    printf("%-8s %-7s %8d %10.3f %10.3f %12.0f%s\n", f->server, f->mode, f->inflight, f->p50_ms,
           f->p99_ms, f->calls_per_s, f->errors > 0 ? "  (errors!)" : "");
    fflush(stdout);
}

static int bench_server(const char *name, int port, bool stream, int calls, figure *rows,
                        int *nrows)
{
    specx_rpc_client_config cc;
    specx_rpc_client_config_init(&cc);
    snprintf(cc.target, sizeof cc.target, "127.0.0.1:%d", port);
    cc.streaming = stream;
    specx_rpc_client *c;
    specx_err err = {{0}};
    if (specx_rpc_client_create(&cc, &c, &err) != SPECX_OK) {
        fprintf(stderr, "bench rpc: %s\n", err.msg);
        return 1;
    }
    /* Incompressible bytes: what a JPEG frame looks like to the transport. */
    uint8_t *buf = malloc(REQ_BYTES);
    uint32_t x = 12345;
    for (int i = 0; i < REQ_BYTES; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (uint8_t)(x >> 24);
    }
    specx_encoded_frame *frame;
    specx_encoded_frame_take(buf, REQ_BYTES, &frame);
    specx_hist lat;
    double cps;
    measure(c, frame, 4, calls / 10 + 50, &lat, &cps); /* warm-up: connect, JIT, caches */
    int inflight[2] = {1, 8};
    for (int i = 0; i < 2; i++) {
        figure *f = &rows[(*nrows)++];
        f->server = name;
        f->mode = stream ? "stream" : "unary";
        f->inflight = inflight[i];
        f->errors = measure(c, frame, inflight[i], calls, &lat, &cps);
        f->p50_ms = (double)specx_hist_quantile(&lat, 0.5) / 1e6;
        f->p99_ms = (double)specx_hist_quantile(&lat, 0.99) / 1e6;
        f->calls_per_s = cps;
        print_row(f);
    }
    specx_encoded_frame_unref(frame);
    specx_rpc_client_destroy(c);
    return 0;
}

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f,
            "usage: specx bench rpc [--calls N] [--no-python] [--source DIR] [--stats-json FILE]\n"
            "\n"
            "Loopback round trips of a 33.3 KB request and a ~1 KB reply (no-op detector,\n"
            "no image decode) at 1 and 8 calls in flight, unary and streaming, against the\n"
            "specx server and a Python grpcio server (tests/rpc/py/od_server.py run with\n"
            "/usr/bin/python3) in the same run; prints p50/p99 and calls/s, the C/Python\n"
            "ratio, and a JSON line (also to --stats-json FILE).\n\n");
    specx_cli_print_options(f, opts);
}

typedef struct rpc_opts {
    int calls;
    bool no_python;
    const char *source, *json_path;
} rpc_opts;

/* 0 = run, 1 = --help printed, 2 = usage error (printed). */
static int parse_opts(int argc, char **argv, rpc_opts *o)
{
    *o = (rpc_opts){.calls = 3000};
    const specx_cli_opt opts[] = {
        {"calls", 0, SPECX_CLI_INT, &o->calls, 1, 100000000, .meta = "N",
         .help = "calls per measurement (default 3000, at least 100)"},
        {"no-python", 0, SPECX_CLI_FLAG, &o->no_python, .help = "skip the Python grpcio server"},
        {"source", 0, SPECX_CLI_STRING, &o->source, .meta = "DIR",
         .help = "the source tree, for tests/rpc/py (default: $SPECX_SOURCE_DIR,\n"
                 "else the parent of the build directory)"},
        {"stats-json", 0, SPECX_CLI_STRING, &o->json_path, .meta = "FILE",
         .help = "also write the JSON line to FILE"},
        {"json", 0, SPECX_CLI_STRING, &o->json_path, .help = NULL}, /* the old spelling */
        {0},
    };
    int rc = specx_cli_parse("specx bench rpc", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
    }
    return rc;
}

/* The Python grpcio server's rows (a third of the calls, at least 100),
 * appended to ROWS; a missing source tree or a server that does not start
 * skips the baseline with a message. Returns nonzero if a row failed. */
static int bench_python(const char *source, int calls, figure *rows, int *n)
{
    char src[PATH_MAX];
    char tmpdir[] = "/tmp/specx-bench-rpc-XXXXXX";
    if (!specx_bench_source_dir(source, "tests/rpc/py/od_server.py", src, sizeof src)) {
        fprintf(stderr, "bench rpc: cannot find tests/rpc/py/od_server.py (use --source "
                        "DIR or SPECX_SOURCE_DIR); skipping the Python baseline\n");
        return 0;
    }
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "bench rpc: mkdtemp: %s\n", strerror(errno));
        return 0;
    }
    int rc = 0;
    int port = 0;
    FILE *out = NULL;
    pid_t pid = start_python(src, tmpdir, &port, &out);
    if (pid > 0 && port > 0) {
        int pcalls = calls / 3 > 100 ? calls / 3 : 100;
        rc |= bench_server("python", port, false, pcalls, rows, n);
        rc |= bench_server("python", port, true, pcalls, rows, n);
    } else {
        fprintf(stderr, "bench rpc: the Python server did not start\n");
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    if (out != NULL) {
        fclose(out);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench rpc: could not remove %s\n", tmpdir);
    }
    return rc;
}

/* The C/Python ratio of each Python row (rows from PY_FIRST on) against
 * the specx row of the same mode and in-flight count: printed and into O. */
static void print_ratios(const figure *rows, int n, int py_first, cJSON *o)
{
    if (n <= py_first) {
        return;
    }
    printf("\nC server / Python server, calls/s (same client, same run):\n");
    for (int i = py_first; i < n; i++) {
        for (int k = 0; k < py_first; k++) {
            if (strcmp(rows[k].mode, rows[i].mode) == 0 && rows[k].inflight == rows[i].inflight) {
                double ratio = rows[k].calls_per_s / rows[i].calls_per_s;
                printf("  %-7s inflight %d: %.1fx (p50 %.3f vs %.3f ms)\n", rows[i].mode,
                       rows[i].inflight, ratio, rows[k].p50_ms, rows[i].p50_ms);
                char key[64];
                snprintf(key, sizeof key, "ratio_%s_%d", rows[i].mode, rows[i].inflight);
                cJSON_AddNumberToObject(o, key, ratio);
            }
        }
    }
}

/* The ratios and the JSON line (printed, and to JSON_PATH if given). */
static void report(const figure *rows, int n, int py_first, const char *json_path)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "request_bytes", REQ_BYTES);
    cJSON *arr = cJSON_AddArrayToObject(o, "rows");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "server", rows[i].server);
        cJSON_AddStringToObject(r, "mode", rows[i].mode);
        cJSON_AddNumberToObject(r, "inflight", rows[i].inflight);
        cJSON_AddNumberToObject(r, "p50_ms", rows[i].p50_ms);
        cJSON_AddNumberToObject(r, "p99_ms", rows[i].p99_ms);
        cJSON_AddNumberToObject(r, "calls_per_s", rows[i].calls_per_s);
        cJSON_AddItemToArray(arr, r);
    }
    print_ratios(rows, n, py_first, o);
    char *txt = cJSON_PrintUnformatted(o);
    printf("\n%s\n", txt);
    if (json_path != NULL) {
        FILE *f = fopen(json_path, "w");
        if (f != NULL) {
            fprintf(f, "%s\n", txt);
            fclose(f);
        }
    }
    free(txt);
    cJSON_Delete(o);
}

int specx_bench_rpc(int argc, char **argv)
{
    rpc_opts ro;
    int rc = parse_opts(argc, argv, &ro);
    if (rc != SPECX_CLI_OK) {
        return rc == SPECX_CLI_HELP ? 0 : 2;
    }
    int calls = ro.calls < 100 ? 100 : ro.calls;
    signal(SIGPIPE, SIG_IGN);
    specx_server_config sc = {.bind = "127.0.0.1",
                              .port = 0,
                              .workers = 2,
                              .queue_capacity = 256,
                              .no_decode = true,
                              .open_detector = open_noop};
    specx_server *srv;
    specx_err err = {{0}};
    if (specx_server_start(&sc, &srv, &err) != SPECX_OK) {
        fprintf(stderr, "bench rpc: %s\n", err.msg);
        return 1;
    }
    printf("bench rpc: %d B request, %d-box reply, %d calls per row, loopback\n", REQ_BYTES,
           REPLY_BOXES, calls);
    printf("%-8s %-7s %8s %10s %10s %12s\n", "server", "mode", "inflight", "p50_ms", "p99_ms",
           "calls/s");
    figure rows[16];
    int n = 0;
    rc = bench_server("specx", specx_server_port(srv), false, calls, rows, &n);
    rc |= bench_server("specx", specx_server_port(srv), true, calls, rows, &n);
    specx_server_destroy(srv);

    int py_first = n;
    if (!ro.no_python) {
        rc |= bench_python(ro.source, calls, rows, &n);
    }
    report(rows, n, py_first, ro.json_path);
    return rc != 0 ? 1 : 0;
}
