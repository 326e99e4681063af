/*
 * hostaddr — the host's own addresses.  See hostaddr.h.
 *
 * The netlink messages are not parsed: any of them (or an overrun, which
 * loses some) means "the set changed", and one getifaddrs() after the
 * socket is drained reads the whole set again.  getifaddrs() is a netlink
 * dump answered by the kernel at once, so it does not stall the loop;
 * changes come rarely.  Between the kernel adding an address and the loop
 * reading the notification a CreatePermission may still pass: the window
 * is one loop iteration.
 */
#include "hostaddr.h"
#include "config.h"
#include "log.h"
#include "policy.h"
#include "turnd.h"

#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int
hostaddr_load(struct policy *p, char *err, size_t errlen)
{
	struct ifaddrs *ifa;
	int rc;

	if (getifaddrs(&ifa) < 0) {
		snprintf(err, errlen, "cannot list the host's addresses "
		    "(getifaddrs: %s; the unit must allow AF_NETLINK)",
		    strerror(errno));
		return -1;
	}
	rc = policy_set_host(p, ifa);
	freeifaddrs(ifa);
	if (rc < 0)
		snprintf(err, errlen, "cannot list the host's addresses: out of memory");
	return rc;
}

static void
on_change(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct turnd *td = io->data;
	uint8_t buf[8192];
	char err[200];
	bool changed = false;

	(void)loop;
	(void)revents;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(io->fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == ENOBUFS) {		/* overrun: some lost */
				changed = true;
				continue;
			}
			if (errno == EINTR)
				continue;
			break;
		}
		if (from.nl_pid == 0)		/* the kernel's, nobody else's */
			changed = true;
	}
	if (!changed)
		return;
	if (hostaddr_load(&td->cfg->policy, err, sizeof(err)) < 0) {
		log_err("address change: %s (keeping the previous list)", err);
		return;
	}
	log_info("host addresses changed: %zu own entries",
	    td->cfg->policy.nhost);
}

int
hostaddr_watch(struct turnd *td, char *err, size_t errlen)
{
	struct sockaddr_nl sn = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sn, sizeof(sn)) < 0) {
		snprintf(err, errlen, "cannot watch the host's addresses "
		    "(netlink: %s; the unit must allow AF_NETLINK)",
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ev_io_init(&td->addr_watch, fd, on_change, td);
	if (ev_io_start(td->loop, &td->addr_watch, EPOLLIN) < 0) {
		snprintf(err, errlen, "cannot watch the host's addresses: %s",
		    strerror(errno));
		close(fd);
		td->addr_watch.fd = -1;
		return -1;
	}
	return 0;
}

void
hostaddr_unwatch(struct turnd *td)
{
	if (td->addr_watch.fd < 0)
		return;
	ev_io_stop(td->loop, &td->addr_watch);
	close(td->addr_watch.fd);
	td->addr_watch.fd = -1;
}
