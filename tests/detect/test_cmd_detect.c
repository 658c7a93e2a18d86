/* test_cmd_detect.c — `specx detect` end to end: its JSON and text output
 * agree with the library run in-process on the same file, and usage and
 * runtime errors give the documented exit codes and name what is wrong. */
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/codec.h"
#include "specx/detector.h"

#define DOG "/usr/share/darknet/data/dog.jpg"

static const char *specx_bin;
static char models[2048];

typedef struct run_result {
    int rc;
    char out[65536];
} run_result;

/* Runs `specx detect ARGS` with stdout (and stderr if merge) captured. */
static void run(run_result *r, int merge, const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' detect %s %s", specx_bin, args, merge ? "2>&1" : "2>/dev/null");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void reference(const char *model, specx_detections *d)
{
    specx_detector_config cfg = {.model = model, .model_dir = models};
    specx_detector *det = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_detector_open(&cfg, &det, &err), SPECX_OK);
    specx_image img = {0};
    assert_int_equal(specx_image_load(DOG, &img, &err), SPECX_OK);
    assert_int_equal(specx_detector_detect(det, &img, NULL, d, &err), SPECX_OK);
    specx_image_clear(&img);
    specx_detector_close(det);
}

static void test_json_matches_library(void **state)
{
    (void)state;
    run_result *r = malloc(sizeof *r);
    assert_non_null(r);
    char args[4096];
    snprintf(args, sizeof args, "%s --model yolo-fastest-1.1 --model-dir '%s' --json", DOG, models);
    run(r, 0, args);
    assert_int_equal(r->rc, 0);
    specx_detections d;
    specx_detections_init(&d);
    reference("yolo-fastest-1.1", &d);
    assert_true(d.count > 0);

    cJSON *o = cJSON_Parse(r->out);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "image")->valuestring, DOG);
    assert_string_equal(cJSON_GetObjectItem(o, "status")->valuestring, "ok");
    assert_string_equal(cJSON_GetObjectItem(o, "backend")->valuestring,
                        specx_detector_default_backend());
    assert_int_equal(cJSON_GetObjectItem(o, "width")->valueint, d.image_width);
    cJSON *arr = cJSON_GetObjectItem(o, "detections");
    assert_int_equal((size_t)cJSON_GetArraySize(arr), d.count);
    for (size_t i = 0; i < d.count; i++) {
        cJSON *e = cJSON_GetArrayItem(arr, (int)i);
        assert_string_equal(cJSON_GetObjectItem(e, "label")->valuestring, d.items[i].label);
        assert_int_equal(cJSON_GetObjectItem(e, "class_id")->valueint, d.items[i].class_id);
        assert_float_equal(cJSON_GetObjectItem(e, "score")->valuedouble, d.items[i].score, 1e-4);
        assert_float_equal(cJSON_GetObjectItem(e, "xmin")->valuedouble, d.items[i].xmin, 0.01);
        assert_float_equal(cJSON_GetObjectItem(e, "ymax")->valuedouble, d.items[i].ymax, 0.01);
    }
    cJSON_Delete(o);

    /* Text: a header line, then one line per detection, in the same order. */
    snprintf(args, sizeof args, "%s --model yolo-fastest-1.1 --model-dir '%s' --thresh 0.25", DOG,
             models);
    run(r, 0, args);
    assert_int_equal(r->rc, 0);
    char *line = strtok(r->out, "\n");
    assert_non_null(line);
    assert_non_null(strstr(line, DOG));
    for (size_t i = 0; i < d.count; i++) {
        line = strtok(NULL, "\n");
        assert_non_null(line);
        char label[64];
        int pct = -1;
        assert_int_equal(sscanf(line, " %63s %d%%", label, &pct), 2);
        assert_string_equal(label, d.items[i].label);
        assert_int_equal(pct, (int)lrint(d.items[i].score * 100.0));
    }
    assert_null(strtok(NULL, "\n"));
    specx_detections_clear(&d);
    free(r);
}

static void test_errors(void **state)
{
    (void)state;
    run_result *r = malloc(sizeof *r);
    assert_non_null(r);
    char args[4096];

    run(r, 1, "--help");
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "yolo-fastest-1.1-xl-416")); /* lists the models */

    run(r, 1, DOG); /* no --model */
    assert_int_equal(r->rc, 2);
    assert_non_null(strstr(r->out, "--model"));

    run(r, 1, "--model yolo-fastest-1.1"); /* no image */
    assert_int_equal(r->rc, 2);

    run(r, 1, DOG " --model yolo-fastest-1.1 --thresh 2");
    assert_int_equal(r->rc, 2);
    assert_non_null(strstr(r->out, "--thresh"));

    run(r, 1, DOG " --model yolo-fastest-1.1 --frobnicate");
    assert_int_equal(r->rc, 2);
    assert_non_null(strstr(r->out, "--frobnicate"));

    snprintf(args, sizeof args, "%s --model no-such-model --model-dir '%s'", DOG, models);
    run(r, 1, args);
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->out, "no-such-model"));
    assert_non_null(strstr(r->out, "yolo-fastest-1.1-xl"));

    run(r, 1, DOG " --model yolo-fastest-1.1 --model-dir /nonexistent/models");
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->out, "/nonexistent/models"));

    /* One bad image among good ones: the others are still done; exit 1. */
    snprintf(args, sizeof args, "/nonexistent/a.jpg %s --model yolo-fastest-1.1 --model-dir '%s'",
             DOG, models);
    run(r, 1, args);
    assert_int_equal(r->rc, 1);
    assert_non_null(strstr(r->out, "/nonexistent/a.jpg"));
    assert_non_null(strstr(r->out, DOG ": "));
    free(r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_cmd_detect PATH-TO-SPECX\n");
        return 2;
    }
    specx_bin = argv[1];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(models, sizeof models, "%s/models", a != NULL ? a : "../shared/assets");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_matches_library),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
