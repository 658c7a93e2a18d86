/* cmd_eval.h — what the two forms of `specx eval` (live, cmd_eval.c, and
 * --replay, cmd_eval_replay.c) share: the deadline list and mode names. */
#ifndef SPECX_APP_CMD_EVAL_H
#define SPECX_APP_CMD_EVAL_H

#include <stdbool.h>
#include <stddef.h>

/* "50,100,200" (positive ms, sorted, no duplicates) or "log:A:B:N" (N
 * values log-spaced from A to B inclusive, rounded to 3 significant digits)
 * into out[0..*n); at most max. False when malformed. */
bool specx_eval_parse_deadlines(const char *s, double *out, size_t max, size_t *n);

/* `specx eval --replay ...` (argv as given to specx eval). */
int specx_cmd_eval_replay(int argc, char **argv);

#endif
