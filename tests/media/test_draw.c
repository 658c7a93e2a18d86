/* test_draw.c — pixel-exact checks of fills, outlines, the bitmap font,
 * labels, detection overlays, palette, banner and legend, and clipping at
 * and far beyond the image borders. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "specx/draw.h"

static const specx_rgb RED = {255, 0, 0};
static const specx_rgb GREEN = {0, 255, 0};
static const specx_rgb BLUE = {0, 0, 255};
static const specx_rgb WHITE = {255, 255, 255};

static void new_image(specx_image *img, int w, int h, uint8_t grey)
{
    assert_int_equal(specx_image_alloc(img, w, h), SPECX_OK);
    memset(img->data, grey, (size_t)img->stride * (size_t)h);
}

static specx_rgb at(const specx_image *img, int x, int y)
{
    assert_true(x >= 0 && y >= 0 && x < img->width && y < img->height);
    const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
    return (specx_rgb){p[0], p[1], p[2]};
}

static int is(const specx_image *img, int x, int y, specx_rgb c)
{
    specx_rgb p = at(img, x, y);
    return p.r == c.r && p.g == c.g && p.b == c.b;
}

static int count_colour(const specx_image *img, specx_rgb c)
{
    int n = 0;
    for (int y = 0; y < img->height; y++) {
        for (int x = 0; x < img->width; x++) {
            n += is(img, x, y, c);
        }
    }
    return n;
}

#define ASSERT_PX(img, x, y, c)                                                                    \
    do {                                                                                           \
        specx_rgb got_ = at((img), (x), (y));                                                      \
        if (got_.r != (c).r || got_.g != (c).g || got_.b != (c).b) {                               \
            fail_msg("pixel (%d,%d) is %d,%d,%d, expected %d,%d,%d", (x), (y), got_.r, got_.g,     \
                     got_.b, (c).r, (c).g, (c).b);                                                 \
        }                                                                                          \
    } while (0)

static void test_fill_and_clip(void **state)
{
    (void)state;
    specx_image img;
    new_image(&img, 40, 30, 0);
    specx_draw_fill(&img, 12, 8, 5, 3, RED); /* corners in either order */
    assert_int_equal(count_colour(&img, RED), 8 * 6);
    ASSERT_PX(&img, 5, 3, RED);
    ASSERT_PX(&img, 12, 8, RED);
    assert_false(is(&img, 13, 8, RED));
    assert_false(is(&img, 5, 9, RED));

    /* Partly outside: only the inside part, no wrap into the next row. */
    specx_draw_fill(&img, 35, -4, 60, 2, GREEN);
    assert_int_equal(count_colour(&img, GREEN), 5 * 3);
    ASSERT_PX(&img, 39, 0, GREEN);
    assert_false(is(&img, 0, 1, GREEN));

    /* Entirely outside, and extreme values. */
    specx_draw_fill(&img, 40, 0, 100, 10, BLUE);
    specx_draw_fill(&img, -10, -10, -1, -1, BLUE);
    specx_draw_fill(&img, 0, 30, 10, INT_MAX, BLUE);
    assert_int_equal(count_colour(&img, BLUE), 0);
    specx_draw_fill(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, BLUE);
    assert_int_equal(count_colour(&img, BLUE), 40 * 30);
    specx_draw_fill(NULL, 0, 0, 1, 1, BLUE);
    specx_image_clear(&img);
}

