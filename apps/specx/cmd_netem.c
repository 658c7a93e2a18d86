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
               "       specx netem --describe NAME|FILE [--seed N] [--samples N]\n"
               "       specx netem --show NAME | --list\n\n"
               "An emulated network link: a TCP proxy that delays, rate-limits and interrupts\n"
               "the bytes of every connection, per direction (up = client->server, down =\n"
               "server->client). Byte order is never changed. Put it between any gRPC client\n"
               "and server. SIGINT/SIGTERM stop it and print what it did.\n\n");
    specx_cli_print_options(f, opts);
    fprintf(f, "Profile file format: docs/netem.md.\n");
}

/* --describe: the profile and the RTT quantiles it produces. */
static int describe_profile(const char *name, unsigned long long seed, unsigned long long samples)
{
    specx_err err = {{0}};
    specx_netem_profile *prof = NULL;
    specx_status st = specx_netem_profile_load(name, &prof, &err);
    if (st == SPECX_OK) {
        st = specx_netem_profile_describe(prof, seed, (size_t)samples, stdout, &err);
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

int specx_cmd_netem(int argc, char **argv)
{
    const char *listen = NULL, *target = NULL, *profile_name = NULL, *describe = NULL;
    const char *show = NULL;
    unsigned long long seed = 1, samples = 1000000;
    bool list = false;
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
         .help = "print the profile and the RTT quantiles it produces"},
        {"samples", 0, SPECX_CLI_U64, &samples, 1, 100000000, .meta = "N",
         .help = "draws for --describe (default 1000000)"},
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
    if (list) {
        for (const char *const *n = specx_netem_builtin_names(); *n; n++) {
            printf("%s\n", *n);
        }
        return 0;
    }
    if (show) {
        const char *text = specx_netem_builtin_text(show);
        if (!text) {
            fprintf(stderr, "specx netem: no built-in profile '%s' (try --list)\n", show);
            return 2;
        }
        fputs(text, stdout);
        return 0;
    }
    if (describe) {
        return describe_profile(describe, seed, samples);
    }
    if (!listen || !target || !profile_name) {
        fprintf(stderr, "specx netem: --listen, --target and --profile are required (see specx "
                        "netem --help)\n");
        return 2;
    }
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
    rc = run_proxy(&cfg);
    specx_netem_profile_free(prof);
    return rc;
}
