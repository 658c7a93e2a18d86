/* backend.h — internal: how detector backends plug into specx_detector_open.
 * detector.c resolves a model name to files and calls one of these; each
 * backend returns a detector built with specx_detector_wrap. */
#ifndef SPECX_DETECT_BACKEND_H
#define SPECX_DETECT_BACKEND_H

#include "specx/detector.h"

typedef struct specx_model_files {
    char name[SPECX_MODEL_NAME_MAX];
    char cfg[4096];     /* darknet .cfg */
    char weights[4096]; /* darknet .weights */
    char names[4096];   /* class names, one per line (coco.names) */
} specx_model_files;

typedef specx_status (*specx_backend_open_fn)(const specx_model_files *files,
                                              const specx_detector_config *cfg,
                                              specx_detector **out, specx_err *err);

/* Debian's libdarknet: the reference backend. */
specx_status specx_backend_darknet_open(const specx_model_files *files,
                                        const specx_detector_config *cfg, specx_detector **out,
                                        specx_err *err);
/* Our own cfg/weights loader on XNNPACK: the fast backend. */
specx_status specx_backend_xnnpack_open(const specx_model_files *files,
                                        const specx_detector_config *cfg, specx_detector **out,
                                        specx_err *err);

#endif
