/*
 * report — the output lines and the tally.  See report.h.
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>

static bool quiet;
static int problems;

void
report_init(bool q)
{
	quiet = q;
	problems = 0;
}

void
report(enum verdict v, const char *fix, const char *fmt, ...)
{
	static const char *const tag[] = { "ok", "warn", "FAIL" };
	char what[2048];
	va_list ap;

	if (v != V_OK)
		problems++;
	else if (quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (v != V_OK && fix != NULL)
		printf("%-4s  %s  (fix: %s)\n", tag[v], what, fix);
	else
		printf("%-4s  %s\n", tag[v], what);
	/* a line at a time: the sysadmin sees progress while DNS and
	 * connect() time out, and a pipe keeps the order */
	fflush(stdout);
}

int
report_problems(void)
{
	return problems;
}
