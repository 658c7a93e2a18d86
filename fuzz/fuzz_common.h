/* fuzz_common.h — what the file-based harnesses share: a private scratch
 * directory (made once per process, under $TMPDIR) and writing one file in
 * it. Harness code only; aborts on errors of the machine, not of input. */
#ifndef SPECX_FUZZ_COMMON_H
#define SPECX_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline const char *fuzz_dir(void)
{
    static char dir[256];
    if (dir[0] == '\0') {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/specx-fuzz-XXXXXX", t != NULL && t[0] ? t : "/tmp");
        if (mkdtemp(dir) == NULL) {
            abort();
        }
    }
    return dir;
}

/* Writes len bytes to dir/name; the full path goes to path. */
static inline void fuzz_write(const char *name, const void *data, size_t len, char *path,
                              size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        abort();
    }
}

#endif
