/*
 * records — the DNS records of every hosted domain and service, checked
 * against the listeners of this host's configs and portmap's forwards:
 *
 *   _xmpp-client._tcp, _xmpps-client._tcp, _xmpp-server._tcp and
 *   _xmpps-server._tcp of each domain (and _xmpp-server._tcp or A/AAAA of
 *   each service domain when s2s is on): every target's A/AAAA at the
 *   record's port reaches xmpp-core's listener of that kind, directly or
 *   through a portmap forward;
 *   _stun._udp, _turn._udp, _turn._tcp, _stuns._tcp, _turns._tcp: turnd's
 *   listeners (when turnd is configured here);
 *   the hosts XEP-0215 ([extdisco]) and XEP-0065 ([proxy65]) hand out;
 *   the HTTP hosts of the upload, WebSocket and BOSH URLs resolve;
 *   dumbclient-redirect's domain points at its listen addresses.
 *
 * Without an SRV record clients and servers fall back to the domain
 * itself on 5222/5269 (RFC 6120 §3.2.2); that is fine when it reaches
 * the listener.
 */
#ifndef CHECK_RECORDS_H
#define CHECK_RECORDS_H

#include "site.h"

void records_check(const struct site *s);

#endif
