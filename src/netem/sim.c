/* sim.c — the netem link model on a virtual clock: the public simulator
 * (one connection, both directions), periodic request/reply traffic through
 * it, and the round-trip accumulator that summarizes what requests saw.
 *
 * Design notes: a message is split into the chunks the proxy would read
 * (netem/path.h) and each chunk goes through sx_netem_path_send, the code
 * the proxy runs; the message arrives with its last chunk. */
#include "netem/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "netem/path.h"
#include "netem/profile.h"

struct specx_netem_sim {
    specx_netem_profile *profile;
    sx_netem_path path[2];
    specx_time_t floor[2];
    specx_time_t last_sent[2];
};

static specx_status sim_create(const specx_netem_profile *p, uint64_t seed, specx_netem_sim **out,
                               specx_err *err)
{
    specx_netem_sim *s = calloc(1, sizeof *s);
    if (!s) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    specx_status st = sx_netem_profile_copy(p, &s->profile, err);
    if (st != SPECX_OK) {
        free(s);
        return st;
    }
    for (int d = 0; d < 2; d++) {
        sx_netem_path_init(&s->path[d], &s->profile->dir[d], seed, (specx_netem_dir)d, 0);
    }
    *out = s;
    return SPECX_OK;
}

specx_status specx_netem_sim_create(const specx_netem_profile *p, uint64_t seed,
                                    specx_netem_sim **out, specx_err *err)
{
    *out = NULL;
    if (!p) {
        return specx_err_set(err, SPECX_EINVAL, "netem: sim_create needs a profile");
    }
    return sim_create(p, seed, out, err);
}

void specx_netem_sim_destroy(specx_netem_sim *sim)
{
    if (!sim) {
        return;
    }
    for (int d = 0; d < 2; d++) {
        sx_netem_path_clear(&sim->path[d]);
    }
    specx_netem_profile_free(sim->profile);
    free(sim);
}

/* A message through direction d: the proxy's chunks, released in order. */
static specx_time_t send_message(specx_netem_sim *sim, int d, specx_time_t sent, size_t bytes)
{
    sx_netem_path *p = &sim->path[d];
    size_t chunk = sx_netem_path_chunk_max(p);
    specx_time_t r = sent;
    for (size_t off = 0; off < bytes; off += chunk) {
        size_t len = bytes - off < chunk ? bytes - off : chunk;
        r = sx_netem_path_send(p, sent, len, &sim->floor[d]);
    }
    sim->last_sent[d] = sent;
    return r;
}

specx_status specx_netem_sim_send(specx_netem_sim *sim, specx_netem_dir dir, specx_time_t sent,
                                  size_t bytes, specx_time_t *arrival, specx_err *err)
{
    if (!sim || (dir != SPECX_NETEM_UP && dir != SPECX_NETEM_DOWN) || bytes == 0 || sent < 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: sim_send needs a simulator, a direction, bytes > 0 and a "
                             "send time >= 0");
    }
    if (sent < sim->last_sent[dir]) {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: sim_send at %.3f ms is before the previous send in that "
                             "direction (%.3f ms): send in time order",
                             specx_dur_ms(sent), specx_dur_ms(sim->last_sent[dir]));
    }
    *arrival = send_message(sim, (int)dir, sent, bytes);
    return SPECX_OK;
}

/* ---- periodic traffic ------------------------------------------------------ */

specx_status sx_netem_traffic_check(const specx_netem_traffic *t, specx_err *err)
{
    if (!t || t->request_bytes == 0 || t->reply_bytes == 0 || !(t->hz > 0) || !isfinite(t->hz) ||
        !(t->seconds > 0) || !isfinite(t->seconds) || !(t->start >= 0) || t->start > 1e7) {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: traffic needs request and reply sizes > 0, a rate > 0 Hz, a "
                             "duration > 0 s and a start in [0, 10^7] s");
    }
    if (t->hz * t->seconds < 1.0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: %g s at %g Hz sends no request: lengthen the run", t->seconds,
                             t->hz);
    }
    if (t->hz * t->seconds > 1e9) {
        return specx_err_set(err, SPECX_EINVAL, "netem: over 10^9 requests: shorten the run");
    }
    return SPECX_OK;
}

