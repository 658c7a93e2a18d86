/* profile.c — netem link profiles: the key=value text format, the built-in
 * profiles (with their sources), and RTT sampling for --describe.
 *
 * Design notes: built-in profiles are written in the same text format a
 * user's file uses and go through the same parser, so the docs, the
 * --describe output and the behaviour cannot drift apart. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "netem_internal.h"

/* ---- built-in profiles -------------------------------------------------- */

typedef struct builtin {
    const char *name;
    const char *text;
} builtin;

static const builtin builtins[] = {
    {"5g-sf", "# 5g-sf: the 5G drive in Schafhalter et al., \"Leveraging Cloud Computing to\n"
              "# Make Autonomous Vehicles Safer\", IROS 2023: round-trip time 68 ms median,\n"
              "# 336 ms p90, 3027 ms p99, for 33.3 KB requests at 30 Hz and ~1 KB replies.\n"
              "# Those RTTs already include moving the 33.3 KB, so no separate rate limit.\n"
              "# Fit: one lognormal cannot match all three quantiles (through p50+p90 it\n"
              "# gives p99 = 1237 ms; through p50+p99, p90 = 551 ms), so the uplink (the\n"
              "# 33 KB direction, where 5G is weakest) gets a piecewise lognormal through\n"
              "# the paper's quantiles minus the 4 ms downlink: exact at p50/p90/p99.\n"
              "# Assumptions, not from the paper: p1 = 30 ms RTT (lower tail), a 4 ms\n"
              "# constant downlink, the tail past p99 continues the p90-p99 slope and is\n"
              "# capped at 8 s (0.26 % of draws).\n"
              "name = 5g-sf\n"
              "up.delay = quantiles p1=26 p50=64 p90=332 p99=3023 max_ms=8000\n"
              "down.delay = const ms=4\n"
              "target_rtt_ms = p50=68 p90=336 p99=3027\n"
              "describe_bytes = up=33300 down=1000\n"},
    {"lan", "# lan: a switched gigabit LAN, ~1 ms round trip (0.5 ms each way, small\n"
            "# jitter), 1 Gbit/s each way.\n"
            "name = lan\n"
            "delay = normal mean_ms=0.5 sd_ms=0.1 min_ms=0.2\n"
            "rate_mbit = 1000\n"
            "describe_bytes = up=33300 down=1000\n"},
    {"lte", "# lte: a loaded 4G/LTE cell, bandwidth-limited on the uplink. Typical\n"
            "# figures from public crowd-sourced measurements (Ookla Speedtest and\n"
            "# OpenSignal mobile reports, 2021-2023): 4G idle latency 30-60 ms RTT\n"
            "# median, download 20-40 Mbit/s, upload 5-10 Mbit/s. Chosen: 8 Mbit/s up,\n"
            "# 30 Mbit/s down, lognormal one-way delay median 22 ms (sigma 0.35) each\n"
            "# way: ping RTT ~45 ms median; a 33.3 KB frame adds 33 ms on the uplink.\n"
            "name = lte\n"
            "delay = lognormal median_ms=22 sigma=0.35 min_ms=8\n"
            "up.rate_mbit = 8\n"
            "down.rate_mbit = 30\n"
            "describe_bytes = up=33300 down=1000\n"},
    {"none", "# none: no impairment at all (a plain TCP proxy), for baselines.\n"
             "name = none\n"},
};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])

const char *const *specx_netem_builtin_names(void)
{
    static const char *const names[] = {"5g-sf", "lan", "lte", "none", NULL};
    return names;
}

const char *specx_netem_builtin_text(const char *name)
{
    for (size_t i = 0; i < NBUILTINS; i++) {
        if (strcmp(builtins[i].name, name) == 0) {
            return builtins[i].text;
        }
    }
    return NULL;
}

/* ---- profile objects ----------------------------------------------------- */

static void profile_defaults(specx_netem_profile *p)
{
    memset(p, 0, sizeof *p);
    p->burst_gap_ms = 1.0;
    p->describe_bytes[SPECX_NETEM_UP] = 33300;
    p->describe_bytes[SPECX_NETEM_DOWN] = 1000;
}

