/* detector_open.c — specx_detector_open: model name -> files -> backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/detector.h"

#include "backend.h"
#include "detect/test_detector.h"

/* The default backend: one constant, flipped when a faster backend becomes
 * the reference. */
#define SPECX_DEFAULT_BACKEND "xnnpack"

const char *specx_detector_default_backend(void)
{
    return SPECX_DEFAULT_BACKEND;
}

typedef struct backend_entry {
    const char *name;
    sx_backend_open_fn open;
} backend_entry;

specx_status specx_detector_open(const specx_detector_config *cfg, specx_detector **out,
                                 specx_err *err)
{
    if (cfg == NULL || out == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "detector_open: no config or no output");
    }
    if (cfg->threshold < 0.0f || cfg->threshold >= 1.0f || cfg->nms < 0.0f || cfg->nms > 1.0f) {
        return specx_err_set(err, SPECX_EINVAL,
                             "detector_open: threshold must be in [0,1) and nms in [0,1] (got "
                             "%g, %g)",
                             (double)cfg->threshold, (double)cfg->nms);
    }
    if (cfg->threads < 0) {
        return specx_err_set(err, SPECX_EINVAL, "detector_open: threads must be >= 0 (got %d)",
                             cfg->threads);
    }
    const char *prec =
        cfg->precision != NULL && cfg->precision[0] != '\0' ? cfg->precision : "fp32";
    if (strcmp(prec, "fp32") != 0 && strcmp(prec, "int8") != 0) {
        return specx_err_set(err, SPECX_EINVAL,
                             "detector_open: precision must be fp32 or int8 (got '%s')", prec);
    }
    /* The one place where "test[:SPEC]" is resolved: no files, no backend. */
    const char *test_spec;
    if (sx_detect_test_model(cfg->model, &test_spec)) {
        return sx_detect_test_open(test_spec, out, err);
    }
    const backend_entry backends[] = {
        {"darknet", sx_backend_darknet_open},
        {"xnnpack", sx_backend_xnnpack_open},
    };
    const char *bname =
        (cfg->backend != NULL && cfg->backend[0] != '\0') ? cfg->backend : SPECX_DEFAULT_BACKEND;
    const backend_entry *be = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (strcmp(backends[i].name, bname) == 0) {
            be = &backends[i];
        }
    }
    if (be == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "unknown backend '%s' (known: darknet, xnnpack)",
                             bname);
    }
    if (strcmp(prec, "int8") == 0 && strcmp(bname, "xnnpack") != 0) {
        return specx_err_set(err, SPECX_EUNSUPPORTED,
                             "precision int8 needs the xnnpack backend (backend '%s' is fp32 only)",
                             bname);
    }
    char dir[4096];
    specx_status st = specx_model_dir_resolve(cfg->model_dir, dir, sizeof dir, err);
    if (st != SPECX_OK) {
        return st;
    }
    sx_model_files files;
    st = sx_model_files_resolve(cfg->model, dir, &files, err);
    if (st != SPECX_OK) {
        return st;
    }
    return be->open(&files, cfg, out, err);
}

specx_status sx_class_names_load(const char *path, char ***names_out, int *count_out,
                                 specx_err *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return specx_err_set(err, SPECX_ENOTFOUND, "cannot open class names %s: %s", path,
                             strerror(errno));
    }
    char **names = NULL;
    int count = 0, cap = 0;
    char line[256];
    specx_status st = SPECX_OK;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0) {
            continue; /* a trailing empty line is not a class */
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 128;
            char **grown = realloc(names, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                st = SPECX_ENOMEM;
                break;
            }
            names = grown;
        }
        names[count] = strdup(line);
        if (names[count] == NULL) {
            st = SPECX_ENOMEM;
            break;
        }
        count++;
    }
    fclose(f);
    if (st == SPECX_OK && count == 0) {
        st = specx_err_set(err, SPECX_EFORMAT, "class names file %s is empty", path);
    } else if (st == SPECX_ENOMEM) {
        specx_err_set(err, st, "out of memory reading %s", path);
    }
    if (st != SPECX_OK) {
        sx_class_names_free(names, count);
        return st;
    }
    *names_out = names;
    *count_out = count;
    return SPECX_OK;
}

void sx_class_names_free(char **names, int count)
{
    if (names == NULL) {
        return;
    }
    for (int i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
}
