/* xnn_model.c — reads darknet .cfg and .weights files into an sx_xnn_model.
 *
 * Design notes: the accepted dialect is what Debian's 2018 darknet computes.
 * Every key of a layer section must be either understood (and then honoured)
 * or listed as training-only; anything else is refused, so a cfg that relies
 * on a feature we do not compute fails loudly instead of giving different
 * boxes. The one deliberate exception is [yolo] scale_x_y: Debian's darknet
 * ignores it, and this backend must give the same answers, so it is accepted
 * and ignored (documented in docs/xnnpack.md). */
#include "detect/xnn/xnn_model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 64

typedef struct kv {
    char *key;
    char *val;
    bool used;
} kv;

typedef struct section {
    char type[32];
    int line;
    int n;
    kv keys[MAX_KEYS];
} section;

typedef struct parse_ctx {
    const char *path;
    specx_err *err;
} parse_ctx;

const char *sx_xnn_layer_type_name(sx_xnn_layer_type t)
{
    switch (t) {
    case SX_XNN_L_CONV:
        return "convolutional";
    case SX_XNN_L_MAXPOOL:
        return "maxpool";
    case SX_XNN_L_ROUTE:
        return "route";
    case SX_XNN_L_SHORTCUT:
        return "shortcut";
    case SX_XNN_L_UPSAMPLE:
        return "upsample";
    case SX_XNN_L_DROPOUT:
        return "dropout";
    case SX_XNN_L_YOLO:
        return "yolo";
    }
    return "?";
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static specx_status read_file(const char *path, char **data, size_t *len, specx_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return specx_err_set(err, errno == ENOENT ? SPECX_ENOTFOUND : SPECX_EIO, "%s: %s", path,
                             strerror(errno));
    }
    specx_status st = SPECX_OK;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
    }
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = specx_err_set(err, SPECX_EIO, "%s: cannot determine the file size", path);
        goto out;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        st = specx_err_set(err, SPECX_ENOMEM, "%s: out of memory (%ld bytes)", path, size);
        goto out;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = specx_err_set(err, SPECX_EIO, "%s: read error", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    buf[size] = '\0';
    *data = buf;
    *len = (size_t)size;
out:
    fclose(f);
    return st;
}

/* Darknet strips every whitespace character from a line before parsing. */
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

/* Splits the cfg text (modified in place) into sections. */
static specx_status parse_sections(parse_ctx *pc, char *text, section **out, int *count)
{
    int cap = 64, n = 0;
    section *secs = calloc((size_t)cap, sizeof *secs);
    if (secs == NULL) {
        return specx_err_set(pc->err, SPECX_ENOMEM, "%s: out of memory", pc->path);
    }
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        strip_all(line);
        if (line[0] == '\0' || line[0] == '#' || line[0] == ';') {
            continue;
        }
        if (line[0] == '[') {
            size_t len = strlen(line);
            if (line[len - 1] != ']' || len < 3 || len - 2 >= sizeof secs[0].type) {
                free(secs);
                return specx_err_set(pc->err, SPECX_EFORMAT, "%s:%d: bad section header '%s'",
                                     pc->path, lineno, line);
            }
            if (n == cap) {
                section *bigger = realloc(secs, (size_t)cap * 2 * sizeof *secs);
                if (bigger == NULL) {
                    free(secs);
                    return specx_err_set(pc->err, SPECX_ENOMEM, "%s: out of memory", pc->path);
                }
                memset(bigger + cap, 0, (size_t)cap * sizeof *secs);
                secs = bigger;
                cap *= 2;
            }
            memcpy(secs[n].type, line + 1, len - 2);
            secs[n].type[len - 2] = '\0';
            secs[n].line = lineno;
            n++;
            continue;
        }
        char *eq = strchr(line, '=');
        if (n == 0 || eq == NULL || eq == line) {
            free(secs);
            return specx_err_set(pc->err, SPECX_EFORMAT,
                                 "%s:%d: expected 'key=value' inside a [section], got '%s'",
                                 pc->path, lineno, line);
        }
        section *s = &secs[n - 1];
        if (s->n == MAX_KEYS) {
            specx_err_set(pc->err, SPECX_EFORMAT, "%s:%d: too many keys in [%s]", pc->path, lineno,
                          s->type);
            free(secs);
            return SPECX_EFORMAT;
        }
        *eq = '\0';
        s->keys[s->n].key = line;
        s->keys[s->n].val = eq + 1;
        s->n++;
    }
    *out = secs;
    *count = n;
    return SPECX_OK;
}