specx_status nx_profile_new_default(specx_netem_profile **out, specx_err *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    profile_defaults(*out);
    return SPECX_OK;
}

void specx_netem_profile_free(specx_netem_profile *p)
{
    if (!p) {
        return;
    }
    for (int d = 0; d < 2; d++) {
        free(p->dir[d].delay.trace);
    }
    free(p);
}

const char *specx_netem_profile_name(const specx_netem_profile *p)
{
    return p->name;
}

specx_status nx_profile_copy(const specx_netem_profile *src, specx_netem_profile **out,
                             specx_err *err)
{
    specx_netem_profile *p = malloc(sizeof *p);
    if (!p) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    *p = *src;
    for (int d = 0; d < 2; d++) {
        p->dir[d].delay.trace = NULL;
    }
    for (int d = 0; d < 2; d++) {
        const nx_dist *sd = &src->dir[d].delay;
        if (sd->ntrace) {
            p->dir[d].delay.trace = malloc(sd->ntrace * sizeof(double));
            if (!p->dir[d].delay.trace) {
                specx_netem_profile_free(p);
                return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
            }
            memcpy(p->dir[d].delay.trace, sd->trace, sd->ntrace * sizeof(double));
        }
    }
    *out = p;
    return SPECX_OK;
}

/* ---- parser ---------------------------------------------------------------- */

typedef struct parse_ctx {
    const char *origin;
    const char *base_dir;
    int line;
    specx_err *err;
} parse_ctx;

static specx_status perr(parse_ctx *c, specx_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static specx_status perr(parse_ctx *c, specx_status st, const char *fmt, ...)
{
    char what[1200];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang-14 false positive
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return specx_err_set(c->err, st, "%s:%d: %s", c->origin ? c->origin : "profile", c->line, what);
}
#ifdef __clang_analyzer__
/* As for specx_err_set (status.h): the analyzer does not follow variadic
 * calls, so spell out that perr returns its status. */
#define perr(c, st, ...) (perr((c), (st), __VA_ARGS__), (st))
#endif

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    return s;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* Splits "k=v" tokens of a value; calls back per pair. */
typedef specx_status (*kv_fn)(parse_ctx *c, void *obj, const char *k, const char *v);

static specx_status each_kv(parse_ctx *c, char *rest, void *obj, kv_fn fn)
{
    char *save = NULL;
    for (char *tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || eq[1] == '\0') {
            return perr(c, SPECX_EFORMAT, "expected key=value, got '%s'", tok);
        }
        *eq = '\0';
        specx_status st = fn(c, obj, tok, eq + 1);
        if (st != SPECX_OK) {
            return st;
        }
    }
    return SPECX_OK;
}

static specx_status number(parse_ctx *c, const char *k, const char *v, double *out, double lo)
{
    if (!parse_double(v, out)) {
        return perr(c, SPECX_EFORMAT, "'%s' needs a number, got '%s'", k, v);
    }
    if (*out < lo) {
        return perr(c, SPECX_EINVAL, "'%s' must not be negative (got %s)", k, v);
    }
    return SPECX_OK;
}

