/*
 * idna — JID domainparts (RFC 7622 §3.2).  See idna.h.
 *
 * What a domainpart may be: an IPv6 literal in brackets or a dotted IPv4
 * address (kept as they are, hex digits lower-cased), or labels that are
 * NR-LDH (letters, digits, hyphens, no hyphen at either end, no "--" in
 * positions 3-4) or U-labels (IDNA2008, RFC 5891 §5.4: every code point
 * PVALID or CONTEXTJ/CONTEXTO in context per RFC 5892, NFC, no leading
 * combining mark, the hyphen rules, the Bidi Rule of RFC 5893 on every
 * label of a domain with a right-to-left label, an A-label of at most
 * 63 octets).  A-labels ("xn--") are decoded to U-labels (RFC 7622
 * §3.2.1) after the RFC 5891 §5.3 checks (a valid U-label that encodes
 * back to the same A-label).  Before that the string is mapped the way
 * UTS #46 maps the common cases: width mapping, the ideographic full
 * stops to ".", toLowerCase, NFC.  Each label is at most 63 octets (as
 * an A-label), the whole at most cap - 1 octets (as U-labels).
 */
#include "idna.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "precis.h"

#define LABEL_MAX 63

/* RFC 3492 §5 parameters */
#define P_BASE 36
#define P_TMIN 1
#define P_TMAX 26
#define P_SKEW 38
#define P_DAMP 700
#define P_BIAS 72
#define P_N 128
#define P_LIMIT 0x7fffffffu

static uint32_t
puny_adapt(uint32_t delta, uint32_t points, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / P_DAMP : delta / 2;
	delta += delta / points;
	while (delta > ((P_BASE - P_TMIN) * P_TMAX) / 2) {
		delta /= P_BASE - P_TMIN;
		k += P_BASE;
	}
	return k + (P_BASE - P_TMIN + 1) * delta / (delta + P_SKEW);
}

static uint32_t
puny_t(uint32_t k, uint32_t bias)
{
	return k <= bias ? P_TMIN : k >= bias + P_TMAX ? P_TMAX : k - bias;
}

static char
puny_digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + d - 26);
}

long
idna_punycode_encode(const uint32_t *cp, size_t n, char *out, size_t cap)
{
	uint32_t code = P_N, delta = 0, bias = P_BIAS, h, b = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (cp[i] >= 0x80)
			continue;
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)cp[i];
		b++;
	}
	h = b;
	if (b > 0) {
		if (o + 1 >= cap)
			return -1;
		out[o++] = '-';
	}
	while (h < n) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++)
			if (cp[i] >= code && cp[i] < m)
				m = cp[i];
		if ((m - code) > (P_LIMIT - delta) / (h + 1))
			return -1;
		delta += (m - code) * (h + 1);
		code = m;
		for (size_t i = 0; i < n; i++) {
			uint32_t q;

			if (cp[i] < code && ++delta > P_LIMIT)
				return -1;
			if (cp[i] != code)
				continue;
			q = delta;
			for (uint32_t k = P_BASE;; k += P_BASE) {
				uint32_t t = puny_t(k, bias);

				if (q < t)
					break;
				if (o + 1 >= cap)
					return -1;
				out[o++] = puny_digit(t + (q - t) % (P_BASE - t));
				q = (q - t) / (P_BASE - t);
			}
			if (o + 1 >= cap)
				return -1;
			out[o++] = puny_digit(q);
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		if (++delta > P_LIMIT)
			return -1;
		code++;
	}
	out[o] = '\0';
	return (long)o;
}

