/* bench_detect.c — `specx bench detect`: inference time per model, engine,
 * precision and thread count (letterbox + network + decoding + NMS, as
 * detect() does), against OpenCV DNN run on the same cfg/weights and the
 * same frame in the same run, plus darknet and a per-layer profile on
 * request.
 *
 * Design notes: figures only, never pass/fail. The machine may be shared,
 * so every configuration runs in `rounds` rounds that alternate with all the
 * others (the peer included): a slow spell lands on all of them, and the
 * ratios are taken from pooled samples of the same rounds. The peer is
 * Debian's python3-opencv driven through /usr/bin/python3 (its own process,
 * its time measured inside it around blobFromImage + forward); when it is
 * missing the table says so and the rest still runs. */
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "specx/detector.h"
#include "specx/image.h"
#include "specx/time.h"

#include "bench.h"
#include "cli.h"
#include "detect/backend.h"
#include "detect/xnn/xnn.h"

#define MAX_LIST 16
#define MAX_SAMPLES 100000

extern char **environ;

typedef struct bench_opts {
    const char *models[MAX_LIST];
    int nmodels;
    int threads[MAX_LIST];
    int nthreads;
    bool int8, fp32;
    int frames, warmup, rounds, darknet_frames;
    bool profile, csv, peer;
    const char *image, *model_dir, *python;
} bench_opts;

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench detect [options]\n\n");
    specx_cli_print_options(f, opts);
    fprintf(f, "vs opencv: OpenCV's p50 at the same thread count over this configuration's p50,\n"
               "both measured in this run (OpenCV runs darknet models in fp32 only; its time\n"
               "covers blobFromImage + forward, ours letterbox + network + decoding + NMS).\n");
}

static int split_list(char *s, const char **out, int max)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t != NULL && n < max;
         t = strtok_r(NULL, ",", &save)) {
        out[n++] = t;
    }
    return n;
}

static int parse_lists(bench_opts *o, char *models, char *threads, char *prec)
{
    o->nmodels = split_list(models, o->models, MAX_LIST);
    const char *t[MAX_LIST];
    int nt = split_list(threads, t, MAX_LIST);
    for (int i = 0; i < nt; i++) {
        int n = 0;
        if (!specx_cli_int(t[i], 1, 64, &n)) {
            fprintf(stderr, "specx bench detect: bad thread count '%s'\n", t[i]);
            return 2;
        }
        o->threads[o->nthreads++] = n;
    }
    const char *p[MAX_LIST];
    int np = split_list(prec, p, MAX_LIST);
    for (int i = 0; i < np; i++) {
        if (strcmp(p[i], "fp32") == 0) {
            o->fp32 = true;
        } else if (strcmp(p[i], "int8") == 0) {
            o->int8 = true;
        } else {
            fprintf(stderr, "specx bench detect: --precision takes fp32 and/or int8, not '%s'\n",
                    p[i]);
            return 2;
        }
    }
    if (o->frames < 1 || o->nmodels < 1 || o->nthreads < 1 || !(o->fp32 || o->int8)) {
        fprintf(stderr, "specx bench detect: need a model, a thread count, a precision and a "
                        "frame\n");
        return 2;
    }
    return 0;
}

/* A list option, copied (into a 1024-byte buffer) for split_list to cut. */
static bool take_list(const char *v, void *out, char *msg, size_t n)
{
    char *buf = out; /* 1024 bytes */
    if (snprintf(buf, 1024, "%s", v) >= 1024) {
        snprintf(msg, n, "too long");
        return false;
    }
    return true;
}