static specx_status load_trace(parse_ctx *c, nx_dist *d, const char *path)
{
    char full[400];
    if (path[0] != '/' && c->base_dir && c->base_dir[0]) {
        snprintf(full, sizeof full, "%s/%s", c->base_dir, path);
    } else {
        snprintf(full, sizeof full, "%s", path);
    }
    snprintf(d->trace_path, sizeof d->trace_path, "%s", full);
    FILE *f = fopen(full, "r");
    if (!f) {
        return perr(c, SPECX_ENOTFOUND, "cannot open trace file '%s': %s", full, strerror(errno));
    }
    char line[256];
    size_t cap = 0;
    int ln = 0;
    specx_status st = SPECX_OK;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *s = trim(line);
        if (!*s) {
            continue;
        }
        char *comma = strchr(s, ','); /* tolerate "ms,..." CSV: first column */
        if (comma) {
            *comma = '\0';
        }
        double v;
        if (!parse_double(trim(s), &v) || v < 0) {
            char where[32];
            snprintf(where, sizeof where, "%d", ln);
            st = perr(c, SPECX_EFORMAT, "trace '%s' line %s: not a non-negative RTT in ms", full,
                      where);
            break;
        }
        if (d->ntrace == cap) {
            cap = cap ? cap * 2 : 256;
            double *t = realloc(d->trace, cap * sizeof *t);
            if (!t) {
                st = specx_err_set(c->err, SPECX_ENOMEM, "netem: out of memory");
                break;
            }
            d->trace = t;
        }
        d->trace[d->ntrace++] = v / 2.0; /* one-way = RTT / 2 */
    }
    fclose(f);
    if (st == SPECX_OK && d->ntrace == 0) {
        st = perr(c, SPECX_EFORMAT, "trace '%s' holds no RTT samples", full);
    }
    return st;
}

static specx_status dist_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    nx_dist *d = obj;
    double x;
    specx_status st;
    if (strcmp(k, "min_ms") == 0 || strcmp(k, "max_ms") == 0) {
        if ((st = number(c, k, v, &x, 0)) != SPECX_OK) {
            return st;
        }
        *(k[1] == 'i' ? &d->min_ms : &d->max_ms) = x;
        return SPECX_OK;
    }
    switch (d->kind) {
    case NX_DIST_CONST:
        if (strcmp(k, "ms") == 0) {
            return number(c, k, v, &d->a, 0);
        }
        break;
    case NX_DIST_NORMAL:
        if (strcmp(k, "mean_ms") == 0) {
            return number(c, k, v, &d->a, 0);
        }
        if (strcmp(k, "sd_ms") == 0) {
            return number(c, k, v, &d->b, 0);
        }
        break;
    case NX_DIST_LOGNORMAL:
        if (strcmp(k, "median_ms") == 0) {
            return number(c, k, v, &d->a, 0);
        }
        if (strcmp(k, "sigma") == 0) {
            return number(c, k, v, &d->b, 0);
        }
        break;
    case NX_DIST_QUANTILES:
        if (k[0] == 'p') {
            double pct;
            if (!parse_double(k + 1, &pct) || pct <= 0 || pct >= 100) {
                return perr(c, SPECX_EFORMAT, "quantile '%s' must be pNN with 0 < NN < 100", k);
            }
            if ((st = number(c, k, v, &x, 0)) != SPECX_OK) {
                return st;
            }
            if (x <= 0) {
                return perr(c, SPECX_EINVAL, "quantile %s must be > 0 ms (got %s)", k, v);
            }
            if (d->nknots == NX_MAX_KNOTS) {
                return perr(c, SPECX_EINVAL, "at most 16 quantiles");
            }
            double q = pct / 100.0;
            if (d->nknots > 0 &&
                (q <= d->knot_q[d->nknots - 1] || log(x) <= d->knot_ln[d->nknots - 1])) {
                return perr(c, SPECX_EINVAL,
                            "quantiles must be given in increasing order with increasing values "
                            "(at '%s=%s')",
                            k, v);
            }
            d->knot_q[d->nknots] = q;
            d->knot_z[d->nknots] = nx_probit(q);
            d->knot_ln[d->nknots] = log(x);
            d->nknots++;
            return SPECX_OK;
        }
        break;
    case NX_DIST_TRACE:
        if (strcmp(k, "file") == 0) {
            return load_trace(c, d, v);
        }
        break;
    case NX_DIST_ZERO:
        break;
    }
    return perr(c, SPECX_EFORMAT, "unknown delay parameter '%s' (see docs/netem.md)", k);
}

