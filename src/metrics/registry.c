/* registry.c — metric families, their series and the lock-free updates.
 *
 * Design notes
 *  - Updates are relaxed atomics on the series: a counter is one fetch_add,
 *    a gauge set one store (an add is a CAS loop on the double's bits), a
 *    histogram observation a short bucket search plus two fetch_adds (the
 *    bucket and the sum). A histogram has no separate count: the renderer
 *    sums the buckets, so _count always equals the +Inf bucket.
 *  - Lookup of a label set hashes the values and probes an open-addressing
 *    index twice the size of max_series, so a probe always meets an empty
 *    slot. Entries are published with release stores and never change, so
 *    an existing set is found without a lock; a miss retries under the
 *    family's mutex before creating the series.
 *  - Refusals are counted in a counter family of the registry itself; the
 *    refusing family caches its series there after the first refusal. */
#include "metrics/registry.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define REFUSED_NAME "specx_metrics_label_sets_refused_total"

static const char *const no_values[SPECX_METRICS_MAX_LABELS] = {NULL};

/* ---- names -------------------------------------------------------------- */

static bool name_ok(const char *s, bool colon)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (colon && c == ':') || (digit && p != s))) {
            return false;
        }
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static specx_status check_desc(const specx_metric_desc *d, enum sx_metrics_kind kind,
                               specx_err *err)
{
    if (d == NULL || !name_ok(d->name, true)) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: bad metric name '%s'",
                             d != NULL && d->name != NULL ? d->name : "(null)");
    }
    if (kind == SX_METRICS_COUNTER && !ends_with(d->name, "_total")) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: counter '%s' must end in _total",
                             d->name);
    }
    if (d->help == NULL || d->help[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "metrics: '%s' needs a help text", d->name);
    }
    if (d->nlabels > SPECX_METRICS_MAX_LABELS || (d->nlabels > 0 && d->labels == NULL)) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: '%s': at most %d labels", d->name,
                             SPECX_METRICS_MAX_LABELS);
    }
    for (size_t i = 0; i < d->nlabels; i++) {
        const char *l = d->labels[i];
        if (!name_ok(l, false) || strncmp(l, "__", 2) == 0 || strcmp(l, "le") == 0) {
            return specx_err_set(err, SPECX_EINVAL, "metrics: '%s': bad label name '%s'", d->name,
                                 l != NULL ? l : "(null)");
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(l, d->labels[j]) == 0) {
                return specx_err_set(err, SPECX_EINVAL, "metrics: '%s': label '%s' twice", d->name,
                                     l);
            }
        }
    }
    return SPECX_OK;
}

/* The largest integer observation that still counts as <= bound: floor of
 * bound * scale, where a product within rounding error of an integer is that
 * integer (0.005 s * 1e9 is 5000000, not 4999999). */
static int64_t threshold(double bound, double scale)
{
    double x = bound * scale;
    double r = nearbyint(x);
    return (int64_t)(fabs(x - r) <= 1e-9 * fmax(1.0, fabs(x)) ? r : floor(x));
}

static specx_status check_bounds(const specx_metric_desc *d, double scale, specx_err *err)
{
    if (d->nbounds == 0 || d->nbounds > SPECX_METRICS_MAX_BUCKETS || d->bounds == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: histogram '%s' needs 1 to %d bounds",
                             d->name, SPECX_METRICS_MAX_BUCKETS);
    }
    if (!(scale > 0) || !isfinite(scale)) {
        return specx_err_set(err, SPECX_EINVAL, "metrics: histogram '%s': bad scale", d->name);
    }
    for (size_t i = 0; i < d->nbounds; i++) {
        double b = d->bounds[i];
        double o = b * scale;
        if (!isfinite(b) || fabs(o) > 9.0e18 || (i > 0 && !(b > d->bounds[i - 1]))) {
            return specx_err_set(err, SPECX_EINVAL,
                                 "metrics: histogram '%s': bounds must be finite and strictly "
                                 "increasing (bound %zu)",
                                 d->name, i);
        }
        if (i > 0 && threshold(b, scale) == threshold(d->bounds[i - 1], scale)) {
            return specx_err_set(err, SPECX_EINVAL,
                                 "metrics: histogram '%s': bounds %zu and %zu are equal in "
                                 "observed units (scale %g)",
                                 d->name, i - 1, i, scale);
        }
    }
    return SPECX_OK;
}

