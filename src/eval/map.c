/* map.c — mean average precision: COCO (101-point, IoU .50:.95, area
 * ranges) and VOC2010+/darknet (all-point, IoU > .5).
 *
 * Design notes: for COCO the rules of the reference evaluator are kept:
 * per image and class, detections sorted by score (stable) and capped at
 * max_dets; each detection takes the unmatched truth of highest IoU >= t,
 * preferring non-ignored truths; crowd truths may absorb several
 * detections; a detection matched to an ignored truth, or unmatched and
 * outside the area range, is ignored. Across images the detections of a
 * class are merged by score with ties kept in image order. For VOC a
 * detection is compared with its best-IoU truth only: if that truth is
 * taken, the detection is a false positive. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "specx/eval.h"

#include "core/grow.h"
#include "eval/match.h"

#define NT SX_EVAL_NT

enum { ST_FP = SX_EVAL_FP, ST_TP = SX_EVAL_TP, ST_IGN = SX_EVAL_IGN };

static const double area_lo[SPECX_AREA_COUNT] = {0, 0, 32.0 * 32.0, 96.0 * 96.0};
static const double area_hi[SPECX_AREA_COUNT] = {1e10, 32.0 * 32.0, 96.0 * 96.0, 1e10};

static double iou_thr(int t)
{
    return 0.5 + (double)t * (0.45 / 9.0);
}

double specx_eval_iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                      float by1)
{
    double iw = fmin(ax1, bx1) - fmax(ax0, bx0);
    double ih = fmin(ay1, by1) - fmax(ay0, by0);
    if (iw <= 0 || ih <= 0) {
        return 0.0;
    }
    double inter = iw * ih;
    double ua = ((double)ax1 - ax0) * ((double)ay1 - ay0) +
                ((double)bx1 - bx0) * ((double)by1 - by0) - inter;
    return ua > 0 ? inter / ua : 0.0;
}

/* Crowd truths: intersection over the detection's own area (COCO iscrowd). */
static double match_iou(const specx_detection *d, const specx_eval_box *g)
{
    if (!g->crowd) {
        return specx_eval_iou(d->xmin, d->ymin, d->xmax, d->ymax, g->xmin, g->ymin, g->xmax,
                              g->ymax);
    }
    double iw = fmin(d->xmax, g->xmax) - fmax(d->xmin, g->xmin);
    double ih = fmin(d->ymax, g->ymax) - fmax(d->ymin, g->ymin);
    double da = ((double)d->xmax - d->xmin) * ((double)d->ymax - d->ymin);
    return iw > 0 && ih > 0 && da > 0 ? iw * ih / da : 0.0;
}

static double box_area(const specx_eval_box *g)
{
    return ((double)g->xmax - g->xmin) * ((double)g->ymax - g->ymin);
}

typedef struct entry {
    double score;
    size_t order; /* position in the image-ordered concatenation: breaks ties */
    size_t image; /* VOC: which image */
    size_t det;   /* VOC: index in that image's detections */
    uint8_t st[SPECX_AREA_COUNT][NT];
} entry;

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return (x->order > y->order) - (x->order < y->order);
}

typedef struct sidx {
    double score;
    size_t idx;
} sidx;

static int cmp_sidx(const void *a, const void *b)
{
    const sidx *x = a, *y = b;
    if (x->score != y->score) {
        return x->score > y->score ? -1 : 1;
    }
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* COCO AP: 101 recall points on the monotone precision envelope. */
static double ap101(const entry *e, size_t n, int a, int t, size_t npig, double *rc, double *pr)
{
    size_t nd = 0;
    double tp = 0, fp = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].st[a][t] == ST_IGN) {
            continue;
        }
        if (e[i].st[a][t] == ST_TP) {
            tp += 1;
        } else {
            fp += 1;
        }
        rc[nd] = tp / (double)npig;
        pr[nd] = tp / (tp + fp);
        nd++;
    }
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

