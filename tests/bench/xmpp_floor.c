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
 * With a third argument, the floor of a fan-out (bench_muc.py): the
 * message written once to each of that many connections, then read from
 * each, so the sockets and their buffers are as many as a room's
 * occupants.  Still one write and one read per delivered message.
 *
 * Prints the CPU time (user + system) per write+read in nanoseconds, the
 * best of five rounds of count/5.
 *
 *   xmpp_floor count size [connections]
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
	long count, fan = 1;
	size_t size;
	int *a, *b;
	char *msg;
	long long best = -1;

	if ((argc != 3 && argc != 4) || (count = atol(argv[1]) / 5) <= 0 ||
	    (size = (size_t)atol(argv[2])) == 0 || size > 65536 ||
	    (argc == 4 && ((fan = atol(argv[3])) <= 0 || fan > 10000))) {
		fprintf(stderr, "usage: xmpp_floor count size [connections]\n");
		return 2;
	}
	count = (count + fan - 1) / fan;	/* rounds of fan deliveries */
	if ((msg = malloc(size)) == NULL || (a = calloc((size_t)fan, sizeof(int))) == NULL ||
	    (b = calloc((size_t)fan, sizeof(int))) == NULL)
		die("malloc");
	memset(msg, 'x', size);
	for (long k = 0; k < fan; k++)
		tcp_pair(&a[k], &b[k]);
	for (int round = 0; round < 5; round++) {
		long long t0 = cpu_ns(), t;

		for (long i = 0; i < count; i++) {
			for (long k = 0; k < fan; k++)
				if (write(a[k], msg, size) != (ssize_t)size)
					die("write");
			for (long k = 0; k < fan; k++) {
				size_t got = 0;

				while (got < size) {
					ssize_t r = read(b[k], msg + got, size - got);

					if (r <= 0)
						die("read");
					got += (size_t)r;
				}
			}
		}
		t = (cpu_ns() - t0) / (count * fan);
		if (best < 0 || t < best)
			best = t;
	}
	printf("%lld\n", best);
	return 0;
}
