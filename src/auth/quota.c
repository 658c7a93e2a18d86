/* quota.c — per-identity token buckets (requests/s and bytes/s).
 *
 * Design notes
 *  - Bucket levels are doubles refilled lazily from the time elapsed since
 *    the entry's last decision; one timestamp serves both buckets.
 *  - Entries live in a fixed array with a chained hash on the identity.
 *    When the array is full, a scan (from a rotating cursor) looks for an
 *    idle entry, one whose buckets are both full after refilling: reusing
 *    it loses nothing. The scan costs O(max_identities) and happens only
 *    when a new identity arrives at a full table. */
#include "auth/quota.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/auth.h"

typedef struct qentry {
    char id[SPECX_AUTH_ID_MAX + 1];
    double req, bytes; /* tokens in each bucket */
    specx_time_t last; /* time of the last refill */
    int next;          /* chain; -1 ends */
    bool used;
} qentry;

struct sx_auth_quota {
    pthread_mutex_t mu;
    sx_auth_quota_config cfg;
    qentry *v;
    size_t n, cap;
    int *heads;
    size_t hmask;
    size_t cursor;
    qentry overflow;
    uint64_t overflows;
};

static bool rate_ok(double v)
{
    return isfinite(v) && v >= 0;
}

specx_status sx_auth_quota_create(const sx_auth_quota_config *cfg, sx_auth_quota **out,
                                  specx_err *err)
{
    sx_auth_quota_config c = *cfg;
    if (!rate_ok(c.rps) || !rate_ok(c.rps_burst) || !rate_ok(c.bps) || !rate_ok(c.bps_burst)) {
        return specx_err_set(err, SPECX_EINVAL, "quota: rates and bursts must be finite and >= 0");
    }
    if (c.rps_burst == 0) {
        c.rps_burst = fmax(1, c.rps);
    }
    if (c.bps_burst == 0) {
        c.bps_burst = c.bps;
    }
    if (c.rps > 0 && c.rps_burst < 1) {
        return specx_err_set(err, SPECX_EINVAL, "quota: a request burst below 1 admits nothing");
    }
    if (c.max_identities == 0) {
        c.max_identities = 1024;
    }
    sx_auth_quota *q = calloc(1, sizeof *q);
    size_t hcap = 16;
    while (hcap < c.max_identities) {
        hcap *= 2;
    }
    if (q != NULL) {
        pthread_mutex_init(&q->mu, NULL);
        q->v = calloc(c.max_identities, sizeof *q->v);
        q->heads = malloc(hcap * sizeof *q->heads);
    }
    if (q == NULL || q->v == NULL || q->heads == NULL) {
        sx_auth_quota_destroy(q);
        return specx_err_set(err, SPECX_ENOMEM, "quota: out of memory");
    }
    for (size_t i = 0; i < hcap; i++) {
        q->heads[i] = -1;
    }
    q->cfg = c;
    q->cap = c.max_identities;
    q->hmask = hcap - 1;
    q->overflow.last = SPECX_TIME_NEVER; /* set on first use */
    *out = q;
    return SPECX_OK;
}

void sx_auth_quota_destroy(sx_auth_quota *q)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_destroy(&q->mu);
    free(q->v);
    free(q->heads);
    free(q);
}

static size_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return (size_t)h;
}

static void fill(const sx_auth_quota *q, qentry *e, specx_time_t now)
{
    e->req = q->cfg.rps_burst;
    e->bytes = q->cfg.bps_burst;
    e->last = now;
}

static void refill(const sx_auth_quota *q, qentry *e, specx_time_t now)
{
    if (now <= e->last) {
        return;
    }
    double dt = (double)(now - e->last) / 1e9;
    e->req = fmin(q->cfg.rps_burst, e->req + dt * q->cfg.rps);
    e->bytes = fmin(q->cfg.bps_burst, e->bytes + dt * q->cfg.bps);
    e->last = now;
}

static bool idle(const sx_auth_quota *q, qentry *e, specx_time_t now)
{
    refill(q, e, now);
    return e->req >= q->cfg.rps_burst && e->bytes >= q->cfg.bps_burst;
}

static void unlink_entry(sx_auth_quota *q, int i)
{
    int *p = &q->heads[hash_id(q->v[i].id) & q->hmask];
    while (*p != i) {
        p = &q->v[*p].next;
    }
    *p = q->v[i].next;
}

