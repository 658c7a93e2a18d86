/* auth/quota.h — internal: per-identity quotas, a token bucket for requests
 * per second and one for bytes per second, on a clock the caller passes in.
 *
 * Contract
 *  - take() admits a request of `bytes` for an identity only when both of
 *    its buckets hold enough; otherwise it consumes nothing and says which
 *    limit was hit (requests first) and when a retry could pass.
 *  - Memory is bounded by max_identities. A full, idle entry (both buckets
 *    refilled) is the same as a fresh one, so it is reused for a new
 *    identity with no loss; only when every entry is active do new
 *    identities share one overflow entry (counted).
 *  - now is monotonic nanoseconds (specx_time_now() in the server, a manual
 *    clock in tests); a now earlier than an entry's last refill refills
 *    nothing.
 *  - Thread-safe: one mutex held for the arithmetic of one decision. */
#ifndef SX_AUTH_QUOTA_H
#define SX_AUTH_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "specx/status.h"
#include "specx/time.h"

typedef struct sx_auth_quota_config {
    double rps;            /* requests per second; 0 = no request limit */
    double rps_burst;      /* requests the bucket holds; 0 = max(1, rps) */
    double bps;            /* bytes per second; 0 = no byte limit */
    double bps_burst;      /* bytes the bucket holds; 0 = bps (one second) */
    size_t max_identities; /* entries kept; 0 = 1024 */
} sx_auth_quota_config;

typedef enum sx_auth_quota_limit {
    SX_AUTH_QUOTA_OK = 0,
    SX_AUTH_QUOTA_REQUESTS, /* over requests per second */
    SX_AUTH_QUOTA_BYTES,    /* over bytes per second (or larger than the byte burst) */
} sx_auth_quota_limit;

typedef struct sx_auth_quota_verdict {
    sx_auth_quota_limit limit;
    specx_dur_t retry_after; /* when refused: wait before a retry can pass;
                                SPECX_TIME_NEVER if the request can never fit */
} sx_auth_quota_verdict;

typedef struct sx_auth_quota sx_auth_quota;

/* SPECX_EINVAL for negative or non-finite rates or bursts (a burst below one
 * request), SPECX_ENOMEM. */
specx_status sx_auth_quota_create(const sx_auth_quota_config *cfg, sx_auth_quota **out,
                                  specx_err *err);
void sx_auth_quota_destroy(sx_auth_quota *q);

sx_auth_quota_verdict sx_auth_quota_take(sx_auth_quota *q, const char *identity, uint64_t bytes,
                                         specx_time_t now);

/* One line for the client saying which limit and when to retry, e.g.
 * "over the quota of 10 requests/s (burst 20) for vehicle-7; retry in 100 ms". */
void sx_auth_quota_describe(const sx_auth_quota *q, const char *identity, uint64_t bytes,
                            sx_auth_quota_verdict v, char *buf, size_t cap);

/* Decisions that fell back to the shared overflow entry. */
uint64_t sx_auth_quota_overflows(sx_auth_quota *q);

#endif
