/* test_report.c — the sweep results writers. Group "files": results.json
 * round-trips, results.csv has one row per run, report.html holds the SVG
 * plots, and the SVG writer's pieces. Group "chromium": headless Chromium
 * loads report.html; its DOM must hold the plots and its screenshot must
 * show the plot colours (exit 77 = skipped when Chromium is absent).
 * Usage: test_report files|chromium */
#include <cjson/cJSON.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/eval.h"

#include "svgplot.h"

#define CHROMIUM "/usr/bin/chromium"
#define SKIP_CODE 77

static char g_dir[256];

/* 3 modes × 4 deadlines × 3 repeats × 120 frames, two executors. */
static void make_results(specx_eval_results *r)
{
    specx_err err;
    assert_int_equal(specx_eval_results_init(r, 3, 4, 3, 2, &err), SPECX_OK);
    snprintf(r->title, sizeof r->title, "test sweep <&> \"quoted\"");
    snprintf(r->notes, sizeof r->notes, "dataset: synthetic\nprofile: 5g-sf, seed 1");
    const char *modes[] = {"local", "cloud", "speculative"};
    for (int m = 0; m < 3; m++) {
        snprintf(r->modes[m], sizeof r->modes[m], "%s", modes[m]);
    }
    snprintf(r->executors[0], sizeof r->executors[0], "local");
    snprintf(r->executors[1], sizeof r->executors[1], "cloud-xl");
    const double dl[] = {50, 100, 200, 400};
    uint64_t x = 12345;
    for (size_t d = 0; d < 4; d++) {
        r->deadlines_ms[d] = dl[d];
        for (size_t k = 0; k < 3; k++) {
            for (size_t m = 0; m < 3; m++) {
                specx_eval_run *run = specx_eval_results_run(r, m, d, k);
                assert_int_equal(specx_eval_run_frames(run, 120, &err), SPECX_OK);
                double cloud_share = fmin(1.0, dl[d] / 400.0);
                run->map50 = m == 0   ? 0.358 + 0.002 * (double)k
                             : m == 1 ? 0.43 * cloud_share + 0.003 * (double)k
                                      : 0.358 + (0.43 - 0.358) * cloud_share + 0.002 * (double)k;
                run->map = run->map50 * 0.55;
                for (size_t i = 0; i < 120; i++) {
                    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
                    double u = (double)(x >> 11) / 9007199254740992.0;
                    double cloud_lat = 40.0 * exp(1.2 * (u - 0.5) * 2.0);
                    bool cloud_in_time = cloud_lat <= dl[d];
                    if (m == 0) {
                        run->latency_ms[i] = 90 + 10 * u;
                        run->winner[i] = 0;
                    } else if (m == 1) {
                        run->latency_ms[i] = cloud_in_time ? cloud_lat : NAN;
                        run->winner[i] = cloud_in_time ? 1 : -1;
                    } else {
                        run->latency_ms[i] = cloud_in_time ? cloud_lat : fmax(dl[d], 95.0);
                        run->winner[i] = cloud_in_time ? 1 : 0;
                    }
                }
            }
        }
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void path_in_dir(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", g_dir, name);
}

static void test_json_csv(void **state)
{
    (void)state;
    specx_eval_results r;
    make_results(&r);
    char jp[512], cp[512];
    path_in_dir(jp, sizeof jp, "results.json");
    path_in_dir(cp, sizeof cp, "results.csv");
    specx_err err = {{0}};
    assert_int_equal(specx_eval_write_json(&r, jp, &err), SPECX_OK);
    assert_int_equal(specx_eval_write_csv(&r, cp, &err), SPECX_OK);

    char *js = slurp(jp);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "modes")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "deadlines_ms")), 4);
    cJSON *runs = cJSON_GetObjectItem(root, "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 3 * 4 * 3);
    /* Run order is mode, deadline, repeat: item 1·4·3 + 0·3 + 1 is cloud at
     * 50 ms, repeat 1 (where some frames have no result). */
    cJSON *one = cJSON_GetArrayItem(runs, 12 + 0 + 1);
    assert_string_equal(cJSON_GetObjectItem(one, "mode")->valuestring, "cloud");
    assert_true(cJSON_GetObjectItem(one, "deadline_ms")->valuedouble == 50.0);
    const specx_eval_run *src = specx_eval_results_run(&r, 1, 0, 1);
    assert_true(fabs(cJSON_GetObjectItem(one, "map50")->valuedouble - src->map50) < 1e-9);
    cJSON *wins = cJSON_GetObjectItem(one, "frame_winner");
    assert_int_equal(cJSON_GetArraySize(wins), 120);
    size_t no_result = 0;
    for (int i = 0; i < 120; i++) {
        assert_int_equal(cJSON_GetArrayItem(wins, i)->valueint, src->winner[i]);
        no_result += src->winner[i] < 0;
        /* Frames without output are null latencies, not NaN (invalid JSON). */
        cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(one, "frame_latency_ms"), i);
        assert_true(src->winner[i] < 0 ? cJSON_IsNull(l) : cJSON_IsNumber(l));
    }
    assert_true(no_result > 0);
    assert_true(cJSON_GetObjectItem(one, "no_result")->valuedouble == (double)no_result);
    cJSON_Delete(root);
    free(js);

    char *csv = slurp(cp);
    assert_int_equal(count(csv, "\n"), 1 + 36);
    assert_non_null(strstr(csv, "mode,deadline_ms,repeat,map50,map,frames,"));
    assert_non_null(strstr(csv, ",won_local,won_cloud-xl\n"));
    assert_non_null(strstr(csv, "\nspeculative,400,2,"));
    free(csv);
    unlink(jp);
    unlink(cp);
    specx_eval_results_free(&r);

    /* Errors: bad shape, unwritable path. */
    assert_int_equal(specx_eval_results_init(&r, 0, 1, 1, 1, &err), SPECX_EINVAL);
    make_results(&r);
    assert_int_equal(specx_eval_write_csv(&r, "/nonexistent/dir/x.csv", &err), SPECX_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.csv"));
    assert_null(specx_eval_results_run(&r, 3, 0, 0));
    specx_eval_results_free(&r);
}

