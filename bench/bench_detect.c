/* bench_detect.c — `specx bench detect`: per-model inference time per backend
 * and thread count on one image, with the darknet single-thread time of the
 * same model, measured in the same run, as the baseline. Prints figures;
 * never passes or fails on time. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"
#include "specx/detector.h"
#include "specx/time.h"

#include "commands.h"

typedef struct row {
    const char *model, *backend;
    int threads;
    int frames;
    double p50, p90, p99, min, max, mean;
    size_t detections;
    char skipped[256];
} row;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(const double *sorted, int n, double q)
{
    int i = (int)(q * (n - 1) + 0.5);
    return sorted[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static void measure(row *r, const char *model_dir, const specx_image *img, int warmup)
{
    specx_detector_config cfg = {
        .model = r->model, .model_dir = model_dir, .backend = r->backend, .threads = r->threads};
    specx_detector *det = NULL;
    specx_err err = {{0}};
    specx_status st = specx_detector_open(&cfg, &det, &err);
    if (st != SPECX_OK) {
        snprintf(r->skipped, sizeof r->skipped, "%s", specx_err_text(&err, st));
        return;
    }
    double *ms = calloc((size_t)r->frames, sizeof *ms);
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; ms != NULL && i < warmup + r->frames && st == SPECX_OK; i++) {
        specx_time_t t0 = specx_time_mono();
        st = specx_detector_detect(det, img, NULL, &d, &err);
        double t = specx_dur_ms(specx_time_mono() - t0);
        if (i >= warmup) {
            ms[i - warmup] = t;
        }
    }
    if (ms == NULL || st != SPECX_OK) {
        snprintf(r->skipped, sizeof r->skipped, "%s",
                 ms == NULL ? "out of memory" : specx_err_text(&err, st));
    } else {
        r->detections = d.count;
        double sum = 0;
        for (int i = 0; i < r->frames; i++) {
            sum += ms[i];
        }
        qsort(ms, (size_t)r->frames, sizeof *ms, cmp_double);
        r->mean = sum / r->frames;
        r->min = ms[0];
        r->max = ms[r->frames - 1];
        r->p50 = quantile(ms, r->frames, 0.5);
        r->p90 = quantile(ms, r->frames, 0.9);
        r->p99 = quantile(ms, r->frames, 0.99);
    }
    free(ms);
    specx_detections_free(&d);
    specx_detector_close(det);
}

/* Splits a comma list in place into at most max items. */
static int split(char *s, const char **items, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok != NULL && n < max; tok = strtok(NULL, ",")) {
        items[n++] = tok;
    }
    return n;
}

