/* test_video.c — frame sources (bundled MP4s, image directories) and the
 * video/JPEG-directory writer, read back through the source. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* cmocka.h relies on the standard headers above. */
#include <cmocka.h>

#include "specx/codec.h"
#include "specx/video.h"

static const char *assets(void)
{
    const char *a = getenv("SPECX_SHARED_ASSETS");
    return a ? a : "../shared/assets";
}

static void asset_path(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", assets(), rel);
    if (access(buf, R_OK) != 0) {
        fail_msg("asset missing: %s", buf);
    }
}

static char tmpdir[64];

static int setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/specx-video-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static void rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", path);
    }
}

static int teardown_tmp(void **state)
{
    (void)state;
    rm_rf(tmpdir);
    return 0;
}

static double mean_abs_diff(const specx_image *a, const specx_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    double sum = 0;
    for (int y = 0; y < a->height; y++) {
        for (int x = 0; x < a->width * 3; x++) {
            sum += fabs((double)a->data[(size_t)y * (size_t)a->stride + (size_t)x] -
                        (double)b->data[(size_t)y * (size_t)b->stride + (size_t)x]);
        }
    }
    return sum / ((double)a->width * a->height * 3);
}

static double luma_variance(const specx_image *img)
{
    double s = 0, s2 = 0;
    long n = 0;
    for (int y = 0; y < img->height; y += 5) {
        for (int x = 0; x < img->width; x += 5) {
            double v = img->data[(size_t)y * (size_t)img->stride + (size_t)x * 3 + 1];
            s += v;
            s2 += v * v;
            n++;
        }
    }
    double m = s / (double)n;
    return s2 / (double)n - m * m;
}

/* Frame i of a synthetic clip: a colour ramp plus a square that moves. */
static void make_frame(specx_image *img, int w, int h, int i)
{
    assert_int_equal(specx_image_alloc(img, w, h), SPECX_OK);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * 3;
            p[0] = (uint8_t)(40 + x * 150 / w);
            p[1] = (uint8_t)(40 + y * 150 / h);
            p[2] = (uint8_t)(60 + i * 5);
            int sx = 10 + i * 4;
            if (x >= sx && x < sx + 24 && y >= 30 && y < 54) {
                p[0] = 230, p[1] = 230, p[2] = 30;
            }
        }
    }
}

static void test_mp4_source(void **state)
{
    (void)state;
    char path[1024];
    asset_path(path, sizeof path, "video/udacity_test_video.mp4");
    specx_video_source *src = NULL;
    specx_err err = {{0}};
    specx_status st = specx_video_source_open(&src, path, NULL, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", err.msg);
    }
    specx_video_info info;
    specx_video_source_info(src, &info);
    assert_int_equal(info.kind, SPECX_VIDEO_FILE);
    assert_int_equal(info.width, 1280);
    assert_int_equal(info.height, 720);
    assert_true(fabs(info.fps - 25.0) < 0.01);
    assert_int_equal(info.frame_count, 38);
    assert_string_equal(info.codec, "h264");

    specx_image first = {0};
    int n = 0;
    double last_pts = -1;
    for (;;) {
        specx_frame f = {0};
        int eof = 0;
        st = specx_video_source_read(src, &f, &eof, &err);
        if (st != SPECX_OK) {
            fail_msg("frame %d: %s", n, err.msg);
        }
        if (eof) {
            assert_null(f.image.data);
            break;
        }
        assert_int_equal(f.index, n);
        assert_int_equal(f.image.width, 1280);
        assert_int_equal(f.image.height, 720);
        assert_true(fabs(f.fps - 25.0) < 0.01);
        assert_true(fabs(f.pts - n / 25.0) < 0.002);
        assert_true(f.pts > last_pts);
        last_pts = f.pts;
        if (n == 0) {
            assert_true(luma_variance(&f.image) > 100.0); /* a real picture */
            first = f.image;
        } else {
            specx_frame_clear(&f);
        }
        n++;
    }
    assert_int_equal(n, 38);
    /* eof is sticky. */
    specx_frame f = {0};
    int eof = 0;
    assert_int_equal(specx_video_source_read(src, &f, &eof, &err), SPECX_OK);
    assert_int_equal(eof, 1);

    /* Rewind gives the same first frame again. */
    assert_int_equal(specx_video_source_rewind(src, &err), SPECX_OK);
    assert_int_equal(specx_video_source_read(src, &f, &eof, &err), SPECX_OK);
    assert_int_equal(eof, 0);
    assert_int_equal(f.index, 0);
    assert_true(f.pts < 0.002);
    assert_true(mean_abs_diff(&first, &f.image) < 0.5);
    specx_frame_clear(&f);
    specx_image_clear(&first);
    specx_video_source_close(src);
}