/* Under mu: the entry for id, made (fresh) if needed. */
static qentry *entry_for(sx_auth_quota *q, const char *id, specx_time_t now)
{
    size_t len = strlen(id);
    size_t h = hash_id(id) & q->hmask;
    for (int i = q->heads[h]; i >= 0; i = q->v[i].next) {
        if (strcmp(q->v[i].id, id) == 0) {
            return &q->v[i];
        }
    }
    int slot = -1;
    if (q->n < q->cap) {
        slot = (int)q->n++;
    } else {
        for (size_t k = 0; k < q->cap && slot < 0; k++) {
            size_t i = (q->cursor + k) % q->cap;
            if (idle(q, &q->v[i], now)) {
                slot = (int)i;
                unlink_entry(q, slot);
            }
        }
        q->cursor = slot >= 0 ? ((size_t)slot + 1) % q->cap : q->cursor;
    }
    if (slot < 0 || len > SPECX_AUTH_ID_MAX) {
        q->overflows++;
        if (q->overflow.last == SPECX_TIME_NEVER) {
            fill(q, &q->overflow, now);
        }
        return &q->overflow;
    }
    qentry *e = &q->v[slot];
    memcpy(e->id, id, len + 1);
    e->used = true;
    fill(q, e, now);
    e->next = q->heads[h];
    q->heads[h] = slot;
    return e;
}

static specx_dur_t wait_for(double missing, double rate)
{
    double ns = ceil(missing / rate * 1e9);
    return ns < 9e18 ? (specx_dur_t)ns : SPECX_TIME_NEVER;
}

sx_auth_quota_verdict sx_auth_quota_take(sx_auth_quota *q, const char *identity, uint64_t bytes,
                                         specx_time_t now)
{
    sx_auth_quota_verdict v = {SX_AUTH_QUOTA_OK, 0};
    bool limit_req = q->cfg.rps > 0, limit_bytes = q->cfg.bps > 0;
    if (!limit_req && !limit_bytes) {
        return v;
    }
    pthread_mutex_lock(&q->mu);
    qentry *e = entry_for(q, identity != NULL ? identity : "", now);
    refill(q, e, now);
    double b = (double)bytes;
    if (limit_req && e->req < 1) {
        v = (sx_auth_quota_verdict){SX_AUTH_QUOTA_REQUESTS, wait_for(1 - e->req, q->cfg.rps)};
    } else if (limit_bytes && b > q->cfg.bps_burst) {
        v = (sx_auth_quota_verdict){SX_AUTH_QUOTA_BYTES, SPECX_TIME_NEVER};
    } else if (limit_bytes && e->bytes < b) {
        v = (sx_auth_quota_verdict){SX_AUTH_QUOTA_BYTES, wait_for(b - e->bytes, q->cfg.bps)};
    } else {
        e->req -= limit_req ? 1 : 0;
        e->bytes -= limit_bytes ? b : 0;
    }
    pthread_mutex_unlock(&q->mu);
    return v;
}

void sx_auth_quota_describe(const sx_auth_quota *q, const char *identity, uint64_t bytes,
                            sx_auth_quota_verdict v, char *buf, size_t cap)
{
    const char *who = identity != NULL && identity[0] != '\0' ? identity : "this client";
    char retry[64] = "";
    if (v.retry_after != SPECX_TIME_NEVER) {
        snprintf(retry, sizeof retry, "; retry in %.0f ms", ceil(specx_dur_ms(v.retry_after)));
    }
    if (v.limit == SX_AUTH_QUOTA_REQUESTS) {
        snprintf(buf, cap, "over the quota of %.15g requests/s (burst %.15g) for %s%s", q->cfg.rps,
                 q->cfg.rps_burst, who, retry);
    } else if (v.limit == SX_AUTH_QUOTA_BYTES && v.retry_after == SPECX_TIME_NEVER) {
        snprintf(buf, cap,
                 "a request of %llu bytes exceeds the byte quota's burst of %.15g bytes for %s",
                 (unsigned long long)bytes, q->cfg.bps_burst, who);
    } else if (v.limit == SX_AUTH_QUOTA_BYTES) {
        snprintf(buf, cap, "over the quota of %.15g bytes/s (burst %.15g) for %s%s", q->cfg.bps,
                 q->cfg.bps_burst, who, retry);
    } else {
        snprintf(buf, cap, "within quota");
    }
}

uint64_t sx_auth_quota_overflows(sx_auth_quota *q)
{
    pthread_mutex_lock(&q->mu);
    uint64_t n = q->overflows;
    pthread_mutex_unlock(&q->mu);
    return n;
}
