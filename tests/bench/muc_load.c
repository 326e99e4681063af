/*
 * muc_load — the occupants and senders of bench_muc.py: many XMPP client
 * sessions (STARTTLS, in-band registration, SASL PLAIN, bind) in one
 * epoll loop, so that the client side of a fan-out costs a fraction of
 * what the server spends and any server can be saturated on two cores.
 * Every session reads everything the server sends it, all the time.
 *
 * Driven by lines on stdin, one answer line on stdout each:
 *
 *   login N          registers (or reuses) accounts PREFIX0..PREFIX(N-1)
 *                    and opens one session each, initial presence sent
 *                    -> "ok login"
 *   join ROOM N      sessions 0..N-1 join ROOM@MUC under their user name
 *                    (no history); the first creates it (an instant room,
 *                    §10.1.2) and sets the subject -> "ok join"
 *   fanout ROOM N SENDERS SECONDS WINDOW PAD
 *                    sessions 0..SENDERS-1 post groupchat messages (body:
 *                    sequence number, CLOCK_MONOTONIC send time, PAD
 *                    bytes) as fast as the slowest of the N occupants
 *                    receives them (at most WINDOW messages ahead of it),
 *                    for SECONDS; then every occupant is waited for
 *                    -> "ok sent=.. delivered=.. wall=.. p50_us=..
 *                        p99_us=.. bytes=.."  (bytes: of the stanza as
 *                        received, on average)
 *   quit
 *
 *   muc_load PORT DOMAIN MUC PREFIX PASSWORD
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state {
	S_FEAT1, S_PROCEED, S_HANDSHAKE, S_FEAT2, S_REG, S_AUTH, S_FEAT3, S_BIND,
	S_ONLINE, S_JOIN, S_CONFIG, S_OWNSUBJECT, S_SUBJECT, S_IN
};

struct conn {
	int fd, idx;
	SSL *ssl;
	enum state st;
	char user[64];
	char *in;
	size_t inlen, incap, scan;
	char *out;
	size_t outlen, outcap;
	int epout;		/* EPOLLOUT requested */
	int creator;		/* joins first and configures the room */
	long got;		/* bodies of the running fan-out received */
};

static const char *port_s, *domain, *muc, *prefix, *password;
static struct conn *conns;
static int nconn, epfd;
static SSL_CTX *ctx;
static int fanout_on, in_cmd;
static char cur_room[128];
static long fan_bytes;
static uint32_t *lat;
static size_t nlat, latcap;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "muc_load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
grow(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 16384;
	if ((*p = realloc(*p, *cap)) == NULL)
		die("out of memory");
}