/* All-point interpolated AP (VOC2010+, darknet's default). */
static double ap_all_points(const uint8_t *tp_flags, size_t n, size_t npos, double *rc, double *pr)
{
    double tp = 0, fp = 0;
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (tp_flags[i] == ST_IGN) {
            continue;
        }
        tp += tp_flags[i] == ST_TP;
        fp += tp_flags[i] == ST_FP;
        rc[nd] = tp / (double)npos;
        pr[nd] = tp / (tp + fp);
        nd++;
    }
    for (size_t i = nd; i-- > 1;) {
        if (pr[i] > pr[i - 1]) {
            pr[i - 1] = pr[i];
        }
    }
    double ap = 0, prev_r = 0;
    for (size_t i = 0; i < nd; i++) {
        ap += (rc[i] - prev_r) * pr[i];
        prev_r = rc[i];
    }
    return ap;
}

void specx_map_result_free(specx_map_result *r)
{
    if (!r) {
        return;
    }
    free(r->ap50);
    free(r->ap);
    free(r->voc_ap50);
    free(r->n_gt);
    memset(r, 0, sizeof *r);
}

typedef struct work {
    entry *ent;
    size_t nent, cap_ent;
    sidx *order;  /* per image: this class's detections by score */
    size_t *gidx; /* per image: this class's truths, non-ignored first */
    double *ious; /* dets × truths */
    uint8_t *gtm; /* matched flags per truth */
    uint8_t *gig; /* ignore flags per truth (in gidx order) */
    double *rc, *pr;
    uint8_t *vflags;
} work;

/* The truths of class CLS in IM for area range A, non-ignored first
 * (stable), into w->gidx / w->gig; counts the non-ignored ones in *npig.
 * Returns how many. */
static size_t coco_truths(work *w, const specx_eval_image *im, int cls, int a, size_t *npig)
{
    size_t ng = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t g = 0; g < im->n_boxes; g++) {
            const specx_eval_box *b = &im->boxes[g];
            if (b->class_id != cls) {
                continue;
            }
            double ar = box_area(b);
            bool ign = b->crowd || ar < area_lo[a] || ar > area_hi[a];
            if ((int)ign == pass) {
                w->gig[ng] = ign;
                w->gidx[ng++] = g;
            }
        }
    }
    for (size_t g = 0; g < ng; g++) {
        *npig += !w->gig[g];
    }
    return ng;
}

/* Greedy COCO matching at every IoU threshold for area range A: the ND
 * score-ordered detections (w->order) against the NG truths (w->gidx,
 * IoUs in w->ious); one status per (detection, threshold) into E. */
static void coco_match(work *w, const specx_eval_image *im, const specx_detections *dets, size_t nd,
                       size_t ng, int a, entry *e)
{
    for (int t = 0; t < NT; t++) {
        memset(w->gtm, 0, ng);
        for (size_t j = 0; j < nd; j++) {
            double best = fmin(iou_thr(t), 1.0 - 1e-10);
            long m = -1;
            for (size_t g = 0; g < ng; g++) {
                bool crowd = im->boxes[w->gidx[g]].crowd != 0;
                if (w->gtm[g] && !crowd) {
                    continue;
                }
                if (m > -1 && !w->gig[m] && w->gig[g]) {
                    break; /* a real match beats any ignored truth */
                }
                if (w->ious[j * ng + g] < best) {
                    continue;
                }
                best = w->ious[j * ng + g];
                m = (long)g;
            }
            uint8_t st;
            if (m == -1) {
                const specx_detection *d = &dets->items[w->order[j].idx];
                double da = ((double)d->xmax - d->xmin) * ((double)d->ymax - d->ymin);
                st = (da < area_lo[a] || da > area_hi[a]) ? ST_IGN : ST_FP;
            } else {
                st = w->gig[m] ? ST_IGN : ST_TP;
                w->gtm[m] = 1;
            }
            e[j].st[a][t] = st;
        }
    }
}

