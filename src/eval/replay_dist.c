/* replay_dist.c — what the replay knows about compute and bytes: compute-time
 * distributions (specx_replay_dist) and the size of a detection reply on
 * the wire (specx_replay_reply_bytes). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/eval.h"

specx_status specx_replay_dist_from(const double *ms, size_t n, const char *desc,
                                    specx_replay_dist *out, specx_err *err)
{
    memset(out, 0, sizeof *out);
    if (n == 0) {
        return specx_err_set(err, SPECX_EINVAL, "replay: a distribution needs samples");
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ms[i]) || ms[i] < 0) {
            return specx_err_set(err, SPECX_EINVAL, "replay: compute time %g ms is not >= 0",
                                 ms[i]);
        }
    }
    out->ms = malloc(n * sizeof *out->ms);
    if (!out->ms) {
        return specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
    }
    memcpy(out->ms, ms, n * sizeof *ms);
    out->n = n;
    snprintf(out->desc, sizeof out->desc, "%s", desc ? desc : "");
    return SPECX_OK;
}

void specx_replay_dist_clear(specx_replay_dist *d)
{
    if (d) {
        free(d->ms);
        memset(d, 0, sizeof *d);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double specx_replay_dist_quantile(const specx_replay_dist *d, double q)
{
    if (!d || d->n == 0) {
        return NAN;
    }
    double *v = malloc(d->n * sizeof *v);
    if (!v) {
        return NAN;
    }
    memcpy(v, d->ms, d->n * sizeof *v);
    qsort(v, d->n, sizeof *v, cmp_double);
    double r = v[(size_t)floor(q * (double)(d->n - 1) + 0.5)];
    free(v);
    return r;
}

/* One value per line; '#' starts a comment; blank lines skipped. */
static specx_status dist_file(const char *path, specx_replay_dist *out, specx_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return specx_err_set(err, SPECX_ENOTFOUND,
                             "replay: '%s' is neither a number, 'measured' nor a readable file: %s",
                             path, strerror(errno));
    }
    double *v = NULL;
    size_t n = 0, cap = 0;
    char line[256];
    int lineno = 0;
    specx_status st = SPECX_OK;
    while (st == SPECX_OK && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "#\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (*p == '\0') {
            continue;
        }
        char *end;
        double x = strtod(p, &end);
        end += strspn(end, " \t");
        if (end == p || *end != '\0' || !isfinite(x) || x < 0) {
            st = specx_err_set(err, SPECX_EFORMAT, "%s:%d: want one time in ms >= 0, got '%s'",
                               path, lineno, p);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            double *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                st = specx_err_set(err, SPECX_ENOMEM, "replay: out of memory");
                break;
            }
            v = nv;
        }
        v[n++] = x;
    }
    fclose(f);
    if (st == SPECX_OK && n == 0) {
        st = specx_err_set(err, SPECX_EFORMAT, "%s: no compute times in it", path);
    }
    if (st == SPECX_OK) {
        char desc[160];
        snprintf(desc, sizeof desc, "file %.120s (%zu samples)", path, n);
        st = specx_replay_dist_from(v, n, desc, out, err);
    }
    free(v);
    return st;
}

specx_status specx_replay_dist_parse(const char *spec, const specx_replay_dist *measured,
                                     specx_replay_dist *out, specx_err *err)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) {
        return specx_err_set(err, SPECX_EINVAL, "replay: empty compute-time distribution");
    }
    if (strcmp(spec, "measured") == 0) {
        if (!measured || measured->n == 0) {
            return specx_err_set(err, SPECX_EINVAL, "replay: no measured compute times");
        }
        return specx_replay_dist_from(measured->ms, measured->n, measured->desc, out, err);
    }
    char *end;
    double c = strtod(spec, &end);
    if (end != spec && *end == '\0') {
        if (!isfinite(c) || c < 0) {
            return specx_err_set(err, SPECX_EINVAL, "replay: compute time %s ms is not >= 0", spec);
        }
        char desc[64];
        snprintf(desc, sizeof desc, "constant %g ms", c);
        return specx_replay_dist_from(&c, 1, desc, out, err);
    }
    return dist_file(spec, out, err);
}

/* ---- bytes on the wire ------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A length-delimited field: tag, length, payload. */
static size_t ld(size_t len)
{
    return 1 + varint_len(len) + len;
}

size_t specx_replay_reply_bytes(const specx_detections *d)
{
    /* object_detection.Response as src/rpc/wire.c fills it for a unary
     * reply (proto3: zero fields are not sent). Assumed: req_id < 2^14,
     * recv_time, infer_ms and queue_ms nonzero. */
    size_t n = 0;
    for (size_t i = 0; d && i < d->count; i++) {
        const specx_detection *o = &d->items[i];
        size_t box = (o->xmin != 0.0f ? 5 : 0) + (o->xmax != 0.0f ? 5 : 0) +
                     (o->ymin != 0.0f ? 5 : 0) + (o->ymax != 0.0f ? 5 : 0);
        size_t obj = (o->score != 0.0f ? 5 : 0) + ld(box);
        size_t lab = strlen(o->label);
        obj += lab ? ld(lab) : 0;
        obj += o->class_id >= 0 ? 1 + varint_len((uint64_t)o->class_id + 1) : 0;
        n += ld(obj);
    }
    n += 1 + 2;     /* req_id */
    n += 9 + 9 + 9; /* recv_time, infer_ms, queue_ms */
    size_t model = d ? strlen(d->model) : 0;
    n += model ? ld(model) : 0;
    if (d && d->image_width > 0) {
        n += 1 + varint_len((uint64_t)d->image_width);
    }
    if (d && d->image_height > 0) {
        n += 1 + varint_len((uint64_t)d->image_height);
    }
    return n;
}
