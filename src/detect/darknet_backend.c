/* darknet_backend.c — the "darknet" detector backend on Debian's libdarknet
 * (pjreddie darknet, 2018): the reference that other backends must match.
 *
 * Design notes:
 *  - Inference reproduces `darknet detector test`: letterbox to the network
 *    size (darknet's own letterbox_image), forward, get_network_boxes with
 *    hier_thresh 0.5 and relative boxes, do_nms_sort, then one detection per
 *    (box, class) whose probability exceeds the threshold — exactly the lines
 *    the CLI prints. Scores are those probabilities (objectness * class).
 *  - Cancellation: instead of forward_network() we run the layers ourselves
 *    (each layer's `forward` is in darknet.h) and check the cancel flag before
 *    every layer, so a cancel is seen within one layer's time (about 1 ms for
 *    these models), not a whole frame's.
 *  - libdarknet calls exit() on files it cannot parse and crashes on values
 *    it does not expect, so every file passes cfg_check.h before darknet
 *    sees it (every layer's shape, names, weights header and size); here
 *    the weights size is checked again against the parsed network, then
 *    the values.
 *  - darknet prints a layer table and warnings to stderr while loading. Loads
 *    are serialised by load_lock; during a load fd 2 is pointed at a temporary
 *    file, and afterwards every captured line that is not darknet's chatter is
 *    written back to stderr (so other threads' messages are delayed, not
 *    lost). SPECX_DARKNET_VERBOSE=1 turns the capture off.
 *  - One network per detector: darknet layers keep scratch state. */
#include "darknet_backend.h"

#include <darknet.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "specx/detector.h"
#include "specx/time.h"

#include "cfg_check.h"

struct sx_darknet {
    network *net;
    char **names;
    int n_names;
    int classes; /* of the last YOLO layer */
    char model[SPECX_MODEL_NAME_MAX];
    float *rgb;        /* input image as darknet floats (CHW, 0..1), reused */
    size_t rgb_floats; /* capacity of rgb */
    sx_darknet_layer_hook hook;
    void *hook_user;
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- libdarknet, loaded on first use -------------------------------------
 * libdarknet drags in OpenCV, Qt and GStreamer (about 250 shared libraries,
 * a quarter of a second at every process start), so it is dlopen'ed when the
 * first darknet detector is opened instead of being linked into every
 * program that links specx_detect. */

#ifndef SPECX_DARKNET_LIB
#define SPECX_DARKNET_LIB "/usr/lib/darknet/libdarknet.so"
#endif

static struct darknet_api {
    network *(*parse_network_cfg)(char *filename);
    void (*load_weights)(network *net, char *filename);
    void (*set_batch_network)(network *net, int b);
    image (*letterbox_image)(image im, int w, int h);
    void (*free_image)(image m);
    void (*fill_cpu)(int n, float alpha, float *x, int incx);
    detection *(*get_network_boxes)(network *net, int w, int h, float thresh, float hier, int *map,
                                    int relative, int *num);
    void (*do_nms_sort)(detection *dets, int total, int classes, float thresh);
    void (*free_detections)(detection *dets, int n);
    void (*free_network)(network *net);
} dk;

static pthread_once_t dk_once = PTHREAD_ONCE_INIT;
static char dk_error[400];

static void dk_load(void)
{
    void *h = dlopen(SPECX_DARKNET_LIB, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(dk_error, sizeof dk_error, "%s", dlerror());
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"parse_network_cfg", (void **)&dk.parse_network_cfg},
        {"load_weights", (void **)&dk.load_weights},
        {"set_batch_network", (void **)&dk.set_batch_network},
        {"letterbox_image", (void **)&dk.letterbox_image},
        {"free_image", (void **)&dk.free_image},
        {"fill_cpu", (void **)&dk.fill_cpu},
        {"get_network_boxes", (void **)&dk.get_network_boxes},
        {"do_nms_sort", (void **)&dk.do_nms_sort},
        {"free_detections", (void **)&dk.free_detections},
        {"free_network", (void **)&dk.free_network},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].slot = dlsym(h, syms[i].name);
        if (*syms[i].slot == NULL) {
            snprintf(dk_error, sizeof dk_error, "%s has no symbol %s", SPECX_DARKNET_LIB,
                     syms[i].name);
            memset(&dk, 0, sizeof dk);
            return; /* the handle stays open: never dlclose a library we may
                     * have run code from */
        }
    }
}

