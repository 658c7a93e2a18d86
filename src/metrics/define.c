/* define.c — families registered in a row, with a sticky first error. */
#include "metrics/define.h"

specx_counter_family *sx_metrics_def_counter(sx_metrics_def *d, const specx_metric_desc *desc)
{
    specx_counter_family *f = NULL;
    if (d->st == SPECX_OK) {
        d->st = specx_metrics_add_counter(d->reg, desc, &f, d->err);
    }
    return f;
}

specx_gauge_family *sx_metrics_def_gauge(sx_metrics_def *d, const specx_metric_desc *desc)
{
    specx_gauge_family *f = NULL;
    if (d->st == SPECX_OK) {
        d->st = specx_metrics_add_gauge(d->reg, desc, &f, d->err);
    }
    return f;
}

specx_histogram_family *sx_metrics_def_histogram(sx_metrics_def *d, const specx_metric_desc *desc)
{
    specx_histogram_family *f = NULL;
    if (d->st == SPECX_OK) {
        d->st = specx_metrics_add_histogram(d->reg, desc, &f, d->err);
    }
    return f;
}
