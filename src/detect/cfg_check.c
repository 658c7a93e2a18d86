/* cfg_check.c — the one check of a darknet model before any backend sees it
 * (detect/cfg_check.h).
 *
 * Design notes
 * - Debian's libdarknet trusts its cfg: it divides by strides, indexes
 *   with route and mask values, allocates from filters and sizes, and
 *   asserts or exits on shapes it did not expect. So every value it reads
 *   is checked here against what darknet would compute with it, layer by
 *   layer, in 64-bit arithmetic, before darknet (or the xnnpack loader,
 *   which has its own stricter rules on top) is handed the file.
 * - The text is split the way darknet splits it (every whitespace character
 *   removed from a line; '#' and ';' start comments; the first '=' divides
 *   key and value; the first occurrence of a key wins), so that what is
 *   checked is what darknet will read.
 * - Whole-number syntax is required where darknet reads integers: its
 *   atoi() reads "2e9" as 2 and "abc" as 0, which hides typos. */
#include "cfg_check.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_KEYS 64
#define MAX_LIST 64

typedef struct kv {
    char *key, *val;
    int line;
    bool used;
} kv;

typedef struct section {
    char type[32];
    int line;
    int nkv;
    kv kvs[MAX_KEYS];
} section;

typedef struct shape {
    long long w, h, c;
} shape;

typedef struct ctx {
    const char *origin;
    specx_err *err;
    section *secs;
    int nsec;
    shape *out; /* per layer (section i + 1 is layer i) */
    sx_detect_cfg_summary sum;
} ctx;

/* The error for section s (NULL: the whole file), layer li (-1: [net]), at
 * the line of key k (NULL: the section's header). */