static specx_status dk_ready(specx_err *err)
{
    pthread_once(&dk_once, dk_load);
    if (dk.free_network == NULL) {
        return specx_err_set(err, SPECX_EUNAVAILABLE,
                             "darknet backend: cannot load libdarknet (%s); install Debian's "
                             "'darknet' package (scripts/install-deps.sh)",
                             dk_error);
    }
    return SPECX_OK;
}

/* ---- stderr capture while darknet loads ------------------------------- */

typedef struct capture {
    int active;
    int saved_fd;
    FILE *tmp;
} capture;

static void capture_begin(capture *c)
{
    c->active = 0;
    c->saved_fd = -1;
    c->tmp = NULL;
    const char *v = getenv("SPECX_DARKNET_VERBOSE");
    if (v != NULL && v[0] != '\0' && strcmp(v, "0") != 0) {
        return;
    }
    c->tmp = tmpfile();
    if (c->tmp == NULL) {
        return; /* cannot capture: darknet's chatter goes through */
    }
    fflush(stderr);
    c->saved_fd = dup(STDERR_FILENO);
    if (c->saved_fd < 0) {
        fclose(c->tmp);
        return;
    }
    if (dup2(fileno(c->tmp), STDERR_FILENO) < 0) {
        close(c->saved_fd);
        fclose(c->tmp);
        return;
    }
    c->active = 1;
}

