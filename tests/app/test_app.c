/* test_app.c — `specx run` and `specx demo` end to end on a few frames of the
 * bundled video: one output per frame in order, the JSON line schema, who
 * wins with an unreachable server and with a generous deadline, shedding and
 * dropping under overload, one-line errors for bad input, and every
 * subcommand's --help agreeing with itself.
 *
 * Usage: test_app SPECX_BINARY [TEST_NAME_PATTERN]. Servers are `specx serve`
 * subprocesses on port 0 (the built-in test detector, or a real model). */
#include <cjson/cJSON.h>
#include <errno.h>
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

#define NFRAMES 6

static const char *specx_bin;
static char assets[2048], models[2200], video[2200], tmpdir[256];

/* ---- helpers ------------------------------------------------------------------ */

typedef struct lines {
    int n;
    cJSON *v[256];
} lines;

/* Parses the JSON lines file; asserts one object per line. */
static void load_lines(const char *path, lines *ls)
{
    ls->n = 0;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char line[1 << 20];
    while (fgets(line, sizeof line, f) != NULL) {
        assert_true(ls->n < 256);
        assert_non_null(strchr(line, '\n'));
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        assert_true(cJSON_IsObject(o));
        ls->v[ls->n++] = o;
    }
    fclose(f);
}

static void free_lines(lines *ls)
{
    for (int i = 0; i < ls->n; i++) {
        cJSON_Delete(ls->v[i]);
    }
    ls->n = 0;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static const cJSON *exec_of(const cJSON *line, const char *name)
{
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(line, "executors");
    assert_true(cJSON_IsObject(ex));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ex, name);
    assert_true(cJSON_IsObject(e));
    return e;
}

/* The schema of docs/run.md, and frames 0..n-1 in order. */
static void check_schema(const lines *ls, int n)
{
    assert_int_equal(ls->n, n);
    for (int i = 0; i < n; i++) {
        const cJSON *o = ls->v[i];
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(o, "frame");
        assert_true(cJSON_IsNumber(fr));
        assert_int_equal(fr->valueint, i);
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(o, "pts");
        assert_true(cJSON_IsNumber(pts));
        assert_true(pts->valuedouble > i / 25.0 - 1e-3 && pts->valuedouble < i / 25.0 + 1e-3);
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "winner");
        assert_true(cJSON_IsString(w) || cJSON_IsNull(w));
        assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "fallback")));
        assert_non_null(str(o, "status"));
        if (cJSON_IsNull(w)) {
            assert_non_null(str(o, "reason"));
        } else {
            assert_string_equal(str(o, "status"), "ok");
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "priority")));
        }
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
        assert_true(cJSON_IsNumber(lat) && lat->valuedouble >= 0);
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(o, "deadline_ms");
        assert_true(cJSON_IsNumber(dl) || cJSON_IsNull(dl));
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "executors");
        assert_true(cJSON_IsObject(ex) && cJSON_GetArraySize(ex) >= 1);
        const cJSON *e;
        cJSON_ArrayForEach(e, ex)
        {
            assert_non_null(str(e, "fate"));
            const cJSON *el = cJSON_GetObjectItemCaseSensitive(e, "latency_ms");
            assert_true(cJSON_IsNumber(el) || cJSON_IsNull(el));
        }
        if (cJSON_IsString(w)) {
            /* the winner's own report says it won */
            assert_string_equal(str(exec_of(o, w->valuestring), "fate"), "won");
        }
        const cJSON *dets = cJSON_GetObjectItemCaseSensitive(o, "detections");
        assert_true(cJSON_IsArray(dets));
        const cJSON *d;
        cJSON_ArrayForEach(d, dets)
        {
            assert_non_null(str(d, "label"));
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, "class_id")));
            const cJSON *sc = cJSON_GetObjectItemCaseSensitive(d, "score");
            assert_true(cJSON_IsNumber(sc) && sc->valuedouble > 0 && sc->valuedouble <= 1);
            const cJSON *box = cJSON_GetObjectItemCaseSensitive(d, "box");
            assert_true(cJSON_IsArray(box) && cJSON_GetArraySize(box) == 4);
            assert_true(cJSON_GetArrayItem(box, 0)->valuedouble <=
                        cJSON_GetArrayItem(box, 2)->valuedouble);
            assert_true(cJSON_GetArrayItem(box, 1)->valuedouble <=
                        cJSON_GetArrayItem(box, 3)->valuedouble);
        }
    }
}