static specx_status parse_delay(parse_ctx *c, char *val, nx_dist *out)
{
    char *save = NULL;
    char *kind = strtok_r(val, " \t", &save);
    char *rest = save ? save : (char *)"";
    nx_dist d = {0};
    if (!kind) {
        return perr(c, SPECX_EFORMAT,
                    "delay needs a kind (none, const, normal, lognormal, "
                    "quantiles, trace)");
    }
    if (strcmp(kind, "none") == 0) {
        d.kind = NX_DIST_ZERO;
    } else if (strcmp(kind, "const") == 0) {
        d.kind = NX_DIST_CONST;
    } else if (strcmp(kind, "normal") == 0) {
        d.kind = NX_DIST_NORMAL;
    } else if (strcmp(kind, "lognormal") == 0) {
        d.kind = NX_DIST_LOGNORMAL;
    } else if (strcmp(kind, "quantiles") == 0) {
        d.kind = NX_DIST_QUANTILES;
    } else if (strcmp(kind, "trace") == 0) {
        d.kind = NX_DIST_TRACE;
    } else {
        return perr(c, SPECX_EFORMAT,
                    "unknown delay kind '%s' (none, const, normal, lognormal, quantiles, trace)",
                    kind);
    }
    specx_status st = each_kv(c, rest, &d, dist_kv);
    if (st == SPECX_OK) {
        if (d.kind == NX_DIST_QUANTILES && d.nknots < 2) {
            st = perr(c, SPECX_EINVAL, "quantiles needs at least two, e.g. p50=68 p90=336");
        } else if (d.kind == NX_DIST_TRACE && d.ntrace == 0) {
            st = perr(c, SPECX_EINVAL, "trace needs file=PATH");
        } else if (d.kind == NX_DIST_LOGNORMAL && d.a <= 0) {
            st = perr(c, SPECX_EINVAL, "lognormal needs median_ms > 0");
        } else if (d.max_ms > 0 && d.max_ms < d.min_ms) {
            st = perr(c, SPECX_EINVAL, "max_ms is below min_ms");
        }
    }
    if (st != SPECX_OK) {
        free(d.trace);
        return st;
    }
    free(out->trace);
    *out = d;
    return SPECX_OK;
}

static specx_status outage_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    nx_outage_cfg *o = obj;
    if (strcmp(k, "period_ms") == 0 && o->kind == NX_OUTAGE_PERIODIC) {
        return number(c, k, v, &o->period_ms, 0);
    }
    if (strcmp(k, "mean_interval_ms") == 0 && o->kind == NX_OUTAGE_RANDOM) {
        return number(c, k, v, &o->mean_interval_ms, 0);
    }
    if (strcmp(k, "duration_ms") == 0) {
        return number(c, k, v, &o->duration_ms, 0);
    }
    if (strcmp(k, "offset_ms") == 0) {
        return number(c, k, v, &o->offset_ms, 0);
    }
    if (strcmp(k, "duration") == 0 && o->kind == NX_OUTAGE_RANDOM) {
        if (strcmp(v, "exp") == 0) {
            o->exp_duration = true;
            return SPECX_OK;
        }
        if (strcmp(v, "const") == 0) {
            o->exp_duration = false;
            return SPECX_OK;
        }
        return perr(c, SPECX_EFORMAT, "duration must be const or exp, got '%s'", v);
    }
    return perr(c, SPECX_EFORMAT, "unknown outage parameter '%s'", k);
}

static specx_status parse_outage(parse_ctx *c, char *val, nx_outage_cfg *out)
{
    char *save = NULL;
    char *kind = strtok_r(val, " \t", &save);
    nx_outage_cfg o = {0};
    if (!kind || strcmp(kind, "none") == 0) {
        *out = o;
        return SPECX_OK;
    }
    if (strcmp(kind, "periodic") == 0) {
        o.kind = NX_OUTAGE_PERIODIC;
    } else if (strcmp(kind, "random") == 0) {
        o.kind = NX_OUTAGE_RANDOM;
    } else {
        return perr(c, SPECX_EFORMAT, "unknown outage kind '%s' (none, periodic, random)", kind);
    }
    specx_status st = each_kv(c, save ? save : (char *)"", &o, outage_kv);
    if (st != SPECX_OK) {
        return st;
    }
    if (o.duration_ms <= 0) {
        return perr(c, SPECX_EINVAL, "outage needs duration_ms > 0");
    }
    if (o.kind == NX_OUTAGE_PERIODIC && o.period_ms <= o.duration_ms) {
        return perr(c, SPECX_EINVAL, "periodic outage needs period_ms > duration_ms");
    }
    if (o.kind == NX_OUTAGE_RANDOM && o.mean_interval_ms <= 0) {
        return perr(c, SPECX_EINVAL, "random outage needs mean_interval_ms > 0");
    }
    *out = o;
    return SPECX_OK;
}

