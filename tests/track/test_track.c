/* test_track.c — the tracker (track/track.h) on synthetic tracks whose
 * answers are known: association (which local track a late cloud object
 * follows, also when two candidates overlap it), motion (moving with its
 * anchor track, constant velocity between cloud answers), age expiry, score
 * decay, the deny rule, scene cuts, in-time answers, stale answers. Frames
 * are 100 ms apart (10 fps) unless a test says otherwise. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "track/track.h"

#define CAR 2
#define PERSON 0
#define FT(f) (SPECX_SEC(1) + (specx_time_t)(f)*SPECX_MS(100))
#define EPS 1e-3f

static specx_detection det(int cls, float score, float x, float y, float w, float h)
{
    specx_detection d = {.class_id = cls, .score = score, .xmin = x, .ymin = y};
    d.xmax = x + w;
    d.ymax = y + h;
    return d;
}

/* A list of n detections on a 1000 x 500 image. */
static specx_detections dets(size_t n, const specx_detection *v)
{
    specx_detections d;
    specx_detections_init(&d);
    d.image_width = 1000;
    d.image_height = 500;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(specx_detections_push(&d, &v[i]), SPECX_OK);
    }
    return d;
}

static sx_track *make(const sx_track_config *c)
{
    sx_track *t = NULL;
    specx_err err = {{0}};
    assert_int_equal(sx_track_create(c, &t, &err), SPECX_OK);
    return t;
}

static void step(sx_track *t, int64_t f, const specx_detections *l, const specx_detections *c,
                 sx_track_frame *out)
{
    specx_err err = {{0}};
    assert_int_equal(sx_track_step(t, f, FT(f), l, c, out, &err), SPECX_OK);
}

static void cloud(sx_track *t, int64_t f, const specx_detections *d)
{
    specx_err err = {{0}};
    assert_int_equal(sx_track_cloud(t, f, FT(f), d, &err), SPECX_OK);
}

/* The local track frames: car A moving +10 px per frame from x = 100 and
 * car B moving -10 px per frame from x = 600, both 100 x 50 at y = 200. */
static specx_detections two_cars(int64_t f)
{
    specx_detection v[2] = {det(CAR, 0.9f, 100 + 10 * (float)f, 200, 100, 50),
                            det(CAR, 0.8f, 600 - 10 * (float)f, 200, 100, 50)};
    return dets(2, v);
}

static size_t count_origin(const sx_track_frame *o, sx_track_origin origin)
{
    size_t n = 0;
    for (size_t i = 0; i < o->dets.count; i++) {
        n += o->info[i].origin == origin;
    }
    return n;
}

static const specx_detection *find_origin(const sx_track_frame *o, sx_track_origin origin, size_t k)
{
    for (size_t i = 0; i < o->dets.count; i++) {
        if (o->info[i].origin == origin && k-- == 0) {
            return &o->dets.items[i];
        }
    }
    return NULL;
}

/* A late answer for frame 2 (boxes 4 px right of the local ones, 10 % wider,
 * the cloud's scores) reaches frame 5: each cloud box follows the local track
 * it matched at frame 2 (its position and scale relative to it kept), and
 * replaces that track's local detection. */
static void test_carried_follows_anchor(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.half_life_ms = 1e9});
    sx_track_frame o;
    sx_track_frame_init(&o);
    for (int64_t f = 0; f <= 4; f++) {
        specx_detections l = two_cars(f);
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
    }
    specx_detection cv[2] = {det(CAR, 0.7f, 600 - 20 + 4 - 5, 200, 110, 50),
                             det(CAR, 0.95f, 100 + 20 + 4 - 5, 200, 110, 50)};
    specx_detections c = dets(2, cv);
    cloud(t, 2, &c);
    specx_detections l = two_cars(5);
    step(t, 5, &l, NULL, &o);
    assert_int_equal(o.source, SX_TRACK_SRC_FUSED);
    assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 2);
    assert_int_equal(count_origin(&o, SX_TRACK_LOCAL), 0); /* both replaced */
    for (size_t k = 0; k < 2; k++) {
        const specx_detection *d = find_origin(&o, SX_TRACK_CARRIED, k);
        /* car A at frame 5: x 150..250; B: 550..650; cloud box centre +4, width 110 */
        bool is_a = d->score > 0.9f;
        float cx = is_a ? 200 + 4 : 600 + 4;
        assert_float_equal((d->xmin + d->xmax) / 2, cx, EPS);
        assert_float_equal(d->xmax - d->xmin, 110, EPS);
        assert_float_equal(d->ymin, 200, EPS);
        assert_float_equal(d->score, is_a ? 0.95f : 0.7f, 1e-6);
    }
    const sx_track_info *info = &o.info[0];
    assert_int_equal(info->age_frames, 3);
    assert_float_equal(info->age_ms, 300, 1e-6);
    specx_detections_clear(&l);
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* Two cars of one class overlap the cloud's box: it goes with the one it
 * overlaps more (greedy by IoU), and a box of another class matches neither. */