static void path_in_tmp(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* ---- tests -------------------------------------------------------------------- */

/* Sync mode, local model only: every frame is the local model's, with objects. */
static void test_run_local_sync(void **state)
{
    (void)state;
    char out[512], stats[512];
    path_in_tmp(out, sizeof out, "local.jsonl");
    path_in_tmp(stats, sizeof stats, "local-stats.json");
    specx_proc_result *r = specx_proc_run(
        "run --video '%s' --model-dir '%s' --local-model yolo-fastest-1.1 --frames %d "
        "--mode sync --out '%s' --stats-json '%s'",
        video, models, NFRAMES, out, stats);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "local"));
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, NFRAMES);
    int with_cars = 0;
    for (int i = 0; i < ls.n; i++) {
        assert_string_equal(str(ls.v[i], "winner"), "local");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ls.v[i], "local")));
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ls.v[i], "deadline_ms")));
        const cJSON *d;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(ls.v[i], "detections"))
        {
            with_cars += strcmp(str(d, "label"), "car") == 0;
        }
    }
    assert_true(with_cars >= NFRAMES); /* two cars in every frame of this clip */
    free_lines(&ls);

    static char buf[1 << 16];
    specx_proc_slurp(stats, buf, sizeof buf);
    cJSON *s = cJSON_Parse(buf);
    assert_non_null(s);
    assert_int_equal(cJSON_GetObjectItem(s, "frames")->valueint, NFRAMES);
    const cJSON *op = cJSON_GetObjectItem(s, "operator");
    assert_non_null(op);
    assert_int_equal(cJSON_GetObjectItem(op, "outputs")->valueint, NFRAMES);
    assert_int_equal(cJSON_GetObjectItem(op, "local_wins")->valueint, NFRAMES);
    cJSON_Delete(s);
    free(r);
}

/* A server nobody listens on: it fails fast (UNAVAILABLE) and every frame is
 * the local model's, not a fallback after the deadline; the summary names the
 * failure. */
static void test_run_unreachable_server(void **state)
{
    (void)state;
    char out[512];
    path_in_tmp(out, sizeof out, "unreachable.jsonl");
    specx_proc_result *r = specx_proc_run(
        "run --video '%s' --model-dir '%s' --local-model yolo-fastest-1.1 --frames %d "
        "--mode sync --server 127.0.0.1:1,name=gone --deadline 10000 --out '%s'",
        video, models, NFRAMES, out);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "gone: first failure: unavailable"));
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, NFRAMES);
    for (int i = 0; i < ls.n; i++) {
        assert_string_equal(str(ls.v[i], "winner"), "local");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ls.v[i], "fallback")));
        const cJSON *g = exec_of(ls.v[i], "gone");
        assert_string_equal(str(g, "fate"), "failed");
        assert_string_equal(str(g, "status"), "unavailable");
        /* failing fast: the frame did not sit out the 10 s deadline */
        assert_true(cJSON_GetObjectItem(ls.v[i], "latency_ms")->valuedouble < 9000);
    }
    free_lines(&ls);
    free(r);
}

/* A deadline far beyond the server's compute time: the server wins every
 * frame it answered (stream mode, camera rate), and a frame it did not take
 * (shed) is the local model's. */
static void test_run_cloud_wins(void **state)
{
    (void)state;
    specx_proc_server s;
    specx_proc_server_start(&s, "test:delay_ms=20", models);
    char out[512], ann[512];
    path_in_tmp(out, sizeof out, "cloud.jsonl");
    path_in_tmp(ann, sizeof ann, "annotated");
    specx_proc_result *r = specx_proc_run(
        "run --video '%s' --model-dir '%s' --local-model yolo-fastest-1.1 --frames %d "
        "--server 127.0.0.1:%d,name=cloud --deadline 8000 --out '%s' --annotate '%s'",
        video, models, NFRAMES, s.port, out, ann);
    specx_proc_server_stop(&s);
    assert_int_equal(r->rc, 0);
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, NFRAMES);
    int cloud = 0;
    for (int i = 0; i < ls.n; i++) {
        const cJSON *c = exec_of(ls.v[i], "cloud");
        const char *fate = str(c, "fate");
        const cJSON *dl = cJSON_GetObjectItem(ls.v[i], "deadline_ms");
        if (strcmp(fate, "shed") == 0) {
            /* not sent: no remote call, so no deadline (docs/run.md); the
             * local model's, or nobody's if its queue dropped it */
            assert_true(cJSON_IsNull(dl));
            const char *w = str(ls.v[i], "winner");
            assert_true(w == NULL || strcmp(w, "local") == 0);
            continue;
        }
        /* sent with 8 s to spare: it answers, in time, and outranks local */
        assert_true(cJSON_IsNumber(dl) && dl->valuedouble == 8000.0);
        assert_string_equal(fate, "won");
        assert_string_equal(str(ls.v[i], "winner"), "cloud");
        assert_int_equal(cJSON_GetObjectItem(ls.v[i], "priority")->valueint, 1);
        /* the test detector: one whole-image box labelled "test" */
        const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(ls.v[i], "detections"), 0);
        assert_non_null(d);
        assert_string_equal(str(d, "label"), "test");
        cloud++;
    }
    assert_true(cloud >= 1);
    free_lines(&ls);
    /* one annotated image per frame */
    for (int i = 0; i < NFRAMES + 1; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/frame_%06d.jpg", ann, i);
        struct stat st;
        assert_int_equal(stat(p, &st) == 0, i < NFRAMES);
    }
    free(r);
}