static specx_status fail_at(ctx *c, const section *s, int li, const kv *k, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static specx_status fail_at(ctx *c, const section *s, int li, const kv *k, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang-14 false positive
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (s == NULL) {
        return specx_err_set(c->err, SPECX_EFORMAT, "cfg %s: %s", c->origin, what);
    }
    int line = k != NULL ? k->line : s->line;
    if (li < 0) {
        return specx_err_set(c->err, SPECX_EFORMAT, "cfg %s line %d: [%s]: %s", c->origin, line,
                             s->type, what);
    }
    return specx_err_set(c->err, SPECX_EFORMAT, "cfg %s line %d: layer %d [%s]: %s", c->origin,
                         line, li, s->type, what);
}
#ifdef __clang_analyzer__
#define fail_at(c, s, li, k, ...) (fail_at((c), (s), (li), (k), __VA_ARGS__), SPECX_EFORMAT)
#endif
#define fail(c, s, li, ...) fail_at((c), (s), (li), NULL, __VA_ARGS__)

/* ---- splitting ------------------------------------------------------------ */

static void strip_all(char *s)
{
    char *w = s;
    for (char *r = s; *r != '\0'; r++) {
        if (!isspace((unsigned char)*r)) {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* One stripped line into the sections. */
static specx_status add_line(ctx *c, char *line, int lineno, int *cap)
{
    if (line[0] == '\0' || line[0] == '#' || line[0] == ';') {
        return SPECX_OK;
    }
    size_t len = strlen(line);
    if (line[0] == '[') {
        if (line[len - 1] != ']' || len < 3 || len - 2 >= sizeof c->secs[0].type) {
            return specx_err_set(c->err, SPECX_EFORMAT,
                                 "cfg %s line %d: bad section header '%.40s'", c->origin, lineno,
                                 line);
        }
        if (c->nsec == *cap) {
            int ncap = *cap > 0 ? *cap * 2 : 32;
            section *ns = realloc(c->secs, (size_t)ncap * sizeof *ns);
            if (ns == NULL) {
                return specx_err_set(c->err, SPECX_ENOMEM, "cfg %s: out of memory", c->origin);
            }
            c->secs = ns;
            *cap = ncap;
        }
        section *s = &c->secs[c->nsec++];
        memset(s, 0, sizeof *s);
        memcpy(s->type, line + 1, len - 2);
        s->line = lineno;
        return SPECX_OK;
    }
    char *eq = strchr(line, '=');
    if (c->nsec == 0 || eq == NULL || eq == line) {
        return specx_err_set(c->err, SPECX_EFORMAT,
                             "cfg %s line %d: expected key=value inside a [section], got '%.40s'",
                             c->origin, lineno, line);
    }
    section *s = &c->secs[c->nsec - 1];
    if (s->nkv == MAX_KEYS) {
        return specx_err_set(c->err, SPECX_EFORMAT, "cfg %s line %d: more than %d keys in [%s]",
                             c->origin, lineno, MAX_KEYS, s->type);
    }
    *eq = '\0';
    s->kvs[s->nkv++] = (kv){.key = line, .val = eq + 1, .line = lineno};
    return SPECX_OK;
}

/* Section types the pjreddie darknet parser knows; on anything else it
 * prints "Type not recognized" and builds a broken network. */
static bool darknet_type(const char *t)
{
    static const char *const known[] = {
        "net",      "network",   "convolutional", "conv",     "deconvolutional",
        "deconv",   "connected", "conn",          "maxpool",  "max",
        "avgpool",  "avg",       "route",         "shortcut", "upsample",
        "yolo",     "region",    "detection",     "dropout",  "softmax",
        "soft",     "cost",      "crop",          "local",    "activation",
        "logistic", "l2norm",    "normalization", "lrn",      "batchnorm",
        "reorg",    "rnn",       "gru",           "lstm",     "crnn",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(t, known[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Splits text (modified in place) into sections. */
static specx_status split(ctx *c, char *text)
{
    int cap = 0, lineno = 0;
    char *save = NULL;
    for (char *p = text; p != NULL; p = save) {
        char *nl = strchr(p, '\n');
        save = nl != NULL ? nl + 1 : NULL;
        if (nl != NULL) {
            *nl = '\0';
        }
        lineno++;
        strip_all(p);
        specx_status st = add_line(c, p, lineno, &cap);
        if (st != SPECX_OK) {
            return st;
        }
    }
    for (int i = 0; i < c->nsec; i++) {
        if (!darknet_type(c->secs[i].type)) {
            return specx_err_set(c->err, SPECX_EFORMAT,
                                 "cfg %s line %d: unknown section [%s]: not a darknet cfg",
                                 c->origin, c->secs[i].line, c->secs[i].type);
        }
    }
    return SPECX_OK;
}

/* ---- values --------------------------------------------------------------- */

static kv *find(section *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kvs[i].key, key) == 0) {
            s->kvs[i].used = true;
            return &s->kvs[i];
        }
    }
    return NULL;
}

static bool whole(const char *v, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0') {
        return false;
    }
    *out = x;
    return true;
}

static specx_status get_int(ctx *c, section *s, int li, const char *key, long long def,
                            long long lo, long long hi, long long *v)
{
    kv *k = find(s, key);
    if (k == NULL) {
        *v = def;
        return SPECX_OK;
    }
    if (!whole(k->val, v) || *v < lo || *v > hi) {
        return fail_at(c, s, li, k, "%s=%.40s must be a whole number in %lld..%lld", key, k->val,
                       lo, hi);
    }
    return SPECX_OK;
}

static specx_status get_float(ctx *c, section *s, int li, const char *key, double lo, double hi)
{
    kv *k = find(s, key);
    if (k == NULL) {
        return SPECX_OK;
    }
    char *end = NULL;
    double x = strtod(k->val, &end);
    if (end == k->val || *end != '\0' || !isfinite(x) || x < lo || x > hi) {
        return fail_at(c, s, li, k, "%s=%.40s must be a number in %g..%g", key, k->val, lo, hi);
    }
    return SPECX_OK;
}

/* A comma-separated list; whole numbers only when ints. */
static specx_status get_list(ctx *c, section *s, int li, const char *key, bool ints, double *vals,
                             int *n)
{
    kv *k = find(s, key);
    *n = 0;
    if (k == NULL) {
        return SPECX_OK;
    }
    const char *p = k->val;
    for (;;) {
        char *end = NULL;
        double x = strtod(p, &end);
        if (end == p || (*end != ',' && *end != '\0') || !isfinite(x) ||
            (ints && (x != floor(x) || fabs(x) > 1e9)) || *n == MAX_LIST) {
            return fail_at(c, s, li, k, "%s=%.60s is not a list of at most %d %s", key, k->val,
                           MAX_LIST, ints ? "whole numbers" : "numbers");
        }
        vals[(*n)++] = x;
        if (*end == '\0') {
            return SPECX_OK;
        }
        p = end + 1;
    }
}

static specx_status get_bool(ctx *c, section *s, int li, const char *key, long long *v)
{
    return get_int(c, s, li, key, 0, 0, 1, v);
}

/* Keys darknet reads on every layer that change what it loads. */
static specx_status common_keys(ctx *c, section *s, int li)
{
    static const char *const refused[] = {"dontload", "dontloadscales", "numload", "map"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        kv *k = find(s, refused[i]);
        if (k != NULL) {
            return fail_at(c, s, li, k, "%s= is not supported", refused[i]);
        }
    }
    return SPECX_OK;
}

/* Resolves a layer reference as darknet does (negative: relative). */
static specx_status ref(ctx *c, section *s, int li, long long v, const char *what, int *abs)
{
    long long x = v < 0 ? li + v : v;
    if (x < 0 || x >= li) {
        return fail(c, s, li, "%s %lld refers to layer %lld, which is not before it", what, v, x);
    }
    *abs = (int)x;
    return SPECX_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        specx_status st_ = (expr);                                                                 \
        if (st_ != SPECX_OK) {                                                                     \
            return st_;                                                                            \
        }                                                                                          \
    } while (0)

static specx_status activation(ctx *c, section *s, int li, const char *def)
{
    static const char *const known[] = {"logistic", "loggy", "relu",    "elu",   "selu",
                                        "relie",    "plse",  "hardtan", "lhtan", "linear",
                                        "ramp",     "leaky", "tanh",    "stair"};
    kv *k = find(s, "activation");
    const char *v = k != NULL ? k->val : def;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(v, known[i]) == 0) {
            return SPECX_OK;
        }
    }
    return fail_at(c, s, li, k, "unknown activation '%.30s'", v);
}

/* ---- layers --------------------------------------------------------------- */

static specx_status net_section(ctx *c, section *s)
{
    long long w, h, ch, batch, subdivs;
    TRY(get_int(c, s, -1, "width", 0, 1, SX_DETECT_CFG_MAX_SIDE, &w));
    TRY(get_int(c, s, -1, "height", 0, 1, SX_DETECT_CFG_MAX_SIDE, &h));
    TRY(get_int(c, s, -1, "channels", 0, 3, 3, &ch));
    if (w == 0 || h == 0 || ch != 3) {
        return fail(c, s, -1, "needs width and height in 1..%d and channels=3",
                    SX_DETECT_CFG_MAX_SIDE);
    }
    TRY(get_int(c, s, -1, "batch", 1, 1, 4096, &batch));
    TRY(get_int(c, s, -1, "subdivisions", 1, 1, batch, &subdivs));
    long long inputs;
    TRY(get_int(c, s, -1, "inputs", w * h * ch, w * h * ch, w * h * ch, &inputs));
    kv *policy = find(s, "policy");
    if (policy != NULL && strcmp(policy->val, "steps") == 0) {
        /* darknet reads as many scales as there are steps, past the end of
         * a shorter list */
        double steps[MAX_LIST], scales[MAX_LIST];
        int ns, nsc;
        TRY(get_list(c, s, -1, "steps", true, steps, &ns));
        TRY(get_list(c, s, -1, "scales", false, scales, &nsc));
        if (ns == 0 || ns != nsc) {
            return fail(c, s, -1, "policy=steps needs steps= and scales= of the same length");
        }
    }
    c->sum.width = (int)w;
    c->sum.height = (int)h;
    c->sum.channels = (int)ch;
    return SPECX_OK;
}

/* out = (in + pad - size) / stride + 1, with the window inside the input. */
static bool window(long long in, long long pad, long long size, long long stride, long long *out)
{
    if (in + pad < size) {
        return false;
    }
    *out = (in + pad - size) / stride + 1;
    return *out >= 1;
}

static specx_status conv_layer(ctx *c, section *s, int li, shape in, shape *out)
{
    long long n, size, stride, pad, padding, groups, bn, binary, xnor;
    TRY(get_int(c, s, li, "filters", 1, 1, 8192, &n));
    TRY(get_int(c, s, li, "size", 1, 1, 31, &size));
    TRY(get_int(c, s, li, "stride", 1, 1, 64, &stride));
    TRY(get_bool(c, s, li, "pad", &pad));
    TRY(get_int(c, s, li, "padding", 0, 0, 31, &padding));
    TRY(get_int(c, s, li, "groups", 1, 1, 8192, &groups));
    TRY(get_bool(c, s, li, "batch_normalize", &bn));
    TRY(get_bool(c, s, li, "binary", &binary));
    TRY(get_bool(c, s, li, "xnor", &xnor));
    TRY(activation(c, s, li, "logistic"));
    if (binary || xnor) {
        return fail(c, s, li, "binary/xnor weights are not supported");
    }
    if (in.c % groups != 0 || n % groups != 0) {
        return fail(c, s, li, "groups=%lld must divide the %lld input channels and %lld filters",
                    groups, in.c, n);
    }
    if (pad) {
        padding = size / 2;
    }
    *out = (shape){.c = n};
    if (!window(in.w, 2 * padding, size, stride, &out->w) ||
        !window(in.h, 2 * padding, size, stride, &out->h)) {
        return fail(c, s, li, "a %lldx%lld kernel does not fit its %lldx%lld input", size, size,
                    in.w, in.h);
    }
    c->sum.param_floats += n * (bn ? 4 : 1) + in.c / groups * n * size * size;
    return SPECX_OK;
}

static specx_status maxpool_layer(ctx *c, section *s, int li, shape in, shape *out)
{
    long long size, stride, padding;
    TRY(get_int(c, s, li, "stride", 1, 1, 64, &stride));
    TRY(get_int(c, s, li, "size", stride, 1, 64, &size));
    TRY(get_int(c, s, li, "padding", size - 1, 0, 2 * size, &padding));
    *out = (shape){.c = in.c};
    if (!window(in.w, padding, size, stride, &out->w) ||
        !window(in.h, padding, size, stride, &out->h)) {
        return fail(c, s, li, "a %lldx%lld window does not fit its %lldx%lld input", size, size,
                    in.w, in.h);
    }
    return SPECX_OK;
}

static specx_status route_layer(ctx *c, section *s, int li, shape *out)
{
    double v[MAX_LIST];
    int n;
    TRY(get_list(c, s, li, "layers", true, v, &n));
    if (n == 0) {
        return fail(c, s, li, "needs layers=");
    }
    *out = (shape){0};
    int first = 0;
    for (int i = 0; i < n; i++) {
        int from = 0;
        TRY(ref(c, s, li, (long long)v[i], "layers entry", &from));
        shape f = c->out[from];
        if (i == 0) {
            first = from;
        } else if (f.w != out->w || f.h != out->h) {
            return fail(c, s, li,
                        "layer %d is %lldx%lld but layer %d is %lldx%lld: darknet would build an "
                        "empty layer",
                        from, f.w, f.h, first, out->w, out->h);
        }
        out->w = f.w;
        out->h = f.h;
        out->c += f.c;
    }
    return SPECX_OK;
}

static specx_status shortcut_layer(ctx *c, section *s, int li, shape in, shape *out)
{
    if (find(s, "from") == NULL) {
        return fail(c, s, li, "needs from=");
    }
    long long from;
    TRY(get_int(c, s, li, "from", 0, -1000000, 1000000, &from));
    int abs = 0;
    TRY(ref(c, s, li, from, "from", &abs));
    TRY(activation(c, s, li, "linear"));
    TRY(get_float(c, s, li, "alpha", -1e6, 1e6));
    TRY(get_float(c, s, li, "beta", -1e6, 1e6));
    shape f = c->out[abs];
    if (f.w != in.w || f.h != in.h || f.c != in.c) {
        return fail(c, s, li, "layer %d is %lldx%lldx%lld but the input is %lldx%lldx%lld", abs,
                    f.w, f.h, f.c, in.w, in.h, in.c);
    }
    *out = in;
    return SPECX_OK;
}

static specx_status upsample_layer(ctx *c, section *s, int li, shape in, shape *out)
{
    long long stride;
    TRY(get_int(c, s, li, "stride", 2, 1, 32, &stride));
    TRY(get_float(c, s, li, "scale", 1e-6, 1e6));
    *out = (shape){.w = in.w * stride, .h = in.h * stride, .c = in.c};
    return SPECX_OK;
}

static specx_status yolo_layer(ctx *c, section *s, int li, shape in, shape *out)
{
    long long classes, num, max_boxes;
    TRY(get_int(c, s, li, "classes", 20, 1, 10000, &classes));
    TRY(get_int(c, s, li, "num", 1, 1, MAX_LIST / 2, &num));
    TRY(get_int(c, s, li, "max", 90, 1, 100000, &max_boxes));
    double mask[MAX_LIST], anchors[MAX_LIST];
    int nmask, nanch;
    TRY(get_list(c, s, li, "mask", true, mask, &nmask));
    TRY(get_list(c, s, li, "anchors", false, anchors, &nanch));
    for (int i = 0; i < nmask; i++) {
        if (mask[i] < 0 || mask[i] >= (double)num) {
            return fail(c, s, li, "mask entry %g is not an anchor index 0..%lld", mask[i], num - 1);
        }
    }
    if (nanch != 0 && nanch != 2 * num) {
        return fail(c, s, li, "%d anchor values for num=%lld (needs %lld)", nanch, num, 2 * num);
    }
    for (int i = 0; i < nanch; i++) {
        if (!(anchors[i] > 0)) {
            return fail(c, s, li, "anchor %g is not positive", anchors[i]);
        }
    }
    long long n = nmask > 0 ? nmask : num;
    if (in.c != n * (classes + 5)) {
        return fail(c, s, li, "its input has %lld channels, needs %lld x (%lld classes + 5)", in.c,
                    n, classes);
    }
    c->sum.yolo_layers++;
    c->sum.max_classes = classes > c->sum.max_classes ? (int)classes : c->sum.max_classes;
    *out = in;
    return SPECX_OK;
}

static specx_status layer(ctx *c, section *s, int li, shape in, shape *out)
{
    const char *t = s->type;
    TRY(common_keys(c, s, li));
    if (strcmp(t, "convolutional") == 0 || strcmp(t, "conv") == 0) {
        return conv_layer(c, s, li, in, out);
    }
    if (strcmp(t, "maxpool") == 0 || strcmp(t, "max") == 0) {
        return maxpool_layer(c, s, li, in, out);
    }
    if (strcmp(t, "route") == 0) {
        return route_layer(c, s, li, out);
    }
    if (strcmp(t, "shortcut") == 0) {
        return shortcut_layer(c, s, li, in, out);
    }
    if (strcmp(t, "upsample") == 0) {
        return upsample_layer(c, s, li, in, out);
    }
    if (strcmp(t, "dropout") == 0) {
        *out = in;
        return get_float(c, s, li, "probability", 0, 0.999999);
    }
    if (strcmp(t, "yolo") == 0) {
        return yolo_layer(c, s, li, in, out);
    }
    return specx_err_set(
        c->err, SPECX_EUNSUPPORTED,
        "cfg %s line %d: layer %d: layer type [%.30s] is not supported (convolutional, "
        "maxpool, route, shortcut, upsample, dropout, yolo)",
        c->origin, s->line, li, t);
}

/* Every layer in order, shapes carried from one to the next. */
static specx_status layers(ctx *c)
{
    shape in = {c->sum.width, c->sum.height, c->sum.channels};
    for (int li = 0; li < c->nsec - 1; li++) {
        section *s = &c->secs[li + 1];
        shape out = {0};
        TRY(layer(c, s, li, in, &out));
        if (out.w < 1 || out.h < 1 || out.c < 1 || out.w > 65536 || out.h > 65536 ||
            out.c > 65536) {
            return fail(c, s, li, "output %lldx%lldx%lld is empty or too large", out.w, out.h,
                        out.c);
        }
        c->sum.activation_floats += out.w * out.h * out.c;
        if (c->sum.activation_floats > SX_DETECT_CFG_MAX_ACTIVATIONS ||
            c->sum.param_floats > SX_DETECT_CFG_MAX_PARAMS) {
            return fail(c, s, li,
                        "the network needs more than %lld activation or %lld weight "
                        "floats up to here",
                        SX_DETECT_CFG_MAX_ACTIVATIONS, SX_DETECT_CFG_MAX_PARAMS);
        }
        c->out[li] = out;
        in = out;
    }
    return SPECX_OK;
}

specx_status sx_detect_cfg_parse(const char *text, size_t len, const char *origin,
                                 sx_detect_cfg_summary *out, specx_err *err)
{
    ctx c = {.origin = origin != NULL ? origin : "(text)", .err = err};
    if (len > SX_DETECT_CFG_MAX_BYTES || memchr(text, '\0', len) != NULL) {
        return specx_err_set(err, SPECX_EFORMAT, "cfg %s: not a darknet cfg (%s)", c.origin,
                             len > SX_DETECT_CFG_MAX_BYTES ? "over 1 MiB" : "binary data");
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "cfg %s: out of memory", c.origin);
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    specx_status st = split(&c, copy);
    if (st == SPECX_OK && (c.nsec < 2 || (strcmp(c.secs[0].type, "net") != 0 &&
                                          strcmp(c.secs[0].type, "network") != 0))) {
        st = fail(&c, NULL, 0, "must start with [net] and have at least one layer");
    }
    if (st == SPECX_OK) {
        st = net_section(&c, &c.secs[0]);
    }
    if (st == SPECX_OK && (c.out = calloc((size_t)c.nsec, sizeof *c.out)) == NULL) {
        st = specx_err_set(err, SPECX_ENOMEM, "cfg %s: out of memory", c.origin);
    }
    if (st == SPECX_OK) {
        st = layers(&c);
    }
    if (st == SPECX_OK && strcmp(c.secs[c.nsec - 1].type, "yolo") != 0) {
        st = fail(&c, NULL, 0, "the last layer must be [yolo]");
    }
    if (st == SPECX_OK && out != NULL) {
        c.sum.layers = c.nsec - 1;
        *out = c.sum;
    }
    free(c.out);
    free(c.secs);
    free(copy);
    return st;
}

/* ---- the files around the cfg ----------------------------------------------- */

static specx_status read_cfg(const sx_model_files *f, char **text, size_t *len, specx_err *err)
{
    FILE *fp = fopen(f->cfg, "rb");
    struct stat sb;
    if (fp == NULL || fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_size > SX_DETECT_CFG_MAX_BYTES) {
        specx_status st =
            specx_err_set(err, SPECX_EFORMAT, "model '%s': cfg %s is %s", f->name, f->cfg,
                          fp == NULL ? strerror(errno) : "not a regular file of at most 1 MiB");
        if (fp != NULL) {
            fclose(fp);
        }
        return st;
    }
    *text = malloc((size_t)sb.st_size + 1);
    *len = *text != NULL ? fread(*text, 1, (size_t)sb.st_size, fp) : 0;
    fclose(fp);
    if (*text == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "model '%s': out of memory", f->name);
    }
    return SPECX_OK;
}

static long long file_bytes(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) ? (long long)sb.st_size : -1;
}

