/* fuzz_weights.c — libFuzzer harness: arbitrary bytes as the weights file
 * of a small fixed cfg, through the model check (header, exact size) and
 * the xnnpack weights reader (batch norm folding, layout change). */
#include <stddef.h>
#include <stdint.h>

#include "cfg_check.h"
#include "fuzz_common.h"
#include "xnn/xnn_model.h"

/* 16x16x3 -> conv 3x3/2 (4, bn) -> conv 1x1 (7 = 1 x (2 + 5)) -> yolo:
 * 4*4 + 3*4*9 + 7 + 4*7 = 159 floats after the header. */
static const char cfg[] = "[net]\nwidth=16\nheight=16\nchannels=3\n"
                          "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\n"
                          "batch_normalize=1\nactivation=leaky\n"
                          "[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
                          "[yolo]\nmask=0\nanchors=4,4\nclasses=2\nnum=1\n";
static const char names[] = "a\nb\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sx_model_files f = {.name = "fuzz"};
    if (f.cfg[0] == '\0') {
        fuzz_write("w.cfg", cfg, sizeof cfg - 1, f.cfg, sizeof f.cfg);
        fuzz_write("w.names", names, sizeof names - 1, f.names, sizeof f.names);
    }
    fuzz_write("w.weights", data, size, f.weights, sizeof f.weights);
    specx_err err = {{0}};
    if (sx_detect_cfg_check(&f, &err) != SPECX_OK) {
        return 0;
    }
    sx_xnn_model m;
    if (sx_xnn_model_load(&m, f.cfg, f.weights, &err) == SPECX_OK) {
        sx_xnn_model_clear(&m);
    }
    return 0;
}
