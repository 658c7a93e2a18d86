/* test_ci.c — the weighted scorer and the bootstrap: the scorer's mAP equals
 * specx_map_evaluate on random answers (one answer per frame; duplicated
 * frames as weights; answers shared between runs), per-run mAPs and pooled
 * estimates are set, intervals contain their estimates and narrow with more
 * data, paired gains, shares and latency quantiles, determinism for a seed,
 * and the cache's hash and entries. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/eval.h"

#include "eval/cache.h"
#include "eval/score.h"

#define NF 40
#define NC 5

typedef struct data {
    specx_eval_image im[NF];
    specx_eval_box box[NF][8];
    specx_detections a[NF], b[NF]; /* two "models" */
} data;

static uint64_t rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Truths: 1–7 boxes per frame (one in ten a crowd); answers: each truth
 * found with probability p (jittered box, random score), plus false
 * positives. Scores are random doubles: no ties across frames. */
static void make_answers(const specx_eval_image *im, specx_detections *d, double p)
{
    specx_detections_init(d);
    for (size_t g = 0; g < im->n_boxes; g++) {
        const specx_eval_box *t = &im->boxes[g];
        if (urand() < p) {
            float j = (float)(urand() * 12 - 6);
            specx_detection x = {.class_id = urand() < 0.9 ? t->class_id : (t->class_id + 1) % NC,
                                 .score = (float)urand(),
                                 .xmin = t->xmin + j,
                                 .ymin = t->ymin - j,
                                 .xmax = t->xmax + j * 0.5f,
                                 .ymax = t->ymax};
            assert_int_equal(specx_detections_push(d, &x), SPECX_OK);
        }
    }
    int fps = (int)(urand() * 6);
    for (int k = 0; k < fps; k++) {
        float x0 = (float)(urand() * 500), y0 = (float)(urand() * 500);
        specx_detection x = {.class_id = (int)(urand() * NC),
                             .score = (float)(urand() * 0.6),
                             .xmin = x0,
                             .ymin = y0,
                             .xmax = x0 + 20 + (float)(urand() * 80),
                             .ymax = y0 + 20 + (float)(urand() * 80)};
        assert_int_equal(specx_detections_push(d, &x), SPECX_OK);
    }
}

static void data_init(data *D)
{
    memset(D, 0, sizeof *D);
    for (size_t f = 0; f < NF; f++) {
        specx_eval_image *im = &D->im[f];
        im->boxes = D->box[f];
        im->width = im->height = 640;
        im->n_boxes = 1 + (size_t)(urand() * 7);
        for (size_t g = 0; g < im->n_boxes; g++) {
            float x0 = (float)(urand() * 500), y0 = (float)(urand() * 500);
            im->boxes[g] = (specx_eval_box){.class_id = (int)(urand() * NC),
                                            .xmin = x0,
                                            .ymin = y0,
                                            .xmax = x0 + 10 + (float)(urand() * 120),
                                            .ymax = y0 + 10 + (float)(urand() * 120),
                                            .crowd = urand() < 0.1};
        }
        make_answers(im, &D->a[f], 0.6);
        make_answers(im, &D->b[f], 0.85);
    }
}

static void data_clear(data *D)
{
    for (size_t f = 0; f < NF; f++) {
        specx_detections_clear(&D->a[f]);
        specx_detections_clear(&D->b[f]);
    }
}

static void reference(const specx_eval_image *gt, const specx_detections *d, size_t n, double *m50,
                      double *m)
{
    specx_map_result r;
    specx_err err;
    assert_int_equal(specx_map_evaluate(gt, d, n, NULL, &r, &err), SPECX_OK);
    *m50 = r.map50;
    *m = r.map;
    specx_map_result_free(&r);
}

/* One answer per frame (a mix of the two models, some frames with none):
 * the weighted scorer gives specx_map_evaluate's figures exactly; weights of
 * 2 on frames and truths equal evaluating the frames twice. */