specx_status sx_detect_cfg_check(const sx_model_files *files, specx_err *err)
{
    if (files == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "cfg check: no model files");
    }
    char *text = NULL;
    size_t len = 0;
    specx_status st = read_cfg(files, &text, &len, err);
    if (st != SPECX_OK) {
        return st;
    }
    sx_detect_cfg_summary sum;
    st = sx_detect_cfg_parse(text, len, files->cfg, &sum, err);
    free(text);
    if (st != SPECX_OK) {
        return st;
    }
    char **names = NULL;
    int nnames = 0;
    st = sx_class_names_load(files->names, &names, &nnames, err);
    if (st != SPECX_OK) {
        return st;
    }
    sx_class_names_free(names, nnames);
    if (nnames < sum.max_classes) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': %s lists %d class names, cfg %s has %d classes",
                             files->name, files->names, nnames, files->cfg, sum.max_classes);
    }
    st = sx_model_check_weights_header(files, err);
    if (st != SPECX_OK) {
        return st;
    }
    long long want = sx_model_weights_header_bytes(files) + sum.param_floats * 4;
    long long have = file_bytes(files->weights);
    if (have != want) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': weights %s has %lld bytes, cfg %s needs %lld (%s): "
                             "corrupt, truncated or not this model's weights",
                             files->name, files->weights, have, files->cfg, want,
                             have < want ? "truncated" : "too long");
    }
    return SPECX_OK;
}