specx_status sx_netem_run_traffic(const specx_netem_profile *p, uint64_t seed,
                                  const specx_netem_traffic *t, sx_netem_rtt_acc *a, specx_err *err)
{
    specx_status st = sx_netem_traffic_check(t, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_netem_sim *sim = NULL;
    if ((st = sim_create(p, seed, &sim, err)) != SPECX_OK) {
        return st;
    }
    uint64_t n = (uint64_t)floor(t->hz * t->seconds);
    specx_time_t start = (specx_time_t)llround(t->start * 1e9);
    for (uint64_t i = 0; i < n; i++) {
        specx_time_t sent = start + (specx_time_t)llround((double)i * 1e9 / t->hz);
        specx_time_t at_server = send_message(sim, SPECX_NETEM_UP, sent, t->request_bytes);
        /* Requests arrive in order, so replies are sent in time order. */
        specx_time_t back = send_message(sim, SPECX_NETEM_DOWN, at_server, t->reply_bytes);
        sx_netem_rtt_acc_add(a, specx_dur_ms(back - sent));
    }
    specx_netem_sim_destroy(sim);
    return SPECX_OK;
}

specx_status specx_netem_simulate_traffic(const specx_netem_profile *p, uint64_t seed,
                                          const specx_netem_traffic *traffic,
                                          specx_netem_rtt_summary *out, specx_err *err)
{
    if (!p || !out) {
        return specx_err_set(err, SPECX_EINVAL, "netem: simulate_traffic needs a profile");
    }
    sx_netem_rtt_acc a;
    specx_status st = sx_netem_rtt_acc_init(&a, err);
    if (st == SPECX_OK) {
        st = sx_netem_run_traffic(p, seed, traffic, &a, err);
    }
    if (st == SPECX_OK) {
        *out = (specx_netem_rtt_summary){
            .requests = a.n,
            .p1_ms = sx_netem_rtt_acc_quantile(&a, 0.01),
            .p10_ms = sx_netem_rtt_acc_quantile(&a, 0.10),
            .p50_ms = sx_netem_rtt_acc_quantile(&a, 0.50),
            .p90_ms = sx_netem_rtt_acc_quantile(&a, 0.90),
            .p99_ms = sx_netem_rtt_acc_quantile(&a, 0.99),
            .p999_ms = sx_netem_rtt_acc_quantile(&a, 0.999),
            .mean_ms = a.n ? a.sum_ms / (double)a.n : 0,
            .max_ms = a.max_ms,
            .lag1_autocorr = sx_netem_rtt_acc_lag1(&a),
        };
    }
    sx_netem_rtt_acc_clear(&a);
    return st;
}

/* ---- round-trip accumulator -------------------------------------------------- */

/* Bin i holds [B·g^i, B·g^(i+1)) ms with B = 1 µs and g = 1 + 1/1024, up to
 * ~10^7 ms; the quantile is the bin's geometric middle (±0.05 %). */
#define RTT_BASE_MS 1e-3
#define RTT_BINS 23600
static const double rtt_log_step = 9.7608e-4; /* ln(1 + 1/1024) */

specx_status sx_netem_rtt_acc_init(sx_netem_rtt_acc *a, specx_err *err)
{
    memset(a, 0, sizeof *a);
    a->bins = calloc(RTT_BINS, sizeof *a->bins);
    if (!a->bins) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    return SPECX_OK;
}

void sx_netem_rtt_acc_clear(sx_netem_rtt_acc *a)
{
    free(a->bins);
    memset(a, 0, sizeof *a);
}

void sx_netem_rtt_acc_add(sx_netem_rtt_acc *a, double ms)
{
    double pos = ms > RTT_BASE_MS ? log(ms / RTT_BASE_MS) / rtt_log_step : 0.0;
    size_t i = pos < (double)(RTT_BINS - 1) ? (size_t)pos : RTT_BINS - 1;
    a->bins[i]++;
    a->n++;
    a->sum_ms += ms;
    if (ms > a->max_ms) {
        a->max_ms = ms;
    }
    if (a->n > 1) {
        /* Welford-style co-moment update for the pair (prev, ms). */
        a->npairs++;
        double k = (double)a->npairs;
        double dx = a->prev_ms - a->mx, dy = ms - a->my;
        a->mx += dx / k;
        a->my += dy / k;
        a->cxx += dx * (a->prev_ms - a->mx);
        a->cyy += dy * (ms - a->my);
        a->cxy += dx * (ms - a->my);
    }
    a->prev_ms = ms;
}

double sx_netem_rtt_acc_quantile(const sx_netem_rtt_acc *a, double q)
{
    if (a->n == 0) {
        return 0.0;
    }
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    uint64_t rank = (uint64_t)floor(q * (double)(a->n - 1)); /* 0-based */
    uint64_t seen = 0;
    for (size_t i = 0; i < RTT_BINS; i++) {
        seen += a->bins[i];
        if (seen > rank) {
            double mid = RTT_BASE_MS * exp(((double)i + 0.5) * rtt_log_step);
            return i == 0 || mid > a->max_ms ? fmin(mid, a->max_ms) : mid;
        }
    }
    return a->max_ms;
}

double sx_netem_rtt_acc_lag1(const sx_netem_rtt_acc *a)
{
    if (a->npairs < 2 || a->cxx <= 0 || a->cyy <= 0) {
        return 0.0;
    }
    return a->cxy / sqrt(a->cxx * a->cyy);
}