static void test_html_structure(void **state)
{
    (void)state;
    specx_eval_results r;
    make_results(&r);
    char hp[512];
    path_in_dir(hp, sizeof hp, "report.html");
    specx_err err = {{0}};
    assert_int_equal(specx_eval_write_report(&r, hp, &err), SPECX_OK);
    char *h = slurp(hp);
    assert_null(strstr(h, "<script"));
    /* Self-contained: the only URL is the SVG namespace. */
    assert_int_equal(count(h, "http"), count(h, "http://www.w3.org/2000/svg"));
    assert_non_null(strstr(h, "test sweep &lt;&amp;&gt; &quot;quoted&quot;"));
    /* 2 accuracy plots + 4 CDF panels, 4 strip panels. */
    assert_int_equal(count(h, "<svg "), 2 + 4 + 4);
    assert_int_equal(count(h, "class=\"series\""), 3 * (2 + 4));
    assert_int_equal(count(h, "class=\"errbar\""), 2 * 3 * 4); /* repeats > 1 */
    assert_true(count(h, "class=\"strip-cell\"") > 4 * 3);
    assert_non_null(strstr(h, "won by cloud-xl"));
    free(h);
    unlink(hp);
    specx_eval_results_free(&r);
}

static void test_svg_pieces(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double x[] = {1, 10, 100, 1000}, y[] = {0.1, 0.2, 0.3, 0.4};
    sx_svg_series s = {.name = "a<b", .color = "#123456", .n = 4, .x = x, .y = y};
    sx_svg_axes ax = {
        .title = "t", .xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN, .xlog = true};
    sx_svg_line_plot(f, 600, 300, &ax, &s, 1);
    fclose(f);
    assert_non_null(strstr(buf, "data-name=\"a&lt;b\""));
    /* A log axis labels the decades. */
    assert_non_null(strstr(buf, ">10</text>"));
    assert_non_null(strstr(buf, ">1000</text>"));
    free(buf);

    /* Strips merge runs: 0 0 0 1 1 -1 → three cells. */
    f = open_memstream(&buf, &len);
    int cats[] = {0, 0, 0, 1, 1, -1};
    sx_svg_strip row = {.label = "m", .n = 6, .cat = cats};
    const char *names[] = {"x", "y"}, *colors[] = {"#111111", "#222222"};
    sx_svg_strips(f, 500, "s", &row, 1, names, colors, 2, "none", "#bbbbbb");
    fclose(f);
    assert_int_equal(count(buf, "class=\"strip-cell\""), 3);
    assert_non_null(strstr(buf, "fill=\"#bbbbbb\"><title>frames 5-5"));
    free(buf);

    /* A CDF ends at 1 and skips NaN. */
    f = open_memstream(&buf, &len);
    double v[] = {3, NAN, 1, 2};
    sx_svg_cdf_set set = {.name = "c", .color = "#333333", .values = v, .n = 4};
    sx_svg_axes cax = {.xmin = 0, .xmax = NAN, .ymin = 0, .ymax = 1};
    assert_true(sx_svg_cdf(f, 400, 200, &cax, &set, 1));
    fclose(f);
    assert_int_equal(count(buf, " V"), 3); /* one rise per finite value */
    /* 3 of 4 values finite: the curve tops out at 0.75. The plot area runs
     * from y=34 (1.0) to y=152 (0.0), so 0.75 sits at y=63.5. */
    assert_non_null(strstr(buf, " V63.5"));
    assert_null(strstr(buf, " V34.0"));
    free(buf);
}

