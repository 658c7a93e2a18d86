/* serve_proc.h — a specx child process for tests (`specx serve ...`,
 * `specx run ...`) whose standard output and error are read line by line:
 * what the process announces ("listening on", "metrics on", "auth tokens
 * reloaded") is waited for with a deadline instead of guessed with sleeps.
 * Plus reading one sample of a Prometheus text exposition.
 *
 * Every line the child prints is kept (serve_proc_log), for failure
 * messages and for checking what was never printed (a token). The child
 * gets SIGKILL if the test process dies. Deadlines are scaled by
 * SPECX_TEST_TIMEOUT_SCALE. Not thread-safe: one thread per serve_proc.
 * Errors return -1 with a reason in why. */
#ifndef SPECX_TEST_SERVE_PROC_H
#define SPECX_TEST_SERVE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct serve_proc {
    pid_t pid; /* 0: not running */
    int fd;    /* the child's stdout and stderr, one pipe */
    char pending[4096];
    size_t npending;
    char *log; /* every line so far, NUL-terminated */
    size_t loglen, logcap;
    int port;         /* from "listening on HOST:PORT" (specx serve) */
    int metrics_port; /* from "metrics on http://HOST:PORT/metrics", if printed */
} serve_proc;

/* Starts argv (argv[0]: the specx binary; NULL-terminated). If want_port,
 * waits (timeout_s) for "listening on" and sets port; if want_metrics, for
 * "metrics on" and sets metrics_port. */
int serve_proc_start(serve_proc *p, char *const *argv, bool want_port, bool want_metrics,
                     double timeout_s, char *why, size_t cap);

/* Waits for the next line containing needle (lines read before it are only
 * logged); copies it into line (may be NULL). -1 on timeout or end of
 * output. */
int serve_proc_wait_line(serve_proc *p, const char *needle, double timeout_s, char *line,
                         size_t cap, char *why, size_t why_cap);

/* All output so far (reads what is available without waiting). */
const char *serve_proc_log(serve_proc *p);

/* Sends sig (SIGTERM to stop), reads the output to its end, reaps. Returns
 * the exit code, or -1 if killed by a signal or not running. The log stays
 * readable until serve_proc_free. */
int serve_proc_stop(serve_proc *p, int sig, double timeout_s);
void serve_proc_free(serve_proc *p);

/* The value of the sample `series` (exactly as rendered: name{labels}) in
 * a text exposition; false if absent. */
bool prom_sample(const char *text, const char *series, double *v);

/* Checks that every family of the exposition (its "# TYPE NAME" line) is
 * written as `NAME` in docs/metrics.md under $SPECX_SOURCE_DIR. Returns
 * the number of families, or -1 with the first undocumented name (or the
 * reason) in why. */
int prom_families_documented(const char *text, char *why, size_t cap);

#endif
