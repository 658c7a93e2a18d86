/* test_cfg_hostile.c — model files that must be refused cleanly by
 * specx_detector_open, on both backends (issue 11, item 6): each case is a
 * one-line change to yolo-fastest-1.1.cfg in a model directory of its own
 * (weights and names linked from the shared assets), opened in a child
 * process, so that a crash (SIGSEGV, SIGFPE, SIGABRT), a hang or a silent
 * success fails the case instead of the whole run. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#include "specx/detector.h"

#include "test_timeout.h"

typedef struct hostile {
    const char *name;
    const char *key; /* the line starting with key (nth such line) is replaced */
    int nth;
    const char *line; /* the replacement; NULL: the line is removed */
    const char *key2; /* optional second replacement */
    const char *line2;
} hostile;

static const hostile cases[] = {
    /* the cases of the issue */
    {.name = "route -999", .key = "layers", .nth = 0, .line = "layers=-999"},
    {.name = "size 0", .key = "size", .nth = 0, .line = "size=0"},
    {.name = "width 33", .key = "width", .nth = 0, .line = "width=33"},
    {.name = "stride 0", .key = "stride", .nth = 0, .line = "stride=0"},
    {.name = "classes 100000", .key = "classes", .nth = 0, .line = "classes=100000"},
    {.name = "filters 2e9", .key = "filters", .nth = 0, .line = "filters=2000000000"},
    {.name = "8192x8192 input",
     .key = "width",
     .line = "width=8192",
     .key2 = "height",
     .line2 = "height=8192"},
    {.name = "mask 0,1,99", .key = "mask", .nth = 0, .line = "mask=0,1,99"},
    /* more that darknet reads past, divides by or trusts */
    {.name = "filters written 2e9", .key = "filters", .nth = 0, .line = "filters=2e9"},
    {.name = "anchors too many",
     .key = "anchors",
     .line = "anchors=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26"},
    {.name = "shortcut without from", .key = "from", .nth = 0, .line = NULL},
    {.name = "scales shorter than steps", .key = "scales", .nth = 0, .line = "scales=.1"},
    {.name = "maxpool stride 0", .key = "[maxpool]", .nth = 0, .line = "[maxpool]\nstride=0"},
    {.name = "upsample stride 0", .key = "[upsample]", .nth = 0, .line = "[upsample]\nstride=0"},
    {.name = "route to itself", .key = "layers", .nth = 0, .line = "layers=0,0,100000"},
    {.name = "groups not dividing", .key = "groups", .nth = 0, .line = "groups=3"},
    {.name = "unknown layer type", .key = "[upsample]", .nth = 0, .line = "[crop]"},
    {.name = "map file", .key = "classes", .nth = 0, .line = "classes=80\nmap=/etc/passwd"},
    {.name = "negative filters", .key = "filters", .nth = 0, .line = "filters=-8"},
    {.name = "channels 0", .key = "channels", .nth = 0, .line = "channels=0"},
};
#define NCASES (sizeof cases / sizeof cases[0])

static char g_tmp[256];

