/* test_evalcmd.c — `specx eval` end to end on a few COCO128 images: every
 * mode/deadline row, shares that add up, the accuracy relations that follow
 * from the selection rules, the report files; an external `specx serve`; and
 * one-line errors for bad input.
 *
 * Usage: test_evalcmd SPECX_BINARY [TEST_NAME_PATTERN]. The deadlines are
 * chosen so that the checks do not depend on timing: at 1 ms no server
 * answer can arrive (inference alone takes tens of ms), so cloud has no
 * result and speculative is the local model frame for frame. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx_proc.h"

#define NIMAGES 8

static const char *specx_bin;
static char assets[2048], models[2200], coco[2200], tmpdir[256];

/* ---- helpers ------------------------------------------------------------------ */

static const char *next_line(const char *l)
{
    const char *nl = strchr(l, '\n');
    return nl != NULL ? nl + 1 : NULL;
}

static cJSON *load_json(const char *path)
{
    static char buf[1 << 20];
    specx_proc_slurp(path, buf, sizeof buf);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    return j;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(x));
    return x->valuedouble;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(x));
    return x->valuestring;
}

/* The run of results.json for (mode, deadline); asserts exactly one. */
static const cJSON *find_run(const cJSON *res, const char *mode, double deadline)
{
    const cJSON *found = NULL, *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(res, "runs"))
    {
        if (strcmp(str(r, "mode"), mode) == 0 && num(r, "deadline_ms") == deadline) {
            assert_null(found);
            found = r;
        }
    }
    if (found == NULL) {
        fprintf(stderr, "# no run for %s at %g ms\n", mode, deadline);
    }
    assert_non_null(found);
    return found;
}

/* Frames won by executor `x` (-1: frames with no result). */
static int won_by(const cJSON *run, int x)
{
    int n = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(run, "frame_winner"))
    {
        assert_true(cJSON_IsNumber(w));
        n += w->valueint == x;
    }
    return n;
}

/* ---- tests -------------------------------------------------------------------- */

