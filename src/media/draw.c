/* draw.c — rectangles, a 5x7 bitmap font, detection overlays, banner, legend.
 *
 * Design notes:
 * - Everything funnels into fill(), which clips; callers never need to.
 * - Coordinates are clamped to +-2^24 before any arithmetic so that boxes
 *   from a misbehaving remote detector (1e30, INT_MAX) cannot overflow.
 * - The font is our own 5x7 table for printable ASCII: 7 rows per glyph,
 *   bit 4 is the leftmost column. Scaling draws each bit as an s x s block. */
#include "specx/draw.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define COORD_LIMIT (1 << 24)
#define GLYPH_W 5
#define GLYPH_H 7

static const uint8_t font5x7[95][GLYPH_H] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}, /* # */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d}, /* & */
    {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}, /* quote */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, /* 0 */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 1 */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, /* 2 */
    {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}, /* 3 */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, /* 4 */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, /* 5 */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, /* 6 */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, /* 8 */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, /* 9 */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, /* : */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0e, 0x11, 0x01, 0x0d, 0x15, 0x15, 0x0e}, /* @ */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* A */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}, /* B */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, /* C */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}, /* D */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}, /* E */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}, /* F */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}, /* G */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* H */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}, /* L */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* O */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}, /* P */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}, /* Q */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}, /* R */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}, /* S */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}, /* W */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04}, /* Y */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}, /* Z */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* backslash */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}, /* ] */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}, /* b */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}, /* c */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}, /* d */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}, /* e */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* l */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}, /* o */
    {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}, /* s */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}, /* w */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* y */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int clamp_coord(int v)
{
    return clampi(v, -COORD_LIMIT, COORD_LIMIT);
}

/* Swaps so that *lo <= *hi. */
static void order2(int *lo, int *hi)
{
    if (*lo > *hi) {
        int t = *lo;
        *lo = *hi;
        *hi = t;
    }
}

void specx_draw_fill(specx_image *img, int x0, int y0, int x1, int y1, specx_rgb c)
{
    if (img == NULL || img->data == NULL || img->width < 1 || img->height < 1) {
        return;
    }
    order2(&x0, &x1);
    order2(&y0, &y1);
    if (x1 < 0 || y1 < 0 || x0 >= img->width || y0 >= img->height) {
        return;
    }
    x0 = clampi(x0, 0, img->width - 1);
    x1 = clampi(x1, 0, img->width - 1);
    y0 = clampi(y0, 0, img->height - 1);
    y1 = clampi(y1, 0, img->height - 1);
    for (int y = y0; y <= y1; y++) {
        uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x0 * 3;
        for (int x = x0; x <= x1; x++, p += 3) {
            p[0] = c.r;
            p[1] = c.g;
            p[2] = c.b;
        }
    }
}

void specx_draw_rect(specx_image *img, int x0, int y0, int x1, int y1, int thickness, specx_rgb c)
{
    x0 = clamp_coord(x0), y0 = clamp_coord(y0), x1 = clamp_coord(x1), y1 = clamp_coord(y1);
    order2(&x0, &x1);
    order2(&y0, &y1);
    int t = clampi(thickness, 1, COORD_LIMIT);
    /* A border thicker than half the box is the whole box. */
    if (2 * t > x1 - x0 || 2 * t > y1 - y0) {
        specx_draw_fill(img, x0, y0, x1, y1, c);
        return;
    }
    specx_draw_fill(img, x0, y0, x1, y0 + t - 1, c);
    specx_draw_fill(img, x0, y1 - t + 1, x1, y1, c);
    specx_draw_fill(img, x0, y0 + t, x0 + t - 1, y1 - t, c);
    specx_draw_fill(img, x1 - t + 1, y0 + t, x1, y1 - t, c);
}

static const uint8_t *glyph(unsigned char ch)
{
    if (ch < 32 || ch > 126) {
        ch = '?';
    }
    return font5x7[ch - 32];
}

static int fix_scale(int scale)
{
    return clampi(scale, 1, 64);
}

