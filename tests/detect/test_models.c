/* test_models.c — model directory resolution and model-file errors: every
 * failure names the place or file at fault. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/detector.h"

static char shared_models[2048];
static char tmpdir[512];
static char oldcwd[2048];

static void copy_file(const char *from, const char *to, long limit)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    long total = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (limit >= 0 && total + (long)n > limit) {
            n = (size_t)(limit - total);
        }
        assert_int_equal(fwrite(buf, 1, n, out), n);
        total += (long)n;
        if (limit >= 0 && total >= limit) {
            break;
        }
    }
    fclose(in);
    fclose(out);
}

static void path_in(char *buf, size_t len, const char *dir, const char *file)
{
    snprintf(buf, len, "%s/%s", dir, file);
}

/* A model dir in tmpdir holding yolo-fastest-1.1 and coco.names. */
static void make_model_dir(const char *dir, int with_weights)
{
    char from[4096], to[4096];
    mkdir(dir, 0755);
    const char *files[] = {"yolo-fastest-1.1.cfg", "coco.names", "yolo-fastest-1.1.weights"};
    for (int i = 0; i < (with_weights ? 3 : 2); i++) {
        path_in(from, sizeof from, shared_models, files[i]);
        path_in(to, sizeof to, dir, files[i]);
        copy_file(from, to, -1);
    }
}

