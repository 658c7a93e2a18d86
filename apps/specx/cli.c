/* cli.c — option tables on getopt_long, checked numbers and process helpers
 * shared by the specx subcommands and benchmarks (cli.h).
 *
 * Design notes
 *  - One table per command is the single source of the accepted options and
 *    of the --help list, so the two cannot drift apart.
 *  - getopt_long reports with opterr = 0 and a leading ':' in the short
 *    option string, so every message is ours, on one line. Long options get
 *    val = 256 + table index, short ones their letter. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- numbers ------------------------------------------------------------------ */

bool specx_cli_long(const char *v, long lo, long hi, long *out)
{
    if (v == NULL) {
        return false;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        return false;
    }
    *out = x;
    return true;
}

bool specx_cli_int(const char *v, int lo, int hi, int *out)
{
    long x;
    if (!specx_cli_long(v, lo, hi, &x)) {
        return false;
    }
    *out = (int)x;
    return true;
}

bool specx_cli_u64(const char *v, unsigned long long lo, unsigned long long hi,
                   unsigned long long *out)
{
    /* strtoull would take "-1" as ULLONG_MAX and skip leading blanks */
    if (v == NULL || v[0] < '0' || v[0] > '9') {
        return false;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi) {
        return false;
    }
    *out = x;
    return true;
}

bool specx_cli_double(const char *v, double lo, double hi, double *out)
{
    if (v == NULL) {
        return false;
    }
    char *end;
    double x = strtod(v, &end);
    /* no errno test: an overflow gives ±HUGE_VAL and an underflow a value
     * near 0, which the range test judges like any other number */
    if (end == v || *end != '\0' || !(x >= lo && x <= hi)) {
        return false;
    }
    *out = x;
    return true;
}

bool specx_cli_deadline(const char *v, specx_dur_t *out)
{
    if (v == NULL) {
        return false;
    }
    if (strcasecmp(v, "none") == 0 || strcasecmp(v, "inf") == 0 || strcasecmp(v, "never") == 0) {
        *out = SPECX_TIME_NEVER;
        return true;
    }
    double ms;
    if (!specx_cli_double(v, 0, 1e9, &ms)) {
        return false;
    }
    *out = (specx_dur_t)llround(ms * 1e6);
    return true;
}

/* ---- option tables ----------------------------------------------------------------- */

static size_t count_opts(const specx_cli_opt *opts)
{
    size_t n = 0;
    while (opts[n].name != NULL) {
        n++;
    }
    return n;
}

/* What a bad value should have been, for the error line. */
static void describe_want(const specx_cli_opt *o, char *buf, size_t n)
{
    switch (o->kind) {
    case SPECX_CLI_INT:
    case SPECX_CLI_I64:
    case SPECX_CLI_U64:
        if (isinf(o->hi)) {
            snprintf(buf, n, "want an integer >= %.0f", o->lo);
        } else {
            snprintf(buf, n, "want an integer in %.0f..%.0f", o->lo, o->hi);
        }
        break;
    case SPECX_CLI_DOUBLE:
    case SPECX_CLI_FLOAT:
        if (isinf(o->hi)) {
            snprintf(buf, n, "want a number >= %g", o->lo);
        } else {
            snprintf(buf, n, "want a number in %g..%g", o->lo, o->hi);
        }
        break;
    case SPECX_CLI_DEADLINE:
        snprintf(buf, n, "want milliseconds >= 0 or 'none'");
        break;
    default:
        buf[0] = '\0';
        break;
    }
}

