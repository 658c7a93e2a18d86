/* backend.h — internal: how detector backends plug into specx_detector_open.
 * detector.c resolves a model name to files and calls one of these; each
 * backend returns a detector built with specx_detector_wrap. */
#ifndef SPECX_DETECT_BACKEND_H
#define SPECX_DETECT_BACKEND_H

#include "specx/detector.h"

typedef struct sx_model_files {
    char name[SPECX_MODEL_NAME_MAX];
    char cfg[4096];     /* darknet .cfg */
    char weights[4096]; /* darknet .weights */
    char names[4096];   /* class names, one per line (coco.names) */
} sx_model_files;

/* Resolves a model NAME in model_dir to its files and checks them without
 * building the network: the files exist and are readable, and pass
 * sx_detect_cfg_check (cfg_check.h). Errors name the file. */
specx_status sx_model_files_resolve(const char *name, const char *model_dir, sx_model_files *files,
                                    specx_err *err);
specx_status sx_model_check_weights_header(const sx_model_files *files, specx_err *err);
/* Size of the weights file header (20 or 16 bytes), -1 if unreadable. */
long sx_model_weights_header_bytes(const sx_model_files *files);
/* "a, b, c": the known model names, for messages. */
void sx_model_names_joined(char *buf, size_t buflen);

/* Reads a names file (one class per line) into a malloc'd array of
 * `count` malloc'd strings; free with sx_class_names_free. Errors name the
 * file. */
specx_status sx_class_names_load(const char *path, char ***names, int *count, specx_err *err);
void sx_class_names_free(char **names, int count);

typedef specx_status (*sx_backend_open_fn)(const sx_model_files *files,
                                           const specx_detector_config *cfg, specx_detector **out,
                                           specx_err *err);

/* Debian's libdarknet: the reference backend. */
specx_status sx_backend_darknet_open(const sx_model_files *files, const specx_detector_config *cfg,
                                     specx_detector **out, specx_err *err);
/* Our own cfg/weights loader on XNNPACK: the fast backend. */
specx_status sx_backend_xnnpack_open(const sx_model_files *files, const specx_detector_config *cfg,
                                     specx_detector **out, specx_err *err);

#endif
