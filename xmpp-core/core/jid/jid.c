/*
 * jid — RFC 7622 addresses: splitting (§3.1) and the three parts'
 * preparation, done by precis.c and idna.c.  See jid.h.
 */
#include "jid.h"

#include <stdio.h>
#include <string.h>

#include "idna.h"
#include "precis.h"

int
jid_local_prep(const char *in, char *out)
{
	/* RFC 7622 §3.3: UsernameCaseMapped, then the §3.3.1 exclusions */
	if (precis_enforce_username(in, strlen(in), out, JID_PART_MAX + 1) < 0 ||
	    strpbrk(out, "\"&'/:<>@") != NULL)
		return -1;
	return 0;
}

int
jid_domain_prep(const char *in, char *out)
{
	return idna_prep_domain(in, strlen(in), out, JID_PART_MAX + 1) < 0 ? -1 : 0;
}

int
jid_resource_prep(const char *in, char *out)
{
	/* RFC 7622 §3.4: OpaqueString */
	return precis_enforce_opaque(in, strlen(in), out, JID_PART_MAX + 1) < 0 ? -1 : 0;
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

/* Appends s at buf[at] like snprintf would (truncated, NUL-terminated);
 * the new end.  These run for every stanza: no format parsing. */
static size_t
put(char *buf, size_t len, size_t at, const char *s, size_t n)
{
	if (at + 1 >= len)
		return at;
	if (n > len - 1 - at)
		n = len - 1 - at;
	memcpy(buf + at, s, n);
	buf[at + n] = '\0';
	return at + n;
}

static size_t
bare_into(const struct jid *j, char *buf, size_t len)
{
	size_t at = 0;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (j->local[0]) {
		at = put(buf, len, at, j->local, strlen(j->local));
		at = put(buf, len, at, "@", 1);
	}
	return put(buf, len, at, j->domain, strlen(j->domain));
}

const char *
jid_bare(const struct jid *j, char *buf, size_t len)
{
	bare_into(j, buf, len);
	return buf;
}

const char *
jid_full(const struct jid *j, char *buf, size_t len)
{
	size_t at = bare_into(j, buf, len);

	if (j->resource[0]) {
		at = put(buf, len, at, "/", 1);
		put(buf, len, at, j->resource, strlen(j->resource));
	}
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
