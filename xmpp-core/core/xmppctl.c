/*
 * xmppctl — the sysadmin's tool for xmpp-core accounts, talking to the
 * same PostgreSQL database with the server's configuration file:
 *
 *   xmppctl [-c file] adduser USER@HOST      password from stdin
 *   xmppctl [-c file] passwd USER@HOST       password from stdin
 *   xmppctl [-c file] deluser USER@HOST      (through the running server)
 *   xmppctl [-c file] listusers [HOST]
 *   xmppctl [-c file] sessions               live sessions (control_socket)
 *   xmppctl [-c file] stats                  live counters (control_socket)
 *   xmppctl [-c file] init-db                apply schema migrations
 *   xmppctl [-c file] import SOURCE ...      move a host over (import/README.md)
 *   xmppctl [-c file] help                   the running server's commands
 *   xmppctl [-c file] COMMAND [ARGS...]      one of those (rooms, room ...)
 *
 * A password is read from the terminal without echo (asked twice), or as
 * one line from stdin when that is not a terminal; it never appears on
 * the command line.  Unknown commands exit 2; failures exit 1.
 *
 * deluser asks a running server over its control socket, which removes
 * the account as in-band removal does (sessions end, contacts'
 * subscriptions are cancelled, push registrations go); when no server
 * answers there it deletes the rows itself and says so.
 *
 * Any other command goes to the running server as one line (the words
 * joined by spaces): the modules' commands (group chat rooms ...) live
 * there, `help` lists them.  An answer "error: ..." exits 1 (2 when the
 * server does not know the command).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "account.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "jid.h"
#include "log.h"
#include "xmppimport.h"

#define DEFAULT_CONF "/etc/edge/xmpp-core.toml"
#define ANSWER_TIMEOUT_S 60
#define USAGE "adduser|passwd|deluser USER@HOST | listusers [HOST] | sessions | stats | init-db | " \
	IMPORT_USAGE " | help | COMMAND [ARGS]"
#define LINE_MAX_ 1024	/* control.c's CMD_MAX */

