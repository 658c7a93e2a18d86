/* specx_proc.h — test helpers for running the specx binary as a subprocess:
 * `specx ARGS` with stdout and stderr captured, and a `specx serve` on an
 * ephemeral port.
 *
 * For cmocka tests: failures are cmocka assertions (they end the current
 * test). Not thread-safe: one test thread, one binary and one scratch
 * directory set by specx_proc_init. */
#ifndef SPECX_TEST_PROC_H
#define SPECX_TEST_PROC_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct specx_proc_result {
    int rc;          /* exit status; -1 if killed by a signal */
    char err[16384]; /* stderr */
    char out[65536]; /* stdout */
} specx_proc_result;

/* The binary to run and an existing directory for the captured output
 * files. Both strings are borrowed: they must outlive the tests. */
void specx_proc_init(const char *specx_bin, const char *tmpdir);

/* Runs `specx ARGS` (ARGS: a shell fragment, printf-formatted), stdin from
 * /dev/null. Returns a result the caller frees; on a non-zero exit prints the
 * command and its stderr as a "# " comment. */
specx_proc_result *specx_proc_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first n - 1 bytes of the file at path, NUL-terminated ("" if absent). */
void specx_proc_slurp(const char *path, char *buf, size_t n);

/* Number of '\n' in s. */
int specx_proc_count_lines(const char *s);

typedef struct specx_proc_server {
    pid_t pid;
    FILE *out; /* the server's stdout */
    int port;
} specx_proc_server;

/* `specx serve --model MODEL --model-dir DIR --port 0 --bind 127.0.0.1
 * --grace 0`; returns once it printed its "listening on" line. */
void specx_proc_server_start(specx_proc_server *s, const char *model, const char *model_dir);

/* SIGTERM, drain its stdout, reap it; asserts a clean exit (status 0). */
void specx_proc_server_stop(specx_proc_server *s);

#endif
