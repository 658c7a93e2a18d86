/* cmd_netem.c — `specx netem`: run the emulated link as a TCP proxy, or
 * describe a profile. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/netem.h"

#include "cli.h"
#include "commands.h"

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx netem --listen [HOST:]PORT --target HOST:PORT --profile NAME|FILE "
               "[--seed N]\n"
               "       specx netem --describe NAME|FILE [--traffic BYTES@HZ] [--reply-bytes N]\n"
               "                   [--seconds S] [--start S] [--json] [--seed N]\n"
               "       specx netem --show NAME | --list\n\n"
               "An emulated network link: a TCP proxy that delays, rate-limits and interrupts\n"
               "the bytes of every connection, per direction (up = client->server, down =\n"
               "server->client). Byte order is never changed. Put it between any gRPC client\n"
               "and server. SIGINT/SIGTERM stop it and print what it did.\n\n");
    specx_cli_print_options(f, opts);
    fprintf(f, "Profile file format: docs/netem.md.\n");
}

/* --describe's options, kept apart from the proxy's. */
typedef struct describe_opts {
    const char *traffic; /* "BYTES@HZ"; NULL: the profile's reference traffic */
    size_t bytes;
    double hz;
    unsigned long long reply_bytes; /* 0 = default */
    double seconds;                 /* 0 = default */
    double start;                   /* virtual time of the first request, s */
    bool json;
    bool reply_set, seconds_set, start_set;
} describe_opts;

/* --traffic BYTES@HZ */
static bool take_traffic(const char *v, void *out, char *msg, size_t n)
{
    describe_opts *d = out;
    const char *at = strchr(v, '@');
    char num[32];
    long bytes;
    if (at == NULL || (size_t)(at - v) >= sizeof num) {
        snprintf(msg, n, "--traffic needs BYTES@HZ, e.g. 33300@30");
        return false;
    }
    memcpy(num, v, (size_t)(at - v));
    num[at - v] = '\0';
    if (!specx_cli_long(num, 1, 1L << 30, &bytes) || !specx_cli_double(at + 1, 1e-6, 1e6, &d->hz)) {
        snprintf(msg, n, "--traffic needs BYTES@HZ with BYTES > 0 and HZ > 0, e.g. 33300@30");
        return false;
    }
    d->bytes = (size_t)bytes;
    d->traffic = v;
    return true;
}

/* --describe: the profile and the round trips its requests see under the
 * given traffic, simulated through the proxy's own link code. */
static int describe_profile(const char *what, const describe_opts *d, unsigned long long seed)
{
    specx_err err = {{0}};
    specx_netem_profile *prof = NULL;
    specx_status st = specx_netem_profile_load(what, &prof, &err);
    if (st == SPECX_OK) {
        const specx_netem_traffic *ref = specx_netem_profile_reference(prof);
        specx_netem_traffic t = ref ? *ref : (specx_netem_traffic){.reply_bytes = 1000};
        if (d->traffic != NULL) {
            t.request_bytes = d->bytes;
            t.hz = d->hz;
        }
        if (d->reply_bytes > 0) {
            t.reply_bytes = (size_t)d->reply_bytes;
        }
        if (d->seconds > 0) {
            t.seconds = d->seconds;
        }
        t.start = d->start;
        if (ref == NULL && d->traffic == NULL) {
            st = specx_err_set(&err, SPECX_EINVAL,
                               "profile '%s' names no reference traffic: give --traffic BYTES@HZ",
                               what);
        } else {
            st = specx_netem_profile_describe(prof, seed, &t, d->json, stdout, &err);
        }
    }
    specx_netem_profile_free(prof);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx netem: %s\n", specx_err_text(&err, st));
        return st == SPECX_ENOTFOUND || st == SPECX_EFORMAT || st == SPECX_EINVAL ? 2 : 1;
    }
    return 0;
}

/* "[HOST:]PORT" or "[V6]:PORT" into host (kept as is when absent) and port. */
static bool parse_listen(const char *listen, char *host, size_t host_n, int *port)
{
    const char *port_s = listen;
    const char *colon = strrchr(listen, ':');
    if (colon) {
        size_t n = (size_t)(colon - listen);
        if (n == 0 || n >= host_n) {
            fprintf(stderr, "specx netem: bad --listen '%s'\n", listen);
            return false;
        }
        if (listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
            memcpy(host, listen + 1, n - 2); /* [v6-address]:port */
            host[n - 2] = '\0';
        } else {
            memcpy(host, listen, n);
            host[n] = '\0';
        }
        port_s = colon + 1;
    }
    if (!specx_cli_int(port_s, 0, 65535, port)) {
        fprintf(stderr, "specx netem: --listen needs a port 0..65535, got '%s'\n", listen);
        return false;
    }
    return true;
}

