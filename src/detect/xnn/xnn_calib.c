/* xnn_calib.c — per-layer, per-channel value statistics of the fp32
 * network for the int8 path's quantization ranges: exact minimum and
 * maximum (pass 0), then a histogram between them (pass 1). */
#include "detect/xnn/xnn_calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per channel: enough resolution for a 1e-4 tail of a few hundred thousand
 * values, small enough (c x 1 KB) for every layer of a network at once. */
#define CALIB_BINS 256

typedef struct layer_stat {
    int c;
    float *lo, *hi; /* [c], pass 0 */
    uint64_t count; /* values per channel seen in pass 1 */
    uint32_t *hist; /* [c][CALIB_BINS] over [lo, hi], pass 1 */
} layer_stat;

struct sx_xnn_calib {
    int n, pass;
    layer_stat *st;
};

specx_status sx_xnn_calib_create(int layers, sx_xnn_calib **out, specx_err *err)
{
    sx_xnn_calib *c = calloc(1, sizeof *c);
    if (c != NULL) {
        c->st = calloc((size_t)layers, sizeof *c->st);
    }
    if (c == NULL || c->st == NULL) {
        free(c);
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory (calibration)");
    }
    c->n = layers;
    *out = c;
    return SPECX_OK;
}

void sx_xnn_calib_destroy(sx_xnn_calib *c)
{
    if (c == NULL) {
        return;
    }
    for (int i = 0; i < c->n; i++) {
        free(c->st[i].lo);
        free(c->st[i].hi);
        free(c->st[i].hist);
    }
    free(c->st);
    free(c);
}

void sx_xnn_calib_set_pass(sx_xnn_calib *c, int pass)
{
    c->pass = pass;
}

static void observe_minmax(layer_stat *s, const sx_xnn_view *v)
{
    if (s->lo == NULL) {
        s->lo = malloc((size_t)v->c * sizeof *s->lo);
        s->hi = malloc((size_t)v->c * sizeof *s->hi);
        if (s->lo == NULL || s->hi == NULL) {
            free(s->lo);
            free(s->hi);
            s->lo = s->hi = NULL;
            return; /* the layer stays uncalibrated: the int8 net refuses it */
        }
        s->c = v->c;
        for (int k = 0; k < v->c; k++) {
            s->lo[k] = INFINITY;
            s->hi[k] = -INFINITY;
        }
    }
    for (int y = 0; y < v->h; y++) {
        for (int x = 0; x < v->w; x++) {
            const float *p = v->p + ((size_t)y * v->w + x) * v->stride;
            for (int k = 0; k < s->c; k++) {
                s->lo[k] = p[k] < s->lo[k] ? p[k] : s->lo[k];
                s->hi[k] = p[k] > s->hi[k] ? p[k] : s->hi[k];
            }
        }
    }
}

static void observe_hist(layer_stat *s, const sx_xnn_view *v)
{
    if (s->hist == NULL) {
        s->hist = calloc((size_t)s->c * CALIB_BINS, sizeof *s->hist);
        if (s->hist == NULL) {
            return; /* this layer falls back to min/max */
        }
    }
    for (int k = 0; k < s->c; k++) {
        uint32_t *h = s->hist + (size_t)k * CALIB_BINS;
        double lo = s->lo[k], scale = s->hi[k] > s->lo[k] ? CALIB_BINS / (s->hi[k] - lo) : 0;
        for (int y = 0; y < v->h; y++) {
            const float *p = v->p + (size_t)y * v->w * v->stride + k;
            for (int x = 0; x < v->w; x++) {
                long b = (long)(((double)p[(size_t)x * v->stride] - lo) * scale);
                h[b < 0 ? 0 : b >= CALIB_BINS ? CALIB_BINS - 1 : b]++;
            }
        }
    }
    s->count += (uint64_t)v->h * v->w;
}

void sx_xnn_calib_observe(void *ctx, int layer, const sx_xnn_view *v)
{
    sx_xnn_calib *c = ctx;
    if (layer < 0 || layer >= c->n || v->p == NULL) {
        return;
    }
    layer_stat *s = &c->st[layer];
    if (c->pass == 0) {
        observe_minmax(s, v);
    } else if (s->lo != NULL && s->c == v->c) {
        observe_hist(s, v);
    }
}

/* The value below which a fraction q of channel k's values lie. */
static float quantile(const layer_stat *s, int k, double q)
{
    const uint32_t *h = s->hist + (size_t)k * CALIB_BINS;
    double want = q * (double)s->count, cum = 0;
    double width = ((double)s->hi[k] - s->lo[k]) / CALIB_BINS;
    for (int b = 0; b < CALIB_BINS; b++) {
        double next = cum + h[b];
        if (next >= want && h[b] > 0) {
            return (float)(s->lo[k] + width * (b + (want - cum) / h[b]));
        }
        cum = next;
    }
    return s->hi[k];
}

specx_status sx_xnn_calib_ranges(const sx_xnn_calib *c, sx_xnn_calib_method method, double param,
                                 sx_xnn_ranges *out, specx_err *err)
{
    out->n = c->n;
    out->layer = calloc((size_t)c->n, sizeof *out->layer);
    if (out->layer == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory (calibration)");
    }
    for (int i = 0; i < c->n; i++) {
        const layer_stat *s = &c->st[i];
        if (s->lo == NULL) {
            continue;
        }
        sx_xnn_range *r = malloc((size_t)s->c * sizeof *r);
        if (r == NULL) {
            sx_xnn_ranges_clear(out);
            return specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory (calibration)");
        }
        bool pct = method == SX_XNN_CALIB_PERCENTILE && s->hist != NULL && s->count > 0;
        for (int k = 0; k < s->c; k++) {
            float lo = pct ? quantile(s, k, 1.0 - param) : s->lo[k];
            float hi = pct ? quantile(s, k, param) : s->hi[k];
            r[k] = (sx_xnn_range){.lo = lo < 0 ? lo : 0, .hi = hi > 0 ? hi : 0};
        }
        out->layer[i] = r;
    }
    return SPECX_OK;
}