static void test_association_by_iou_and_class(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.half_life_ms = 1e9});
    sx_track_frame o;
    sx_track_frame_init(&o);
    /* P at x 100..200 still, Q at x 160..260 moving +20 px per frame */
    for (int64_t f = 0; f <= 3; f++) {
        specx_detection v[2] = {det(CAR, 0.9f, 100, 100, 100, 100),
                                det(CAR, 0.9f, 160 + 20 * (float)f, 100, 100, 100)};
        specx_detections l = dets(2, v);
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
    }
    /* at frame 1 Q is at 180..280: the cloud's 170..270 overlaps Q (IoU 0.82)
     * more than P (IoU 0.18); the person at P's place matches no car */
    specx_detection cv[2] = {det(CAR, 0.6f, 170, 100, 100, 100),
                             det(PERSON, 0.6f, 100, 100, 100, 100)};
    specx_detections c = dets(2, cv);
    cloud(t, 1, &c);
    specx_detection v[2] = {det(CAR, 0.9f, 100, 100, 100, 100), det(CAR, 0.9f, 240, 100, 100, 100)};
    specx_detections l = dets(2, v);
    step(t, 4, &l, NULL, &o);
    const specx_detection *car = NULL, *person = NULL;
    for (size_t i = 0; i < o.dets.count; i++) {
        if (o.info[i].origin == SX_TRACK_CARRIED) {
            *(o.dets.items[i].class_id == CAR ? &car : &person) = &o.dets.items[i];
        }
    }
    assert_non_null(car);
    /* with Q (240..340 at frame 4), 10 px left of it as at frame 1 */
    assert_float_equal(car->xmin, 230, EPS);
    /* the person matched no track of its class and was seen once: nothing
     * to follow it by, not carried */
    assert_null(person);
    assert_int_equal(count_origin(&o, SX_TRACK_LOCAL), 1); /* P stays, Q replaced */
    assert_float_equal(find_origin(&o, SX_TRACK_LOCAL, 0)->xmin, 100, EPS);
    specx_detections_clear(&l);
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* An object only the cloud sees (a far car the local model misses) is not
 * carried after one sighting; after two it moves at the velocity measured
 * between them: seen at x 700 at frame 1 and at x 730 at frame 4
 * (+0.1 px/ms), it is at x 760 at frame 7. */
