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

#include "cli.h"
#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: specx netem --listen [HOST:]PORT --target HOST:PORT --profile NAME|FILE "
            "[--seed N]\n"
            "       specx netem --describe NAME|FILE [--traffic BYTES@HZ] [--reply-bytes N]\n"
            "                   [--seconds S] [--start S] [--json] [--seed N]\n"
            "       specx netem --show NAME | --list\n\n"
            "An emulated network link: a TCP proxy that delays, rate-limits and interrupts\n"
            "the bytes of every connection, per direction (up = client->server, down =\n"
            "server->client). Byte order is never changed. Put it between any gRPC client\n"
            "and server. SIGINT/SIGTERM stop it and print what it did.\n\n"
            "  --listen [HOST:]PORT  where to accept (HOST defaults to 127.0.0.1; 0 = any port)\n"
            "  --target HOST:PORT    where to forward each connection\n"
            "  --profile NAME|FILE   built-in profile (5g-sf, lan, lte, none) or a profile file\n"
            "  --seed N              seed of every random draw (default 1)\n"
            "  --describe NAME|FILE  print the profile and the round trips its requests see,\n"
            "                        simulated on a virtual clock through the proxy's link code\n"
            "  --traffic BYTES@HZ    requests of BYTES at HZ on one connection (default: the\n"
            "                        profile's reference traffic)\n"
            "  --reply-bytes N       reply size (default: the reference's, else 1000)\n"
            "  --seconds S           virtual time to simulate (default 360000: 100 h)\n"
            "  --start S             virtual time of the first request (default 0; the\n"
            "                        link's delay process depends on time since its start)\n"
            "  --json                one JSON line instead of the table\n"
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

/* --describe's options; describe_option keeps them apart from the proxy's. */
typedef struct describe_opts {
    bool traffic; /* --traffic given */
    size_t bytes;
    double hz;
    size_t reply_bytes; /* 0 = default */
    double seconds;     /* 0 = default */
    double start;       /* virtual time of the first request, s */
    bool json;
} describe_opts;

/* Applies one describe option (`ch` from the option table); 0 or -1 after
 * printing what is wrong. */
static int describe_option(describe_opts *d, int ch, const char *v)
{
    long n;
    switch (ch) {
    case 'T': {
        const char *at = v ? strchr(v, '@') : NULL;
        char num[32];
        if (!at || (size_t)(at - v) >= sizeof num) {
            break;
        }
        memcpy(num, v, (size_t)(at - v));
        num[at - v] = '\0';
        if (!specx_cli_long(num, 1, 1L << 30, &n) || !specx_cli_double(at + 1, 1e-6, 1e6, &d->hz)) {
            break;
        }
        d->bytes = (size_t)n;
        d->traffic = true;
        return 0;
    }
    case 'R':
        if (!specx_cli_long(v, 1, 1L << 30, &n)) {
            break;
        }
        d->reply_bytes = (size_t)n;
        return 0;
    case 'D':
        if (!specx_cli_double(v, 1e-3, 1e7, &d->seconds)) {
            break;
        }
        return 0;
    case 'A':
        if (!specx_cli_double(v, 0, 1e7, &d->start)) {
            break;
        }
        return 0;
    case 'J':
        d->json = true;
        return 0;
    default:
        break;
    }
    fprintf(stderr,
            "specx netem: bad value '%s' (--traffic BYTES@HZ, e.g. 33300@30; --reply-bytes N "
            "> 0; --seconds S > 0; --start S >= 0)\n",
            v ? v : "");
    return -1;
}

static int run_describe(const char *what, const describe_opts *d, unsigned long long seed)
{
    specx_err err = {{0}};
    specx_netem_profile *prof = NULL;
    specx_status st = specx_netem_profile_load(what, &prof, &err);
    if (st == SPECX_OK) {
        const specx_netem_traffic *ref = specx_netem_profile_reference(prof);
        specx_netem_traffic t = ref ? *ref : (specx_netem_traffic){.reply_bytes = 1000};
        if (d->traffic) {
            t.request_bytes = d->bytes;
            t.hz = d->hz;
        }
        if (d->reply_bytes) {
            t.reply_bytes = d->reply_bytes;
        }
        if (d->seconds > 0) {
            t.seconds = d->seconds;
        }
        t.start = d->start;
        if (!ref && !d->traffic) {
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

int specx_cmd_netem(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"target", required_argument, NULL, 't'},
        {"profile", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"describe", required_argument, NULL, 'd'},
        {"traffic", required_argument, NULL, 'T'},
        {"reply-bytes", required_argument, NULL, 'R'},
        {"seconds", required_argument, NULL, 'D'},
        {"start", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'J'},
        {"show", required_argument, NULL, 'S'},
        {"list", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *target = NULL, *profile_name = NULL, *describe = NULL;
    const char *show = NULL;
    unsigned long long seed = 1;
    bool list = false;
    describe_opts dopt = {0};
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
        case 'T':
        case 'R':
        case 'D':
        case 'A':
        case 'J':
            if (describe_option(&dopt, ch, optarg) != 0) {
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
        return run_describe(describe, &dopt, seed);
    }
    if (dopt.traffic || dopt.reply_bytes || dopt.seconds > 0 || dopt.start > 0 || dopt.json) {
        fprintf(stderr, "specx netem: --traffic, --reply-bytes, --seconds, --start and --json go "
                        "with --describe\n");
        return 2;
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