/* Remote-only with no deadline: every frame is the server's; and two servers
 * without prio=: the first listed is preferred. */
static void test_run_remote_only_priorities(void **state)
{
    (void)state;
    specx_proc_server a, b;
    specx_proc_server_start(&a, "test:delay_ms=5", models);
    specx_proc_server_start(&b, "test:delay_ms=5", models);
    char out[512];
    path_in_tmp(out, sizeof out, "remote.jsonl");
    specx_proc_result *r =
        specx_proc_run("run --video '%s' --frames %d --mode sync --deadline none --server "
                       "127.0.0.1:%d,name=first --server 127.0.0.1:%d,name=second --out '%s'",
                       video, NFRAMES, a.port, b.port, out);
    specx_proc_server_stop(&a);
    specx_proc_server_stop(&b);
    assert_int_equal(r->rc, 0);
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, NFRAMES);
    for (int i = 0; i < ls.n; i++) {
        assert_string_equal(str(ls.v[i], "winner"), "first");
        assert_int_equal(cJSON_GetObjectItem(ls.v[i], "priority")->valueint, 2);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(ls.v[i], "deadline_ms")));
        assert_int_equal(cJSON_GetObjectItem(exec_of(ls.v[i], "second"), "priority")->valueint, 1);
        const char *f2 = str(exec_of(ls.v[i], "second"), "fate");
        assert_true(strcmp(f2, "outranked") == 0 || strcmp(f2, "cancelled") == 0);
    }
    free_lines(&ls);
    free(r);
}

/* Overload: a server slower than the frame rate with one call in flight, and
 * frames at 25 fps for a local model slower than that. Every frame still gets
 * exactly one output, in order; what was not sent is "shed", what the local
 * queue superseded is "busy", and a frame nobody answered says why. */
static void test_run_overload(void **state)
{
    (void)state;
    specx_proc_server s;
    specx_proc_server_start(&s, "test:delay_ms=150", models);
    char out[512], stats[512];
    path_in_tmp(out, sizeof out, "overload.jsonl");
    path_in_tmp(stats, sizeof stats, "overload-stats.json");
    specx_proc_result *r = specx_proc_run(
        "run --video '%s' --model-dir '%s' --local-model yolo-fastest-1.1 --frames 12 "
        "--server 127.0.0.1:%d,name=slow,inflight=1 --deadline 1000 --out '%s' "
        "--stats-json '%s'",
        video, models, s.port, out, stats);
    specx_proc_server_stop(&s);
    assert_int_equal(r->rc, 0);
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, 12);
    int shed = 0, busy = 0;
    for (int i = 0; i < ls.n; i++) {
        const cJSON *sl = exec_of(ls.v[i], "slow"), *lo = exec_of(ls.v[i], "local");
        shed += strcmp(str(sl, "fate"), "shed") == 0;
        const char *ls_status = str(lo, "status");
        if (ls_status != NULL && strcmp(ls_status, "busy") == 0) {
            busy++;
            assert_string_equal(str(lo, "fate"), "failed");
        }
        if (cJSON_IsNull(cJSON_GetObjectItem(ls.v[i], "winner"))) {
            /* nobody answered: the server did not take it, the local queue dropped it */
            assert_string_equal(str(sl, "fate"), "shed");
            assert_string_equal(ls_status, "busy");
        }
    }
    /* 12 frames in 0.48 s, a 150 ms server taking one at a time */
    assert_true(shed >= 6);
    free_lines(&ls);

    static char buf[1 << 16];
    specx_proc_slurp(stats, buf, sizeof buf);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    const cJSON *op = cJSON_GetObjectItem(j, "operator");
    assert_int_equal(cJSON_GetObjectItem(op, "outputs")->valueint, 12);
    const cJSON *lq = cJSON_GetObjectItem(j, "local_queue");
    assert_true(cJSON_GetObjectItem(lq, "dropped")->valueint >= busy);
    cJSON_Delete(j);
    free(r);
}

