/* outage.c — when a link direction passes nothing: periodic or random
 * outage intervals, generated lazily.
 *
 * Design notes: periodic schedules are closed-form. Random schedules keep a
 * sorted list of generated intervals up to the latest time queried;
 * intervals that ended before a prune time are dropped and their length is
 * kept in pruned_ns so elapsed-outage statistics stay exact. */
#include "netem/outage.h"

#include <math.h>
#include <stdlib.h>

static int64_t ms_to_ns(double ms)
{
    return (int64_t)llround(ms * 1e6);
}

void sx_netem_outage_init(sx_netem_outage *s, const sx_netem_outage_cfg *cfg, specx_time_t origin,
                          uint64_t seed)
{
    *s = (sx_netem_outage){.cfg = *cfg, .origin = origin};
    sx_netem_rng_seed(&s->rng, seed, SX_NETEM_STREAM_OUTAGE);
    if (cfg->kind == SX_NETEM_OUTAGE_RANDOM) {
        s->next_start = origin + ms_to_ns(cfg->offset_ms - cfg->mean_interval_ms *
                                                               log(sx_netem_rng_uniform(&s->rng)));
    }
}

void sx_netem_outage_clear(sx_netem_outage *s)
{
    free(s->start);
    free(s->end);
    s->start = s->end = NULL;
    s->n = s->cap = 0;
}

/* Generates random intervals until one starts after t. Returns false on
 * allocation failure (the schedule then just stops growing: no outage). */
static bool generate_until(sx_netem_outage *s, specx_time_t t)
{
    while (s->next_start <= t) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            specx_time_t *a = realloc(s->start, cap * sizeof *a);
            if (!a) {
                return false;
            }
            s->start = a;
            specx_time_t *b = realloc(s->end, cap * sizeof *b);
            if (!b) {
                return false;
            }
            s->end = b;
            s->cap = cap;
        }
        double dur = s->cfg.duration_ms;
        if (s->cfg.exp_duration) {
            dur = -dur * log(sx_netem_rng_uniform(&s->rng));
        }
        specx_time_t st = s->next_start;
        specx_time_t en = st + ms_to_ns(dur);
        s->start[s->n] = st;
        s->end[s->n] = en;
        s->n++;
        s->next_start =
            en + ms_to_ns(-s->cfg.mean_interval_ms * log(sx_netem_rng_uniform(&s->rng)));
    }
    return true;
}

specx_time_t sx_netem_outage_adjust(sx_netem_outage *s, specx_time_t t)
{
    switch (s->cfg.kind) {
    case SX_NETEM_OUTAGE_NONE:
        return t;
    case SX_NETEM_OUTAGE_PERIODIC: {
        int64_t period = ms_to_ns(s->cfg.period_ms);
        int64_t dur = ms_to_ns(s->cfg.duration_ms);
        int64_t rel = t - s->origin - ms_to_ns(s->cfg.offset_ms);
        if (rel < 0 || period <= 0) {
            return t;
        }
        int64_t phase = rel % period;
        return phase < dur ? t + (dur - phase) : t;
    }
    case SX_NETEM_OUTAGE_RANDOM:
        generate_until(s, t);
        for (size_t i = s->n; i-- > 0;) {
            if (s->start[i] <= t) {
                return t < s->end[i] ? s->end[i] : t;
            }
        }
        return t;
    }
    return t;
}

int64_t sx_netem_outage_elapsed(sx_netem_outage *s, specx_time_t now)
{
    switch (s->cfg.kind) {
    case SX_NETEM_OUTAGE_NONE:
        return 0;
    case SX_NETEM_OUTAGE_PERIODIC: {
        int64_t period = ms_to_ns(s->cfg.period_ms);
        int64_t dur = ms_to_ns(s->cfg.duration_ms);
        int64_t rel = now - s->origin - ms_to_ns(s->cfg.offset_ms);
        if (rel < 0 || period <= 0) {
            return 0;
        }
        int64_t phase = rel % period;
        return (rel / period) * dur + (phase < dur ? phase : dur);
    }
    case SX_NETEM_OUTAGE_RANDOM: {
        generate_until(s, now);
        int64_t total = s->pruned_ns;
        for (size_t i = 0; i < s->n && s->start[i] <= now; i++) {
            total += (now < s->end[i] ? now : s->end[i]) - s->start[i];
        }
        return total;
    }
    }
    return 0;
}

void sx_netem_outage_prune(sx_netem_outage *s, specx_time_t now)
{
    if (s->cfg.kind != SX_NETEM_OUTAGE_RANDOM) {
        return;
    }
    size_t k = 0;
    while (k < s->n && s->end[k] < now) {
        s->pruned_ns += s->end[k] - s->start[k];
        k++;
    }
    if (k > 0) {
        for (size_t i = k; i < s->n; i++) {
            s->start[i - k] = s->start[i];
            s->end[i - k] = s->end[i];
        }
        s->n -= k;
    }
}