/* Four modes at 1 ms and 5 s behind the lan link, in-process cloud server. */
static void test_end_to_end(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/e2e", tmpdir);
    /* The 320x320 cloud model keeps the test fast under ASan (the command's
     * default is the 416 one); 4 frames/s leave the local model time for
     * every frame on a loaded machine, so none is dropped from its queue.
     * Whole frames: which frames go whole before the server's first reply
     * says its model's size depends on timing, and the runs compared below
     * must have sent the same JPEGs. */
    specx_proc_result *r =
        specx_proc_run("eval --dataset '%s' --model-dir '%s' --limit %d --profile lan "
                       "--deadlines 5000,1 --cloud-model yolo-fastest-1.1-xl --fps 4 "
                       "--full-frames --out '%s'",
                       coco, models, NIMAGES, out);
    assert_int_equal(r->rc, 0);

    /* stdout: a table row per mode and deadline (cloud-unbounded once) */
    const char *rows[] = {"local",           "1",    "local",       "5000", "cloud",       "1",
                          "cloud",           "5000", "speculative", "1",    "speculative", "5000",
                          "cloud-unbounded", "none"};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i += 2) {
        bool seen = false;
        for (const char *l = r->out; l != NULL && *l != '\0'; l = next_line(l)) {
            char m[32], d[32];
            if (sscanf(l, "%31s %31s", m, d) == 2 && strcmp(m, rows[i]) == 0 &&
                strcmp(d, rows[i + 1]) == 0) {
                seen = true;
            }
        }
        if (!seen) {
            fprintf(stderr, "# no table row %s %s in:\n%s\n", rows[i], rows[i + 1], r->out);
        }
        assert_true(seen);
    }

    char path[600];
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *res = load_json(path);
    const cJSON *modes = cJSON_GetObjectItemCaseSensitive(res, "modes");
    assert_int_equal(cJSON_GetArraySize(modes), 4);
    const char *want_modes[] = {"local", "cloud", "speculative", "cloud-unbounded"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(cJSON_GetArrayItem(modes, i)->valuestring, want_modes[i]);
    }
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(res, "executors");
    assert_int_equal(cJSON_GetArraySize(ex), 2);
    assert_string_equal(cJSON_GetArrayItem(ex, 0)->valuestring, "cloud");
    assert_string_equal(cJSON_GetArrayItem(ex, 1)->valuestring, "local");
    const cJSON *dls = cJSON_GetObjectItemCaseSensitive(res, "deadlines_ms");
    assert_int_equal(cJSON_GetArraySize(dls), 2);
    assert_true(cJSON_GetArrayItem(dls, 0)->valuedouble == 1); /* sorted */
    assert_true(cJSON_GetArrayItem(dls, 1)->valuedouble == 5000);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "runs")), 8);

    const double dl[2] = {1, 5000};
    for (int m = 0; m < 4; m++) {
        for (int d = 0; d < 2; d++) {
            const cJSON *run = find_run(res, want_modes[m], dl[d]);
            assert_int_equal((int)num(run, "frames"), NIMAGES);
            /* shares add up: every frame won by one executor or by none */
            int cloud = won_by(run, 0), local = won_by(run, 1), none = won_by(run, -1);
            assert_int_equal(cloud + local + none, NIMAGES);
            assert_int_equal(none, (int)num(run, "no_result"));
            double m50 = num(run, "map50"), mm = num(run, "map");
            assert_true(m50 >= 0 && m50 <= 1 && mm >= 0 && mm <= m50 + 1e-12);
        }
    }
    const cJSON *loc1 = find_run(res, "local", 1), *loc2 = find_run(res, "local", 5000);
    const cJSON *cl1 = find_run(res, "cloud", 1), *cl2 = find_run(res, "cloud", 5000);
    const cJSON *sp1 = find_run(res, "speculative", 1);
    const cJSON *ub1 = find_run(res, "cloud-unbounded", 1),
                *ub2 = find_run(res, "cloud-unbounded", 5000);
    /* local: every frame the local model's, the same detections at every
     * deadline, and real detections (COCO128 has objects it finds) */
    assert_int_equal(won_by(loc1, 1), NIMAGES);
    assert_int_equal(won_by(loc2, 1), NIMAGES);
    assert_true(num(loc1, "map50") == num(loc2, "map50"));
    assert_true(num(loc1, "map") == num(loc2, "map"));
    assert_true(num(loc1, "map50") > 0.05);
    /* cloud at 1 ms: nothing arrives in time */
    assert_int_equal(won_by(cl1, -1), NIMAGES);
    assert_true(num(cl1, "map50") == 0);
    /* speculative at 1 ms: the local answer on every frame, so local's mAP */
    assert_int_equal(won_by(sp1, 1), NIMAGES);
    assert_true(num(sp1, "map50") == num(loc1, "map50"));
    assert_true(num(sp1, "map") == num(loc1, "map"));
    /* cloud-unbounded: every frame the server's; one run shown at both
     * deadlines; at least as good as the deadline-bound cloud */
    assert_int_equal(won_by(ub1, 0), NIMAGES);
    assert_true(num(ub1, "map50") == num(ub2, "map50"));
    assert_true(num(ub1, "map50") >= num(cl1, "map50"));
    assert_true(num(ub1, "map50") >= num(cl2, "map50") - 1e-12 || won_by(cl2, 0) < NIMAGES);
    if (won_by(cl2, 0) == NIMAGES) {
        /* same frames, same model, same JPEG: the same detections */
        assert_true(fabs(num(cl2, "map50") - num(ub1, "map50")) < 1e-12);
    }
    /* the bigger model is more accurate on these images (a sanity check that
     * the cloud's class ids and boxes reach the scorer intact) */
    assert_true(num(ub1, "map50") > 0.05);
    cJSON_Delete(res);

    /* results.csv: a header and one row per run */
    static char csv[1 << 16];
    snprintf(path, sizeof path, "%s/results.csv", out);
    specx_proc_slurp(path, csv, sizeof csv);
    assert_int_equal(specx_proc_count_lines(csv), 1 + 8);
    assert_non_null(strstr(csv, "won_cloud"));
    assert_non_null(strstr(csv, "won_local"));

    /* compute-*.txt: only the runs where the executor answers every frame
     * (not the winners of a deadline race, which are the fast answers):
     * cloud-unbounded for the server, the two local-only runs for local */
    snprintf(path, sizeof path, "%s/compute-cloud.txt", out);
    specx_proc_slurp(path, csv, sizeof csv);
    assert_non_null(strstr(csv, "cloud-unbounded runs"));
    assert_int_equal(specx_proc_count_lines(csv), 1 + NIMAGES);
    snprintf(path, sizeof path, "%s/compute-local.txt", out);
    specx_proc_slurp(path, csv, sizeof csv);
    assert_non_null(strstr(csv, "local-only runs"));
    assert_int_equal(specx_proc_count_lines(csv), 1 + 2 * NIMAGES);

    /* report.html: self-contained, with the plots */
    static char html[1 << 20];
    snprintf(path, sizeof path, "%s/report.html", out);
    specx_proc_slurp(path, html, sizeof html);
    int svgs = 0;
    for (const char *p = html; (p = strstr(p, "<svg")) != NULL; p++) {
        svgs++;
    }
    assert_true(svgs >= 5);
    assert_null(strstr(html, "<script"));
    assert_non_null(strstr(html, "speculative"));
    assert_non_null(strstr(html, "cloud-unbounded"));
    free(r);
}