static int is_darknet_chatter(const char *line)
{
    const char *p = line;
    while (*p == ' ') {
        p++;
    }
    if (*p >= '0' && *p <= '9') {
        return 1; /* a row of the layer table */
    }
    static const char *const prefixes[] = {"layer     filters",
                                           "Unused field:", "Loading weights from", "Done!"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static void capture_end(capture *c)
{
    if (!c->active) {
        return;
    }
    fflush(stderr);
    dup2(c->saved_fd, STDERR_FILENO);
    close(c->saved_fd);
    rewind(c->tmp);
    char line[1024];
    while (fgets(line, sizeof line, c->tmp) != NULL) {
        if (!is_darknet_chatter(line)) {
            fputs(line, stderr);
        }
    }
    fclose(c->tmp);
    c->active = 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Floats that load_weights() reads for this network, following darknet's
 * load_weights_upto; -1 when a layer type with weights we do not account
 * for is present. */
static long long expected_weight_floats(const network *net, char *bad, size_t badlen)
{
    long long total = 0;
    for (int i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        if (l->dontload) {
            continue;
        }
        switch (l->type) {
        case CONVOLUTIONAL: {
            long long n = l->numload ? l->numload : l->n;
            long long groups = l->groups > 0 ? l->groups : 1;
            total += n; /* biases */
            if (l->batch_normalize && !l->dontloadscales) {
                total += 3 * n; /* scales, rolling mean, rolling variance */
            }
            total += (long long)l->c / groups * n * l->size * l->size;
            break;
        }
        case CONNECTED:
            total += l->outputs + (long long)l->outputs * l->inputs;
            if (l->batch_normalize && !l->dontloadscales) {
                total += 3LL * l->outputs;
            }
            break;
        case BATCHNORM:
            total += 3LL * l->c;
            break;
        case DECONVOLUTIONAL:
        case LOCAL:
        case RNN:
        case GRU:
        case LSTM:
        case CRNN:
            snprintf(bad, badlen, "layer %d (type %d)", i, (int)l->type);
            return -1;
        default:
            break;
        }
    }
    return total;
}

/* darknet allocates every layer for the cfg's training batch (32 here) and
 * set_batch_network(1) does not shrink it; inference needs batch 1. So the
 * parser gets a copy of the cfg whose [net] says batch=1, subdivisions=1
 * (nothing else changes), in a temporary file removed right after parsing.
 * Returns 0 and the path in buf, or -1 (then the original cfg is used). */
static int batch1_copy(const char *cfg, char *buf, size_t buflen)
{
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir == NULL || tmpdir[0] == '\0') {
        tmpdir = "/tmp";
    }
    int n = snprintf(buf, buflen, "%s/specx-cfg-XXXXXX", tmpdir);
    if (n < 0 || (size_t)n >= buflen) {
        return -1;
    }
    FILE *in = fopen(cfg, "r");
    if (in == NULL) {
        return -1;
    }
    int fd = mkstemp(buf);
    if (fd < 0) {
        fclose(in);
        return -1;
    }
    FILE *out = fdopen(fd, "w");
    if (out == NULL) {
        close(fd);
        unlink(buf);
        fclose(in);
        return -1;
    }
    char line[1024];
    int in_net = 0, ok = 1;
    while (fgets(line, sizeof line, in) != NULL) {
        const char *p = line + strspn(line, " \t");
        if (*p == '[') {
            in_net = strncmp(p, "[net]", 5) == 0 || strncmp(p, "[network]", 9) == 0;
            fputs(line, out);
            if (in_net) {
                fputs("batch=1\nsubdivisions=1\n", out);
            }
            continue;
        }
        size_t key = strcspn(p, " \t=");
        if (in_net && ((key == 5 && strncmp(p, "batch", 5) == 0) ||
                       (key == 12 && strncmp(p, "subdivisions", 12) == 0))) {
            continue;
        }
        fputs(line, out);
    }
    ok = !ferror(in);
    fclose(in);
    if (fclose(out) != 0 || !ok) {
        unlink(buf);
        return -1;
    }
    return 0;
}

/* Loaded parameters are finite and of plausible magnitude (trained values
 * here stay below ~400); random bytes fail this almost surely. */
static int values_plausible(const float *v, long long n, int nonnegative)
{
    for (long long i = 0; i < n; i++) {
        if (!isfinite(v[i]) || fabsf(v[i]) > 1e5f || (nonnegative && v[i] < 0.0f)) {
            return 0;
        }
    }
    return 1;
}

static int find_bad_layer(const network *net)
{
    for (int i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        if (l->type != CONVOLUTIONAL || l->dontload) {
            continue;
        }
        if (!values_plausible(l->biases, l->n, 0) ||
            !values_plausible(l->weights, l->nweights, 0)) {
            return i;
        }
        if (l->batch_normalize &&
            (!values_plausible(l->scales, l->n, 0) || !values_plausible(l->rolling_mean, l->n, 0) ||
             !values_plausible(l->rolling_variance, l->n, 1))) {
            return i;
        }
    }
    return -1;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* What loading found out about the weights file, for check_loaded. */
typedef struct load_check {
    char bad[64];     /* the layer type whose weights cannot be counted */
    long long floats; /* weights the cfg needs; -1 = cannot tell */
    long long want;   /* bytes the weights file should have; -1 = cannot tell */
    long long have;   /* bytes it has */
} load_check;

/* Builds the network from the cfg (batch 1) and loads the weights when the
 * file has exactly the size the cfg needs; darknet's output is captured.
 * NULL when darknet could not build the cfg. */
static network *parse_and_load(const sx_model_files *files, load_check *lc)
{
    pthread_mutex_lock(&load_lock);
    capture cap = {.active = 0, .saved_fd = -1, .tmp = NULL};
    capture_begin(&cap);
    /* darknet's API takes non-const paths; copies keep ours intact. */
    char cfgpath[sizeof files->cfg], wpath[sizeof files->weights];
    int tmpcfg = batch1_copy(files->cfg, cfgpath, sizeof cfgpath) == 0;
    if (!tmpcfg) {
        memcpy(cfgpath, files->cfg, sizeof cfgpath);
    }
    memcpy(wpath, files->weights, sizeof wpath);
    network *net = dk.parse_network_cfg(cfgpath);
    if (tmpcfg) {
        unlink(cfgpath);
    }
    lc->bad[0] = '\0';
    lc->floats = net != NULL ? expected_weight_floats(net, lc->bad, sizeof lc->bad) : -1;
    lc->want = lc->floats >= 0 ? sx_model_weights_header_bytes(files) + lc->floats * 4 : -1;
    lc->have = file_size(files->weights);
    if (net != NULL && lc->floats >= 0 && lc->want == lc->have) {
        dk.load_weights(net, wpath);
        dk.set_batch_network(net, 1);
    }
    capture_end(&cap);
    pthread_mutex_unlock(&load_lock);
    return net;
}

/* Whether the loaded network is usable: weights of the right size and
 * plausible, a detection layer last, a name for every class (into
 * dn->classes). */
static specx_status check_loaded(const sx_model_files *files, const network *net,
                                 const load_check *lc, sx_darknet *dn, specx_err *err)
{
    if (net == NULL) {
        return specx_err_set(err, SPECX_EFORMAT, "model '%s': darknet could not build cfg %s",
                             files->name, files->cfg);
    }
    if (lc->floats < 0) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "model '%s': cfg %s has a %s whose weights this backend cannot check",
                             files->name, files->cfg, lc->bad);
    }
    if (lc->want != lc->have) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': weights %s has %lld bytes, cfg %s needs %lld (%s): "
                             "corrupt, truncated or not this model's weights",
                             files->name, files->weights, lc->have, files->cfg, lc->want,
                             lc->have < lc->want ? "truncated" : "too long");
    }
    int badl = find_bad_layer(net);
    if (badl >= 0) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': weights %s are corrupt (non-finite or implausible "
                             "values in layer %d)",
                             files->name, files->weights, badl);
    }
    const layer *last = &net->layers[net->n - 1];
    if (last->type != YOLO && last->type != REGION && last->type != DETECTION) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "model '%s': cfg %s does not end in a detection layer", files->name,
                             files->cfg);
    }
    if (last->classes > dn->n_names) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': %s lists %d class names, the network has %d classes",
                             files->name, files->names, dn->n_names, last->classes);
    }
    dn->classes = last->classes;
    return SPECX_OK;
}