/* COCO matching of one image for one class; appends its entries. */
static bool coco_image(work *w, const specx_eval_image *im, const specx_detections *dets, int cls,
                       size_t image, size_t max_dets, size_t *order_base,
                       size_t npig[SPECX_AREA_COUNT])
{
    size_t nd = 0;
    for (size_t j = 0; j < dets->count; j++) {
        if (dets->items[j].class_id == cls) {
            w->order[nd++] = (sidx){dets->items[j].score, j};
        }
    }
    qsort(w->order, nd, sizeof *w->order, cmp_sidx);
    if (nd > max_dets) {
        nd = max_dets;
    }
    size_t all_g = 0;
    for (size_t g = 0; g < im->n_boxes; g++) {
        all_g += im->boxes[g].class_id == cls;
    }
    if (nd == 0 && all_g == 0) {
        return true;
    }
    if (!sx_grow((void **)&w->ent, &w->cap_ent, w->nent + nd, sizeof *w->ent, 256)) {
        return false;
    }
    entry *e = w->ent + w->nent;
    for (size_t j = 0; j < nd; j++) {
        e[j].score = w->order[j].score;
        e[j].order = (*order_base)++;
        e[j].image = image;
        e[j].det = w->order[j].idx;
    }
    for (int a = 0; a < SPECX_AREA_COUNT; a++) {
        size_t ng = coco_truths(w, im, cls, a, &npig[a]);
        for (size_t j = 0; j < nd; j++) {
            const specx_detection *d = &dets->items[w->order[j].idx];
            for (size_t g = 0; g < ng; g++) {
                w->ious[j * ng + g] = match_iou(d, &im->boxes[w->gidx[g]]);
            }
        }
        coco_match(w, im, dets, nd, ng, a, e);
    }
    w->nent += nd;
    return true;
}

/* The inputs of one evaluation and its running sums, class by class. */
typedef struct map_run {
    const specx_eval_image *gt;
    const specx_detections *dets;
    size_t n_images;
    size_t max_dets;
    specx_map_result *out;
    work w;
    double sum50, sum75, sum_all, voc_sum;
    double area_sum[SPECX_AREA_COUNT];
    size_t area_n[SPECX_AREA_COUNT];
} map_run;

/* Checks the class ids and sizes the work buffers: the number of classes
 * (highest id + 1) into out->num_classes, the most truths and detections of
 * any image into *max_boxes / *max_dcount. */
static specx_status scan_inputs(map_run *r, size_t *max_boxes, size_t *max_dcount, specx_err *err)
{
    int ncls = 0;
    *max_boxes = *max_dcount = 0;
    for (size_t i = 0; i < r->n_images; i++) {
        const specx_eval_image *im = &r->gt[i];
        const specx_detections *d = &r->dets[i];
        for (size_t g = 0; g < im->n_boxes; g++) {
            if (im->boxes[g].class_id < 0) {
                return specx_err_set(err, SPECX_EINVAL, "eval: %s has a negative class id",
                                     im->name ? im->name : "an image");
            }
            if (im->boxes[g].class_id + 1 > ncls) {
                ncls = im->boxes[g].class_id + 1;
            }
        }
        for (size_t j = 0; j < d->count; j++) {
            if (d->items[j].class_id + 1 > ncls) {
                ncls = d->items[j].class_id + 1;
            }
        }
        *max_boxes = im->n_boxes > *max_boxes ? im->n_boxes : *max_boxes;
        *max_dcount = d->count > *max_dcount ? d->count : *max_dcount;
        r->out->total_det += d->count;
    }
    r->out->num_classes = ncls;
    return SPECX_OK;
}

