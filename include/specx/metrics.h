/* specx/metrics.h — a small metrics registry (counters, gauges, histograms
 * with bounded label sets) rendered in the Prometheus text exposition format,
 * and an HTTP endpoint that serves it at GET /metrics.
 *
 * Contract
 *  - Hot path: specx_counter_*, specx_gauge_* and specx_histogram_* are
 *    lock-free (relaxed atomics; a gauge add or a histogram's bucket search
 *    is a few instructions more), thread-safe and never allocate or fail.
 *  - Families and their series live until specx_metrics_destroy; handles
 *    stay valid that long and never move. Families are registered once
 *    (set-up, not per frame); a name can be registered only once.
 *  - A labelled family holds at most max_series label sets. Looking up an
 *    existing set is lock-free; creating one takes the family's mutex for a
 *    copy. Beyond the limit (or for a value that is too long or when memory
 *    runs out) the lookup returns the family's sink: updates to it are
 *    accepted and never rendered, and the refusal is counted in
 *    specx_metrics_label_sets_refused_total{metric="..."}. Lookups never
 *    return NULL, so a caller never branches on them.
 *  - Rendering (a scrape) copies values with atomic loads; it takes no lock
 *    a metric update waits on. Scrapes are serialised among themselves.
 *    Output order is stable: families by name, series by label values.
 *  - Collectors run at the start of every render, one at a time, with no
 *    registry lock held; they fill gauges/counters from their owner's own
 *    snapshot. A collector must not render.
 *  - Names follow Prometheus conventions and are checked at registration:
 *    [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in _total, base units
 *    (_seconds, _bytes). Label names [a-zA-Z_][a-zA-Z0-9_]*, not starting
 *    with "__"; "le" is reserved. Errors leave the registry unchanged. */
#ifndef SPECX_METRICS_H
#define SPECX_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPECX_METRICS_MAX_LABELS 4        /* label names per family */
#define SPECX_METRICS_MAX_BUCKETS 32      /* finite histogram bounds; +Inf is implied */
#define SPECX_METRICS_MAX_LABEL_VALUE 128 /* bytes; longer values are refused */
#define SPECX_METRICS_DEFAULT_MAX_SERIES 64
/* The content type of the text exposition format this library renders. */
#define SPECX_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct specx_metrics specx_metrics;
typedef struct specx_counter specx_counter;
typedef struct specx_gauge specx_gauge;
typedef struct specx_histogram specx_histogram;
typedef struct specx_counter_family specx_counter_family;
typedef struct specx_gauge_family specx_gauge_family;
typedef struct specx_histogram_family specx_histogram_family;

/* What a family is. Strings are copied; arrays are read during the call. */
typedef struct specx_metric_desc {
    const char *name;
    const char *help;          /* one line, non-empty */
    const char *const *labels; /* nlabels label names (NULL when nlabels is 0) */
    size_t nlabels;
    size_t max_series; /* label sets kept; 0 = SPECX_METRICS_DEFAULT_MAX_SERIES */
    /* Histograms only. bounds: finite upper bounds in base units, strictly
     * increasing (+Inf is added). scale: observed units per base unit, so that
     * observations are integers: 1e9 to observe nanoseconds into a _seconds
     * histogram, 1 (or 0) for bytes. */
    const double *bounds;
    size_t nbounds;
    double scale;
} specx_metric_desc;

/* ---- registry --------------------------------------------------------- */

specx_status specx_metrics_create(specx_metrics **out, specx_err *err);
/* Frees the registry, its families and series. No concurrent use: stop the
 * HTTP endpoint and every updater first. NULL is a no-op. */
void specx_metrics_destroy(specx_metrics *m);

/* Register a family. Thread-safe. SPECX_EINVAL for a bad or taken name, bad
 * labels or bounds; SPECX_ENOMEM. */
specx_status specx_metrics_add_counter(specx_metrics *m, const specx_metric_desc *d,
                                       specx_counter_family **out, specx_err *err);
