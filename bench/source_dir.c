/* source_dir.c — where the source checkout is, for benchmarks that need a
 * file from it (the Python baseline server, the nginx configuration). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

bool specx_bench_source_dir(const char *given, const char *rel, char *out, size_t n)
{
    char cand[3][PATH_MAX];
    int k = 0;
    if (given != NULL) {
        snprintf(cand[k++], PATH_MAX, "%s", given);
    }
    const char *env = getenv("SPECX_SOURCE_DIR");
    if (env != NULL) {
        snprintf(cand[k++], PATH_MAX, "%s", env);
    }
    char exe[PATH_MAX - 8];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
        }
        snprintf(cand[k++], PATH_MAX, "%s/..", exe); /* build dir inside the checkout */
    }
    for (int i = 0; i < k; i++) {
        char probe[PATH_MAX];
        int w = snprintf(probe, sizeof probe, "%s/%s", cand[i], rel);
        if (w > 0 && (size_t)w < sizeof probe && access(probe, R_OK) == 0) {
            snprintf(out, n, "%s", cand[i]);
            return true;
        }
    }
    return false;
}