typedef struct bytes_obj {
    size_t *b;
} bytes_obj;

static specx_status bytes_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    bytes_obj *bo = obj;
    double x = 0;
    specx_status st = number(c, k, v, &x, 0);
    if (st != SPECX_OK) {
        return st;
    }
    if (strcmp(k, "up") == 0) {
        bo->b[SPECX_NETEM_UP] = (size_t)x;
    } else if (strcmp(k, "down") == 0) {
        bo->b[SPECX_NETEM_DOWN] = (size_t)x;
    } else {
        return perr(c, SPECX_EFORMAT, "describe_bytes takes up= and down=, not '%s'", k);
    }
    return SPECX_OK;
}

static specx_status target_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    specx_netem_profile *p = obj;
    double pct, x;
    if (k[0] != 'p' || !parse_double(k + 1, &pct) || pct <= 0 || pct >= 100) {
        return perr(c, SPECX_EFORMAT, "target '%s' must be pNN with 0 < NN < 100", k);
    }
    specx_status st = number(c, k, v, &x, 0);
    if (st != SPECX_OK) {
        return st;
    }
    if (p->ntargets == NX_MAX_TARGETS) {
        return perr(c, SPECX_EINVAL, "at most 8 targets");
    }
    p->target_q[p->ntargets] = pct / 100.0;
    p->target_ms[p->ntargets] = x;
    p->ntargets++;
    return SPECX_OK;
}

static specx_status parse_line(parse_ctx *c, specx_netem_profile *p, char *key, char *val)
{
    int dirs[2] = {SPECX_NETEM_UP, SPECX_NETEM_DOWN};
    int ndirs = 2;
    if (strncmp(key, "up.", 3) == 0) {
        key += 3;
        ndirs = 1;
    } else if (strncmp(key, "down.", 5) == 0) {
        key += 5;
        dirs[0] = SPECX_NETEM_DOWN;
        ndirs = 1;
    }
    bool per_dir = strcmp(key, "delay") == 0 || strcmp(key, "rate_mbit") == 0 ||
                   strcmp(key, "rate_kbit") == 0 || strcmp(key, "outage") == 0;
    if (ndirs == 1 && !per_dir) {
        return perr(c, SPECX_EFORMAT, "'%s' cannot take an up./down. prefix", key);
    }
    if (per_dir) {
        for (int i = 0; i < ndirs; i++) {
            nx_dir_cfg *d = &p->dir[dirs[i]];
            char copy[1024];
            snprintf(copy, sizeof copy, "%s", val); /* strtok modifies it */
            specx_status st = SPECX_OK;
            if (strcmp(key, "delay") == 0) {
                st = parse_delay(c, copy, &d->delay);
            } else if (strcmp(key, "outage") == 0) {
                st = parse_outage(c, copy, &d->outage);
            } else {
                double x;
                st = number(c, key, val, &x, 0);
                if (st == SPECX_OK) {
                    d->rate_bps = x * (key[5] == 'm' ? 1e6 : 1e3);
                }
            }
            if (st != SPECX_OK) {
                return st;
            }
        }
        return SPECX_OK;
    }
    if (strcmp(key, "name") == 0) {
        snprintf(p->name, sizeof p->name, "%s", val);
        return SPECX_OK;
    }
    if (strcmp(key, "burst_gap_ms") == 0) {
        return number(c, key, val, &p->burst_gap_ms, 0);
    }
    if (strcmp(key, "describe_bytes") == 0) {
        bytes_obj bo = {p->describe_bytes};
        return each_kv(c, val, &bo, bytes_kv);
    }
    if (strcmp(key, "target_rtt_ms") == 0) {
        p->ntargets = 0;
        return each_kv(c, val, p, target_kv);
    }
    return perr(c, SPECX_EFORMAT,
                "unknown key '%s' (name, delay, rate_mbit, rate_kbit, outage, burst_gap_ms, "
                "describe_bytes, target_rtt_ms)",
                key);
}