specx_status sx_darknet_load(const sx_model_files *files, sx_darknet **out, specx_err *err)
{
    if (files == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "darknet_load: no files or no output");
    }
    specx_status st = dk_ready(err);
    if (st == SPECX_OK) {
        st = sx_detect_cfg_check(files, err); /* libdarknet trusts its cfg: it must be checked */
    }
    if (st != SPECX_OK) {
        return st;
    }
    sx_darknet *dn = calloc(1, sizeof *dn);
    if (dn == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    snprintf(dn->model, sizeof dn->model, "%s", files->name);
    st = sx_class_names_load(files->names, &dn->names, &dn->n_names, err);
    if (st != SPECX_OK) {
        free(dn);
        return st;
    }
    load_check lc;
    network *net = parse_and_load(files, &lc);
    st = check_loaded(files, net, &lc, dn, err);
    if (st != SPECX_OK) {
        if (net != NULL) {
            dk.free_network(net);
        }
        sx_class_names_free(dn->names, dn->n_names);
        free(dn);
        return st;
    }
    dn->net = net;
    *out = dn;
    return SPECX_OK;
}

void sx_darknet_free(sx_darknet *dn)
{
    if (dn == NULL) {
        return;
    }
    dk.free_network(dn->net);
    sx_class_names_free(dn->names, dn->n_names);
    free(dn->rgb);
    free(dn);
}

void sx_darknet_input_size(const sx_darknet *dn, int *w, int *h)
{
    *w = dn->net->w;
    *h = dn->net->h;
}

int sx_darknet_num_classes(const sx_darknet *dn)
{
    return dn->classes;
}

void sx_darknet_set_layer_hook(sx_darknet *dn, sx_darknet_layer_hook fn, void *user)
{
    dn->hook = fn;
    dn->hook_user = user;
}

/* ---- inference ---------------------------------------------------------- */

/* RGB8 -> darknet's planar floats in 0..1 (channel 0 = R, as darknet's own
 * loaders produce), then darknet's letterbox. The result is darknet-owned:
 * free_image(). */