static bool alloc_buffers(map_run *r, size_t max_boxes, size_t max_dcount)
{
    specx_map_result *out = r->out;
    work *w = &r->w;
    size_t nc = out->num_classes > 0 ? (size_t)out->num_classes : 1;
    out->ap50 = malloc(nc * sizeof(double));
    out->ap = malloc(nc * sizeof(double));
    out->voc_ap50 = malloc(nc * sizeof(double));
    out->n_gt = calloc(nc, sizeof(size_t));
    w->order = malloc((max_dcount + 1) * sizeof *w->order);
    w->gidx = malloc((max_boxes + 1) * sizeof *w->gidx);
    w->gtm = malloc(max_boxes + 1);
    w->gig = malloc(max_boxes + 1);
    w->ious = malloc(((max_dcount + 1) * (max_boxes + 1)) * sizeof *w->ious);
    return out->ap50 && out->ap && out->voc_ap50 && out->n_gt && w->order && w->gidx && w->gtm &&
           w->gig && w->ious;
}

/* COCO AP of class C over every area range and IoU threshold. */
static bool coco_class(map_run *r, int c)
{
    specx_map_result *out = r->out;
    work *w = &r->w;
    out->ap50[c] = out->ap[c] = out->voc_ap50[c] = -1.0;
    size_t npig[SPECX_AREA_COUNT] = {0};
    size_t order_base = 0;
    w->nent = 0;
    for (size_t i = 0; i < r->n_images; i++) {
        if (!coco_image(w, &r->gt[i], &r->dets[i], c, i, r->max_dets, &order_base, npig)) {
            return false;
        }
    }
    out->n_gt[c] = npig[SPECX_AREA_ALL];
    out->total_gt += npig[SPECX_AREA_ALL];
    if (npig[SPECX_AREA_ALL] == 0 && w->nent == 0) {
        return true;
    }
    if (w->nent > 1) {
        qsort(w->ent, w->nent, sizeof *w->ent, cmp_entry);
    }
    double *rc = malloc((w->nent + 1) * sizeof *rc);
    double *pr = malloc((w->nent + 1) * sizeof *pr);
    if (!rc || !pr) {
        free(rc);
        free(pr);
        return false;
    }
    for (int a = 0; a < SPECX_AREA_COUNT; a++) {
        if (npig[a] == 0) {
            continue;
        }
        double s = 0;
        for (int t = 0; t < NT; t++) {
            double ap = ap101(w->ent, w->nent, a, t, npig[a], rc, pr);
            s += ap;
            if (a == SPECX_AREA_ALL && t == 0) {
                out->ap50[c] = ap;
                r->sum50 += ap;
            }
            if (a == SPECX_AREA_ALL && t == 5) {
                r->sum75 += ap;
            }
        }
        r->area_sum[a] += s / NT;
        r->area_n[a]++;
        if (a == SPECX_AREA_ALL) {
            out->ap[c] = s / NT;
            r->sum_all += s / NT;
        }
    }
    free(rc);
    free(pr);
    return true;
}

/* Every detection of class C, in image order, into r->w.ent. */
static bool voc_entries(map_run *r, int c)
{
    work *w = &r->w;
    w->nent = 0;
    size_t order = 0;
    for (size_t i = 0; i < r->n_images; i++) {
        for (size_t j = 0; j < r->dets[i].count; j++) {
            if (r->dets[i].items[j].class_id != c) {
                continue;
            }
            if (!sx_grow((void **)&w->ent, &w->cap_ent, w->nent + 1, sizeof *w->ent, 256)) {
                return false;
            }
            entry *e = &w->ent[w->nent++];
            e->score = r->dets[i].items[j].score;
            e->order = order++;
            e->image = i;
            e->det = j;
        }
    }
    return true;
}

/* VOC status of each score-ordered entry of class C: its best-IoU truth
 * only; TAKEN holds one flag per truth, at BASE[image] + index. */