specx_status specx_netem_profile_parse(const char *text, const char *origin, const char *base_dir,
                                       specx_netem_profile **out, specx_err *err)
{
    *out = NULL;
    if (!text) {
        return specx_err_set(err, SPECX_EINVAL, "netem: no profile text");
    }
    specx_netem_profile *p;
    specx_status st = nx_profile_new_default(&p, err);
    if (st != SPECX_OK) {
        return st;
    }
    parse_ctx c = {.origin = origin, .base_dir = base_dir, .err = err};
    const char *s = text;
    while (*s && st == SPECX_OK) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        c.line++;
        char line[1024];
        if (len >= sizeof line) {
            st = perr(&c, SPECX_EFORMAT, "line longer than 1023 characters");
            break;
        }
        memcpy(line, s, len);
        line[len] = '\0';
        s += len + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *t = trim(line);
        if (!*t) {
            continue;
        }
        char *eq = strchr(t, '=');
        if (!eq) {
            st = perr(&c, SPECX_EFORMAT, "expected 'key = value', got '%s'", t);
            break;
        }
        *eq = '\0';
        char *key = trim(t);
        char *val = trim(eq + 1);
        if (!*key || strpbrk(key, " \t")) {
            st = perr(&c, SPECX_EFORMAT, "expected 'key = value', got '%s'", key);
            break;
        }
        st = parse_line(&c, p, key, val);
    }
    if (st != SPECX_OK) {
        specx_netem_profile_free(p);
        return st;
    }
    *out = p;
    return SPECX_OK;
}

