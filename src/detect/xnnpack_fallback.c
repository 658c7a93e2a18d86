/* xnnpack_fallback.c — weak stand-in for the XNNPACK backend, so the library
 * links (and says so clearly) in builds without src/detect/xnn/. A strong
 * definition in the real backend replaces it; CMake leaves this file out
 * when src/detect/xnn/ exists (see src/detect/CMakeLists.txt). */
#include "backend.h"

__attribute__((weak)) specx_status sx_backend_xnnpack_open(const sx_model_files *files,
                                                           const specx_detector_config *cfg,
                                                           specx_detector **out, specx_err *err)
{
    (void)files;
    (void)cfg;
    (void)out;
    return specx_err_set(err, SPECX_EUNSUPPORTED,
                         "xnnpack backend not built (use --backend darknet)");
}