long
idna_punycode_decode(const char *s, size_t len, uint32_t *cp, size_t cap)
{
	uint32_t code = P_N, i = 0, bias = P_BIAS;
	size_t n = 0, in = 0, b = 0;

	for (size_t k = 0; k < len; k++)
		if (s[k] == '-')
			b = k;
	/* RFC 3492 §6.2: the basic code points before the last delimiter;
	 * a delimiter is consumed only after at least one of them */
	if (b > 0) {
		if (b > cap)
			return -1;
		for (size_t k = 0; k < b; k++) {
			if ((unsigned char)s[k] >= 0x80)
				return -1;
			cp[n++] = (unsigned char)s[k];
		}
		in = b + 1;
	}
	while (in < len) {
		uint32_t oldi = i, w = 1;

		for (uint32_t k = P_BASE;; k += P_BASE) {
			char c;
			uint32_t d, t;

			if (in >= len)
				return -1;
			c = s[in++];
			if (c >= 'a' && c <= 'z')
				d = (uint32_t)(c - 'a');
			else if (c >= 'A' && c <= 'Z')
				d = (uint32_t)(c - 'A');
			else if (c >= '0' && c <= '9')
				d = (uint32_t)(c - '0') + 26;
			else
				return -1;
			if (d > (P_LIMIT - i) / w)
				return -1;
			i += d * w;
			t = puny_t(k, bias);
			if (d < t)
				break;
			if (w > P_LIMIT / (P_BASE - t))
				return -1;
			w *= P_BASE - t;
		}
		bias = puny_adapt(i - oldi, (uint32_t)n + 1, oldi == 0);
		if (i / (n + 1) > P_LIMIT - code)
			return -1;
		code += i / (uint32_t)(n + 1);
		i %= (uint32_t)(n + 1);
		if (n >= cap || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
			return -1;
		memmove(cp + i + 1, cp + i, (n - i) * sizeof(*cp));
		cp[i++] = code;
		n++;
	}
	return (long)n;
}

/* RFC 5891 §5.4 and RFC 5892/5893 for one non-ASCII label (NFC known). */
static int
ulabel_check(const uint32_t *l, size_t n)
{
	char a[LABEL_MAX + 1];

	if (n == 0 || l[0] == '-' || l[n - 1] == '-' ||
	    (n >= 4 && l[2] == '-' && l[3] == '-') || precis_is_mark(l[0]))
		return -1;
	if (precis_check(l, n, PRECIS_IDNA) == -1)
		return -1;
	/* its A-label, "xn--" and the encoding, fits a DNS label */
	return idna_punycode_encode(l, n, a, sizeof(a) - 4) < 0 ? -1 : 0;
}

/*
 * An A-label (the part after "xn--", lower case): decoded into u when it
 * is the A-label of a valid U-label (RFC 5891 §5.3); count or -1.
 */
static long
alabel_decode(const uint32_t *l, size_t n, uint32_t *u)
{
	char s[LABEL_MAX + 1], back[LABEL_MAX + 1];
	uint32_t norm[LABEL_MAX];
	long m, k;
	bool wide = false;

	for (size_t i = 0; i < n; i++)
		s[i] = (char)l[i];
	if ((m = idna_punycode_decode(s, n, u, LABEL_MAX)) <= 0)
		return -1;
	for (long i = 0; i < m; i++)
		wide |= u[i] >= 0x80;
	memcpy(norm, u, (size_t)m * sizeof(*u));
	if (!wide || (k = precis_nfc(norm, (size_t)m, LABEL_MAX)) != m ||
	    memcmp(norm, u, (size_t)m * sizeof(*u)) != 0)
		return -1;
	if (ulabel_check(u, (size_t)m) == -1 ||
	    idna_punycode_encode(u, (size_t)m, back, sizeof(back)) != (long)n ||
	    memcmp(back, s, n) != 0)
		return -1;
	return m;
}

/* An ASCII label: NR-LDH, or an A-label; appended to out as a U-label. */
static long
ascii_label(const uint32_t *l, size_t n, uint32_t *out, size_t o)
{
	long m;

	if (n == 0 || n > LABEL_MAX || l[0] == '-' || l[n - 1] == '-')
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = l[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -1;	/* IDNA2008 allows only LDH of ASCII */
	}
	if (n >= 4 && l[2] == '-' && l[3] == '-') {
		if (l[0] != 'x' || l[1] != 'n')
			return -1;	/* reserved: R-LDH, not an A-label */
		if (o + LABEL_MAX > PRECIS_CAP ||
		    (m = alabel_decode(l + 4, n - 4, out + o)) < 0)
			return -1;
		return (long)o + m;
	}
	memcpy(out + o, l, n * sizeof(*l));
	return (long)(o + n);
}

static bool
label_ascii(const uint32_t *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] >= 0x80)
			return false;
	return true;
}