static void test_mp4_second_clip(void **state)
{
    (void)state;
    char path[1024];
    asset_path(path, sizeof path, "video/udacity_solidWhiteRight.mp4");
    specx_video_source *src = NULL;
    specx_err err = {{0}};
    specx_video_source_opts opts = {.threads = 2};
    assert_int_equal(specx_video_source_open(&src, path, &opts, &err), SPECX_OK);
    specx_video_info info;
    specx_video_source_info(src, &info);
    assert_int_equal(info.width, 960);
    assert_int_equal(info.height, 540);
    assert_int_equal(info.frame_count, 221);
    int n = 0;
    for (;;) {
        specx_frame f = {0};
        int eof = 0;
        assert_int_equal(specx_video_source_read(src, &f, &eof, &err), SPECX_OK);
        if (eof) {
            break;
        }
        assert_int_equal(f.image.width, 960);
        specx_frame_clear(&f);
        n++;
    }
    assert_int_equal(n, 221);
    specx_video_source_close(src);
}

static void test_source_errors(void **state)
{
    (void)state;
    specx_video_source *src = (specx_video_source *)(uintptr_t)1; /* must stay untouched */
    specx_err err = {{0}};
    assert_int_equal(specx_video_source_open(&src, "/nonexistent/clip.mp4", NULL, &err),
                     SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/clip.mp4"));
    assert_null(strchr(err.msg, '\n'));

    char p[256];
    snprintf(p, sizeof p, "%s/notes.mp4", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("this is not a video at all, just some words in a file\n", f);
    fclose(f);
    assert_int_equal(specx_video_source_open(&src, p, NULL, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, p));

    snprintf(p, sizeof p, "%s/empty.mp4", tmpdir);
    f = fopen(p, "w");
    fclose(f);
    assert_int_equal(specx_video_source_open(&src, p, NULL, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, p));

    snprintf(p, sizeof p, "%s/emptydir", tmpdir);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(specx_video_source_open(&src, p, NULL, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, p));
    assert_ptr_equal(src, (specx_video_source *)(uintptr_t)1);
    assert_int_equal(specx_video_source_open(&src, "", NULL, &err), SPECX_EINVAL);
}

/* A clip cut short, or with a damaged middle: frames or a clean error, never
 * a crash or a hang. */
static void test_damaged_video(void **state)
{
    (void)state;
    char path[1024], p[256];
    asset_path(path, sizeof path, "video/udacity_test_video.mp4");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const double cuts[] = {0.05, 0.5, 0.95};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/damaged%d.mp4", tmpdir, k);
        f = fopen(p, "wb");
        assert_non_null(f);
        if (k < 3) {
            fwrite(buf, 1, (size_t)((double)n * cuts[k]), f);
        } else {
            /* Whole file, a stretch in the middle overwritten. */
            uint8_t *copy = malloc((size_t)n);
            assert_non_null(copy);
            memcpy(copy, buf, (size_t)n);
            for (long i = n / 3; i < n / 3 + 4096 && i < n; i++) {
                copy[i] = (uint8_t)(i * 7);
            }
            fwrite(copy, 1, (size_t)n, f);
            free(copy);
        }
        fclose(f);
        specx_video_source *src = NULL;
        specx_err err = {{0}};
        specx_status st = specx_video_source_open(&src, p, NULL, &err);
        if (st != SPECX_OK) {
            assert_int_equal(st, SPECX_EFORMAT);
            assert_non_null(strstr(err.msg, p));
            continue;
        }
        int frames = 0, errors = 0;
        for (int i = 0; i < 200; i++) {
            specx_frame fr = {0};
            int eof = 0;
            st = specx_video_source_read(src, &fr, &eof, &err);
            if (st != SPECX_OK) {
                assert_non_null(strstr(err.msg, p));
                errors++;
                break;
            }
            if (eof) {
                break;
            }
            assert_int_equal(fr.image.width, 1280);
            specx_frame_clear(&fr);
            frames++;
        }
        assert_true(frames <= 38);
        assert_true(frames + errors > 0 || k < 3);
        specx_video_source_close(src);
    }
    free(buf);
}

static void test_dir_source(void **state)
{
    (void)state;
    char dir[256], p[300];
    snprintf(dir, sizeof dir, "%s/frames", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Written out of order, mixed formats, plus files to ignore. */
    const char *names[] = {"c.png", "a.png", "b.JPG", "d.png"};
    const int red[] = {30, 10, 20, 40};
    for (int i = 0; i < 4; i++) {
        specx_image img;
        assert_int_equal(specx_image_alloc(&img, 32, 24), SPECX_OK);
        for (size_t k = 0; k < (size_t)32 * 24 * 3; k += 3) {
            img.data[k] = (uint8_t)(red[i] * 5);
            img.data[k + 1] = 100;
            img.data[k + 2] = 100;
        }
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        assert_int_equal(specx_image_save(p, &img, NULL), SPECX_OK); /* .JPG works too */
        specx_image_clear(&img);
    }
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("ignore me\n", f);
    fclose(f);
    /* A corrupt image in the middle: "c.png" is replaced by garbage. */
    snprintf(p, sizeof p, "%s/c.png", dir);
    f = fopen(p, "w");
    fputs("\x89PNG\r\n\x1a\n garbage", f);
    fclose(f);

    specx_video_source *src = NULL;
    specx_err err = {{0}};
    specx_video_source_opts opts = {.dir_fps = 5};
    assert_int_equal(specx_video_source_open(&src, dir, &opts, &err), SPECX_OK);
    specx_video_info info;
    specx_video_source_info(src, &info);
    assert_int_equal(info.kind, SPECX_VIDEO_DIR);
    assert_int_equal(info.width, 32);
    assert_int_equal(info.height, 24);
    assert_int_equal(info.frame_count, 4);
    assert_true(info.fps == 5.0);

    const int expect_red[] = {10, 20, -1, 40}; /* a, b, c (corrupt), d */
    for (int i = 0; i < 4; i++) {
        specx_frame fr = {0};
        int eof = 0;
        specx_status st = specx_video_source_read(src, &fr, &eof, &err);
        if (expect_red[i] < 0) {
            assert_int_equal(st, SPECX_EFORMAT);
            assert_non_null(strstr(err.msg, "c.png"));
            continue;
        }
        assert_int_equal(st, SPECX_OK);
        assert_int_equal(eof, 0);
        assert_int_equal(fr.index, i);
        assert_true(fabs(fr.pts - i * 0.2) < 1e-9);
        assert_true(fr.fps == 5.0);
        int r = fr.image.data[0];
        if (abs(r - expect_red[i] * 5) > 3) {
            fail_msg("frame %d has red %d, expected %d", i, r, expect_red[i] * 5);
        }
        specx_frame_clear(&fr);
    }
    specx_frame fr = {0};
    int eof = 0;
    assert_int_equal(specx_video_source_read(src, &fr, &eof, &err), SPECX_OK);
    assert_int_equal(eof, 1);
    assert_int_equal(specx_video_source_rewind(src, &err), SPECX_OK);
    assert_int_equal(specx_video_source_read(src, &fr, &eof, &err), SPECX_OK);
    assert_int_equal(fr.index, 0);
    assert_true(abs(fr.image.data[0] - 50) <= 3);
    specx_frame_clear(&fr);
    specx_video_source_close(src);

    /* Default directory rate. */
    assert_int_equal(specx_video_source_open(&src, dir, NULL, &err), SPECX_OK);
    specx_video_source_info(src, &info);
    assert_true(info.fps == 10.0);
    specx_video_source_close(src);
}

/* Writes n synthetic frames, reads them back and compares. */
static void write_and_check(const char *path, const char *codec, int w, int h, double max_diff,
                            const char *expect_codec)
{
    const int n = 20;
    specx_video_writer *vw = NULL;
    specx_err err = {{0}};
    specx_video_writer_opts o = {.fps = 25, .codec = codec};
    specx_status st = specx_video_writer_open(&vw, path, &o, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", err.msg);
    }
    assert_string_equal(specx_video_writer_codec(vw),
                        strcmp(expect_codec, "jpeg") == 0 ? "jpeg" : "");
    specx_image frames[20];
    for (int i = 0; i < n; i++) {
        make_frame(&frames[i], w, h, i);
        st = specx_video_writer_write(vw, &frames[i], &err);
        if (st != SPECX_OK) {
            fail_msg("frame %d: %s", i, err.msg);
        }
    }
    if (expect_codec[0] != '\0') {
        assert_string_equal(specx_video_writer_codec(vw), expect_codec);
    }
    assert_int_equal(specx_video_writer_close(vw, &err), SPECX_OK);

    specx_video_source *src = NULL;
    st = specx_video_source_open(&src, path, NULL, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", err.msg);
    }
    specx_video_info info;
    specx_video_source_info(src, &info);
    assert_int_equal(info.width, w & ~1);
    assert_int_equal(info.height, h & ~1);
    int got = 0;
    for (;;) {
        specx_frame f = {0};
        int eof = 0;
        st = specx_video_source_read(src, &f, &eof, &err);
        if (st != SPECX_OK) {
            fail_msg("%s", err.msg);
        }
        if (eof) {
            break;
        }
        assert_true(got < n);
        if (info.kind == SPECX_VIDEO_FILE) {
            assert_true(fabs(f.fps - 25.0) < 0.01);
            assert_true(fabs(f.pts - got / 25.0) < 0.002);
        }
        if ((w & 1) == 0 && (h & 1) == 0) {
            double d = mean_abs_diff(&frames[got], &f.image);
            if (d > max_diff) {
                fail_msg("%s frame %d differs by %.2f on average (max %.2f)", path, got, d,
                         max_diff);
            }
            /* The moving square is where it was drawn (yellow-ish). */
            const uint8_t *p = f.image.data + (size_t)42 * (size_t)f.image.stride +
                               (size_t)(10 + got * 4 + 12) * 3;
            assert_true(p[0] > 180 && p[1] > 180 && p[2] < 90);
        }
        specx_frame_clear(&f);
        got++;
    }
    assert_int_equal(got, n);
    specx_video_source_close(src);
    for (int i = 0; i < n; i++) {
        specx_image_clear(&frames[i]);
    }
}

static void test_writer_round_trips(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/out.mp4", tmpdir);
    write_and_check(p, NULL, 160, 120, 6.0, "");
    snprintf(p, sizeof p, "%s/out-mpeg4.mp4", tmpdir);
    write_and_check(p, "mpeg4", 160, 120, 6.0, "mpeg4");
    snprintf(p, sizeof p, "%s/out.mkv", tmpdir);
    write_and_check(p, NULL, 161, 121, 6.0, ""); /* odd size: rounded down */
    snprintf(p, sizeof p, "%s/jpegs/sub", tmpdir);
    write_and_check(p, NULL, 160, 120, 4.0, "jpeg");
    snprintf(p, sizeof p, "%s/jpegs/sub/frame_000019.jpg", tmpdir);
    assert_int_equal(access(p, R_OK), 0);
}

static void test_writer_default_codec(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/pick.mp4", tmpdir);
    specx_video_writer *vw = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_video_writer_open(&vw, p, NULL, &err), SPECX_OK);
    specx_image img;
    make_frame(&img, 64, 48, 0);
    assert_int_equal(specx_video_writer_write(vw, &img, &err), SPECX_OK);
    /* libx264 when this FFmpeg has it, else the mpeg4 fallback. */
    const char *c = specx_video_writer_codec(vw);
    assert_true(strcmp(c, "libx264") == 0 || strcmp(c, "mpeg4") == 0);
    /* A frame of another size is scaled to the first one's. */
    specx_image big;
    make_frame(&big, 128, 96, 1);
    assert_int_equal(specx_video_writer_write(vw, &big, &err), SPECX_OK);
    assert_int_equal(specx_video_writer_close(vw, &err), SPECX_OK);
    specx_image_clear(&img);
    specx_image_clear(&big);

    specx_video_source *src = NULL;
    assert_int_equal(specx_video_source_open(&src, p, NULL, &err), SPECX_OK);
    int n = 0;
    for (;;) {
        specx_frame f = {0};
        int eof = 0;
        assert_int_equal(specx_video_source_read(src, &f, &eof, &err), SPECX_OK);
        if (eof) {
            break;
        }
        assert_int_equal(f.image.width, 64);
        specx_frame_clear(&f);
        n++;
    }
    assert_int_equal(n, 2);
    specx_video_source_close(src);
}

static void test_writer_errors(void **state)
{
    (void)state;
    char p[256];
    specx_video_writer *vw = NULL;
    specx_err err = {{0}};
    snprintf(p, sizeof p, "%s/one.png", tmpdir);
    assert_int_equal(specx_video_writer_open(&vw, p, NULL, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, p));
    snprintf(p, sizeof p, "%s/x.mp4", tmpdir);
    specx_video_writer_opts o = {.codec = "no-such-encoder"};
    assert_int_equal(specx_video_writer_open(&vw, p, &o, &err), SPECX_EUNSUPPORTED);
    assert_null(vw);
    /* No frames, no file. */
    assert_int_equal(specx_video_writer_open(&vw, p, NULL, &err), SPECX_OK);
    assert_int_equal(specx_video_writer_close(vw, &err), SPECX_OK);
    assert_int_not_equal(access(p, F_OK), 0);
    /* Output directory below a regular file. */
    snprintf(p, sizeof p, "%s/x.mkv", tmpdir);
    assert_int_equal(specx_video_writer_open(&vw, p, NULL, &err), SPECX_OK);
    specx_image img;
    make_frame(&img, 64, 48, 0);
    assert_int_equal(specx_video_writer_write(vw, &img, &err), SPECX_OK);
    assert_int_equal(specx_video_writer_close(vw, &err), SPECX_OK);
    snprintf(p, sizeof p, "%s/x.mkv/frames", tmpdir);
    assert_int_equal(specx_video_writer_open(&vw, p, NULL, &err), SPECX_EIO);
    specx_image_clear(&img);
    assert_int_equal(specx_video_writer_close(NULL, &err), SPECX_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp4_source),           cmocka_unit_test(test_mp4_second_clip),
        cmocka_unit_test(test_source_errors),        cmocka_unit_test(test_damaged_video),
        cmocka_unit_test(test_dir_source),           cmocka_unit_test(test_writer_round_trips),
        cmocka_unit_test(test_writer_default_codec), cmocka_unit_test(test_writer_errors),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
