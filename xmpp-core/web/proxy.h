/*
 * proxy — the client's address of an HTTP request.  Behind nginx every
 * peer is the proxy; the address per-IP limits, bans and logs need is the
 * one the proxy saw, in X-Forwarded-For or Forwarded (RFC 7239).  Those
 * headers are believed only from a peer in trusted_proxies, and then
 * read from the right: each hop appends what it saw, so the first entry
 * (from the right) that is not itself a trusted proxy is the client, and
 * whatever lies left of it is the client's own, spoofable, claim.
 */
#ifndef WEB_PROXY_H
#define WEB_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct addr_cidr;

/* An address as proxies write it: "192.0.2.1", "192.0.2.1:80",
 * "2001:db8::1", "[2001:db8::1]:80", optionally in double quotes
 * (Forwarded).  0, or -1 ("unknown", obfuscated names, garbage). */
int proxy_parse_addr(const char *s, size_t len, struct sockaddr_storage *out);

/*
 * The client address of a request from peer with the (joined) values of
 * its X-Forwarded-For and Forwarded headers (NULL: absent; Forwarded is
 * preferred when both are there).  Writes the address to *out and
 * returns true when it came from a header, false when it is the peer.
 */
bool proxy_client_addr(const struct sockaddr *peer, socklen_t peerlen,
    const char *xff, const char *fwd, const struct addr_cidr *trusted,
    size_t ntrusted, struct sockaddr_storage *out);

/* The address alone ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 as
 * IPv4), the key of per-IP limits. */
void proxy_addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
