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
#include "sasl2.h"
#include "server.h"
#include "tls.h"

#define CMD_MAX 1024
#define CLIENTS_MAX 8

struct ctl_client {
	struct ev_io io;
	struct buf in, out;
	bool got_cmd;		/* one command per connection */
	struct ctl_req *req;	/* a command whose answer comes later */
	struct ctl_client *next;
};

/* A command being answered; it outlives a client that went away. */
struct ctl_req {
	struct ctl_client *cl;	/* NULL once the client went away */
	struct buf out;
	char bare[2 * JID_PART_MAX + 2];	/* deluser's account */
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
	if (cl->req)
		cl->req->cl = NULL;	/* the command goes on; nobody to tell */
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
	const char *sw, *dev;

	/* the SASL2 user agent last (XEP-0388 §2.5.1; "-": not given) */
	for (struct c2s *c = c2s_first(); c; c = LIST_NEXT(c, all)) {
		if (c->state != C2S_BOUND || c->full == NULL)
			continue;
		sasl2_user_agent(c, &sw, &dev);
		buf_printf(o, "%s\t%s\t%s\t%llu\t%s\t%s\n", c->full, c->peer,
		    c->conn.tls ? tls_conn_version(c->conn.tls) : "-",
		    (unsigned long long)((now - c->since) / 1000), sw[0] ? sw : "-",
		    dev[0] ? dev : "-");
	}
}

struct buf *
ctl_out(struct ctl_req *req)
{
	return &req->out;
}

void
ctl_done(struct ctl_req *req)
{
	struct ctl_client *cl = req->cl;

	if (cl) {
		buf_append(&cl->out, buf_data(&req->out), buf_pending(&req->out));
		cl->req = NULL;
		ev_io_start(srv.loop, &cl->io, EPOLLOUT);
	}
	buf_free(&req->out);
	free(req);
}

static void
deluser_done(void *arg, int result, const char *err)
{
	struct ctl_req *req = arg;

	if (result == -1)
		log_warn("control: deluser %s: %s", req->bare, err ? err : "failed");
	if (result == 1)
		buf_printf(&req->out, "ok\n");
	else if (result == 0)
		buf_printf(&req->out, "error: no such account\n");
	else
		buf_printf(&req->out, "error: %s\n", err ? err : "failed");
	ctl_done(req);
}

/* deluser USER@HOST: the answer comes when the rows are gone (1: pending). */
static int
cmd_deluser(struct ctl_req *req, const char *arg)
{
	struct user *u;
	struct jid j;
	int host;

	if (jid_parse(arg, &j) == -1 || j.local[0] == '\0' || j.resource[0]) {
		buf_printf(&req->out, "error: not a valid USER@HOST\n");
		return 0;
	}
	if ((host = router_host_index(j.domain)) < 0) {
		buf_printf(&req->out, "error: %s is not a host of this server\n", j.domain);
		return 0;
	}
	if ((u = router_user_get(host, j.local)) == NULL) {
		buf_printf(&req->out, "error: out of memory\n");
		return 0;
	}
	snprintf(req->bare, sizeof(req->bare), "%s", u->bare);
	if (accountrm_start(u, deluser_done, req) == -1) {
		buf_printf(&req->out, "error: out of memory\n");
		router_user_unref(u);
		return 0;
	}
	router_user_unref(u);
	return 1;
}

/* 0: answered in req->out; 1: the answer comes later (ctl_done). */
static int
run_command(struct ctl_req *req, char *line)
{
	const struct ctl_command *mc;
	char *args;
	size_t n;

	n = strcspn(line, " ");
	args = line + n;
	if (*args)
		*args++ = '\0';
	args += strspn(args, " ");
	if (strcmp(line, "deluser") == 0) {
		return cmd_deluser(req, args);
	} else if (strcmp(line, "sessions") == 0 && *args == '\0') {
		cmd_sessions(&req->out);
	} else if (strcmp(line, "stats") == 0 && *args == '\0') {
		buf_printf(&req->out, "connections\t%zu\nusers_online\t%zu\n"
		    "db_connected\t%u\ndb_queued\t%zu\n", c2s_count(), router_nusers(),
		    db_connected(srv.db), db_queued(srv.db));
		registry_stats(&req->out);
	} else if (strcmp(line, "help") == 0 && *args == '\0') {
		registry_commands_help(&req->out);
	} else if ((mc = registry_command(line)) != NULL) {
		return mc->fn(req, args);
	} else {
		buf_printf(&req->out, "error: unknown command\n");
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
		if (nl > cl->in.p && nl[-1] == '\r')
			nl[-1] = '\0';
		cl->got_cmd = true;
		if ((cl->req = calloc(1, sizeof(*cl->req))) == NULL) {
			buf_printf(&cl->out, "error: out of memory\n");
			ev_io_start(srv.loop, io, EPOLLOUT);
			return;
		}
		cl->req->cl = cl;
		if (run_command(cl->req, cl->in.p) == 0)
			ctl_done(cl->req);
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