static kv *find_key(section *s, const char *key)
{
    /* darknet's option_find takes the first match */
    for (int i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i].key, key) == 0) {
            s->keys[i].used = true;
            return &s->keys[i];
        }
    }
    return NULL;
}

/* Reads an int key (default if absent). Layer index li is for messages. */
static specx_status get_int(parse_ctx *pc, section *s, int li, const char *key, int def, int *v)
{
    kv *k = find_key(s, key);
    if (k == NULL) {
        *v = def;
        return SPECX_OK;
    }
    char *end = NULL;
    errno = 0;
    long x = strtol(k->val, &end, 10);
    if (errno != 0 || end == k->val || *end != '\0' || x < -1000000 || x > 1000000) {
        return specx_err_set(pc->err, SPECX_EFORMAT, "%s: layer %d [%s]: %s='%s' is not an integer",
                             pc->path, li, s->type, key, k->val);
    }
    *v = (int)x;
    return SPECX_OK;
}

static specx_status get_float(parse_ctx *pc, section *s, int li, const char *key, float def,
                              float *v)
{
    kv *k = find_key(s, key);
    if (k == NULL) {
        *v = def;
        return SPECX_OK;
    }
    char *end = NULL;
    errno = 0;
    float x = strtof(k->val, &end);
    if (errno != 0 || end == k->val || *end != '\0') {
        return specx_err_set(pc->err, SPECX_EFORMAT, "%s: layer %d [%s]: %s='%s' is not a number",
                             pc->path, li, s->type, key, k->val);
    }
    *v = x;
    return SPECX_OK;
}

/* Comma-separated list of numbers; returns the count in *n (0 if absent). */
static specx_status get_list(parse_ctx *pc, section *s, int li, const char *key, float *vals,
                             int max, int *n)
{
    kv *k = find_key(s, key);
    *n = 0;
    if (k == NULL) {
        return SPECX_OK;
    }
    const char *p = k->val;
    while (*p != '\0') {
        char *end = NULL;
        errno = 0;
        float x = strtof(p, &end);
        if (errno != 0 || end == p || (*end != ',' && *end != '\0')) {
            return specx_err_set(pc->err, SPECX_EFORMAT,
                                 "%s: layer %d [%s]: %s='%s' is not a list of numbers", pc->path,
                                 li, s->type, key, k->val);
        }
        if (*n == max) {
            return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                                 "%s: layer %d [%s]: %s has more than %d entries", pc->path, li,
                                 s->type, key, max);
        }
        vals[(*n)++] = x;
        p = *end == ',' ? end + 1 : end;
    }
    return SPECX_OK;
}

static specx_status get_act(parse_ctx *pc, section *s, int li, const char *def, sx_xnn_act *act)
{
    kv *k = find_key(s, "activation");
    const char *v = k != NULL ? k->val : def;
    if (strcmp(v, "linear") == 0) {
        *act = SX_XNN_ACT_LINEAR;
    } else if (strcmp(v, "leaky") == 0) {
        *act = SX_XNN_ACT_LEAKY;
    } else if (strcmp(v, "relu") == 0) {
        *act = SX_XNN_ACT_RELU;
    } else if (strcmp(v, "logistic") == 0) {
        *act = SX_XNN_ACT_LOGISTIC;
    } else {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [%s]: activation '%s' is not supported "
                             "(linear, leaky, relu, logistic)",
                             pc->path, li, s->type, v);
    }
    return SPECX_OK;
}

/* Keys that only matter for training (or that Debian's darknet ignores and
 * that do not change its inference results). */
