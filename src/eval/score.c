/* score.c — COCO mAP of weighted sets of per-frame answers (eval/score.h).
 *
 * Design notes: every variant is matched once (eval/match.h) into entries
 * (score, variant, rank, outcome per IoU threshold). Freezing sorts each
 * class's entries by (score desc, frame, variant, rank) and keeps, per
 * class, only the variant and the outcomes, up to the class's last hit
 * (later misses cannot change an AP). An evaluation walks a class's entries
 * once, adding each entry's variant weight to the hits or misses of every
 * threshold and recording a (recall, precision) point at each hit only; the
 * precision envelope is sampled at 101 recall points as map.c does (class_ap
 * says why only hits matter). Truth counts per class are kept as (frame,
 * count) lists, so a class's weighted truth count costs one pass over the
 * frames that have it. */
#include "eval/score.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "eval/match.h"

typedef struct sentry {
    float score;
    uint32_t var;
    uint32_t frame;
    uint32_t rank; /* position within its variant (ties in score) */
    uint8_t st[SX_EVAL_NT];
} sentry;

typedef struct building {
    int cls;
    sentry e;
} building;

typedef struct fcount {
    uint32_t frame, count;
} fcount;

struct sx_eval_scorer {
    const specx_eval_image *gt;
    size_t n_frames, max_dets;
    int ncls; /* classes 0..ncls-1 */
    /* variants */
    uint32_t *frame_of;
    size_t n_var, cap_var;
    /* entries while adding, then per class after freeze */
    building *b;
    size_t nb, cap_b;
    /* after freeze, per class in score order (cls_start): each entry's
     * variant and its outcome at each threshold; entries after a class's
     * last hit are dropped (see class_ap) */
    uint32_t *var;
    uint8_t *st;       /* [entry][SX_EVAL_NT] */
    size_t *cls_start; /* ncls + 1 */
    /* truths per class */
    fcount *gtc;
    size_t *gtc_start; /* ncls + 1 */
    bool frozen;
    /* scratch: recall/precision per threshold, max entries of a class */
    double *rc, *pr;
    size_t max_class;
};

specx_status sx_eval_scorer_create(const specx_eval_image *gt, size_t n_frames, size_t max_dets,
                                   sx_eval_scorer **out, specx_err *err)
{
    *out = NULL;
    if (!gt && n_frames) {
        return specx_err_set(err, SPECX_EINVAL, "eval: scorer needs ground truth");
    }
    sx_eval_scorer *s = calloc(1, sizeof *s);
    if (!s) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    s->gt = gt;
    s->n_frames = n_frames;
    s->max_dets = max_dets ? max_dets : 100;
    for (size_t f = 0; f < n_frames; f++) {
        for (size_t g = 0; g < gt[f].n_boxes; g++) {
            if (gt[f].boxes[g].class_id < 0) {
                free(s);
                return specx_err_set(err, SPECX_EINVAL, "eval: %s has a negative class id",
                                     gt[f].name ? gt[f].name : "an image");
            }
            if (gt[f].boxes[g].class_id + 1 > s->ncls) {
                s->ncls = gt[f].boxes[g].class_id + 1;
            }
        }
    }
    *out = s;
    return SPECX_OK;
}

void sx_eval_scorer_destroy(sx_eval_scorer *s)
{
    if (!s) {
        return;
    }
    free(s->frame_of);
    free(s->b);
    free(s->var);
    free(s->st);
    free(s->cls_start);
    free(s->gtc);
    free(s->gtc_start);
    free(s->rc);
    free(s->pr);
    free(s);
}

size_t sx_eval_scorer_variants(const sx_eval_scorer *s)
{
    return s->n_var;
}

size_t sx_eval_scorer_frames(const sx_eval_scorer *s)
{
    return s->n_frames;
}

size_t sx_eval_scorer_frame_of(const sx_eval_scorer *s, uint32_t id)
{
    return id < s->n_var ? s->frame_of[id] : SIZE_MAX;
}

