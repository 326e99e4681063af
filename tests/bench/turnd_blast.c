/*
 * turnd_blast — load for bench_turnd.sh.  The TURN control plane (Allocate,
 * ChannelBind) is done by turnd_bench.py over sockets it passes here by
 * number; this program only moves data: each client socket sends
 * ChannelData (window packets in flight), the peer socket echoes every
 * datagram back to the relay it came from, and the client counts what
 * returns.  Every round trip is two relayed packets on the server.
 *
 *   turnd_blast -P peerfd -s size -n count -w window -t udp|tcp fd:chan...
 *   turnd_blast -P peerfd -d seconds            (echo peer only)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64
#define BATCH 32

struct client {
	int fd;
	uint16_t chan;
	uint64_t sent, recvd;
	uint8_t rbuf[65536];
	size_t rlen;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
peer_echo(int pfd)
{
	static uint8_t buf[BATCH][2048];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH];
	int r;

	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
		m[i].msg_hdr.msg_name = &from[i];
		m[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	while ((r = recvmmsg(pfd, m, BATCH, MSG_DONTWAIT, NULL)) > 0) {
		for (int i = 0; i < r; i++)
			iov[i].iov_len = m[i].msg_len;
		sendmmsg(pfd, m, (unsigned)r, MSG_DONTWAIT);
		for (int i = 0; i < r; i++) {
			iov[i].iov_len = sizeof(buf[i]);
			m[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
	}
}

static void
client_read(struct client *c, int tcp)
{
	if (!tcp) {
		uint8_t buf[4096];

		while (recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			c->recvd++;
		return;
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen,
		    MSG_DONTWAIT);
		size_t off = 0;

		if (n <= 0)
			return;
		c->rlen += (size_t)n;
		while (c->rlen - off >= 4) {
			size_t l = (size_t)(c->rbuf[off + 2] << 8 | c->rbuf[off + 3]);
			size_t fl = (c->rbuf[off] & 0xC0) == 0x40 ? 4 + ((l + 3) & ~3u) : 20 + l;

			if (c->rlen - off < fl)
				break;
			if ((c->rbuf[off] & 0xC0) == 0x40)
				c->recvd++;
			off += fl;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

int
main(int argc, char **argv)
{
	struct client *cl = calloc(MAXC, sizeof(*cl));
	int pfd = -1, tcp = 0, opt, nc = 0;
	long size = 100, count = 10000, window = 8;
	double dur = 0, start, last_progress;
	uint64_t total = 0, sent = 0;
	uint8_t frame[4 + 2048];
	struct pollfd pf[MAXC + 1];

	while ((opt = getopt(argc, argv, "P:s:n:w:t:d:")) != -1) {
		switch (opt) {
		case 'P': pfd = atoi(optarg); break;
		case 's': size = atol(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'w': window = atol(optarg); break;
		case 't': tcp = strcmp(optarg, "tcp") == 0; break;
		case 'd': dur = atof(optarg); break;
		default: return 2;
		}
	}
	for (int i = optind; i < argc && nc < MAXC; i++) {
		cl[nc].fd = atoi(argv[i]);
		cl[nc].chan = (uint16_t)strtol(strchr(argv[i], ':') + 1, NULL, 0);
		fcntl(cl[nc].fd, F_SETFL, O_NONBLOCK);
		nc++;
	}
	if (pfd < 0 || size < 1 || size > 2000)
		return 2;
	fcntl(pfd, F_SETFL, O_NONBLOCK);
	start = last_progress = now();
	if (dur > 0) {
		pf[0].fd = pfd;
		pf[0].events = POLLIN;
		while (now() - start < dur) {
			if (poll(pf, 1, 100) > 0)
				peer_echo(pfd);
		}
		return 0;
	}
	memset(frame, 0xAB, sizeof(frame));
	while (total < (uint64_t)count) {
		uint64_t before = total;

		for (int i = 0; i < nc; i++) {
			struct client *c = &cl[i];
			size_t fl = 4 + (size_t)size;

			if (tcp)
				fl = 4 + (((size_t)size + 3) & ~3u);
			frame[0] = (uint8_t)(c->chan >> 8);
			frame[1] = (uint8_t)c->chan;
			frame[2] = (uint8_t)(size >> 8);
			frame[3] = (uint8_t)size;
			while (c->sent - c->recvd < (uint64_t)window &&
			    sent < (uint64_t)count + (uint64_t)(window * nc)) {
				if (send(c->fd, frame, fl, MSG_DONTWAIT) != (ssize_t)fl)
					break;
				c->sent++;
				sent++;
			}
		}
		pf[0].fd = pfd;
		pf[0].events = POLLIN;
		for (int i = 0; i < nc; i++) {
			pf[i + 1].fd = cl[i].fd;
			pf[i + 1].events = POLLIN;
		}
		if (poll(pf, (nfds_t)nc + 1, 50) < 0 && errno != EINTR)
			return 1;
		if (pf[0].revents & POLLIN)
			peer_echo(pfd);
		total = 0;
		for (int i = 0; i < nc; i++) {
			if (pf[i + 1].revents & POLLIN)
				client_read(&cl[i], tcp);
			total += cl[i].recvd;
		}
		if (total != before) {
			last_progress = now();
		} else if (now() - last_progress > 0.2) {
			/* Lost packets: open the windows again. */
			for (int i = 0; i < nc; i++)
				cl[i].sent = cl[i].recvd;
			if (now() - start > 60)
				break;
			last_progress = now();
		}
	}
	printf("sent=%llu recvd=%llu secs=%.3f\n", (unsigned long long)sent,
	    (unsigned long long)total, now() - start);
	return 0;
}
