/* describe.c — `specx netem --describe`: a profile's settings and what a
 * request experiences under some traffic, simulated through the link code the
 * proxy runs, as a table or one JSON line. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "netem/profile.h"
#include "netem/sim.h"

#define DEFAULT_SECONDS 360000.0 /* 100 h: 1-hour windows of 5g-sf scatter by ±20 % at p99 */

static void describe_dir(const sx_netem_dir_cfg *d, const char *label, FILE *out)
{
    char dist[512];
    sx_netem_dist_format(&d->delay, dist, sizeof dist);
    fprintf(out, "  %-5s delay %s", label, dist);
    if (sx_netem_dist_is_fixed(&d->delay)) {
        fprintf(out, "; ");
    } else if (d->tau_ms > 0) {
        fprintf(out, "; correlation time %g ms; ", d->tau_ms);
    } else {
        fprintf(out, "; independent draw per chunk; ");
    }
    if (d->rate_bps > 0) {
        fprintf(out, "rate %g Mbit/s", d->rate_bps / 1e6);
    } else {
        fprintf(out, "rate unlimited");
    }
    switch (d->outage.kind) {
    case SX_NETEM_OUTAGE_NONE:
        fprintf(out, "; no outages\n");
        break;
    case SX_NETEM_OUTAGE_PERIODIC:
        fprintf(out, "; outage %g ms every %g ms from %g ms\n", d->outage.duration_ms,
                d->outage.period_ms, d->outage.offset_ms);
        break;
    case SX_NETEM_OUTAGE_RANDOM:
        fprintf(out, "; outages of %s%g ms, mean gap %g ms\n",
                d->outage.exp_duration ? "~exp " : "", d->outage.duration_ms,
                d->outage.mean_interval_ms);
        break;
    }
}

static bool same_traffic(const specx_netem_traffic *a, const specx_netem_traffic *b)
{
    return a->request_bytes == b->request_bytes && a->reply_bytes == b->reply_bytes &&
           a->hz == b->hz;
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(out, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(out, "\\u%04x", ch);
        } else {
            fputc(ch, out);
        }
    }
    fputc('"', out);
}

static void print_json(const specx_netem_profile *p, const specx_netem_traffic *t,
                       const sx_netem_rtt_acc *a, FILE *out)
{
    fprintf(out, "{\"profile\":");
    json_string(out, p->name);
    fprintf(out,
            ",\"traffic\":{\"bytes\":%zu,\"hz\":%g},\"rtt_ms\":{\"p1\":%.2f,\"p10\":%.2f,"
            "\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f},\"lag1_autocorr\":%.4f}\n",
            t->request_bytes, t->hz, sx_netem_rtt_acc_quantile(a, 0.01),
            sx_netem_rtt_acc_quantile(a, 0.10), sx_netem_rtt_acc_quantile(a, 0.50),
            sx_netem_rtt_acc_quantile(a, 0.90), sx_netem_rtt_acc_quantile(a, 0.99),
            sx_netem_rtt_acc_lag1(a));
}

static const char *target_for(const specx_netem_profile *p, double q, bool show, char *buf,
                              size_t len)
{
    snprintf(buf, len, "-");
    for (size_t t = 0; show && t < p->ntargets; t++) {
        if (fabs(p->target_q[t] - q) < 1e-9) {
            snprintf(buf, len, "%.1f", p->target_ms[t]);
        }
    }
    return buf;
}

static void print_table(const specx_netem_profile *p, uint64_t seed, const specx_netem_traffic *t,
                        const sx_netem_rtt_acc *a, FILE *out)
{
    const specx_netem_traffic *ref = specx_netem_profile_reference(p);
    bool is_ref = ref && same_traffic(ref, t);
    fprintf(out, "profile %s\n", p->name[0] ? p->name : "(unnamed)");
    describe_dir(&p->dir[SPECX_NETEM_UP], "up", out);
    describe_dir(&p->dir[SPECX_NETEM_DOWN], "down", out);
    fprintf(out,
            "traffic: %zu-byte requests at %g Hz on one connection, %zu-byte replies; %g s of "
            "virtual time from t = %g s (%llu requests), seed %llu%s\n",
            t->request_bytes, t->hz, t->reply_bytes, t->seconds, t->start, (unsigned long long)a->n,
            (unsigned long long)seed, is_ref ? " (the profile's reference traffic)" : "");
    if (ref && !is_ref && p->ntargets > 0) {
        fprintf(out, "  (the targets hold for the reference traffic: %zu-byte requests at %g Hz)\n",
                ref->request_bytes, ref->hz);
    }
    fprintf(out, "round trip per request (sent -> reply's last byte), simulated through the "
                 "proxy's link code:\n");
    fprintf(out, "  %-8s %12s %12s\n", "quantile", "rtt_ms", "target_ms");
    static const double qs[] = {0.01, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 0.999};
    char target[32];
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%g", qs[i] * 100.0);
        fprintf(out, "  %-8s %12.2f %12s\n", name, sx_netem_rtt_acc_quantile(a, qs[i]),
                target_for(p, qs[i], is_ref, target, sizeof target));
    }
    for (size_t k = 0; is_ref && k < p->ntargets; k++) {
        bool listed = false;
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            listed = listed || fabs(p->target_q[k] - qs[i]) < 1e-9;
        }
        if (!listed) { /* a target at a quantile outside the fixed list still gets a row */
            char name[16];
            snprintf(name, sizeof name, "p%g", p->target_q[k] * 100.0);
            fprintf(out, "  %-8s %12.2f %12.1f\n", name,
                    sx_netem_rtt_acc_quantile(a, p->target_q[k]), p->target_ms[k]);
        }
    }
    fprintf(out, "  %-8s %12.2f %12s\n", "mean", a->n ? a->sum_ms / (double)a->n : 0.0, "-");
    fprintf(out, "  %-8s %12.2f %12s\n", "max", a->max_ms, "-");
    fprintf(out, "lag-1 autocorrelation of consecutive requests' round trips: %.4f\n",
            sx_netem_rtt_acc_lag1(a));
}

specx_status specx_netem_profile_describe(const specx_netem_profile *p, uint64_t seed,
                                          const specx_netem_traffic *traffic, bool json, FILE *out,
                                          specx_err *err)
{
    if (!p || !out) {
        return specx_err_set(err, SPECX_EINVAL, "netem: describe needs a profile and a stream");
    }
    specx_netem_traffic t;
    if (traffic) {
        t = *traffic;
    } else if (specx_netem_profile_reference(p)) {
        t = p->traffic;
    } else {
        return specx_err_set(err, SPECX_EINVAL,
                             "netem: profile '%s' names no reference_traffic: give the traffic "
                             "to simulate (--traffic BYTES@HZ)",
                             p->name);
    }
    if (t.seconds <= 0) {
        t.seconds = DEFAULT_SECONDS;
    }
    sx_netem_rtt_acc a;
    specx_status st = sx_netem_rtt_acc_init(&a, err);
    if (st == SPECX_OK) {
        st = sx_netem_run_traffic(p, seed, &t, &a, err);
    }
    if (st == SPECX_OK) {
        if (json) {
            print_json(p, &t, &a, out);
        } else {
            print_table(p, seed, &t, &a, out);
        }
    }
    sx_netem_rtt_acc_clear(&a);
    return st;
}