static bool ignorable(const char *type, const char *key)
{
    static const char *const yolo_keys[] = {
        "jitter",
        "ignore_thresh",
        "truth_thresh",
        "random",
        "iou_thresh",
        "iou_loss",
        "cls_normalizer",
        "iou_normalizer",
        "nms_kind",
        "beta_nms",
        "max",
        "scale_x_y",
        "counters_per_class",
        "label_smooth_eps",
        "obj_normalizer",
        "focal_loss",
        "resize",
        "map",
    };
    if (strcmp(type, "yolo") == 0) {
        for (size_t i = 0; i < sizeof yolo_keys / sizeof yolo_keys[0]; i++) {
            if (strcmp(key, yolo_keys[i]) == 0) {
                return true;
            }
        }
    }
    if (strcmp(type, "dropout") == 0 && strcmp(key, "probability") == 0) {
        return true;
    }
    return false;
}

static specx_status check_all_used(parse_ctx *pc, section *s, int li)
{
    for (int i = 0; i < s->n; i++) {
        if (!s->keys[i].used && !ignorable(s->type, s->keys[i].key)) {
            return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                                 "%s: layer %d [%s]: option '%s=%s' is not supported by the "
                                 "xnnpack backend",
                                 pc->path, li, s->type, s->keys[i].key, s->keys[i].val);
        }
    }
    return SPECX_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        specx_status st_ = (expr);                                                                 \
        if (st_ != SPECX_OK) {                                                                     \
            return st_;                                                                            \
        }                                                                                          \
    } while (0)

static specx_status bad(parse_ctx *pc, section *s, int li, const char *what)
{
    return specx_err_set(pc->err, SPECX_EFORMAT, "%s: layer %d [%s]: %s", pc->path, li, s->type,
                         what);
}

static specx_status parse_conv(parse_ctx *pc, section *s, int li, sx_xnn_layer *l)
{
    int pad, padding, bn;
    TRY(get_int(pc, s, li, "filters", 1, &l->filters));
    TRY(get_int(pc, s, li, "size", 1, &l->size));
    TRY(get_int(pc, s, li, "stride", 1, &l->stride));
    TRY(get_int(pc, s, li, "pad", 0, &pad));
    TRY(get_int(pc, s, li, "padding", 0, &padding));
    TRY(get_int(pc, s, li, "groups", 1, &l->groups));
    TRY(get_int(pc, s, li, "batch_normalize", 0, &bn));
    /* darknet's default activation for a convolution is logistic */
    TRY(get_act(pc, s, li, "logistic", &l->act));
    int binary, xnor;
    TRY(get_int(pc, s, li, "binary", 0, &binary));
    TRY(get_int(pc, s, li, "xnor", 0, &xnor));
    if (binary != 0 || xnor != 0) {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [convolutional]: binary/xnor weights are not supported",
                             pc->path, li);
    }
    TRY(check_all_used(pc, s, li));
    if (pad != 0) {
        padding = l->size / 2;
    }
    l->pad = padding;
    if (l->filters < 1 || l->size < 1 || l->stride < 1 || l->groups < 1 || l->pad < 0) {
        return bad(pc, s, li, "filters, size, stride and groups must be >= 1");
    }
    if (l->in_c % l->groups != 0 || l->filters % l->groups != 0) {
        return bad(pc, s, li, "input channels and filters must be multiples of groups");
    }
    l->out_c = l->filters;
    l->out_h = (l->in_h + 2 * l->pad - l->size) / l->stride + 1;
    l->out_w = (l->in_w + 2 * l->pad - l->size) / l->stride + 1;
    l->n_inputs = bn; /* remembered for the weights reader; reset below */
    return SPECX_OK;
}

static specx_status parse_maxpool(parse_ctx *pc, section *s, int li, sx_xnn_layer *l)
{
    TRY(get_int(pc, s, li, "stride", 1, &l->stride));
    TRY(get_int(pc, s, li, "size", l->stride, &l->size));
    TRY(get_int(pc, s, li, "padding", l->size - 1, &l->pool_padding));
    TRY(check_all_used(pc, s, li));
    if (l->size < 1 || l->stride < 1 || l->pool_padding < 0 || l->pool_padding >= 2 * l->size) {
        return bad(pc, s, li, "bad size/stride/padding");
    }
    l->out_c = l->in_c;
    l->out_h = (l->in_h + l->pool_padding - l->size) / l->stride + 1;
    l->out_w = (l->in_w + l->pool_padding - l->size) / l->stride + 1;
    return SPECX_OK;
}