/* 0 parsed, 1 --help printed, 2 usage error. */
static int parse(int argc, char **argv, bench_opts *o)
{
    static char models[1024], threads[1024], prec[1024];
    bool no_peer = false;
    *o = (bench_opts){
        .frames = 60, .warmup = 3, .rounds = 3, .peer = true, .python = "/usr/bin/python3"};
    snprintf(models, sizeof models, "yolo-fastest-1.1,yolo-fastest-1.1-xl-416");
    snprintf(threads, sizeof threads, "1,2");
    snprintf(prec, sizeof prec, "fp32,int8");
    const specx_cli_opt opts[] = {
        {"models", 0, SPECX_CLI_CALL, models, .call = take_list, .meta = "A,B,...",
         .help = "models (default yolo-fastest-1.1,yolo-fastest-1.1-xl-416)"},
        {"threads", 0, SPECX_CLI_CALL, threads, .call = take_list, .meta = "1,2",
         .help = "thread counts (default 1,2)"},
        {"precision", 0, SPECX_CLI_CALL, prec, .call = take_list, .meta = "fp32,int8",
         .help = "xnnpack precisions (default both)"},
        {"frames", 0, SPECX_CLI_INT, &o->frames, 1, 100000, .meta = "N",
         .help = "timed frames per configuration (default 60)"},
        {"rounds", 0, SPECX_CLI_INT, &o->rounds, 1, 100000, .meta = "N",
         .help = "rounds the frames are spread over, every configuration\nand the peer taking "
                 "turns (default 3)"},
        {"warmup", 0, SPECX_CLI_INT, &o->warmup, 0, 100000, .meta = "N",
         .help = "untimed frames per configuration and round (default 3)"},
        {"darknet-frames", 0, SPECX_CLI_INT, &o->darknet_frames, 0, 100000, .meta = "N",
         .help = "timed darknet frames per model, 0 to skip (default 0)"},
        {"no-peer", 0, SPECX_CLI_FLAG, &no_peer, .help = "do not time OpenCV DNN"},
        {"python", 0, SPECX_CLI_STRING, &o->python, .meta = "PATH",
         .help = "the interpreter with python3-opencv (default /usr/bin/python3)"},
        {"image", 0, SPECX_CLI_STRING, &o->image, .meta = "FILE.ppm",
         .help = "a binary PPM (P6) frame (default: a synthetic 1280x720\n"
                 "frame; the network's work does not depend on content)"},
        {"model-dir", 0, SPECX_CLI_STRING, &o->model_dir, .meta = "DIR",
         .help = "where the models are (default: resolved as usual)"},
        {"per-layer", 0, SPECX_CLI_FLAG, &o->profile,
         .help = "per-layer time of the xnnpack network (1 thread)"},
        {"profile", 0, SPECX_CLI_FLAG, &o->profile, .help = NULL}, /* the old spelling */
        {"csv", 0, SPECX_CLI_FLAG, &o->csv,
         .help = "also print one CSV line per configuration\n"
                 "(csv,model,engine,precision,threads,min,p50,p99,vs_opencv)"},
        {0},
    };
    int rc = specx_cli_parse("specx bench detect", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 1;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    o->peer = !no_peer;
    return parse_lists(o, models, threads, prec);
}

/* A deterministic 1280x720 frame: smooth gradients plus hash noise. */
static int synthetic_frame(specx_image *img)
{
    if (specx_image_alloc(img, 1280, 720) != SPECX_OK) {
        return -1;
    }
    uint32_t h = 2166136261u;
    for (int y = 0; y < img->height; y++) {
        for (int x = 0; x < img->width; x++) {
            h = (h ^ (uint32_t)(x * 7 + y * 13)) * 16777619u;
            uint8_t *p = img->data + (size_t)y * img->stride + 3 * x;
            p[0] = (uint8_t)((x * 255 / img->width + (h & 31)) & 255);
            p[1] = (uint8_t)((y * 255 / img->height + ((h >> 5) & 31)) & 255);
            p[2] = (uint8_t)(((x + y) & 255) ^ ((h >> 10) & 15));
        }
    }
    return 0;
}

static int read_ppm(const char *path, specx_image *img)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "specx bench detect: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int w = 0, h = 0, maxv = 0;
    int ok = fscanf(f, "P6 %d %d %d", &w, &h, &maxv) == 3 && maxv == 255 && fgetc(f) != EOF &&
             specx_image_alloc(img, w, h) == SPECX_OK;
    for (int y = 0; ok && y < h; y++) {
        ok = fread(img->data + (size_t)y * img->stride, 1, (size_t)w * 3, f) == (size_t)w * 3;
    }
    fclose(f);
    if (!ok) {
        fprintf(stderr, "specx bench detect: %s: not a binary 8-bit PPM (P6)\n", path);
        specx_image_clear(img);
        return -1;
    }
    return 0;
}