static void
want_out(struct conn *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

	if (c->epout == on)
		return;
	c->epout = on;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* Writes what is pending, raw before STARTTLS and through TLS after. */
static void
flush(struct conn *c)
{
	while (c->outlen > 0) {
		ssize_t n;

		if (c->ssl == NULL) {
			n = write(c->fd, c->out, c->outlen);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n < 0)
				die("%s: write: %s", c->user, strerror(errno));
		} else {
			int r = SSL_write(c->ssl, c->out, (int)c->outlen);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					break;
				die("%s: SSL_write failed (%d)", c->user, e);
			}
			n = r;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	want_out(c, c->outlen > 0);
}

static void
sendf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	grow(&c->out, &c->outcap, c->outlen + (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(c->out + c->outlen, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->outlen += (size_t)n;
}

static void
header(struct conn *c)
{
	sendf(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", domain);
}

/* Consumes the input up to and including marker; 0 if it is not there yet. */
static int
take(struct conn *c, const char *marker)
{
	size_t ml = strlen(marker);
	size_t from = c->scan > ml ? c->scan - ml : 0;
	char *p = from < c->inlen ? memmem(c->in + from, c->inlen - from, marker, ml) : NULL;

	if (p == NULL) {
		c->scan = c->inlen;
		return 0;
	}
	p += ml;
	c->inlen -= (size_t)(p - c->in);
	memmove(c->in, p, c->inlen);
	c->scan = 0;
	return 1;
}

static int
has(struct conn *c, const char *s)
{
	return memmem(c->in, c->inlen, s, strlen(s)) != NULL;
}

static void
join(struct conn *c, const char *room)
{
	sendf(c, "<presence to='%s@%s/%s'><x xmlns='http://jabber.org/protocol/muc'>"
	    "<history maxstanzas='0'/></x></presence>", room, muc, c->user);
	c->inlen = 0;
	c->scan = 0;
	c->st = S_JOIN;
}

/* Groupchat bodies of a fan-out: "m SEQ SENT_NS PAD". */
static void
bodies(struct conn *c, long long t)
{
	char *p = c->in, *end = c->in + c->inlen;

	for (;;) {
		char *b = memmem(p, (size_t)(end - p), "<body>m ", 8), *e;
		long long sent;

		if (b == NULL) {
			p = end - (end - p > 8 ? 8 : end - p);
			break;
		}
		if ((e = memmem(b, (size_t)(end - b), "</body>", 7)) == NULL) {
			p = b;
			break;
		}
		if (sscanf(b + 8, "%*s %lld", &sent) == 1) {
			if (nlat == latcap) {
				latcap = latcap ? latcap * 2 : 1 << 20;
				if ((lat = realloc(lat, latcap * sizeof(*lat))) == NULL)
					die("out of memory");
			}
			lat[nlat++] = (uint32_t)((t - sent) / 1000);
			c->got++;
		}
		p = e + 7;
	}
	c->inlen = (size_t)(end - p);
	memmove(c->in, p, c->inlen);
	c->scan = 0;
}

/* Moves the session's state machine on with what arrived. */
static void
step(struct conn *c, long long t)
{
	for (;;) {
		enum state was = c->st;

		switch (c->st) {
		case S_FEAT1:
			if (!take(c, "</stream:features>"))
				return;
			sendf(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
			c->st = S_PROCEED;
			break;
		case S_PROCEED:
			if (!take(c, "<proceed"))
				return;
			c->inlen = 0;
			flush(c);
			c->ssl = SSL_new(ctx);
			SSL_set_fd(c->ssl, c->fd);
			SSL_set_tlsext_host_name(c->ssl, domain);
			SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
			SSL_set_connect_state(c->ssl);
			c->st = S_HANDSHAKE;
			return;
		case S_HANDSHAKE:
			return;
		case S_FEAT2:
			if (!take(c, "</stream:features>"))
				return;
			sendf(c, "<iq type='set' id='reg'><query xmlns='jabber:iq:register'>"
			    "<username>%s</username><password>%s</password></query></iq>",
			    c->user, password);
			c->st = S_REG;
			break;
		case S_REG:
			if (!take(c, "id='reg'") && !take(c, "id=\"reg\""))
				return;
			{
				/* PLAIN: authzid empty, user, password */
				unsigned char raw[256];
				char b64[400];
				int n = snprintf((char *)raw + 1, sizeof(raw) - 1, "%s", c->user);

				raw[0] = 0;
				raw[n + 1] = 0;
				n += 2 + snprintf((char *)raw + n + 2, sizeof(raw) - (size_t)n - 2,
				    "%s", password);
				EVP_EncodeBlock((unsigned char *)b64, raw, n);
				sendf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
				    "mechanism='PLAIN'>%s</auth>", b64);
			}
			c->st = S_AUTH;
			break;
		case S_AUTH:
			if (has(c, "<failure"))
				die("%s: authentication failed: %.*s", c->user, (int)c->inlen, c->in);
			if (!take(c, "<success"))
				return;
			c->inlen = 0;
			header(c);
			c->st = S_FEAT3;
			break;
		case S_FEAT3:
			if (!take(c, "</stream:features>"))
				return;
			sendf(c, "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
			    "<resource>load</resource></bind></iq>");
			c->st = S_BIND;
			break;
		case S_BIND:
			if (!take(c, "</iq>"))
				return;
			/* the legacy session IQ some servers still want is optional
			 * in all three (RFC 6121 dropped it) */
			sendf(c, "<presence/>");
			c->inlen = 0;
			c->st = S_ONLINE;
			break;
		case S_JOIN:
			/* own presence: status 110, 201 on creation */
			if (!has(c, "code='110'") && !has(c, "code=\"110\""))
				return;
			if (c->creator && (has(c, "code='201'") || has(c, "code=\"201\""))) {
				/* an instant room (§10.1.2), then a subject */
				c->inlen = 0;
				sendf(c, "<iq type='set' id='cfg' to='%s@%s'><query xmlns="
				    "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
				    "type='submit'/></query></iq>", cur_room, muc);
				c->st = S_CONFIG;
				break;
			}
			c->st = S_SUBJECT;
			break;
		case S_CONFIG:
			if (!take(c, "id='cfg'") && !take(c, "id=\"cfg\""))
				return;
			if (has(c, "type='error'") || has(c, "type=\"error\""))
				die("%s: configuring the room failed: %.*s", c->user, (int)c->inlen, c->in);
			c->inlen = 0;
			sendf(c, "<message to='%s@%s' type='groupchat'><subject>bench</subject></message>",
			    cur_room, muc);
			c->st = S_OWNSUBJECT;
			break;
		case S_OWNSUBJECT:
			if (!take(c, "bench</subject>"))
				return;
			c->inlen = 0;
			c->st = S_IN;
			break;
		case S_SUBJECT:
			if (!take(c, "</subject>") && !take(c, "<subject/>"))
				return;
			c->inlen = 0;
			c->st = S_IN;
			break;
		case S_ONLINE:
		case S_IN:
			if (fanout_on) {
				bodies(c, t);
			} else if (c->inlen > 64) {
				memmove(c->in, c->in + c->inlen - 64, 64);
				c->inlen = 64;
			}
			if (has(c, "</stream:stream>") || has(c, "<stream:error"))
				die("%s: stream closed by the server: %.*s", c->user,
				    (int)c->inlen, c->in);
			c->scan = 0;
			return;
		}
		if (c->st == was)
			return;
		c->scan = 0;
	}
}

static void
handshake(struct conn *c)
{
	int r = SSL_connect(c->ssl);

	if (r == 1) {
		c->st = S_FEAT2;
		header(c);
		flush(c);
		return;
	}
	r = SSL_get_error(c->ssl, r);
	if (r == SSL_ERROR_WANT_READ)
		want_out(c, 0);
	else if (r == SSL_ERROR_WANT_WRITE)
		want_out(c, 1);
	else
		die("%s: TLS handshake failed", c->user);
}

static void
readable(struct conn *c)
{
	for (;;) {
		ssize_t n;

		grow(&c->in, &c->incap, c->inlen + 65536);
		if (c->ssl == NULL) {
			n = read(c->fd, c->in + c->inlen, 65536);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
		} else {
			int r = SSL_read(c->ssl, c->in + c->inlen, 65536);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return;
				die("%s: connection lost (%d)", c->user, e);
			}
			n = r;
		}
		if (n <= 0)
			die("%s: connection closed by the server", c->user);
		c->inlen += (size_t)n;
		if (fanout_on)
			fan_bytes += n;
		step(c, now_ns());
		if (c->outlen)
			flush(c);
		if (c->st == S_HANDSHAKE) {
			handshake(c);
			return;
		}
	}
}

static void
event(struct conn *c, uint32_t ev)
{
	if (c->st == S_HANDSHAKE) {
		handshake(c);
		if (c->st == S_HANDSHAKE)
			return;
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		readable(c);
	if (c->outlen)
		flush(c);
}

static void
open_conn(struct conn *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port_s)) };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	header(c);
	c->st = S_FEAT1;
	flush(c);
}

static void command(void);

/* One round of the loop: every ready session read and written. */
static void
poll_once(int ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(epfd, evs, 256, ms);

	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL)
			command();	/* stdin */
		else
			event(evs[i].data.ptr, evs[i].events);
	}
}