void specx_text_size(const char *text, int scale, int *width, int *height)
{
    int s = fix_scale(scale);
    int lines = 1, cols = 0, max_cols = 0;
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\n') {
            lines++;
            cols = 0;
            continue;
        }
        cols++;
        if (cols > max_cols) {
            max_cols = cols;
        }
    }
    /* The last column and row of spacing are not part of the text. */
    if (width != NULL) {
        *width = max_cols ? max_cols * SPECX_FONT_CELL_W * s - s : 0;
    }
    if (height != NULL) {
        *height = lines * SPECX_FONT_CELL_H * s - s;
    }
}

int specx_draw_text(specx_image *img, int x, int y, const char *text, int scale, specx_rgb fg)
{
    int s = fix_scale(scale);
    x = clamp_coord(x);
    y = clamp_coord(y);
    int cx = x, cy = y;
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '\n') {
            cx = x;
            cy = clamp_coord(cy + SPECX_FONT_CELL_H * s);
            continue;
        }
        int visible = img != NULL && cx < img->width && cx + GLYPH_W * s > 0 && cy < img->height &&
                      cy + GLYPH_H * s > 0;
        if (visible) {
            const uint8_t *g = glyph((unsigned char)*p);
            for (int r = 0; r < GLYPH_H; r++) {
                for (int col = 0; col < GLYPH_W; col++) {
                    if (g[r] & (0x10 >> col)) {
                        int px = cx + col * s, py = cy + r * s;
                        specx_draw_fill(img, px, py, px + s - 1, py + s - 1, fg);
                    }
                }
            }
        }
        cx = clamp_coord(cx + SPECX_FONT_CELL_W * s);
    }
    int w = 0;
    specx_text_size(text, s, &w, NULL);
    return w;
}

specx_rgb specx_rgb_contrast(specx_rgb bg)
{
    int luma = 299 * bg.r + 587 * bg.g + 114 * bg.b; /* x1000 */
    return luma > 140000 ? (specx_rgb){0, 0, 0} : (specx_rgb){255, 255, 255};
}

int specx_draw_label(specx_image *img, int x, int y, const char *text, int scale, specx_rgb fg,
                     specx_rgb bg)
{
    int s = fix_scale(scale);
    int tw = 0, th = 0;
    specx_text_size(text, s, &tw, &th);
    x = clamp_coord(x);
    y = clamp_coord(y);
    int bw = tw + 2 * s, bh = th + 2 * s;
    specx_draw_fill(img, x, y, x + bw - 1, y + bh - 1, bg);
    specx_draw_text(img, x + s, y + s, text, s, fg);
    return bh;
}

/* Float pixel coordinate to int: NaN/inf rejected, huge values clamped. */
static int to_coord(float v, double scale, int *out)
{
    double d = (double)v * scale;
    if (!isfinite(d)) {
        return 0;
    }
    if (d > COORD_LIMIT) {
        d = COORD_LIMIT;
    } else if (d < -COORD_LIMIT) {
        d = -COORD_LIMIT;
    }
    *out = (int)lround(d);
    return 1;
}

