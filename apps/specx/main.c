/* main.c — the `specx` command: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"demo", specx_cmd_demo, "run the bundled end-to-end demo (server + video + local model)"},
    {"run", specx_cmd_run, "run a video through local and remote detectors under a deadline"},
    {"serve", specx_cmd_serve, "serve a detection model over gRPC"},
    {"detect", specx_cmd_detect, "detect objects in image files"},
    {"netem", specx_cmd_netem, "emulated network link as a TCP proxy"},
    {"eval", specx_cmd_eval, "accuracy of local/cloud/speculative against deadlines"},
    {"token", specx_cmd_token, "make a per-vehicle bearer token (specx token new --id V)"},
    {"bench", specx_cmd_bench,
     "benchmarks that print figures (operator, rpc, detect, pipeline, metrics, fleet)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: specx COMMAND [options]   (specx COMMAND --help for details)\n\n"
               "Speculative cloud execution for perception: each frame goes to a local\n"
               "detector and to remote detectors; a per-frame deadline picks the most\n"
               "preferred answer in time. Priorities: a higher number is more preferred;\n"
               "the local detector always ranks lowest.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("specx 0.1.0\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "specx: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