static specx_status resolve_index(parse_ctx *pc, section *s, int li, float v, int *abs)
{
    int x = (int)v;
    if ((float)x != v) {
        return bad(pc, s, li, "layer index is not an integer");
    }
    if (x < 0) {
        x += li;
    }
    if (x < 0 || x >= li) {
        return specx_err_set(pc->err, SPECX_EFORMAT,
                             "%s: layer %d [%s]: refers to layer %d, which is not before it",
                             pc->path, li, s->type, x);
    }
    *abs = x;
    return SPECX_OK;
}

static specx_status parse_route(parse_ctx *pc, section *s, int li, sx_xnn_layer *l,
                                const sx_xnn_layer *all)
{
    float v[SX_XNN_MAX_ROUTE];
    int n;
    TRY(get_list(pc, s, li, "layers", v, SX_XNN_MAX_ROUTE, &n));
    TRY(check_all_used(pc, s, li));
    if (n == 0) {
        return bad(pc, s, li, "route needs layers=");
    }
    l->n_inputs = n;
    l->out_c = 0;
    for (int i = 0; i < n; i++) {
        TRY(resolve_index(pc, s, li, v[i], &l->inputs[i]));
        const sx_xnn_layer *src = &all[l->inputs[i]];
        if (i == 0) {
            l->out_h = src->out_h;
            l->out_w = src->out_w;
        } else if (src->out_h != l->out_h || src->out_w != l->out_w) {
            return specx_err_set(pc->err, SPECX_EFORMAT,
                                 "%s: layer %d [route]: layer %d is %dx%d, layer %d is %dx%d",
                                 pc->path, li, l->inputs[0], l->out_w, l->out_h, l->inputs[i],
                                 src->out_w, src->out_h);
        }
        l->out_c += src->out_c;
    }
    return SPECX_OK;
}

static specx_status parse_shortcut(parse_ctx *pc, section *s, int li, sx_xnn_layer *l,
                                   const sx_xnn_layer *all)
{
    int from;
    float alpha, beta;
    TRY(get_int(pc, s, li, "from", 0, &from));
    TRY(get_act(pc, s, li, "linear", &l->act));
    TRY(get_float(pc, s, li, "alpha", 1.0f, &alpha));
    TRY(get_float(pc, s, li, "beta", 1.0f, &beta));
    TRY(check_all_used(pc, s, li));
    if (alpha != 1.0f || beta != 1.0f) {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [shortcut]: alpha/beta other than 1 are not supported",
                             pc->path, li);
    }
    TRY(resolve_index(pc, s, li, (float)from, &l->inputs[0]));
    l->n_inputs = 1;
    const sx_xnn_layer *src = &all[l->inputs[0]];
    if (src->out_h != l->in_h || src->out_w != l->in_w || src->out_c != l->in_c) {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [shortcut]: layer %d is %dx%dx%d but the input is "
                             "%dx%dx%d (only equal shapes are supported)",
                             pc->path, li, l->inputs[0], src->out_w, src->out_h, src->out_c,
                             l->in_w, l->in_h, l->in_c);
    }
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return SPECX_OK;
}

static specx_status parse_upsample(parse_ctx *pc, section *s, int li, sx_xnn_layer *l)
{
    float scale;
    TRY(get_int(pc, s, li, "stride", 2, &l->stride));
    TRY(get_float(pc, s, li, "scale", 1.0f, &scale));
    TRY(check_all_used(pc, s, li));
    if (l->stride < 1) {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [upsample]: stride %d (down-sampling) is not supported",
                             pc->path, li, l->stride);
    }
    if (scale != 1.0f) {
        return specx_err_set(pc->err, SPECX_EUNSUPPORTED,
                             "%s: layer %d [upsample]: scale other than 1 is not supported",
                             pc->path, li);
    }
    l->out_c = l->in_c;
    l->out_h = l->in_h * l->stride;
    l->out_w = l->in_w * l->stride;
    return SPECX_OK;
}