void specx_draw_detections(specx_image *img, const specx_detections *dets, specx_rgb colour,
                           int thickness, int text_scale)
{
    if (img == NULL || img->data == NULL || dets == NULL) {
        return;
    }
    double sx = 1.0, sy = 1.0;
    if (dets->image_width > 0 && dets->image_height > 0 &&
        (dets->image_width != img->width || dets->image_height != img->height)) {
        sx = (double)img->width / dets->image_width;
        sy = (double)img->height / dets->image_height;
    }
    int s = fix_scale(text_scale);
    specx_rgb fg = specx_rgb_contrast(colour);
    for (size_t i = 0; i < dets->count; i++) {
        const specx_detection *d = &dets->items[i];
        int x0, y0, x1, y1;
        if (!to_coord(d->xmin, sx, &x0) || !to_coord(d->ymin, sy, &y0) ||
            !to_coord(d->xmax, sx, &x1) || !to_coord(d->ymax, sy, &y1)) {
            continue;
        }
        order2(&x0, &x1);
        order2(&y0, &y1);
        /* Nothing of the box is visible: no stray label at the border. */
        if (x1 < 0 || y1 < 0 || x0 >= img->width || y0 >= img->height) {
            continue;
        }
        specx_draw_rect(img, x0, y0, x1, y1, thickness, colour);

        char text[SPECX_LABEL_MAX + 16];
        float score = isfinite(d->score) ? d->score : 0.0f;
        long pct = lround(fmin(fmax((double)score, 0.0), 1.0) * 100.0);
        if (d->label[0] != '\0') {
            snprintf(text, sizeof text, "%.*s %ld%%", SPECX_LABEL_MAX - 1, d->label, pct);
        } else {
            snprintf(text, sizeof text, "class %d %ld%%", d->class_id, pct);
        }
        int tw = 0, th = 0;
        specx_text_size(text, s, &tw, &th);
        int bw = tw + 2 * s, bh = th + 2 * s;
        /* Above the box, or just inside its top edge when it touches the
         * image top; kept inside the image horizontally when it fits. */
        int lx = x0, ly = y0 - bh;
        if (ly < 0) {
            ly = y0 < 0 ? 0 : y0;
        }
        if (lx + bw > img->width) {
            lx = img->width - bw;
        }
        if (lx < 0) {
            lx = 0;
        }
        specx_draw_label(img, lx, ly, text, s, fg, colour);
    }
}

specx_rgb specx_palette_executor(int executor_index)
{
    static const specx_rgb remote[8] = {
        {255, 140, 0},   /* orange */
        {30, 144, 255},  /* blue */
        {220, 20, 220},  /* magenta */
        {255, 255, 0},   /* yellow */
        {0, 206, 209},   /* turquoise */
        {220, 20, 60},   /* crimson */
        {160, 82, 45},   /* brown */
        {180, 180, 180}, /* grey */
    };
    if (executor_index < 0) {
        return (specx_rgb){0, 200, 0}; /* local: green */
    }
    return remote[executor_index % 8];
}

int specx_draw_banner(specx_image *img, int scale, specx_rgb fg, specx_rgb bg, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): clang-14 false positive
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* One line: the banner is a status strip, not a text box. */
    char *nl = strchr(text, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    int s = fix_scale(scale);
    int th = 0;
    specx_text_size(text, s, NULL, &th);
    int h = th + 2 * s;
    if (img != NULL) {
        specx_draw_fill(img, 0, 0, img->width - 1, h - 1, bg);
        specx_draw_text(img, 2 * s, s, text, s, fg);
    }
    return h;
}

void specx_draw_legend(specx_image *img, const char *const *names, const specx_rgb *colours,
                       size_t n, int scale)
{
    if (img == NULL || names == NULL || colours == NULL || n == 0) {
        return;
    }
    int s = fix_scale(scale);
    int row_h = SPECX_FONT_CELL_H * s + s; /* text height 7s plus 2s gap */
    int sw = GLYPH_H * s;                  /* swatch side = text height */
    int max_w = 0;
    for (size_t i = 0; i < n; i++) {
        int w = 0;
        specx_text_size(names[i], s, &w, NULL);
        if (w > max_w) {
            max_w = w;
        }
    }
    int rows = n > 1000 ? 1000 : (int)n;
    int box_w = 2 * s + sw + 2 * s + max_w + 2 * s;
    int box_h = rows * row_h + s;
    int x0 = 0, y0 = img->height - box_h;
    specx_draw_fill(img, x0, y0, x0 + box_w - 1, img->height - 1, (specx_rgb){0, 0, 0});
    for (int i = 0; i < rows; i++) {
        int y = y0 + s + i * row_h + s;
        specx_draw_fill(img, x0 + 2 * s, y, x0 + 2 * s + sw - 1, y + sw - 1, colours[i]);
        specx_draw_text(img, x0 + 4 * s + sw, y, names[i], s, (specx_rgb){255, 255, 255});
    }
}
