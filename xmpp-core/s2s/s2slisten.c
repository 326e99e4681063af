/*
 * s2slisten — the 5269 listeners (dual-stack by default) and the direct
 * TLS ones (XEP-0368): the core's listener.c accepts and hands the
 * socket to s2sconn.c, which applies the per-address limit.
 */
#include "s2s.h"

#include <unistd.h>

#include "listener.h"

static struct listener_set listeners;

static void
accepted(int fd, const struct sockaddr_storage *ss, socklen_t sl, const char *ip,
    bool direct_tls, const char *via)
{
	(void)via;
	if (s2s_conn_accept(fd, ss, sl, ip, direct_tls) == -1)
		close(fd);
}

int
s2s_listen_open(char *err, size_t errlen)
{
	const struct s2s_config *cfg = s2s_cfg();

	listener_init(&listeners, "s2s", accepted);
	if (listener_open(&listeners, cfg->listen, cfg->nlisten, false, 512,
	    err, errlen) == -1 ||
	    listener_open(&listeners, cfg->listen_tls, cfg->nlisten_tls, true, 512,
	    err, errlen) == -1)
		return -1;
	return 0;
}

void
s2s_listen_close(void)
{
	listener_close(&listeners);
}
