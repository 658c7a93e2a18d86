/* specx/draw.h — drawing on specx_image: rectangles, filled boxes, text in a
 * built-in 5x7 bitmap font (scalable by an integer factor), detection boxes
 * with "label 87%" tags, a colour per executor, a banner and a legend.
 *
 * Contract: every function clips to the image, so any coordinates (negative,
 * past the border, huge) are safe; nothing allocates; nothing blocks.
 * Thread-compatible: one thread draws on a given image at a time. Rectangle
 * corners are inclusive pixel coordinates, in either order. */
#ifndef SPECX_DRAW_H
#define SPECX_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct specx_rgb {
    uint8_t r, g, b;
} specx_rgb;

/* Glyph cell at scale 1: 5x7 glyph plus one pixel of spacing each way. */
#define SPECX_FONT_CELL_W 6
#define SPECX_FONT_CELL_H 8

void specx_draw_fill(specx_image *img, int x0, int y0, int x1, int y1, specx_rgb c);

/* Outline; the border grows inward from the given corners (thickness >= 1). */
void specx_draw_rect(specx_image *img, int x0, int y0, int x1, int y1, int thickness, specx_rgb c);

/* Text with its top-left cell corner at (x, y); '\n' starts a new line.
 * Characters outside printable ASCII are drawn as '?'. scale < 1 counts as 1.
 * Returns the width in pixels of the widest line. */
int specx_draw_text(specx_image *img, int x, int y, const char *text, int scale, specx_rgb fg);

/* Size the text would take (no drawing). */
void specx_text_size(const char *text, int scale, int *width, int *height);

/* Text on a filled box with `scale` pixels of padding; (x, y) is the box's
 * top-left corner. Returns the box height. */
int specx_draw_label(specx_image *img, int x, int y, const char *text, int scale, specx_rgb fg,
                     specx_rgb bg);

/* Black or white, whichever reads better on bg. */
specx_rgb specx_rgb_contrast(specx_rgb bg);

/* Boxes of `dets` with a "label 87%" tag above each box (inside it when
 * there is no room above). Boxes are rescaled when dets->image_width/height
 * are set and differ from the image's; non-finite coordinates are skipped. */
void specx_draw_detections(specx_image *img, const specx_detections *dets, specx_rgb colour,
                           int thickness, int text_scale);

/* Colour per executor: SPECX_PALETTE_LOCAL for the on-board detector, 0, 1,
 * 2, ... for remote executors (distinct for the first 8, then repeating). */
#define SPECX_PALETTE_LOCAL (-1)
specx_rgb specx_palette_executor(int executor_index);

/* A full-width strip at the top with printf-formatted text, e.g.
 * "frame 12  winner: cloud-a  42 ms". Returns the strip height. */
int specx_draw_banner(specx_image *img, int scale, specx_rgb fg, specx_rgb bg, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A legend in the bottom-left corner: a colour swatch and a name per row. */
void specx_draw_legend(specx_image *img, const char *const *names, const specx_rgb *colours,
                       size_t n, int scale);

#ifdef __cplusplus
}
#endif
#endif
