/* models.c — named models: where the model directory is, which files a model
 * name stands for, and a first sanity check of those files.
 *
 * Design notes: models are named, not pathed, so that a configuration written
 * on one machine works on another; the table below is the only place that
 * maps a name to files. Checks here are backend-independent: the files exist,
 * are regular and readable, and pass the one model check (cfg_check.h:
 * every layer's shape, the names, the weights header and size) before any
 * backend reads them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "cfg_check.h"

typedef struct model_entry {
    const char *name;
    const char *cfg;     /* relative to the model directory */
    const char *weights; /* relative to the model directory */
    const char *summary;
} model_entry;

static const model_entry models[] = {
    {"yolo-fastest-1.1", "yolo-fastest-1.1.cfg", "yolo-fastest-1.1.weights",
     "local (fast) model, 320x320"},
    {"yolo-fastest-1.1-xl", "yolo-fastest-1.1-xl.cfg", "yolo-fastest-1.1-xl.weights",
     "cloud (accurate) model, 320x320"},
    {"yolo-fastest-1.1-xl-416", "yolo-fastest-1.1-xl-416.cfg", "yolo-fastest-1.1-xl.weights",
     "cloud model, xl weights at 416x416"},
    {"MobileNetV2-YOLOv3-Nano-coco", "alt/MobileNetV2-YOLOv3-Nano-coco.cfg",
     "alt/MobileNetV2-YOLOv3-Nano-coco.weights", "alternative model, 320x320"},
};
#define N_MODELS (sizeof models / sizeof models[0])

/* Class names shared by every model above (COCO, 80 classes). */
static const char names_file[] = "coco.names";

const char *specx_model_name(size_t index)
{
    return index < N_MODELS ? models[index].name : NULL;
}

const char *specx_model_summary(size_t index)
{
    return index < N_MODELS ? models[index].summary : NULL;
}

