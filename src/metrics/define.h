/* metrics/define.h — internal: registering a set of families with one error
 * check at the end, for the modules that define their families in a row
 * (serve, pipeline).
 *
 * Contract
 *  - sx_metrics_def carries the registry, the caller's err and the first
 *    failure: once st is not SPECX_OK every later call returns NULL without
 *    touching the registry, so a caller registers everything and checks st
 *    once (err says which family failed first).
 *  - Returns what specx_metrics_add_* gives (NULL on failure). */
#ifndef SX_METRICS_DEFINE_H
#define SX_METRICS_DEFINE_H

#include "specx/metrics.h"

typedef struct sx_metrics_def {
    specx_metrics *reg;
    specx_err *err;
    specx_status st;
} sx_metrics_def;

specx_counter_family *sx_metrics_def_counter(sx_metrics_def *d, const specx_metric_desc *desc);
specx_gauge_family *sx_metrics_def_gauge(sx_metrics_def *d, const specx_metric_desc *desc);
specx_histogram_family *sx_metrics_def_histogram(sx_metrics_def *d, const specx_metric_desc *desc);

#endif