/* ---- families ------------------------------------------------------------ */

static size_t series_size(const sx_metrics_family *f)
{
    size_t nb = f->kind == SX_METRICS_HISTOGRAM ? f->nbounds + 1 : 0;
    size_t sz = sizeof(sx_metrics_series) + nb * sizeof(_Atomic uint64_t);
    return (sz + 63) / 64 * 64;
}

static sx_metrics_series *series_new(const sx_metrics_family *f)
{
    size_t sz = series_size(f);
    sx_metrics_series *s = aligned_alloc(64, sz);
    if (s != NULL) {
        memset(s, 0, sz);
        s->fam = f;
    }
    return s;
}

static void series_free(sx_metrics_series *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < SPECX_METRICS_MAX_LABELS; i++) {
        free(s->values[i]);
    }
    free(s);
}

static void family_free(sx_metrics_family *f)
{
    if (f == NULL) {
        return;
    }
    size_t n = atomic_load(&f->n);
    for (size_t i = 0; i < n; i++) {
        series_free(f->slots[i]);
    }
    series_free(f->sink);
    free(f->slots);
    free((void *)f->index);
    free(f->name);
    free(f->help);
    for (size_t i = 0; i < f->nlabels; i++) {
        free(f->labels[i]);
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static uint64_t hash_values(size_t n, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] != NULL ? values[i] : "";
        for (; *v != '\0'; v++) {
            h = (h ^ (unsigned char)*v) * 1099511628211ULL;
        }
        h = (h ^ 0xffu) * 1099511628211ULL;
    }
    return h;
}

static bool values_equal(const sx_metrics_series *s, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->values[i], values[i] != NULL ? values[i] : "") != 0) {
            return false;
        }
    }
    return true;
}

