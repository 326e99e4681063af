/*
 * blocking — the blocking command (XEP-0191, urn:xmpp:blocking).
 *
 * An account's blocklist lives in PostgreSQL and, while the account has
 * sessions, in memory (loaded at bind; the new session's stanzas wait
 * until it is there).  Enforcement, as XEP-0191 §3.4/§3.5 says:
 *
 * - from a blocked entity to the account: presence dropped, messages and
 *   IQ requests answered with service-unavailable, nothing stored offline
 *   (an account whose list is not in memory is asked in the database);
 * - from the account to a blocked entity: messages and IQ requests get
 *   not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/>,
 *   presence (directed or broadcast) is not sent.
 *
 * Errors always pass (they carry nothing and may be our own bounces).
 */
#ifndef XMPP_BLOCKING_H
#define XMPP_BLOCKING_H

#include <stdbool.h>


#define NS_BLOCKING "urn:xmpp:blocking"

/* Session lifecycle (router_bind / router_unbind). */

#endif