/* Bands: one closed polygon per run of points with both bounds (a NaN bound
 * splits it), under the lines; a log y axis skips values <= 0 and labels
 * decades; the zero line. */
static void test_svg_bands(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    double x[] = {10, 20, 50, 100, 200}, y[] = {0.1, 0.2, 0.3, 0.35, 0.4};
    double lo[] = {0.05, 0.15, NAN, 0.3, 0.35}, hi[] = {0.15, 0.25, NAN, 0.4, 0.45};
    sx_svg_series s = {
        .name = "m", .color = "#0072B2", .n = 5, .x = x, .y = y, .band_lo = lo, .band_hi = hi};
    sx_svg_axes ax = {
        .xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN, .xlog = true, .zero_line = true};
    sx_svg_line_plot(f, 600, 300, &ax, &s, 1);
    fclose(f);
    assert_int_equal(count(buf, "class=\"band\""), 2);
    assert_int_equal(count(buf, "Z\"/>"), 2);
    const char *band = strstr(buf, "class=\"band\""), *line = strstr(buf, "class=\"series\"");
    assert_true(band != NULL && line != NULL && band < line);
    assert_non_null(strstr(buf, "class=\"zero\""));
    free(buf);

    f = open_memstream(&buf, &len);
    double ly[] = {5, 50, 0, 500, 2000};
    sx_svg_series ls = {.name = "lat", .color = "#D55E00", .n = 5, .x = x, .y = ly, .dashed = true};
    sx_svg_axes lax = {.xmin = NAN, .xmax = NAN, .ymin = NAN, .ymax = NAN, .ylog = true};
    sx_svg_line_plot(f, 600, 300, &lax, &ls, 1);
    fclose(f);
    assert_non_null(strstr(buf, ">1000</text>"));
    assert_non_null(strstr(buf, ">10</text>"));
    assert_non_null(strstr(buf, "stroke-dasharray"));
    /* four points drawn: the 0 is left out of the path (M + 3 L) */
    const char *d = strstr(strstr(buf, "class=\"series\""), " d=\"");
    assert_non_null(d);
    const char *end = strchr(d + 4, '"');
    size_t ls_count = 0;
    for (const char *p = d; p < end; p++) {
        ls_count += *p == 'L';
    }
    assert_int_equal(ls_count, 3);
    free(buf);
}

/* With intervals (cells and gains), the report draws bands instead of
 * min–max bars and adds the gain and latency plots; summary.csv has a row
 * per cell and three per deadline; the SVG files are written; results.json
 * carries "summary". The numbers here are set by hand. */
