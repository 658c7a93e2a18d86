/* detect/test_detector.h — internal to src/detect: the built-in "test"
 * detector that specx_detector_open returns for the model names "test" and
 * "test:SPEC" (the syntax is documented in include/specx/detector.h). */
#ifndef SX_DETECT_TEST_DETECTOR_H
#define SX_DETECT_TEST_DETECTOR_H

#include "specx/detector.h"

/* True when `model` names the test detector; *spec is then its options
 * ("" for plain "test"). */
bool sx_detect_test_model(const char *model, const char **spec);
/* Opens a test detector from SPEC (comma-separated options). Bad options:
 * SPECX_EINVAL naming the option and listing the known ones. */
specx_status sx_detect_test_open(const char *spec, specx_detector **out, specx_err *err);

#endif
