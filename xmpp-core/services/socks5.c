/*
 * socks5 — greeting, CONNECT request and reply codec.  See socks5.h.
 */
#include "socks5.h"

#include <string.h>

long
s5_greeting(const uint8_t *p, size_t n, bool *noauth)
{
	size_t need;

	*noauth = false;
	if (n >= 1 && p[0] != S5_VERSION)
		return -1;
	if (n < 2)
		return 0;
	if (p[1] == 0)
		return -1;	/* RFC 1928 §3: at least one method */
	need = 2 + (size_t)p[1];
	if (n < need)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (p[i] == S5_METHOD_NONE)
			*noauth = true;
	return (long)need;
}

static bool
hash_ok(const uint8_t *a, size_t len, char *out)
{
	if (len != S5_HASH_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = a[i];

		if (c >= 'A' && c <= 'F')
			c = (uint8_t)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = (char)c;
	}
	out[len] = '\0';
	return true;
}

long
s5_request(const uint8_t *p, size_t n, struct s5_request *r)
{
	size_t alen, need;

	memset(r, 0, sizeof(*r));
	if (n >= 1 && p[0] != S5_VERSION)
		return -1;
	if (n < 4)
		return 0;
	r->cmd = p[1];
	r->atyp = p[3];
	switch (r->atyp) {
	case S5_ATYP_IPV4:
		alen = 4;
		need = 4 + 4 + 2;
		break;
	case S5_ATYP_IPV6:
		alen = 16;
		need = 4 + 16 + 2;
		break;
	case S5_ATYP_DOMAIN:
		if (n < 5)
			return 0;
		alen = p[4];
		need = 4 + 1 + alen + 2;
		break;
	default:
		/* the address length is unknown: nothing more can be read */
		r->rep = S5_REP_ADDRESS_TYPE;
		return 4;
	}
	if (n < need)
		return 0;
	r->addrlen = (uint8_t)alen;
	memcpy(r->addr, p + need - 2 - alen, alen);
	r->port = (uint16_t)(p[need - 2] << 8 | p[need - 1]);
	if (r->cmd != S5_CMD_CONNECT)
		r->rep = S5_REP_COMMAND;
	else if (r->atyp != S5_ATYP_DOMAIN)
		r->rep = S5_REP_ADDRESS_TYPE;	/* XEP-0065: the hash as a domain */
	else if (!hash_ok(r->addr, alen, r->hash))
		r->rep = S5_REP_HOST_UNREACHABLE;
	else
		r->rep = S5_REP_SUCCEEDED;
	return (long)need;
}

size_t
s5_reply(const struct s5_request *r, uint8_t rep, uint8_t *out)
{
	size_t o = 0;

	out[o++] = S5_VERSION;
	out[o++] = rep;
	out[o++] = 0;
	if (r->addrlen == 0 || (r->atyp != S5_ATYP_IPV4 && r->atyp != S5_ATYP_IPV6 &&
	    r->atyp != S5_ATYP_DOMAIN)) {
		out[o++] = S5_ATYP_IPV4;
		memset(out + o, 0, 4 + 2);
		return o + 6;
	}
	out[o++] = r->atyp;
	if (r->atyp == S5_ATYP_DOMAIN)
		out[o++] = r->addrlen;
	memcpy(out + o, r->addr, r->addrlen);
	o += r->addrlen;
	out[o++] = (uint8_t)(r->port >> 8);
	out[o++] = (uint8_t)r->port;
	return o;
}
