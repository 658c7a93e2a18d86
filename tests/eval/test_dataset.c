/* test_dataset.c — the dataset loader: image sizes from hand-written
 * JPEG/PNG headers, YOLO labels to pixels, errors with file:line, and the
 * shared coco128_val / kitti_tiny sets (ground truth scored against itself
 * gives mAP 1; dropping every other box roughly halves recall). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/eval.h"

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_png_header(const char *path, uint32_t w, uint32_t h)
{
    uint8_t b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (uint8_t)(w >> (24 - 8 * i));
        b[20 + i] = (uint8_t)(h >> (24 - 8 * i));
    }
    b[24] = 8;
    b[25] = 2;
    write_file(path, b, sizeof b);
}

static void write_jpeg_header(const char *path, uint16_t w, uint16_t h)
{
    uint8_t b[] = {0xFF,       0xD8, /* SOI */
                   0xFF,       0xE0,
                   0x00,       0x10,
                   'J',        'F',
                   'I',        'F',
                   0,          1,
                   1,          0,
                   0,          1,
                   0,          1,
                   0,          0, /* APP0 */
                   0xFF,       0xDB,
                   0x00,       0x04,
                   0x00,       0x00, /* a tiny DQT */
                   0xFF,       0xC0,
                   0x00,       0x11,
                   0x08,       (uint8_t)(h >> 8),
                   (uint8_t)h, (uint8_t)(w >> 8),
                   (uint8_t)w, 0x03,
                   1,          0x22,
                   0,          2,
                   0x11,       1,
                   3,          0x11,
                   1, /* SOF0 */
                   0xFF,       0xD9};
    write_file(path, b, sizeof b);
}

static void test_synthetic_dataset(void **state)
{
    (void)state;
    char root[] = "/tmp/specx_eval_ds_XXXXXX";
    assert_non_null(mkdtemp(root));
    char p[512];
    snprintf(p, sizeof p, "%s/imgs", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/lbl", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/imgs/b.png", root);
    write_png_header(p, 200, 100);
    snprintf(p, sizeof p, "%s/imgs/a.jpg", root);
    write_jpeg_header(p, 640, 480);
    snprintf(p, sizeof p, "%s/imgs/c.jpeg", root); /* no label file: no objects */
    write_jpeg_header(p, 10, 20);
    snprintf(p, sizeof p, "%s/imgs/notes.txt", root); /* ignored */
    write_file(p, "x", 1);
    snprintf(p, sizeof p, "%s/lbl/a.txt", root);
    const char *la = "2 0.5 0.5 0.25 0.5\n\n0 0.1 0.2 0.2 0.2\n";
    write_file(p, la, strlen(la));
    snprintf(p, sizeof p, "%s/lbl/b.txt", root);
    const char *lb = "79 0.5 0.5 1.0 1.0\n";
    write_file(p, lb, strlen(lb));

    specx_eval_dataset *ds = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_eval_dataset_load(root, "imgs", "lbl", &ds, &err), SPECX_OK);
    assert_int_equal(ds->count, 3);
    assert_string_equal(ds->images[0].name, "a.jpg");
    assert_string_equal(ds->images[1].name, "b.png");
    assert_string_equal(ds->images[2].name, "c.jpeg");
    assert_int_equal(ds->images[0].width, 640);
    assert_int_equal(ds->images[0].height, 480);
    assert_int_equal(ds->images[1].width, 200);
    assert_int_equal(ds->images[1].height, 100);
    assert_int_equal(ds->images[2].n_boxes, 0);
    assert_int_equal(ds->images[0].n_boxes, 2);
    const specx_eval_box *b = &ds->images[0].boxes[0];
    assert_int_equal(b->class_id, 2);
    assert_true(b->xmin == 240.0f && b->xmax == 400.0f && b->ymin == 120.0f && b->ymax == 360.0f);
    b = &ds->images[1].boxes[0];
    assert_int_equal(b->class_id, 79);
    assert_true(b->xmin == 0.0f && b->xmax == 200.0f && b->ymin == 0.0f && b->ymax == 100.0f);
    specx_eval_dataset_free(ds);

    /* A malformed label names its file and line. */
    snprintf(p, sizeof p, "%s/lbl/b.txt", root);
    const char *bad = "1 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1\n";
    write_file(p, bad, strlen(bad));
    assert_int_equal(specx_eval_dataset_load(root, "imgs", "lbl", &ds, &err), SPECX_EFORMAT);
    assert_null(ds);
    assert_non_null(strstr(err.msg, "b.txt:2"));
    /* Out-of-range coordinates are refused too. */
    const char *bad2 = "1 1.7 0.5 0.1 0.1\n";
    write_file(p, bad2, strlen(bad2));
    assert_int_equal(specx_eval_dataset_load(root, "imgs", "lbl", &ds, &err), SPECX_EFORMAT);
    /* A missing image directory and a non-image file are clear errors. */
    assert_int_equal(specx_eval_dataset_load(root, NULL, "lbl", &ds, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "images"));
    int w, h;
    snprintf(p, sizeof p, "%s/imgs/notes.txt", root);
    assert_int_equal(specx_eval_image_size(p, &w, &h, &err), SPECX_EUNSUPPORTED);

    const char *files[] = {"imgs/a.jpg",     "imgs/b.png", "imgs/c.jpeg",
                           "imgs/notes.txt", "lbl/a.txt",  "lbl/b.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/imgs", root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/lbl", root);
    rmdir(p);
    rmdir(root);
}

