/* test_cli.c — the command line of every subcommand (apps/specx/cli.c):
 * checked numbers and deadlines, option tables on getopt_long (values, "=",
 * prefixes, flags, "was set" flags, aliases, operands, the one-line errors),
 * the --help list made from the same table, the --server bridge that says
 * which options a server string gave, and mkdir -p. */
#include <errno.h>
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
/* cmocka needs the headers above */
#include <cmocka.h>

#include "cli.h"

/* ---- numbers ------------------------------------------------------------------ */

static void test_numbers(void **state)
{
    (void)state;
    long l = 7;
    assert_true(specx_cli_long("-12", -100, 100, &l));
    assert_int_equal(l, -12);
    assert_false(specx_cli_long("101", -100, 100, &l));
    assert_false(specx_cli_long("12x", -100, 100, &l));
    assert_false(specx_cli_long("", -100, 100, &l));
    assert_false(specx_cli_long(NULL, -100, 100, &l));
    assert_false(specx_cli_long("99999999999999999999", 0, 100, &l)); /* ERANGE */
    assert_int_equal(l, -12);                                         /* unchanged */
    unsigned long long u = 0;
    assert_true(specx_cli_u64("18446744073709551615", 0, ~0ULL, &u));
    assert_true(u == ~0ULL);
    assert_false(specx_cli_u64("-1", 0, ~0ULL, &u)); /* strtoull would wrap it */
    assert_false(specx_cli_u64(" 1", 0, ~0ULL, &u));
    assert_false(specx_cli_u64("18446744073709551616", 0, ~0ULL, &u));
    double d = 0;
    assert_true(specx_cli_double("0.25", 0, 1, &d));
    assert_true(d == 0.25);
    assert_false(specx_cli_double("nan", 0, INFINITY, &d));
    assert_false(specx_cli_double("1.5", 0, 1, &d));
    specx_dur_t dl = 0;
    assert_true(specx_cli_deadline("150", &dl));
    assert_int_equal(dl, SPECX_MS(150));
    assert_true(specx_cli_deadline("0.5", &dl));
    assert_int_equal(dl, SPECX_US(500));
    assert_true(specx_cli_deadline("none", &dl));
    assert_true(dl == SPECX_TIME_NEVER);
    assert_false(specx_cli_deadline("-1", &dl));
    assert_false(specx_cli_deadline("10ms", &dl));
    assert_false(specx_cli_deadline("", &dl));
}

/* ---- option tables ---------------------------------------------------------------- */

typedef struct opts {
    const char *name;
    int count;
    int64_t frames;
    double fps;
    float thr;
    bool verbose, count_set, fps_set;
    specx_dur_t deadline;
    int calls;
} opts;

static bool take_even(const char *v, void *out, char *msg, size_t n)
{
    int x;
    if (!specx_cli_int(v, 0, 100, &x) || x % 2 != 0) {
        snprintf(msg, n, "want an even number");
        return false;
    }
    *(int *)out = x;
    return true;
}

/* The table every parse test uses, writing into *o. */
static const specx_cli_opt *table_for(opts *o)
{
    static specx_cli_opt t[10];
    const specx_cli_opt src[] = {
        {"name", 0, SPECX_CLI_STRING, &o->name, .meta = "S", .help = "a name"},
        {"count", 'c', SPECX_CLI_INT, &o->count, 1, 10, .set = &o->count_set, .meta = "N",
         .help = "how many\nsecond line"},
        {"frames", 0, SPECX_CLI_I64, &o->frames, 1, 1e12, .meta = "N", .help = "frames"},
        {"fps", 0, SPECX_CLI_DOUBLE, &o->fps, 0, 1000, .set = &o->fps_set, .meta = "F",
         .help = "rate"},
        {"threshold", 0, SPECX_CLI_FLOAT, &o->thr, 0.001, 0.999, .meta = "T", .help = "score"},
        {"thresh", 0, SPECX_CLI_FLOAT, &o->thr, 0.001, 0.999, .help = NULL},
        {"deadline", 0, SPECX_CLI_DEADLINE, &o->deadline, .meta = "MS", .help = "deadline"},
        {"even", 0, SPECX_CLI_CALL, &o->calls, .call = take_even, .meta = "N",
         .help = "an even number"},
        {"verbose", 'v', SPECX_CLI_FLAG, &o->verbose, .help = "talk"},
        {0},
    };
    memcpy(t, src, sizeof src);
    return t;
}