static sx_metrics_family *family_new(const specx_metric_desc *d, enum sx_metrics_kind kind,
                                     double scale)
{
    sx_metrics_family *f = calloc(1, sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    f->kind = kind;
    f->nlabels = d->nlabels;
    f->max_series = d->nlabels == 0     ? 1
                    : d->max_series > 0 ? d->max_series
                                        : SPECX_METRICS_DEFAULT_MAX_SERIES;
    f->scale = scale;
    if (kind == SX_METRICS_HISTOGRAM) {
        f->nbounds = d->nbounds;
        for (size_t i = 0; i < d->nbounds; i++) {
            f->thresh[i] = threshold(d->bounds[i], scale);
            sx_metrics_format_double(d->bounds[i], f->le[i], sizeof f->le[i]);
        }
    }
    size_t icap = 4;
    while (icap < 2 * f->max_series) {
        icap *= 2;
    }
    f->index_mask = icap - 1;
    f->name = strdup(d->name);
    f->help = strdup(d->help);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    f->slots = calloc(f->max_series, sizeof *f->slots);
    f->index = calloc(icap, sizeof *f->index);
    f->sink = series_new(f);
    bool ok = f->name != NULL && f->help != NULL && f->slots != NULL && f->index != NULL &&
              f->sink != NULL;
    for (size_t i = 0; ok && i < d->nlabels; i++) {
        ok = (f->labels[i] = strdup(d->labels[i])) != NULL;
    }
    for (size_t i = 0; ok && i < SPECX_METRICS_MAX_LABELS; i++) {
        ok = (f->sink->values[i] = strdup("")) != NULL;
    }
    if (!ok) {
        family_free(f);
        return NULL;
    }
    return f;
}

static sx_metrics_series *find(sx_metrics_family *f, uint64_t h, const char *const *values,
                               size_t *slot)
{
    size_t i = (size_t)h & f->index_mask;
    for (;; i = (i + 1) & f->index_mask) {
        sx_metrics_series *s = atomic_load_explicit(&f->index[i], memory_order_acquire);
        if (s == NULL) {
            *slot = i;
            return NULL;
        }
        if (s->hash == h && values_equal(s, f->nlabels, values)) {
            return s;
        }
    }
}

/* Under f->mu, with room left: a new series for values, NULL when a value is
 * too long or memory runs out. */
static sx_metrics_series *create_series(sx_metrics_family *f, uint64_t h, const char *const *values)
{
    for (size_t i = 0; i < f->nlabels; i++) {
        if (values[i] != NULL && strlen(values[i]) > SPECX_METRICS_MAX_LABEL_VALUE) {
            return NULL;
        }
    }
    sx_metrics_series *s = series_new(f);
    if (s == NULL) {
        return NULL;
    }
    s->hash = h;
    for (size_t i = 0; i < SPECX_METRICS_MAX_LABELS; i++) {
        const char *v = i < f->nlabels && values[i] != NULL ? values[i] : "";
        if ((s->values[i] = strdup(v)) == NULL) {
            series_free(s);
            return NULL;
        }
    }
    return s;
}

static void count_refusal(sx_metrics_family *f)
{
    specx_counter *c = atomic_load_explicit(&f->refused, memory_order_acquire);
    if (c == NULL) {
        if (f->owner == NULL || f->owner->refused == NULL) {
            return; /* the refusal family itself: its sink absorbs it */
        }
        const char *v[SPECX_METRICS_MAX_LABELS] = {f->name};
        c = specx_counter_family_get(f->owner->refused, v);
        atomic_store_explicit(&f->refused, c, memory_order_release);
    }
    specx_counter_inc(c);
}

static sx_metrics_series *family_get(sx_metrics_family *f, const char *const *values)
{
    if (f->nlabels == 0 || values == NULL) {
        values = no_values;
        if (f->nlabels == 0) {
            return f->slots[0]; /* made with the family */
        }
    }
    uint64_t h = hash_values(f->nlabels, values);
    size_t slot;
    sx_metrics_series *s = find(f, h, values, &slot);
    if (s != NULL) {
        return s;
    }
    pthread_mutex_lock(&f->mu);
    s = find(f, h, values, &slot);
    bool refused = false;
    if (s == NULL) {
        size_t n = atomic_load_explicit(&f->n, memory_order_relaxed);
        s = n < f->max_series ? create_series(f, h, values) : NULL;
        if (s != NULL) {
            f->slots[n] = s;
            atomic_store_explicit(&f->index[slot], s, memory_order_release);
            atomic_store_explicit(&f->n, n + 1, memory_order_release);
        } else {
            s = f->sink;
            refused = true;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (refused) {
        count_refusal(f);
    }
    return s;
}

static specx_status add_family(specx_metrics *m, const specx_metric_desc *d,
                               enum sx_metrics_kind kind, sx_metrics_family **out, specx_err *err)
{
    double scale = d != NULL && d->scale != 0 ? d->scale : 1.0;
    specx_status st = check_desc(d, kind, err);
    if (st == SPECX_OK && kind == SX_METRICS_HISTOGRAM) {
        st = check_bounds(d, scale, err);
    }
    if (st != SPECX_OK) {
        return st;
    }
    sx_metrics_family *f = family_new(d, kind, scale);
    sx_metrics_series *only = f != NULL && d->nlabels == 0 ? create_series(f, 0, no_values) : NULL;
    if (f == NULL || (d->nlabels == 0 && only == NULL)) {
        family_free(f);
        return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory adding '%s'", d->name);
    }
    if (only != NULL) {
        f->slots[0] = only;
        atomic_store(&f->n, 1);
    }
    f->owner = m;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nfams; i++) {
        if (strcmp(m->fams[i]->name, d->name) == 0) {
            pthread_mutex_unlock(&m->mu);
            family_free(f);
            return specx_err_set(err, SPECX_EINVAL, "metrics: '%s' is already registered", d->name);
        }
    }
    if (m->nfams == m->capfams) {
        size_t cap = m->capfams > 0 ? 2 * m->capfams : 16;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        sx_metrics_family **v = realloc(m->fams, cap * sizeof *v);
        if (v == NULL) {
            pthread_mutex_unlock(&m->mu);
            family_free(f);
            return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory adding '%s'", d->name);
        }
        m->fams = v;
        m->capfams = cap;
    }
    m->fams[m->nfams++] = f;
    pthread_mutex_unlock(&m->mu);
    *out = f;
    return SPECX_OK;
}

/* ---- registry ------------------------------------------------------------ */

specx_status specx_metrics_create(specx_metrics **out, specx_err *err)
{
    specx_metrics *m = calloc(1, sizeof *m);
    if (m == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory");
    }
    pthread_mutex_init(&m->render_mu, NULL);
    pthread_mutex_init(&m->mu, NULL);
    static const char *const labels[1] = {"metric"};
    specx_metric_desc d = {
        .name = REFUSED_NAME,
        .help = "Label sets a metric refused because it reached its series limit (or a value "
                "was too long); their updates are not exported.",
        .labels = labels,
        .nlabels = 1,
        .max_series = 256,
    };
    specx_status st = specx_metrics_add_counter(m, &d, &m->refused, err);
    if (st != SPECX_OK) {
        specx_metrics_destroy(m);
        return st;
    }
    *out = m;
    return SPECX_OK;
}

void specx_metrics_destroy(specx_metrics *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t i = 0; i < m->nfams; i++) {
        family_free(m->fams[i]);
    }
    free(m->fams);
    free(m->cols);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->render_mu);
    free(m);
}

