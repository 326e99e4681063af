/*
 * import — `xmppctl import SOURCE ...` and `xmppctl export`: options, the
 * reporting every source shares (each skipped row on stderr with its
 * reason, a progress line, the summary per kind of data) and the
 * dispatch to the source readers.  See import.h and README.md.
 */
#include "import.h"
#include "xmppimport.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mucconf.h"
#include "server.h"

#define PROGRESS_TTY_MS 1000
#define PROGRESS_LOG_MS 10000

static const char *const kind_names[IK_NKINDS] = {
	[IK_ACCOUNT] = "accounts",
	[IK_ROSTER] = "roster items",
	[IK_VCARD] = "vCards",
	[IK_PRIVATE] = "private XML",
	[IK_OFFLINE] = "offline messages",
	[IK_ARCHIVE] = "archived messages",
	[IK_MAMPREFS] = "archive preferences",
	[IK_BLOCK] = "blocked JIDs",
	[IK_PRIVACY] = "privacy list items",
	[IK_PEPNODE] = "PEP nodes",
	[IK_PEPITEM] = "PEP items",
	[IK_PUSH] = "push registrations",
	[IK_LAST] = "last activity",
	[IK_ROOM] = "rooms",
	[IK_ROOMAFF] = "room affiliations",
	[IK_ROOMMSG] = "room messages",
	[IK_OTHER] = "other rows",
};

const char *
imp_kind_name(enum imp_kind k)
{
	return kind_names[k];
}

void
imp_skip(struct imp *im, enum imp_kind k, const char *what, const char *fmt, ...)
{
	va_list ap;

	im->n[k].skipped++;
	fprintf(stderr, "xmppctl import: skipped %s: %s: ", kind_names[k], what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
imp_done(struct imp *im, enum imp_kind k, unsigned long n)
{
	im->n[k].ok += n;
	im->rows += n;
}

static long
ms_since(const struct timespec *a, const struct timespec *b)
{
	return (long)((b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000);
}

void
imp_progress(struct imp *im, bool last)
{
	struct timespec now;
	bool tty = isatty(STDERR_FILENO);
	double s;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!last && ms_since(&im->last_progress, &now) <
	    (tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS))
		return;
	im->last_progress = now;
	s = (double)ms_since(&im->started, &now) / 1000.0;
	fprintf(stderr, "%sxmppctl import: %lu/%lu accounts and rooms, %lu rows, "
	    "%.0f rows/s, %.1f s%s", tty ? "\r" : "", im->units, im->units_total,
	    im->rows, s > 0 ? (double)im->rows / s : 0.0, s, tty && !last ? "" : "\n");
}

static void
summary(const struct imp *im, const char *source)
{
	struct timespec now;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &now);
	s = (double)ms_since(&im->started, &now) / 1000.0;
	bool exp = strcmp(source, "export") == 0;

	if (exp)
		printf("export to XEP-0227\n");
	else
		printf("import from %s%s\n", source, im->dry_run ?
		    " (dry run: every account's transaction was rolled back)" : "");
	printf("%-22s %10s %10s\n", "", im->dry_run ? "would be" : exp ? "exported" :
	    "imported", "skipped");
	for (int k = 0; k < IK_NKINDS; k++) {
		if (im->n[k].ok == 0 && im->n[k].skipped == 0 && k != IK_ACCOUNT)
			continue;
		printf("%-22s %10lu %10lu\n", kind_names[k], im->n[k].ok, im->n[k].skipped);
	}
	printf("%lu rows in %.1f s (%.0f rows/s)%s\n", im->rows, s,
	    s > 0 ? (double)im->rows / s : 0.0,
	    im->n[IK_ACCOUNT].skipped || im->n[IK_OTHER].skipped ?
	    "; the reasons for what was skipped are on stderr" : "");
}

static int
usage(void)
{
	fprintf(stderr, "usage: xmppctl [-c file] %s\n", IMPORT_USAGE);
	return 2;
}

int
import_command(const struct xmpp_config *cfg, PGconn *dst, int argc, char **argv)
{
	struct imp im = { .cfg = cfg, .dst = dst };
	int rc;

	/* the modules' limits ([vcard] max_size ...) are read through srv.cfg */
	srv.cfg = (struct xmpp_config *)cfg;
	clock_gettime(CLOCK_MONOTONIC, &im.started);
	im.last_progress = im.started;
	if (strcmp(argv[0], "export") == 0) {
		if ((rc = xep0227_export(&im, argc - 1, argv + 1)) == 2)
			return usage();
		imp_progress(&im, true);
		summary(&im, "export");
		return rc;
	}
	if (strcmp(argv[0], "import") != 0 || argc < 2)
		return usage();
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--dry-run") == 0)
			im.dry_run = true;
	if (strcmp(argv[1], "ejabberd") == 0)
		rc = ejabberd_import(&im, argc - 2, argv + 2);
	else if (strcmp(argv[1], "prosody") == 0)
		rc = prosody_import(&im, argc - 2, argv + 2);
	else if (strcmp(argv[1], "xep0227") == 0)
		rc = xep0227_import(&im, argc - 2, argv + 2);
	else
		return usage();
	if (rc == 2)
		return usage();
	imp_progress(&im, true);
	summary(&im, argv[1]);
	return rc;
}

/* Shared by the sources: --from, --host, --dry-run; -1 on anything else. */
int
imp_options(struct imp *im, int argc, char **argv, const char **from)
{
	*from = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			continue;
		if (i + 1 < argc && strcmp(argv[i], "--from") == 0)
			*from = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--host") == 0)
			im->only_host = argv[++i];
		else
			return -1;
	}
	return *from ? 0 : -1;
}

