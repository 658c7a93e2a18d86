/* cmd_bench.c — `specx bench NAME`: benchmarks that print figures, never
 * pass/fail on time. */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} benches[] = {
    {"operator", specx_bench_operator, "operator overhead, throughput, deadline precision"},
    {"rpc", specx_bench_rpc, "gRPC loopback round trip vs a Python grpcio server"},
    {"detect", specx_bench_detect, "per-model inference time per backend and thread count"},
    {"pipeline", specx_bench_pipeline, "server throughput vs in-process inference"},
    {"metrics", specx_bench_metrics, "cost of metrics updates, scrapes, token checks and quotas"},
    {"fleet", specx_bench_fleet, "M vehicles vs a pool of replicas, direct and through nginx"},
};

int specx_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f,
                "usage: specx bench NAME [options]   (specx bench NAME --help)\n\nbenchmarks:\n");
        for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
            fprintf(f, "  %-9s %s\n", benches[i].name, benches[i].summary);
        }
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(argv[1], benches[i].name) == 0) {
            return benches[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "specx bench: unknown benchmark '%s'\n", argv[1]);
    return 2;
}
