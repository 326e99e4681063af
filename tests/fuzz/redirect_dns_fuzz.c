/*
 * libFuzzer target: dumbclient-redirect's DNS answer parsers, the only
 * code that reads bytes from the network in that daemon (a resolver's
 * reply to the SRV, A and AAAA queries).  The input is one DNS message,
 * given to all three parsers.
 */
#include "../../dumbclient-redirect/resolve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char host[256];
	uint16_t port = 0;
	uint32_t ttl = 0;
	struct nft_ip ip;
	unsigned char *msg;
	int rc;

	if (size > 65535)
		return 0;
	/* An exact-size copy, so reading past the answer is caught. */
	if ((msg = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	memset(host, 'x', sizeof(host));
	rc = resolve_parse_srv(msg, (int)size, host, sizeof(host), &port, &ttl);
	if (rc == 0 && (memchr(host, '\0', sizeof(host)) == NULL || host[0] == '\0'))
		abort();
	if (rc == 1 && host[0] != '\0')
		abort();
	if (resolve_parse_addr(msg, (int)size, AF_INET, &ip, &ttl) == 0 &&
	    ip.family != AF_INET)
		abort();
	if (resolve_parse_addr(msg, (int)size, AF_INET6, &ip, &ttl) == 0 &&
	    ip.family != AF_INET6)
		abort();
	free(msg);
	return 0;
}
