/* detector.c — the one detector factory of the apps and the pipeline: a
 * specx_detector_config to an open detector, the built-in test detector
 * included. */
#include <string.h>

#include "specx/pipeline.h"
#include "specx/rpc.h"

specx_status specx_pipeline_open_detector(void *detector_config, int worker, specx_detector **out,
                                          specx_err *err)
{
    (void)worker;
    const specx_detector_config *cfg = detector_config;
    if (cfg == NULL || cfg->model == NULL || cfg->model[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "no model given");
    }
    /* "test[:spec]": the built-in test detector, as `specx serve --model
     * test:...` (until specx_detector_open knows it itself). */
    if (strcmp(cfg->model, "test") == 0 || strncmp(cfg->model, "test:", 5) == 0) {
        return specx_rpc_test_detector_open(cfg->model[4] == ':' ? cfg->model + 5 : "", out, err);
    }
    return specx_detector_open(cfg, out, err);
}