static specx_status letterbox(sx_darknet *dn, const specx_image *img, image *boxed, specx_err *err)
{
    /* darknet's letterbox scales the long side to the network size with
     * integer arithmetic; a side that would scale to 0 pixels breaks its box
     * correction (division by zero), so such images are refused. */
    long nw = dn->net->w, nh = dn->net->h;
    long sw = (long)img->width * nh / img->height, sh = (long)img->height * nw / img->width;
    if ((nw * img->height < nh * img->width && sh < 1) ||
        (nw * img->height >= nh * img->width && sw < 1)) {
        return specx_err_set(err, SPECX_EINVAL,
                             "image %dx%d is too elongated for a %ldx%ld network", img->width,
                             img->height, nw, nh);
    }
    size_t plane = (size_t)img->width * (size_t)img->height;
    if (dn->rgb_floats < 3 * plane) {
        float *grown = realloc(dn->rgb, 3 * plane * sizeof *grown);
        if (grown == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "out of memory for a %dx%d image", img->width,
                                 img->height);
        }
        dn->rgb = grown;
        dn->rgb_floats = 3 * plane;
    }
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->data + (size_t)y * (size_t)img->stride;
        float *r = dn->rgb + (size_t)y * (size_t)img->width;
        float *g = r + plane;
        float *b = g + plane;
        for (int x = 0; x < img->width; x++) {
            r[x] = row[3 * x] / 255.0f;
            g[x] = row[3 * x + 1] / 255.0f;
            b[x] = row[3 * x + 2] / 255.0f;
        }
    }
    image im = {.w = img->width, .h = img->height, .c = 3, .data = dn->rgb};
    *boxed = dk.letterbox_image(im, dn->net->w, dn->net->h);
    if (boxed->data == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory letterboxing");
    }
    return SPECX_OK;
}

/* forward_network(), one layer at a time, with a cancellation checkpoint
 * before each layer. Leaves *dn->net as it found it (as network_predict). */
