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
    out->layer = calloc((size_t)c->n, sizeof(sx_xnn_range *));
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
static bool bn_layer(const sx_xnn_model *m, int i, double k, const sx_xnn_ranges *out, bn_stat *st,
                     sx_xnn_range *r)
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
    out->layer = calloc((size_t)m->n, sizeof(sx_xnn_range *));
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

/* ---- the driver ---------------------------------------------------------- */

/* Observed ranges: the fp32 network, unfused so every layer output is a
 * tensor of its own, over the inputs (a second pass fills the histograms a
 * percentile needs). */
static specx_status measure(const sx_xnn_model *m, const float *const *inputs, int n,
                            sx_xnn_calib_method method, double param, sx_xnn_ranges *out,
                            specx_err *err)
{
    sx_xnn_net_opts no = {.threads = 1, .flags = SX_XNN_NET_NO_DIRECT, .precision = SX_XNN_FP32};
    sx_xnn_net *net = NULL;
    sx_xnn_calib *c = NULL;
    specx_status st = sx_xnn_net_create(m, &no, &net, err);
    if (st == SPECX_OK) {
        st = sx_xnn_calib_create(m->n, &c, err);
    }
    if (st == SPECX_OK) {
        sx_xnn_net_set_observer(net, sx_xnn_calib_observe, c);
    }
    size_t in_len = (size_t)m->width * m->height * 3;
    int passes = method == SX_XNN_CALIB_PERCENTILE ? 2 : 1;
    for (int pass = 0; pass < passes && st == SPECX_OK; pass++) {
        sx_xnn_calib_set_pass(c, pass);
        for (int i = 0; i < n && st == SPECX_OK; i++) {
            memcpy(sx_xnn_net_input(net), inputs[i], in_len * sizeof(float));
            st = sx_xnn_net_run(net, NULL, err);
        }
    }
    if (st == SPECX_OK) {
        st = sx_xnn_calib_ranges(c, method, param, out, err);
    }
    sx_xnn_calib_destroy(c);
    sx_xnn_net_destroy(net);
    return st;
}

static double logistic(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

/* The [yolo] probabilities (objectness and classes, after the logistic) of
 * a net after a run, appended to p (room for every [yolo] value). */
static size_t yolo_probs(const sx_xnn_net *net, float *p)
{
    size_t n = 0;
    for (int k = 0; k < sx_xnn_net_yolo_count(net); k++) {
        const sx_xnn_layer *l = sx_xnn_net_yolo_layer(net, k);
        sx_xnn_view v = sx_xnn_net_yolo_view(net, k);
        int entries = l->classes + 5;
        for (int px = 0; px < v.w * v.h; px++) {
            for (int ch = 0; ch < v.c; ch++) {
                if (ch % entries >= 4) {
                    p[n++] = (float)logistic(v.p[(size_t)px * v.stride + ch]);
                }
            }
        }
    }
    return n;
}

static size_t yolo_len(const sx_xnn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n; i++) {
        if (m->layers[i].type == SX_XNN_L_YOLO) {
            n += (size_t)m->layers[i].out_w * m->layers[i].out_h * m->layers[i].out_c;
        }
    }
    return n;
}

/* How far the int8 net built from ranges r is from the fp32 one on the
 * inputs: the relative rms difference of their [yolo] probabilities. */
static specx_status int8_error(const sx_xnn_model *m, const float *const *inputs, int n,
                               const float *ref, size_t len, const sx_xnn_ranges *r, unsigned flags,
                               float *scratch, double *e, specx_err *err)
{
    sx_xnn_net_opts qo = {.threads = 1, .flags = flags, .precision = SX_XNN_INT8, .ranges = r};
    sx_xnn_net *net = NULL;
    specx_status st = sx_xnn_net_create(m, &qo, &net, err);
    double se = 0, sr = 0;
    size_t in_len = (size_t)m->width * m->height * 3;
    for (int i = 0; i < n && st == SPECX_OK; i++) {
        memcpy(sx_xnn_net_input(net), inputs[i], in_len * sizeof(float));
        st = sx_xnn_net_run(net, NULL, err);
        size_t got = st == SPECX_OK ? yolo_probs(net, scratch) : 0;
        for (size_t j = 0; j < got && j < len; j++) {
            double d = (double)scratch[j] - ref[(size_t)i * len + j];
            se += d * d;
            sr += (double)ref[(size_t)i * len + j] * ref[(size_t)i * len + j];
        }
    }
    sx_xnn_net_destroy(net);
    *e = sr > 0 ? sqrt(se / sr) : 0;
    return st;
}

