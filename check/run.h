/*
 * run — runs one of the daemons (`-t`, `--schema-version`) and collects
 * what it printed, stdout and stderr together.
 */
#ifndef CHECK_RUN_H
#define CHECK_RUN_H

#include <stddef.h>

/*
 * argv[0] is a path.  0 with the exit status in *status (-1: killed by a
 * signal) and the output in out (NUL-terminated, cut at cap), or -1 with
 * a message in out.
 */
int run_capture(char *const argv[], char *out, size_t cap, int *status);

#endif