int specx_bench_detect(int argc, char **argv)
{
    char models_buf[512] = "", backends_buf[128] = "darknet,xnnpack", threads_buf[64] = "1";
    const char *image = "/usr/share/darknet/data/dog.jpg";
    const char *model_dir = NULL;
    int frames = 20, warmup = 2, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: specx bench detect [--models a,b] [--backends darknet,xnnpack]\n"
                   "         [--threads 1,2] [--frames N] [--warmup N] [--image PATH]\n"
                   "         [--model-dir DIR] [--json]\n"
                   "Times detect() (letterbox, network, boxes, NMS) on one image per model,\n"
                   "backend and thread count; prints p50/p90/p99/mean in ms and the ratio of\n"
                   "each p50 to darknet's single-thread p50 for the same model in this run.\n"
                   "Defaults: every known model, darknet and xnnpack (skipped if not built),\n"
                   "1 thread, 20 frames after 2 warm-up frames, %s.\n",
                   image);
            return 0;
        } else if (v != NULL && strcmp(a, "--models") == 0) {
            snprintf(models_buf, sizeof models_buf, "%s", v);
            i++;
        } else if (v != NULL && strcmp(a, "--backends") == 0) {
            snprintf(backends_buf, sizeof backends_buf, "%s", v);
            i++;
        } else if (v != NULL && strcmp(a, "--threads") == 0) {
            snprintf(threads_buf, sizeof threads_buf, "%s", v);
            i++;
        } else if (v != NULL && strcmp(a, "--frames") == 0) {
            frames = atoi(v);
            i++;
        } else if (v != NULL && strcmp(a, "--warmup") == 0) {
            warmup = atoi(v);
            i++;
        } else if (v != NULL && strcmp(a, "--image") == 0) {
            image = v;
            i++;
        } else if (v != NULL && strcmp(a, "--model-dir") == 0) {
            model_dir = v;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else {
            fprintf(stderr, "specx bench detect: bad argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (frames < 1 || frames > 100000 || warmup < 0) {
        fprintf(stderr, "specx bench detect: --frames must be >= 1 and --warmup >= 0\n");
        return 2;
    }
    const char *models[16], *backends[8], *threads_s[8];
    int n_models = 0;
    if (models_buf[0] != '\0') {
        n_models = split(models_buf, models, 16);
    } else {
        for (size_t i = 0; specx_model_name(i) != NULL && n_models < 16; i++) {
            models[n_models++] = specx_model_name(i);
        }
    }
    int n_backends = split(backends_buf, backends, 8);
    int n_threads = split(threads_buf, threads_s, 8);

    specx_image img = {0};
    specx_err err = {{0}};
    specx_status st = specx_image_load(image, &img, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx bench detect: %s\n", specx_err_text(&err, st));
        return 1;
    }
    size_t n_rows = (size_t)(n_models * n_backends * n_threads);
    row *rows = calloc(n_rows + 1, sizeof *rows);
    if (rows == NULL) {
        specx_image_free(&img);
        return 1;
    }
    if (!json) {
        printf("specx bench detect: %s (%dx%d), %d frames after %d warm-up, ms per detect()\n",
               image, img.width, img.height, frames, warmup);
        printf("%-30s %-8s %3s %8s %8s %8s %8s %8s %5s %s\n", "model", "backend", "thr", "p50",
               "p90", "p99", "mean", "min", "dets", "p50/darknet");
    }
    size_t k = 0;
    for (int m = 0; m < n_models; m++) {
        double base = 0;
        for (int b = 0; b < n_backends; b++) {
            for (int t = 0; t < n_threads; t++) {
                row *r = &rows[k++];
                r->model = models[m];
                r->backend = backends[b];
                r->threads = atoi(threads_s[t]);
                r->frames = frames;
                if (strcmp(r->backend, "darknet") == 0 && r->threads > 1) {
                    snprintf(r->skipped, sizeof r->skipped, "darknet is single-threaded");
                } else {
                    measure(r, model_dir, &img, warmup);
                }
                if (r->skipped[0] == '\0' && strcmp(r->backend, "darknet") == 0 &&
                    r->threads <= 1) {
                    base = r->p50;
                }
                if (json) {
                    continue;
                }
                if (r->skipped[0] != '\0') {
                    printf("%-30s %-8s %3d  skipped: %s\n", r->model, r->backend, r->threads,
                           r->skipped);
                } else {
                    char ratio[32] = "-";
                    if (base > 0) {
                        snprintf(ratio, sizeof ratio, "%.2f", r->p50 / base);
                    }
                    printf("%-30s %-8s %3d %8.1f %8.1f %8.1f %8.1f %8.1f %5zu %s\n", r->model,
                           r->backend, r->threads, r->p50, r->p90, r->p99, r->mean, r->min,
                           r->detections, ratio);
                }
                fflush(stdout);
            }
        }
    }
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr != NULL && i < k; i++) {
            const row *r = &rows[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", r->model);
            cJSON_AddStringToObject(o, "backend", r->backend);
            cJSON_AddNumberToObject(o, "threads", r->threads);
            if (r->skipped[0] != '\0') {
                cJSON_AddStringToObject(o, "skipped", r->skipped);
            } else {
                cJSON_AddNumberToObject(o, "frames", r->frames);
                cJSON_AddNumberToObject(o, "p50_ms", r->p50);
                cJSON_AddNumberToObject(o, "p90_ms", r->p90);
                cJSON_AddNumberToObject(o, "p99_ms", r->p99);
                cJSON_AddNumberToObject(o, "mean_ms", r->mean);
                cJSON_AddNumberToObject(o, "min_ms", r->min);
                cJSON_AddNumberToObject(o, "max_ms", r->max);
                cJSON_AddNumberToObject(o, "detections", (double)r->detections);
            }
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(arr);
        if (s != NULL) {
            printf("%s\n", s);
        }
        free(s);
        cJSON_Delete(arr);
    }
    free(rows);
    specx_image_free(&img);
    return 0;
}
