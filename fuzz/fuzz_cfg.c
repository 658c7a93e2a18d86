/* fuzz_cfg.c — libFuzzer harness: the one model check (cfg_check.h) on
 * arbitrary cfg text; a cfg it accepts then goes, with a weights file of
 * exactly the size it computed, through the whole file check and the
 * xnnpack loader (its own cfg parser and weights reader), as
 * specx_detector_open would hand it over. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cfg_check.h"
#include "fuzz_common.h"
#include "xnn/xnn_model.h"

/* Params beyond this are not written out (keeps each run fast). */
#define MAX_WEIGHT_BYTES (8 << 20)

static const char names[] = "a\nb\nc\nd\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_detect_cfg_summary sum;
    specx_err err = {{0}};
    if (sx_detect_cfg_parse((const char *)data, size, "fuzz.cfg", &sum, &err) != SPECX_OK) {
        return 0;
    }
    if (sum.param_floats * 4 + 20 > MAX_WEIGHT_BYTES || sum.max_classes > 4) {
        return 0;
    }
    sx_model_files f = {.name = "fuzz"};
    fuzz_write("m.cfg", data, size, f.cfg, sizeof f.cfg);
    fuzz_write("m.names", names, sizeof names - 1, f.names, sizeof f.names);
    size_t wlen = 20 + (size_t)sum.param_floats * 4;
    uint8_t *w = calloc(1, wlen);
    if (w == NULL) {
        abort();
    }
    w[4] = 2; /* version 0.2.0, then a 64-bit 'seen' and zero weights */
    fuzz_write("m.weights", w, wlen, f.weights, sizeof f.weights);
    free(w);
    if (sx_detect_cfg_check(&f, &err) != SPECX_OK) {
        abort(); /* the text passed, and the files were made to fit it */
    }
    sx_xnn_model m;
    if (sx_xnn_model_load(&m, f.cfg, f.weights, &err) == SPECX_OK) {
        sx_xnn_model_clear(&m);
    }
    return 0;
}
