/* profile.c — netem link profiles: the key=value text format and the
 * built-in profiles (with their sources and calibration targets).
 *
 * Design notes: built-in profiles are written in the same text format a
 * user's file uses and go through the same parser, so the docs, the
 * --describe output and the behaviour cannot drift apart. */
#include "netem/profile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netem/rng.h"

/* ---- built-in profiles -------------------------------------------------- */

typedef struct builtin {
    const char *name;
    const char *text;
} builtin;

static const builtin builtins[] = {
    {"5g-sf", "# 5g-sf: the 5G drive in Schafhalter et al., \"Leveraging Cloud Computing to\n"
              "# Make Autonomous Vehicles Safer\", IROS 2023: requests of 33.3 KB at 30 Hz\n"
              "# over one connection, ~1 KB replies; round trip 68 ms median, 336 ms p90,\n"
              "# 3027 ms p99. Those are the targets, for that reference traffic.\n"
              "# Ours, not the paper's (docs/netem.md argues each): p1 = 30 ms; the\n"
              "# variable part on the uplink (the 33 KB direction) and a constant 4 ms\n"
              "# downlink; correlation time 300 ms; one-way delays capped at 5 s;\n"
              "# capacity 14.56 Mbit/s up (the US 5G median upload of T-Mobile and\n"
              "# Verizon, Ookla Speedtest, H1 2024) and 85 Mbit/s down (the lowest of\n"
              "# the three US carriers' 5G median downloads, Ookla, Q4 2022).\n"
              "# The uplink knots are fitted (tests/netem/calibrate_netem.py, 500 h of\n"
              "# virtual time) so that what requests experience, ordering included,\n"
              "# matches the targets; they are lower than the targets because a delay\n"
              "# spike also holds up the requests behind it.\n"
              "name = 5g-sf\n"
              "up.delay = quantiles p1=7.508 p50=42.38 p90=125.2 p99=877.9 max_ms=5000\n"
              "up.tau_ms = 300\n"
              "up.rate_mbit = 14.56\n"
              "down.delay = const ms=4\n"
              "down.rate_mbit = 85\n"
              "reference_traffic = request_bytes=33300 reply_bytes=1000 hz=30\n"
              "target_rtt_ms = p1=30 p50=68 p90=336 p99=3027\n"},
    {"lan", "# lan: a switched gigabit Ethernet LAN between the vehicle and a server next\n"
            "# to it: a baseline, argued rather than measured. 1 Gbit/s each way; the\n"
            "# one-way delay of a switch hop and two kernel stacks, ~0.1 ms, on the\n"
            "# uplink, 0.05 ms constant down. Reference traffic: 33.3 KB requests,\n"
            "# 1 KB replies, 30 Hz; targets p50 0.5, p90 0.6, p99 1.0 ms (assumed).\n"
            "name = lan\n"
            "up.delay = quantiles p50=0.18 p90=0.2782 p99=0.674\n"
            "down.delay = const ms=0.05\n"
            "rate_mbit = 1000\n"
            "reference_traffic = request_bytes=33300 reply_bytes=1000 hz=30\n"
            "target_rtt_ms = p50=0.5 p90=0.6 p99=1.0\n"},
    {"lte", "# lte: a 4G/LTE link. Capacity: Huang et al., \"A Close Examination of\n"
            "# Performance and Power Characteristics of 4G LTE Networks\", MobiSys 2012\n"
            "# (4GTest, >3000 users): median 13 Mbit/s down, 6 Mbit/s up. Latency:\n"
            "# Ookla Speedtest, US mobile operators, Q2 2020 (mostly 4G): median\n"
            "# latency 31-39 ms, so p50 = 35 ms for a latency test's small requests.\n"
            "# No published percentiles were at hand: p1 = 20, p90 = 70, p99 = 200 ms\n"
            "# are assumptions. Reference traffic: 1 KB requests and replies at 10 Hz.\n"
            "# Like 5g-sf: variable uplink (fitted knots), constant 8 ms downlink.\n"
            "name = lte\n"
            "up.delay = quantiles p1=10.06 p50=25.03 p90=59.59 p99=180.6 max_ms=5000\n"
            "up.tau_ms = 300\n"
            "up.rate_mbit = 6\n"
            "down.delay = const ms=8\n"
            "down.rate_mbit = 13\n"
            "reference_traffic = request_bytes=1000 reply_bytes=1000 hz=10\n"
            "target_rtt_ms = p1=20 p50=35 p90=70 p99=200\n"},
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
    for (int d = 0; d < 2; d++) {
        p->dir[d].tau_ms = SX_NETEM_DEFAULT_TAU_MS;
    }
}

