/* detector.c — the one detector factory of the apps and the pipeline: a
 * specx_detector_config to an open detector (specx_detector_open resolves the
 * built-in "test[:spec]" detector too), shaped as the server's open-detector
 * callback. */
#include "specx/pipeline.h"

specx_status specx_pipeline_open_detector(void *detector_config, int worker, specx_detector **out,
                                          specx_err *err)
{
    (void)worker;
    const specx_detector_config *cfg = detector_config;
    if (cfg == NULL || cfg->model == NULL || cfg->model[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "no model given");
    }
    return specx_detector_open(cfg, out, err);
}