static void test_scorer_equals_map(void **state)
{
    (void)state;
    static data D;
    data_init(&D);
    sx_eval_scorer *s;
    specx_err err;
    assert_int_equal(sx_eval_scorer_create(D.im, NF, 100, &s, &err), SPECX_OK);
    uint32_t ia[NF], ib[NF];
    for (size_t f = 0; f < NF; f++) {
        assert_int_equal(sx_eval_scorer_add(s, f, &D.a[f], &ia[f], &err), SPECX_OK);
        assert_int_equal(sx_eval_scorer_add(s, f, &D.b[f], &ib[f], &err), SPECX_OK);
    }
    assert_int_equal(sx_eval_scorer_freeze(s, &err), SPECX_OK);
    static specx_detections mix[2 * NF];
    static specx_eval_image gt2[2 * NF];
    double vw[2 * NF] = {0}, gtw[NF];
    for (size_t f = 0; f < NF; f++) {
        int pick = f % 5 == 4 ? -1 : (int)(urand() * 2);
        specx_detections_init(&mix[f]);
        if (pick >= 0) {
            const specx_detections *src = pick ? &D.b[f] : &D.a[f];
            for (size_t k = 0; k < src->count; k++) {
                specx_detections_push(&mix[f], &src->items[k]);
            }
            vw[pick ? ib[f] : ia[f]] = 1;
        }
        gtw[f] = 1;
    }
    double r50, r, s50, sm;
    reference(D.im, mix, NF, &r50, &r);
    sx_eval_scorer_map(s, vw, gtw, &s50, &sm);
    printf("mAP@0.5 %.6f / %.6f, mAP %.6f / %.6f\n", r50, s50, r, sm);
    assert_true(r50 > 0.1 && r50 < 0.9);
    assert_true(fabs(r50 - s50) < 1e-12);
    assert_true(fabs(r - sm) < 1e-12);
    /* every frame twice */
    for (size_t f = 0; f < NF; f++) {
        gt2[f] = gt2[NF + f] = D.im[f];
        mix[NF + f] = mix[f]; /* shallow: freed once below */
        vw[ia[f]] *= 2;
        vw[ib[f]] *= 2;
        gtw[f] = 2;
    }
    reference(gt2, mix, 2 * NF, &r50, &r);
    sx_eval_scorer_map(s, vw, gtw, &s50, &sm);
    assert_true(fabs(r50 - s50) < 1e-12);
    assert_true(fabs(r - sm) < 1e-12);
    for (size_t f = 0; f < NF; f++) {
        specx_detections_clear(&mix[f]);
    }
    sx_eval_scorer_destroy(s);
    data_clear(&D);
}

/* A results table of two modes ("a" = model a on every frame, "b" = model b
 * on frames it "answered in time", none otherwise) over 4 repeats; answers
 * shared between runs. */
static void fill_results(data *D, specx_eval_results *r, specx_eval_bootstrap **bo, size_t nrep)
{
    specx_err err;
    assert_int_equal(specx_eval_results_init(r, 3, 1, nrep, 2, &err), SPECX_OK);
    strcpy(r->modes[0], "local");
    strcpy(r->modes[1], "cloud");
    strcpy(r->modes[2], "speculative");
    strcpy(r->executors[0], "cloud");
    strcpy(r->executors[1], "local");
    r->deadlines_ms[0] = 100;
    assert_int_equal(specx_eval_bootstrap_create(r, D->im, NF, bo, &err), SPECX_OK);
    uint32_t ia[NF], ib[NF];
    for (size_t f = 0; f < NF; f++) {
        assert_int_equal(specx_eval_bootstrap_answer(*bo, f, &D->a[f], &ia[f], &err), SPECX_OK);
        assert_int_equal(specx_eval_bootstrap_answer(*bo, f, &D->b[f], &ib[f], &err), SPECX_OK);
    }
    for (size_t k = 0; k < nrep; k++) {
        uint32_t ids[3][NF];
        for (size_t m = 0; m < 3; m++) {
            specx_eval_run *run = specx_eval_results_run(r, m, 0, k);
            assert_int_equal(specx_eval_run_frames(run, NF, &err), SPECX_OK);
        }
        for (size_t f = 0; f < NF; f++) {
            bool in_time = urand() < 0.7;
            ids[0][f] = ia[f];
            ids[1][f] = in_time ? ib[f] : SPECX_EVAL_NO_ANSWER;
            ids[2][f] = in_time ? ib[f] : ia[f];
            double lat = 10 + 100 * urand();
            specx_eval_results_run(r, 0, 0, k)->winner[f] = 1;
            specx_eval_results_run(r, 0, 0, k)->latency_ms[f] = 5;
            specx_eval_results_run(r, 1, 0, k)->winner[f] = in_time ? 0 : -1;
            specx_eval_results_run(r, 1, 0, k)->latency_ms[f] = in_time ? lat : NAN;
            specx_eval_results_run(r, 2, 0, k)->winner[f] = in_time ? 0 : 1;
            specx_eval_results_run(r, 2, 0, k)->latency_ms[f] = in_time ? lat : 100;
        }
        for (size_t m = 0; m < 3; m++) {
            assert_int_equal(specx_eval_bootstrap_set_run(*bo, m, 0, k, ids[m], &err), SPECX_OK);
        }
    }
}

