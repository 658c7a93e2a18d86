/* xnn_test_util.c — helpers for the xnnpack backend tests (see header). */
#include "xnn_test_util.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xt_asset(char *buf, size_t len, const char *rel)
{
    const char *root = getenv("SPECX_SHARED_ASSETS");
    snprintf(buf, len, "%s/%s", root != NULL && root[0] != '\0' ? root : "../shared/assets", rel);
}

int xt_model_files(const char *name, xt_model *m)
{
    memset(m, 0, sizeof *m);
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s.cfg", name);
    xt_asset(m->cfg, sizeof m->cfg, rel);
    const char *suffix = "-416";
    size_t n = strlen(name), sl = strlen(suffix);
    if (n > sl && strcmp(name + n - sl, suffix) == 0) {
        snprintf(rel, sizeof rel, "models/%.*s.weights", (int)(n - sl), name);
    } else {
        snprintf(rel, sizeof rel, "models/%s.weights", name);
    }
    xt_asset(m->weights, sizeof m->weights, rel);
    xt_asset(m->names, sizeof m->names, "models/coco.names");
    FILE *f = fopen(m->names, "rb");
    if (f == NULL) {
        return -1;
    }
    m->names_buf = calloc(1, 1 << 16);
    size_t len = fread(m->names_buf, 1, (1 << 16) - 1, f);
    fclose(f);
    m->name_list = calloc(1024, sizeof *m->name_list);
    char *save = NULL;
    for (char *l = strtok_r(m->names_buf, "\r\n", &save); l != NULL && m->nnames < 1024;
         l = strtok_r(NULL, "\r\n", &save)) {
        m->name_list[m->nnames++] = l;
    }
    return len > 0 ? 0 : -1;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int xt_calib_images(specx_image *imgs, int max)
{
    const char *dir = "/usr/share/darknet/data";
    DIR *d = opendir(dir);
    if (d == NULL) {
        return 0;
    }
    char *names[256];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".jpg") == 0) {
            names[count++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)count, sizeof *names, cmp_name);
    int n = 0;
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (n < max) {
            image im = load_image_color(path, 0, 0);
            n += im.w > 0 && xt_to_specx(&im, &imgs[n]) == 0;
            free_image(im);
        }
        free(names[i]);
    }
    return n;
}

void xt_model_files_free(xt_model *m)
{
    free(m->name_list);
    free(m->names_buf);
}