/* The proxy until SIGINT/SIGTERM; then what it did. */
static int run_proxy(const specx_netem_config *cfg)
{
    /* Block the stop signals before the proxy thread exists so that only
     * sigwait below receives them. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    specx_err err = {{0}};
    specx_netem *link = NULL;
    specx_status st = specx_netem_start(cfg, &link, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx netem: %s\n", specx_err_text(&err, st));
        pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
        return 1;
    }
    printf("netem: listening on %s:%d -> %s, profile %s, seed %llu\n", cfg->listen_host,
           specx_netem_port(link), cfg->target, specx_netem_profile_name(cfg->profile),
           (unsigned long long)cfg->seed);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    specx_netem_stop(link);
    specx_netem_stats stats;
    specx_netem_stats_get(link, &stats);
    printf("netem: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    specx_netem_stats_print(&stats, stdout);
    specx_netem_destroy(link);
    pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
    return 0;
}

/* --list or --show NAME. */
static int print_builtin(bool list, const char *show)
{
    if (list) {
        for (const char *const *n = specx_netem_builtin_names(); *n; n++) {
            printf("%s\n", *n);
        }
        return 0;
    }
    const char *text = specx_netem_builtin_text(show);
    if (!text) {
        fprintf(stderr, "specx netem: no built-in profile '%s' (try --list)\n", show);
        return 2;
    }
    fputs(text, stdout);
    return 0;
}

/* The proxy: --listen, --target and --profile. */
static int proxy(const char *listen, const char *target, const char *profile_name,
                 unsigned long long seed)
{
    char host[256] = "127.0.0.1";
    int port;
    if (!parse_listen(listen, host, sizeof host, &port)) {
        return 2;
    }
    specx_err err = {{0}};
    specx_netem_profile *prof = NULL;
    specx_status st = specx_netem_profile_load(profile_name, &prof, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx netem: %s\n", specx_err_text(&err, st));
        return 2;
    }
    specx_netem_config cfg = {
        .listen_host = host, .listen_port = port, .target = target, .profile = prof, .seed = seed};
    int rc = run_proxy(&cfg);
    specx_netem_profile_free(prof);
    return rc;
}

int specx_cmd_netem(int argc, char **argv)
{
    const char *listen = NULL, *target = NULL, *profile_name = NULL, *describe = NULL;
    const char *show = NULL;
    unsigned long long seed = 1;
    bool list = false;
    describe_opts dopt = {0};
    const specx_cli_opt opts[] = {
        {"listen", 0, SPECX_CLI_STRING, &listen, .meta = "[HOST:]PORT",
         .help = "where to accept (HOST defaults to 127.0.0.1; 0 = any port)"},
        {"target", 0, SPECX_CLI_STRING, &target, .meta = "HOST:PORT",
         .help = "where to forward each connection"},
        {"profile", 0, SPECX_CLI_STRING, &profile_name, .meta = "NAME|FILE",
         .help = "built-in profile (5g-sf, lan, lte, none) or a profile file"},
        {"seed", 0, SPECX_CLI_U64, &seed, 0, INFINITY, .meta = "N",
         .help = "seed of every random draw (default 1)"},
        {"describe", 0, SPECX_CLI_STRING, &describe, .meta = "NAME|FILE",
         .help = "print the profile and the round trips its requests see,\nsimulated on a "
                 "virtual clock through the proxy's link code"},
        {"traffic", 0, SPECX_CLI_CALL, &dopt, .call = take_traffic, .meta = "BYTES@HZ",
         .help = "--describe: requests of BYTES at HZ on one connection\n(default: the "
                 "profile's reference traffic)"},
        {"reply-bytes", 0, SPECX_CLI_U64, &dopt.reply_bytes, 1, 1 << 30, .set = &dopt.reply_set,
         .meta = "N", .help = "--describe: reply size (default: the reference's, else 1000)"},
        {"seconds", 0, SPECX_CLI_DOUBLE, &dopt.seconds, 1e-3, 1e7, .set = &dopt.seconds_set,
         .meta = "S", .help = "--describe: virtual time to simulate (default 360000: 100 h)"},
        {"start", 0, SPECX_CLI_DOUBLE, &dopt.start, 0, 1e7, .set = &dopt.start_set, .meta = "S",
         .help = "--describe: virtual time of the first request (default 0;\nthe link's delay "
                 "process depends on time since its start)"},
        {"json", 0, SPECX_CLI_FLAG, &dopt.json,
         .help = "--describe: one JSON line instead of the table"},
        {"show", 0, SPECX_CLI_STRING, &show, .meta = "NAME",
         .help = "print a built-in profile's definition (with its sources)"},
        {"list", 0, SPECX_CLI_FLAG, &list, .help = "list the built-in profiles"},
        {0},
    };
    int rc = specx_cli_parse("specx netem", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if (list || show) {
        return print_builtin(list, show);
    }
    if (describe) {
        return describe_profile(describe, &dopt, seed);
    }
    if (dopt.traffic != NULL || dopt.reply_set || dopt.seconds_set || dopt.start_set || dopt.json) {
        fprintf(stderr, "specx netem: --traffic, --reply-bytes, --seconds, --start and --json go "
                        "with --describe\n");
        return 2;
    }
    if (!listen || !target || !profile_name) {
        fprintf(stderr, "specx netem: --listen, --target and --profile are required (see specx "
                        "netem --help)\n");
        return 2;
    }
    return proxy(listen, target, profile_name, seed);
}