static void voc_flags(const map_run *r, int c, const size_t *base, uint8_t *taken, uint8_t *flags)
{
    const work *w = &r->w;
    for (size_t k = 0; k < w->nent; k++) {
        const specx_eval_image *im = &r->gt[w->ent[k].image];
        const specx_detection *d = &r->dets[w->ent[k].image].items[w->ent[k].det];
        double best = 0;
        long m = -1;
        for (size_t g = 0; g < im->n_boxes; g++) {
            if (im->boxes[g].class_id != c) {
                continue;
            }
            double v = specx_eval_iou(d->xmin, d->ymin, d->xmax, d->ymax, im->boxes[g].xmin,
                                      im->boxes[g].ymin, im->boxes[g].xmax, im->boxes[g].ymax);
            if (v > best) {
                best = v;
                m = (long)g;
            }
        }
        if (m >= 0 && best > 0.5) {
            if (im->boxes[m].crowd) {
                flags[k] = ST_IGN; /* "difficult": neither hit nor miss */
            } else if (!taken[base[w->ent[k].image] + (size_t)m]) {
                taken[base[w->ent[k].image] + (size_t)m] = 1;
                flags[k] = ST_TP;
            } else {
                flags[k] = ST_FP;
            }
        } else {
            flags[k] = ST_FP;
        }
    }
}

/* VOC / darknet AP50 of class C: every detection, best-IoU truth only. */
static bool voc_class(map_run *r, int c)
{
    size_t npos = r->out->n_gt[c];
    work *w = &r->w;
    if (!voc_entries(r, c)) {
        return false;
    }
    if (npos == 0) {
        return true;
    }
    if (w->nent > 1) {
        qsort(w->ent, w->nent, sizeof *w->ent, cmp_entry);
    }
    uint8_t *flags = malloc(w->nent + 1);
    double *rc = malloc((w->nent + 1) * sizeof *rc);
    double *pr = malloc((w->nent + 1) * sizeof *pr);
    /* Which truths are taken: one flag per box, indexed image by image. */
    size_t *base = malloc((r->n_images + 1) * sizeof *base);
    size_t total = 0;
    if (base) {
        for (size_t i = 0; i < r->n_images; i++) {
            base[i] = total;
            total += r->gt[i].n_boxes;
        }
    }
    uint8_t *taken = calloc(total + 1, 1);
    bool ok = flags && rc && pr && base && taken;
    if (ok) {
        voc_flags(r, c, base, taken, flags);
        r->out->voc_ap50[c] = ap_all_points(flags, w->nent, npos, rc, pr);
        r->voc_sum += r->out->voc_ap50[c];
    }
    free(flags);
    free(rc);
    free(pr);
    free(base);
    free(taken);
    return ok;
}

/* The means over classes with truths, and per area range. */
static void summarize(map_run *r, int div_classes)
{
    specx_map_result *out = r->out;
    int ncls = out->num_classes;
    for (int c = 0; c < ncls; c++) {
        out->classes_with_gt += out->n_gt[c] > 0;
    }
    if (out->classes_with_gt > 0) {
        double k = (double)out->classes_with_gt;
        out->map50 = r->sum50 / k;
        out->map75 = r->sum75 / k;
        out->map = r->sum_all / k;
        out->voc_map50 = r->voc_sum / k;
        out->darknet_map50 = r->voc_sum / (double)(div_classes > ncls ? div_classes : ncls);
    }
    for (int a = 0; a < SPECX_AREA_COUNT; a++) {
        out->map_area[a] = r->area_n[a] ? r->area_sum[a] / (double)r->area_n[a] : -1.0;
    }
}