/* The frame as a PPM file for the peer (RGB, which cv2.imread turns into
 * BGR; blobFromImage's swapRB turns it back). */
static int write_ppm(const specx_image *img, char *path, size_t len)
{
    snprintf(path, len, "/tmp/specx-bench-frame-XXXXXX");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (f == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int ok = fprintf(f, "P6 %d %d 255\n", img->width, img->height) > 0;
    for (int y = 0; ok && y < img->height; y++) {
        ok = fwrite(img->data + (size_t)y * img->stride, 1, (size_t)img->width * 3, f) ==
             (size_t)img->width * 3;
    }
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- samples and statistics ------------------------------------------------ */

typedef struct series {
    double *t;
    int n, cap;
    size_t boxes;
    bool failed;
} series;

static void series_add(series *s, double ms)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        double *t = cap <= MAX_SAMPLES ? realloc(s->t, (size_t)cap * sizeof *t) : NULL;
        if (t == NULL) {
            s->failed = true;
            return;
        }
        s->t = t;
        s->cap = cap;
    }
    s->t[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a series (sorted in place). */
static double pct(series *s, double q)
{
    qsort(s->t, (size_t)s->n, sizeof *s->t, cmp_double);
    int i = (int)(q * s->n + 0.999999) - 1;
    return s->t[i < 0 ? 0 : i >= s->n ? s->n - 1 : i];
}

/* ---- the peer: OpenCV DNN in /usr/bin/python3 ------------------------------ */

/* argv: cfg weights frame threads warmup frames. Prints "ok VERSION t1 t2 ..."
 * (ms per frame) or "skip REASON". */
static const char peer_script[] =
    "import sys, time\n"
    "try:\n"
    "    import cv2\n"
    "except Exception as e:\n"
    "    print('skip python3-opencv is not importable:', e); sys.exit(0)\n"
    "cfg, weights, frame = sys.argv[1:4]\n"
    "threads, warmup, n = (int(v) for v in sys.argv[4:7])\n"
    "cv2.setNumThreads(threads)\n"
    "net = cv2.dnn.readNetFromDarknet(cfg, weights)\n"
    "net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)\n"
    "net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)\n"
    "size = {}\n"
    "for line in open(cfg):\n"
    "    k, _, v = line.partition('=')\n"
    "    if k.strip() in ('width', 'height') and k.strip() not in size:\n"
    "        size[k.strip()] = int(v)\n"
    "img = cv2.imread(frame)\n"
    "outs = net.getUnconnectedOutLayersNames()\n"
    "times = []\n"
    "for i in range(warmup + n):\n"
    "    t0 = time.perf_counter()\n"
    "    blob = cv2.dnn.blobFromImage(img, 1 / 255.0, (size['width'], size['height']),\n"
    "                                 swapRB=True, crop=False)\n"
    "    net.setInput(blob)\n"
    "    net.forward(outs)\n"
    "    if i >= warmup:\n"
    "        times.append((time.perf_counter() - t0) * 1e3)\n"
    "print('ok', cv2.__version__, ' '.join('%.4f' % t for t in times))\n";

/* Runs the peer; its standard output into buf. 0 when it ran. */
static int run_python(const char *python, char *const *args, char *buf, size_t len)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, python, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (rc == 0 && got + 1 < len && (r = read(fds[0], buf + got, len - 1 - got)) > 0) {
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fds[0]);
    int status = 0;
    if (rc == 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
        return 0;
    }
    if (rc != 0) {
        snprintf(buf, len, "skip %s: %s", python, strerror(rc));
    } else if (strncmp(buf, "skip", 4) != 0) {
        snprintf(buf, len, "skip %s exited with status %d", python,
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return rc == 0 ? 1 : -1;
}

/* One round of the peer; its times into s, or why not into note. */
static void peer_round(const bench_opts *o, const sx_model_files *mf, const char *frame,
                       int threads, int frames, series *s, char *note, size_t note_len,
                       char *version, size_t vlen)
{
    char th[16], wu[16], fr[16];
    snprintf(th, sizeof th, "%d", threads);
    snprintf(wu, sizeof wu, "%d", o->warmup);
    snprintf(fr, sizeof fr, "%d", frames);
    char *args[] = {(char *)o->python,
                    "-c",
                    (char *)peer_script,
                    (char *)mf->cfg,
                    (char *)mf->weights,
                    (char *)frame,
                    th,
                    wu,
                    fr,
                    NULL};
    static char out[1 << 20];
    run_python(o->python, args, out, sizeof out);
    if (strncmp(out, "ok ", 3) != 0) {
        snprintf(note, note_len, "%.200s", strncmp(out, "skip ", 5) == 0 ? out + 5 : out);
        note[strcspn(note, "\n")] = '\0';
        s->failed = true;
        return;
    }
    char *save = NULL, *tok = strtok_r(out + 3, " \n", &save);
    snprintf(version, vlen, "%s", tok != NULL ? tok : "?");
    while ((tok = strtok_r(NULL, " \n", &save)) != NULL) {
        series_add(s, strtod(tok, NULL));
    }
}

/* ---- our detectors -------------------------------------------------------- */

typedef enum engine { ENG_PEER, ENG_XNN, ENG_DARKNET } engine;

typedef struct config {
    engine eng;
    bool int8;
    int threads;
    specx_detector *det;
    series s;
    char note[256];
} config;

static specx_detector *open_det(const bench_opts *o, const char *model, const char *backend,
                                int threads, bool int8)
{
    specx_detector_config cfg = {.model = model,
                                 .model_dir = o->model_dir,
                                 .backend = backend,
                                 .threads = threads,
                                 .precision = int8 ? "int8" : "fp32"};
    specx_detector *det = NULL;
    specx_err err = {0};
    specx_status st = specx_detector_open(&cfg, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench detect: %s/%s: %s\n", model, backend,
                specx_err_text(&err, st));
        return NULL;
    }
    return det;
}

static void time_detector(specx_detector *det, const specx_image *img, int warmup, int frames,
                          series *s)
{
    specx_detections d;
    specx_detections_init(&d);
    specx_err err = {0};
    for (int i = 0; i < warmup + frames && !s->failed; i++) {
        specx_time_t t0 = specx_time_mono();
        specx_status st = specx_detector_detect(det, img, NULL, &d, &err);
        double ms = specx_dur_ms(specx_time_mono() - t0);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx bench detect: %s\n", specx_err_text(&err, st));
            s->failed = true;
        } else if (i >= warmup) {
            series_add(s, ms);
        }
    }
    s->boxes = d.count;
    specx_detections_clear(&d);
}

/* The configurations of one model, detectors opened. */
static int make_configs(const bench_opts *o, const char *model, config *c)
{
    int n = 0;
    for (int t = 0; t < o->nthreads; t++) {
        if (o->peer) {
            c[n++] = (config){.eng = ENG_PEER, .threads = o->threads[t]};
        }
        for (int p = 0; p < 2; p++) {
            if ((p == 0 && !o->fp32) || (p == 1 && !o->int8)) {
                continue;
            }
            c[n] = (config){.eng = ENG_XNN, .int8 = p == 1, .threads = o->threads[t]};
            c[n].det = open_det(o, model, "xnnpack", o->threads[t], p == 1);
            c[n].s.failed = c[n].det == NULL;
            n++;
        }
    }
    if (o->darknet_frames > 0) {
        c[n] = (config){.eng = ENG_DARKNET, .threads = 1};
        c[n].det = open_det(o, model, "darknet", 1, false);
        c[n].s.failed = c[n].det == NULL;
        n++;
    }
    return n;
}

/* Every configuration of a model, `rounds` times in turn. */
static void run_rounds(const bench_opts *o, const sx_model_files *mf, const specx_image *img,
                       const char *frame, config *c, int nc, char *version, size_t vlen)
{
    for (int r = 0; r < o->rounds; r++) {
        /* this round's share of the frames (the first rounds take the rest) */
        int frames = o->frames / o->rounds + (r < o->frames % o->rounds ? 1 : 0);
        int dn = o->darknet_frames / o->rounds + (r < o->darknet_frames % o->rounds ? 1 : 0);
        for (int i = 0; i < nc; i++) {
            if (c[i].s.failed) {
                continue;
            }
            if (c[i].eng == ENG_PEER) {
                peer_round(o, mf, frame, c[i].threads, frames, &c[i].s, c[i].note, sizeof c[i].note,
                           version, vlen);
            } else if (c[i].eng == ENG_XNN) {
                time_detector(c[i].det, img, o->warmup, frames, &c[i].s);
            } else if (dn > 0) {
                time_detector(c[i].det, img, 1, dn, &c[i].s);
            }
        }
    }
}

static const char *engine_name(const config *c)
{
    return c->eng == ENG_PEER ? "opencv" : c->eng == ENG_DARKNET ? "darknet" : "xnnpack";
}

/* The table rows of one model; returns how many configurations failed. */
static int print_model(const bench_opts *o, const char *model, config *c, int nc)
{
    int failures = 0;
    for (int i = 0; i < nc; i++) {
        const char *prec = c[i].eng == ENG_XNN && c[i].int8 ? "int8" : "fp32";
        if (c[i].s.n == 0) {
            printf("%-24s %-8s %-5s %7d   %s\n", model, engine_name(&c[i]), prec, c[i].threads,
                   c[i].note[0] != '\0' ? c[i].note : "failed");
            failures += c[i].eng != ENG_PEER;
            continue;
        }
        double mn = pct(&c[i].s, 0), p50 = pct(&c[i].s, 0.5), p99 = pct(&c[i].s, 0.99);
        double peer = 0;
        for (int j = 0; j < nc; j++) {
            if (c[j].eng == ENG_PEER && c[j].threads == c[i].threads && c[j].s.n > 0) {
                peer = pct(&c[j].s, 0.5);
            }
        }
        char ratio[32] = "-";
        if (peer > 0) {
            snprintf(ratio, sizeof ratio, "%.2fx", peer / p50);
        }
        printf("%-24s %-8s %-5s %7d %8.2f %8.2f %8.2f %10s %6d", model, engine_name(&c[i]), prec,
               c[i].threads, mn, p50, p99, ratio, c[i].s.n);
        if (c[i].eng != ENG_PEER) {
            printf(" %5zu", c[i].s.boxes);
        }
        printf("\n");
        if (o->csv) {
            printf("csv,%s,%s,%s,%d,%.3f,%.3f,%.3f,%.3f\n", model, engine_name(&c[i]), prec,
                   c[i].threads, mn, p50, p99, peer > 0 ? peer / p50 : 0.0);
        }
    }
    return failures;
}

static void profile_model(const bench_opts *o, const char *model, const specx_image *img, bool int8)
{
    char dir[4096];
    sx_model_files files;
    specx_err err = {0};
    sx_xnn *x = NULL;
    specx_image calib[16];
    int ncalib = 0;
    if (int8) {
        sx_xnn_calib_images(calib, 16, &ncalib, &err);
    }
    sx_xnn_opts xo = {
        .precision = int8 ? SX_XNN_INT8 : SX_XNN_FP32, .calib = calib, .ncalib = ncalib};
    if (specx_model_dir_resolve(o->model_dir, dir, sizeof dir, &err) != SPECX_OK ||
        sx_model_files_resolve(model, dir, &files, &err) != SPECX_OK ||
        sx_xnn_open(files.cfg, files.weights, files.names, &xo, &x, &err) != SPECX_OK) {
        fprintf(stderr, "specx bench detect: profile %s: %s\n", model, err.msg);
    }
    for (int i = 0; i < ncalib; i++) {
        specx_image_clear(&calib[i]);
    }
    if (x == NULL) {
        return;
    }
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; i < o->frames + o->warmup; i++) {
        sx_xnn_profile(x, i == o->warmup);
        specx_detections_reset(&d);
        sx_xnn_detect(x, img, 0.25f, 0.45f, NULL, &d, &err);
    }
    printf("\nper-layer profile: %s, xnnpack %s, 1 thread, %d frames (%.3f GFLOP/frame)\n", model,
           int8 ? "int8" : "fp32", o->frames, sx_xnn_gflops(x));
    sx_xnn_profile_print(x, stdout);
    specx_detections_clear(&d);
    sx_xnn_close(x);
}

