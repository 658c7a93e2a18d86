/* cmd_detect.c — `specx detect`: run a named model on image files and print
 * the detections (the equivalent of `darknet detector test`). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"
#include "specx/detector.h"

#include "cli.h"
#include "commands.h"

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx detect IMAGE... --model NAME [--backend B] [--model-dir DIR]\n"
               "                    [--threshold T] [--nms N] [--json]\n\n"
               "Detects objects in JPEG/PNG images and prints, per image, each object's\n"
               "label, score and box (pixels of the image: xmin ymin xmax ymax).\n\n");
    specx_cli_print_options(f, opts);
    fprintf(f, "models:\n");
    for (size_t i = 0; specx_model_name(i) != NULL; i++) {
        fprintf(f, "  %-30s %s\n", specx_model_name(i), specx_model_summary(i));
    }
    fprintf(f, "exit status: 0 all images done, 1 an image or the model failed, 2 usage\n");
}

static void print_text(const char *path, const specx_detector_info *info, const specx_detections *d)
{
    printf("%s: %zu object%s in %.1f ms (%s, %s, %dx%d)\n", path, d->count,
           d->count == 1 ? "" : "s", d->infer_ms, info->model, info->backend, d->image_width,
           d->image_height);
    for (size_t i = 0; i < d->count; i++) {
        const specx_detection *x = &d->items[i];
        printf("  %-16s %3.0f%%  box %.0f %.0f %.0f %.0f\n", x->label, (double)x->score * 100.0,
               (double)x->xmin, (double)x->ymin, (double)x->xmax, (double)x->ymax);
    }
    fflush(stdout);
}

static double round2(double v)
{
    return round(v * 100.0) / 100.0;
}

static int print_json(const char *path, const specx_detector_info *info, const specx_detections *d,
                      specx_status st, const char *error)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return -1;
    }
    cJSON_AddStringToObject(o, "image", path);
    cJSON_AddStringToObject(o, "model", info->model);
    cJSON_AddStringToObject(o, "backend", info->backend);
    cJSON_AddStringToObject(o, "status", specx_status_name(st));
    if (st != SPECX_OK) {
        cJSON_AddStringToObject(o, "error", error);
    } else {
        cJSON_AddNumberToObject(o, "width", d->image_width);
        cJSON_AddNumberToObject(o, "height", d->image_height);
        cJSON_AddNumberToObject(o, "infer_ms", round2(d->infer_ms));
        cJSON *arr = cJSON_AddArrayToObject(o, "detections");
        for (size_t i = 0; arr != NULL && i < d->count; i++) {
            const specx_detection *x = &d->items[i];
            cJSON *e = cJSON_CreateObject();
            if (e == NULL) {
                break;
            }
            cJSON_AddStringToObject(e, "label", x->label);
            cJSON_AddNumberToObject(e, "class_id", x->class_id);
            cJSON_AddNumberToObject(e, "score", round(x->score * 10000.0) / 10000.0);
            cJSON_AddNumberToObject(e, "xmin", round2(x->xmin));
            cJSON_AddNumberToObject(e, "ymin", round2(x->ymin));
            cJSON_AddNumberToObject(e, "xmax", round2(x->xmax));
            cJSON_AddNumberToObject(e, "ymax", round2(x->ymax));
            cJSON_AddItemToArray(arr, e);
        }
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL) {
        return -1;
    }
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    return 0;
}

/* Opens the model once and runs it on every image; an image that fails is
 * reported and the others are still done. */
static int detect_all(const specx_detector_config *cfg, char *const *images, size_t n_images,
                      bool json)
{
    int rc = 0;
    specx_detector *det = NULL;
    specx_err err = {{0}};
    specx_status st = specx_detector_open(cfg, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx detect: %s\n", specx_err_text(&err, st));
        return 1;
    }
    const specx_detector_info *info = specx_detector_get_info(det);
    specx_detections d;
    specx_detections_init(&d);
    for (size_t i = 0; i < n_images; i++) {
        specx_image img = {0};
        err.msg[0] = '\0';
        st = specx_image_load(images[i], &img, &err);
        if (st == SPECX_OK) {
            st = specx_detector_detect(det, &img, NULL, &d, &err);
        }
        specx_image_clear(&img);
        if (st != SPECX_OK) {
            const char *msg = specx_err_text(&err, st);
            if (strstr(msg, images[i]) != NULL) {
                fprintf(stderr, "specx detect: %s\n", msg);
            } else {
                fprintf(stderr, "specx detect: %s: %s\n", images[i], msg);
            }
            rc = 1;
        }
        if (json) {
            if (print_json(images[i], info, &d, st, specx_err_text(&err, st)) != 0) {
                fprintf(stderr, "specx detect: out of memory writing JSON\n");
                rc = 1;
            }
        } else if (st == SPECX_OK) {
            print_text(images[i], info, &d);
        }
    }
    specx_detections_clear(&d);
    specx_detector_close(det);
    return rc;
}

int specx_cmd_detect(int argc, char **argv)
{
    specx_detector_config cfg = {0};
    bool json = false;
    char backend_help[96];
    snprintf(backend_help, sizeof backend_help, "darknet or xnnpack (default %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"model", 0, SPECX_CLI_STRING, &cfg.model, .meta = "NAME",
         .help = "model to run (required; the list is below)"},
        {"backend", 0, SPECX_CLI_STRING, &cfg.backend, .meta = "B", .help = backend_help},
        {"precision", 0, SPECX_CLI_STRING, &cfg.precision, .meta = "P",
         .help = "fp32 (default) or int8 (xnnpack backend only)"},
        {"model-dir", 0, SPECX_CLI_STRING, &cfg.model_dir, .meta = "DIR",
         .help = "where the models are (default: $SPECX_MODEL_DIR, else\n"
                 "./assets/models, else ../shared/assets/models)"},
        {"threshold", 0, SPECX_CLI_FLOAT, &cfg.threshold, 0.001, 0.999, .meta = "T",
         .help = "score threshold in [0.001, 0.999] (default 0.25)"},
        {"thresh", 0, SPECX_CLI_FLOAT, &cfg.threshold, 0.001, 0.999,
         .help = NULL}, /* darknet's spelling */
        {"nms", 0, SPECX_CLI_FLOAT, &cfg.nms, 0.001, 1.0, .meta = "N",
         .help = "NMS IoU threshold (default 0.45)"},
        {"json", 0, SPECX_CLI_FLAG, &json,
         .help = "one JSON object per image per line (JSON Lines)"},
        {0},
    };
    int first = argc;
    int rc = specx_cli_parse("specx detect", opts, argc, argv, &first);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if (cfg.model == NULL || cfg.model[0] == '\0') {
        fprintf(stderr, "specx detect: --model NAME is required (known:");
        for (size_t i = 0; specx_model_name(i) != NULL; i++) {
            fprintf(stderr, " %s", specx_model_name(i));
        }
        fprintf(stderr, ")\n");
        return 2;
    }
    if (first >= argc) {
        fprintf(stderr, "specx detect: no image given (see specx detect --help)\n");
        return 2;
    }
    char *const *images = argv + first;
    size_t n_images = (size_t)(argc - first);

    return detect_all(&cfg, images, n_images, json);
}