int xt_to_specx(const image *im, specx_image *out)
{
    if (im->c != 3 || specx_image_alloc(out, im->w, im->h) != SPECX_OK) {
        return -1;
    }
    size_t plane = (size_t)im->w * im->h;
    for (int y = 0; y < im->h; y++) {
        for (int x = 0; x < im->w; x++) {
            for (int k = 0; k < 3; k++) {
                float v = im->data[k * plane + (size_t)y * im->w + x];
                out->data[(size_t)y * out->stride + x * 3 + k] = (uint8_t)lrintf(v * 255.0f);
            }
        }
    }
    return 0;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void xt_darknet_detections(network *net, int imw, int imh, float thresh, float nms, int nnames,
                           char **names, specx_detections *out)
{
    int n = 0;
    detection *dets = get_network_boxes(net, imw, imh, thresh, 0.5f, NULL, 1, &n);
    int classes = n > 0 ? dets[0].classes : 0;
    do_nms_sort(dets, n, classes, nms);
    for (int i = 0; i < n; i++) {
        box b = dets[i].bbox;
        for (int j = 0; j < classes; j++) {
            if (!(dets[i].prob[j] > thresh)) {
                continue;
            }
            specx_detection d = {.class_id = j, .score = dets[i].prob[j]};
            snprintf(d.label, sizeof d.label, "%s", j < nnames ? names[j] : "?");
            d.xmin = clampf((b.x - b.w / 2) * imw, 0, (float)(imw - 1));
            d.xmax = clampf((b.x + b.w / 2) * imw, 0, (float)(imw - 1));
            d.ymin = clampf((b.y - b.h / 2) * imh, 0, (float)(imh - 1));
            d.ymax = clampf((b.y + b.h / 2) * imh, 0, (float)(imh - 1));
            specx_detections_push(out, &d);
        }
    }
    free_detections(dets, n);
}

static float iou(const specx_detection *a, const specx_detection *b)
{
    float w = fminf(a->xmax, b->xmax) - fmaxf(a->xmin, b->xmin);
    float h = fminf(a->ymax, b->ymax) - fmaxf(a->ymin, b->ymin);
    if (w <= 0 || h <= 0) {
        return 0;
    }
    float i = w * h;
    float u =
        (a->xmax - a->xmin) * (a->ymax - a->ymin) + (b->xmax - b->xmin) * (b->ymax - b->ymin) - i;
    return u > 0 ? i / u : 0;
}

/* Every detection of a finds a partner in b (or is near the threshold). */
static bool covered(const specx_detections *a, const specx_detections *b, float thresh,
                    float score_tol, float px_tol, const char *an, char *why, size_t whylen)
{
    bool *used = calloc(b->count + 1, sizeof *used);
    bool ok = true;
    for (size_t i = 0; i < a->count && ok; i++) {
        const specx_detection *d = &a->items[i];
        int best = -1;
        float bi = 0;
        for (size_t j = 0; j < b->count; j++) {
            if (used[j] || b->items[j].class_id != d->class_id) {
                continue;
            }
            float v = iou(d, &b->items[j]);
            if (v > bi) {
                bi = v;
                best = (int)j;
            }
        }
        if (best < 0) {
            if (d->score < thresh + score_tol) {
                continue;
            }
            snprintf(why, whylen, "%s's %s %.3f at (%.1f,%.1f,%.1f,%.1f) has no partner", an,
                     d->label, d->score, d->xmin, d->ymin, d->xmax, d->ymax);
            ok = false;
            break;
        }
        const specx_detection *e = &b->items[best];
        used[best] = true;
        float dx = fmaxf(fmaxf(fabsf(d->xmin - e->xmin), fabsf(d->xmax - e->xmax)),
                         fmaxf(fabsf(d->ymin - e->ymin), fabsf(d->ymax - e->ymax)));
        if (fabsf(d->score - e->score) > score_tol || dx > px_tol) {
            snprintf(why, whylen, "%s: scores %.4f vs %.4f, box edges differ by %.2f px", d->label,
                     d->score, e->score, dx);
            ok = false;
        }
    }
    free(used);
    return ok;
}

bool xt_same_detections(const specx_detections *a, const specx_detections *b, float thresh,
                        float score_tol, float px_tol, char *why, size_t whylen)
{
    return covered(a, b, thresh, score_tol, px_tol, "darknet", why, whylen) &&
           covered(b, a, thresh, score_tol, px_tol, "xnnpack", why, whylen);
}

void xt_print_detections(const char *who, const specx_detections *d)
{
    for (size_t i = 0; i < d->count; i++) {
        const specx_detection *e = &d->items[i];
        printf("  %s: %-12s %.4f (%.1f, %.1f, %.1f, %.1f)\n", who, e->label, e->score, e->xmin,
               e->ymin, e->xmax, e->ymax);
    }
}

/* ---- mAP ---------------------------------------------------------------- */

typedef struct scored {
    float score;
    int tp;
} scored;

struct xt_map {
    int classes;
    int *npos;
    scored **s;
    size_t *n, *cap;
};

xt_map *xt_map_new(int classes)
{
    xt_map *m = calloc(1, sizeof *m);
    m->classes = classes;
    m->npos = calloc((size_t)classes, sizeof *m->npos);
    m->s = calloc((size_t)classes, sizeof *m->s);
    m->n = calloc((size_t)classes, sizeof *m->n);
    m->cap = calloc((size_t)classes, sizeof *m->cap);
    return m;
}

static void push(xt_map *m, int c, float score, int tp)
{
    if (m->n[c] == m->cap[c]) {
        m->cap[c] = m->cap[c] ? m->cap[c] * 2 : 64;
        m->s[c] = realloc(m->s[c], m->cap[c] * sizeof **m->s);
    }
    m->s[c][m->n[c]++] = (scored){score, tp};
}

static int by_score_desc(const void *pa, const void *pb)
{
    const specx_detection *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

int xt_map_add_image(xt_map *m, const char *label_path, int imw, int imh,
                     const specx_detections *dets)
{
    FILE *f = fopen(label_path, "r");
    if (f == NULL) {
        return -1;
    }
    specx_detection gt[512];
    bool matched[512] = {false};
    int ngt = 0, c;
    float cx, cy, w, h;
    while (ngt < 512 && fscanf(f, "%d %f %f %f %f", &c, &cx, &cy, &w, &h) == 5) {
        if (c < 0 || c >= m->classes) {
            continue;
        }
        gt[ngt] = (specx_detection){.class_id = c,
                                    .xmin = (cx - w / 2) * imw,
                                    .xmax = (cx + w / 2) * imw,
                                    .ymin = (cy - h / 2) * imh,
                                    .ymax = (cy + h / 2) * imh};
        m->npos[c]++;
        ngt++;
    }
    fclose(f);
    specx_detection *sorted = malloc((dets->count + 1) * sizeof *sorted);
    if (dets->count > 0) {
        memcpy(sorted, dets->items, dets->count * sizeof *sorted);
        qsort(sorted, dets->count, sizeof *sorted, by_score_desc);
    }
    for (size_t i = 0; i < dets->count; i++) {
        const specx_detection *d = &sorted[i];
        if (d->class_id < 0 || d->class_id >= m->classes) {
            continue;
        }
        int best = -1;
        float bi = 0.5f;
        for (int g = 0; g < ngt; g++) {
            if (gt[g].class_id != d->class_id) {
                continue;
            }
            float v = iou(d, &gt[g]);
            if (v >= bi) {
                bi = v;
                best = g;
            }
        }
        int tp = best >= 0 && !matched[best];
        if (tp) {
            matched[best] = true;
        }
        push(m, d->class_id, d->score, tp);
    }
    free(sorted);
    return ngt;
}

static int by_scored_desc(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

double xt_map_value(const xt_map *m)
{
    double sum = 0;
    int nc = 0;
    for (int c = 0; c < m->classes; c++) {
        if (m->npos[c] == 0) {
            continue;
        }
        nc++;
        size_t n = m->n[c];
        if (n == 0) {
            continue;
        }
        qsort(m->s[c], n, sizeof *m->s[c], by_scored_desc);
        double *prec = malloc(n * sizeof *prec), *rec = malloc(n * sizeof *rec);
        int tp = 0;
        for (size_t i = 0; i < n; i++) {
            tp += m->s[c][i].tp;
            prec[i] = (double)tp / (double)(i + 1);
            rec[i] = (double)tp / m->npos[c];
        }
        for (size_t i = n - 1; i > 0; i--) { /* precision envelope */
            if (prec[i] > prec[i - 1]) {
                prec[i - 1] = prec[i];
            }
        }
        double ap = 0, prev_r = 0;
        for (size_t i = 0; i < n; i++) {
            ap += (rec[i] - prev_r) * prec[i];
            prev_r = rec[i];
        }
        sum += ap;
        free(prec);
        free(rec);
    }
    return nc > 0 ? sum / nc : 0;
}

void xt_map_free(xt_map *m)
{
    if (m == NULL) {
        return;
    }
    for (int c = 0; c < m->classes; c++) {
        free(m->s[c]);
    }
    free(m->s);
    free(m->npos);
    free(m->n);
    free(m->cap);
    free(m);
}