static specx_status parse_yolo(parse_ctx *pc, section *s, int li, sx_xnn_layer *l)
{
    int num;
    float mask[SX_XNN_MAX_ANCHORS] = {0};
    TRY(get_int(pc, s, li, "classes", 20, &l->classes));
    TRY(get_int(pc, s, li, "num", 1, &num));
    TRY(get_list(pc, s, li, "mask", mask, SX_XNN_MAX_ANCHORS, &l->n_mask));
    int na2;
    TRY(get_list(pc, s, li, "anchors", l->anchors, 2 * SX_XNN_MAX_ANCHORS, &na2));
    TRY(check_all_used(pc, s, li));
    if (num < 1 || num > SX_XNN_MAX_ANCHORS || l->classes < 1) {
        return bad(pc, s, li, "bad num or classes");
    }
    if (l->n_mask == 0) {
        l->n_mask = num;
        for (int i = 0; i < num; i++) {
            mask[i] = (float)i;
        }
    }
    if (na2 != 0 && na2 != 2 * num) {
        return specx_err_set(pc->err, SPECX_EFORMAT,
                             "%s: layer %d [yolo]: %d anchor values for num=%d (needs %d)",
                             pc->path, li, na2, num, 2 * num);
    }
    if (na2 == 0) {
        /* darknet's default biases are 0.5 */
        for (int i = 0; i < 2 * num; i++) {
            l->anchors[i] = 0.5f;
        }
    }
    l->n_anchors = num;
    for (int i = 0; i < l->n_mask; i++) {
        int m = (int)mask[i];
        if ((float)m != mask[i] || m < 0 || m >= num) {
            return bad(pc, s, li, "mask entry out of range");
        }
        l->mask[i] = m;
    }
    if (l->in_c != l->n_mask * (l->classes + 5)) {
        return specx_err_set(pc->err, SPECX_EFORMAT,
                             "%s: layer %d [yolo]: input has %d channels, needs %d x (%d + 5)",
                             pc->path, li, l->in_c, l->n_mask, l->classes);
    }
    l->out_c = l->in_c;
    l->out_h = l->in_h;
    l->out_w = l->in_w;
    return SPECX_OK;
}

