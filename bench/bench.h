/* bench.h — the benchmarks behind `specx bench NAME` (target specx_bench,
 * linked into the specx command). Each prints figures and never passes or
 * fails on time; each takes the subcommand's argv (argv[0] = NAME) and
 * returns the exit code: 0 done, 1 runtime failure, 2 usage error. Options
 * are parsed with the command's option tables (apps/specx/cli.h). */
#ifndef SPECX_BENCH_H
#define SPECX_BENCH_H

#include <stdbool.h>
#include <stddef.h>

int specx_bench_operator(int argc, char **argv);
int specx_bench_rpc(int argc, char **argv);
int specx_bench_detect(int argc, char **argv);
int specx_bench_pipeline(int argc, char **argv);
int specx_bench_metrics(int argc, char **argv);
int specx_bench_fleet(int argc, char **argv);

/* The source checkout that holds rel (a path inside it), into out: given
 * (--source), else $SPECX_SOURCE_DIR, else the checkout the binary was
 * built in (its build directory's parent). False when none has it. */
bool specx_bench_source_dir(const char *given, const char *rel, char *out, size_t n);

#endif