specx_status sx_eval_scorer_add(sx_eval_scorer *s, size_t frame, const specx_detections *d,
                                uint32_t *id, specx_err *err)
{
    if (s->frozen || frame >= s->n_frames || s->n_var >= UINT32_MAX) {
        return specx_err_set(err, SPECX_EINVAL, "eval: scorer: frame %zu out of range or frozen",
                             frame);
    }
    sx_eval_matched *m = NULL;
    size_t n = 0;
    specx_status st = sx_eval_match_image(&s->gt[frame], d, s->max_dets, &m, &n, err);
    if (st != SPECX_OK) {
        return st;
    }
    if (!sx_grow((void **)&s->frame_of, &s->cap_var, s->n_var + 1, sizeof *s->frame_of, 64) ||
        !sx_grow((void **)&s->b, &s->cap_b, s->nb + n, sizeof *s->b, 64)) {
        free(m);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    uint32_t v = (uint32_t)s->n_var++;
    s->frame_of[v] = (uint32_t)frame;
    for (size_t k = 0; k < n; k++) {
        building *b = &s->b[s->nb++];
        b->cls = m[k].cls;
        b->e =
            (sentry){.score = m[k].score, .var = v, .frame = (uint32_t)frame, .rank = (uint32_t)k};
        memcpy(b->e.st, m[k].st, SX_EVAL_NT);
        if (m[k].cls + 1 > s->ncls) {
            s->ncls = m[k].cls + 1;
        }
    }
    free(m);
    if (id) {
        *id = v;
    }
    return SPECX_OK;
}

static int cmp_building(const void *a, const void *b)
{
    const building *x = a, *y = b;
    if (x->cls != y->cls) {
        return x->cls < y->cls ? -1 : 1;
    }
    if (x->e.score != y->e.score) {
        return x->e.score > y->e.score ? -1 : 1;
    }
    if (x->e.frame != y->e.frame) {
        return x->e.frame < y->e.frame ? -1 : 1;
    }
    if (x->e.var != y->e.var) {
        return x->e.var < y->e.var ? -1 : 1;
    }
    return (x->e.rank > y->e.rank) - (x->e.rank < y->e.rank);
}

/* Truth counts per class as (frame, count) lists. */
static bool index_truths(sx_eval_scorer *s)
{
    size_t nc = (size_t)s->ncls;
    s->gtc_start = calloc(nc + 1, sizeof *s->gtc_start);
    size_t *cnt = calloc(nc + 1, sizeof *cnt);
    size_t total = 0;
    bool ok = s->gtc_start && cnt;
    for (size_t f = 0; ok && f < s->n_frames; f++) {
        const specx_eval_image *im = &s->gt[f];
        for (size_t g = 0; g < im->n_boxes; g++) {
            if (!im->boxes[g].crowd) {
                cnt[im->boxes[g].class_id]++;
            }
        }
        for (size_t c = 0; c < nc; c++) {
            if (cnt[c]) {
                s->gtc_start[c + 1]++;
                total++;
                cnt[c] = 0;
            }
        }
    }
    s->gtc = ok ? malloc((total + 1) * sizeof *s->gtc) : NULL;
    ok = ok && s->gtc;
    for (size_t c = 0; ok && c < nc; c++) {
        s->gtc_start[c + 1] += s->gtc_start[c];
    }
    size_t *pos = ok ? calloc(nc + 1, sizeof *pos) : NULL;
    ok = ok && pos;
    for (size_t c = 0; ok && c < nc; c++) {
        pos[c] = s->gtc_start[c];
    }
    for (size_t f = 0; ok && f < s->n_frames; f++) {
        const specx_eval_image *im = &s->gt[f];
        for (size_t g = 0; g < im->n_boxes; g++) {
            if (!im->boxes[g].crowd) {
                cnt[im->boxes[g].class_id]++;
            }
        }
        for (size_t c = 0; c < nc; c++) {
            if (cnt[c]) {
                s->gtc[pos[c]++] = (fcount){(uint32_t)f, (uint32_t)cnt[c]};
                cnt[c] = 0;
            }
        }
    }
    free(pos);
    free(cnt);
    return ok;
}

static bool any_hit(const uint8_t *st)
{
    for (int t = 0; t < SX_EVAL_NT; t++) {
        if (st[t] == SX_EVAL_TP) {
            return true;
        }
    }
    return false;
}

/* Scratch for class_ap: one (recall, precision) per hit of the largest
 * class, per threshold. */
static bool alloc_scratch(sx_eval_scorer *s)
{
    s->rc = malloc((s->max_class + 1) * SX_EVAL_NT * sizeof *s->rc);
    s->pr = malloc((s->max_class + 1) * SX_EVAL_NT * sizeof *s->pr);
    return s->rc && s->pr;
}

specx_status sx_eval_scorer_freeze(sx_eval_scorer *s, specx_err *err)
{
    if (s->frozen) {
        return SPECX_OK;
    }
    size_t nc = (size_t)s->ncls;
    if (s->nb > 1) {
        qsort(s->b, s->nb, sizeof *s->b, cmp_building);
    }
    s->var = malloc((s->nb + 1) * sizeof *s->var);
    s->st = malloc((s->nb + 1) * SX_EVAL_NT);
    s->cls_start = calloc(nc + 1, sizeof *s->cls_start);
    if (!s->var || !s->st || !s->cls_start || !index_truths(s)) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    /* Misses after a class's last hit (at any threshold) change no AP:
     * they add no recall and only lower precision below what the last hit
     * had, so the 101-point envelope never reads them. Keep up to it. */
    size_t n = 0, k = 0;
    for (size_t c = 0; c < nc; c++) {
        size_t begin = k, last = k;
        while (k < s->nb && s->b[k].cls == (int)c) {
            if (any_hit(s->b[k].e.st)) {
                last = k + 1;
            }
            k++;
        }
        for (size_t j = begin; j < last; j++) {
            s->var[n] = s->b[j].e.var;
            memcpy(s->st + n * SX_EVAL_NT, s->b[j].e.st, SX_EVAL_NT);
            n++;
        }
        s->cls_start[c + 1] = n;
        size_t len = n - s->cls_start[c];
        s->max_class = len > s->max_class ? len : s->max_class;
    }
    free(s->b);
    s->b = NULL;
    s->nb = s->cap_b = 0;
    if (!alloc_scratch(s)) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    s->frozen = true;
    return SPECX_OK;
}

specx_status sx_eval_scorer_subset(const sx_eval_scorer *s, const uint8_t *use,
                                   sx_eval_scorer **out, specx_err *err)
{
    *out = NULL;
    if (!s->frozen) {
        return specx_err_set(err, SPECX_EINVAL, "eval: scorer subset before freeze");
    }
    size_t nc = (size_t)s->ncls, ng = s->gtc_start[nc], total = s->cls_start[nc];
    sx_eval_scorer *t = calloc(1, sizeof *t);
    if (!t) {
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    *t = (sx_eval_scorer){.gt = s->gt,
                          .n_frames = s->n_frames,
                          .max_dets = s->max_dets,
                          .ncls = s->ncls,
                          .n_var = s->n_var,
                          .cap_var = s->n_var,
                          .frozen = true};
    size_t n = 0;
    for (size_t k = 0; k < total; k++) {
        n += use[s->var[k]] != 0;
    }
    t->frame_of = malloc((s->n_var + 1) * sizeof *t->frame_of);
    t->cls_start = calloc(nc + 1, sizeof *t->cls_start);
    t->gtc = malloc((ng + 1) * sizeof *t->gtc);
    t->gtc_start = malloc((nc + 1) * sizeof *t->gtc_start);
    t->var = malloc((n + 1) * sizeof *t->var);
    t->st = malloc((n + 1) * SX_EVAL_NT);
    if (!t->frame_of || !t->cls_start || !t->gtc || !t->gtc_start || !t->var || !t->st) {
        sx_eval_scorer_destroy(t);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    memcpy(t->frame_of, s->frame_of, s->n_var * sizeof *t->frame_of);
    memcpy(t->gtc, s->gtc, ng * sizeof *t->gtc);
    memcpy(t->gtc_start, s->gtc_start, (nc + 1) * sizeof *t->gtc_start);
    n = 0;
    for (size_t c = 0; c < nc; c++) {
        for (size_t k = s->cls_start[c]; k < s->cls_start[c + 1]; k++) {
            if (use[s->var[k]]) {
                t->var[n] = s->var[k];
                memcpy(t->st + n * SX_EVAL_NT, s->st + k * SX_EVAL_NT, SX_EVAL_NT);
                n++;
            }
        }
        t->cls_start[c + 1] = n;
        size_t len = n - t->cls_start[c];
        t->max_class = len > t->max_class ? len : t->max_class;
    }
    if (!alloc_scratch(t)) {
        sx_eval_scorer_destroy(t);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    *out = t;
    return SPECX_OK;
}

/* AP at 101 recall points from nd (recall, precision) points; pr is made
 * monotone in place. */
static double ap101(const double *rc, double *pr, size_t nd)
{
    for (size_t i = nd; i-- > 1;) {
        if (pr[i] > pr[i - 1]) {
            pr[i - 1] = pr[i];
        }
    }
    double sum = 0;
    size_t k = 0;
    for (int r = 0; r <= 100; r++) {
        double thr = (double)r * 0.01;
        while (k < nd && rc[k] < thr) {
            k++;
        }
        sum += k < nd ? pr[k] : 0.0;
    }
    return sum / 101.0;
}

/* AP of class c at the first nt thresholds, into ap[]. Only hits are
 * recorded: a miss lowers precision below that of the hit before it at the
 * same recall, so neither the envelope (max precision at or after a point)
 * nor the 101-point sampling (first point reaching a recall) ever reads a
 * miss's point; before the first hit precision is 0, as without hits. */
static void class_ap(sx_eval_scorer *s, size_t c, const double *vw, double npig, int nt, double *ap)
{
    double tp[SX_EVAL_NT] = {0}, fp[SX_EVAL_NT] = {0};
    size_t nd[SX_EVAL_NT] = {0};
    size_t cap = s->max_class + 1;
    const uint8_t *st = s->st;
    for (size_t k = s->cls_start[c]; k < s->cls_start[c + 1]; k++) {
        double w = vw[s->var[k]];
        if (w <= 0) {
            continue;
        }
        const uint8_t *e = st + k * SX_EVAL_NT;
        for (int t = 0; t < nt; t++) {
            if (e[t] == SX_EVAL_FP) {
                fp[t] += w;
            } else if (e[t] == SX_EVAL_TP) {
                tp[t] += w;
                size_t i = (size_t)t * cap + nd[t]++;
                s->rc[i] = tp[t] / npig;
                s->pr[i] = tp[t] / (tp[t] + fp[t]);
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        ap[t] = ap101(s->rc + (size_t)t * cap, s->pr + (size_t)t * cap, nd[t]);
    }
}

void sx_eval_scorer_map(sx_eval_scorer *s, const double *vw, const double *gtw, double *map50,
                        double *map)
{
    int nt = map ? SX_EVAL_NT : 1;
    double sum50 = 0, sum = 0;
    size_t k = 0;
    for (size_t c = 0; s->frozen && c < (size_t)s->ncls; c++) {
        double npig = 0;
        for (size_t j = s->gtc_start[c]; j < s->gtc_start[c + 1]; j++) {
            npig += gtw[s->gtc[j].frame] * (double)s->gtc[j].count;
        }
        if (npig <= 0) {
            continue;
        }
        double ap[SX_EVAL_NT];
        class_ap(s, c, vw, npig, nt, ap);
        k++;
        sum50 += ap[0];
        for (int t = 0; t < nt; t++) {
            sum += ap[t] / SX_EVAL_NT;
        }
    }
    if (map50) {
        *map50 = k ? sum50 / (double)k : 0;
    }
    if (map) {
        *map = k ? sum / (double)k : 0;
    }
}
