/* cli.h — what the specx subcommands and benchmarks share: one option table
 * per command parsed with getopt_long, checked number parsing, the --help
 * option list generated from the same table, and small process helpers
 * (finding an asset, mkdir -p, SIGINT as a stop flag).
 *
 * Messages: parse errors are one line on stderr, "PROG: ... (see PROG
 * --help)"; the number functions print nothing (the caller knows the
 * option). Not thread-safe (getopt keeps global state); call from main's
 * thread. */
#ifndef SPECX_APP_CLI_H
#define SPECX_APP_CLI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/rpc.h"
#include "specx/time.h"

/* ---- numbers ------------------------------------------------------------
 * Each returns true and writes *out when v is a whole number of its kind (no
 * leading garbage, no trailing text) within [lo, hi]; otherwise it returns
 * false and leaves *out unchanged. v may be NULL (false). */

/* Decimal integer; out-of-range for long (ERANGE) is refused. */
bool specx_cli_long(const char *v, long lo, long hi, long *out);
bool specx_cli_int(const char *v, int lo, int hi, int *out);
/* Decimal, no sign. */
bool specx_cli_u64(const char *v, unsigned long long lo, unsigned long long hi,
                   unsigned long long *out);
/* strtod syntax; NaN is refused, and so is anything outside [lo, hi]
 * (pass INFINITY for no upper bound). */
bool specx_cli_double(const char *v, double lo, double hi, double *out);
/* Milliseconds (>= 0, fractions allowed), or "none"/"inf"/"never" for
 * SPECX_TIME_NEVER. */
bool specx_cli_deadline(const char *v, specx_dur_t *out);

/* ---- option tables -------------------------------------------------------- */

typedef enum specx_cli_kind {
    SPECX_CLI_FLAG,     /* bool *: set to true; takes no value */
    SPECX_CLI_STRING,   /* const char **: the argument itself */
    SPECX_CLI_INT,      /* int *, within [lo, hi] */
    SPECX_CLI_I64,      /* int64_t *, within [lo, hi] */
    SPECX_CLI_U64,      /* unsigned long long *, within [lo, hi] */
    SPECX_CLI_DOUBLE,   /* double *, within [lo, hi] */
    SPECX_CLI_FLOAT,    /* float *, within [lo, hi] */
    SPECX_CLI_DEADLINE, /* specx_dur_t *: specx_cli_deadline */
    SPECX_CLI_CALL,     /* call(value, out, msg, n): anything else (lists, repeats) */
} specx_cli_kind;

/* call: true if v was taken; else false, with an optional reason in msg
 * (n bytes; "" for the generic "bad value" line). */
typedef bool (*specx_cli_call_fn)(const char *v, void *out, char *msg, size_t n);

typedef struct specx_cli_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    char short_name;  /* e.g. 'v' for -v; 0 = none */
    specx_cli_kind kind;
    void *out;
    double lo, hi;          /* number kinds: the accepted range, inclusive */
    specx_cli_call_fn call; /* SPECX_CLI_CALL */
    bool *set;              /* set to true when the option is given; may be NULL */
    const char *meta;       /* the value's name in --help, e.g. "MS" */
    /* --help text; '\n' starts a continuation line. NULL: not listed (an
     * alias kept for old command lines). */
    const char *help;
} specx_cli_opt;

enum { SPECX_CLI_OK = 0, SPECX_CLI_HELP = 1, SPECX_CLI_USAGE = 2 };

/* Parses argv[1..argc) against opts (--help/-h are built in). Long options
 * take "--name VALUE" or "--name=VALUE" and unambiguous prefixes. operands:
 * NULL = none allowed; else set to the index of the first operand (getopt
 * moves them to the end of argv). Returns SPECX_CLI_OK, SPECX_CLI_HELP (the
 * caller prints its usage to stdout, exit 0) or SPECX_CLI_USAGE (one line
 * printed; exit 2). */
int specx_cli_parse(const char *prog, const specx_cli_opt *opts, int argc, char **argv,
                    int *operands);

/* The option list for --help: "  --name META  help", aligned. */
void specx_cli_print_options(FILE *f, const specx_cli_opt *opts);

/* A --server value parsed (specx_rpc_client_config_parse) into out[*n]
 * (its priority_set / max_in_flight_set say what the string gave). *n grows;
 * max servers. Message in msg on failure. */
bool specx_cli_server(const char *v, specx_rpc_client_config *out, size_t *n, size_t max, char *msg,
                      size_t msg_n);

/* ---- process helpers -------------------------------------------------------- */

/* Finds the readable asset `rel` (e.g. "video/x.mp4") under
 * $SPECX_ASSETS_DIR, $SPECX_SHARED_ASSETS, ./assets, ../shared/assets, in
 * that order; writes its path to buf (n bytes) and returns true, or returns
 * false if none is readable. */
bool specx_cli_find_asset(const char *rel, char *buf, size_t n);

/* mkdir -p: creates path and its parents (0777 before umask). Returns 0 when
 * path is a directory afterwards, else -1 with errno set. */
int specx_cli_mkdir_p(const char *path);

/* From now until specx_cli_sigint_restore, SIGINT sets *stop instead of
 * ending the process (a second SIGINT ends it as usual). One at a time. */
void specx_cli_sigint_catch(atomic_bool *stop);
void specx_cli_sigint_restore(void);

#endif
