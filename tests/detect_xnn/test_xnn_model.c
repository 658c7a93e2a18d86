/* test_xnn_model.c — the cfg/weights loader refuses what it cannot compute
 * and names the layer at fault: truncated or oversized weights, unknown
 * layer types and options, malformed lines, bad references, missing files,
 * and (int8) a layer the int8 path cannot compute. */
/* cmocka.h needs the four headers before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/xnn/xnn.h"
#include "xnn_test_util.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_tmp(char *path, const char *suffix, const void *data, size_t len)
{
    snprintf(path, 64, "/tmp/xnn_test_XXXXXX%s", suffix);
    int fd = mkstemps(path, (int)strlen(suffix));
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Opens with the given cfg text (NULL: the real one) and weights length
 * (SIZE_MAX: the real file; larger than the file: padded with zeros). */
static specx_status try_open(const char *cfg_text, size_t weights_len, specx_err *err)
{
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    size_t wl = 0;
    char *w = slurp(mf.weights, &wl);
    char cfgp[64], wp[64];
    if (cfg_text != NULL) {
        write_tmp(cfgp, ".cfg", cfg_text, strlen(cfg_text));
    }
    if (weights_len != SIZE_MAX) {
        char *buf = calloc(1, weights_len + 1);
        memcpy(buf, w, weights_len < wl ? weights_len : wl);
        write_tmp(wp, ".weights", buf, weights_len);
        free(buf);
    }
    sx_xnn *x = NULL;
    specx_status st =
        sx_xnn_open(cfg_text != NULL ? cfgp : mf.cfg, weights_len != SIZE_MAX ? wp : mf.weights,
                    mf.names, NULL, &x, err);
    sx_xnn_close(x);
    if (cfg_text != NULL) {
        unlink(cfgp);
    }
    if (weights_len != SIZE_MAX) {
        unlink(wp);
    }
    free(w);
    xt_model_files_free(&mf);
    return st;
}

static char *real_cfg(void)
{
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    size_t len;
    char *s = slurp(mf.cfg, &len);
    xt_model_files_free(&mf);
    return s;
}

/* Replaces the first occurrence of `from` (must exist) with `to`. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t n = strlen(s) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    size_t pre = (size_t)(p - s);
    memcpy(out, s, pre);
    strcpy(out + pre, to);
    strcat(out, p + strlen(from));
    return out;
}

static void test_real_model_loads(void **state)
{
    (void)state;
    specx_err err = {0};
    assert_int_equal(try_open(NULL, SIZE_MAX, &err), SPECX_OK);
}

static void test_truncated_weights(void **state)
{
    (void)state;
    specx_err err = {0};
    assert_int_equal(try_open(NULL, 100000, &err), SPECX_EFORMAT);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "file ends inside layer"));
    assert_non_null(strstr(err.msg, "[convolutional]"));
    assert_non_null(strstr(err.msg, "more bytes"));
    /* header only */
    assert_int_equal(try_open(NULL, 2, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "header"));
}

static void test_oversized_weights(void **state)
{
    (void)state;
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    size_t wl;
    free(slurp(mf.weights, &wl));
    xt_model_files_free(&mf);
    specx_err err = {0};
    assert_int_equal(try_open(NULL, wl + 64, &err), SPECX_EFORMAT);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "64 bytes left over"));
}

static void test_unknown_layer(void **state)
{
    (void)state;
    char *cfg = real_cfg();
    char *bad = replace(cfg, "[upsample]", "[reorg]");
    specx_err err = {0};
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EUNSUPPORTED);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "[reorg]"));
    assert_non_null(strstr(err.msg, "layer 123"));
    free(bad);
    free(cfg);
}

static void test_unknown_option(void **state)
{
    (void)state;
    char *cfg = real_cfg();
    char *bad = replace(cfg, "groups=8", "groups=8\ndilation=2");
    specx_err err = {0};
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EUNSUPPORTED);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "dilation"));
    assert_non_null(strstr(err.msg, "layer 2 [convolutional]"));
    free(bad);
    /* an activation we do not compute */
    bad = replace(cfg, "activation=leaky", "activation=mish");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "mish"));
    free(bad);
    /* shortcut weights other than 1 change the sum */
    bad = replace(cfg, "from=-5", "from=-5\nbeta=0.5");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "[shortcut]"));
    free(bad);
    free(cfg);
}

/* int8 cannot compute a logistic activation: refused naming the layer (with
 * every layer in int8, so the first one the cfg has is reached) */
static void test_int8_unsupported(void **state)
{
    (void)state;
    char *cfg = real_cfg();
    char *bad = replace(cfg, "activation=linear", "activation=logistic");
    char cfgp[64];
    write_tmp(cfgp, ".cfg", bad, strlen(bad));
    xt_model mf;
    assert_int_equal(xt_model_files("yolo-fastest-1.1", &mf), 0);
    sx_xnn_opts o = {.precision = SX_XNN_INT8, .flags = SX_XNN_ALL_INT8};
    sx_xnn *x = NULL;
    specx_err err = {0};
    assert_int_equal(sx_xnn_open(cfgp, mf.weights, mf.names, &o, &x, &err), SPECX_EUNSUPPORTED);
    printf("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "int8: layer 3 [convolutional]"));
    assert_non_null(strstr(err.msg, "logistic"));
    /* fp32 computes it */
    o.precision = SX_XNN_FP32;
    assert_int_equal(sx_xnn_open(cfgp, mf.weights, mf.names, &o, &x, &err), SPECX_OK);
    sx_xnn_close(x);
    unlink(cfgp);
    xt_model_files_free(&mf);
    free(bad);
    free(cfg);
}

static void test_malformed(void **state)
{
    (void)state;
    char *cfg = real_cfg();
    specx_err err = {0};
    char *bad = replace(cfg, "filters=8", "filters 8");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "key=value"));
    free(bad);
    bad = replace(cfg, "filters=8", "filters=eight");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "not an integer"));
    free(bad);
    /* a route to a layer that does not exist yet */
    bad = replace(cfg, "layers=-1,80", "layers=-1,200");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "[route]"));
    free(bad);
    /* a yolo layer whose input does not fit its classes */
    bad = replace(cfg, "classes=80", "classes=20");
    assert_int_equal(try_open(bad, SIZE_MAX, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "[yolo]"));
    free(bad);
    free(cfg);
}

static void test_missing_files(void **state)
{
    (void)state;
    sx_xnn *x = NULL;
    specx_err err = {0};
    assert_int_equal(
        sx_xnn_open("/nonexistent/a.cfg", "/nonexistent/a.weights", NULL, NULL, &x, &err),
        SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/a.cfg"));
    assert_null(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_model_loads),  cmocka_unit_test(test_truncated_weights),
        cmocka_unit_test(test_oversized_weights), cmocka_unit_test(test_unknown_layer),
        cmocka_unit_test(test_unknown_option),    cmocka_unit_test(test_int8_unsupported),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_missing_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
