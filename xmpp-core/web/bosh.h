/*
 * bosh — BOSH (XEP-0124) carrying XMPP (XEP-0206) as a c2s transport: a
 * BOSH session is a struct c2s without a socket (fd -1) whose input
 * comes in the bodies of HTTP requests and whose output goes out in the
 * answers to the requests it holds.  http.c hands over complete POST
 * bodies of /bosh and suspends the MHD connections of held requests;
 * this file decides when each is answered.
 *
 * What is kept: rid order with the window of `requests` (early requests
 * wait for the missing ones, a request answered already is answered
 * again from the copy: §14.3), `hold` requests held at most (one more
 * answers the oldest: §11), each held at most `wait` seconds, the
 * inactivity time-out and pause (§12), terminate (§13, with
 * <stream:error/> as remote-stream-error, XEP-0206 §4), the stream
 * restart after SASL (xmpp:restart, XEP-0206 §5).  A session that times
 * out is a lost connection: SM may keep it.
 */
#ifndef WEB_BOSH_H
#define WEB_BOSH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"

struct buf;
struct bosh_req;
struct MHD_Connection;

struct bosh_client {
	const struct sockaddr_storage *addr;
	const char *ip, *peer;
	bool secure;
};

/* kick: MHD has a resumed connection to run (http.c). */
void bosh_init(void (*kick)(void));
/*
 * A complete POST body of conn: 0 answered now (the body in out; 200,
 * or 400 / 403 / 404 in *status), or 1 held: the connection is
 * suspended and *held is set; once resumed, bosh_answer gives the body.
 */
int bosh_request(struct MHD_Connection *conn, const char *body, size_t len,
    const struct bosh_client *cl, struct bosh_req **held, struct buf *out,
    unsigned *status);
void bosh_answer(struct bosh_req *q, struct buf *out);
/* The HTTP request is over (answered, or its connection gone). */
void bosh_req_done(struct bosh_req *q);
/* Every session is dropped (the loop has ended). */
void bosh_abort_all(void);
size_t bosh_count(void);

#endif
