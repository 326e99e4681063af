/*
 * turnd_floor — the floor bench_turnd.sh compares relays against: the
 * CPU a process spends on one bare UDP receive plus one send on loopback,
 * with recvmmsg/sendmmsg batches ("batch") and with recvfrom/sendto
 * ("plain").  A child echoes; the parent keeps a window of datagrams in
 * flight; the child's CPU time divided by datagrams echoed is printed in
 * nanoseconds.
 *
 *   turnd_floor batch|plain count size
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static long long
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
echo(int fd, int batch, long count, int out)
{
	static char buf[BATCH][2048];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	long done = 0;
	long long t0 = cpu_ns();
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	while (done < count) {
		if (poll(&pf, 1, 1000) <= 0)
			break;
		if (batch) {
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
			r = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
			if (r <= 0)
				continue;
			for (int i = 0; i < r; i++)
				iov[i].iov_len = m[i].msg_len;
			sendmmsg(fd, m, (unsigned)r, MSG_DONTWAIT);
			done += r;
		} else {
			struct sockaddr_in f;
			socklen_t fl = sizeof(f);
			ssize_t n;

			while ((n = recvfrom(fd, buf[0], sizeof(buf[0]), MSG_DONTWAIT,
			    (struct sockaddr *)&f, &fl)) > 0) {
				sendto(fd, buf[0], (size_t)n, 0, (struct sockaddr *)&f, fl);
				done++;
				fl = sizeof(f);
			}
		}
	}
	long long ns = cpu_ns() - t0;
	if (write(out, &ns, sizeof(ns)) < 0 || write(out, &done, sizeof(done)) < 0)
		_exit(1);
	_exit(0);
}

int
main(int argc, char **argv)
{
	int batch, s, c, p[2];
	long count, size, sent = 0, got = 0;
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	char buf[2048];
	long long ns;
	long done;

	if (argc != 4)
		return 2;
	batch = strcmp(argv[1], "batch") == 0;
	count = atol(argv[2]);
	size = atol(argv[3]);
	a.sin_addr.s_addr = htonl(0x7F000001);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 || pipe(p) < 0)
		return 1;
	if (fork() == 0) {
		close(c);
		echo(s, batch, count, p[1]);
	}
	close(s);
	memset(buf, 0x5A, sizeof(buf));
	while (got < count) {
		struct pollfd pf = { .fd = c, .events = POLLIN };

		while (sent - got < 64 && sent < count + 64) {
			if (send(c, buf, (size_t)size, MSG_DONTWAIT) < 0)
				break;
			sent++;
		}
		if (poll(&pf, 1, 200) <= 0) {
			sent = got;	/* lost some: refill */
			continue;
		}
		while (recv(c, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			got++;
	}
	if (read(p[0], &ns, sizeof(ns)) != sizeof(ns) ||
	    read(p[0], &done, sizeof(done)) != sizeof(done))
		return 1;
	wait(NULL);
	printf("%.0f\n", done > 0 ? (double)ns / (double)done : 0.0);
	return 0;
}