/* An external `specx serve` (the built-in test detector) named by the user,
 * no link emulation, two modes only. */
static void test_external_server(void **state)
{
    (void)state;
    specx_proc_server s;
    specx_proc_server_start(&s, "test:delay_ms=5", models);
    char out[512];
    snprintf(out, sizeof out, "%s/ext", tmpdir);
    specx_proc_result *r = specx_proc_run(
        "eval --dataset '%s' --model-dir '%s' --limit 4 --server 127.0.0.1:%d,name=edge "
        "--modes cloud-unbounded,cloud --deadlines 3000 --fps 20 --repeats 2 "
        "--out '%s'",
        coco, models, s.port, out);
    specx_proc_server_stop(&s);
    assert_int_equal(r->rc, 0);
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *res = load_json(path);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(res, "executors");
    assert_string_equal(cJSON_GetArrayItem(ex, 0)->valuestring, "edge");
    assert_string_equal(cJSON_GetArrayItem(ex, 1)->valuestring, "local");
    const cJSON *modes = cJSON_GetObjectItemCaseSensitive(res, "modes");
    assert_int_equal(cJSON_GetArraySize(modes), 2);
    assert_string_equal(cJSON_GetArrayItem(modes, 0)->valuestring, "cloud");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "runs")), 4);
    const cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItemCaseSensitive(res, "runs"))
    {
        /* a 5 ms server well inside 3 s: it wins every frame */
        assert_int_equal(won_by(run, 0), 4);
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(run, "frame_latency_ms");
        const cJSON *l;
        cJSON_ArrayForEach(l, lat)
        {
            assert_true(cJSON_IsNumber(l) && l->valuedouble >= 5);
        }
    }
    cJSON_Delete(res);
    free(r);
}

static void expect_error(int want_rc, const char *needle, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    specx_proc_result *r = specx_proc_run("%s", args);
    assert_int_equal(r->rc, want_rc);
    if (strstr(r->err, needle) == NULL) {
        fprintf(stderr, "# expected '%s' in stderr:\n%s\n", needle, r->err);
    }
    assert_non_null(strstr(r->err, needle));
    assert_true(specx_proc_count_lines(r->err) <= 3);
    free(r);
}

static void test_bad_input(void **state)
{
    (void)state;
    expect_error(2, "--dataset DIR is required", "eval --deadlines 50");
    expect_error(2, "bad value '50,abc' for --deadlines", "eval --dataset '%s' --deadlines 50,abc",
                 coco);
    expect_error(2, "bad value '0'", "eval --dataset '%s' --deadlines 0", coco);
    expect_error(2, "bad value '50,50'", "eval --dataset '%s' --deadlines 50,50", coco);
    expect_error(2, "bad value '50,'", "eval --dataset '%s' --deadlines 50,", coco);
    expect_error(2, "bad value 'local,fast' for --modes", "eval --dataset '%s' --modes local,fast",
                 coco);
    expect_error(2, "bad value '0'", "eval --dataset '%s' --repeats 0", coco);
    expect_error(2, "bad value '1.5'", "eval --dataset '%s' --threshold 1.5", coco);
    expect_error(2, "unknown option '--frobnicate'", "eval --dataset '%s' --frobnicate 1", coco);
    expect_error(2, "--server", "eval --dataset '%s' --server nocolon", coco);
    expect_error(2, "needs a value", "eval --dataset '%s' --limit", coco);
    expect_error(1, "/nonexistent-dataset", "eval --dataset '%s/nonexistent-dataset' --out '%s/n'",
                 tmpdir, tmpdir);
    expect_error(1, "no-such-profile",
                 "eval --dataset '%s' --limit 1 --profile no-such-profile --out '%s/p'", coco,
                 tmpdir);
    expect_error(1, "cannot create output directory",
                 "eval --dataset '%s' --limit 1 --out /proc/specx-eval-cannot", coco);
    expect_error(1, "no-such-model",
                 "eval --dataset '%s' --limit 1 --modes local --local-model no-such-model "
                 "--model-dir '%s' --out '%s/m'",
                 coco, models, tmpdir);
    /* a missing images folder is an error (a missing labels folder would
     * mean images without objects) */
    expect_error(1, "nope", "eval --dataset '%s' --images nope --out '%s/i'", coco, tmpdir);
}