/* ---- ranges from batch-norm statistics -------------------------------- */

/* Per channel mean and standard deviation of a linear (pre-activation or
 * identity) output, where known. */
typedef struct bn_stat {
    bool linear; /* mu and sd hold the statistics */
    float *mu, *sd;
} bn_stat;

static sx_xnn_range act_range(float lo, float hi, sx_xnn_act act)
{
    if (act == SX_XNN_ACT_LEAKY) {
        lo = lo < 0 ? 0.1f * lo : lo;
        hi = hi < 0 ? 0.1f * hi : hi;
    } else if (act == SX_XNN_ACT_RELU) {
        lo = lo < 0 ? 0 : lo;
        hi = hi < 0 ? 0 : hi;
    }
    return (sx_xnn_range){.lo = lo < 0 ? lo : 0, .hi = hi > 0 ? hi : 0};
}

/* Layer i's ranges into r (c entries) and, for linear outputs, its
 * statistics; false when nothing is known (then `data` decides). */
static bool bn_layer(const sx_xnn_model *m, int i, double k, const sx_xnn_ranges *out,
                     bn_stat *st, sx_xnn_range *r)
{
    const sx_xnn_layer *l = &m->layers[i];
    const int c = l->out_c;
    switch (l->type) {
    case SX_XNN_L_CONV:
        if (l->bn_mean == NULL) {
            return false;
        }
        for (int ch = 0; ch < c; ch++) {
            float mu = l->bn_mean[ch], sd = l->bn_std[ch];
            r[ch] = act_range(mu - (float)k * sd, mu + (float)k * sd, l->act);
        }
        if (l->act == SX_XNN_ACT_LINEAR) {
            memcpy(st[i].mu, l->bn_mean, (size_t)c * sizeof(float));
            memcpy(st[i].sd, l->bn_std, (size_t)c * sizeof(float));
            st[i].linear = true;
        }
        return true;
    case SX_XNN_L_SHORTCUT: {
        int a = i - 1, b = l->inputs[0];
        if (out->layer[a] == NULL || out->layer[b] == NULL) {
            return false;
        }
        for (int ch = 0; ch < c; ch++) {
            if (st[a].linear && st[b].linear) {
                /* a sum of (nearly) independent terms */
                float mu = st[a].mu[ch] + st[b].mu[ch];
                float sd = sqrtf(st[a].sd[ch] * st[a].sd[ch] + st[b].sd[ch] * st[b].sd[ch]);
                r[ch] = act_range(mu - (float)k * sd, mu + (float)k * sd, l->act);
                st[i].mu[ch] = mu;
                st[i].sd[ch] = sd;
            } else {
                const sx_xnn_range ra = out->layer[a][ch], rb = out->layer[b][ch];
                r[ch] = act_range(ra.lo + rb.lo, ra.hi + rb.hi, l->act);
            }
        }
        st[i].linear = st[a].linear && st[b].linear && l->act == SX_XNN_ACT_LINEAR;
        return true;
    }
    case SX_XNN_L_MAXPOOL:
    case SX_XNN_L_UPSAMPLE:
    case SX_XNN_L_DROPOUT:
        /* every output is one of the inputs' values */
        if (i < 1 || out->layer[i - 1] == NULL) {
            return false;
        }
        memcpy(r, out->layer[i - 1], (size_t)c * sizeof *r);
        return true;
    case SX_XNN_L_ROUTE: {
        int off = 0;
        for (int j = 0; j < l->n_inputs; j++) {
            int p = l->inputs[j], pc = m->layers[p].out_c;
            if (out->layer[p] == NULL) {
                return false;
            }
            memcpy(r + off, out->layer[p], (size_t)pc * sizeof *r);
            off += pc;
        }
        return true;
    }
    case SX_XNN_L_YOLO:
        return false;
    }
    return false;
}

specx_status sx_xnn_ranges_from_bn(const sx_xnn_model *m, double k, const sx_xnn_ranges *data,
                                   sx_xnn_ranges *out, specx_err *err)
{
    out->n = m->n;
    out->layer = calloc((size_t)m->n, sizeof *out->layer);
    bn_stat *st = calloc((size_t)m->n, sizeof *st);
    specx_status s = out->layer != NULL && st != NULL ? SPECX_OK : SPECX_ENOMEM;
    for (int i = 0; i < m->n && s == SPECX_OK; i++) {
        int c = m->layers[i].out_c;
        sx_xnn_range *r = malloc((size_t)c * sizeof *r);
        st[i].mu = malloc((size_t)c * sizeof(float));
        st[i].sd = malloc((size_t)c * sizeof(float));
        if (r == NULL || st[i].mu == NULL || st[i].sd == NULL) {
            free(r);
            s = SPECX_ENOMEM;
            break;
        }
        if (bn_layer(m, i, k, out, st, r)) {
            out->layer[i] = r;
        } else if (data != NULL && i < data->n && data->layer[i] != NULL) {
            memcpy(r, data->layer[i], (size_t)c * sizeof *r);
            out->layer[i] = r;
        } else {
            free(r);
        }
    }
    for (int i = 0; i < m->n && st != NULL; i++) {
        free(st[i].mu);
        free(st[i].sd);
    }
    free(st);
    if (s != SPECX_OK) {
        sx_xnn_ranges_clear(out);
        return specx_err_set(err, s, "xnnpack: out of memory (ranges)");
    }
    return SPECX_OK;
}