/* Stores one option's value; false (with msg) when it is not acceptable. */
static bool store(const specx_cli_opt *o, const char *v, char *msg, size_t n)
{
    msg[0] = '\0';
    bool ok = true;
    double d = 0;
    switch (o->kind) {
    case SPECX_CLI_FLAG:
        *(bool *)o->out = true;
        break;
    case SPECX_CLI_STRING:
        *(const char **)o->out = v;
        break;
    case SPECX_CLI_INT:
        ok = specx_cli_int(v, (int)o->lo, (int)o->hi, o->out);
        break;
    case SPECX_CLI_I64: {
        long x;
        ok = specx_cli_long(v, (long)o->lo, (long)o->hi, &x);
        if (ok) {
            *(int64_t *)o->out = x;
        }
        break;
    }
    case SPECX_CLI_U64:
        ok = specx_cli_u64(v, (unsigned long long)o->lo,
                           isinf(o->hi) ? ~0ULL : (unsigned long long)o->hi, o->out);
        break;
    case SPECX_CLI_DOUBLE:
        ok = specx_cli_double(v, o->lo, o->hi, o->out);
        break;
    case SPECX_CLI_FLOAT:
        ok = specx_cli_double(v, o->lo, o->hi, &d);
        if (ok) {
            *(float *)o->out = (float)d;
        }
        break;
    case SPECX_CLI_DEADLINE:
        ok = specx_cli_deadline(v, o->out);
        break;
    case SPECX_CLI_CALL:
        ok = o->call(v, o->out, msg, n);
        break;
    }
    if (!ok && msg[0] == '\0') {
        describe_want(o, msg, n);
    }
    if (ok && o->set != NULL) {
        *o->set = true;
    }
    return ok;
}

/* getopt's tables for opts: long options (plus --help) and the short string. */
static struct option *getopt_tables(const specx_cli_opt *opts, size_t n, char *shorts,
                                    size_t shorts_n)
{
    struct option *lo = calloc(n + 2, sizeof *lo);
    if (lo == NULL) {
        return NULL;
    }
    size_t k = 0;
    shorts[k++] = ':';
    shorts[k++] = 'h';
    for (size_t i = 0; i < n; i++) {
        bool arg = opts[i].kind != SPECX_CLI_FLAG;
        lo[i] = (struct option){opts[i].name, arg ? required_argument : no_argument, NULL,
                                256 + (int)i};
        if (opts[i].short_name != 0 && k + 3 < shorts_n) {
            shorts[k++] = opts[i].short_name;
            if (arg) {
                shorts[k++] = ':';
            }
        }
    }
    shorts[k] = '\0';
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    return lo;
}

static int option_index(const specx_cli_opt *opts, size_t n, int ch)
{
    if (ch >= 256 && (size_t)(ch - 256) < n) {
        return ch - 256;
    }
    for (size_t i = 0; i < n; i++) {
        if (ch != 0 && opts[i].short_name == ch) {
            return (int)i;
        }
    }
    return -1;
}

/* The option as the user wrote it, for messages. */
static void spelled(const specx_cli_opt *opts, size_t n, int ch, char *buf, size_t bn)
{
    int i = option_index(opts, n, ch);
    if (i >= 0 && ch >= 256) {
        snprintf(buf, bn, "--%s", opts[i].name);
    } else {
        snprintf(buf, bn, "-%c", ch); /* a short option */
    }
}

int specx_cli_parse(const char *prog, const specx_cli_opt *opts, int argc, char **argv,
                    int *operands)
{
    size_t n = count_opts(opts);
    char shorts[128];
    struct option *lo = getopt_tables(opts, n, shorts, sizeof shorts);
    if (lo == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return SPECX_CLI_USAGE;
    }
    int rc = SPECX_CLI_OK;
    opterr = 0;
    optind = 0; /* glibc: a full reset, permutation state included */
    int ch;
    while (rc == SPECX_CLI_OK && (ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        char name[96], msg[160] = "";
        if (ch == 'h') {
            rc = SPECX_CLI_HELP;
        } else if (ch == '?') {
            /* unknown, ambiguous, or a value given to a flag */
            if (optopt != 0 && optopt < 256) {
                fprintf(stderr, "%s: unknown option '-%c' (see %s --help)\n", prog, optopt, prog);
            } else if (optopt >= 256) {
                spelled(opts, n, optopt, name, sizeof name);
                fprintf(stderr, "%s: %s takes no value (see %s --help)\n", prog, name, prog);
            } else {
                fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n", prog, argv[optind - 1],
                        prog);
            }
            rc = SPECX_CLI_USAGE;
        } else if (ch == ':') {
            spelled(opts, n, optopt, name, sizeof name);
            fprintf(stderr, "%s: %s needs a value (see %s --help)\n", prog, name, prog);
            rc = SPECX_CLI_USAGE;
        } else {
            int i = option_index(opts, n, ch);
            spelled(opts, n, ch, name, sizeof name);
            if (i < 0 || !store(&opts[i], optarg, msg, sizeof msg)) {
                fprintf(stderr, "%s: bad value '%s' for %s%s%s\n", prog,
                        optarg != NULL ? optarg : "", name, msg[0] != '\0' ? ": " : "", msg);
                rc = SPECX_CLI_USAGE;
            }
        }
    }
    free(lo);
    if (rc == SPECX_CLI_OK && optind < argc && operands == NULL) {
        fprintf(stderr, "%s: unexpected argument '%s' (see %s --help)\n", prog, argv[optind], prog);
        rc = SPECX_CLI_USAGE;
    }
    if (operands != NULL) {
        *operands = optind;
    }
    return rc;
}

