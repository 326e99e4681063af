/*
 * local — this host's addresses (getifaddrs, in the network namespace
 * edge-check runs in) and small address helpers.
 */
#ifndef CHECK_LOCAL_H
#define CHECK_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

int local_load(char *err, size_t errlen);
bool local_has(const struct sockaddr_storage *ip);

/* Same family and address (ports ignored). */
bool ip_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool ip_is_any(const struct sockaddr_storage *a);
/* "192.0.2.1" or "2001:db8::1"; with_port: "192.0.2.1:5222", "[2001:db8::1]:5222". */
const char *ip_str(const struct sockaddr_storage *a, int port, char *buf, size_t len);
/* A literal IPv4/IPv6 address into ss (port 0): 0, or -1 for a name. */
int ip_parse(const char *s, struct sockaddr_storage *ss);

#endif