/* A server slower than the deadline and a local detector that answers after
 * it: every frame is the local one, flagged fallback, emitted when it comes
 * (not held for the server); the server's call is cut at the deadline. */
static void test_run_fallback(void **state)
{
    (void)state;
    specx_proc_server s;
    specx_proc_server_start(&s, "test:delay_ms=3000", models);
    char out[512];
    path_in_tmp(out, sizeof out, "fallback.jsonl");
    specx_proc_result *r =
        specx_proc_run("run --video '%s' --local-model test:delay_ms=250 --frames 3 --mode sync "
                       "--server 127.0.0.1:%d,name=slow --deadline 80 --out '%s'",
                       video, s.port, out);
    specx_proc_server_stop(&s);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "fallback after deadline 3 (100.0%)"));
    lines ls;
    load_lines(out, &ls);
    check_schema(&ls, 3);
    for (int i = 0; i < ls.n; i++) {
        assert_string_equal(str(ls.v[i], "winner"), "local");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ls.v[i], "fallback")));
        assert_true(cJSON_GetObjectItem(ls.v[i], "deadline_ms")->valuedouble == 80);
        double lat = cJSON_GetObjectItem(ls.v[i], "latency_ms")->valuedouble;
        assert_true(lat >= 250 && lat < 2500); /* the local time, not the server's */
        const char *f = str(exec_of(ls.v[i], "slow"), "fate");
        /* cut by our timer, or by gRPC's own deadline on the wire */
        assert_true(strcmp(f, "pending_cancelled") == 0 || strcmp(f, "failed") == 0 ||
                    strcmp(f, "late") == 0);
        const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(ls.v[i], "detections"), 0);
        assert_string_equal(str(d, "label"), "test");
    }
    free_lines(&ls);
    free(r);
}

static void expect_one_line_error(const char *args, int rc)
{
    specx_proc_result *r = specx_proc_run("%s", args);
    assert_int_equal(r->rc, rc);
    assert_int_equal(specx_proc_count_lines(r->err), 1);
    assert_true(strncmp(r->err, "specx run: ", 11) == 0);
    free(r);
}

static void test_run_bad_input(void **state)
{
    (void)state;
    char args[8192];
    snprintf(args, sizeof args, "run --video '%s/missing.mp4' --local-model yolo-fastest-1.1",
             tmpdir);
    expect_one_line_error(args, 1);
    specx_proc_result *r = specx_proc_run("%s", args);
    assert_non_null(strstr(r->err, "missing.mp4"));
    free(r);
    /* not a video */
    char notvideo[512];
    path_in_tmp(notvideo, sizeof notvideo, "notes.mp4");
    FILE *f = fopen(notvideo, "w");
    assert_non_null(f);
    fputs("this is not a video\n", f);
    fclose(f);
    snprintf(args, sizeof args, "run --video '%s' --local-model yolo-fastest-1.1", notvideo);
    expect_one_line_error(args, 1);
    /* an unknown model */
    snprintf(args, sizeof args, "run --video '%s' --model-dir '%s' --local-model no-such-model",
             video, models);
    expect_one_line_error(args, 1);
    /* remote-only against a server that is down: no frame has a result */
    snprintf(args, sizeof args, "run --video '%s' --server 127.0.0.1:1 --frames 2 --fps 0", video);
    expect_one_line_error(args, 1);
    /* usage errors */
    expect_one_line_error("run --local-model yolo-fastest-1.1", 2);
    snprintf(args, sizeof args, "run --video '%s'", video);
    expect_one_line_error(args, 2);
    snprintf(args, sizeof args, "run --video '%s' --server nohostport", video);
    expect_one_line_error(args, 2);
    snprintf(args, sizeof args, "run --video '%s' --server 127.0.0.1:1 --deadline soon", video);
    expect_one_line_error(args, 2);
    snprintf(args, sizeof args, "run --video '%s' --server 127.0.0.1:1 --bogus", video);
    expect_one_line_error(args, 2);
    snprintf(args, sizeof args, "run --video '%s' --server 127.0.0.1:1 --deadline-policy often",
             video);
    expect_one_line_error(args, 2);
    snprintf(args, sizeof args, "run --video '%s' --server 127.0.0.1:1 --adaptive-target 2", video);
    expect_one_line_error(args, 2);
    /* an output file that cannot be written */
    snprintf(args, sizeof args,
             "run --video '%s' --model-dir '%s' --local-model yolo-fastest-1.1 --frames 1 "
             "--out /nonexistent-dir/x.jsonl",
             video, models);
    expect_one_line_error(args, 1);
}