static const char *assets_models(void)
{
    static char buf[4096];
    const char *a = getenv("SPECX_SHARED_ASSETS");
    snprintf(buf, sizeof buf, "%s/models", a != NULL ? a : "../shared/assets");
    return buf;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* text with the nth line starting with key replaced by line (NULL: removed). */
static void replace_line(char **text, const char *key, int nth, const char *line)
{
    char *t = *text;
    size_t klen = strlen(key);
    for (char *p = t; *p != '\0';) {
        char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        if (strncmp(p, key, klen) == 0 && (key[0] == '[' || p[klen] == '=' || p[klen] == ' ') &&
            nth-- == 0) {
            size_t pre = (size_t)(p - t), post = strlen(p + len);
            size_t nl = line != NULL ? strlen(line) : 0;
            char *out = malloc(pre + nl + post + 1);
            assert_non_null(out);
            memcpy(out, t, pre);
            memcpy(out + pre, line != NULL ? line : "", nl);
            memcpy(out + pre + nl, p + len, post + 1);
            free(t);
            *text = out;
            return;
        }
        p = eol != NULL ? eol + 1 : p + len;
    }
    fail_msg("no line '%s' #%d in the cfg", key, nth);
}

/* A model directory for case c: the mutated cfg, the real weights and names. */
static void make_dir(const hostile *c, char *dir, size_t n)
{
    static int seq;
    snprintf(dir, n, "%s/case%d", g_tmp, seq++);
    assert_int_equal(mkdir(dir, 0700), 0);
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/yolo-fastest-1.1.cfg", assets_models());
    char *text = slurp(src);
    replace_line(&text, c->key, c->nth, c->line);
    if (c->key2 != NULL) {
        replace_line(&text, c->key2, 0, c->line2);
    }
    snprintf(dst, sizeof dst, "%s/yolo-fastest-1.1.cfg", dir);
    FILE *f = fopen(dst, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    const char *links[] = {"yolo-fastest-1.1.weights", "coco.names"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", assets_models(), links[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, links[i]);
        assert_int_equal(symlink(src, dst), 0);
    }
}

enum { REFUSED = 0, OPENED = 3 };

/* In the child: opens the model; exit REFUSED with the message on stdout,
 * or OPENED. A crash ends the child by a signal (or ASan's exit code). */
static void child(const char *dir, const char *backend)
{
    specx_detector_config cfg = {
        .model = "yolo-fastest-1.1", .model_dir = dir, .backend = backend, .threads = 1};
    specx_detector *det = NULL;
    specx_err err = {{0}};
    specx_status st = specx_detector_open(&cfg, &det, &err);
    if (st == SPECX_OK) {
        specx_detector_close(det);
        _exit(OPENED);
    }
    printf("      %s: refused: %s\n", backend, specx_err_text(&err, st));
    fflush(stdout);
    _exit(REFUSED);
}

/* Runs one case on one backend; returns a description of what went wrong,
 * or NULL when the model was refused cleanly. */
static const char *run_case(const char *dir, const char *backend, char *buf, size_t n)
{
    unsigned limit = (unsigned)(60.0 * specx_test_timeout_scale());
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's (and the sanitizers') handlers would catch a crash and
         * carry on in the child: a crash must end it. */
        const int sigs[] = {SIGSEGV, SIGFPE, SIGABRT, SIGBUS, SIGILL};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
            signal(sigs[i], SIG_DFL);
        }
        alarm(limit); /* a hang ends the child with SIGALRM */
        child(dir, backend);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
        snprintf(buf, n, "hung (no answer in %u s)", limit);
        return buf;
    }
    if (WIFSIGNALED(status)) {
        snprintf(buf, n, "crashed with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        return buf;
    }
    if (WEXITSTATUS(status) == OPENED) {
        return "opened it (silent success)";
    }
    if (WEXITSTATUS(status) != REFUSED) {
        snprintf(buf, n, "died with exit code %d (a sanitizer report?)", WEXITSTATUS(status));
        return buf;
    }
    return NULL;
}

static void hostile_cfgs(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < NCASES; i++) {
        char dir[512];
        make_dir(&cases[i], dir, sizeof dir);
        printf("case '%s'\n", cases[i].name);
        const char *backends[] = {"darknet", "xnnpack"};
        for (size_t b = 0; b < 2; b++) {
            char why[160];
            const char *r = run_case(dir, backends[b], why, sizeof why);
            if (r != NULL) {
                printf("FAIL  %s: %s\n", backends[b], r);
                bad++;
            }
        }
    }
    printf("%d of %zu (case, backend) pairs not refused cleanly\n", bad, 2 * NCASES);
    assert_int_equal(bad, 0);
}

/* The unchanged model still opens on both backends (the check is not just
 * refusing everything). */
static void clean_cfg_opens(void **state)
{
    (void)state;
    const char *backends[] = {"darknet", "xnnpack"};
    for (size_t b = 0; b < 2; b++) {
        specx_detector_config cfg = {.model = "yolo-fastest-1.1",
                                     .model_dir = assets_models(),
                                     .backend = backends[b],
                                     .threads = 1};
        specx_detector *det = NULL;
        specx_err err = {{0}};
        specx_status st = specx_detector_open(&cfg, &det, &err);
        if (st != SPECX_OK) {
            fail_msg("%s: %s", backends[b], specx_err_text(&err, st));
        }
        specx_detector_close(det);
    }
}

int main(void)
{
    snprintf(g_tmp, sizeof g_tmp, "%s/specx-cfg-hostile-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_tmp) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clean_cfg_opens),
        cmocka_unit_test(hostile_cfgs),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", g_tmp);
    }
    return rc;
}