/* ---- the replay (--replay) ------------------------------------------------------ */

/* Mean over repeats of a (mode, deadline)'s mAP@0.5 and cloud share. */
static void cell_means(const cJSON *res, const char *mode, double deadline, double *map50,
                       double *cloud)
{
    int n = 0, frames = 0, won = 0;
    double m = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(res, "runs"))
    {
        if (strcmp(str(r, "mode"), mode) == 0 && num(r, "deadline_ms") == deadline) {
            m += num(r, "map50");
            won += won_by(r, 0);
            frames += (int)num(r, "frames");
            n++;
        }
    }
    assert_true(n > 0);
    *map50 = m / n;
    *cloud = (double)won / frames;
}

/* `specx eval --replay` on 8 images behind lan, deadlines 1 ms and 5 s,
 * three seeds: the table, intervals in results.json and summary.csv, SVG
 * plots with bands; the relations of the selection rules; and a second
 * invocation that finds every answer in the cache and writes the same
 * numbers (deterministic for a seed). */
static void test_replay(void **state)
{
    (void)state;
    char out[512], out2[512], cache[512];
    snprintf(out, sizeof out, "%s/replay", tmpdir);
    snprintf(out2, sizeof out2, "%s/replay2", tmpdir);
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    const char *args = "eval --replay --dataset '%s' --model-dir '%s' --limit %d --profile lan "
                       "--deadlines 5000,1 --cloud-model yolo-fastest-1.1-xl --repeats 3 "
                       "--bootstrap 200 --cache-dir '%s' --out-dir '%s'";
    specx_proc_result *r = specx_proc_run(args, coco, models, NIMAGES, cache, out);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->err, "8 local, 8 cloud answers and 8 JPEGs computed now"));
    assert_non_null(strstr(r->out, "spec - max(local,cloud)"));
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *res = load_json(path);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "runs")), 4 * 2 * 3);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(res, "summary");
    assert_non_null(sum);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sum, "cells")), 8);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sum, "gains")), 2);
    double loc, cl1, sp1, ub, share;
    cell_means(res, "local", 1, &loc, &share);
    assert_true(loc > 0.05 && share == 0);
    cell_means(res, "cloud", 1, &cl1, &share);
    assert_true(cl1 == 0 && share == 0);
    cell_means(res, "speculative", 1, &sp1, &share);
    assert_true(sp1 == loc); /* the local answer on every frame */
    cell_means(res, "cloud-unbounded", 1, &ub, &share);
    assert_true(share == 1);
    cell_means(res, "speculative", 5000, &sp1, &share);
    assert_true(share == 1 && sp1 == ub);
    cJSON_Delete(res);
    static char text[1 << 16];
    snprintf(path, sizeof path, "%s/summary.csv", out);
    specx_proc_slurp(path, text, sizeof text);
    assert_int_equal(specx_proc_count_lines(text), 1 + 8 + 3 * 2);
    snprintf(path, sizeof path, "%s/map50.svg", out);
    specx_proc_slurp(path, text, sizeof text);
    assert_non_null(strstr(text, "class=\"band\""));
    snprintf(path, sizeof path, "%s/gain.svg", out);
    specx_proc_slurp(path, text, sizeof text);
    assert_non_null(strstr(text, "class=\"zero\""));
    snprintf(path, sizeof path, "%s/latency.svg", out);
    specx_proc_slurp(path, text, sizeof text);
    assert_non_null(strstr(text, "<svg"));
    free(r);

    r = specx_proc_run(args, coco, models, NIMAGES, cache, out2);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->err, "0 local, 0 cloud answers and 0 JPEGs computed now"));
    free(r);
    static char a[1 << 16], b[1 << 16];
    snprintf(path, sizeof path, "%s/results.csv", out);
    specx_proc_slurp(path, a, sizeof a);
    snprintf(path, sizeof path, "%s/results.csv", out2);
    specx_proc_slurp(path, b, sizeof b);
    assert_string_equal(a, b);
}

/* The replay against a live run of the same set-up (8 images, lan, 2 fps,
 * deadlines 1 ms and 5 s, two seeds), given the live run's compute times:
 * the same answers (local and cloud-unbounded mAP equal), and every mode
 * and deadline within 0.01 mAP@0.5 and 5 points of cloud share. The
 * deadlines sit far from the live round trip (tens of ms), so the check
 * does not depend on the machine's load. */
