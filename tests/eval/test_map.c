/* test_map.c — mean average precision on hand-made cases whose AP is worked
 * out in the comments: perfect, none, half matched, duplicates, crowds of
 * boxes, several classes, IoU threshold edges, area ranges, max_dets, and
 * where the COCO and VOC/darknet rules part ways. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/eval.h"

#define EPS 1e-9
#define MAX_BOXES 64

/* One image of ground truth and detections, built by hand. */
typedef struct fixture {
    specx_eval_image im[4];
    specx_eval_box gt[4][MAX_BOXES];
    specx_detections dets[4];
    size_t n_images;
} fixture;

static void fx_init(fixture *f, size_t n_images)
{
    memset(f, 0, sizeof *f);
    f->n_images = n_images;
    for (size_t i = 0; i < n_images; i++) {
        f->im[i].boxes = f->gt[i];
        f->im[i].width = f->im[i].height = 1000;
        specx_detections_init(&f->dets[i]);
    }
}

static void fx_free(fixture *f)
{
    for (size_t i = 0; i < f->n_images; i++) {
        specx_detections_clear(&f->dets[i]);
    }
}

static void gt(fixture *f, size_t img, int cls, float x0, float y0, float x1, float y1)
{
    f->gt[img][f->im[img].n_boxes++] =
        (specx_eval_box){.class_id = cls, .xmin = x0, .ymin = y0, .xmax = x1, .ymax = y1};
}

static void crowd(fixture *f, size_t img, int cls, float x0, float y0, float x1, float y1)
{
    gt(f, img, cls, x0, y0, x1, y1);
    f->gt[img][f->im[img].n_boxes - 1].crowd = 1;
}

static void det(fixture *f, size_t img, int cls, float score, float x0, float y0, float x1,
                float y1)
{
    specx_detection d = {
        .class_id = cls, .score = score, .xmin = x0, .ymin = y0, .xmax = x1, .ymax = y1};
    assert_int_equal(specx_detections_push(&f->dets[img], &d), SPECX_OK);
}

static specx_map_result run(fixture *f, const specx_map_options *o)
{
    specx_map_result r;
    specx_err err = {{0}};
    assert_int_equal(specx_map_evaluate(f->im, f->dets, f->n_images, o, &r, &err), SPECX_OK);
    return r;
}

static void test_iou(void **state)
{
    (void)state;
    assert_true(fabs(specx_eval_iou(0, 0, 10, 10, 0, 0, 10, 10) - 1.0) < EPS);
    assert_true(fabs(specx_eval_iou(0, 0, 10, 10, 0, 0, 10, 5) - 0.5) < EPS);
    assert_true(fabs(specx_eval_iou(0, 0, 10, 10, 5, 0, 15, 10) - 50.0 / 150.0) < EPS);
    assert_true(specx_eval_iou(0, 0, 10, 10, 10, 0, 20, 10) == 0.0); /* touching */
    assert_true(specx_eval_iou(0, 0, 0, 0, 0, 0, 0, 0) == 0.0);      /* empty */
}