specx_status sx_netem_profile_new_default(specx_netem_profile **out, specx_err *err)
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
        sx_netem_dist_clear(&p->dir[d].delay);
    }
    free(p);
}

const char *specx_netem_profile_name(const specx_netem_profile *p)
{
    return p->name;
}

const specx_netem_traffic *specx_netem_profile_reference(const specx_netem_profile *p)
{
    return p->traffic.request_bytes > 0 ? &p->traffic : NULL;
}

specx_status sx_netem_profile_copy(const specx_netem_profile *src, specx_netem_profile **out,
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
        const sx_netem_dist *sd = &src->dir[d].delay;
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

/* Bounds on what a profile may say, so that every delay and duration fits
 * the nanosecond clock with room to add: 1e308 ms would be accepted and
 * wrap to no delay at all. An hour of one-way delay is far past any link. */
#define MAX_DELAY_MS SX_NETEM_MAX_DELAY_MS /* any delay, correlation time, RTT target */
#define MAX_OUTAGE_MS 8.64e7               /* outage durations, periods, offsets: a day */
#define MIN_RATE_BPS 1e3                   /* a capacity, when given: 1 kbit/s .. */
#define MAX_RATE_BPS 1e12                  /* .. 1 Tbit/s */
#define MAX_TRACE_BYTES (64 << 20)
#define MAX_TRACE_SAMPLES ((size_t)1 << 22)

static specx_status number(parse_ctx *c, const char *k, const char *v, double *out, double lo,
                           double hi)
{
    if (!parse_double(v, out)) {
        return perr(c, SPECX_EFORMAT, "'%s' needs a number, got '%s'", k, v);
    }
    if (*out < lo) {
        return lo == 0 ? perr(c, SPECX_EINVAL, "'%s' must not be negative (got %s)", k, v)
                       : perr(c, SPECX_EINVAL, "'%s' must not be below %g (got %s)", k, lo, v);
    }
    if (*out > hi) {
        return perr(c, SPECX_EINVAL, "'%s' must not be above %g (got %s)", k, hi, v);
    }
    return SPECX_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static specx_status load_trace(parse_ctx *c, sx_netem_dist *d, const char *path)
{
    char full[400];
    if (path[0] != '/' && c->base_dir && c->base_dir[0]) {
        snprintf(full, sizeof full, "%s/%s", c->base_dir, path);
    } else {
        snprintf(full, sizeof full, "%s", path);
    }
    snprintf(d->trace_path, sizeof d->trace_path, "%s", full);
    /* Opened without blocking and checked to be a regular file of bounded
     * size: a FIFO would block the open, /dev/zero would never end. */
    int fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        return perr(c, SPECX_ENOTFOUND, "cannot open trace file '%s': %s", full, strerror(errno));
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > MAX_TRACE_BYTES) {
        close(fd);
        return perr(c, SPECX_EINVAL, "trace file '%s' is not a regular file of at most %d MiB",
                    full, MAX_TRACE_BYTES >> 20);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return specx_err_set(c->err, SPECX_ENOMEM, "netem: out of memory");
    }
    char *line = NULL;
    size_t linecap = 0, cap = 0;
    ssize_t got;
    int ln = 0;
    specx_status st = SPECX_OK;
    while ((got = getline(&line, &linecap, f)) >= 0) {
        ln++;
        if ((size_t)got != strlen(line)) {
            st = perr(c, SPECX_EFORMAT, "trace '%s' line %d holds a NUL byte: not a text file",
                      full, ln);
            break;
        }
        if (d->ntrace == MAX_TRACE_SAMPLES) {
            st = perr(c, SPECX_EINVAL, "trace '%s' has more than %zu samples", full,
                      MAX_TRACE_SAMPLES);
            break;
        }
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
        if (!parse_double(trim(s), &v) || v < 0 || v > 2 * MAX_DELAY_MS) {
            char where[32];
            snprintf(where, sizeof where, "%d", ln);
            st = perr(c, SPECX_EFORMAT, "trace '%s' line %s: not an RTT in ms (0..%g)", full, where,
                      2 * MAX_DELAY_MS);
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
    free(line);
    fclose(f);
    if (st == SPECX_OK && d->ntrace == 0) {
        st = perr(c, SPECX_EFORMAT, "trace '%s' holds no RTT samples", full);
    }
    if (st == SPECX_OK) {
        qsort(d->trace, d->ntrace, sizeof *d->trace, cmp_double); /* a quantile table */
    }
    return st;
}

static specx_status dist_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    sx_netem_dist *d = obj;
    double x = 0;
    specx_status st;
    if (strcmp(k, "min_ms") == 0 || strcmp(k, "max_ms") == 0) {
        if ((st = number(c, k, v, &x, 0, MAX_DELAY_MS)) != SPECX_OK) {
            return st;
        }
        *(k[1] == 'i' ? &d->min_ms : &d->max_ms) = x;
        return SPECX_OK;
    }
    switch (d->kind) {
    case SX_NETEM_DIST_CONST:
        if (strcmp(k, "ms") == 0) {
            return number(c, k, v, &d->a, 0, MAX_DELAY_MS);
        }
        break;
    case SX_NETEM_DIST_NORMAL:
        if (strcmp(k, "mean_ms") == 0) {
            return number(c, k, v, &d->a, 0, MAX_DELAY_MS);
        }
        if (strcmp(k, "sd_ms") == 0) {
            return number(c, k, v, &d->b, 0, MAX_DELAY_MS);
        }
        break;
    case SX_NETEM_DIST_LOGNORMAL:
        if (strcmp(k, "median_ms") == 0) {
            return number(c, k, v, &d->a, 0, MAX_DELAY_MS);
        }
        if (strcmp(k, "sigma") == 0) {
            return number(c, k, v, &d->b, 0, 10);
        }
        break;
    case SX_NETEM_DIST_QUANTILES:
        if (k[0] == 'p') {
            double pct;
            if (!parse_double(k + 1, &pct) || pct <= 0 || pct >= 100) {
                return perr(c, SPECX_EFORMAT, "quantile '%s' must be pNN with 0 < NN < 100", k);
            }
            if ((st = number(c, k, v, &x, 0, MAX_DELAY_MS)) != SPECX_OK) {
                return st;
            }
            if (x <= 0) {
                return perr(c, SPECX_EINVAL, "quantile %s must be > 0 ms (got %s)", k, v);
            }
            if (d->nknots == SX_NETEM_MAX_KNOTS) {
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
            d->knot_z[d->nknots] = sx_netem_probit(q);
            d->knot_ln[d->nknots] = log(x);
            d->nknots++;
            return SPECX_OK;
        }
        break;
    case SX_NETEM_DIST_TRACE:
        if (strcmp(k, "file") == 0) {
            return load_trace(c, d, v);
        }
        break;
    case SX_NETEM_DIST_ZERO:
        break;
    }
    return perr(c, SPECX_EFORMAT, "unknown delay parameter '%s' (see docs/netem.md)", k);
}

static specx_status parse_delay(parse_ctx *c, char *val, sx_netem_dist *out)
{
    char *save = NULL;
    char *kind = strtok_r(val, " \t", &save);
    char *rest = save ? save : (char *)"";
    sx_netem_dist d = {0};
    if (!kind) {
        return perr(c, SPECX_EFORMAT,
                    "delay needs a kind (none, const, normal, lognormal, "
                    "quantiles, trace)");
    }
    if (strcmp(kind, "none") == 0) {
        d.kind = SX_NETEM_DIST_ZERO;
    } else if (strcmp(kind, "const") == 0) {
        d.kind = SX_NETEM_DIST_CONST;
    } else if (strcmp(kind, "normal") == 0) {
        d.kind = SX_NETEM_DIST_NORMAL;
    } else if (strcmp(kind, "lognormal") == 0) {
        d.kind = SX_NETEM_DIST_LOGNORMAL;
    } else if (strcmp(kind, "quantiles") == 0) {
        d.kind = SX_NETEM_DIST_QUANTILES;
    } else if (strcmp(kind, "trace") == 0) {
        d.kind = SX_NETEM_DIST_TRACE;
    } else {
        return perr(c, SPECX_EFORMAT,
                    "unknown delay kind '%s' (none, const, normal, lognormal, quantiles, trace)",
                    kind);
    }
    specx_status st = each_kv(c, rest, &d, dist_kv);
    if (st == SPECX_OK) {
        if (d.kind == SX_NETEM_DIST_QUANTILES && d.nknots < 2) {
            st = perr(c, SPECX_EINVAL, "quantiles needs at least two, e.g. p50=68 p90=336");
        } else if (d.kind == SX_NETEM_DIST_TRACE && d.ntrace == 0) {
            st = perr(c, SPECX_EINVAL, "trace needs file=PATH");
        } else if (d.kind == SX_NETEM_DIST_LOGNORMAL && d.a <= 0) {
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
    sx_netem_outage_cfg *o = obj;
    if (strcmp(k, "period_ms") == 0 && o->kind == SX_NETEM_OUTAGE_PERIODIC) {
        return number(c, k, v, &o->period_ms, 0, MAX_OUTAGE_MS);
    }
    if (strcmp(k, "mean_interval_ms") == 0 && o->kind == SX_NETEM_OUTAGE_RANDOM) {
        return number(c, k, v, &o->mean_interval_ms, 0, MAX_OUTAGE_MS);
    }
    if (strcmp(k, "duration_ms") == 0) {
        return number(c, k, v, &o->duration_ms, 0, MAX_OUTAGE_MS);
    }
    if (strcmp(k, "offset_ms") == 0) {
        return number(c, k, v, &o->offset_ms, 0, MAX_OUTAGE_MS);
    }
    if (strcmp(k, "duration") == 0 && o->kind == SX_NETEM_OUTAGE_RANDOM) {
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

static specx_status parse_outage(parse_ctx *c, char *val, sx_netem_outage_cfg *out)
{
    char *save = NULL;
    char *kind = strtok_r(val, " \t", &save);
    sx_netem_outage_cfg o = {0};
    if (!kind || strcmp(kind, "none") == 0) {
        *out = o;
        return SPECX_OK;
    }
    if (strcmp(kind, "periodic") == 0) {
        o.kind = SX_NETEM_OUTAGE_PERIODIC;
    } else if (strcmp(kind, "random") == 0) {
        o.kind = SX_NETEM_OUTAGE_RANDOM;
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
    if (o.kind == SX_NETEM_OUTAGE_PERIODIC && o.period_ms <= o.duration_ms) {
        return perr(c, SPECX_EINVAL, "periodic outage needs period_ms > duration_ms");
    }
    if (o.kind == SX_NETEM_OUTAGE_RANDOM && o.mean_interval_ms <= 0) {
        return perr(c, SPECX_EINVAL, "random outage needs mean_interval_ms > 0");
    }
    *out = o;
    return SPECX_OK;
}

static specx_status traffic_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    specx_netem_traffic *t = obj;
    double x = 0;
    /* bytes up to 1 GiB, hz up to 10 kHz, seconds up to ~115 days */
    double hi = k[0] == 'h' ? 1e4 : k[0] == 's' ? 1e7 : (double)(1 << 30);
    specx_status st = number(c, k, v, &x, 0, hi);
    if (st != SPECX_OK) {
        return st;
    }
    if (strcmp(k, "request_bytes") == 0) {
        t->request_bytes = (size_t)x;
    } else if (strcmp(k, "reply_bytes") == 0) {
        t->reply_bytes = (size_t)x;
    } else if (strcmp(k, "hz") == 0) {
        t->hz = x;
    } else if (strcmp(k, "seconds") == 0) {
        t->seconds = x;
    } else {
        return perr(c, SPECX_EFORMAT,
                    "reference_traffic takes request_bytes=, reply_bytes=, hz= and seconds=, "
                    "not '%s'",
                    k);
    }
    return SPECX_OK;
}

static specx_status parse_traffic(parse_ctx *c, char *val, specx_netem_traffic *out)
{
    specx_netem_traffic t = {0};
    specx_status st = each_kv(c, val, &t, traffic_kv);
    if (st != SPECX_OK) {
        return st;
    }
    if (t.request_bytes == 0 || t.reply_bytes == 0 || t.hz <= 0) {
        return perr(c, SPECX_EINVAL,
                    "reference_traffic needs request_bytes > 0, reply_bytes > 0 and hz > 0");
    }
    *out = t;
    return SPECX_OK;
}

static specx_status target_kv(parse_ctx *c, void *obj, const char *k, const char *v)
{
    specx_netem_profile *p = obj;
    double pct = 0, x = 0;
    if (k[0] != 'p' || !parse_double(k + 1, &pct) || pct <= 0 || pct >= 100) {
        return perr(c, SPECX_EFORMAT, "target '%s' must be pNN with 0 < NN < 100", k);
    }
    specx_status st = number(c, k, v, &x, 0, MAX_DELAY_MS);
    if (st != SPECX_OK) {
        return st;
    }
    if (p->ntargets == SX_NETEM_MAX_TARGETS) {
        return perr(c, SPECX_EINVAL, "at most 8 targets");
    }
    p->target_q[p->ntargets] = pct / 100.0;
    p->target_ms[p->ntargets] = x;
    p->ntargets++;
    return SPECX_OK;
}

static specx_status parse_dir_key(parse_ctx *c, sx_netem_dir_cfg *d, const char *key,
                                  const char *val)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", val); /* strtok modifies it */
    if (strcmp(key, "delay") == 0) {
        return parse_delay(c, copy, &d->delay);
    }
    if (strcmp(key, "outage") == 0) {
        return parse_outage(c, copy, &d->outage);
    }
    double x = 0;
    if (strcmp(key, "tau_ms") == 0) {
        return number(c, key, val, &d->tau_ms, 0, MAX_DELAY_MS);
    }
    double unit = key[5] == 'm' ? 1e6 : 1e3;
    specx_status st = number(c, key, val, &x, 0, MAX_RATE_BPS / unit);
    if (st != SPECX_OK) {
        return st;
    }
    if (x > 0 && x * unit < MIN_RATE_BPS) {
        return perr(c, SPECX_EINVAL, "'%s' must be 0 (unlimited) or at least 1 kbit/s (got %s)",
                    key, val);
    }
    d->rate_bps = x * unit;
    return SPECX_OK;
}

static bool is_dir_key(const char *key)
{
    static const char *const keys[] = {"delay", "tau_ms", "rate_mbit", "rate_kbit", "outage"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
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
    bool per_dir = is_dir_key(key);
    if (ndirs == 1 && !per_dir) {
        return perr(c, SPECX_EFORMAT, "'%s' cannot take an up./down. prefix", key);
    }
    if (per_dir) {
        for (int i = 0; i < ndirs; i++) {
            specx_status st = parse_dir_key(c, &p->dir[dirs[i]], key, val);
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
    if (strcmp(key, "reference_traffic") == 0) {
        return parse_traffic(c, val, &p->traffic);
    }
    if (strcmp(key, "target_rtt_ms") == 0) {
        p->ntargets = 0;
        return each_kv(c, val, p, target_kv);
    }
    if (strcmp(key, "burst_gap_ms") == 0 || strcmp(key, "describe_bytes") == 0) {
        return perr(c, SPECX_EFORMAT,
                    "'%s' is gone: delays are a time-correlated process (tau_ms) and describe "
                    "simulates reference_traffic (docs/netem.md)",
                    key);
    }
    return perr(c, SPECX_EFORMAT,
                "unknown key '%s' (name, delay, tau_ms, rate_mbit, rate_kbit, outage, "
                "reference_traffic, target_rtt_ms)",
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
    specx_status st = sx_netem_profile_new_default(&p, err);
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
    int fd = open(name_or_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return specx_err_set(err, SPECX_ENOTFOUND,
                             "netem: '%s' is neither a built-in profile (5g-sf, lan, lte, none) "
                             "nor a readable file: %s",
                             name_or_path, strerror(errno));
    }
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (f = fdopen(fd, "r")) == NULL) {
        close(fd);
        return specx_err_set(err, SPECX_EINVAL, "netem: profile '%s' is not a regular file",
                             name_or_path);
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
