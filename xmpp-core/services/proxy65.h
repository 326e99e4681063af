/*
 * proxy65 — the XMPP side of the SOCKS5 Bytestreams proxy (XEP-0065) on
 * proxy.<host> (or [proxy65] service): the service in the server's
 * disco#items, its disco#info (identity proxy/bytestreams), the
 * streamhost query answered with the advertised host and port (§4), and
 * activation ("Activation of Bytestream"): the
 * stream's hash recomputed from the sid, the activating full JID and the
 * target, so only the initiator whose hash the two connections used can
 * activate it; the relay itself is bytestream.c.  Only this server's
 * accounts may use the proxy (ejabberd's `access: local`).
 */
#ifndef XMPP_PROXY65_H
#define XMPP_PROXY65_H

#include <stdbool.h>

#include "jid.h"

struct xml_node;

#define NS_BYTESTREAMS "http://jabber.org/protocol/bytestreams"


/* SHA1(sid + initiator + target), lower-case hex (XEP-0065 §5.3.2):
 * the SOCKS5 address both parties ask for.  0, or -1. */
int proxy65_hash(const char *sid, const char *initiator, const char *target,
    char out[41]);

#endif