static void test_report_with_cells(void **state)
{
    (void)state;
    specx_eval_results r;
    make_results(&r);
    r.cells = calloc(3 * 4, sizeof *r.cells);
    r.gains = calloc(4, sizeof *r.gains);
    r.boot_samples = 100;
    r.ci_level = 0.95;
    for (size_t i = 0; i < 12; i++) {
        specx_eval_cell *c = &r.cells[i];
        double v = 0.3 + 0.01 * (double)i;
        c->map50 = (specx_eval_ci){v, v - 0.02, v + 0.02};
        c->map = (specx_eval_ci){v / 2, NAN, NAN};
        c->latency_p50 = (specx_eval_ci){20 + (double)i, 19, 30};
        c->latency_p90 = (specx_eval_ci){40 + (double)i, 35, 50};
        c->latency_p99 = (specx_eval_ci){90, 80, 99};
        c->won[0] = (specx_eval_ci){0.5, 0.4, 0.6};
        c->won[1] = (specx_eval_ci){0.5, 0.4, 0.6};
    }
    for (size_t d = 0; d < 4; d++) {
        r.gains[d].vs_best = (specx_eval_ci){0.01 * (double)d - 0.01, -0.02, 0.04};
    }
    assert_int_equal(specx_eval_results_mode(&r, "speculative"), 2);
    assert_int_equal(specx_eval_results_mode(&r, "nope"), -1);
    assert_ptr_equal(specx_eval_results_cell(&r, 2, 3), &r.cells[11]);
    assert_null(specx_eval_results_cell(&r, 3, 0));
    char hp[512];
    path_in_dir(hp, sizeof hp, "report.html");
    specx_err err = {{0}};
    assert_int_equal(specx_eval_write_report(&r, hp, &err), SPECX_OK);
    char *h = slurp(hp);
    assert_int_equal(count(h, "class=\"errbar\""), 0);
    /* map50: 3 bands; map: none (no interval); latency: 6 */
    assert_int_equal(count(h, "class=\"band\""), 3 + 1 + 6);
    assert_non_null(strstr(h, "speculative − max(local, cloud)"));
    assert_non_null(strstr(h, "0.320 <small>[0.300, 0.340]</small>"));
    free(h);
    unlink(hp);
    path_in_dir(hp, sizeof hp, "summary.csv");
    assert_int_equal(specx_eval_write_summary_csv(&r, hp, &err), SPECX_OK);
    h = slurp(hp);
    assert_int_equal(count(h, "\n"), 1 + 12 + 3 * 4);
    assert_non_null(strstr(h, "gain_vs_best,speculative,400"));
    free(h);
    unlink(hp);
    assert_int_equal(specx_eval_write_svgs(&r, g_dir, &err), SPECX_OK);
    const char *files[] = {"map50.svg", "map.svg", "gain.svg", "latency.svg"};
    for (int i = 0; i < 4; i++) {
        path_in_dir(hp, sizeof hp, files[i]);
        h = slurp(hp);
        assert_non_null(strstr(h, "<?xml"));
        assert_non_null(strstr(h, "</svg>"));
        free(h);
        unlink(hp);
    }
    path_in_dir(hp, sizeof hp, "results.json");
    assert_int_equal(specx_eval_write_json(&r, hp, &err), SPECX_OK);
    h = slurp(hp);
    cJSON *j = cJSON_Parse(h);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(j, "summary");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sum, "cells")), 12);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sum, "cells"), 0);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(c0, "map");
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(m, 1))); /* NAN bound -> null */
    cJSON_Delete(j);
    free(h);
    unlink(hp);
    specx_eval_results_free(&r);
}

/* ---- headless Chromium ------------------------------------------------------ */

typedef struct rgb {
    int r, g, b;
} rgb;

static rgb parse_hex(const char *s)
{
    unsigned v = (unsigned)strtoul(s + 1, NULL, 16);
    return (rgb){(int)(v >> 16) & 255, (int)(v >> 8) & 255, (int)v & 255};
}

