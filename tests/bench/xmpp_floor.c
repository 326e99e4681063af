/*
 * xmpp_floor — the floor bench_xmpp.py compares CPU per delivered message
 * against: one bare write(2) of a message of the given size into a
 * loopback TCP connection and one read(2) of it at the other end, in one
 * thread, nothing else.  That is the least a server spends per message
 * when it reads each message from one socket and writes it to another
 * without coalescing (the loopback delivery runs in the writer's system
 * call, so it is counted); nobody sleeps or is woken, so the figure does
 * not depend on the scheduler or on the machine's load.  A server that
 * reads and writes many messages per system call can go below it.
 *
 * Prints the CPU time (user + system) per write+read in nanoseconds, the
 * best of five rounds of count/5.
 *
 *   xmpp_floor count size
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

/* A connected pair over 127.0.0.1: *a is the client end, *b the accepted one. */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&sin, &sl) < 0)
		die("listen");
	if ((*a = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(*a, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	if ((*b = accept(l, NULL, NULL)) < 0)
		die("accept");
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

int
main(int argc, char **argv)
{
	long count;
	size_t size;
	int a, b;
	char *msg;
	long long best = -1;

	if (argc != 3 || (count = atol(argv[1]) / 5) <= 0 ||
	    (size = (size_t)atol(argv[2])) == 0 || size > 65536) {
		fprintf(stderr, "usage: xmpp_floor count size\n");
		return 2;
	}
	if ((msg = malloc(size)) == NULL)
		die("malloc");
	memset(msg, 'x', size);
	tcp_pair(&a, &b);
	for (int round = 0; round < 5; round++) {
		long long t0 = cpu_ns(), t;

		for (long i = 0; i < count; i++) {
			size_t got = 0;

			if (write(a, msg, size) != (ssize_t)size)
				die("write");
			while (got < size) {
				ssize_t r = read(b, msg + got, size - got);

				if (r <= 0)
					die("read");
				got += (size_t)r;
			}
		}
		t = (cpu_ns() - t0) / count;
		if (best < 0 || t < best)
			best = t;
	}
	printf("%lld\n", best);
	return 0;
}