void specx_cli_print_options(FILE *f, const specx_cli_opt *opts)
{
    for (const specx_cli_opt *o = opts; o->name != NULL; o++) {
        if (o->help == NULL) {
            continue;
        }
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->meta != NULL ? " " : "",
                 o->meta != NULL ? o->meta : "");
        const char *h = o->help;
        size_t len = strcspn(h, "\n");
        if (strlen(head) > 19) {
            fprintf(f, "  %s\n%22s%.*s\n", head, "", (int)len, h);
        } else {
            fprintf(f, "  %-20s%.*s\n", head, (int)len, h);
        }
        while (h[len] == '\n') {
            h += len + 1;
            len = strcspn(h, "\n");
            fprintf(f, "%22s%.*s\n", "", (int)len, h);
        }
    }
}

bool specx_cli_server(const char *v, specx_rpc_client_config *out, size_t *n, size_t max, char *msg,
                      size_t msg_n)
{
    if (*n >= max) {
        snprintf(msg, msg_n, "at most %zu servers", max);
        return false;
    }
    specx_err err = {{0}};
    specx_status st = specx_rpc_client_config_parse(v, &out[*n], &err);
    if (st != SPECX_OK) {
        snprintf(msg, msg_n, "%s", specx_err_text(&err, st));
        return false;
    }
    (*n)++;
    return true;
}

/* ---- process helpers ----------------------------------------------------------------- */

bool specx_cli_find_asset(const char *rel, char *buf, size_t n)
{
    const char *envs[] = {"SPECX_ASSETS_DIR", "SPECX_SHARED_ASSETS"};
    for (size_t i = 0; i < 2; i++) {
        const char *d = getenv(envs[i]);
        if (d != NULL && d[0] != '\0') {
            snprintf(buf, n, "%s/%s", d, rel);
            if (access(buf, R_OK) == 0) {
                return true;
            }
        }
    }
    const char *dirs[] = {"assets", "../shared/assets"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(buf, n, "%s/%s", dirs[i], rel);
        if (access(buf, R_OK) == 0) {
            return true;
        }
    }
    return false;
}

int specx_cli_mkdir_p(const char *path)
{
    char buf[4096];
    if (path == NULL || path[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return -1;
    }
    struct stat st;
    if (stat(buf, &st) != 0) {
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static atomic_bool *sigint_flag;
static struct sigaction sigint_old;

static void on_sigint(int sig)
{
    (void)sig;
    if (sigint_flag != NULL) {
        atomic_store(sigint_flag, true);
    }
}

void specx_cli_sigint_catch(atomic_bool *stop)
{
    sigint_flag = stop;
    /* SA_RESETHAND: the second Ctrl-C ends the process, also when what is
     * being waited for never comes. No SA_RESTART: sleeps and waits on the
     * main thread return EINTR and see the flag at once. */
    struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &sigint_old);
}

void specx_cli_sigint_restore(void)
{
    sigaction(SIGINT, &sigint_old, NULL);
    sigint_flag = NULL;
}
