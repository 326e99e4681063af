/*
 * db — the database check.  See db.h.
 *
 * The connection is made in a forked child that drops to the daemon's
 * user first (as `runuser -u xmpp-core` would); the child writes what it
 * found to a pipe, a line each: "E message" (failed), "C role db host"
 * (connected), "N" (no schema_migrations table), "V version".
 */
#include "db.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "access.h"
#include "report.h"
#include "run.h"
#include "users.h"

#define DB_MAX_MIGRATIONS 512

struct migration {
	int version;
	char name[64];
};

/* The child: connect, query, print, exit. */
static void
probe(FILE *out, const char *conninfo)
{
	const char *const kw[] = { "connect_timeout", "dbname", NULL };
	const char *const val[] = { "5", conninfo, NULL };
	PGconn *c = PQconnectdbParams(kw, val, 1);
	PGresult *r;
	char *nl;

	if (PQstatus(c) != CONNECTION_OK) {
		char *m = PQerrorMessage(c);

		while ((nl = strchr(m, '\n')) != NULL)
			*nl = ' ';
		fprintf(out, "E %s\n", m);
		PQfinish(c);
		return;
	}
	fprintf(out, "C %s %s %s\n", PQuser(c), PQdb(c), PQhost(c));
	r = PQexecParams(c, "SELECT version FROM schema_migrations ORDER BY version",
	    0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(r); i++)
			fprintf(out, "V %s\n", PQgetvalue(r, i, 0));
	} else {
		const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		if (st && strcmp(st, "42P01") == 0)	/* undefined_table */
			fprintf(out, "N\n");
		else {
			char *m = PQresultErrorMessage(r);

			while ((nl = strchr(m, '\n')) != NULL)
				*nl = ' ';
			fprintf(out, "E %s\n", m);
		}
	}
	PQclear(r);
	PQfinish(c);
}

/* Runs probe() as id (NULL: as ourselves); its lines into buf. */
static int
run_probe(const struct ident *id, const char *conninfo, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	pid_t pid;
	int fd[2], st;

	if (pipe(fd) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		FILE *out;

		close(fd[0]);
		if ((out = fdopen(fd[1], "w")) == NULL)
			_exit(1);
		if (id && (setgroups((size_t)id->ngroups, id->groups) == -1 ||
		    setgid(id->gid) == -1 || setuid(id->uid) == -1)) {
			fprintf(out, "E cannot become %s: %s\n", id->name, strerror(errno));
			fclose(out);
			_exit(1);
		}
		probe(out, conninfo);
		fclose(out);
		_exit(0);
	}
	close(fd[1]);
	while (n < cap - 1 && ((r = read(fd[0], buf + n, cap - 1 - n)) > 0 ||
	    (r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	buf[n] = '\0';
	close(fd[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return 0;
}

/* xmpp-core --schema-version: the count, or -1 with why in buf. */
static int
expected(const char *sbin, struct migration *m, size_t max, char *buf, size_t cap)
{
	char bin[4096 + 16];
	char *argv[] = { bin, "--schema-version", NULL };
	char *line, *save;
	int status, n = 0;

	snprintf(bin, sizeof(bin), "%s/xmpp-core", sbin);
	if (run_capture(argv, buf, cap, &status) == -1)
		return -1;
	if (status != 0) {
		snprintf(buf, cap, "%s --schema-version exits %d (an xmpp-core older "
		    "than this edge-check?)", bin, status);
		return -1;
	}
	for (line = strtok_r(buf, "\n", &save); line && (size_t)n < max;
	    line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%d %63s", &m[n].version, m[n].name) == 2)
			n++;
	return n;
}

static bool
has_version(const int *v, size_t n, int want)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == want)
			return true;
	return false;
}

static void
compare(const struct migration *m, int nm, const int *have, size_t nh)
{
	char missing[1024] = "", extra[1024] = "";

	for (int i = 0; i < nm; i++)
		if (!has_version(have, nh, m[i].version))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
			    "%s%s", missing[0] ? ", " : "", m[i].name);
	for (size_t i = 0; i < nh; i++) {
		bool known = false;

		for (int j = 0; j < nm; j++)
			known |= m[j].version == have[i];
		if (!known)
			snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			    "%s%d", extra[0] ? ", " : "", have[i]);
	}
	if (nh == 0)
		report(V_FAIL, "start xmpp-core, or run xmppctl init-db as its user: "
		    "either applies the migrations",
		    "database: no schema yet (xmpp-core expects %d migrations, up to %s)",
		    nm, nm ? m[nm - 1].name : "?");
	else if (missing[0])
		report(V_FAIL, "restart xmpp-core: it applies missing migrations at start",
		    "database: schema lacks %s", missing);
	if (extra[0])
		report(V_FAIL, "run the xmpp-core that made this schema (no downgrades)",
		    "database: schema has migrations this xmpp-core does not know: %s "
		    "(made by a newer xmpp-core)", extra);
	if (nh && !missing[0] && !extra[0])
		report(V_OK, NULL, "database: schema at version %d (%d migrations), "
		    "as this xmpp-core expects", nm ? m[nm - 1].version : 0, nm);
}

void
db_check(const struct site *s, const char *sbin)
{
	static struct migration m[DB_MAX_MIGRATIONS];
	static int have[DB_MAX_MIGRATIONS];
	struct ident id, *as = NULL;
	char buf[16384], who[64];
	char *line, *save;
	size_t nh = 0;
	bool connected = false, noschema = false, failed = false;
	int nm;

	if (!s->d[D_XMPP].loaded || s->conninfo == NULL)
		return;
	snprintf(who, sizeof(who), "%s", s->d[D_XMPP].user);
	if (geteuid() == 0 && strcmp(who, "root") != 0) {
		if (users_ident(s, D_XMPP, &id) == -1)
			return;		/* users_check said so */
		as = &id;
	} else if (geteuid() != 0)
		report(V_WARN, "run edge-check as root to connect as the daemon's user",
		    "database: connecting as uid %u, not as %s", (unsigned)geteuid(), who);
	if ((nm = expected(sbin, m, DB_MAX_MIGRATIONS, buf, sizeof(buf))) < 0)
		report(V_FAIL, "install the xmpp-core that came with this edge-check",
		    "database: expected schema unknown: %s", buf);
	if (run_probe(as, s->conninfo, buf, sizeof(buf)) == -1) {
		report(V_FAIL, "see the message", "database: fork: %s", strerror(errno));
		return;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == 'E') {
			failed = true;
			report(V_FAIL, "create the role and database as deploy/README.md "
			    "\"PostgreSQL\" shows, and check [database] conninfo",
			    "database: cannot connect as %s: %s", who, line + 2);
		} else if (line[0] == 'C') {
			connected = true;
			report(V_OK, NULL, "database: connected as %s (role, database, "
			    "host: %s)", who, line + 2);
		} else if (line[0] == 'N')
			noschema = true;
		else if (line[0] == 'V' && nh < DB_MAX_MIGRATIONS)
			have[nh++] = atoi(line + 2);
	}
	if (!connected && !failed)
		report(V_FAIL, "see the PostgreSQL log", "database: the probe said nothing");
	if (connected && !failed && nm >= 0)
		compare(m, nm, have, noschema ? 0 : nh);
}