/* `specx demo` on a few frames: in-process server, outputs in the directory. */
static void test_demo(void **state)
{
    (void)state;
    char dir[512];
    path_in_tmp(dir, sizeof dir, "demo-out");
    specx_proc_result *r =
        specx_proc_run("demo --frames %d --model-dir '%s' --out-dir '%s'", NFRAMES, models, dir);
    assert_int_equal(r->rc, 0);
    assert_non_null(strstr(r->out, "demo finished"));
    assert_non_null(strstr(r->out, "cloud-xl416"));
    char p[700];
    snprintf(p, sizeof p, "%s/results.jsonl", dir);
    lines ls;
    load_lines(p, &ls);
    check_schema(&ls, NFRAMES);
    free_lines(&ls);
    struct stat st;
    snprintf(p, sizeof p, "%s/annotated.mp4", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_true(st.st_size > 1000);
    snprintf(p, sizeof p, "%s/stats.json", dir);
    static char buf[1 << 16];
    specx_proc_slurp(p, buf, sizeof buf);
    cJSON *j = cJSON_Parse(buf);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "frames")->valueint, NFRAMES);
    cJSON_Delete(j);
    free(r);
}

/* Every subcommand's --help (exit 0, on stdout): each option its usage
 * synopsis names is in its option list, which is generated from the table
 * the command parses with. */
static void test_help(void **state)
{
    (void)state;
    const char *cmds[] = {"run",  "demo",           "serve",     "detect",       "netem",
                          "eval", "bench operator", "bench rpc", "bench detect", "bench pipeline"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        specx_proc_result *r = specx_proc_run("%s --help", cmds[c]);
        assert_int_equal(r->rc, 0);
        const char *list = strstr(r->out, "\n  --");
        if (list == NULL) {
            fail_msg("specx %s --help lists no options", cmds[c]);
        }
        const char *end = strstr(r->out, "\n\n");
        for (const char *p = r->out; p != NULL && end != NULL && p < end; p++) {
            p = strstr(p, "--");
            if (p == NULL || p >= end) {
                break;
            }
            char want[64];
            size_t n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-");
            snprintf(want, sizeof want, "\n  --%.*s", (int)n, p + 2);
            const char *hit = strstr(list, want);
            while (hit != NULL && hit[strlen(want)] != ' ' && hit[strlen(want)] != '\n') {
                hit = strstr(hit + 1, want); /* --list after --listen */
            }
            if (hit == NULL) {
                fail_msg("specx %s --help: the synopsis names --%.*s, the list does not", cmds[c],
                         (int)n, p + 2);
            }
            p += 1 + n;
        }
        free(r);
    }
    specx_proc_result *r = specx_proc_run("--help");
    for (size_t c = 0; c < 7; c++) {
        char want[32];
        snprintf(want, sizeof want, "\n  %s ", cmds[c]);
        assert_non_null(strstr(r->out, c < 6 ? want : "\n  bench "));
    }
    free(r);
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
        fprintf(stderr, "usage: test_app SPECX_BINARY [TEST_PATTERN]\n");
        return 2;
    }
    specx_bin = argv[1];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(assets, sizeof assets, "%s", a != NULL ? a : "../shared/assets");
    snprintf(models, sizeof models, "%s/models", assets);
    snprintf(video, sizeof video, "%s/video/udacity_test_video.mp4", assets);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/specx-test-app-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    specx_proc_init(specx_bin, tmpdir);
    if (argc > 2) {
        cmocka_set_test_filter(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_local_sync), cmocka_unit_test(test_run_unreachable_server),
        cmocka_unit_test(test_run_cloud_wins), cmocka_unit_test(test_run_remote_only_priorities),
        cmocka_unit_test(test_run_overload),   cmocka_unit_test(test_run_fallback),
        cmocka_unit_test(test_run_bad_input),  cmocka_unit_test(test_demo),
        cmocka_unit_test(test_help),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_tmp();
    return rc;
}
