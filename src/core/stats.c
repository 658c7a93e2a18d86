/* stats.c — operator statistics formatting: JSON (cJSON) and a readable table. */
#include "specx/stats.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

void specx_operator_stats_free(specx_operator_stats *s)
{
    free(s);
}

double specx_stats_fallback_ratio(const specx_operator_stats *s)
{
    return s->outputs ? (double)s->fallbacks / (double)s->outputs : 0.0;
}

static uint64_t delta(uint64_t now, uint64_t before)
{
    return now >= before ? now - before : 0;
}

specx_status specx_stats_diff(const specx_operator_stats *now, const specx_operator_stats *before,
                              specx_operator_stats **out)
{
    if (now == NULL || before == NULL || out == NULL || now->n_exec != before->n_exec) {
        return SPECX_EINVAL;
    }
    size_t n = now->n_exec;
    specx_operator_stats *d = malloc(sizeof *d + n * sizeof(specx_exec_stats));
    if (d == NULL) {
        return SPECX_ENOMEM;
    }
    *d = *now;
    d->exec = (specx_exec_stats *)(d + 1);
    d->submitted = delta(now->submitted, before->submitted);
    d->outputs = delta(now->outputs, before->outputs);
    d->remote_wins = delta(now->remote_wins, before->remote_wins);
    d->local_wins = delta(now->local_wins, before->local_wins);
    d->no_results = delta(now->no_results, before->no_results);
    d->fallbacks = delta(now->fallbacks, before->fallbacks);
    d->late_accepted = delta(now->late_accepted, before->late_accepted);
    d->after_deadline = delta(now->after_deadline, before->after_deadline);
    specx_hist_sub(&d->latency, &before->latency);
    specx_hist_sub(&d->hol_wait, &before->hol_wait);
    for (size_t i = 0; i < n; i++) {
        specx_exec_stats *e = &d->exec[i];
        const specx_exec_stats *b = &before->exec[i];
        *e = now->exec[i];
        e->sent = delta(e->sent, b->sent);
        e->completed = delta(e->completed, b->completed);
        e->won = delta(e->won, b->won);
        e->outranked = delta(e->outranked, b->outranked);
        e->late = delta(e->late, b->late);
        e->failed = delta(e->failed, b->failed);
        e->skipped = delta(e->skipped, b->skipped);
        e->shed = delta(e->shed, b->shed);
        e->cancelled = delta(e->cancelled, b->cancelled);
        e->late_accepted = delta(e->late_accepted, b->late_accepted);
        specx_hist_sub(&e->latency, &b->latency);
    }
    *out = d;
    return SPECX_OK;
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* {"count","mean_ms","p50_ms","p90_ms","p99_ms","p999_ms","max_ms"} */
static cJSON *hist_json(const specx_hist *h)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(o, "count", (double)h->count);
    cJSON_AddNumberToObject(o, "mean_ms", specx_hist_mean(h) / 1e6);
    cJSON_AddNumberToObject(o, "p50_ms", ms(specx_hist_quantile(h, 0.50)));
    cJSON_AddNumberToObject(o, "p90_ms", ms(specx_hist_quantile(h, 0.90)));
    cJSON_AddNumberToObject(o, "p99_ms", ms(specx_hist_quantile(h, 0.99)));
    cJSON_AddNumberToObject(o, "p999_ms", ms(specx_hist_quantile(h, 0.999)));
    cJSON_AddNumberToObject(o, "max_ms", ms(h->count ? h->max : 0));
    return o;
}

