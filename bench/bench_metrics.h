/* bench_metrics.h — the parts of `specx bench metrics`: updates and
 * renders in isolation (bench_metrics.c) and the real server path
 * (bench_metrics_server.c), sharing one way of printing a figure. */
#ifndef SPECX_BENCH_METRICS_H
#define SPECX_BENCH_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bm_opts {
    bool csv;
    int rounds;  /* paired rounds on the server path */
    int calls;   /* calls per round and server */
    int clients; /* identities (and per-client series) for the scrape */
    int only;    /* -1: all; else one server kind's calls alone, untimed (for
                    an instruction counter): 0 plain, 1 metrics, 2 auth */
} bm_opts;

/* Sorts v[0..n) and prints median and p99 of it under name, in unit. */
void bm_report(const bm_opts *o, const char *name, double *v, size_t n, const char *unit);
/* Monotonic nanoseconds as a double. */
double bm_now_ns(void);

/* The real server path: paired round trips with metrics and auth on and
 * off, and the /metrics scrape of a server with per-client series. 0 done,
 * 1 failure (printed). */
int bm_server_path(const bm_opts *o);

#endif
