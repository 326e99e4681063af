/*
 * sm — Stream Management (XEP-0198 v3): acknowledgements in both
 * directions (h counters mod 2^32), resumption and the fate of unacked
 * stanzas.
 *
 * Every stanza written to a session with SM enabled is kept (serialised)
 * until the client acknowledges it; more than [sm] max_unacked cut the
 * connection off.  When the connection of a resumable session is lost,
 * the session is "detached": a transport-less struct c2s takes its place
 * in the router (it stays reachable: stanzas for it join the unacked
 * queue) for [sm] resume_timeout.  A <resume/> with the session's id on a
 * new authenticated stream of the same account moves the session onto
 * the new connection and re-sends what the client has not acknowledged.
 * When a session really ends (graceful close, no resumption, timeout),
 * unacked messages addressed to one resource go to the account's other
 * available resources, or to offline storage when there are none
 * (ejabberd's resend_on_timeout: if_offline); unacked IQ requests are
 * answered with service-unavailable.  Nothing is dropped silently except
 * presence and content-less messages (chat states), as offline storage
 * would.
 */
#ifndef XMPP_SM_H
#define XMPP_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_SM "urn:xmpp:sm:3"

struct c2s;

/* The interface push/ builds on (push/README.md): */
/* [sm] resume_timeout in ms (0: no resumption). */
uint64_t sm_resume_timeout(void);
/* A detached session's resumption deadline, ms from now (push.c's keepalive). */
void sm_set_timeout(struct c2s *c, uint64_t ms);
/* Calls fn with each unacknowledged stanza of c (serialised), oldest first. */
void sm_unacked_each(const struct c2s *c,
    void (*fn)(void *arg, const char *p, size_t len), void *arg);

/*
 * The interface mam/ builds on (mam/README.md): a writer whose rows an
 * acknowledgement depends on (the archive).  An <a h='…'/> and the h of a
 * <resumed/> are sent only once durable(mark()) of the moment they were
 * asked for: wait(mark, fn, arg) calls fn(arg, true) once it is (or
 * fn(arg, false) when the server stops first), 0, or -1 (not called).
 */
struct sm_durability {
	uint64_t (*mark)(void);
	bool (*durable)(uint64_t mark);
	int (*wait)(uint64_t mark, void (*fn)(void *arg, bool durable), void *arg);
};
void sm_set_durability(const struct sm_durability *d);

/* The pure parts (unit tests, tests/fuzz/xmpp_sm_fuzz.c): */
/* An 'h' attribute: decimal digits of a 32-bit unsigned number; 0, or -1
 * (absent, empty, a sign, space, anything else, or too large). */
int sm_parse_h(const char *s, uint32_t *h);
/* With h_out stanzas sent in all (mod 2^32), the last n of them unacked,
 * an ack of h drops *drop of them: 0, or -1 when h acknowledges stanzas
 * never sent (XEP-0198 §4: undefined-condition). */
int sm_ack_window(uint32_t h_out, uint32_t n, uint32_t h, uint32_t *drop);

#endif