specx_status specx_metrics_add_gauge(specx_metrics *m, const specx_metric_desc *d,
                                     specx_gauge_family **out, specx_err *err);
specx_status specx_metrics_add_histogram(specx_metrics *m, const specx_metric_desc *d,
                                         specx_histogram_family **out, specx_err *err);

/* The series for a label set: values has the family's nlabels entries, in
 * the order of its label names (NULL for an unlabelled family; a NULL entry
 * counts as ""). Never NULL (see the sink in the contract). Thread-safe;
 * lock-free when the set exists. Callers on a frame path keep the handle. */
specx_counter *specx_counter_family_get(specx_counter_family *f, const char *const *values);
specx_gauge *specx_gauge_family_get(specx_gauge_family *f, const char *const *values);
specx_histogram *specx_histogram_family_get(specx_histogram_family *f, const char *const *values);

/* Called at the start of every render with arg. Thread-safe to add/remove;
 * after remove returns, fn is not running and will not be called again (so
 * remove waits for a render in progress). Remove of an unknown pair is a
 * no-op. add fails only with SPECX_ENOMEM. */
typedef void (*specx_metrics_collector_fn)(void *arg);
specx_status specx_metrics_add_collector(specx_metrics *m, specx_metrics_collector_fn fn, void *arg,
                                         specx_err *err);
void specx_metrics_remove_collector(specx_metrics *m, specx_metrics_collector_fn fn, void *arg);

/* Runs the collectors, then renders every family into a new NUL-terminated
 * buffer (*text, length *len) given back with specx_metrics_text_free.
 * Thread-safe; blocks only behind another render. SPECX_ENOMEM. */
specx_status specx_metrics_render(specx_metrics *m, char **text, size_t *len, specx_err *err);
void specx_metrics_text_free(char *text);

/* ---- updates: lock-free, thread-safe, never fail ------------------------ */

void specx_counter_add(specx_counter *c, uint64_t n);
static inline void specx_counter_inc(specx_counter *c)
{
    specx_counter_add(c, 1);
}
/* For collectors mirroring a total kept elsewhere: the value must not go
 * down (Prometheus reads a drop as a restart). */
void specx_counter_set(specx_counter *c, uint64_t v);
uint64_t specx_counter_value(const specx_counter *c);

void specx_gauge_set(specx_gauge *g, double v);
void specx_gauge_add(specx_gauge *g, double d);
double specx_gauge_value(const specx_gauge *g);

/* v in the family's observed unit (see scale); negative values count as 0. */
void specx_histogram_observe(specx_histogram *h, int64_t v);
/* Observations so far and their sum in base units (a snapshot; for tests
 * and collectors). */
uint64_t specx_histogram_count(const specx_histogram *h);
double specx_histogram_sum(const specx_histogram *h);

/* ---- HTTP endpoint ------------------------------------------------------ */

typedef struct specx_metrics_http specx_metrics_http;

/* Serves m at GET (and HEAD) /metrics on addr ("HOST:PORT", "[V6]:PORT";
 * HOST numeric or resolvable; port 0 picks a free one), from its own thread,
 * which blocks every signal so the caller's signal handling is unaffected.
 * Other paths answer 404, other methods 405. Binds before returning:
 * SPECX_EINVAL for a malformed address, SPECX_EIO when binding fails (the
 * message names the address and the reason). m must outlive the endpoint. */
specx_status specx_metrics_http_open(specx_metrics *m, const char *addr, specx_metrics_http **out,
                                     specx_err *err);
/* The bound TCP port (the one picked for port 0). */
int specx_metrics_http_port(const specx_metrics_http *h);
/* Stops accepting, waits for a scrape in progress, joins the thread, frees.
 * Not from a collector. NULL is a no-op. */
void specx_metrics_http_close(specx_metrics_http *h);

#ifdef __cplusplus
}
#endif
#endif