bool
imp_host_served(struct imp *im, const char *host)
{
	return xmpp_config_hosted(im->cfg, host);
}

PGresult *
imp_src_exec(struct imp *im, PGconn *c, const char *whose, const char *sql, int n,
    const char *const *v)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);

	if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	if (!im->failed) {
		snprintf(im->err, sizeof(im->err), "reading %s database: %s", whose,
		    PQresultErrorMessage(r));
		im->err[strcspn(im->err, "\n")] = '\0';
		im->failed = true;
	}
	PQclear(r);
	return NULL;
}

int
imp_src_tx(struct imp *im, PGconn *c, const char *whose, bool begin)
{
	PGresult *r = imp_src_exec(im, c, whose, begin ? "BEGIN ISOLATION LEVEL "
	    "REPEATABLE READ READ ONLY" : "COMMIT", 0, NULL);

	if (r == NULL) {
		if (!begin)
			PQclear(PQexec(c, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	return 0;
}

/* The room's service is one this server runs ([muc]). */
static bool
service_ours(struct imp *im, const char *service)
{
	const struct muc_config *mc = muc_cfg();

	if (mc == NULL || !mc->enabled)
		return false;
	if (mc->service_jid)
		return strcmp(mc->service_jid, service) == 0;
	return strncmp(service, "conference.", 11) == 0 &&
	    imp_host_served(im, service + 11);
}

int
imp_room_jid(struct imp *im, const char *name, const char *service, char *jid,
    size_t len)
{
	char norm[JID_STR_MAX + 1];

	snprintf(jid, len, "%s@%s", name, service);
	if (tgt_jid(jid, true, norm, sizeof(norm)) == -1 || strcmp(norm, jid) != 0) {
		imp_skip(im, IK_ROOM, jid, "not a valid (normalised) room JID");
		return -1;
	}
	if (!service_ours(im, service)) {
		imp_skip(im, IK_ROOM, jid, "%s is not this server's group chat service "
		    "([muc] in xmpp-core.toml)", service);
		return -1;
	}
	return 0;
}
