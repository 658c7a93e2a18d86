/* deadline_policy.c — fixed or adaptive waiting for the servers, on the
 * round-trip estimates of core/rtt_estimate.h (core/deadline_policy.h).
 *
 * Design notes
 *  - What each output says about a remote call (its report): won or
 *    outranked, or late with an answer: answered after `latency`; late by
 *    a wire timeout: at least `latency`; cancelled or pending_cancelled at
 *    the decision: at least (decided - arrival); skipped, shed, failed:
 *    nothing (forgotten). The round trip counts from the message's arrival
 *    (the plan runs then and the call starts right after it), and a
 *    report's latency from the call's start, which is the same instant up
 *    to the submit path.
 *  - Why probes back off: a probe costs its deadline and holds every later
 *    output behind it (outputs are in order), so probing once a second a
 *    link that is down for good (an uplink the frames overload) costs more
 *    than the rare recovery it finds early. Doubling to 8 s bounds both.
 *  - Outputs come in order, after the head of line: a frame decided early
 *    still counts as outstanding until then. It cannot look like a miss,
 *    since every frame's output is out by its own deadline or local answer. */
#include "core/deadline_policy.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/rtt_estimate.h"

/* Probing a link the estimate knows nothing about any more. */
#define PROBE_GAP_FIRST SPECX_SEC(1)
#define PROBE_GAP_MAX SPECX_SEC(8)

typedef struct server {
    sx_rtt_estimate est;
    specx_time_t next_probe; /* no probe before (backoff after missed probes) */
    specx_dur_t gap;         /* 0 until a probe missed */
    uint64_t probe_seq;
    bool probing; /* a probe's output is still to come */
} server;

struct sx_deadline_policy {
    sx_deadline_policy_config cfg;
    pthread_mutex_t mu;
    size_t n;
    sx_deadline_policy_counts counts;
    server sv[]; /* one per executor index */
};

specx_status sx_deadline_policy_create(const sx_deadline_policy_config *cfg, size_t n_exec,
                                       sx_deadline_policy **out, specx_err *err)
{
    if (cfg == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "deadline policy: no configuration");
    }
    if (cfg->kind == SX_DEADLINE_ADAPTIVE && !(cfg->target > 0 && cfg->target <= 1)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "adaptive deadline: target probability %g is not in (0, 1]",
                             cfg->target);
    }
    sx_deadline_policy *p = calloc(1, sizeof *p + (n_exec ? n_exec : 1) * sizeof p->sv[0]);
    if (p == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    p->cfg = *cfg;
    p->n = n_exec;
    pthread_mutex_init(&p->mu, NULL);
    for (size_t i = 0; i < n_exec; i++) {
        sx_rtt_estimate_init(&p->sv[i].est, cfg->half_life);
    }
    *out = p;
    return SPECX_OK;
}

void sx_deadline_policy_destroy(sx_deadline_policy *p)
{
    if (p != NULL) {
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
}

specx_status sx_deadline_policy_kind_parse(const char *s, sx_deadline_policy_kind *out,
                                           specx_err *err)
{
    if (s != NULL && strcmp(s, "fixed") == 0) {
        *out = SX_DEADLINE_FIXED;
    } else if (s != NULL && strcmp(s, "adaptive") == 0) {
        *out = SX_DEADLINE_ADAPTIVE;
    } else {
        return specx_err_set(err, SPECX_EINVAL,
                             "deadline policy '%s': expected 'fixed' or 'adaptive'",
                             s != NULL ? s : "");
    }
    return SPECX_OK;
}

void sx_deadline_policy_plan(sx_deadline_policy *p, const specx_msg_info *msg, size_t exec_index,
                             specx_dur_t deadline, specx_plan *out)
{
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = deadline;
    if (exec_index >= p->n) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    server *sv = &p->sv[exec_index];
    p->counts.planned++;
    if (p->cfg.kind == SX_DEADLINE_ADAPTIVE && deadline != SPECX_TIME_NEVER) {
        double pw = sx_rtt_estimate_p_within(&sv->est, msg->arrival, deadline);
        bool probe = isnan(pw) && !sv->probing && msg->arrival >= sv->next_probe;
        if (probe) {
            p->counts.unknown++;
            sv->probing = true;
            sv->probe_seq = msg->seq;
        } else if (isnan(pw) || pw < p->cfg.target) {
            out->emit_local_early = true;
            p->counts.early++;
        }
    }
    sx_rtt_estimate_sent(&sv->est, msg->seq, msg->arrival);
    pthread_mutex_unlock(&p->mu);
}

/* A probe's outcome: an answer in time ends the backoff, a miss doubles
 * the gap before the next probe. */
static void probe_done(server *sv, const specx_output *o, const specx_exec_report *r)
{
    sv->probing = false;
    if (r->fate == SPECX_FATE_WON || r->fate == SPECX_FATE_OUTRANKED) {
        sv->gap = 0;
        return;
    }
    sv->gap = sv->gap == 0 ? PROBE_GAP_FIRST : sv->gap * 2;
    sv->gap = sv->gap > PROBE_GAP_MAX ? PROBE_GAP_MAX : sv->gap;
    sv->next_probe = o->decided + sv->gap;
}

/* What executor i's report says about its call (see the notes above). */
static void observe_one(server *sv, const specx_output *o, const specx_exec_report *r)
{
    sx_rtt_estimate *e = &sv->est;
    if (sv->probing && sv->probe_seq == o->seq) {
        probe_done(sv, o, r);
    } else if (r->fate == SPECX_FATE_WON || r->fate == SPECX_FATE_OUTRANKED) {
        sv->gap = 0;
    }
    switch (r->fate) {
    case SPECX_FATE_WON:
    case SPECX_FATE_OUTRANKED:
        sx_rtt_estimate_answered(e, o->seq, o->arrival + r->latency);
        break;
    case SPECX_FATE_LATE:
        if (r->latency < 0) {
            sx_rtt_estimate_ended(e, o->seq, o->decided);
        } else if (r->status == SPECX_OK) {
            sx_rtt_estimate_answered(e, o->seq, o->arrival + r->latency);
        } else {
            sx_rtt_estimate_ended(e, o->seq, o->arrival + r->latency);
        }
        break;
    case SPECX_FATE_CANCELLED:
    case SPECX_FATE_PENDING_CANCELLED:
        sx_rtt_estimate_ended(e, o->seq, o->decided);
        break;
    default: /* skipped, shed, failed, not involved */
        sx_rtt_estimate_forget(e, o->seq);
        break;
    }
}

void sx_deadline_policy_observe(sx_deadline_policy *p, const specx_output *o)
{
    size_t n = o->n_exec < p->n ? o->n_exec : p->n;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        observe_one(&p->sv[i], o, &o->exec[i]); /* the local one finds no call */
    }
    pthread_mutex_unlock(&p->mu);
}

double sx_deadline_policy_p_within(sx_deadline_policy *p, size_t exec_index, specx_time_t now,
                                   specx_dur_t budget)
{
    if (exec_index >= p->n) {
        return NAN;
    }
    pthread_mutex_lock(&p->mu);
    double v = sx_rtt_estimate_p_within(&p->sv[exec_index].est, now, budget);
    pthread_mutex_unlock(&p->mu);
    return v;
}

sx_deadline_policy_counts sx_deadline_policy_counts_get(sx_deadline_policy *p)
{
    pthread_mutex_lock(&p->mu);
    sx_deadline_policy_counts c = p->counts;
    pthread_mutex_unlock(&p->mu);
    return c;
}
