/*
 * syntax — running `<daemon> -t -c FILE`.  See syntax.h.
 */
#include "syntax.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "run.h"

static void
check_one(const struct daemon_conf *d, const char *sbin)
{
	char bin[4096 + 64], out[8192], fix[128];
	char *argv[] = { bin, "-t", "-c", (char *)d->path, NULL };
	char *line, *save;
	int status;

	snprintf(bin, sizeof(bin), "%s/%s", sbin, d->name);
	if (access(bin, X_OK) != 0) {
		report(V_FAIL, "install its package (edge-<daemon>), or point --sbin "
		    "at the directory that has it",
		    "config: %s: %s is not installed", d->path, bin);
		return;
	}
	if (run_capture(argv, out, sizeof(out), &status) == -1) {
		report(V_FAIL, "see the message", "config: %s -t: %s", bin, out);
		return;
	}
	if (status == 0 && !d->loaded) {
		/* the daemon takes it, edge-check's copy of its loader not:
		 * the two come from different versions */
		report(V_FAIL, "use the edge-check of the installed daemons' version",
		    "config: %s -t accepts it, edge-check cannot read it: %s", d->name,
		    d->err);
		return;
	}
	if (status == 0) {
		report(V_OK, NULL, "config: %s: %s -t accepts it", d->path, d->name);
		return;
	}
	snprintf(fix, sizeof(fix), "correct what it names (man %s.toml)", d->name);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '\0')
			report(V_FAIL, fix, "config: %s", line);
	if (out[0] == '\0')
		report(V_FAIL, fix, "config: %s: %s -t exits %d", d->path, d->name, status);
}

void
syntax_check(const struct site *s, const char *sbin)
{
	for (int i = 0; i < D_COUNT; i++)
		if (s->d[i].present)
			check_one(&s->d[i], sbin);
}
