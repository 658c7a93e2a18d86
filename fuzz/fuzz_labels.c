/* fuzz_labels.c — libFuzzer harness: arbitrary bytes as the YOLO label file
 * of a one-image dataset (specx_eval_dataset_load), then the class check;
 * what loads must be boxes inside sane bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "specx/eval.h"

#include "fuzz_common.h"

/* A 4x3 RGB PNG: the dataset reads only its header. */
static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0, 13,
                              'I',  'H', 'D', 'R', 0,    0,    0,    4,    0,    0, 0, 3,
                              8,    2,   0,   0,   0,    0x94, 0x82, 0x83, 0xe3, 0, 0, 0,
                              0,    'I', 'E', 'N', 'D',  0xae, 0x42, 0x60, 0x82};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char root[300];
    char path[400];
    if (root[0] == '\0') {
        snprintf(root, sizeof root, "%s/ds", fuzz_dir());
        snprintf(path, sizeof path, "%s/images", root);
        if (mkdir(root, 0700) != 0 || mkdir(path, 0700) != 0) {
            abort();
        }
        snprintf(path, sizeof path, "%s/labels", root);
        if (mkdir(path, 0700) != 0) {
            abort();
        }
        fuzz_write("ds/images/a.png", png, sizeof png, path, sizeof path);
    }
    fuzz_write("ds/labels/a.txt", data, size, path, sizeof path);
    specx_eval_dataset *ds = NULL;
    specx_err err = {{0}};
    if (specx_eval_dataset_load(root, NULL, NULL, &ds, &err) != SPECX_OK) {
        return 0;
    }
    const specx_eval_image *im = &ds->images[0];
    for (size_t i = 0; i < im->n_boxes; i++) {
        const specx_eval_box *b = &im->boxes[i];
        if (b->class_id < 0 || !(b->xmin <= b->xmax) || !(b->ymin <= b->ymax)) {
            abort();
        }
    }
    (void)specx_eval_dataset_check_classes(ds, 80, "fuzz", &err);
    specx_eval_dataset_free(ds);
    return 0;
}
