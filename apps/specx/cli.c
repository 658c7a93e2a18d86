/* Helpers shared by the specx subcommands and benchmarks (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool specx_cli_long(const char *v, long lo, long hi, long *out)
{
    if (v == NULL) {
        return false;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        return false;
    }
    *out = x;
    return true;
}

bool specx_cli_int(const char *v, int lo, int hi, int *out)
{
    long x;
    if (!specx_cli_long(v, lo, hi, &x)) {
        return false;
    }
    *out = (int)x;
    return true;
}

bool specx_cli_double(const char *v, double lo, double hi, double *out)
{
    if (v == NULL) {
        return false;
    }
    char *end;
    double x = strtod(v, &end);
    /* no errno test: an overflow gives ±HUGE_VAL and an underflow a value
     * near 0, which the range test judges like any other number */
    if (end == v || *end != '\0' || !(x >= lo && x <= hi)) {
        return false;
    }
    *out = x;
    return true;
}

bool specx_cli_find_asset(const char *rel, char *buf, size_t n)
{
    const char *envs[] = {"SPECX_ASSETS_DIR", "SPECX_SHARED_ASSETS"};
    for (size_t i = 0; i < 2; i++) {
        const char *d = getenv(envs[i]);
        if (d != NULL && d[0] != '\0') {
            snprintf(buf, n, "%s/%s", d, rel);
            if (access(buf, R_OK) == 0) {
                return true;
            }
        }
    }
    const char *dirs[] = {"assets", "../shared/assets"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(buf, n, "%s/%s", dirs[i], rel);
        if (access(buf, R_OK) == 0) {
            return true;
        }
    }
    return false;
}
