/*
 * jid — RFC 7622 addresses.  See jid.h for what of PRECIS is covered.
 */
#include "jid.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/*
 * Checks UTF-8 well-formedness (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF) and refuses C0/C1 controls, DEL and, unless
 * allow_space, U+0020.  Returns the byte length or -1.
 */
static long
utf8_check(const char *s, bool allow_space)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (p[i]) {
		uint32_t cp;
		int n;

		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == ' ' && !allow_space))
				return -1;
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			cp = p[i] & 0x1f; n = 1;
		} else if ((p[i] & 0xf0) == 0xe0) {
			cp = p[i] & 0x0f; n = 2;
		} else if ((p[i] & 0xf8) == 0xf0) {
			cp = p[i] & 0x07; n = 3;
		} else {
			return -1;
		}
		for (int k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
			return -1;
		i += (size_t)n + 1;
	}
	return (long)i;
}

int
jid_local_prep(const char *in, char *out)
{
	long n = utf8_check(in, false);

	if (n <= 0 || n > JID_PART_MAX)
		return -1;
	for (long i = 0; i < n; i++) {
		char c = in[i];

		/* RFC 7622 §3.3.1 */
		if (strchr("\"&'/:<>@", c) != NULL)
			return -1;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[n] = '\0';
	return 0;
}

int
jid_domain_prep(const char *in, char *out)
{
	long n = utf8_check(in, false);
	size_t lab = 0;

	if (n > 1 && in[n - 1] == '.')
		n--;	/* RFC 7622 §3.2: a trailing dot is stripped */
	if (n <= 0 || n > JID_PART_MAX)
		return -1;
	for (long i = 0; i < n; i++) {
		char c = in[i];

		if (c == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
		} else if (strchr("\"&'/:<>@\\", c) != NULL) {
			/* ':' would be an IPv6 literal, only inside [] */
			if (!(c == ':' && in[0] == '['))
				return -1;
			lab++;
		} else if (++lab > 63) {
			return -1;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	if (lab == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

int
jid_resource_prep(const char *in, char *out)
{
	long n = utf8_check(in, true);

	/* OpaqueString: spaces allowed inside, controls not */
	if (n <= 0 || n > JID_PART_MAX)
		return -1;
	memcpy(out, in, (size_t)n + 1);
	return 0;
}

int
jid_parse(const char *s, struct jid *out)
{
	char tmp[JID_STR_MAX + 1];
	const char *slash, *at;
	size_t len = strlen(s);

	if (len == 0 || len > JID_STR_MAX)
		return -1;
	out->local[0] = out->domain[0] = out->resource[0] = '\0';
	/* RFC 7622 §3.1: split at the first '/', then the first '@' before it */
	slash = strchr(s, '/');
	if (slash) {
		if (jid_resource_prep(slash + 1, out->resource) == -1)
			return -1;
		len = (size_t)(slash - s);
	}
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	at = memchr(tmp, '@', len);
	if (at) {
		size_t ll = (size_t)(at - tmp);

		if (ll == 0)
			return -1;
		tmp[ll] = '\0';
		if (jid_local_prep(tmp, out->local) == -1)
			return -1;
		return jid_domain_prep(tmp + ll + 1, out->domain);
	}
	return jid_domain_prep(tmp, out->domain);
}

const char *
jid_bare(const struct jid *j, char *buf, size_t len)
{
	if (j->local[0])
		snprintf(buf, len, "%s@%s", j->local, j->domain);
	else
		snprintf(buf, len, "%s", j->domain);
	return buf;
}

const char *
jid_full(const struct jid *j, char *buf, size_t len)
{
	size_t n;

	jid_bare(j, buf, len);
	n = strlen(buf);
	if (j->resource[0] && n < len)
		snprintf(buf + n, len - n, "/%s", j->resource);
	return buf;
}

bool
jid_bare_eq(const struct jid *a, const struct jid *b)
{
	return strcmp(a->local, b->local) == 0 && strcmp(a->domain, b->domain) == 0;
}

bool
jid_eq(const struct jid *a, const struct jid *b)
{
	return jid_bare_eq(a, b) && strcmp(a->resource, b->resource) == 0;
}

void
jid_set_resource(struct jid *j, const char *res)
{
	snprintf(j->resource, sizeof(j->resource), "%s", res ? res : "");
}

void
jid_to_bare(const struct jid *in, struct jid *out)
{
	if (out != in)
		memcpy(out, in, sizeof(*out));
	out->resource[0] = '\0';
}