static specx_status parse_cfg(sx_xnn_model *m, const char *path, char *text, bool *bn,
                              specx_err *err)
{
    parse_ctx pc = {path, err};
    section *secs = NULL;
    int ns = 0;
    specx_status st = parse_sections(&pc, text, &secs, &ns);
    if (st != SPECX_OK) {
        return st;
    }
    if (ns < 2 || (strcmp(secs[0].type, "net") != 0 && strcmp(secs[0].type, "network") != 0)) {
        free(secs);
        return specx_err_set(err, SPECX_EFORMAT, "%s: must start with [net] and have layers", path);
    }
    section *net = &secs[0];
    if ((st = get_int(&pc, net, -1, "width", 0, &m->width)) != SPECX_OK ||
        (st = get_int(&pc, net, -1, "height", 0, &m->height)) != SPECX_OK ||
        (st = get_int(&pc, net, -1, "channels", 0, &m->channels)) != SPECX_OK) {
        free(secs);
        return st;
    }
    if (m->width < 1 || m->height < 1 || m->channels != 3 || m->width > 4096 || m->height > 4096) {
        free(secs);
        return specx_err_set(err, SPECX_EFORMAT,
                             "%s: [net] needs width, height in 1..4096 and channels=3", path);
    }
    m->n = ns - 1;
    m->layers = calloc((size_t)m->n, sizeof *m->layers);
    if (m->layers == NULL) {
        free(secs);
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    int h = m->height, w = m->width, c = m->channels;
    for (int li = 0; li < m->n && st == SPECX_OK; li++) {
        section *s = &secs[li + 1];
        sx_xnn_layer *l = &m->layers[li];
        l->in_h = h;
        l->in_w = w;
        l->in_c = c;
        if (strcmp(s->type, "convolutional") == 0 || strcmp(s->type, "conv") == 0) {
            l->type = SX_XNN_L_CONV;
            st = parse_conv(&pc, s, li, l);
            bn[li] = l->n_inputs != 0;
            l->n_inputs = 0;
            if (st == SPECX_OK) {
                int group_c = l->in_c / l->groups; /* exact: parse_conv checked */
                m->flops += 2.0 * l->out_h * l->out_w * l->filters * l->size * l->size * group_c;
            }
        } else if (strcmp(s->type, "maxpool") == 0 || strcmp(s->type, "max") == 0) {
            l->type = SX_XNN_L_MAXPOOL;
            st = parse_maxpool(&pc, s, li, l);
        } else if (strcmp(s->type, "route") == 0) {
            l->type = SX_XNN_L_ROUTE;
            st = parse_route(&pc, s, li, l, m->layers);
        } else if (strcmp(s->type, "shortcut") == 0) {
            l->type = SX_XNN_L_SHORTCUT;
            st = parse_shortcut(&pc, s, li, l, m->layers);
        } else if (strcmp(s->type, "upsample") == 0) {
            l->type = SX_XNN_L_UPSAMPLE;
            st = parse_upsample(&pc, s, li, l);
        } else if (strcmp(s->type, "dropout") == 0) {
            l->type = SX_XNN_L_DROPOUT;
            st = check_all_used(&pc, s, li);
            l->out_h = h;
            l->out_w = w;
            l->out_c = c;
        } else if (strcmp(s->type, "yolo") == 0) {
            l->type = SX_XNN_L_YOLO;
            st = parse_yolo(&pc, s, li, l);
        } else {
            st = specx_err_set(err, SPECX_EUNSUPPORTED,
                               "%s:%d: layer %d: layer type [%s] is not supported by the xnnpack "
                               "backend",
                               path, s->line, li, s->type);
        }
        if (st == SPECX_OK && (l->out_h < 1 || l->out_w < 1 || l->out_c < 1)) {
            st = specx_err_set(err, SPECX_EFORMAT, "%s: layer %d [%s]: empty output (%dx%dx%d)",
                               path, li, s->type, l->out_w, l->out_h, l->out_c);
        }
        h = l->out_h;
        w = l->out_w;
        c = l->out_c;
    }
    free(secs);
    return st;
}

/* Folds batch norm as darknet computes it at inference:
 * y = scale * (conv - mean) / (sqrt(var) + 1e-6) + bias. The weights are
 * reordered from darknet's [out][in/g][kh][kw] to XNNPACK's
 * [out][kh][kw][in/g] (per group the same thing). */
static specx_status load_conv_weights(sx_xnn_layer *l, bool bn, const float *p)
{
    int n = l->filters, k = l->size, cg = l->in_c / l->groups;
    size_t per = (size_t)cg * k * k;
    l->weights = malloc((size_t)n * per * sizeof(float));
    l->bias = malloc((size_t)n * sizeof(float));
    if (bn) {
        l->bn_mean = malloc((size_t)n * sizeof(float));
        l->bn_std = malloc((size_t)n * sizeof(float));
    }
    if (l->weights == NULL || l->bias == NULL ||
        (bn && (l->bn_mean == NULL || l->bn_std == NULL))) {
        return SPECX_ENOMEM;
    }
    const float *biases = p;
    const float *scales = bn ? p + n : NULL;
    const float *mean = bn ? p + 2 * n : NULL;
    const float *var = bn ? p + 3 * n : NULL;
    const float *w = p + (bn ? 4 : 1) * n;
    for (int o = 0; o < n; o++) {
        double s = 1.0;
        double b = biases[o];
        if (bn) {
            double denom = sqrt((double)var[o]) + .000001f;
            s = (double)scales[o] / denom;
            b = biases[o] - (double)mean[o] * s;
            l->bn_mean[o] = biases[o];
            l->bn_std[o] = fabsf(scales[o]);
        }
        l->bias[o] = (float)b;
        for (int ci = 0; ci < cg; ci++) {
            for (int ky = 0; ky < k; ky++) {
                for (int kx = 0; kx < k; kx++) {
                    float v = w[(size_t)o * per + ((size_t)ci * k + ky) * k + kx];
                    l->weights[(size_t)o * per + ((size_t)ky * k + kx) * cg + ci] = (float)(v * s);
                }
            }
        }
    }
    return SPECX_OK;
}

static specx_status load_weights(sx_xnn_model *m, const char *path, const bool *bn, specx_err *err)
{
    char *data = NULL;
    size_t len = 0;
    specx_status st = read_file(path, &data, &len, err);
    if (st != SPECX_OK) {
        return st;
    }
    const char *name = base_name(path);
    int32_t hdr[3];
    size_t off = 0;
    if (len < sizeof hdr) {
        free(data);
        return specx_err_set(err, SPECX_EFORMAT, "%s: too short for a darknet weights header",
                             name);
    }
    memcpy(hdr, data, sizeof hdr);
    off = sizeof hdr;
    /* darknet: `seen` is a size_t from version 0.2 on, an int before */
    if (hdr[0] * 10 + hdr[1] >= 2 && hdr[0] < 1000 && hdr[1] < 1000) {
        off += 8;
    } else {
        off += 4;
    }
    if (hdr[0] > 1000 || hdr[1] > 1000 || hdr[0] < 0 || hdr[1] < 0) {
        free(data);
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "%s: weights version %d.%d (transposed/unknown) is not supported",
                             name, hdr[0], hdr[1]);
    }
    if (off > len) {
        free(data);
        return specx_err_set(err, SPECX_EFORMAT, "%s: too short for a darknet weights header",
                             name);
    }
    for (int li = 0; li < m->n; li++) {
        sx_xnn_layer *l = &m->layers[li];
        if (l->type != SX_XNN_L_CONV) {
            continue;
        }
        size_t count = (size_t)l->filters * (bn[li] ? 4 : 1) +
                       (size_t)l->filters * (l->in_c / l->groups) * l->size * l->size;
        size_t bytes = count * sizeof(float);
        if (len - off < bytes) {
            st = specx_err_set(err, SPECX_EFORMAT,
                               "%s: file ends inside layer %d [convolutional] (needs %zu more "
                               "bytes)",
                               name, li, bytes - (len - off));
            break;
        }
        float *tmp = malloc(bytes);
        if (tmp == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", name);
            break;
        }
        memcpy(tmp, data + off, bytes);
        off += bytes;
        st = load_conv_weights(l, bn[li], tmp);
        free(tmp);
        if (st != SPECX_OK) {
            specx_err_set(err, st, "%s: out of memory", name);
            break;
        }
    }
    if (st == SPECX_OK && off != len) {
        st = specx_err_set(err, SPECX_EFORMAT,
                           "%s: %zu bytes left over after the last layer: the weights do not "
                           "belong to this cfg",
                           name, len - off);
    }
    free(data);
    return st;
}