static void test_rect(void **state)
{
    (void)state;
    specx_image img;
    new_image(&img, 50, 40, 0);
    specx_draw_rect(&img, 10, 5, 30, 25, 2, RED);
    ASSERT_PX(&img, 10, 5, RED);
    ASSERT_PX(&img, 30, 25, RED);
    ASSERT_PX(&img, 11, 6, RED);        /* second ring */
    ASSERT_PX(&img, 29, 15, RED);       /* right border, 2 wide */
    assert_false(is(&img, 12, 7, RED)); /* interior untouched */
    assert_false(is(&img, 28, 15, RED));
    assert_false(is(&img, 9, 5, RED)); /* outside untouched */
    assert_false(is(&img, 31, 25, RED));
    /* Perimeter rings: 2 * (21 + 21) - 4 = 80, then 2 * (19 + 19) - 4 = 72. */
    assert_int_equal(count_colour(&img, RED), 80 + 72);

    /* Partly outside: the visible edges only, none wrapping around. */
    specx_image_clear(&img);
    new_image(&img, 50, 40, 0);
    specx_draw_rect(&img, -5, -5, 10, 10, 1, GREEN);
    ASSERT_PX(&img, 10, 0, GREEN);
    ASSERT_PX(&img, 10, 10, GREEN);
    ASSERT_PX(&img, 0, 10, GREEN);
    assert_false(is(&img, 0, 0, GREEN)); /* inside the box */
    assert_false(is(&img, 5, 5, GREEN));
    assert_int_equal(count_colour(&img, GREEN), 11 + 10);
    specx_draw_rect(&img, 45, 35, 80, 90, 3, BLUE); /* only a corner shows */
    ASSERT_PX(&img, 45, 35, BLUE);
    ASSERT_PX(&img, 49, 37, BLUE);
    assert_false(is(&img, 48, 38, BLUE));
    assert_int_equal(count_colour(&img, BLUE), 5 * 3 + 3 * 2);

    /* Thicker than half the box: filled. Extreme coordinates: no crash. */
    specx_draw_rect(&img, 20, 20, 23, 23, 5, WHITE);
    assert_int_equal(count_colour(&img, WHITE), 16);
    specx_draw_rect(&img, INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX, WHITE);
    specx_draw_rect(&img, INT_MIN, 3, INT_MAX, 3, 1, WHITE);
    specx_image_clear(&img);
}