cJSON *specx_stats_to_cjson(const specx_operator_stats *s)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(root, "submitted", (double)s->submitted);
    cJSON_AddNumberToObject(root, "outputs", (double)s->outputs);
    cJSON_AddNumberToObject(root, "pending", (double)s->pending);
    cJSON_AddNumberToObject(root, "remote_wins", (double)s->remote_wins);
    cJSON_AddNumberToObject(root, "local_wins", (double)s->local_wins);
    cJSON_AddNumberToObject(root, "no_results", (double)s->no_results);
    cJSON_AddNumberToObject(root, "fallbacks", (double)s->fallbacks);
    cJSON_AddNumberToObject(root, "fallback_ratio", specx_stats_fallback_ratio(s));
    cJSON_AddNumberToObject(root, "late_accepted", (double)s->late_accepted);
    cJSON_AddNumberToObject(root, "after_deadline_1ms", (double)s->after_deadline);
    cJSON_AddItemToObject(root, "latency", hist_json(&s->latency));
    cJSON_AddItemToObject(root, "hol_wait", hist_json(&s->hol_wait));
    cJSON *arr = cJSON_AddArrayToObject(root, "executors");
    for (size_t i = 0; arr != NULL && i < s->n_exec; i++) {
        const specx_exec_stats *e = &s->exec[i];
        cJSON *o = cJSON_CreateObject();
        if (o == NULL) {
            break;
        }
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddNumberToObject(o, "index", (double)i);
        cJSON_AddNumberToObject(o, "priority", e->priority);
        cJSON_AddStringToObject(o, "kind", e->is_local ? "local" : "remote");
        cJSON_AddNumberToObject(o, "max_in_flight", e->max_in_flight);
        cJSON_AddNumberToObject(o, "sent", (double)e->sent);
        cJSON_AddNumberToObject(o, "completed", (double)e->completed);
        cJSON_AddNumberToObject(o, "won", (double)e->won);
        cJSON_AddNumberToObject(o, "outranked", (double)e->outranked);
        cJSON_AddNumberToObject(o, "late", (double)e->late);
        cJSON_AddNumberToObject(o, "failed", (double)e->failed);
        cJSON_AddNumberToObject(o, "skipped", (double)e->skipped);
        cJSON_AddNumberToObject(o, "shed", (double)e->shed);
        cJSON_AddNumberToObject(o, "cancelled", (double)e->cancelled);
        cJSON_AddNumberToObject(o, "late_accepted", (double)e->late_accepted);
        cJSON_AddNumberToObject(o, "in_flight", (double)e->in_flight);
        cJSON_AddItemToObject(o, "latency", hist_json(&e->latency));
        cJSON_AddItemToArray(arr, o);
    }
    return root;
}

char *specx_stats_to_json(const specx_operator_stats *s)
{
    cJSON *root = specx_stats_to_cjson(s);
    if (root == NULL) {
        return NULL;
    }
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return txt;
}

static void print_pcts(FILE *f, const specx_hist *h)
{
    if (h->count == 0) {
        fprintf(f, " %8s %8s %8s %8s %8s", "-", "-", "-", "-", "-");
        return;
    }
    fprintf(f, " %8.3f %8.3f %8.3f %8.3f %8.3f", ms(specx_hist_quantile(h, 0.50)),
            ms(specx_hist_quantile(h, 0.90)), ms(specx_hist_quantile(h, 0.99)),
            ms(specx_hist_quantile(h, 0.999)), ms(h->max));
}

void specx_stats_print(const specx_operator_stats *s, FILE *f)
{
    fprintf(f, "executors (priority: higher = more preferred; local always ranks lowest)\n");
    fprintf(f, "%-16s %5s %-6s %7s %7s %7s %7s %7s %7s %7s %7s %7s |%8s %8s %8s %8s %8s\n", "name",
            "prio", "kind", "sent", "done", "won", "outrank", "late", "failed", "skipped", "shed",
            "cancel", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
    for (size_t i = 0; i < s->n_exec; i++) {
        const specx_exec_stats *e = &s->exec[i];
        fprintf(f, "%-16.16s %5d %-6s %7llu %7llu %7llu %7llu %7llu %7llu %7llu %7llu %7llu |",
                e->name, e->priority, e->is_local ? "local" : "remote", (unsigned long long)e->sent,
                (unsigned long long)e->completed, (unsigned long long)e->won,
                (unsigned long long)e->outranked, (unsigned long long)e->late,
                (unsigned long long)e->failed, (unsigned long long)e->skipped,
                (unsigned long long)e->shed, (unsigned long long)e->cancelled);
        print_pcts(f, &e->latency);
        fputc('\n', f);
    }
    fprintf(f, "(latency: call start to completion, successful calls only)\n");
    double out = s->outputs ? (double)s->outputs : 1.0;
    fprintf(f,
            "outputs %llu of %llu submitted (%llu pending): remote %llu (%.1f%%), local %llu "
            "(%.1f%%), no result %llu (%.1f%%)\n",
            (unsigned long long)s->outputs, (unsigned long long)s->submitted,
            (unsigned long long)s->pending, (unsigned long long)s->remote_wins,
            100.0 * (double)s->remote_wins / out, (unsigned long long)s->local_wins,
            100.0 * (double)s->local_wins / out, (unsigned long long)s->no_results,
            100.0 * (double)s->no_results / out);
    fprintf(f,
            "fallback after deadline %llu (%.1f%%), late remote accepted %llu, emitted > deadline "
            "+ 1 ms %llu\n",
            (unsigned long long)s->fallbacks, 100.0 * specx_stats_fallback_ratio(s),
            (unsigned long long)s->late_accepted, (unsigned long long)s->after_deadline);
    fprintf(f, "%-32s %8s %8s %8s %8s %8s\n", "", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
            "max ms");
    fprintf(f, "%-32s", "end-to-end (arrival to output)");
    print_pcts(f, &s->latency);
    fputc('\n', f);
    fprintf(f, "%-32s", "head-of-line wait (decided->out)");
    print_pcts(f, &s->hol_wait);
    fputc('\n', f);
}
