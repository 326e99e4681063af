/*
 * report — edge-check's output: one line per check,
 *
 *     ok    what
 *     warn  what  (fix: how)
 *     FAIL  what  (fix: how)
 *
 * on stdout, in the order the checks run.  --quiet leaves out the ok
 * lines.  The exit status is 1 as soon as one line is not ok.
 */
#ifndef CHECK_REPORT_H
#define CHECK_REPORT_H

#include <stdbool.h>

enum verdict {
	V_OK,
	V_WARN,
	V_FAIL,
};

void report_init(bool quiet);
/* fix may be NULL for ok lines; it is required for the others. */
void report(enum verdict v, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int report_problems(void);

#endif
