/*
 * control — admin socket.  See control.h.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accountrm.h"
#include "addr.h"
#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "evloop.h"
#include "jid.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "tls.h"

#define CMD_MAX 256
#define CLIENTS_MAX 8

struct ctl_rm;

struct ctl_client {
	struct ev_io io;
	struct buf in, out;
	bool got_cmd;		/* one command per connection */
	struct ctl_rm *rm;	/* a deluser in progress */
	struct ctl_client *next;
};

struct ctl_rm {
	struct ctl_client *cl;	/* NULL once the client went away */
	char bare[2 * JID_PART_MAX + 2];
};

static struct ev_io listener;
static char *sock_path;
static struct ctl_client *clients;
static unsigned nclients;

static void
client_free(struct ctl_client *cl)
{
	struct ctl_client **pp;

	for (pp = &clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	if (cl->rm)
		cl->rm->cl = NULL;	/* the removal goes on; nobody to tell */
	ev_io_stop(srv.loop, &cl->io);
	close(cl->io.fd);
	buf_free(&cl->in);
	buf_free(&cl->out);
	free(cl);
	nclients--;
}

static void
cmd_sessions(struct buf *o)
{
	uint64_t now = ev_now(srv.loop);

	for (struct c2s *c = c2s_first(); c; c = LIST_NEXT(c, all)) {
		if (c->state != C2S_BOUND || c->full == NULL)
			continue;
		buf_printf(o, "%s\t%s\t%s\t%llu\n", c->full, c->peer,
		    c->tls ? tls_conn_version(c->tls) : "-",
		    (unsigned long long)((now - c->since) / 1000));
	}
}

static void
deluser_done(void *arg, int result, const char *err)
{
	struct ctl_rm *rm = arg;
	struct ctl_client *cl = rm->cl;

	if (result == -1)
		log_warn("control: deluser %s: %s", rm->bare, err ? err : "failed");
	if (cl) {
		if (result == 1)
			buf_printf(&cl->out, "ok\n");
		else if (result == 0)
			buf_printf(&cl->out, "error: no such account\n");
		else
			buf_printf(&cl->out, "error: %s\n", err ? err : "failed");
		cl->rm = NULL;
		ev_io_start(srv.loop, &cl->io, EPOLLOUT);
	}
	free(rm);
}

/* deluser USER@HOST: the answer comes when the rows are gone (0: pending). */
static int
cmd_deluser(struct ctl_client *cl, const char *arg)
{
	struct ctl_rm *rm;
	struct user *u;
	struct jid j;
	int host;

	if (jid_parse(arg, &j) == -1 || j.local[0] == '\0' || j.resource[0]) {
		buf_printf(&cl->out, "error: not a valid USER@HOST\n");
		return -1;
	}
	if ((host = router_host_index(j.domain)) < 0) {
		buf_printf(&cl->out, "error: %s is not a host of this server\n", j.domain);
		return -1;
	}
	if ((rm = calloc(1, sizeof(*rm))) == NULL ||
	    (u = router_user_get(host, j.local)) == NULL) {
		free(rm);
		buf_printf(&cl->out, "error: out of memory\n");
		return -1;
	}
	rm->cl = cl;
	snprintf(rm->bare, sizeof(rm->bare), "%s", u->bare);
	cl->rm = rm;
	if (accountrm_start(u, deluser_done, rm) == -1) {
		cl->rm = NULL;
		free(rm);
		buf_printf(&cl->out, "error: out of memory\n");
		router_user_unref(u);
		return -1;
	}
	router_user_unref(u);
	return 0;
}

/* 0: answered in cl->out; 1: the answer comes later. */
static int
run_command(struct ctl_client *cl, const char *cmd)
{
	if (strncmp(cmd, "deluser ", 8) == 0) {
		return cmd_deluser(cl, cmd + 8) == 0 ? 1 : 0;
	} else if (strcmp(cmd, "sessions") == 0) {
		cmd_sessions(&cl->out);
	} else if (strcmp(cmd, "stats") == 0) {
		buf_printf(&cl->out, "connections\t%zu\nusers_online\t%zu\n"
		    "db_connected\t%u\ndb_queued\t%zu\n", c2s_count(), router_nusers(),
		    db_connected(srv.db), db_queued(srv.db));
		registry_stats(&cl->out);
	} else {
		buf_printf(&cl->out, "error: unknown command\n");
	}
	return 0;
}

static void
client_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct ctl_client *cl = io->data;
	char tmp[CMD_MAX], *nl;
	ssize_t n;

	(void)loop;
	if (revents & EPOLLIN) {
		n = read(io->fd, tmp, sizeof(tmp));
		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			client_free(cl);
			return;
		}
		if (cl->got_cmd)
			return;		/* waiting for the answer: input ignored */
		if (n > 0)
			buf_append(&cl->in, tmp, (size_t)n);
		if ((nl = memchr(cl->in.p, '\n', cl->in.len)) == NULL) {
			if (cl->in.len >= CMD_MAX)
				client_free(cl);
			return;
		}
		*nl = '\0';
		cl->got_cmd = true;
		if (run_command(cl, cl->in.p) == 0)
			ev_io_start(srv.loop, io, EPOLLOUT);
		return;
	}
	while (buf_pending(&cl->out) > 0) {
		n = write(io->fd, buf_data(&cl->out), buf_pending(&cl->out));
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			break;
		buf_consume(&cl->out, (size_t)n);
	}
	client_free(cl);
}

static void
accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct ctl_client *cl;
	int fd;

	(void)loop;
	(void)revents;
	while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (nclients >= CLIENTS_MAX || (cl = calloc(1, sizeof(*cl))) == NULL) {
			close(fd);
			continue;
		}
		ev_io_init(&cl->io, fd, client_cb, cl);
		ev_io_start(srv.loop, &cl->io, EPOLLIN);
		cl->next = clients;
		clients = cl;
		nclients++;
	}
}

int
control_listen(const char *path, char *err, size_t errlen)
{
	struct edge_addr a;
	char spec[512], e2[256];
	int fd;

	snprintf(spec, sizeof(spec), "unix:%s", path);
	if (addr_parse(spec, -1, &a, e2, sizeof(e2)) == -1 ||
	    (fd = addr_listen(&a, SOCK_STREAM, 8, 0600, e2, sizeof(e2))) < 0) {
		snprintf(err, errlen, "control socket %s: %s", path, e2);
		return -1;
	}
	sock_path = strdup(path);
	ev_io_init(&listener, fd, accept_cb, NULL);
	ev_io_start(srv.loop, &listener, EPOLLIN);
	return 0;
}

void
control_shutdown(void)
{
	while (clients)
		client_free(clients);
	if (sock_path) {
		ev_io_stop(srv.loop, &listener);
		close(listener.fd);
		unlink(sock_path);
		free(sock_path);
		sock_path = NULL;
	}
}