static void test_bootstrap(void **state)
{
    (void)state;
    static data D;
    data_init(&D);
    specx_eval_results r;
    specx_eval_bootstrap *bo;
    fill_results(&D, &r, &bo, 4);
    specx_err err;
    specx_eval_bootstrap_options o = {.samples = 400, .seed = 3};
    assert_int_equal(specx_eval_bootstrap_summarize(bo, &r, &o, &err), SPECX_OK);
    /* per-run mAP of mode a equals specx_map_evaluate of model a */
    double r50, rm;
    reference(D.im, D.a, NF, &r50, &rm);
    assert_true(fabs(specx_eval_results_run(&r, 0, 0, 2)->map50 - r50) < 1e-12);
    const specx_eval_cell *ca = specx_eval_results_cell(&r, 0, 0);
    const specx_eval_cell *cc = specx_eval_results_cell(&r, 1, 0);
    const specx_eval_cell *cs = specx_eval_results_cell(&r, 2, 0);
    /* pooled over identical repeats: the same mAP */
    assert_true(fabs(ca->map50.est - r50) < 1e-12);
    const specx_eval_cell *cells[3] = {ca, cc, cs};
    for (int m = 0; m < 3; m++) {
        const specx_eval_ci *c = &cells[m]->map50;
        assert_true(c->lo <= c->est && c->est <= c->hi);
        assert_true(c->hi - c->lo > 0.005); /* 40 frames: wide */
        assert_true(c->hi - c->lo < 0.5);
    }
    assert_true(isnan(ca->map.lo) == false);
    /* shares: local always wins mode a; cloud ~70 % in mode b */
    assert_true(fabs(ca->won[1].est - 1) < 1e-12);
    assert_true(cc->won[0].est > 0.55 && cc->won[0].est < 0.85);
    assert_true(fabs(cc->won[0].est + cc->no_result.est - 1) < 1e-12);
    assert_true(cc->won[0].lo < cc->won[0].est && cc->won[0].hi > cc->won[0].est);
    /* latency: mode a always 5 ms */
    assert_true(ca->latency_p50.est == 5 && ca->latency_p50.lo == 5 && ca->latency_p99.hi == 5);
    assert_true(cs->latency_p99.est <= 110 && cs->latency_p99.est >= 90);
    /* mean latency: the plain mean over frames with an output, pooled;
     * mode a's is exactly 5 ms in every resample */
    assert_true(ca->latency_mean.est == 5 && ca->latency_mean.lo == 5 && ca->latency_mean.hi == 5);
    double sum = 0;
    size_t n_out = 0;
    for (size_t k = 0; k < 4; k++) {
        const specx_eval_run *run = specx_eval_results_run(&r, 1, 0, k);
        for (size_t f = 0; f < NF; f++) {
            if (isfinite(run->latency_ms[f])) {
                sum += run->latency_ms[f];
                n_out++;
            }
        }
    }
    assert_true(fabs(cc->latency_mean.est - sum / (double)n_out) < 1e-9);
    assert_true(cc->latency_mean.lo < cc->latency_mean.est &&
                cc->latency_mean.est < cc->latency_mean.hi);
    assert_true(cc->latency_mean.hi - cc->latency_mean.lo < 30);
    /* gains are paired differences: vs_local is spec - local per resample */
    assert_non_null(r.gains);
    assert_true(fabs(r.gains[0].vs_local.est - (cs->map50.est - ca->map50.est)) < 1e-12);
    assert_true(fabs(r.gains[0].vs_best.est -
                     (cs->map50.est - fmax(ca->map50.est, cc->map50.est))) < 1e-12);
    assert_true(r.gains[0].vs_local.lo <= r.gains[0].vs_local.est &&
                r.gains[0].vs_local.est <= r.gains[0].vs_local.hi);
    /* the same seed gives the same intervals; the JSON and CSV carry them */
    specx_eval_ci keep = cs->map50;
    assert_int_equal(specx_eval_bootstrap_summarize(bo, &r, &o, &err), SPECX_OK);
    cs = specx_eval_results_cell(&r, 2, 0);
    assert_memory_equal(&keep, &cs->map50, sizeof keep);
    o.seed = 4;
    assert_int_equal(specx_eval_bootstrap_summarize(bo, &r, &o, &err), SPECX_OK);
    cs = specx_eval_results_cell(&r, 2, 0);
    assert_true(keep.lo != cs->map50.lo || keep.hi != cs->map50.hi);
    specx_eval_bootstrap_destroy(bo);
    specx_eval_results_free(&r);
    data_clear(&D);
}

/* A run whose answer ids belong to other frames is refused; a table with
 * a run never set is refused. */