int specx_bench_detect(int argc, char **argv)
{
    bench_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        return rc == 1 ? 0 : rc;
    }
    specx_image img;
    char frame[64] = "";
    if ((o.image != NULL ? read_ppm(o.image, &img) : synthetic_frame(&img)) != 0) {
        return 1;
    }
    if (o.peer && write_ppm(&img, frame, sizeof frame) != 0) {
        fprintf(stderr, "specx bench detect: cannot write the frame for the peer; no peer\n");
        o.peer = false;
    }
    printf("specx bench detect: %dx%d frame (%s); %d frames per configuration in %d rounds "
           "(+%d warm-up each), all configurations of a model taking turns\n",
           img.width, img.height, o.image != NULL ? o.image : "synthetic", o.frames, o.rounds,
           o.warmup);
    printf("%-24s %-8s %-5s %7s %8s %8s %8s %10s %6s %5s\n", "model", "engine", "prec", "threads",
           "min ms", "p50 ms", "p99 ms", "vs opencv", "frames", "boxes");
    int failures = 0;
    char version[64] = "";
    for (int m = 0; m < o.nmodels; m++) {
        char dir[4096];
        sx_model_files mf;
        specx_err err = {0};
        if (specx_model_dir_resolve(o.model_dir, dir, sizeof dir, &err) != SPECX_OK ||
            sx_model_files_resolve(o.models[m], dir, &mf, &err) != SPECX_OK) {
            fprintf(stderr, "specx bench detect: %s: %s\n", o.models[m], err.msg);
            failures++;
            continue;
        }
        config c[3 * MAX_LIST + 1];
        int nc = make_configs(&o, o.models[m], c);
        run_rounds(&o, &mf, &img, frame, c, nc, version, sizeof version);
        failures += print_model(&o, o.models[m], c, nc);
        for (int i = 0; i < nc; i++) {
            specx_detector_close(c[i].det);
            free(c[i].s.t);
        }
    }
    if (version[0] != '\0') {
        printf("opencv: OpenCV %s DNN (python3-opencv through %s), same cfg/weights and frame\n",
               version, o.python);
    }
    for (int m = 0; o.profile && m < o.nmodels; m++) {
        for (int p = 0; p < 2; p++) {
            if ((p == 0 && o.fp32) || (p == 1 && o.int8)) {
                profile_model(&o, o.models[m], &img, p == 1);
            }
        }
    }
    if (frame[0] != '\0') {
        unlink(frame);
    }
    specx_image_clear(&img);
    return failures > 0 ? 1 : 0;
}