specx_status specx_map_evaluate(const specx_eval_image *gt, const specx_detections *dets,
                                size_t n_images, const specx_map_options *opts,
                                specx_map_result *out, specx_err *err)
{
    memset(out, 0, sizeof *out);
    if ((!gt || !dets) && n_images) {
        return specx_err_set(err, SPECX_EINVAL, "eval: map needs ground truth and detections");
    }
    map_run r = {.gt = gt, .dets = dets, .n_images = n_images, .out = out};
    r.max_dets = opts && opts->max_dets > 0 ? (size_t)opts->max_dets : 100;
    int div_classes = opts && opts->num_classes > 0 ? opts->num_classes : 80;

    size_t max_boxes, max_dcount;
    specx_status st = scan_inputs(&r, &max_boxes, &max_dcount, err);
    if (st != SPECX_OK) {
        return st;
    }
    bool ok = alloc_buffers(&r, max_boxes, max_dcount);
    for (int c = 0; ok && c < out->num_classes; c++) {
        ok = coco_class(&r, c);
    }
    for (int c = 0; ok && c < out->num_classes; c++) {
        ok = voc_class(&r, c);
    }
    if (ok) {
        summarize(&r, div_classes);
    } else {
        st = specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
        specx_map_result_free(out);
    }
    free(r.w.ent);
    free(r.w.order);
    free(r.w.gidx);
    free(r.w.gtm);
    free(r.w.gig);
    free(r.w.ious);
    return st;
}

/* ---- one image on its own (eval/match.h) ------------------------------------ */

static void work_free(work *w)
{
    free(w->ent);
    free(w->order);
    free(w->gidx);
    free(w->gtm);
    free(w->gig);
    free(w->ious);
}

specx_status sx_eval_match_image(const specx_eval_image *gt, const specx_detections *d,
                                 size_t max_dets, sx_eval_matched **out, size_t *n, specx_err *err)
{
    *out = NULL;
    *n = 0;
    int ncls = 0;
    for (size_t g = 0; g < gt->n_boxes; g++) {
        ncls = gt->boxes[g].class_id + 1 > ncls ? gt->boxes[g].class_id + 1 : ncls;
    }
    for (size_t j = 0; j < d->count; j++) {
        ncls = d->items[j].class_id + 1 > ncls ? d->items[j].class_id + 1 : ncls;
    }
    work w = {0};
    w.order = malloc((d->count + 1) * sizeof *w.order);
    w.gidx = malloc((gt->n_boxes + 1) * sizeof *w.gidx);
    w.gtm = malloc(gt->n_boxes + 1);
    w.gig = malloc(gt->n_boxes + 1);
    w.ious = malloc((d->count + 1) * (gt->n_boxes + 1) * sizeof *w.ious);
    if (!w.order || !w.gidx || !w.gtm || !w.gig || !w.ious) {
        work_free(&w);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    /* One class at a time, so the entries come out grouped by class. */
    size_t *cls_end = malloc(((size_t)ncls + 1) * sizeof *cls_end);
    if (!cls_end) {
        work_free(&w);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    for (int c = 0; c < ncls; c++) {
        size_t npig[SPECX_AREA_COUNT] = {0}, base = 0;
        if (!coco_image(&w, gt, d, c, 0, max_dets ? max_dets : 100, &base, npig)) {
            free(cls_end);
            work_free(&w);
            return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
        }
        cls_end[c] = w.nent;
    }
    if (w.nent == 0) {
        free(cls_end);
        work_free(&w);
        return SPECX_OK;
    }
    sx_eval_matched *m = malloc(w.nent * sizeof *m);
    if (!m) {
        free(cls_end);
        work_free(&w);
        return specx_err_set(err, SPECX_ENOMEM, "eval: out of memory");
    }
    size_t k = 0;
    for (int c = 0; c < ncls; c++) {
        for (; k < cls_end[c] && k < w.nent; k++) {
            m[k].score = (float)w.ent[k].score;
            m[k].cls = c;
            memcpy(m[k].st, w.ent[k].st[SPECX_AREA_ALL], SX_EVAL_NT);
        }
    }
    free(cls_end);
    work_free(&w);
    *out = m;
    *n = k;
    return SPECX_OK;
}