specx_status specx_metrics_add_counter(specx_metrics *m, const specx_metric_desc *d,
                                       specx_counter_family **out, specx_err *err)
{
    sx_metrics_family *f = NULL;
    specx_status st = add_family(m, d, SX_METRICS_COUNTER, &f, err);
    *out = (specx_counter_family *)(void *)f;
    return st;
}

specx_status specx_metrics_add_gauge(specx_metrics *m, const specx_metric_desc *d,
                                     specx_gauge_family **out, specx_err *err)
{
    sx_metrics_family *f = NULL;
    specx_status st = add_family(m, d, SX_METRICS_GAUGE, &f, err);
    *out = (specx_gauge_family *)(void *)f;
    return st;
}

specx_status specx_metrics_add_histogram(specx_metrics *m, const specx_metric_desc *d,
                                         specx_histogram_family **out, specx_err *err)
{
    sx_metrics_family *f = NULL;
    specx_status st = add_family(m, d, SX_METRICS_HISTOGRAM, &f, err);
    *out = (specx_histogram_family *)(void *)f;
    return st;
}

specx_counter *specx_counter_family_get(specx_counter_family *f, const char *const *values)
{
    return (specx_counter *)(void *)family_get((sx_metrics_family *)(void *)f, values);
}

specx_gauge *specx_gauge_family_get(specx_gauge_family *f, const char *const *values)
{
    return (specx_gauge *)(void *)family_get((sx_metrics_family *)(void *)f, values);
}

specx_histogram *specx_histogram_family_get(specx_histogram_family *f, const char *const *values)
{
    return (specx_histogram *)(void *)family_get((sx_metrics_family *)(void *)f, values);
}

specx_status specx_metrics_add_collector(specx_metrics *m, specx_metrics_collector_fn fn, void *arg,
                                         specx_err *err)
{
    pthread_mutex_lock(&m->mu);
    if (m->ncols == m->capcols) {
        size_t cap = m->capcols > 0 ? 2 * m->capcols : 4;
        sx_metrics_collector *v = realloc(m->cols, cap * sizeof *v);
        if (v == NULL) {
            pthread_mutex_unlock(&m->mu);
            return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory adding a collector");
        }
        m->cols = v;
        m->capcols = cap;
    }
    m->cols[m->ncols++] = (sx_metrics_collector){fn, arg};
    pthread_mutex_unlock(&m->mu);
    return SPECX_OK;
}

