/* render.c — the Prometheus text exposition format (version 0.0.4).
 *
 * Design notes
 *  - Values are read with relaxed atomic loads while updates go on, so a
 *    scrape is a snapshot per value, not across values; a histogram's
 *    _count is the sum of the buckets read, so it always matches +Inf.
 *  - Order is stable across scrapes and runs: families by name, series by
 *    their label values (compared label by label).
 *  - Escaping: HELP text escapes backslash and newline; label values also
 *    escape the double quote. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/registry.h"

typedef struct buf {
    char *p;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 4096;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_escaped(buf *b, const char *s, bool quote)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : quote && *s == '"' ? "\\\""
                                               : NULL;
        if (esc != NULL) {
            put(b, run, (size_t)(s - run));
            puts_(b, esc);
            run = s + 1;
        }
    }
    put(b, run, (size_t)(s - run));
}

void sx_metrics_format_double(double v, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, cap, "%.0f", v); /* integers without an exponent: 10, not 1e+01 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) {
            return;
        }
    }
}

static void put_double(buf *b, double v)
{
    char tmp[40];
    sx_metrics_format_double(v, tmp, sizeof tmp);
    puts_(b, tmp);
}

static void put_u64(buf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    put(b, tmp, (size_t)n);
}

/* name{l1="v1",...[,le="x"]} — braces only when there is a label. */
static void put_series_name(buf *b, const sx_metrics_family *f, const sx_metrics_series *s,
                            const char *suffix, const char *le)
{
    puts_(b, f->name);
    puts_(b, suffix);
    if (f->nlabels == 0 && le == NULL) {
        return;
    }
    put(b, "{", 1);
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i > 0) {
            put(b, ",", 1);
        }
        puts_(b, f->labels[i]);
        put(b, "=\"", 2);
        put_escaped(b, s->values[i], true);
        put(b, "\"", 1);
    }
    if (le != NULL) {
        puts_(b, f->nlabels > 0 ? ",le=\"" : "le=\"");
        puts_(b, le);
        put(b, "\"", 1);
    }
    put(b, "}", 1);
}

static void render_histogram(buf *b, const sx_metrics_family *f, const sx_metrics_series *s)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        put_series_name(b, f, s, "_bucket", i < f->nbounds ? f->le[i] : "+Inf");
        put(b, " ", 1);
        put_u64(b, cum);
        put(b, "\n", 1);
    }
    put_series_name(b, f, s, "_sum", NULL);
    put(b, " ", 1);
    put_double(b, (double)atomic_load_explicit(&s->sum, memory_order_relaxed) / f->scale);
    put(b, "\n", 1);
    put_series_name(b, f, s, "_count", NULL);
    put(b, " ", 1);
    put_u64(b, cum);
    put(b, "\n", 1);
}

static void render_series(buf *b, const sx_metrics_family *f, const sx_metrics_series *s)
{
    if (f->kind == SX_METRICS_HISTOGRAM) {
        render_histogram(b, f, s);
        return;
    }
    put_series_name(b, f, s, "", NULL);
    put(b, " ", 1);
    uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    if (f->kind == SX_METRICS_COUNTER) {
        put_u64(b, v);
    } else {
        double d;
        memcpy(&d, &v, sizeof d);
        put_double(b, d);
    }
    put(b, "\n", 1);
}

static int cmp_series(const void *a, const void *b, void *nlabels)
{
    const sx_metrics_series *x = *(sx_metrics_series *const *)a;
    const sx_metrics_series *y = *(sx_metrics_series *const *)b;
    for (size_t i = 0; i < *(const size_t *)nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c != 0) {
            return c;
        }
    }
    return 0;
}

static int cmp_family(const void *a, const void *b)
{
    const sx_metrics_family *x = *(sx_metrics_family *const *)a;
    const sx_metrics_family *y = *(sx_metrics_family *const *)b;
    return strcmp(x->name, y->name);
}

static const char *type_name(enum sx_metrics_kind k)
{
    return k == SX_METRICS_COUNTER ? "counter" : k == SX_METRICS_GAUGE ? "gauge" : "histogram";
}

static bool render_family(buf *b, const sx_metrics_family *f)
{
    size_t n = atomic_load_explicit(&f->n, memory_order_acquire);
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    sx_metrics_series **v = n > 0 ? malloc(n * sizeof *v) : NULL;
    if (n > 0 && v == NULL) {
        return false;
    }
    if (n > 0) {
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        memcpy(v, f->slots, n * sizeof *v);
    }
    if (n > 1) {
        size_t nl = f->nlabels;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        qsort_r(v, n, sizeof *v, cmp_series, &nl);
    }
    puts_(b, "# HELP ");
    puts_(b, f->name);
    put(b, " ", 1);
    put_escaped(b, f->help, false);
    puts_(b, "\n# TYPE ");
    puts_(b, f->name);
    put(b, " ", 1);
    puts_(b, type_name(f->kind));
    put(b, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        render_series(b, f, v[i]);
    }
    free(v);
    return true;
}

specx_status sx_metrics_render_families(sx_metrics_family *const *fams, size_t nfams, char **text,
                                        size_t *len, specx_err *err)
{
    // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
    sx_metrics_family **v = malloc((nfams > 0 ? nfams : 1) * sizeof *v);
    buf b = {0};
    bool ok = v != NULL;
    if (ok) {
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        memcpy(v, fams, nfams * sizeof *v);
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        qsort(v, nfams, sizeof *v, cmp_family);
        put(&b, "", 0); /* an empty registry still yields "" */
    }
    for (size_t i = 0; ok && i < nfams; i++) {
        ok = render_family(&b, v[i]);
    }
    free(v);
    if (!ok || b.failed) {
        free(b.p);
        return specx_err_set(err, SPECX_ENOMEM, "metrics: out of memory rendering");
    }
    *text = b.p;
    *len = b.len;
    return SPECX_OK;
}