static int setup(void **state)
{
    (void)state;
    const char *a = getenv("SPECX_SHARED_ASSETS");
    char rel[2048];
    snprintf(rel, sizeof rel, "%s/models", a != NULL ? a : "../shared/assets");
    /* absolute, since tests change directory */
    if (realpath(rel, shared_models) == NULL) {
        return -1;
    }
    if (getcwd(oldcwd, sizeof oldcwd) == NULL) {
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/specx-test-models-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    unsetenv("SPECX_MODEL_DIR");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (chdir(oldcwd) != 0) {
        return -1;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static specx_status open_in(const char *dir, const char *model, specx_err *err)
{
    specx_detector_config cfg = {.model = model, .model_dir = dir, .backend = "darknet"};
    specx_detector *det = NULL;
    specx_status st = specx_detector_open(&cfg, &det, err);
    specx_detector_close(det);
    return st;
}

static void assert_mentions(const specx_err *err, const char *what)
{
    if (strstr(err->msg, what) == NULL) {
        fail_msg("error '%s' does not mention '%s'", err->msg, what);
    }
}

static void test_dir_order(void **state)
{
    (void)state;
    char buf[4096], dir[1024];
    specx_err err = {{0}};
    /* Nothing anywhere: the error lists every place looked at. */
    snprintf(dir, sizeof dir, "%s/empty", tmpdir);
    mkdir(dir, 0755);
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(specx_model_dir_resolve(NULL, buf, sizeof buf, &err), SPECX_ENOTFOUND);
    assert_mentions(&err, "--model-dir");
    assert_mentions(&err, "$SPECX_MODEL_DIR");
    assert_mentions(&err, "./assets/models");
    assert_mentions(&err, "../shared/assets/models");
    assert_mentions(&err, dir);

    /* ../shared/assets/models, then ./assets/models which ranks above it. */
    char p[1024];
    snprintf(p, sizeof p, "%s/shared/assets/models", tmpdir);
    snprintf(buf, sizeof buf, "mkdir -p '%s' '%s/empty/assets/models'", p, tmpdir);
    assert_int_equal(system(buf), 0);
    assert_int_equal(specx_model_dir_resolve("", buf, sizeof buf, &err), SPECX_OK);
    assert_string_equal(buf, "./assets/models");
    snprintf(buf, sizeof buf, "rm -r '%s/empty/assets'", tmpdir);
    assert_int_equal(system(buf), 0);
    assert_int_equal(specx_model_dir_resolve(NULL, buf, sizeof buf, &err), SPECX_OK);
    assert_string_equal(buf, "../shared/assets/models");

    /* $SPECX_MODEL_DIR beats the defaults; a missing one is an error. */
    setenv("SPECX_MODEL_DIR", p, 1);
    assert_int_equal(specx_model_dir_resolve(NULL, buf, sizeof buf, &err), SPECX_OK);
    assert_string_equal(buf, p);
    setenv("SPECX_MODEL_DIR", "/nonexistent/specx-models", 1);
    assert_int_equal(specx_model_dir_resolve(NULL, buf, sizeof buf, &err), SPECX_ENOTFOUND);
    assert_mentions(&err, "/nonexistent/specx-models");
    assert_mentions(&err, "SPECX_MODEL_DIR");

    /* An explicit directory beats everything; a missing one is an error
     * naming it, not a fallback to another copy. */
    assert_int_equal(specx_model_dir_resolve(tmpdir, buf, sizeof buf, &err), SPECX_OK);
    assert_string_equal(buf, tmpdir);
    assert_int_equal(specx_model_dir_resolve("/nonexistent/explicit", buf, sizeof buf, &err),
                     SPECX_ENOTFOUND);
    assert_mentions(&err, "/nonexistent/explicit");
    unsetenv("SPECX_MODEL_DIR");
    assert_int_equal(chdir(oldcwd), 0);

    /* Through detector_open too. */
    assert_int_equal(open_in("/nonexistent/explicit", "yolo-fastest-1.1", &err), SPECX_ENOTFOUND);
    assert_mentions(&err, "/nonexistent/explicit");
}

static void test_unknown_model_and_backend(void **state)
{
    (void)state;
    specx_err err = {{0}};
    assert_int_equal(open_in(shared_models, "yolo-fastest-9", &err), SPECX_ENOTFOUND);
    assert_mentions(&err, "yolo-fastest-9");
    for (size_t i = 0; specx_model_name(i) != NULL; i++) {
        assert_mentions(&err, specx_model_name(i)); /* lists the known ones */
        assert_non_null(specx_model_summary(i));
    }
    assert_null(specx_model_summary(99));
    /* a path is not a name */
    char path[4096];
    path_in(path, sizeof path, shared_models, "yolo-fastest-1.1.cfg");
    assert_int_equal(open_in(shared_models, path, &err), SPECX_ENOTFOUND);

    specx_detector_config cfg = {
        .model = "yolo-fastest-1.1", .model_dir = shared_models, .backend = "tensorrt"};
    specx_detector *det = NULL;
    assert_int_equal(specx_detector_open(&cfg, &det, &err), SPECX_EINVAL);
    assert_mentions(&err, "tensorrt");
    assert_null(det);
    assert_string_equal(specx_detector_default_backend(), "xnnpack");

    cfg.backend = "darknet";
    cfg.threads = 2; /* libdarknet is single-threaded: said, not ignored */
    assert_int_equal(specx_detector_open(&cfg, &det, &err), SPECX_EUNSUPPORTED);
    cfg.threads = 0;
    cfg.threshold = 1.5f;
    assert_int_equal(specx_detector_open(&cfg, &det, &err), SPECX_EINVAL);
}

static void test_missing_files(void **state)
{
    (void)state;
    char dir[1024], path[4096];
    specx_err err = {{0}};
    snprintf(dir, sizeof dir, "%s/noweights", tmpdir);
    make_model_dir(dir, 0);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_ENOTFOUND);
    path_in(path, sizeof path, dir, "yolo-fastest-1.1.weights");
    assert_mentions(&err, path);

    /* -416 needs its own cfg but the xl weights: the message names the cfg */
    assert_int_equal(open_in(dir, "yolo-fastest-1.1-xl-416", &err), SPECX_ENOTFOUND);
    assert_mentions(&err, "yolo-fastest-1.1-xl-416.cfg");

    snprintf(dir, sizeof dir, "%s/nonames", tmpdir);
    make_model_dir(dir, 1);
    path_in(path, sizeof path, dir, "coco.names");
    unlink(path);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_ENOTFOUND);
    assert_mentions(&err, path);
}

static void test_corrupt_files(void **state)
{
    (void)state;
    char dir[1024], path[4096], from[4096];
    specx_err err = {{0}};
    snprintf(dir, sizeof dir, "%s/corrupt", tmpdir);
    make_model_dir(dir, 1);
    /* The intact copy opens. */
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_OK);

    path_in(path, sizeof path, dir, "yolo-fastest-1.1.weights");
    path_in(from, sizeof from, shared_models, "yolo-fastest-1.1.weights");

    /* Truncated: 1 MB of the 1.38 MB. */
    copy_file(from, path, 1000000);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);
    assert_mentions(&err, "truncated");

    /* Truncated inside the header. */
    copy_file(from, path, 7);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);

    /* Right size, header kept, garbage values after it. */
    copy_file(from, path, -1);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 20, SEEK_SET), 0);
    uint32_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1664525u + 1013904223u;
        assert_int_equal(fwrite(&x, sizeof x, 1, f), 1);
    }
    fclose(f);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);
    assert_mentions(&err, "corrupt");

    /* Another model's weights (the xl ones): wrong size for this cfg. */
    path_in(from, sizeof from, shared_models, "yolo-fastest-1.1-xl.weights");
    copy_file(from, path, -1);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);

    /* Not a darknet weights file at all. */
    path_in(from, sizeof from, shared_models, "coco.names");
    copy_file(from, path, -1);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);

    /* A cfg that is not a darknet cfg (darknet itself would exit()). */
    path_in(from, sizeof from, shared_models, "yolo-fastest-1.1.weights");
    copy_file(from, path, -1);
    path_in(path, sizeof path, dir, "yolo-fastest-1.1.cfg");
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("<html>not found</html>\n", f);
    fclose(f);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, path);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[net]\nwidth=320\nheight=320\n[transformer]\nheads=8\n", f);
    fclose(f);
    assert_int_equal(open_in(dir, "yolo-fastest-1.1", &err), SPECX_EFORMAT);
    assert_mentions(&err, "transformer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_order),
        cmocka_unit_test(test_unknown_model_and_backend),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_corrupt_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