static specx_status forward(sx_darknet *dn, float *input, const atomic_bool *cancel)
{
    network *netp = dn->net;
    network saved = *netp;
    netp->input = input;
    netp->truth = 0;
    netp->train = 0;
    netp->delta = 0;
    network net = *netp;
    specx_status st = SPECX_OK;
    for (int i = 0; i < net.n; i++) {
        if (dn->hook != NULL) {
            dn->hook(dn->hook_user, i, net.n);
        }
        if (cancel != NULL && atomic_load_explicit(cancel, memory_order_relaxed)) {
            st = SPECX_ECANCELED;
            break;
        }
        net.index = i;
        layer l = net.layers[i];
        if (l.delta) {
            dk.fill_cpu(l.outputs * l.batch, 0, l.delta, 1);
        }
        l.forward(l, net);
        net.input = l.output;
        if (l.truth) {
            net.truth = l.output;
        }
    }
    *netp = saved;
    return st;
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

specx_status sx_darknet_detect(sx_darknet *dn, const specx_image *img, float thresh, float nms,
                               const atomic_bool *cancel, specx_detections *out, specx_err *err)
{
    specx_time_t t0 = specx_time_mono();
    image boxed;
    specx_status st = letterbox(dn, img, &boxed, err);
    if (st != SPECX_OK) {
        return st;
    }
    st = forward(dn, boxed.data, cancel);
    dk.free_image(boxed);
    if (st == SPECX_ECANCELED) {
        return specx_err_set(err, st, "detection cancelled");
    }
    int nboxes = 0;
    detection *dets =
        dk.get_network_boxes(dn->net, img->width, img->height, thresh, 0.5f, NULL, 1, &nboxes);
    if (nboxes > 0 && dets == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory for boxes");
    }
    if (nms > 0.0f) {
        dk.do_nms_sort(dets, nboxes, dn->classes, nms);
    }
    float wmax = (float)(img->width - 1), hmax = (float)(img->height - 1);
    for (int i = 0; i < nboxes && st == SPECX_OK; i++) {
        box b = dets[i].bbox;
        for (int j = 0; j < dn->classes; j++) {
            if (!(dets[i].prob[j] > thresh)) {
                continue;
            }
            specx_detection d;
            memset(&d, 0, sizeof d);
            d.class_id = j;
            snprintf(d.label, sizeof d.label, "%s", dn->names[j]);
            d.score = dets[i].prob[j];
            d.xmin = clampf((b.x - b.w / 2.0f) * (float)img->width, 0.0f, wmax);
            d.xmax = clampf((b.x + b.w / 2.0f) * (float)img->width, 0.0f, wmax);
            d.ymin = clampf((b.y - b.h / 2.0f) * (float)img->height, 0.0f, hmax);
            d.ymax = clampf((b.y + b.h / 2.0f) * (float)img->height, 0.0f, hmax);
            if (specx_detections_push(out, &d) != SPECX_OK) {
                st = specx_err_set(err, SPECX_ENOMEM, "out of memory for detections");
                break;
            }
        }
    }
    dk.free_detections(dets, nboxes);
    out->infer_ms = specx_dur_ms(specx_time_mono() - t0);
    return st;
}

specx_status sx_darknet_yolo_outputs(sx_darknet *dn, const specx_image *img, sx_yolo_outputs *out,
                                     specx_err *err)
{
    memset(out, 0, sizeof *out);
    image boxed;
    specx_status st = letterbox(dn, img, &boxed, err);
    if (st != SPECX_OK) {
        return st;
    }
    network *net = dn->net;
    size_t in_count = (size_t)net->w * (size_t)net->h * 3;
    size_t n = 0;
    for (int i = 0; i < net->n; i++) {
        n += net->layers[i].type == YOLO;
    }
    float *input = malloc(in_count * sizeof *input);
    sx_yolo_output *layers = calloc(n ? n : 1, sizeof *layers);
    if (input == NULL || layers == NULL) {
        free(input);
        free(layers);
        dk.free_image(boxed);
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    out->in_w = net->w;
    out->in_h = net->h;
    out->input = input;
    out->layers = layers;
    memcpy(out->input, boxed.data, in_count * sizeof *out->input);
    st = forward(dn, boxed.data, NULL);
    dk.free_image(boxed);
    for (int i = 0; i < net->n && st == SPECX_OK; i++) {
        const layer *l = &net->layers[i];
        if (l->type != YOLO) {
            continue;
        }
        sx_yolo_output *o = &out->layers[out->n];
        o->layer = i;
        o->w = l->w;
        o->h = l->h;
        o->anchors = l->n;
        o->classes = l->classes;
        o->count = (size_t)l->outputs;
        o->data = malloc(o->count * sizeof *o->data);
        if (o->data == NULL) {
            st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
            break;
        }
        memcpy(o->data, l->output, o->count * sizeof *o->data);
        out->n++;
    }
    if (st != SPECX_OK) {
        sx_yolo_outputs_free(out);
    }
    return st;
}

void sx_yolo_outputs_free(sx_yolo_outputs *o)
{
    if (o == NULL) {
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        free(o->layers[i].data);
    }
    free(o->layers);
    free(o->input);
    memset(o, 0, sizeof *o);
}

/* ---- the backend -------------------------------------------------------- */

typedef struct darknet_impl {
    sx_darknet *dn;
    float thresh, nms;
} darknet_impl;

static specx_status impl_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    darknet_impl *d = impl;
    return sx_darknet_detect(d->dn, img, d->thresh, d->nms, cancel, out, err);
}

static void impl_destroy(void *impl)
{
    darknet_impl *d = impl;
    sx_darknet_free(d->dn);
    free(d);
}

static const specx_detector_ops darknet_ops = {.detect = impl_detect, .destroy = impl_destroy};

specx_status sx_backend_darknet_open(const sx_model_files *files, const specx_detector_config *cfg,
                                     specx_detector **out, specx_err *err)
{
    if (cfg->threads > 1) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "the darknet backend runs on one thread (asked for %d); use several "
                             "detectors (local executor workers) or --backend xnnpack",
                             cfg->threads);
    }
    darknet_impl *d = calloc(1, sizeof *d);
    if (d == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    d->thresh = cfg->threshold > 0.0f ? cfg->threshold : 0.25f;
    d->nms = cfg->nms > 0.0f ? cfg->nms : 0.45f;
    specx_status st = sx_darknet_load(files, &d->dn, err);
    if (st != SPECX_OK) {
        free(d);
        return st;
    }
    specx_detector_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.model, sizeof info.model, "%s", files->name);
    snprintf(info.backend, sizeof info.backend, "darknet");
    sx_darknet_input_size(d->dn, &info.input_width, &info.input_height);
    info.num_classes = sx_darknet_num_classes(d->dn);
    st = specx_detector_wrap(&darknet_ops, d, &info, out);
    if (st != SPECX_OK) {
        impl_destroy(d);
        return specx_err_set(err, st, "out of memory");
    }
    return SPECX_OK;
}