static int
read_line(const char *prompt, char *buf, size_t len)
{
	struct termios old, noecho;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &noecho);
	}
	if (fgets(buf, (int)len, stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fputc('\n', stderr);
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int
read_password(char *pw, size_t len)
{
	char again[1024];
	int rc = 0;

	if (read_line("Password: ", pw, len) == -1) {
		fprintf(stderr, "xmppctl: no password given\n");
		return -1;
	}
	if (isatty(STDIN_FILENO)) {
		if (read_line("Again: ", again, sizeof(again)) == -1 || strcmp(pw, again) != 0) {
			fprintf(stderr, "xmppctl: passwords differ\n");
			rc = -1;
		}
		OPENSSL_cleanse(again, sizeof(again));
	}
	return rc;
}

static int
parse_user(const struct xmpp_config *cfg, const char *arg, struct jid *j)
{
	if (jid_parse(arg, j) == -1 || j->local[0] == '\0' || j->resource[0]) {
		fprintf(stderr, "xmppctl: \"%s\" is not a valid USER@HOST\n", arg);
		return -1;
	}
	if (!xmpp_config_hosted(cfg, j->domain)) {
		fprintf(stderr, "xmppctl: %s is not a host of this server\n", j->domain);
		return -1;
	}
	return 0;
}

/* A connected control socket, or -1 (why in err). */
static int
control_connect(const struct xmpp_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (cfg->control_socket == NULL) {
		snprintf(err, errlen, "no control_socket in the configuration");
		return -1;
	}
	if (strlen(cfg->control_socket) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control_socket path too long");
		return -1;
	}
	strcpy(sun.sun_path, cfg->control_socket);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "%s: %s (is xmpp-core running?)",
		    cfg->control_socket, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
control_send(int fd, const char *cmd)
{
	char buf[LINE_MAX_ + 2];
	size_t len;

	snprintf(buf, sizeof(buf), "%s\n", cmd);
	len = strlen(buf);
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/*
 * Asks the running server over its control socket and prints the answer:
 * 0, or 1 when it failed or answered "error: ...", 2 for a command it
 * does not know.
 */
static int
control(const struct xmpp_config *cfg, const char *cmd)
{
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	char *ans = NULL, *p;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, rc = 0;
	char err[512];

	if ((fd = control_connect(cfg, err, sizeof(err))) < 0) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (control_send(fd, cmd) == -1) {
		fprintf(stderr, "xmppctl: %s: %s\n", cfg->control_socket, strerror(errno));
		close(fd);
		return 1;
	}
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 16384;
			if ((p = realloc(ans, cap)) == NULL) {
				fprintf(stderr, "xmppctl: out of memory\n");
				rc = 1;
				break;
			}
			ans = p;
		}
		if ((n = read(fd, ans + len, cap - len - 1)) <= 0) {
			if (n < 0) {
				fprintf(stderr, "xmppctl: no answer from the server on %s: %s\n",
				    cfg->control_socket, strerror(errno));
				rc = 1;
			}
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (rc == 0 && len == 0) {
		fprintf(stderr, "xmppctl: no answer from the server on %s\n",
		    cfg->control_socket);
		rc = 1;
	} else if (rc == 0) {
		ans[len] = '\0';
		if (strcmp(ans, "error: unknown command\n") == 0) {
			fprintf(stderr, "xmppctl: unknown command \"%.*s\" (xmppctl help "
			    "lists the server's)\nusage: xmppctl [-c file] %s\n",
			    (int)strcspn(cmd, " "), cmd, USAGE);
			rc = 2;
		} else if (strncmp(ans, "error: ", 7) == 0) {
			fprintf(stderr, "xmppctl: %s", ans + 7);
			rc = 1;
		} else {
			fwrite(ans, 1, len, stdout);
		}
	}
	free(ans);
	return rc;
}

/* The words of a server command as one line: -1 if they cannot be. */
static int
join_words(int argc, char **argv, char *out, size_t len)
{
	size_t at = 0, n;

	for (int i = 0; i < argc; i++) {
		if (strpbrk(argv[i], "\r\n") != NULL || argv[i][0] == '\0')
			return -1;
		n = strlen(argv[i]);
		if (at + n + 1 >= len)
			return -1;
		if (i)
			out[at++] = ' ';
		memcpy(out + at, argv[i], n);
		at += n;
	}
	out[at] = '\0';
	return 0;
}

/* deluser through the running server: 0 done, 1 failed, -1 no server there. */
static int
deluser_live(const struct xmpp_config *cfg, const struct jid *j)
{
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	char cmd[2 * JID_PART_MAX + 16], ans[512];
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = control_connect(cfg, ans, sizeof(ans))) < 0) {
		fprintf(stderr, "xmppctl: %s: deleting %s@%s in the database directly "
		    "(a running server would not know)\n", ans, j->local, j->domain);
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "deluser %s@%s", j->local, j->domain);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (control_send(fd, cmd) == -1) {
		fprintf(stderr, "xmppctl: %s: %s\n", cfg->control_socket, strerror(errno));
		close(fd);
		return 1;
	}
	while (len < sizeof(ans) - 1 && (n = read(fd, ans + len, sizeof(ans) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	ans[len] = '\0';
	ans[strcspn(ans, "\r\n")] = '\0';
	if (strcmp(ans, "ok") == 0)
		return 0;
	if (strcmp(ans, "error: no such account") == 0)
		fprintf(stderr, "xmppctl: %s@%s does not exist\n", j->local, j->domain);
	else if (ans[0])
		fprintf(stderr, "xmppctl: server: %s\n", ans);
	else
		fprintf(stderr, "xmppctl: no answer from the server on %s\n",
		    cfg->control_socket);
	return 1;
}

static int
run(const struct xmpp_config *cfg, PGconn *pg, const char *cmd, int argc, char **argv)
{
	char err[512], pw[1024];
	struct jid j;
	int rc;

	if (strcmp(cmd, "listusers") == 0) {
		if (argc > 1)
			return 2;
		return account_list_sync(pg, argc ? argv[0] : NULL, err, sizeof(err)) == 0 ? 0 :
		    (fprintf(stderr, "xmppctl: %s\n", err), 1);
	}
	if (argc != 1)
		return 2;
	if (parse_user(cfg, argv[0], &j) == -1)
		return 1;
	if (strcmp(cmd, "deluser") == 0) {
		rc = account_delete_sync(pg, j.domain, j.local, err, sizeof(err));
	} else {
		if (read_password(pw, sizeof(pw)) == -1)
			return 1;
		if (strcmp(cmd, "adduser") == 0)
			rc = account_create_sync(pg, j.domain, j.local, pw,
			    cfg->scram_iterations, err, sizeof(err));
		else
			rc = account_set_password_sync(pg, j.domain, j.local, pw,
			    cfg->scram_iterations, err, sizeof(err));
		OPENSSL_cleanse(pw, sizeof(pw));
	}
	if (rc == -1) {
		fprintf(stderr, "xmppctl: %s\n", err);
		return 1;
	}
	if (rc == 0) {
		fprintf(stderr, "xmppctl: %s@%s %s\n", j.local, j.domain,
		    strcmp(cmd, "adduser") == 0 ? "already exists" : "does not exist");
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct xmpp_config *cfg;
	struct conf_err e;
	char err[512];
	const char *cmd;
	PGconn *pg;
	int rc;

	log_init("xmppctl", LOG_LVL_WARN);
	/* options end at the command: "import ejabberd --from ..." keeps
	 * its own (GNU getopt would otherwise take them as ours) */
	setenv("POSIXLY_CORRECT", "1", 1);
	daemon_parse_args(argc, argv, DEFAULT_CONF, USAGE, &args);
	unsetenv("POSIXLY_CORRECT");
	if (args.optind >= argc) {
		fprintf(stderr, "usage: xmppctl [-c file] %s\n", USAGE);
		return 2;
	}
	cmd = argv[args.optind];
	if ((cfg = xmpp_config_load(args.conf_path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	if (strcmp(cmd, "adduser") != 0 && strcmp(cmd, "passwd") != 0 &&
	    strcmp(cmd, "deluser") != 0 && strcmp(cmd, "listusers") != 0 &&
	    strcmp(cmd, "init-db") != 0 && strcmp(cmd, "import") != 0 &&
	    strcmp(cmd, "export") != 0) {
		/* sessions, stats, help and the modules' commands */
		char line[LINE_MAX_];

		if (join_words(argc - args.optind, argv + args.optind, line,
		    sizeof(line)) == -1) {
			fprintf(stderr, "xmppctl: a command is one line of at most %d "
			    "bytes, without empty words\n", LINE_MAX_ - 1);
			rc = 2;
		} else {
			rc = control(cfg, line);
		}
		xmpp_config_free(cfg);
		return rc;
	}
	if (strcmp(cmd, "deluser") == 0) {
		struct jid j;

		if (args.optind + 2 != argc) {
			fprintf(stderr, "usage: xmppctl [-c file] %s\n", USAGE);
			xmpp_config_free(cfg);
			return 2;
		}
		rc = parse_user(cfg, argv[args.optind + 1], &j) == -1 ? 1 :
		    deluser_live(cfg, &j);
		if (rc != -1) {
			xmpp_config_free(cfg);
			return rc;
		}
	}
	if ((pg = db_connect_sync(cfg->conninfo, err, sizeof(err))) == NULL) {
		fprintf(stderr, "xmppctl: database: %s\n", err);
		xmpp_config_free(cfg);
		return 1;
	}
	if (db_migrate(pg, err, sizeof(err)) == -1) {
		fprintf(stderr, "xmppctl: database migration: %s\n", err);
		rc = 1;
	} else if (strcmp(cmd, "init-db") == 0) {
		rc = args.optind + 1 == argc ? 0 : 2;
	} else if (strcmp(cmd, "import") == 0 || strcmp(cmd, "export") == 0) {
		/* its own usage message on 2 */
		rc = import_command(cfg, pg, argc - args.optind, argv + args.optind);
		if (rc == 2)
			rc = 3;
	} else {
		rc = run(cfg, pg, cmd, argc - args.optind - 1, argv + args.optind + 1);
	}
	if (rc == 2)
		fprintf(stderr, "usage: xmppctl [-c file] %s\n", USAGE);
	if (rc == 3)
		rc = 2;
	PQfinish(pg);
	xmpp_config_free(cfg);
	return rc;
}
