/* prom_harness.h — a real Prometheus (Debian's `prometheus` binary) for
 * tests: started on loopback with its own temporary data directory and a
 * scrape config for the given targets, queried through its HTTP API, then
 * stopped and its directory removed.
 *
 * Waiting is a bounded retry loop with a deadline (readiness, a scrape
 * having happened): Prometheus offers no notification to wait on. Deadlines
 * are scaled by SPECX_TEST_TIMEOUT_SCALE. Not thread-safe; one harness per
 * test thread. Errors return -1 with a reason in why (the tail of
 * Prometheus's own log when it died). */
#ifndef SPECX_TEST_PROM_HARNESS_H
#define SPECX_TEST_PROM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct prom_harness {
    pid_t pid; /* 0 when not running */
    int port;  /* Prometheus's web port on 127.0.0.1 */
    char dir[256];
} prom_harness;

/* Whether the prometheus binary is on PATH. */
bool prom_available(void);

/* Starts Prometheus scraping the ntargets "HOST:PORT" targets as job `job`
 * every interval_ms (metrics path /metrics), and waits until /-/ready
 * answers 200. */
int prom_start(prom_harness *p, const char *job, const char *const *targets, size_t ntargets,
               int interval_ms, char *why, size_t cap);

/* Instant query. 1 with the first sample's value in *v, 0 when the result is
 * empty, -1 on an error (HTTP, JSON, a query error). */
int prom_query(prom_harness *p, const char *promql, double *v, char *why, size_t cap);

/* Repeats the query until its value equals want or timeout_s (scaled)
 * passes. 0 when it did; -1 otherwise, with the last value seen in why. */
int prom_wait_value(prom_harness *p, const char *promql, double want, double timeout_s, char *why,
                    size_t cap);

/* SIGTERM, reap (SIGKILL after a bounded wait), remove the directory.
 * Safe to call twice or on a harness that never started. */
void prom_stop(prom_harness *p);

#endif
