/* test_cfg_check.c — the one model check (src/detect/cfg_check.h) on its
 * own: the shipped models pass and their parameter counts are exactly what
 * their weights files hold; small cfgs show the shape arithmetic and that
 * errors point at the offending line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "cfg_check.h"

static const char *models_dir(void)
{
    static char buf[4096];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(buf, sizeof buf, "%s/models", a != NULL ? a : "../shared/assets");
    return buf;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void shipped_models(void **state)
{
    (void)state;
    static const struct {
        const char *cfg, *weights;
        int side;
    } m[] = {
        {"yolo-fastest-1.1.cfg", "yolo-fastest-1.1.weights", 320},
        {"yolo-fastest-1.1-xl.cfg", "yolo-fastest-1.1-xl.weights", 320},
        {"yolo-fastest-1.1-xl-416.cfg", "yolo-fastest-1.1-xl.weights", 416},
        {"alt/MobileNetV2-YOLOv3-Nano-coco.cfg", "alt/MobileNetV2-YOLOv3-Nano-coco.weights", 320},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", models_dir(), m[i].cfg);
        size_t len;
        char *text = slurp(path, &len);
        sx_detect_cfg_summary s;
        specx_err err = {{0}};
        specx_status st = sx_detect_cfg_parse(text, len, m[i].cfg, &s, &err);
        free(text);
        if (st != SPECX_OK) {
            fail_msg("%s: %s", m[i].cfg, specx_err_text(&err, st));
        }
        assert_int_equal(s.width, m[i].side);
        assert_int_equal(s.height, m[i].side);
        assert_int_equal(s.yolo_layers, 2);
        assert_int_equal(s.max_classes, 80);
        /* the parameters counted are exactly the weights file after its
         * 20-byte header */
        snprintf(path, sizeof path, "%s/%s", models_dir(), m[i].weights);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(20 + 4 * s.param_floats, (long long)sb.st_size);
        printf("%-40s %d layers, %lld parameters, %lld activation floats\n", m[i].cfg, s.layers,
               s.param_floats, s.activation_floats);
    }
}

#define NET "[net]\nwidth=64\nheight=32\nchannels=3\n"
#define YOLO "[yolo]\nmask=0\nanchors=10,14\nclasses=2\nnum=1\n"

static specx_status parse(const char *text, sx_detect_cfg_summary *s, specx_err *err)
{
    return sx_detect_cfg_parse(text, strlen(text), "t.cfg", s, err);
}

static void shapes(void **state)
{
    (void)state;
    sx_detect_cfg_summary s;
    specx_err err = {{0}};
    /* 64x32x3 -> conv 3x3/2 pad (8: 32x16) -> maxpool 2/2 (8: 16x8) ->
     * conv 1x1 to 7 = 1 x (2 + 5) -> yolo */
    const char *ok = NET "[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nbatch_normalize=1\n"
                         "activation=leaky\n"
                         "[maxpool]\nsize=2\nstride=2\n"
                         "[convolutional]\nfilters=7\nsize=1\nactivation=linear\n" YOLO;
    specx_status st = parse(ok, &s, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", specx_err_text(&err, st));
    }
    assert_int_equal(s.layers, 4);
    /* 8 * 4 + 3*8*9, then 7 + 8*7 */
    assert_int_equal(s.param_floats, 8 * 4 + 3 * 8 * 9 + 7 + 8 * 7);
    assert_int_equal(s.activation_floats, 32 * 16 * 8 + 16 * 8 * 8 + 16 * 8 * 7 * 2);

    /* the yolo input must be mask x (classes + 5) channels */
    const char *wrong =
        NET "[convolutional]\nfilters=8\nsize=1\nactivation=linear\n" YOLO; /* 8 != 7 */
    assert_int_equal(parse(wrong, &s, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "needs 1 x (2 classes + 5)"));

    /* errors name the line of the offending key */
    const char *bad = NET "[convolutional]\nfilters=8\nsize=3\n  stride = 0 \n" YOLO;
    assert_int_equal(parse(bad, &s, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, "t.cfg line 8: layer 0 [convolutional]: stride=0"));

    /* darknet's atoi would read these as 2 and 0 */
    assert_int_equal(parse(NET "[convolutional]\nfilters=2e9\n" YOLO, &s, &err), SPECX_EFORMAT);
    assert_int_equal(parse(NET "[convolutional]\nfilters=abc\n" YOLO, &s, &err), SPECX_EFORMAT);
    /* a key before any section, binary data, no layers, last not yolo */
    assert_int_equal(parse("width=3\n" NET YOLO, &s, &err), SPECX_EFORMAT);
    assert_int_equal(sx_detect_cfg_parse(NET "\0" YOLO, sizeof(NET) + 5, "t", &s, &err),
                     SPECX_EFORMAT);
    assert_int_equal(parse(NET, &s, &err), SPECX_EFORMAT);
    assert_int_equal(parse(NET "[convolutional]\nfilters=7\nsize=1\n", &s, &err), SPECX_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_models),
        cmocka_unit_test(shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
