/* cli.h — helpers shared by the specx subcommands and benchmarks: number
 * parsing for option values, and finding an asset file.
 *
 * Each number function returns true and writes *out when v is a whole number of its
 * kind (no leading garbage, no trailing text) within [lo, hi]; otherwise it
 * returns false and leaves *out unchanged. v may be NULL (false). They print
 * nothing: the caller words the message, since it knows the option. Pure
 * functions apart from errno; thread-safe. */
#ifndef SPECX_APP_CLI_H
#define SPECX_APP_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Decimal integer; out-of-range for long (ERANGE) is refused. */
bool specx_cli_long(const char *v, long lo, long hi, long *out);
bool specx_cli_int(const char *v, int lo, int hi, int *out);

/* strtod syntax; NaN is refused, and so is anything outside [lo, hi]
 * (pass INFINITY for no upper bound). */
bool specx_cli_double(const char *v, double lo, double hi, double *out);

/* Finds the readable asset `rel` (e.g. "video/x.mp4") under
 * $SPECX_ASSETS_DIR, $SPECX_SHARED_ASSETS, ./assets, ../shared/assets, in
 * that order; writes its path to buf (n bytes) and returns true, or returns
 * false if none is readable. Reads the environment; thread-compatible. */
bool specx_cli_find_asset(const char *rel, char *buf, size_t n);

#endif