specx_status specx_netem_profile_load(const char *name_or_path, specx_netem_profile **out,
                                      specx_err *err)
{
    *out = NULL;
    const char *text = specx_netem_builtin_text(name_or_path);
    if (text) {
        return specx_netem_profile_parse(text, name_or_path, NULL, out, err);
    }
    FILE *f = fopen(name_or_path, "r");
    if (!f) {
        return specx_err_set(err, SPECX_ENOTFOUND,
                             "netem: '%s' is neither a built-in profile (5g-sf, lan, lte, none) "
                             "nor a readable file: %s",
                             name_or_path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    specx_status st = SPECX_OK;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                st = specx_err_set(err, SPECX_ETOOBIG, "netem: profile '%s' is over 1 MiB",
                                   name_or_path);
                break;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (st == SPECX_OK && ferror(f)) {
        st = specx_err_set(err, SPECX_EIO, "netem: reading '%s' failed", name_or_path);
    }
    fclose(f);
    if (st == SPECX_OK) {
        buf[len] = '\0';
        char dir[512];
        snprintf(dir, sizeof dir, "%s", name_or_path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
        } else {
            dir[0] = '\0';
        }
        st = specx_netem_profile_parse(buf, name_or_path, dir, out, err);
    }
    free(buf);
    return st;
}

/* ---- sampling and describe ------------------------------------------------- */

static double ser_ms(const nx_dir_cfg *d, size_t bytes)
{
    return d->rate_bps > 0 ? (double)bytes * 8.0 / d->rate_bps * 1e3 : 0.0;
}

specx_status specx_netem_profile_sample_rtt(const specx_netem_profile *p, uint64_t seed,
                                            size_t up_bytes, size_t down_bytes, double *out_ms,
                                            size_t n, specx_err *err)
{
    if (!p || (!out_ms && n)) {
        return specx_err_set(err, SPECX_EINVAL, "netem: sample_rtt needs a profile and a buffer");
    }
    nx_rng up, down;
    nx_rng_seed(&up, seed, NX_STREAM_DESCRIBE | SPECX_NETEM_UP);
    nx_rng_seed(&down, seed, NX_STREAM_DESCRIBE | SPECX_NETEM_DOWN);
    double fixed = ser_ms(&p->dir[0], up_bytes) + ser_ms(&p->dir[1], down_bytes);
    for (size_t i = 0; i < n; i++) {
        out_ms[i] = nx_dist_sample_ms(&p->dir[0].delay, &up) +
                    nx_dist_sample_ms(&p->dir[1].delay, &down) + fixed;
    }
    return SPECX_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sorted_quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) {
        return v[n - 1];
    }
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

static void describe_dir(const nx_dir_cfg *d, const char *label, FILE *out)
{
    char dist[512];
    nx_dist_format(&d->delay, dist, sizeof dist);
    fprintf(out, "  %-5s delay %s; rate ", label, dist);
    if (d->rate_bps > 0) {
        fprintf(out, "%g Mbit/s", d->rate_bps / 1e6);
    } else {
        fprintf(out, "unlimited");
    }
    switch (d->outage.kind) {
    case NX_OUTAGE_NONE:
        fprintf(out, "; no outages\n");
        break;
    case NX_OUTAGE_PERIODIC:
        fprintf(out, "; outage %g ms every %g ms from %g ms\n", d->outage.duration_ms,
                d->outage.period_ms, d->outage.offset_ms);
        break;
    case NX_OUTAGE_RANDOM:
        fprintf(out, "; outages of %s%g ms, mean gap %g ms\n",
                d->outage.exp_duration ? "~exp " : "", d->outage.duration_ms,
                d->outage.mean_interval_ms);
        break;
    }
}

specx_status specx_netem_profile_describe(const specx_netem_profile *p, uint64_t seed,
                                          size_t samples, FILE *out, specx_err *err)
{
    if (samples < 100) {
        samples = 100;
    }
    double *v = malloc(samples * sizeof *v);
    if (!v) {
        return specx_err_set(err, SPECX_ENOMEM, "netem: out of memory");
    }
    size_t ub = p->describe_bytes[0], db = p->describe_bytes[1];
    specx_status st = specx_netem_profile_sample_rtt(p, seed, ub, db, v, samples, err);
    if (st != SPECX_OK) {
        free(v);
        return st;
    }
    qsort(v, samples, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < samples; i++) {
        sum += v[i];
    }
    fprintf(out, "profile %s\n", p->name[0] ? p->name : "(unnamed)");
    describe_dir(&p->dir[0], "up", out);
    describe_dir(&p->dir[1], "down", out);
    fprintf(out, "  delay draws shared by chunks less than %g ms apart\n", p->burst_gap_ms);
    fprintf(out,
            "round trip of one %zu-byte request and %zu-byte reply, %zu draws, seed %llu "
            "(outages excluded):\n",
            ub, db, samples, (unsigned long long)seed);
    fprintf(out, "  %-8s %12s %12s\n", "quantile", "produced_ms", "target_ms");
    static const double qs[] = {0.01, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 0.999};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        char name[16], target[32] = "-";
        snprintf(name, sizeof name, "p%g", qs[i] * 100.0);
        for (size_t t = 0; t < p->ntargets; t++) {
            if (fabs(p->target_q[t] - qs[i]) < 1e-9) {
                snprintf(target, sizeof target, "%.1f", p->target_ms[t]);
            }
        }
        fprintf(out, "  %-8s %12.1f %12s\n", name, sorted_quantile(v, samples, qs[i]), target);
    }
    /* Targets at quantiles not in the fixed list still get a row. */
    for (size_t t = 0; t < p->ntargets; t++) {
        bool listed = false;
        for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
            listed = listed || fabs(p->target_q[t] - qs[i]) < 1e-9;
        }
        if (!listed) {
            char name[16];
            snprintf(name, sizeof name, "p%g", p->target_q[t] * 100.0);
            fprintf(out, "  %-8s %12.1f %12.1f\n", name,
                    sorted_quantile(v, samples, p->target_q[t]), p->target_ms[t]);
        }
    }
    fprintf(out, "  %-8s %12.1f %12s\n", "mean", sum / (double)samples, "-");
    free(v);
    return SPECX_OK;
}
