/* rtt_estimate.c — a censoring-aware, recency-weighted estimate of one
 * server's round trip (core/rtt_estimate.h).
 *
 * Design notes
 *  - Why Kaplan-Meier: most of what a vehicle knows about a slow link is
 *    censored — calls still out, calls that timed out at the deadline,
 *    calls cancelled when their frame was decided. Counting a call out for
 *    80 ms as a round trip of 80 ms would bias the estimate low; dropping
 *    it would bias it low too (the slow calls are exactly the ones not yet
 *    back). Kaplan-Meier keeps each in the risk set up to its bound.
 *  - Why weights by send time: the links we model are strongly correlated
 *    over a few hundred ms (docs/netem.md), so what the link did a second
 *    ago predicts little. Weighted KM: the events and the risk set are
 *    sums of weights instead of counts.
 *  - At most SX_RTT_WINDOW samples: a sort of 64 values per query is a few
 *    microseconds at most, once per frame and server. */
#include "core/rtt_estimate.h"

#include <math.h>
#include <string.h>

void sx_rtt_estimate_init(sx_rtt_estimate *e, specx_dur_t half_life)
{
    memset(e, 0, sizeof *e);
    e->half_life = half_life > 0 ? half_life : SX_RTT_HALF_LIFE_DEFAULT;
}

void sx_rtt_estimate_sent(sx_rtt_estimate *e, uint64_t key, specx_time_t sent)
{
    e->calls[e->next] = (sx_rtt_call){.key = key, .sent = sent, .used = true};
    e->next = (e->next + 1) % SX_RTT_WINDOW;
}

static sx_rtt_call *find_out(sx_rtt_estimate *e, uint64_t key)
{
    for (unsigned i = 0; i < SX_RTT_WINDOW; i++) {
        sx_rtt_call *c = &e->calls[i];
        if (c->used && c->key == key && c->state == SX_RTT_OUT) {
            return c;
        }
    }
    return NULL;
}

static void settle(sx_rtt_estimate *e, uint64_t key, specx_time_t at, uint8_t state)
{
    sx_rtt_call *c = find_out(e, key);
    if (c != NULL) {
        c->state = state;
        c->end = at > c->sent ? at : c->sent;
    }
}

void sx_rtt_estimate_answered(sx_rtt_estimate *e, uint64_t key, specx_time_t at)
{
    settle(e, key, at, SX_RTT_ANSWERED);
}

void sx_rtt_estimate_ended(sx_rtt_estimate *e, uint64_t key, specx_time_t at)
{
    settle(e, key, at, SX_RTT_ENDED);
}

void sx_rtt_estimate_forget(sx_rtt_estimate *e, uint64_t key)
{
    sx_rtt_call *c = find_out(e, key);
    if (c != NULL) {
        c->used = false;
    }
}

/* One sample: a round trip (event) or a lower bound on one (censored). */
typedef struct sample {
    specx_dur_t v;
    double w;
    bool event;
} sample;

/* The window's samples at `now`, sorted by value (events before censored
 * samples of the same value, the Kaplan-Meier convention). */
static unsigned collect(const sx_rtt_estimate *e, specx_time_t now, sample *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < SX_RTT_WINDOW; i++) {
        const sx_rtt_call *c = &e->calls[i];
        if (!c->used || c->sent > now) {
            continue;
        }
        specx_time_t end = c->state == SX_RTT_OUT ? now : c->end;
        sample x = {.v = end - c->sent,
                    .w = exp2(-(double)(now - c->sent) / (double)e->half_life),
                    .event = c->state == SX_RTT_ANSWERED};
        unsigned j = n++;
        while (j > 0 && (s[j - 1].v > x.v || (s[j - 1].v == x.v && !s[j - 1].event && x.event))) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = x;
    }
    return n;
}

/* Walks the Kaplan-Meier curve over sorted samples: calls visit(v, F(v))
 * at each event value in order, F = 1 - S; stops when visit returns true. */
typedef bool (*km_visit)(void *user, specx_dur_t v, double f);

static void km_walk(const sample *s, unsigned n, km_visit visit, void *user)
{
    double risk = 0, surv = 1;
    for (unsigned i = 0; i < n; i++) {
        risk += s[i].w;
    }
    for (unsigned i = 0; i < n;) {
        specx_dur_t v = s[i].v;
        double d = 0, c = 0;
        for (; i < n && s[i].v == v; i++) {
            *(s[i].event ? &d : &c) += s[i].w;
        }
        if (d > 0 && risk > 0) {
            surv *= 1.0 - d / risk;
            if (visit(user, v, 1.0 - surv)) {
                return;
            }
        }
        risk -= d + c;
    }
}

typedef struct within_walk {
    specx_dur_t budget;
    double f;
} within_walk;

static bool within_visit(void *user, specx_dur_t v, double f)
{
    within_walk *w = user;
    if (v >= w->budget) {
        return true;
    }
    w->f = f;
    return false;
}

double sx_rtt_estimate_p_within(const sx_rtt_estimate *e, specx_time_t now, specx_dur_t budget)
{
    sample s[SX_RTT_WINDOW];
    unsigned n = collect(e, now, s);
    double info = 0;
    for (unsigned i = 0; i < n; i++) {
        if (s[i].event || s[i].v >= budget) {
            info += s[i].w;
        }
    }
    if (info < SX_RTT_MIN_WEIGHT) {
        return NAN;
    }
    within_walk w = {.budget = budget, .f = 0};
    km_walk(s, n, within_visit, &w);
    return w.f;
}

typedef struct quantile_walk {
    double q;
    specx_dur_t v;
} quantile_walk;

static bool quantile_visit(void *user, specx_dur_t v, double f)
{
    quantile_walk *w = user;
    if (f >= w->q - 1e-12) {
        w->v = v;
        return true;
    }
    return false;
}

specx_dur_t sx_rtt_estimate_quantile(const sx_rtt_estimate *e, specx_time_t now, double q)
{
    sample s[SX_RTT_WINDOW];
    unsigned n = collect(e, now, s);
    quantile_walk w = {.q = q, .v = -1};
    km_walk(s, n, quantile_visit, &w);
    return w.v;
}