static void test_bootstrap_errors(void **state)
{
    (void)state;
    static data D;
    data_init(&D);
    specx_eval_results r;
    specx_err err;
    assert_int_equal(specx_eval_results_init(&r, 1, 1, 2, 1, &err), SPECX_OK);
    strcpy(r.modes[0], "local");
    specx_eval_bootstrap *bo;
    assert_int_equal(specx_eval_bootstrap_create(&r, D.im, NF, &bo, &err), SPECX_OK);
    uint32_t ids[NF];
    for (size_t f = 0; f < NF; f++) {
        assert_int_equal(specx_eval_bootstrap_answer(bo, f, &D.a[f], &ids[f], &err), SPECX_OK);
    }
    uint32_t bad[NF];
    memcpy(bad, ids, sizeof bad);
    bad[3] = ids[4];
    assert_int_equal(specx_eval_bootstrap_set_run(bo, 0, 0, 0, bad, &err), SPECX_EINVAL);
    assert_int_equal(specx_eval_bootstrap_set_run(bo, 0, 0, 0, ids, &err), SPECX_OK);
    assert_int_equal(specx_eval_bootstrap_summarize(bo, &r, NULL, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "no answers"));
    specx_eval_bootstrap_destroy(bo);
    specx_eval_results_free(&r);
    data_clear(&D);
}

/* The content hash: stable, sensitive to one pixel and to the size, not to
 * stride padding; cache entries round-trip exactly and a key mismatch is a
 * miss. */
static void test_cache(void **state)
{
    (void)state;
    specx_image a, b;
    assert_int_equal(specx_image_alloc(&a, 33, 7), SPECX_OK);
    for (int i = 0; i < 33 * 7 * 3; i++) {
        a.data[i] = (uint8_t)(i * 37);
    }
    b = (specx_image){.width = 33, .height = 7, .stride = 33 * 3 + 5};
    b.data = calloc((size_t)b.stride * 7, 1);
    for (int y = 0; y < 7; y++) {
        memcpy(b.data + y * b.stride, a.data + y * a.stride, 33 * 3);
    }
    char ha[SX_EVAL_HASH_HEX], hb[SX_EVAL_HASH_HEX];
    sx_eval_hash_image(&a, ha);
    sx_eval_hash_image(&b, hb);
    assert_string_equal(ha, hb);
    assert_int_equal(strlen(ha), 32);
    b.data[b.stride * 3 + 10] ^= 1;
    sx_eval_hash_image(&b, hb);
    assert_string_not_equal(ha, hb);
    b.data[b.stride * 3 + 10] ^= 1;
    b.height = 6;
    sx_eval_hash_image(&b, hb);
    assert_string_not_equal(ha, hb);
    char h1[SX_EVAL_HASH_HEX], h2[SX_EVAL_HASH_HEX];
    sx_eval_hash_bytes("abcdefghij", 10, h1);
    sx_eval_hasher h;
    sx_eval_hash_init(&h);
    sx_eval_hash_update(&h, "abc", 3);
    sx_eval_hash_update(&h, "defghij", 7);
    sx_eval_hash_final(&h, h2);
    assert_string_equal(h1, h2); /* incremental = at once */
    free(b.data);
    specx_image_clear(&a);

    char dir[] = "/tmp/specx-test-cache-XXXXXX";
    assert_non_null(mkdtemp(dir));
    specx_detections d, e;
    specx_detections_init(&d);
    specx_detections_init(&e);
    specx_detection x = {.class_id = 7,
                         .score = 0.1234567f,
                         .xmin = 1.25f,
                         .ymin = 3.3333333f,
                         .xmax = 100.1f,
                         .ymax = 200.7f};
    strcpy(x.label, "truck");
    specx_detections_push(&d, &x);
    x.score = 0.987654321f;
    x.class_id = 0;
    strcpy(x.label, "person");
    specx_detections_push(&d, &x);
    strcpy(d.model, "m");
    d.image_width = 640;
    specx_err err;
    double ms = 0;
    assert_int_equal(sx_eval_cache_load_dets(dir, "k1", &e, &ms, &err), SPECX_ENOTFOUND);
    assert_int_equal(sx_eval_cache_store_dets(dir, "k1", &d, 12.5, &err), SPECX_OK);
    assert_int_equal(sx_eval_cache_load_dets(dir, "k1", &e, &ms, &err), SPECX_OK);
    assert_int_equal(e.count, 2);
    assert_memory_equal(e.items, d.items, 2 * sizeof *d.items);
    assert_true(ms == 12.5);
    assert_string_equal(e.model, "m");
    assert_int_equal(sx_eval_cache_load_dets(dir, "k2", &e, &ms, &err), SPECX_ENOTFOUND);
    sx_eval_jpeg_info ji = {.bytes = 12345, .encode_ms = 1.5}, jo;
    strcpy(ji.hash, ha);
    assert_int_equal(sx_eval_cache_store_jpeg(dir, "j", &ji, &err), SPECX_OK);
    assert_int_equal(sx_eval_cache_load_jpeg(dir, "j", &jo, &err), SPECX_OK);
    assert_int_equal(jo.bytes, 12345);
    assert_string_equal(jo.hash, ha);
    specx_detections_clear(&d);
    specx_detections_clear(&e);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scorer_equals_map),
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_bootstrap_errors),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