static char errbuf[4096];

/* Parses the words of `line` (space-separated) with stderr captured. */
static int parse_line(opts *o, const char *line, int *operands, char ***argv_out)
{
    static char buf[1024];
    static char *argv[64];
    snprintf(buf, sizeof buf, "prog %s", line);
    int argc = 0;
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t != NULL && argc < 63;
         t = strtok_r(NULL, " ", &save)) {
        argv[argc++] = t;
    }
    argv[argc] = NULL;
    const specx_cli_opt *table = table_for(o);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = specx_cli_parse("specx test", table, argc, argv, operands);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(errbuf, 1, sizeof errbuf - 1, tmp);
    errbuf[n] = '\0';
    fclose(tmp);
    if (argv_out != NULL) {
        *argv_out = argv;
    }
    return rc;
}

static int lines_in(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void expect_usage(const char *line, const char *needle)
{
    opts o = {0};
    assert_int_equal(parse_line(&o, line, NULL, NULL), SPECX_CLI_USAGE);
    if (strstr(errbuf, needle) == NULL) {
        fprintf(stderr, "# '%s': expected '%s' in: %s", line, needle, errbuf);
    }
    assert_non_null(strstr(errbuf, needle));
    assert_int_equal(lines_in(errbuf), 1);
    assert_int_equal(strncmp(errbuf, "specx test: ", 12), 0);
}

static void test_parse_values(void **state)
{
    (void)state;
    opts o = {.count = 3};
    assert_int_equal(parse_line(&o, "--name x --fps=12.5 --frames 7 --thresh 0.3 -v", NULL, NULL),
                     SPECX_CLI_OK);
    assert_string_equal(o.name, "x");
    assert_true(o.fps == 12.5);
    assert_true(o.fps_set);
    assert_false(o.count_set); /* not given: default kept, flag clear */
    assert_int_equal(o.count, 3);
    assert_int_equal(o.frames, 7);
    assert_true(fabsf(o.thr - 0.3f) < 1e-6f);
    assert_true(o.verbose);
    assert_string_equal(errbuf, "");
    /* short options with values, prefixes, the deadline kind, a call */
    o = (opts){0};
    assert_int_equal(parse_line(&o, "-c 4 --dead none --even 8 --threshold 0.5", NULL, NULL),
                     SPECX_CLI_OK);
    assert_int_equal(o.count, 4);
    assert_true(o.count_set);
    assert_true(o.deadline == SPECX_TIME_NEVER);
    assert_int_equal(o.calls, 8);
    assert_true(fabsf(o.thr - 0.5f) < 1e-6f);
    /* the last of a repeated option wins */
    o = (opts){0};
    assert_int_equal(parse_line(&o, "--count 2 --count 5", NULL, NULL), SPECX_CLI_OK);
    assert_int_equal(o.count, 5);
    o = (opts){0};
    assert_int_equal(parse_line(&o, "--count 2 --help", NULL, NULL), SPECX_CLI_HELP);
    assert_int_equal(parse_line(&o, "-h", NULL, NULL), SPECX_CLI_HELP);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_usage("--bogus", "unknown option '--bogus'");
    expect_usage("--bogus=1", "unknown option '--bogus=1'");
    expect_usage("-x", "unknown option '-x'");
    expect_usage("--count", "--count needs a value");
    expect_usage("-c", "-c needs a value");
    expect_usage("--count 11", "bad value '11' for --count: want an integer in 1..10");
    expect_usage("--count 2x", "bad value '2x' for --count");
    expect_usage("--fps -1", "bad value '-1' for --fps: want a number in 0..1000");
    expect_usage("--thresh 2", "bad value '2' for --thresh");
    expect_usage("--deadline soon", "bad value 'soon' for --deadline: want milliseconds");
    expect_usage("--even 3", "bad value '3' for --even: want an even number");
    expect_usage("--verbose=1", "--verbose takes no value");
    expect_usage("--t 1", "unknown option '--t'"); /* ambiguous: threshold, thresh */
    expect_usage("stray", "unexpected argument 'stray'");
}

static void test_operands(void **state)
{
    (void)state;
    opts o = {0};
    int first = -1;
    char **argv = NULL;
    assert_int_equal(parse_line(&o, "a.jpg --count 2 b.jpg -v", &first, &argv), SPECX_CLI_OK);
    assert_int_equal(o.count, 2);
    assert_true(o.verbose);
    /* getopt moved the operands to the end, in order */
    assert_int_equal(first, 4);
    assert_string_equal(argv[first], "a.jpg");
    assert_string_equal(argv[first + 1], "b.jpg");
    /* "--" ends the options */
    assert_int_equal(parse_line(&o, "--count 3 -- --not-an-option", &first, &argv), SPECX_CLI_OK);
    assert_string_equal(argv[first], "--not-an-option");
}

static void test_help_list(void **state)
{
    (void)state;
    opts o = {0};
    const specx_cli_opt *table = table_for(&o);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    specx_cli_print_options(f, table);
    fclose(f);
    /* every listed option, with its value's name; the alias is not listed */
    assert_non_null(strstr(text, "  --name S            a name\n"));
    assert_non_null(strstr(text, "  --count N           how many\n"
                                 "                      second line\n"));
    assert_non_null(strstr(text, "  --threshold T       score\n"));
    assert_null(strstr(text, "--thresh "));
    assert_non_null(strstr(text, "  --verbose           talk\n"));
    assert_int_equal(lines_in(text), 9);
    free(text);
}

/* ---- servers ------------------------------------------------------------------------ */

static void test_servers(void **state)
{
    (void)state;
    specx_rpc_client_config s[3];
    size_t n = 0;
    char msg[256] = "";
    assert_true(specx_cli_server("h:1,name=a", s, &n, 3, msg, sizeof msg));
    assert_true(specx_cli_server("h:2,prio=5,inflight=2", s, &n, 3, msg, sizeof msg));
    assert_true(specx_cli_server("h:3,priority=1,name=inflight", s, &n, 3, msg, sizeof msg));
    assert_int_equal(n, 3);
    /* servers 1 and 2 gave a priority; only server 1 an in-flight bound
     * ("name=inflight" is a name) */
    assert_false(s[0].priority_set);
    assert_true(s[1].priority_set);
    assert_true(s[2].priority_set);
    assert_false(s[0].max_in_flight_set);
    assert_true(s[1].max_in_flight_set);
    assert_false(s[2].max_in_flight_set);
    assert_string_equal(s[0].name, "a");
    assert_int_equal(s[1].priority, 5);
    assert_int_equal(s[1].max_in_flight, 2);
    assert_false(specx_cli_server("h:4", s, &n, 3, msg, sizeof msg));
    assert_non_null(strstr(msg, "at most 3"));
    n = 0;
    assert_false(specx_cli_server("nohostport", s, &n, 3, msg, sizeof msg));
    assert_non_null(strstr(msg, "nohostport"));
    assert_int_equal(n, 0);
}

/* ---- mkdir -p -------------------------------------------------------------------------- */

static void test_mkdir_p(void **state)
{
    (void)state;
    char dir[] = "/tmp/specx-test-cli-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(specx_cli_mkdir_p(path), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(specx_cli_mkdir_p(path), 0); /* exists: fine */
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    errno = 0;
    assert_int_equal(specx_cli_mkdir_p(path), -1); /* a file in the way */
    assert_int_equal(errno, ENOTDIR);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),      cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_operands),
        cmocka_unit_test(test_help_list),    cmocka_unit_test(test_servers),
        cmocka_unit_test(test_mkdir_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
