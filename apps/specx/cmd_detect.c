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

static void usage(FILE *f)
{
    fprintf(f, "usage: specx detect IMAGE... --model NAME [--backend B] [--model-dir DIR]\n"
               "                    [--precision P] [--thresh T] [--nms N] [--json]\n\n"
               "Detects objects in JPEG/PNG images and prints, per image, each object's\n"
               "label, score and box (pixels of the image: xmin ymin xmax ymax).\n\n"
               "  --model NAME     model to run (required), one of:\n");
    for (size_t i = 0; specx_model_name(i) != NULL; i++) {
        fprintf(f, "                     %-30s %s\n", specx_model_name(i), specx_model_summary(i));
    }
    fprintf(f,
            "  --backend B      darknet or xnnpack (default %s)\n"
            "  --precision P    fp32 (default) or int8 (xnnpack only)\n"
            "  --model-dir DIR  where the models are (default: $SPECX_MODEL_DIR, else\n"
            "                   ./assets/models, else ../shared/assets/models)\n"
            "  --thresh T       score threshold in [0.001, 0.999] (default 0.25)\n"
            "  --nms N          NMS IoU threshold (default 0.45)\n"
            "  --json           one JSON object per image per line (JSON Lines)\n"
            "exit status: 0 all images done, 1 an image or the model failed, 2 usage\n",
            specx_detector_default_backend());
}

static int parse_float(const char *opt, const char *s, float lo, float hi, float *out)
{
    double v;
    if (!specx_cli_double(s, lo, hi, &v)) {
        fprintf(stderr, "specx detect: %s wants a number in [%g, %g], got '%s'\n", opt, (double)lo,
                (double)hi, s != NULL ? s : "");
        return -1;
    }
    *out = (float)v;
    return 0;
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

int specx_cmd_detect(int argc, char **argv)
{
    specx_detector_config cfg = {0};
    int json = 0;
    const char **images = calloc((size_t)argc + 1, sizeof *images);
    size_t n_images = 0;
    if (images == NULL) {
        fprintf(stderr, "specx detect: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        char opt[32] = "";
        if (strncmp(a, "--", 2) == 0 && strcmp(a, "--") != 0) {
            size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
            snprintf(opt, sizeof opt, "%.*s", (int)(len < sizeof opt ? len : sizeof opt - 1), a);
        }
        int takes_value = strcmp(opt, "--model") == 0 || strcmp(opt, "--backend") == 0 ||
                          strcmp(opt, "--precision") == 0 || strcmp(opt, "--model-dir") == 0 ||
                          strcmp(opt, "--thresh") == 0 || strcmp(opt, "--nms") == 0;
        if (takes_value) {
            if (eq != NULL) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(stderr, "specx detect: %s needs a value\n", opt);
                rc = 2;
                break;
            }
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            free(images);
            return 0;
        } else if (strcmp(opt, "--model") == 0) {
            cfg.model = val;
        } else if (strcmp(opt, "--backend") == 0) {
            cfg.backend = val;
        } else if (strcmp(opt, "--precision") == 0) {
            cfg.precision = val;
        } else if (strcmp(opt, "--model-dir") == 0) {
            cfg.model_dir = val;
        } else if (strcmp(opt, "--thresh") == 0) {
            if (parse_float("--thresh", val, 0.001f, 0.999f, &cfg.threshold) != 0) {
                rc = 2;
            }
        } else if (strcmp(opt, "--nms") == 0) {
            if (parse_float("--nms", val, 0.001f, 1.0f, &cfg.nms) != 0) {
                rc = 2;
            }
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "specx detect: unknown option '%s' (see specx detect --help)\n", a);
            rc = 2;
        } else {
            images[n_images++] = a;
        }
    }
    if (rc == 0 && (cfg.model == NULL || cfg.model[0] == '\0')) {
        fprintf(stderr, "specx detect: --model NAME is required (known:");
        for (size_t i = 0; specx_model_name(i) != NULL; i++) {
            fprintf(stderr, " %s", specx_model_name(i));
        }
        fprintf(stderr, ")\n");
        rc = 2;
    }
    if (rc == 0 && n_images == 0) {
        fprintf(stderr, "specx detect: no image given (see specx detect --help)\n");
        rc = 2;
    }
    if (rc != 0) {
        free(images);
        return rc;
    }

    specx_detector *det = NULL;
    specx_err err = {{0}};
    specx_status st = specx_detector_open(&cfg, &det, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx detect: %s\n", specx_err_text(&err, st));
        free(images);
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
    free(images);
    return rc;
}
