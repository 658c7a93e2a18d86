/* cmd_netem.c — `specx netem`: run the emulated link as a TCP proxy, or
 * describe a profile. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/netem.h"

#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: specx netem --listen [HOST:]PORT --target HOST:PORT --profile NAME|FILE "
            "[--seed N]\n"
            "       specx netem --describe NAME|FILE [--seed N] [--samples N]\n"
            "       specx netem --show NAME | --list\n\n"
            "An emulated network link: a TCP proxy that delays, rate-limits and interrupts\n"
            "the bytes of every connection, per direction (up = client->server, down =\n"
            "server->client). Byte order is never changed. Put it between any gRPC client\n"
            "and server. SIGINT/SIGTERM stop it and print what it did.\n\n"
            "  --listen [HOST:]PORT  where to accept (HOST defaults to 127.0.0.1; 0 = any port)\n"
            "  --target HOST:PORT    where to forward each connection\n"
            "  --profile NAME|FILE   built-in profile (5g-sf, lan, lte, none) or a profile file\n"
            "  --seed N              seed of every random draw (default 1)\n"
            "  --describe NAME|FILE  print the profile and the RTT quantiles it produces\n"
            "  --samples N           draws for --describe (default 1000000)\n"
            "  --show NAME           print a built-in profile's definition (with its sources)\n"
            "  --list                list the built-in profiles\n"
            "Profile file format: docs/netem.md.\n");
}

static int parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-') {
        return -1;
    }
    *out = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

int specx_cmd_netem(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"target", required_argument, NULL, 't'},
        {"profile", required_argument, NULL, 'p'},  {"seed", required_argument, NULL, 's'},
        {"describe", required_argument, NULL, 'd'}, {"samples", required_argument, NULL, 'n'},
        {"show", required_argument, NULL, 'S'},     {"list", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *target = NULL, *profile_name = NULL, *describe = NULL;
    const char *show = NULL;
    unsigned long long seed = 1, samples = 1000000;
    bool list = false;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listen = optarg;
            break;
        case 't':
            target = optarg;
            break;
        case 'p':
            profile_name = optarg;
            break;
        case 's':
            if (parse_u64(optarg, &seed) != 0) {
                fprintf(stderr, "specx netem: --seed needs a non-negative integer, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'd':
            describe = optarg;
            break;
        case 'n':
            if (parse_u64(optarg, &samples) != 0 || samples == 0 || samples > 100000000ULL) {
                fprintf(stderr, "specx netem: --samples needs 1..100000000, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'S':
            show = optarg;
            break;
        case 'L':
            list = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "specx netem: unexpected argument '%s'\n", argv[optind]);
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
    specx_err err = {{0}};
    specx_netem_profile *prof = NULL;
    if (describe) {
        specx_status st = specx_netem_profile_load(describe, &prof, &err);
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
    if (!listen || !target || !profile_name) {
        fprintf(stderr, "specx netem: --listen, --target and --profile are required\n");
        usage(stderr);
        return 2;
    }
    char host[256] = "127.0.0.1";
    const char *port_s = listen;
    const char *colon = strrchr(listen, ':');
    if (colon) {
        size_t n = (size_t)(colon - listen);
        if (n == 0 || n >= sizeof host) {
            fprintf(stderr, "specx netem: bad --listen '%s'\n", listen);
            return 2;
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
    unsigned long long port;
    if (parse_u64(port_s, &port) != 0 || port > 65535) {
        fprintf(stderr, "specx netem: --listen needs a port 0..65535, got '%s'\n", listen);
        return 2;
    }
    specx_status st = specx_netem_profile_load(profile_name, &prof, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx netem: %s\n", specx_err_text(&err, st));
        return 2;
    }

    /* Block the stop signals before the proxy thread exists so that only
     * sigwait below receives them. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

    specx_netem_config cfg = {.listen_host = host,
                              .listen_port = (int)port,
                              .target = target,
                              .profile = prof,
                              .seed = seed};
    specx_netem *link = NULL;
    st = specx_netem_start(&cfg, &link, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx netem: %s\n", specx_err_text(&err, st));
        specx_netem_profile_free(prof);
        pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
        return 1;
    }
    printf("netem: listening on %s:%d -> %s, profile %s, seed %llu\n", host, specx_netem_port(link),
           target, specx_netem_profile_name(prof), seed);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop_sigs, &sig);
    specx_netem_stop(link);
    specx_netem_stats stats;
    specx_netem_stats_get(link, &stats);
    printf("netem: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    specx_netem_stats_print(&stats, stdout);
    specx_netem_destroy(link);
    specx_netem_profile_free(prof);
    pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
    return 0;
}
