/* detection.c — growable list of detections. */
#include "specx/detection.h"

#include <stdlib.h>
#include <string.h>

void specx_detections_init(specx_detections *d)
{
    memset(d, 0, sizeof *d);
}

specx_status specx_detections_push(specx_detections *d, const specx_detection *item)
{
    if (d->count == d->capacity) {
        size_t cap = d->capacity ? d->capacity * 2 : 16;
        specx_detection *items = realloc(d->items, cap * sizeof *items);
        if (items == NULL) {
            return SPECX_ENOMEM;
        }
        d->items = items;
        d->capacity = cap;
    }
    d->items[d->count++] = *item;
    return SPECX_OK;
}

void specx_detections_reset(specx_detections *d)
{
    d->count = 0;
}

void specx_detections_clear(specx_detections *d)
{
    free(d->items);
    specx_detections_init(d);
}

specx_detections *specx_detections_create(void)
{
    specx_detections *d = malloc(sizeof *d);
    if (d != NULL) {
        specx_detections_init(d);
    }
    return d;
}

void specx_detections_destroy(specx_detections *d)
{
    if (d != NULL) {
        free(d->items);
        free(d);
    }
}

void specx_detections_rescale(specx_detections *d, int from_width, int from_height, int to_width,
                              int to_height)
{
    if (from_width < 1 || from_height < 1 || to_width < 1 || to_height < 1) {
        return;
    }
    if (from_width != to_width || from_height != to_height) {
        float sx = (float)((double)to_width / from_width);
        float sy = (float)((double)to_height / from_height);
        for (size_t i = 0; i < d->count; i++) {
            specx_detection *e = &d->items[i];
            e->xmin *= sx;
            e->xmax *= sx;
            e->ymin *= sy;
            e->ymax *= sy;
        }
    }
    d->image_width = to_width;
    d->image_height = to_height;
}
