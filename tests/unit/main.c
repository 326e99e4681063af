/*
 * The unit-test runner.  See t.h.
 */
#include "t.h"

#include <stdarg.h>
#include <stdlib.h>

static struct t_case *t_head, **t_tail = &t_head;
int t_failed_now;

void
t_register(struct t_case *c)
{
	*t_tail = c;
	t_tail = &c->next;
}

void
t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	t_failed_now = 1;
}

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (struct t_case *c = t_head; c != NULL; c = c->next) {
		if (argc > 1 && strstr(c->name, argv[1]) == NULL)
			continue;
		t_failed_now = 0;
		c->fn();
		if (t_failed_now) {
			fprintf(stderr, "FAIL %s\n", c->name);
			failed++;
		} else {
			passed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