static void test_cloud_only_constant_velocity(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.half_life_ms = 1e9});
    sx_track_frame o;
    sx_track_frame_init(&o);
    specx_detection far1 = det(CAR, 0.5f, 700, 100, 100, 20);
    specx_detection far4 = det(CAR, 0.5f, 730, 100, 100, 20);
    for (int64_t f = 0; f <= 7; f++) {
        if (f == 3) {
            specx_detections c = dets(1, &far1);
            cloud(t, 1, &c);
            specx_detections_clear(&c);
        }
        if (f == 6) {
            specx_detections c = dets(1, &far4);
            cloud(t, 4, &c);
            specx_detections_clear(&c);
        }
        specx_detections l = two_cars(f); /* keeps the scene continuous */
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
        if (f == 3) { /* one sighting: no velocity yet, nothing to follow it by */
            assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 0);
        }
    }
    assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 1);
    const specx_detection *d = find_origin(&o, SX_TRACK_CARRIED, 0);
    assert_float_equal(d->xmin, 760, EPS);
    assert_float_equal(d->ymin, 100, EPS);
    assert_int_equal(count_origin(&o, SX_TRACK_LOCAL), 2);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* Scores halve every half_life_ms; beyond max_age_ms nothing is carried
 * (the cloud's car A, anchored to its track, at frame 1). */
static void test_decay_and_age_limit(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.half_life_ms = 100, .max_age_ms = 350});
    sx_track_frame o;
    sx_track_frame_init(&o);
    specx_detection far = det(CAR, 0.8f, 110, 200, 100, 50);
    specx_detections c = dets(1, &far);
    float want[] = {0, 0, 0.4f, 0.2f, 0.1f, -1, -1};
    for (int64_t f = 0; f <= 6; f++) {
        if (f == 1) {
            cloud(t, 1, &c);
        }
        specx_detections l = two_cars(f);
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
        if (f >= 2) {
            const specx_detection *d = find_origin(&o, SX_TRACK_CARRIED, 0);
            if (want[f] < 0) {
                assert_null(d); /* 400 ms and 500 ms old */
            } else {
                assert_non_null(d);
                assert_float_equal(d->score, want[f], 1e-5);
            }
        }
    }
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* Deny: the cloud's answer for frame 2 has car B but not car A: A's local
 * detections are scored deny_factor x until an answer confirms A again. */
static void test_deny_rule(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.deny_factor = 0.25f, .max_age_ms = 1e6});
    sx_track_frame o;
    sx_track_frame_init(&o);
    specx_detection only_b = det(CAR, 0.9f, 580, 200, 100, 50);
    specx_detections c = dets(1, &only_b);
    for (int64_t f = 0; f <= 6; f++) {
        if (f == 3) {
            cloud(t, 2, &c);
        }
        if (f == 5) { /* frame 4: A at 140, B at 560 — both confirmed */
            specx_detections both = two_cars(4);
            cloud(t, 4, &both);
            specx_detections_clear(&both);
        }
        specx_detections l = two_cars(f);
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
        const specx_detection *a = NULL;
        const sx_track_info *ai = NULL;
        for (size_t i = 0; i < o.dets.count; i++) {
            if (o.info[i].origin == SX_TRACK_LOCAL && o.dets.items[i].xmin < 400) {
                a = &o.dets.items[i];
                ai = &o.info[i];
            }
        }
        if (f < 5) {
            assert_non_null(a); /* A is never replaced: no cloud object of it */
            assert_int_equal(ai->denied, f >= 3);
            assert_float_equal(a->score, f >= 3 ? 0.9f * 0.25f : 0.9f, 1e-6);
        } else {
            /* confirmed: A is now the cloud's (carried) box, not denied */
            assert_null(a);
        }
    }
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* A scene cut (local detections of an unrelated picture) stops carrying:
 * nothing links the old answer to the new scene. */
static void test_scene_cut_drops_carried(void **state)
{
    (void)state;
    sx_track *t = make(NULL);
    sx_track_frame o;
    sx_track_frame_init(&o);
    specx_detection far = det(CAR, 0.8f, 105, 200, 100, 50); /* car A */
    specx_detections c = dets(1, &far);
    for (int64_t f = 0; f <= 2; f++) {
        specx_detections l = two_cars(f);
        step(t, f, &l, NULL, &o);
        specx_detections_clear(&l);
    }
    cloud(t, 1, &c);
    /* control: the same answer on the scene continued is carried */
    sx_track *t2 = make(NULL);
    for (int64_t f = 0; f <= 3; f++) {
        if (f == 3) {
            cloud(t2, 1, &c);
        }
        specx_detections l2 = two_cars(f);
        step(t2, f, &l2, NULL, &o);
        specx_detections_clear(&l2);
    }
    assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 1);
    sx_track_destroy(t2);
    specx_detection other = det(PERSON, 0.9f, 300, 300, 50, 150);
    specx_detections l = dets(1, &other);
    step(t, 3, &l, NULL, &o);
    assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 0);
    assert_int_equal(o.source, SX_TRACK_SRC_LOCAL);
    assert_int_equal(o.dets.count, 1);
    /* still cut later on: the cut lies between the answer and the frame */
    specx_detections_clear(&l);
    l = dets(1, &other);
    step(t, 4, &l, NULL, &o);
    assert_int_equal(count_origin(&o, SX_TRACK_CARRIED), 0);
    specx_detections_clear(&l);
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

