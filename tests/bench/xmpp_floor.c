/*
 * xmpp_floor — the floor bench_xmpp.py compares CPU per delivered message
 * against: what a process spends to take one message of a given size off
 * one loopback TCP connection and put it on another, one read(2) and one
 * write(2) per message, nothing else.  That is the least any server can do
 * per message when it does not coalesce; a server that reads and writes
 * many messages per system call can go below it.
 *
 * A writer process feeds connection A (many messages per write, so that
 * the relay finds its next message waiting), a reader process drains
 * connection B; the relay in between is measured: its CPU
 * time (user + system, which includes the loopback delivery its writes
 * trigger) divided by the messages relayed is printed in nanoseconds.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

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
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static int
read_full(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	long count, done;
	size_t size;
	int a_w, a_r, b_w, b_r, st;
	char *msg;
	pid_t writer, reader;
	long long t0, t1;

	if (argc != 3 || (count = atol(argv[1])) <= 0 ||
	    (size = (size_t)atol(argv[2])) == 0 || size > 65536) {
		fprintf(stderr, "usage: xmpp_floor count size\n");
		return 2;
	}
	if ((msg = malloc(size)) == NULL)
		die("malloc");
	memset(msg, 'x', size);
	tcp_pair(&a_w, &a_r);
	tcp_pair(&b_w, &b_r);
	if ((writer = fork()) == 0) {
		char *batch = malloc(size * BATCH);

		if (batch == NULL)
			die("malloc");
		memset(batch, 'x', size * BATCH);
		for (long i = 0; i < count; i += BATCH) {
			size_t n = size * (size_t)(count - i < BATCH ? count - i : BATCH);

			if (write(a_w, batch, n) != (ssize_t)n)
				die("writer");
		}
		_exit(0);
	}
	if ((reader = fork()) == 0) {
		static char big[1 << 18];
		long long want = (long long)count * (long long)size, got = 0;

		while (got < want) {
			ssize_t r = read(b_r, big, sizeof(big));

			if (r <= 0)
				die("reader");
			got += r;
		}
		_exit(0);
	}
	close(a_w);
	close(b_r);
	t0 = cpu_ns();
	for (done = 0; done < count; done++) {
		if (read_full(a_r, msg, size) < 0 ||
		    write(b_w, msg, size) != (ssize_t)size)
			die("relay");
	}
	t1 = cpu_ns();
	waitpid(writer, &st, 0);
	waitpid(reader, &st, 0);
	printf("%lld\n", (t1 - t0) / count);
	return 0;
}