static const char *assets(void)
{
    const char *a = getenv("SPECX_SHARED_ASSETS");
    return a && *a ? a : NULL;
}

/* Detections equal to the ground truth, optionally every other box only. */
static specx_detections *gt_as_dets(const specx_eval_dataset *ds, int keep_every)
{
    specx_detections *d = calloc(ds->count, sizeof *d);
    assert_non_null(d);
    size_t k = 0;
    for (size_t i = 0; i < ds->count; i++) {
        specx_detections_init(&d[i]);
        for (size_t j = 0; j < ds->images[i].n_boxes; j++, k++) {
            if (k % (size_t)keep_every != 0) {
                continue;
            }
            const specx_eval_box *b = &ds->images[i].boxes[j];
            specx_detection x = {.class_id = b->class_id,
                                 .score = 0.5f + 0.4f * (float)((k * 37) % 100) / 100.0f,
                                 .xmin = b->xmin,
                                 .ymin = b->ymin,
                                 .xmax = b->xmax,
                                 .ymax = b->ymax};
            assert_int_equal(specx_detections_push(&d[i], &x), SPECX_OK);
        }
    }
    return d;
}

static void free_dets(specx_detections *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        specx_detections_clear(&d[i]);
    }
    free(d);
}

static void test_coco128(void **state)
{
    (void)state;
    if (!assets()) {
        skip();
    }
    char root[512];
    snprintf(root, sizeof root, "%s/labeled/coco128_val", assets());
    if (access(root, R_OK) != 0) {
        skip();
    }
    specx_eval_dataset *ds = NULL;
    specx_err err = {{0}};
    specx_status st = specx_eval_dataset_load(root, NULL, NULL, &ds, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(ds->count, 128);
    size_t boxes = 0;
    for (size_t i = 0; i < ds->count; i++) {
        boxes += ds->images[i].n_boxes;
        for (size_t j = 0; j < ds->images[i].n_boxes; j++) {
            const specx_eval_box *b = &ds->images[i].boxes[j];
            assert_true(b->xmin >= -1 && b->xmax <= ds->images[i].width + 1);
            assert_true(b->ymin >= -1 && b->ymax <= ds->images[i].height + 1);
        }
    }
    assert_int_equal(boxes, 898);
    assert_string_equal(ds->images[0].name, "000000000139.jpg");
    assert_int_equal(ds->images[0].width, 640);
    assert_int_equal(ds->images[0].height, 426);

    specx_detections *d = gt_as_dets(ds, 1);
    specx_map_result r;
    assert_int_equal(specx_map_evaluate(ds->images, d, ds->count, NULL, &r, &err), SPECX_OK);
    assert_true(r.map > 0.999 && r.map50 > 0.999 && r.voc_map50 > 0.999);
    assert_int_equal(r.total_gt, 898);
    printf("coco128_val: %zu images, %zu boxes, %zu classes with boxes\n", ds->count, boxes,
           r.classes_with_gt);
    specx_map_result_free(&r);
    free_dets(d, ds->count);

    d = gt_as_dets(ds, 2);
    assert_int_equal(specx_map_evaluate(ds->images, d, ds->count, NULL, &r, &err), SPECX_OK);
    printf("coco128_val, every other box: mAP50 %.3f (VOC %.3f)\n", r.map50, r.voc_map50);
    assert_true(r.map50 > 0.3 && r.map50 < 0.75);
    specx_map_result_free(&r);
    free_dets(d, ds->count);
    specx_eval_dataset_free(ds);
}

static void test_kitti_tiny(void **state)
{
    (void)state;
    if (!assets()) {
        skip();
    }
    char root[512];
    snprintf(root, sizeof root, "%s/labeled/kitti_tiny", assets());
    if (access(root, R_OK) != 0) {
        skip();
    }
    specx_eval_dataset *ds = NULL;
    specx_err err = {{0}};
    specx_status st = specx_eval_dataset_load(root, "image_2", "labels_coco_yolo", &ds, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", err.msg);
    }
    assert_int_equal(ds->count, 75);
    assert_int_equal(ds->images[0].width, 1224);
    assert_int_equal(ds->images[0].height, 370);
    size_t boxes = 0;
    for (size_t i = 0; i < ds->count; i++) {
        boxes += ds->images[i].n_boxes;
    }
    assert_true(boxes > 75);
    specx_eval_dataset_free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_dataset),
        cmocka_unit_test(test_coco128),
        cmocka_unit_test(test_kitti_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