/* Dotted digits must be an IPv4 address (not a name that looks like one). */
static int
ipv4_check(const uint32_t *cp, size_t n)
{
	char s[16];
	struct in_addr a;

	for (size_t i = 0; i < n; i++)
		if (cp[i] != '.' && (cp[i] < '0' || cp[i] > '9'))
			return 1;	/* not dotted digits: a name */
	if (n >= sizeof(s))
		return -1;
	for (size_t i = 0; i < n; i++)
		s[i] = (char)cp[i];
	s[n] = '\0';
	return inet_pton(AF_INET, s, &a) == 1 ? 0 : -1;
}

/* The Bidi Rule for every label once one of them is right-to-left. */
static int
bidi_domain(const uint32_t *cp, size_t n)
{
	size_t start = 0;

	if (!precis_has_rtl(cp, n))
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && cp[i] != '.')
			continue;
		if (precis_bidi_rule(cp + start, i - start) == -1)
			return -1;
		start = i + 1;
	}
	return 0;
}

/* One round of the domainpart rules (for precis_enforce). */
static long
domain_round(const uint32_t *in, size_t n, uint32_t *out)
{
	uint32_t w[PRECIS_CAP], *m = w;
	long k;
	int v4;
	size_t o = 0, start = 0;

	memcpy(w, in, n * sizeof(*in));
	precis_map_width(w, n);
	for (size_t i = 0; i < n; i++)
		if (w[i] == 0x3002 || w[i] == 0xff61)	/* UTS #46: label dots */
			w[i] = '.';
	if ((k = precis_map_lower(w, n, out, PRECIS_CAP)) < 0 ||
	    (k = precis_nfc(out, (size_t)k, PRECIS_CAP)) <= 0)
		return -1;
	memcpy(m, out, (size_t)k * sizeof(*m));
	if ((v4 = ipv4_check(m, (size_t)k)) <= 0)
		return v4 == 0 ? k : -1;
	for (size_t i = 0; i <= (size_t)k; i++) {
		const uint32_t *l = m + start;
		size_t len = i - start;
		long r;

		if (i < (size_t)k && m[i] != '.')
			continue;
		if (label_ascii(l, len)) {
			r = ascii_label(l, len, out, o);
		} else if (ulabel_check(l, len) == 0) {
			memcpy(out + o, l, len * sizeof(*l));
			r = (long)(o + len);
		} else {
			r = -1;
		}
		if (r < 0)
			return -1;
		o = (size_t)r;
		if (i < (size_t)k) {
			if (o >= PRECIS_CAP)
				return -1;
			out[o++] = '.';
		}
		start = i + 1;
	}
	return bidi_domain(out, o) == -1 ? -1 : (long)o;
}

/* "[IPv6]" (RFC 3986 IP-literal, IPv6 only) lower-cased: length or -1. */
static long
ipv6_literal(const char *in, size_t len, char *out, size_t cap)
{
	char s[64];
	struct in6_addr a;

	if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(s) || len >= cap)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[len] = '\0';
	memcpy(s, out + 1, len - 2);
	s[len - 2] = '\0';
	return inet_pton(AF_INET6, s, &a) == 1 ? (long)len : -1;
}

/*
 * The common case: ASCII NR-LDH labels, lower-cased into out.  Returns
 * the length, -1 when refused, -2 when the full rules must decide
 * (non-ASCII, an A-label, dotted digits).
 */
static long
ascii_domain(const char *in, size_t len, char *out, size_t cap)
{
	size_t lab = 0;
	bool alpha = false;

	if (len >= cap)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';

		if ((unsigned char)c >= 0x80)
			return -2;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c == '.') {
			if (lab == 0 || out[i - 1] == '-')
				return -1;
			if (lab >= 4 && out[i - lab + 2] == '-' &&
			    out[i - lab + 3] == '-')
				return -2;	/* "xn--" or refused there */
			lab = 0;
			if (i < len)
				out[i] = c;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return -1;
		if (c == '-' && lab == 0)
			return -1;
		if (++lab > LABEL_MAX)
			return -1;
		alpha |= !(c >= '0' && c <= '9');
		out[i] = c;
	}
	out[len] = '\0';
	return alpha ? (long)len : -2;
}

long
idna_prep_domain(const char *in, size_t len, char *out, size_t cap)
{
	long r;

	/* RFC 7622 §3.2: a trailing dot goes first of all */
	if (len > 1 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return -1;
	if (in[0] == '[')
		return ipv6_literal(in, len, out, cap);
	if ((r = ascii_domain(in, len, out, cap)) != -2)
		return r;
	return precis_enforce(in, len, out, cap, domain_round);
}