void sx_model_names_joined(char *buf, size_t buflen)
{
    size_t used = 0;
    if (buflen == 0) {
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < N_MODELS && used < buflen; i++) {
        int n = snprintf(buf + used, buflen - used, "%s%s", i ? ", " : "", models[i].name);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static specx_status copy_path(const char *src, char *buf, size_t buflen, specx_err *err)
{
    if (strlen(src) >= buflen) {
        return specx_err_set(err, SPECX_EINVAL, "model directory path too long: '%s'", src);
    }
    memcpy(buf, src, strlen(src) + 1);
    return SPECX_OK;
}

specx_status specx_model_dir_resolve(const char *explicit_dir, char *buf, size_t buflen,
                                     specx_err *err)
{
    if (buf == NULL || buflen == 0) {
        return specx_err_set(err, SPECX_EINVAL, "model_dir_resolve: no output buffer");
    }
    /* A directory the user named is used or reported, never silently replaced
     * by a default one: a typo must not pick another copy of the models. */
    if (explicit_dir != NULL && explicit_dir[0] != '\0') {
        if (!is_dir(explicit_dir)) {
            return specx_err_set(err, SPECX_ENOTFOUND,
                                 "model directory '%s' (--model-dir) does not exist or is not a "
                                 "directory",
                                 explicit_dir);
        }
        return copy_path(explicit_dir, buf, buflen, err);
    }
    const char *env = getenv("SPECX_MODEL_DIR");
    if (env != NULL && env[0] != '\0') {
        if (!is_dir(env)) {
            return specx_err_set(err, SPECX_ENOTFOUND,
                                 "model directory '%s' ($SPECX_MODEL_DIR) does not exist or is "
                                 "not a directory",
                                 env);
        }
        return copy_path(env, buf, buflen, err);
    }
    static const char *const defaults[] = {"./assets/models", "../shared/assets/models"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (is_dir(defaults[i])) {
            return copy_path(defaults[i], buf, buflen, err);
        }
    }
    char cwd[1024];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        snprintf(cwd, sizeof cwd, "the current directory");
    }
    return specx_err_set(err, SPECX_ENOTFOUND,
                         "no model directory: looked at --model-dir (not given), "
                         "$SPECX_MODEL_DIR (not set), ./assets/models and "
                         "../shared/assets/models (relative to %s); run scripts/fetch-assets.sh "
                         "or pass --model-dir DIR",
                         cwd);
}

/* The file exists, is a regular file and can be read. */
static specx_status check_file(const char *model, const char *path, const char *what,
                               long long *size, specx_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return specx_err_set(err, SPECX_ENOTFOUND, "model '%s': %s file %s is missing (%s)", model,
                             what, path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return specx_err_set(err, SPECX_EFORMAT, "model '%s': %s file %s is not a regular file",
                             model, what, path);
    }
    if (access(path, R_OK) != 0) {
        return specx_err_set(err, SPECX_EIO, "model '%s': %s file %s is not readable (%s)", model,
                             what, path, strerror(errno));
    }
    if (size != NULL) {
        *size = (long long)st.st_size;
    }
    return SPECX_OK;
}

static specx_status join(char *out, size_t outlen, const char *dir, const char *file,
                         specx_err *err)
{
    int n = snprintf(out, outlen, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= outlen) {
        return specx_err_set(err, SPECX_EINVAL, "path too long: %s/%s", dir, file);
    }
    return SPECX_OK;
}

specx_status sx_model_files_resolve(const char *name, const char *model_dir, sx_model_files *files,
                                    specx_err *err)
{
    char known[512];
    if (name == NULL || name[0] == '\0') {
        sx_model_names_joined(known, sizeof known);
        return specx_err_set(err, SPECX_EINVAL, "no model name given (known models: %s)", known);
    }
    const model_entry *m = NULL;
    for (size_t i = 0; i < N_MODELS; i++) {
        if (strcmp(models[i].name, name) == 0) {
            m = &models[i];
            break;
        }
    }
    if (m == NULL) {
        sx_model_names_joined(known, sizeof known);
        return specx_err_set(err, SPECX_ENOTFOUND,
                             "unknown model '%s' (models are named, not pathed; known: %s)", name,
                             known);
    }
    sx_model_files f;
    memset(&f, 0, sizeof f);
    snprintf(f.name, sizeof f.name, "%s", m->name);
    specx_status st = join(f.cfg, sizeof f.cfg, model_dir, m->cfg, err);
    if (st == SPECX_OK) {
        st = join(f.weights, sizeof f.weights, model_dir, m->weights, err);
    }
    if (st == SPECX_OK) {
        st = join(f.names, sizeof f.names, model_dir, names_file, err);
    }
    if (st != SPECX_OK) {
        return st;
    }
    long long wsize = 0;
    if ((st = check_file(name, f.cfg, "cfg", NULL, err)) != SPECX_OK ||
        (st = check_file(name, f.weights, "weights", &wsize, err)) != SPECX_OK ||
        (st = check_file(name, f.names, "class names", NULL, err)) != SPECX_OK) {
        return st;
    }
    /* The one check of cfg, names and weights before any backend (cfg_check.h). */
    if ((st = sx_detect_cfg_check(&f, err)) != SPECX_OK) {
        return st;
    }
    *files = f;
    return SPECX_OK;
}

specx_status sx_model_check_weights_header(const sx_model_files *files, specx_err *err)
{
    FILE *f = fopen(files->weights, "rb");
    if (f == NULL) {
        return specx_err_set(err, SPECX_EIO, "model '%s': cannot open weights %s: %s", files->name,
                             files->weights, strerror(errno));
    }
    int hdr[3] = {0, 0, 0};
    size_t got = fread(hdr, sizeof hdr[0], 3, f);
    fclose(f);
    if (got != 3) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': weights %s is truncated (no complete header)",
                             files->name, files->weights);
    }
    /* darknet writes major.minor.revision = 0.1.x or 0.2.x; anything else is
     * not a darknet weights file (or a byte-swapped / transposed one, which
     * this project never ships). */
    if (hdr[0] != 0 || hdr[1] < 1 || hdr[1] > 2 || hdr[2] < 0 || hdr[2] > 1000) {
        return specx_err_set(err, SPECX_EFORMAT,
                             "model '%s': weights %s has no darknet header (version %d.%d.%d)",
                             files->name, files->weights, hdr[0], hdr[1], hdr[2]);
    }
    return SPECX_OK;
}

long sx_model_weights_header_bytes(const sx_model_files *files)
{
    FILE *f = fopen(files->weights, "rb");
    if (f == NULL) {
        return -1;
    }
    int hdr[3] = {0, 0, 0};
    size_t got = fread(hdr, sizeof hdr[0], 3, f);
    fclose(f);
    if (got != 3) {
        return -1;
    }
    /* Version 0.2 and later store `seen` as 64 bits, earlier as 32 bits. */
    return (hdr[0] * 10 + hdr[1]) >= 2 ? 3 * 4 + 8 : 3 * 4 + 4;
}
