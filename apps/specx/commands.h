/* commands.h — the `specx` subcommands. Each returns the process exit code:
 * 0 success, 1 runtime failure, 2 usage error. Each accepts --help. */
#ifndef SPECX_APP_COMMANDS_H
#define SPECX_APP_COMMANDS_H

int specx_cmd_bench(int argc, char **argv);
int specx_cmd_serve(int argc, char **argv);
int specx_cmd_run(int argc, char **argv);
int specx_cmd_demo(int argc, char **argv);
int specx_cmd_detect(int argc, char **argv);
int specx_cmd_netem(int argc, char **argv);
int specx_cmd_eval(int argc, char **argv);
int specx_cmd_token(int argc, char **argv);

#endif