/* The fp32 [yolo] probabilities of every input, len per input. */
static specx_status reference_probs(const sx_xnn_model *m, const float *const *inputs, int n,
                                    float *ref, size_t len, specx_err *err)
{
    sx_xnn_net_opts fo = {.threads = 1, .precision = SX_XNN_FP32};
    sx_xnn_net *net = NULL;
    specx_status st = sx_xnn_net_create(m, &fo, &net, err);
    size_t in_len = (size_t)m->width * m->height * 3;
    for (int i = 0; i < n && st == SPECX_OK; i++) {
        memcpy(sx_xnn_net_input(net), inputs[i], in_len * sizeof(float));
        st = sx_xnn_net_run(net, NULL, err);
        if (st == SPECX_OK) {
            yolo_probs(net, ref + (size_t)i * len);
        }
    }
    sx_xnn_net_destroy(net);
    return st;
}

/* The batch-norm ranges whose int8 net is closest to fp32 on the inputs,
 * over a few widths k (the tails of these networks are heavier than a
 * normal's and how heavy differs per model). */
static specx_status choose_bn(const sx_xnn_model *m, const float *const *inputs, int n,
                              const sx_xnn_ranges *data, unsigned flags, sx_xnn_ranges *out,
                              double *chosen, specx_err *err)
{
    static const double ks[] = {6, 7, 8, 10};
    size_t len = yolo_len(m);
    if (len == 0 || n < 1) {
        return specx_err_set(err, SPECX_EINVAL, "xnnpack int8: nothing to calibrate on");
    }
    float *ref = calloc((size_t)n * len, sizeof *ref), *scratch = calloc(len, sizeof *scratch);
    specx_status st =
        ref != NULL && scratch != NULL
            ? reference_probs(m, inputs, n, ref, len, err)
            : specx_err_set(err, SPECX_ENOMEM, "xnnpack: out of memory (calibration)");
    double best = INFINITY;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0] && st == SPECX_OK; i++) {
        sx_xnn_ranges r = {0};
        double e = 0;
        st = sx_xnn_ranges_from_bn(m, ks[i], data, &r, err);
        if (st == SPECX_OK) {
            st = int8_error(m, inputs, n, ref, len, &r, flags, scratch, &e, err);
        }
        if (st == SPECX_OK && e < best) {
            best = e;
            *chosen = ks[i];
            sx_xnn_ranges_clear(out);
            *out = r;
        } else {
            sx_xnn_ranges_clear(&r);
        }
    }
    free(ref);
    free(scratch);
    return st;
}

specx_status sx_xnn_calibrate(const sx_xnn_model *m, const float *const *inputs, int n,
                              sx_xnn_calib_method method, double param, unsigned flags,
                              sx_xnn_ranges *out, double *chosen, specx_err *err)
{
    *chosen = param;
    if (method == SX_XNN_CALIB_PERCENTILE && !(param > 0.5 && param <= 1.0)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "xnnpack int8: percentile must be in (0.5, 1], got %g", param);
    }
    if (method == SX_XNN_CALIB_BN && !(param > 0)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "xnnpack int8: standard deviations must be > 0, got %g", param);
    }
    if ((method == SX_XNN_CALIB_MINMAX || method == SX_XNN_CALIB_PERCENTILE) && n == 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "xnnpack int8: min/max and percentile ranges need calibration images");
    }
    if (method == SX_XNN_CALIB_MINMAX || method == SX_XNN_CALIB_PERCENTILE) {
        return measure(m, inputs, n, method, param, out, err);
    }
    sx_xnn_ranges data = {0};
    specx_status st = SPECX_OK;
    if (n > 0) {
        st = measure(m, inputs, n, SX_XNN_CALIB_MINMAX, 0, &data, err);
    }
    if (st == SPECX_OK && method == SX_XNN_CALIB_DEFAULT && n > 0) {
        st = choose_bn(m, inputs, n, &data, flags, out, chosen, err);
    } else if (st == SPECX_OK) {
        double k = method == SX_XNN_CALIB_DEFAULT ? SX_XNN_CALIB_BN_K : param;
        *chosen = k;
        st = sx_xnn_ranges_from_bn(m, k, n > 0 ? &data : NULL, out, err);
    }
    sx_xnn_ranges_clear(&data);
    return st;
}