specx_status sx_xnn_model_load(sx_xnn_model *m, const char *cfg_path, const char *weights_path,
                               specx_err *err)
{
    memset(m, 0, sizeof *m);
    char *text = NULL;
    size_t len = 0;
    specx_status st = read_file(cfg_path, &text, &len, err);
    if (st != SPECX_OK) {
        return st;
    }
    /* one flag per section is enough: layers <= sections */
    size_t nsec = 1;
    for (size_t i = 0; i < len; i++) {
        nsec += text[i] == '[';
    }
    bool *bn = calloc(nsec, sizeof *bn);
    if (bn == NULL) {
        free(text);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    st = parse_cfg(m, base_name(cfg_path), text, bn, err);
    free(text);
    if (st == SPECX_OK) {
        st = load_weights(m, weights_path, bn, err);
    }
    free(bn);
    if (st != SPECX_OK) {
        sx_xnn_model_clear(m);
    }
    return st;
}

void sx_xnn_model_clear(sx_xnn_model *m)
{
    if (m == NULL) {
        return;
    }
    for (int i = 0; i < m->n && m->layers != NULL; i++) {
        free(m->layers[i].weights);
        free(m->layers[i].bias);
        free(m->layers[i].bn_mean);
        free(m->layers[i].bn_std);
    }
    free(m->layers);
    memset(m, 0, sizeof *m);
}