static void test_chromium_render(void **state)
{
    (void)state;
    specx_eval_results r;
    make_results(&r);
    char hp[512], png[512], dom[512], prof[512], cmd[4096];
    path_in_dir(hp, sizeof hp, "report.html");
    path_in_dir(png, sizeof png, "shot.png");
    path_in_dir(dom, sizeof dom, "dom.html");
    path_in_dir(prof, sizeof prof, "chromium-profile");
    specx_err err = {{0}};
    assert_int_equal(specx_eval_write_report(&r, hp, &err), SPECX_OK);
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update "
                        "--disable-sync --hide-scrollbars";
    snprintf(cmd, sizeof cmd,
             "timeout 120 " CHROMIUM " %s --user-data-dir=%s --screenshot=%s "
             "--window-size=1000,4200 file://%s > %s/shot.log 2>&1",
             flags, prof, png, hp, g_dir);
    int rc = system(cmd);
    if (rc != 0) {
        fail_msg("chromium screenshot failed (%d); see %s/shot.log", rc, g_dir);
    }
    snprintf(cmd, sizeof cmd,
             "timeout 120 " CHROMIUM " %s --user-data-dir=%s --dump-dom file://%s > %s "
             "2> %s/dom.log",
             flags, prof, hp, dom, g_dir);
    rc = system(cmd);
    if (rc != 0) {
        fail_msg("chromium --dump-dom failed (%d)", rc);
    }

    /* The DOM after load holds the SVG plots. */
    char *d = slurp(dom);
    assert_int_equal(count(d, "<svg "), 10);
    assert_int_equal(count(d, "class=\"series\""), 18);
    assert_true(count(d, "class=\"strip-cell\"") > 12);
    free(d);

    /* The screenshot shows the mode colours (lines, markers, bars) and the
     * executor colours (strips). */
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, png));
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    printf("screenshot %ux%u\n", img.width, img.height);
    assert_true(img.width >= 900 && img.height >= 2000);
    const char *want[] = {sx_svg_color(0), sx_svg_color(1), sx_svg_color(2), sx_svg_color(3),
                          sx_svg_color(4)};
    size_t hits[5] = {0}, white = 0;
    size_t npx = (size_t)img.width * img.height;
    for (size_t i = 0; i < npx; i++) {
        const uint8_t *p = px + 3 * i;
        if (p[0] > 250 && p[1] > 250 && p[2] > 250) {
            white++;
            continue;
        }
        for (int c = 0; c < 5; c++) {
            rgb w = parse_hex(want[c]);
            if (abs(p[0] - w.r) <= 8 && abs(p[1] - w.g) <= 8 && abs(p[2] - w.b) <= 8) {
                hits[c]++;
            }
        }
    }
    printf("pixels: white %zu of %zu; mode colours %zu %zu %zu; executor colours %zu %zu\n", white,
           npx, hits[0], hits[1], hits[2], hits[3], hits[4]);
    assert_true(white < npx);
    for (int c = 0; c < 3; c++) {
        assert_true(hits[c] > 100); /* each mode is drawn */
    }
    for (int c = 3; c < 5; c++) {
        assert_true(hits[c] > 2000); /* strips are filled rectangles */
    }
    free(px);
    specx_eval_results_free(&r);
    /* On failure everything stays in the temp dir for a person to look at;
     * SPECX_TEST_KEEP=1 keeps it on success too. */
    if (getenv("SPECX_TEST_KEEP")) {
        printf("kept %s\n", g_dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "files";
    snprintf(g_dir, sizeof g_dir, "/tmp/specx_report_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc;
    if (strcmp(group, "chromium") == 0) {
        if (access(CHROMIUM, X_OK) != 0) {
            printf("SKIP: %s not installed\n", CHROMIUM);
            rmdir(g_dir);
            return SKIP_CODE;
        }
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_chromium_render)};
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    } else {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_json_csv),          cmocka_unit_test(test_html_structure),
            cmocka_unit_test(test_svg_pieces),        cmocka_unit_test(test_svg_bands),
            cmocka_unit_test(test_report_with_cells),
        };
        rc = cmocka_run_group_tests(tests, NULL, NULL);
        rmdir(g_dir);
    }
    return rc;
}
