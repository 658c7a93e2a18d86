/* stats.c — the detection server's statistics and their JSON form. */
#include "serve/stats.h"

#include <cjson/cJSON.h>

#include "serve/metrics.h"

void sx_serve_stats_init(sx_serve_stats *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->st = (specx_server_stats){0};
    s->metrics = NULL;
    specx_hist_init(&s->st.queue_wait);
    specx_hist_init(&s->st.compute);
}

void sx_serve_stats_fini(sx_serve_stats *s)
{
    pthread_mutex_destroy(&s->mu);
}

static uint64_t *counter(specx_server_stats *st, sx_serve_counter c)
{
    switch (c) {
    case SX_SERVE_RECEIVED:
        return &st->received;
    case SX_SERVE_COMPLETED:
        return &st->completed;
    case SX_SERVE_EXPIRED:
        return &st->expired;
    case SX_SERVE_CANCELLED:
        return &st->cancelled;
    case SX_SERVE_REJECTED:
        return &st->rejected;
    case SX_SERVE_ERRORS:
        return &st->errors;
    case SX_SERVE_HEALTH_CHECKS:
        return &st->health_checks;
    case SX_SERVE_STREAMS:
        return &st->streams;
    case SX_SERVE_EVICTED:
        return &st->evicted;
    }
    return &st->errors;
}

void sx_serve_stats_count(sx_serve_stats *s, sx_serve_counter c)
{
    if (c == SX_SERVE_EXPIRED) {
        sx_serve_metrics_expired(s->metrics);
    } else if (c == SX_SERVE_CANCELLED) {
        sx_serve_metrics_cancelled(s->metrics);
    }
    pthread_mutex_lock(&s->mu);
    (*counter(&s->st, c))++;
    pthread_mutex_unlock(&s->mu);
}

void sx_serve_stats_computed(sx_serve_stats *s, specx_dur_t queue_wait, specx_dur_t compute,
                             specx_status outcome)
{
    sx_serve_metrics_computed(s->metrics, queue_wait, compute);
    if (outcome == SPECX_ECANCELED) {
        sx_serve_metrics_cancelled(s->metrics);
    }
    pthread_mutex_lock(&s->mu);
    specx_hist_record(&s->st.queue_wait, queue_wait);
    specx_hist_record(&s->st.compute, compute);
    (*counter(&s->st, outcome == SPECX_OK          ? SX_SERVE_COMPLETED
                      : outcome == SPECX_ECANCELED ? SX_SERVE_CANCELLED
                                                   : SX_SERVE_ERRORS))++;
    pthread_mutex_unlock(&s->mu);
}

void sx_serve_stats_get(sx_serve_stats *s, specx_server_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}

static cJSON *hist_json(const specx_hist *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "count", (double)h->count);
    cJSON_AddNumberToObject(o, "mean_ms", specx_hist_mean(h) / 1e6);
    cJSON_AddNumberToObject(o, "p50_ms", (double)specx_hist_quantile(h, 0.5) / 1e6);
    cJSON_AddNumberToObject(o, "p90_ms", (double)specx_hist_quantile(h, 0.9) / 1e6);
    cJSON_AddNumberToObject(o, "p99_ms", (double)specx_hist_quantile(h, 0.99) / 1e6);
    cJSON_AddNumberToObject(o, "max_ms", (double)specx_hist_quantile(h, 1.0) / 1e6);
    return o;
}

char *sx_serve_stats_json(const specx_server_stats *st, int port, int workers, bool serving)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(o, "port", port);
    cJSON_AddNumberToObject(o, "workers", workers);
    cJSON_AddNumberToObject(o, "received", (double)st->received);
    cJSON_AddNumberToObject(o, "completed", (double)st->completed);
    cJSON_AddNumberToObject(o, "expired_before_start", (double)st->expired);
    cJSON_AddNumberToObject(o, "cancelled", (double)st->cancelled);
    cJSON_AddNumberToObject(o, "rejected", (double)st->rejected);
    cJSON_AddNumberToObject(o, "evicted", (double)st->evicted);
    cJSON_AddNumberToObject(o, "errors", (double)st->errors);
    cJSON_AddNumberToObject(o, "health_checks", (double)st->health_checks);
    cJSON_AddNumberToObject(o, "streams", (double)st->streams);
    cJSON_AddNumberToObject(o, "queue_len", (double)st->queue_len);
    cJSON_AddNumberToObject(o, "queue_clients", (double)st->queue_clients);
    cJSON_AddBoolToObject(o, "serving", serving);
    cJSON_AddItemToObject(o, "queue_wait", hist_json(&st->queue_wait));
    cJSON_AddItemToObject(o, "compute", hist_json(&st->compute));
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}