static void test_perfect_and_none(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 2);
    gt(&f, 0, 0, 10, 10, 50, 60);
    gt(&f, 0, 0, 100, 100, 200, 220);
    gt(&f, 1, 0, 300, 300, 400, 380);
    det(&f, 0, 0, 0.9f, 10, 10, 50, 60);
    det(&f, 0, 0, 0.8f, 100, 100, 200, 220);
    det(&f, 1, 0, 0.7f, 300, 300, 400, 380);
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map50 - 1.0) < EPS);
    assert_true(fabs(r.map75 - 1.0) < EPS);
    assert_true(fabs(r.map - 1.0) < EPS);
    assert_true(fabs(r.voc_map50 - 1.0) < EPS);
    assert_int_equal(r.classes_with_gt, 1);
    assert_int_equal(r.total_gt, 3);
    assert_int_equal(r.total_det, 3);
    /* darknet divides by all 80 COCO classes. */
    assert_true(fabs(r.darknet_map50 - 1.0 / 80.0) < EPS);
    specx_map_result_free(&r);

    /* No detections at all: AP 0. */
    specx_detections_reset(&f.dets[0]);
    specx_detections_reset(&f.dets[1]);
    r = run(&f, NULL);
    assert_true(r.map50 == 0.0 && r.map == 0.0 && r.voc_map50 == 0.0);
    assert_true(r.ap50[0] == 0.0);
    specx_map_result_free(&r);
    fx_free(&f);

    /* No ground truth anywhere: no class counts, mAP reported as 0, and
     * per-class entries are -1 (undefined). */
    fx_init(&f, 1);
    det(&f, 0, 3, 0.9f, 0, 0, 10, 10);
    r = run(&f, NULL);
    assert_int_equal(r.classes_with_gt, 0);
    assert_int_equal(r.num_classes, 4);
    assert_true(r.ap50[3] == -1.0);
    assert_true(r.map50 == 0.0);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_half_matched(void **state)
{
    (void)state;
    /* 4 truths, 2 exact detections: recall 0.5 at precision 1.
     * COCO: recall points 0.00..0.50 (51 of 101) have precision 1 → 51/101.
     * VOC all-point: 0.5 · 1 = 0.5. */
    fixture f;
    fx_init(&f, 1);
    for (int i = 0; i < 4; i++) {
        gt(&f, 0, 0, 100.0f * i, 0, 100.0f * i + 50, 50);
    }
    det(&f, 0, 0, 0.9f, 0, 0, 50, 50);
    det(&f, 0, 0, 0.8f, 100, 0, 150, 50);
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map50 - 51.0 / 101.0) < EPS);
    assert_true(fabs(r.map - 51.0 / 101.0) < EPS);
    assert_true(fabs(r.voc_map50 - 0.5) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);

    /* TP, FP, TP on 2 truths: recall .5 .5 1, precision 1 .5 .667, envelope
     * 1 .667 .667. COCO: 51 points at 1 and 50 at 2/3 → (51 + 100/3)/101.
     * VOC: .5·1 + .5·(2/3) = 5/6. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 50, 50);
    gt(&f, 0, 0, 100, 0, 150, 50);
    det(&f, 0, 0, 0.9f, 0, 0, 50, 50);
    det(&f, 0, 0, 0.8f, 500, 500, 550, 550);
    det(&f, 0, 0, 0.7f, 100, 0, 150, 50);
    r = run(&f, NULL);
    assert_true(fabs(r.map50 - (51.0 + 100.0 / 3.0) / 101.0) < EPS);
    assert_true(fabs(r.voc_map50 - 5.0 / 6.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_duplicates(void **state)
{
    (void)state;
    /* Two detections of one object: the second is a false positive, but it
     * ranks after the hit, so AP stays 1 (precision at recall 1 is 1). */
    fixture f;
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 100, 100);
    det(&f, 0, 0, 0.9f, 0, 0, 100, 100);
    det(&f, 0, 0, 0.8f, 2, 2, 100, 100);
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map50 - 1.0) < EPS);
    assert_true(fabs(r.voc_map50 - 1.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);

    /* The duplicate scores higher than the good box: FP then TP → precision
     * .5 at recall 1 → AP 0.5 under both rules. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 100, 100);
    det(&f, 0, 0, 0.5f, 0, 0, 100, 100);
    det(&f, 0, 0, 0.9f, 300, 300, 400, 400);
    r = run(&f, NULL);
    assert_true(fabs(r.map50 - 0.5) < EPS);
    assert_true(fabs(r.voc_map50 - 0.5) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_coco_vs_voc_matching(void **state)
{
    (void)state;
    /* g1=[0,10], g2=[2,12] overlap. d1 (0.9) = g1 exactly. d2 (0.8) =
     * [0.5,10.5]: IoU .905 with g1 (taken), .739 with g2. COCO gives d2 the
     * best *unmatched* truth g2 (TP for t <= .7) → AP50 = 1; VOC looks only
     * at d2's best truth g1, taken → FP → AP = .5·1 = 0.5. */
    fixture f;
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 10, 10);
    gt(&f, 0, 0, 2, 0, 12, 10);
    det(&f, 0, 0, 0.9f, 0, 0, 10, 10);
    det(&f, 0, 0, 0.8f, 0.5f, 0, 10.5f, 10);
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map50 - 1.0) < EPS);
    assert_true(fabs(r.voc_map50 - 0.5) < EPS);
    /* t = .5 .55 .6 .65 .7 → AP 1; t >= .75 → d2 is FP: recall .5 → 51/101. */
    double want = (5 * 1.0 + 5 * 51.0 / 101.0) / 10.0;
    assert_true(fabs(r.map - want) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_crowd_of_boxes(void **state)
{
    (void)state;
    /* Ten heavily overlapping truths (each shifted by 4 px), detected
     * exactly, scores in an order unrelated to position: greedy matching
     * still pairs each detection with its own truth → AP 1 at every IoU. */
    fixture f;
    fx_init(&f, 1);
    static const int order[10] = {3, 7, 0, 9, 5, 1, 8, 2, 6, 4};
    for (int i = 0; i < 10; i++) {
        gt(&f, 0, 0, 4.0f * i, 0, 4.0f * i + 40, 40);
    }
    for (int i = 0; i < 10; i++) {
        int k = order[i];
        det(&f, 0, 0, 0.95f - 0.05f * i, 4.0f * k, 0, 4.0f * k + 40, 40);
    }
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map - 1.0) < EPS);
    assert_true(fabs(r.voc_map50 - 1.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);

    /* A crowd region (COCO iscrowd) swallows detections inside it: they are
     * neither hits nor false positives, and the region is never a miss. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 50, 50);
    crowd(&f, 0, 0, 200, 200, 600, 600);
    det(&f, 0, 0, 0.95f, 210, 210, 260, 260);
    det(&f, 0, 0, 0.9f, 300, 300, 350, 350);
    det(&f, 0, 0, 0.85f, 0, 0, 50, 50);
    det(&f, 0, 0, 0.8f, 400, 400, 500, 500);
    r = run(&f, NULL);
    assert_int_equal(r.total_gt, 1);
    assert_true(fabs(r.map - 1.0) < EPS);
    /* VOC has no crowd regions, only "difficult" boxes matched by plain IoU:
     * the small boxes inside the region overlap it by < 0.5 and are false
     * positives: FP FP TP FP → precision 1/3 at recall 1 → AP 1/3. */
    assert_true(fabs(r.voc_map50 - 1.0 / 3.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_multiple_classes(void **state)
{
    (void)state;
    /* class 0: perfect (AP 1); class 1: missed (AP 0); class 2: detections
     * but no truth (left out); a class-1 box detected as class 0 does not
     * count for class 1 and is a false positive for class 0 ranked last. */
    fixture f;
    fx_init(&f, 2);
    gt(&f, 0, 0, 0, 0, 50, 50);
    gt(&f, 1, 0, 0, 0, 80, 80);
    gt(&f, 0, 1, 100, 100, 200, 200);
    det(&f, 0, 0, 0.9f, 0, 0, 50, 50);
    det(&f, 1, 0, 0.8f, 0, 0, 80, 80);
    det(&f, 0, 0, 0.3f, 100, 100, 200, 200); /* right box, wrong class */
    det(&f, 1, 2, 0.99f, 500, 500, 600, 600);
    specx_map_options o = {.num_classes = 4};
    specx_map_result r = run(&f, &o);
    assert_int_equal(r.num_classes, 3);
    assert_int_equal(r.classes_with_gt, 2);
    assert_true(fabs(r.ap50[0] - 1.0) < EPS);
    assert_true(r.ap50[1] == 0.0);
    assert_true(r.ap50[2] == -1.0);
    assert_true(fabs(r.map50 - 0.5) < EPS);
    assert_true(fabs(r.voc_map50 - 0.5) < EPS);
    assert_true(fabs(r.darknet_map50 - 1.0 / 4.0) < EPS);
    assert_int_equal(r.n_gt[0], 2);
    assert_int_equal(r.n_gt[1], 1);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_iou_threshold_edges(void **state)
{
    (void)state;
    /* IoU exactly 0.5: a hit for COCO (IoU >= t) at t = .5 only; a miss for
     * VOC/darknet (IoU > .5). */
    fixture f;
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 10, 10);
    det(&f, 0, 0, 0.9f, 0, 0, 10, 5);
    specx_map_result r = run(&f, NULL);
    assert_true(fabs(r.map50 - 1.0) < EPS);
    assert_true(r.map75 == 0.0);
    assert_true(fabs(r.map - 0.1) < EPS);
    assert_true(r.voc_map50 == 0.0);
    specx_map_result_free(&r);
    fx_free(&f);

    /* IoU exactly 0.75: hits at t = .5 .55 .6 .65 .7 .75 → mAP 0.6. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 10, 10);
    det(&f, 0, 0, 0.9f, 0, 0, 10, 7.5f);
    r = run(&f, NULL);
    assert_true(fabs(r.map75 - 1.0) < EPS);
    assert_true(fabs(r.map - 0.6) < EPS);
    assert_true(fabs(r.voc_map50 - 1.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);

    /* Just under 0.5: a miss everywhere. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 10, 10);
    det(&f, 0, 0, 0.9f, 0, 0, 10, 4.99f);
    r = run(&f, NULL);
    assert_true(r.map50 == 0.0);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_area_ranges_and_max_dets(void **state)
{
    (void)state;
    /* A small (20×20) and a large (200×200) object, both found; medium
     * has no truth (-1). A small false positive ranked first hurts "all"
     * and "small" but is ignored for "large" (outside its range). */
    fixture f;
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 20, 20);
    gt(&f, 0, 0, 300, 300, 500, 500);
    det(&f, 0, 0, 0.95f, 700, 700, 710, 710); /* small FP */
    det(&f, 0, 0, 0.9f, 0, 0, 20, 20);
    det(&f, 0, 0, 0.8f, 300, 300, 500, 500);
    specx_map_result r = run(&f, NULL);
    assert_true(r.map_area[SPECX_AREA_MEDIUM] == -1.0);
    assert_true(fabs(r.map_area[SPECX_AREA_LARGE] - 1.0) < EPS);
    /* small: FP then TP over 1 truth → precision .5 at recall 1 → 0.5. */
    assert_true(fabs(r.map_area[SPECX_AREA_SMALL] - 0.5) < EPS);
    /* all: FP, TP, TP over 2 truths → precision (.5, .667) at recall
     * (.5, 1), envelope .667 everywhere → 2/3. */
    assert_true(fabs(r.map - 2.0 / 3.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);

    /* max_dets: the hit ranked third is cut when only two are kept. */
    fx_init(&f, 1);
    gt(&f, 0, 0, 0, 0, 50, 50);
    det(&f, 0, 0, 0.9f, 100, 100, 150, 150);
    det(&f, 0, 0, 0.8f, 200, 200, 250, 250);
    det(&f, 0, 0, 0.7f, 0, 0, 50, 50);
    specx_map_options o = {.max_dets = 2};
    r = run(&f, &o);
    assert_true(r.map50 == 0.0);
    assert_true(fabs(r.voc_map50 - 1.0 / 3.0) < EPS); /* VOC has no cap */
    specx_map_result_free(&r);
    r = run(&f, NULL);
    assert_true(fabs(r.map50 - 1.0 / 3.0) < EPS);
    specx_map_result_free(&r);
    fx_free(&f);
}

static void test_bad_input(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f, 1);
    gt(&f, 0, -1, 0, 0, 10, 10);
    specx_map_result r;
    specx_err err = {{0}};
    assert_int_equal(specx_map_evaluate(f.im, f.dets, 1, NULL, &r, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "negative class"));
    assert_null(r.ap50);
    assert_int_equal(specx_map_evaluate(NULL, NULL, 3, NULL, &r, &err), SPECX_EINVAL);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iou),
        cmocka_unit_test(test_perfect_and_none),
        cmocka_unit_test(test_half_matched),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_coco_vs_voc_matching),
        cmocka_unit_test(test_crowd_of_boxes),
        cmocka_unit_test(test_multiple_classes),
        cmocka_unit_test(test_iou_threshold_edges),
        cmocka_unit_test(test_area_ranges_and_max_dets),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