static void test_font(void **state)
{
    (void)state;
    specx_image img;
    new_image(&img, 60, 30, 0);
    int w = specx_draw_text(&img, 10, 10, "A", 1, WHITE);
    assert_int_equal(w, 5);
    /* 'A': .###. / #...# / #...# / ##### / #...# / #...# / #...# */
    assert_false(is(&img, 10, 10, WHITE));
    ASSERT_PX(&img, 11, 10, WHITE);
    ASSERT_PX(&img, 13, 10, WHITE);
    assert_false(is(&img, 14, 10, WHITE));
    for (int x = 10; x <= 14; x++) {
        ASSERT_PX(&img, x, 13, WHITE);
    }
    ASSERT_PX(&img, 10, 16, WHITE);
    assert_false(is(&img, 12, 16, WHITE));
    assert_false(is(&img, 10, 17, WHITE)); /* 7 rows only */
    assert_int_equal(count_colour(&img, WHITE), 3 + 2 * 5 + 5);
    specx_image_clear(&img);

    /* Scale 3: each bit is a 3x3 block. */
    new_image(&img, 60, 30, 0);
    specx_draw_text(&img, 0, 0, "A", 3, WHITE);
    assert_int_equal(count_colour(&img, WHITE), (3 + 2 * 5 + 5) * 9);
    ASSERT_PX(&img, 3, 0, WHITE);
    ASSERT_PX(&img, 5, 2, WHITE);
    assert_false(is(&img, 2, 0, WHITE));
    specx_image_clear(&img);

    int tw, th;
    specx_text_size("AB", 2, &tw, &th);
    assert_int_equal(tw, 2 * 6 * 2 - 2);
    assert_int_equal(th, 8 * 2 - 2);
    specx_text_size("abc\nde", 1, &tw, &th);
    assert_int_equal(tw, 3 * 6 - 1);
    assert_int_equal(th, 2 * 8 - 1);
    specx_text_size("", 1, &tw, &th);
    assert_int_equal(tw, 0);

    /* Every printable glyph but space draws something, and no two glyphs
     * are the same (a typo in the table would likely break one of these). */
    static uint8_t bitmaps[95][35];
    for (int c = 32; c < 127; c++) {
        char s[2] = {(char)c, 0};
        new_image(&img, 5, 7, 0);
        specx_draw_text(&img, 0, 0, s, 1, WHITE);
        int on = 0;
        for (int y = 0; y < 7; y++) {
            for (int x = 0; x < 5; x++) {
                bitmaps[c - 32][y * 5 + x] = (uint8_t)is(&img, x, y, WHITE);
                on += is(&img, x, y, WHITE);
            }
        }
        if ((c == ' ') != (on == 0)) {
            fail_msg("glyph '%c' has %d pixels", c, on);
        }
        specx_image_clear(&img);
    }
    for (int a = 0; a < 95; a++) {
        for (int b = a + 1; b < 95; b++) {
            if (memcmp(bitmaps[a], bitmaps[b], 35) == 0) {
                fail_msg("glyphs '%c' and '%c' are identical", a + 32, b + 32);
            }
        }
    }
    /* Non-ASCII bytes are drawn as '?'. */
    new_image(&img, 5, 7, 0);
    specx_draw_text(&img, 0, 0, "\xe9", 1, WHITE);
    for (int y = 0; y < 7; y++) {
        for (int x = 0; x < 5; x++) {
            assert_int_equal(is(&img, x, y, WHITE), bitmaps['?' - 32][y * 5 + x]);
        }
    }
    specx_image_clear(&img);

    /* Clipped at the borders: a glyph half outside draws its inside half. */
    new_image(&img, 12, 12, 0);
    specx_draw_text(&img, 9, -3, "H", 1, WHITE); /* H: #...# on rows 0-2, 4-6; ##### on row 3 */
    ASSERT_PX(&img, 9, 0, WHITE);                /* row 3 of the glyph */
    ASSERT_PX(&img, 11, 0, WHITE);               /* row 3, column 2 */
    ASSERT_PX(&img, 9, 3, WHITE);                /* row 6 */
    assert_false(is(&img, 10, 1, WHITE));
    assert_int_equal(count_colour(&img, WHITE), 3 + 3);
    specx_draw_text(&img, INT_MAX, INT_MIN, "clipped away", 64, WHITE);
    specx_draw_text(&img, -100000, 0, "far left", 2, WHITE);
    assert_int_equal(count_colour(&img, WHITE), 6);
    specx_image_clear(&img);
}

static void test_label_and_contrast(void **state)
{
    (void)state;
    specx_image img;
    new_image(&img, 80, 40, 0);
    int h = specx_draw_label(&img, 4, 6, "Hi", 2, WHITE, BLUE);
    assert_int_equal(h, 14 + 4);
    /* Box: (4,6) to (4 + 22 + 4 - 1, 6 + 18 - 1). */
    ASSERT_PX(&img, 4, 6, BLUE);
    ASSERT_PX(&img, 29, 23, BLUE);
    assert_false(is(&img, 30, 23, BLUE));
    assert_false(is(&img, 29, 24, BLUE));
    ASSERT_PX(&img, 6, 8, WHITE); /* 'H' top-left pixel after 2 px padding */
    assert_int_equal(count_colour(&img, BLUE) + count_colour(&img, WHITE), 26 * 18);
    specx_image_clear(&img);

    specx_rgb c = specx_rgb_contrast(WHITE);
    assert_true(c.r == 0 && c.g == 0 && c.b == 0);
    c = specx_rgb_contrast((specx_rgb){0, 0, 128});
    assert_true(c.r == 255);
    c = specx_rgb_contrast((specx_rgb){255, 215, 0});
    assert_true(c.r == 0);
}