static void test_replay_vs_live(void **state)
{
    (void)state;
    char live[512], rep[512], cache[512];
    snprintf(live, sizeof live, "%s/vs-live", tmpdir);
    snprintf(rep, sizeof rep, "%s/vs-replay", tmpdir);
    snprintf(cache, sizeof cache, "%s/cache", tmpdir);
    specx_proc_result *r = specx_proc_run(
        "eval --dataset '%s' --model-dir '%s' --limit %d --profile lan --deadlines 1,5000 "
        "--cloud-model yolo-fastest-1.1-xl --fps 2 --repeats 2 --out-dir '%s'",
        coco, models, NIMAGES, live);
    assert_int_equal(r->rc, 0);
    free(r);
    r = specx_proc_run("eval --replay --dataset '%s' --model-dir '%s' --limit %d --profile lan "
                       "--deadlines 1,5000 --cloud-model yolo-fastest-1.1-xl --fps 2 --repeats 2 "
                       "--local-compute-ms '%s/compute-local.txt' "
                       "--cloud-compute-ms '%s/compute-cloud.txt' --bootstrap 50 "
                       "--cache-dir '%s' --out-dir '%s'",
                       coco, models, NIMAGES, live, live, cache, rep);
    assert_int_equal(r->rc, 0);
    free(r);
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", live);
    cJSON *lj = load_json(path);
    snprintf(path, sizeof path, "%s/results.json", rep);
    cJSON *rj = load_json(path);
    const char *modes[] = {"local", "cloud", "speculative", "cloud-unbounded"};
    const double dls[] = {1, 5000};
    for (int m = 0; m < 4; m++) {
        for (int d = 0; d < 2; d++) {
            double lm, ls, rm, rs;
            cell_means(lj, modes[m], dls[d], &lm, &ls);
            cell_means(rj, modes[m], dls[d], &rm, &rs);
            fprintf(stderr, "# %-15s %5g ms: mAP@0.5 live %.4f replay %.4f; cloud %.2f / %.2f\n",
                    modes[m], dls[d], lm, rm, ls, rs);
            assert_true(fabs(lm - rm) <= 0.01);
            assert_true(fabs(ls - rs) <= 0.05);
            if (m == 0 || m == 3) { /* the very same answers */
                assert_true(fabs(lm - rm) < 1e-9);
            }
        }
    }
    cJSON_Delete(lj);
    cJSON_Delete(rj);
}

static void test_replay_bad_input(void **state)
{
    (void)state;
    expect_error(2, "needs one of --dataset DIR or --video FILE", "eval --replay");
    expect_error(2, "needs one of --dataset DIR or --video FILE",
                 "eval --replay --dataset '%s' --video x.mp4", coco);
    expect_error(2, "bad value 'log:10:5:3' for --deadlines",
                 "eval --replay --dataset '%s' --deadlines log:10:5:3", coco);
    expect_error(2, "unknown option '--server'", "eval --replay --dataset '%s' --server a:1", coco);
    expect_error(2, "bad value '0' for --adaptive-target",
                 "eval --replay --dataset '%s' --adaptive-target 0", coco);
    expect_error(2, "speculative-adaptive", "eval --replay --dataset '%s' --modes adaptive", coco);
    expect_error(1, "no-such-profile",
                 "eval --replay --dataset '%s' --limit 1 --profile no-such-profile --out '%s/rp'",
                 coco, tmpdir);
    expect_error(1, "/nonexistent/times.txt",
                 "eval --replay --dataset '%s' --model-dir '%s' --limit 1 --cloud-model "
                 "yolo-fastest-1.1-xl --cloud-compute-ms /nonexistent/times.txt --cache-dir "
                 "'%s/cache' --out '%s/rb'",
                 coco, models, tmpdir, tmpdir);
}

static int rm_tmp(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_evalcmd SPECX_BINARY [TEST_PATTERN]\n");
        return 2;
    }
    specx_bin = argv[1];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(assets, sizeof assets, "%s", a != NULL ? a : "../shared/assets");
    snprintf(models, sizeof models, "%s/models", assets);
    snprintf(coco, sizeof coco, "%s/labeled/coco128_val", assets);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/specx-test-evalcmd-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    specx_proc_init(specx_bin, tmpdir);
    if (argc > 2) {
        cmocka_set_test_filter(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end),     cmocka_unit_test(test_external_server),
        cmocka_unit_test(test_bad_input),      cmocka_unit_test(test_replay),
        cmocka_unit_test(test_replay_vs_live), cmocka_unit_test(test_replay_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_tmp();
    return rc;
}