void specx_metrics_remove_collector(specx_metrics *m, specx_metrics_collector_fn fn, void *arg)
{
    pthread_mutex_lock(&m->render_mu); /* waits for a render that may be calling fn */
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ncols; i++) {
        if (m->cols[i].fn == fn && m->cols[i].arg == arg) {
            memmove(&m->cols[i], &m->cols[i + 1], (m->ncols - i - 1) * sizeof m->cols[0]);
            m->ncols--;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_unlock(&m->render_mu);
}

/* Collectors run with render_mu held (so removal waits) and mu released (so
 * they may register families or look up series). */
static specx_status run_collectors(specx_metrics *m, specx_err *err)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->ncols;
    sx_metrics_collector *cols = n > 0 ? malloc(n * sizeof *cols) : NULL;
    if (n > 0 && cols == NULL) {
        pthread_mutex_unlock(&m->mu);
        return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory rendering");
    }
    if (n > 0) {
        memcpy(cols, m->cols, n * sizeof *cols);
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        cols[i].fn(cols[i].arg);
    }
    free(cols);
    return SPECX_OK;
}

specx_status specx_metrics_render(specx_metrics *m, char **text, size_t *len, specx_err *err)
{
    pthread_mutex_lock(&m->render_mu);
    specx_status st = run_collectors(m, err);
    sx_metrics_family **fams = NULL;
    size_t n = 0;
    if (st == SPECX_OK) {
        pthread_mutex_lock(&m->mu);
        n = m->nfams;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        fams = malloc(n * sizeof *fams);
        if (fams != NULL) {
            // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
            memcpy(fams, m->fams, n * sizeof *fams);
        }
        pthread_mutex_unlock(&m->mu);
        st = fams == NULL ? specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory rendering")
                          : sx_metrics_render_families(fams, n, text, len, err);
    }
    pthread_mutex_unlock(&m->render_mu);
    free(fams);
    return st;
}

void specx_metrics_text_free(char *text)
{
    free(text);
}

/* ---- updates --------------------------------------------------------------- */

static sx_metrics_series *S(const void *p)
{
    return (sx_metrics_series *)(uintptr_t)p;
}

void specx_counter_add(specx_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&S(c)->value, n, memory_order_relaxed);
}

void specx_counter_set(specx_counter *c, uint64_t v)
{
    atomic_store_explicit(&S(c)->value, v, memory_order_relaxed);
}

uint64_t specx_counter_value(const specx_counter *c)
{
    return atomic_load_explicit(&S(c)->value, memory_order_relaxed);
}

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

void specx_gauge_set(specx_gauge *g, double v)
{
    atomic_store_explicit(&S(g)->value, dbits(v), memory_order_relaxed);
}

void specx_gauge_add(specx_gauge *g, double d)
{
    _Atomic uint64_t *p = &S(g)->value;
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + d),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

double specx_gauge_value(const specx_gauge *g)
{
    return bitsd(atomic_load_explicit(&S(g)->value, memory_order_relaxed));
}

void specx_histogram_observe(specx_histogram *h, int64_t v)
{
    sx_metrics_series *s = S(h);
    const sx_metrics_family *f = s->fam;
    if (v < 0) {
        v = 0;
    }
    size_t i = 0;
    while (i < f->nbounds && v > f->thresh[i]) {
        i++;
    }
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum, (uint64_t)v, memory_order_relaxed);
}

uint64_t specx_histogram_count(const specx_histogram *h)
{
    const sx_metrics_series *s = S(h);
    uint64_t n = 0;
    for (size_t i = 0; i <= s->fam->nbounds; i++) {
        n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    }
    return n;
}

double specx_histogram_sum(const specx_histogram *h)
{
    const sx_metrics_series *s = S(h);
    return (double)atomic_load_explicit(&s->sum, memory_order_relaxed) / s->fam->scale;
}