/* An in-time cloud answer is the output as it is; an answer older than the
 * one in use changes nothing; with no local answer carried objects alone. */
static void test_in_time_stale_and_no_local(void **state)
{
    (void)state;
    sx_track *t = make(&(sx_track_config){.half_life_ms = 1e9});
    sx_track_frame o;
    sx_track_frame_init(&o);
    specx_detections l = two_cars(0);
    step(t, 0, &l, NULL, &o);
    specx_detections_clear(&l);
    specx_detection cv[3] = {det(CAR, 0.9f, 110, 200, 100, 50), det(CAR, 0.01f, 5, 5, 5, 5),
                             det(CAR, 0.3f, 590, 200, 100, 50)};
    specx_detections c = dets(3, cv);
    step(t, 1, NULL, &c, &o);
    assert_int_equal(o.source, SX_TRACK_SRC_CLOUD);
    assert_int_equal(o.dets.count, 3);
    assert_memory_equal(o.dets.items, c.items, 3 * sizeof *c.items);
    assert_int_equal(count_origin(&o, SX_TRACK_CLOUD), 3);
    /* stale: an answer for frame 0 after the one for frame 1 */
    specx_detection stale = det(PERSON, 0.9f, 0, 0, 10, 10);
    specx_detections s = dets(1, &stale);
    cloud(t, 0, &s);
    step(t, 2, NULL, NULL, &o);
    assert_int_equal(o.source, SX_TRACK_SRC_CARRIED);
    /* frame 1's objects of score >= cloud_min_score (0.05): two, each
     * anchored to its car's track (seen at frame 0) and moved with its
     * prediction while no local answer comes */
    assert_int_equal(o.dets.count, 2);
    for (size_t i = 0; i < o.dets.count; i++) {
        assert_int_equal(o.dets.items[i].class_id, CAR);
        assert_int_equal(o.info[i].age_frames, 1);
    }
    specx_err err = {{0}};
    assert_int_equal(sx_track_step(t, 2, FT(2), NULL, NULL, &o, &err), SPECX_EINVAL);
    l = two_cars(2);
    step(t, 3, &l, NULL, &o);
    assert_int_equal(sx_track_step(t, 3, FT(3), &l, NULL, &o, &err), SPECX_EINVAL);
    specx_detections_clear(&l);
    specx_detections_clear(&s);
    specx_detections_clear(&c);
    sx_track_frame_clear(&o);
    sx_track_destroy(t);
}

static void test_iou_and_config(void **state)
{
    (void)state;
    specx_detection a = det(CAR, 1, 0, 0, 10, 10), b = det(CAR, 1, 5, 0, 10, 10);
    assert_float_equal(sx_track_iou(&a, &b), 50.0f / 150.0f, 1e-6);
    specx_detection e = det(CAR, 1, 0, 0, 0, 10);
    assert_float_equal(sx_track_iou(&a, &e), 0, 0);
    sx_track *t = NULL;
    specx_err err = {{0}};
    assert_int_equal(sx_track_create(&(sx_track_config){.assoc_iou = 1.5f}, &t, &err),
                     SPECX_EINVAL);
    assert_null(t);
    assert_string_equal(sx_track_origin_name(SX_TRACK_CARRIED), "cloud-carried");
    assert_string_equal(sx_track_source_name(SX_TRACK_SRC_FUSED), "fused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_carried_follows_anchor),
        cmocka_unit_test(test_association_by_iou_and_class),
        cmocka_unit_test(test_cloud_only_constant_velocity),
        cmocka_unit_test(test_decay_and_age_limit),
        cmocka_unit_test(test_deny_rule),
        cmocka_unit_test(test_scene_cut_drops_carried),
        cmocka_unit_test(test_in_time_stale_and_no_local),
        cmocka_unit_test(test_iou_and_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