static int
count_in(int first, int n, enum state st)
{
	int k = 0;

	for (int i = first; i < first + n; i++)
		k += conns[i].st == st;
	return k;
}

static void
cmd_login(int n)
{
	int opened = nconn;

	if ((conns = realloc(conns, (size_t)n * sizeof(*conns))) == NULL)
		die("out of memory");
	memset(conns + nconn, 0, (size_t)(n - nconn) * sizeof(*conns));
	for (int i = nconn; i < n; i++) {
		conns[i].idx = i;
		snprintf(conns[i].user, sizeof(conns[i].user), "%s%d", prefix, i);
	}
	nconn = n;
	/* at most 32 logins in flight */
	while (count_in(0, n, S_ONLINE) + count_in(0, n, S_IN) < n) {
		int busy = 0;

		for (int i = 0; i < opened; i++)
			busy += conns[i].st < S_ONLINE;
		while (opened < n && busy < 32) {
			open_conn(&conns[opened++]);
			busy++;
		}
		poll_once(100);
	}
}

static void
cmd_join(const char *room, int n)
{
	int next = 1;

	if (n > nconn)
		die("join: %d sessions, %d logged in", n, nconn);
	snprintf(cur_room, sizeof(cur_room), "%s", room);
	for (int i = 0; i < n; i++)
		conns[i].st = S_ONLINE;	/* idle (in other rooms perhaps): S_IN counts this join */
	conns[0].creator = 1;
	join(&conns[0], room);
	flush(&conns[0]);
	while (conns[0].st != S_IN)
		poll_once(100);
	conns[0].creator = 0;
	/* at most 16 joins in flight */
	while (count_in(0, n, S_IN) < n) {
		int busy = 0;

		for (int i = 1; i < next; i++)
			busy += conns[i].st != S_IN;
		while (next < n && busy < 16) {
			join(&conns[next], room);
			flush(&conns[next++]);
			busy++;
		}
		poll_once(100);
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
cmd_fanout(const char *room, int n, int senders, double seconds, long window, int pad)
{
	char *padding = malloc((size_t)pad + 1);
	long long t0, stop, tend, deadline;
	long sent = 0, delivered = 0, slowest = 0, missing = 0;
	int rr = 0;

	memset(padding, 'x', (size_t)pad);
	padding[pad] = 0;
	for (int i = 0; i < n; i++)
		conns[i].got = 0;
	nlat = 0;
	fan_bytes = 0;
	fanout_on = 1;
	t0 = now_ns();
	stop = t0 + (long long)(seconds * 1e9);
	for (;;) {
		long long t = now_ns();

		slowest = conns[0].got;
		for (int i = 1; i < n; i++)
			if (conns[i].got < slowest)
				slowest = conns[i].got;
		if (t >= stop && slowest >= sent)
			break;
		if (t < stop) {
			while (sent - slowest < window) {
				struct conn *s = &conns[rr];
				int batch = 0;

				while (batch < 8 && sent - slowest < window) {
					sendf(s, "<message to='%s@%s' type='groupchat' id='m%ld'>"
					    "<body>m %ld %lld %s</body></message>",
					    room, muc, sent, sent, now_ns(), padding);
					sent++;
					batch++;
				}
				flush(s);
				rr = (rr + 1) % senders;
			}
		}
		deadline = stop + 60000000000LL;
		if (t > deadline) {
			missing = 1;	/* lost by the server: reported, not waited for */
			break;
		}
		poll_once(50);
	}
	tend = now_ns();
	fanout_on = 0;
	for (int i = 0; i < n; i++)
		delivered += conns[i].got;
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("ok sent=%ld delivered=%ld expected=%ld wall=%.4f p50_us=%u p99_us=%u bytes=%.1f\n",
	    sent, delivered, missing ? -1 : sent * n, (tend - t0) / 1e9, nlat ? lat[nlat / 2] : 0,
	    nlat ? lat[(size_t)(nlat * 0.99)] : 0, delivered ? (double)fan_bytes / delivered : 0);
	free(padding);
}

/* stdin: one command per line, each answered on stdout */
static void
command(void)
{
	static char line[512];
	static size_t len;
	char *nl, room[128];
	int n, senders, pad;
	double secs;
	long window;
	ssize_t r;

	if (in_cmd)
		return;	/* the next line once this command is answered */
	r = read(0, line + len, sizeof(line) - 1 - len);
	if (r <= 0)
		exit(0);
	len += (size_t)r;
	line[len] = 0;
	if ((nl = strchr(line, '\n')) == NULL) {
		if (len == sizeof(line) - 1)
			die("command too long");
		return;
	}
	*nl = 0;
	in_cmd = 1;
	if (sscanf(line, "login %d", &n) == 1) {
		cmd_login(n);
		printf("ok login\n");
	} else if (sscanf(line, "join %127s %d", room, &n) == 2) {
		cmd_join(room, n);
		printf("ok join\n");
	} else if (sscanf(line, "fanout %127s %d %d %lf %ld %d", room, &n, &senders, &secs,
	    &window, &pad) == 6) {
		cmd_fanout(room, n, senders, secs, window, pad);
	} else if (strcmp(line, "quit") == 0) {
		exit(0);
	} else {
		die("unknown command: %s", line);
	}
	in_cmd = 0;
	len -= (size_t)(nl + 1 - line);
	memmove(line, nl + 1, len);
}

int
main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	if (argc != 6) {
		fprintf(stderr, "usage: muc_load PORT DOMAIN MUC PREFIX PASSWORD\n");
		return 2;
	}
	port_s = argv[1];
	domain = argv[2];
	muc = argv[3];
	prefix = argv[4];
	password = argv[5];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if ((epfd = epoll_create1(0)) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0)
		die("epoll: %s", strerror(errno));
	for (;;)
		poll_once(1000);
}