static specx_detection det(const char *label, float score, float x0, float y0, float x1, float y1)
{
    specx_detection d = {
        .class_id = 2, .score = score, .xmin = x0, .ymin = y0, .xmax = x1, .ymax = y1};
    snprintf(d.label, sizeof d.label, "%s", label);
    return d;
}

/* The label the overlay should have drawn, rendered on its own. */
static void assert_label_at(const specx_image *img, int x, int y, const char *text, specx_rgb bg)
{
    specx_image ref;
    int tw, th;
    specx_text_size(text, 1, &tw, &th);
    new_image(&ref, tw + 2, th + 2, 0);
    specx_draw_label(&ref, 0, 0, text, 1, specx_rgb_contrast(bg), bg);
    for (int yy = 0; yy < ref.height; yy++) {
        for (int xx = 0; xx < ref.width; xx++) {
            specx_rgb want = at(&ref, xx, yy);
            if (!is(img, x + xx, y + yy, want)) {
                fail_msg("label '%s' at (%d,%d) differs at +%d,+%d", text, x, y, xx, yy);
            }
        }
    }
    specx_image_clear(&ref);
}

static void test_detections(void **state)
{
    (void)state;
    specx_image img;
    new_image(&img, 200, 100, 0);
    specx_detections ds;
    specx_detections_init(&ds);
    specx_detection d = det("car", 0.87f, 20, 30, 80, 90);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    d = det("person", 0.5f, 150, 2, 190, 40); /* near the top: label inside */
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    d = det("", 0.333f, 120, 60, 140, 70); /* no label: class id */
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    specx_rgb col = specx_palette_executor(0);
    specx_draw_detections(&img, &ds, col, 2, 1);

    ASSERT_PX(&img, 20, 60, col); /* left edge */
    ASSERT_PX(&img, 21, 60, col);
    assert_false(is(&img, 22, 60, col));
    ASSERT_PX(&img, 80, 90, col);
    assert_false(is(&img, 50, 60, col));
    /* "car 87%": 7 chars -> 41 px wide, 7 high; box 43 x 9 just above. */
    assert_label_at(&img, 20, 30 - 9, "car 87%", col);
    assert_false(is(&img, 20, 30 - 10, col));
    /* "person 50%" would stick out of the image on the right and over the
     * top: moved left to fit, placed inside the box top. */
    assert_label_at(&img, 200 - (10 * 6 - 1 + 2), 2, "person 50%", col);
    assert_label_at(&img, 120, 60 - 9, "class 2 33%", col);
    specx_image_clear(&img);

    /* Boxes given for a 400x200 image land scaled on a 200x100 one. */
    new_image(&img, 200, 100, 0);
    specx_detections_reset(&ds);
    ds.image_width = 400;
    ds.image_height = 200;
    d = det("bus", 1.0f, 40, 60, 160, 180);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    specx_draw_detections(&img, &ds, RED, 1, 1);
    ASSERT_PX(&img, 20, 60, RED);
    ASSERT_PX(&img, 80, 90, RED);
    assert_false(is(&img, 40, 70, RED)); /* where the unscaled box would be */
    assert_label_at(&img, 20, 30 - 9, "bus 100%", RED);
    specx_image_clear(&img);

    /* Partly outside, non-finite and absurd boxes: clipped or skipped. */
    new_image(&img, 64, 48, 0);
    specx_detections_reset(&ds);
    ds.image_width = ds.image_height = 0;
    d = det("dog", 0.9f, -50, -50, 30, 30);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    specx_draw_detections(&img, &ds, GREEN, 3, 2);
    ASSERT_PX(&img, 30, 40 / 2, GREEN); /* right edge of the dog box */
    ASSERT_PX(&img, 28, 30, GREEN);     /* bottom edge, 3 thick */
    assert_false(is(&img, 29, 31, GREEN));
    assert_false(is(&img, 40, 40, GREEN));
    ASSERT_PX(&img, 0, 0, GREEN); /* its label, pushed inside the image */
    specx_image_clear(&img);

    /* Nothing visible, nothing drawn: no stray labels at the border. */
    new_image(&img, 64, 48, 0);
    specx_detections_reset(&ds);
    d = det("nan", 0.9f, NAN, 1, 2, 3);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    d = det("inf", INFINITY, -INFINITY, 1, 2, 3);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    d = det("huge", -4.0f, 1e30f, -1e30f, 3e38f, 1e20f);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    d = det("below", 0.5f, 10, 50, 20, 60);
    assert_int_equal(specx_detections_push(&ds, &d), SPECX_OK);
    specx_draw_detections(&img, &ds, GREEN, 3, 2);
    assert_int_equal(count_colour(&img, GREEN), 0);
    specx_image_clear(&img);
    specx_detections_clear(&ds);
}

static void test_palette_banner_legend(void **state)
{
    (void)state;
    specx_rgb pal[9];
    pal[0] = specx_palette_executor(SPECX_PALETTE_LOCAL);
    for (int i = 0; i < 8; i++) {
        pal[i + 1] = specx_palette_executor(i);
    }
    for (int a = 0; a < 9; a++) {
        for (int b = a + 1; b < 9; b++) {
            int dist =
                abs(pal[a].r - pal[b].r) + abs(pal[a].g - pal[b].g) + abs(pal[a].b - pal[b].b);
            if (dist < 80) {
                fail_msg("palette entries %d and %d are too close", a - 1, b - 1);
            }
        }
    }
    specx_rgb again = specx_palette_executor(8);
    assert_memory_equal(&again, &pal[1], sizeof again);

    specx_image img;
    new_image(&img, 300, 80, 50);
    int h =
        specx_draw_banner(&img, 2, WHITE, BLUE, "frame %d  winner: %s  %d ms", 12, "cloud-a", 42);
    assert_int_equal(h, 7 * 2 + 2 * 2);
    ASSERT_PX(&img, 299, 0, BLUE);
    ASSERT_PX(&img, 299, h - 1, BLUE);
    ASSERT_PX(&img, 0, 0, BLUE);
    ASSERT_PX(&img, 0, h, ((specx_rgb){50, 50, 50}));
    /* 'f' of "frame" starts at x = 4: its top row ..##. at scale 2. */
    ASSERT_PX(&img, 4 + 2 * 2, 2, WHITE);
    assert_true(count_colour(&img, WHITE) > 100);
    specx_image_clear(&img);

    new_image(&img, 120, 60, 50);
    const char *names[] = {"local", "cloud-a"};
    specx_rgb cols[] = {pal[0], pal[1]};
    specx_draw_legend(&img, names, cols, 2, 1);
    /* Box height 2 * 9 + 1 = 19 at the bottom; swatches 7x7 at x = 2. */
    ASSERT_PX(&img, 0, 59, ((specx_rgb){0, 0, 0}));
    ASSERT_PX(&img, 0, 60 - 19, ((specx_rgb){0, 0, 0}));
    ASSERT_PX(&img, 0, 60 - 20, ((specx_rgb){50, 50, 50}));
    ASSERT_PX(&img, 2, 60 - 19 + 2, pal[0]);
    ASSERT_PX(&img, 8, 60 - 19 + 8, pal[0]);
    ASSERT_PX(&img, 2, 60 - 19 + 11, pal[1]);
    assert_int_equal(count_colour(&img, pal[0]), 49);
    assert_true(count_colour(&img, WHITE) > 40);
    specx_image_clear(&img);

    /* A legend taller than the image is clipped, not a crash. */
    new_image(&img, 20, 10, 0);
    specx_draw_legend(&img, names, cols, 2, 4);
    specx_image_clear(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_and_clip), cmocka_unit_test(test_rect),
        cmocka_unit_test(test_font),          cmocka_unit_test(test_label_and_contrast),
        cmocka_unit_test(test_detections),    cmocka_unit_test(test_palette_banner_legend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
