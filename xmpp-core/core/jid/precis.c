/*
 * precis — PRECIS string classes and the RFC 8265 profiles of RFC 7622.
 * See precis.h.  All Unicode data is in unicode_tables.c (generated);
 * this file owns the algorithms: UTF-8, the mappings, NFC and NFKC after
 * UAX #15 (canonical or compatibility decomposition, canonical ordering,
 * canonical composition, shared by both forms, with Hangul done
 * arithmetically and a quick check to skip the work for strings that are
 * already normalised), the derived-property check with RFC 5892
 * Appendix A contexts, and the Bidi Rule.
 *
 * Buffers are on the stack (PRECIS_CAP code points each), nothing is
 * allocated, and every write is checked against its capacity.
 */
#include "precis.h"

#include <string.h>

#include "unicode_tables.h"

static uint64_t
prop(uint32_t cp)
{
	unsigned mid, leaf;

	if (cp >= 0x110000)
		cp = 0x10ffff;	/* a noncharacter: disallowed everywhere */
	mid = utab_top[cp >> 12];
	leaf = utab_mid[mid * 64 + (cp >> 6 & 63)];
	return utab_recs[utab_leaf[leaf * 64 + (cp & 63)]];
}

long
precis_decode(const char *s, size_t len, uint32_t *cp, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n = 0;

	while (i < len) {
		uint32_t c;
		int k;

		if (n >= cap)
			return -1;
		if (p[i] < 0x80) {
			cp[n++] = p[i++];
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			c = p[i] & 0x1f; k = 1;
		} else if ((p[i] & 0xf0) == 0xe0) {
			c = p[i] & 0x0f; k = 2;
		} else if ((p[i] & 0xf8) == 0xf0) {
			c = p[i] & 0x07; k = 3;
		} else {
			return -1;
		}
		if (i + (size_t)k >= len)
			return -1;
		for (int j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (p[i + j] & 0x3f);
		}
		/* RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF */
		if ((k == 1 && c < 0x80) || (k == 2 && c < 0x800) ||
		    (k == 3 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return -1;
		cp[n++] = c;
		i += (size_t)k + 1;
	}
	return (long)n;
}

long
precis_encode(const uint32_t *cp, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t c = cp[i];
		size_t k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

		if (o + k >= cap)
			return -1;
		switch (k) {
		case 1:
			out[o++] = (char)c;
			break;
		case 2:
			out[o++] = (char)(0xc0 | c >> 6);
			out[o++] = (char)(0x80 | (c & 0x3f));
			break;
		case 3:
			out[o++] = (char)(0xe0 | c >> 12);
			out[o++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
			break;
		default:
			out[o++] = (char)(0xf0 | c >> 18);
			out[o++] = (char)(0x80 | (c >> 12 & 0x3f));
			out[o++] = (char)(0x80 | (c >> 6 & 0x3f));
			out[o++] = (char)(0x80 | (c & 0x3f));
		}
	}
	if (o >= cap)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* The run of tab[] that covers cp: cp + delta, or cp when none does. */
static uint32_t
run_map(const struct utab_run *tab, size_t len, uint32_t cp)
{
	size_t lo = 0, hi = len;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct utab_run *r = &tab[mid];
		uint32_t last = r->first + (uint32_t)(r->n - 1) * r->step;

		if (cp < r->first) {
			hi = mid;
		} else if (cp > last) {
			lo = mid + 1;
		} else {
			if ((cp - r->first) % r->step != 0)
				return cp;
			return (uint32_t)((int32_t)cp + r->delta);
		}
	}
	return cp;
}

void
precis_map_width(uint32_t *cp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cp[i] >= 0x80 && UTAB_WIDTH(prop(cp[i])))
			cp[i] = run_map(utab_width, UTAB_NWIDTH, cp[i]);
}

/*
 * Final_Sigma (Unicode §3.13, table 3-17): U+03A3 after a cased letter
 * (case-ignorable code points between skipped) and not before one.
 */
static bool
final_sigma(const uint32_t *cp, size_t n, size_t i)
{
	size_t j;
	uint64_t r = 0;

	for (j = i; j > 0; j--) {
		r = prop(cp[j - 1]);
		if (!UTAB_CI(r))
			break;
	}
	if (j == 0 || !UTAB_CASED(r))
		return false;
	for (j = i + 1; j < n; j++) {
		r = prop(cp[j]);
		if (!UTAB_CI(r))
			return !UTAB_CASED(r);
	}
	return true;
}

long
precis_map_lower(const uint32_t *in, size_t n, uint32_t *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t c = in[i];

		if (o + 2 > cap)
			return -1;
		if (c < 0x80) {
			out[o++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
		} else if (!UTAB_LOWER(prop(c))) {
			out[o++] = c;
		} else if (c == 0x130) {
			/* SpecialCasing: LATIN CAPITAL LETTER I WITH DOT ABOVE */
			out[o++] = 'i';
			out[o++] = 0x307;
		} else if (c == 0x3a3) {
			out[o++] = final_sigma(in, n, i) ? 0x3c2 : 0x3c3;
		} else {
			out[o++] = run_map(utab_lower, UTAB_NLOWER, c);
		}
	}
	return (long)o;
}

/* Hangul syllables (Unicode §3.12) */
#define H_SBASE 0xac00
#define H_LBASE 0x1100
#define H_VBASE 0x1161
#define H_TBASE 0x11a7
#define H_LCOUNT 19
#define H_VCOUNT 21
#define H_TCOUNT 28
#define H_NCOUNT (H_VCOUNT * H_TCOUNT)
#define H_SCOUNT (H_LCOUNT * H_NCOUNT)

static const uint64_t *
decomp_find(uint32_t c)
{
	size_t lo = 0, hi = UTAB_NDECOMP;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t k = (uint32_t)(utab_decomp[mid] >> 42);

		if (c < k)
			hi = mid;
		else if (c > k)
			lo = mid + 1;
		else
			return &utab_decomp[mid];
	}
	return NULL;
}

/* Appends the full canonical decomposition of c: new count or -1. */
static long
nfd_push(uint32_t c, uint32_t *out, size_t o, size_t cap, int depth)
{
	const uint64_t *e;

	if (c - H_SBASE < H_SCOUNT) {
		uint32_t s = c - H_SBASE, t = s % H_TCOUNT;

		if (o + 3 > cap)
			return -1;
		out[o++] = H_LBASE + s / H_NCOUNT;
		out[o++] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
		if (t)
			out[o++] = H_TBASE + t;
		return (long)o;
	}
	if (c >= 0xc0 && depth < 8 && UTAB_DECOMP(prop(c)) &&
	    (e = decomp_find(c)) != NULL) {
		uint32_t a = (uint32_t)(*e >> 21 & 0x1fffff);
		uint32_t b = (uint32_t)(*e & 0x1fffff);
		long r = nfd_push(a, out, o, cap, depth + 1);

		if (r >= 0 && b)
			r = nfd_push(b, out, (size_t)r, cap, depth + 1);
		return r;
	}
	if (o >= cap)
		return -1;
	out[o++] = c;
	return (long)o;
}

/* The compatibility decomposition entry of c (see utab_kdecomp), or -1. */
static long
kdecomp_find(uint32_t c)
{
	size_t lo = 0, hi = UTAB_NKDECOMP;

	if (c < 0xa0)
		return -1;	/* nothing below NO-BREAK SPACE (generator) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t k = utab_kdecomp[mid] >> 15;

		if (c < k)
			hi = mid;
		else if (c > k)
			lo = mid + 1;
		else
			return (long)mid;
	}
	return -1;
}

/*
 * Appends the full compatibility decomposition of c (precomputed by the
 * generator, UTF-16 in the pool), or its canonical one when it has none:
 * new count or -1.
 */
static long
nfkd_push(uint32_t c, uint32_t *out, size_t o, size_t cap)
{
	long e = kdecomp_find(c);
	size_t k, end;

	if (e < 0)
		return nfd_push(c, out, o, cap, 0);
	k = utab_kdecomp[e] & 0x7fff;
	end = utab_kdecomp[e + 1] & 0x7fff;
	while (k < end) {
		uint32_t u = utab_kpool[k++];

		if (u - 0xd800 < 0x400)	/* a surrogate pair */
			u = 0x10000 + ((u - 0xd800) << 10 | (utab_kpool[k++] - 0xdc00u));
		if (o >= cap)
			return -1;
		out[o++] = u;
	}
	return (long)o;
}

static unsigned
ccc(uint32_t c)
{
	return c < 0x300 ? 0 : UTAB_CCC(prop(c));
}

/* Canonical ordering: a stable sort of each run of non-starters. */
static void
nfd_reorder(uint32_t *cp, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		unsigned cc = ccc(cp[i]);
		uint32_t c = cp[i];
		size_t j = i;

		if (cc == 0)
			continue;
		while (j > 0 && ccc(cp[j - 1]) > cc) {
			cp[j] = cp[j - 1];
			j--;
		}
		cp[j] = c;
	}
}

/* The primary composite of a + b, or 0. */
static uint32_t
compose_pair(uint32_t a, uint32_t b)
{
	size_t lo = 0, hi = UTAB_NCOMP;

	if (a - H_LBASE < H_LCOUNT && b - H_VBASE < H_VCOUNT)
		return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) *
		    H_TCOUNT;
	if (a - H_SBASE < H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 &&
	    b - H_TBASE - 1 < H_TCOUNT - 1)
		return a + (b - H_TBASE);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t e = utab_decomp[utab_comp[mid]];
		uint32_t ea = (uint32_t)(e >> 21 & 0x1fffff);
		uint32_t eb = (uint32_t)(e & 0x1fffff);

		if (a < ea || (a == ea && b < eb))
			hi = mid;
		else if (a > ea || b > eb)
			lo = mid + 1;
		else
			return (uint32_t)(e >> 42);
	}
	return 0;
}

/* Canonical composition (UAX #15 §X1.3.5 / D117), in place. */
static size_t
nfc_compose(uint32_t *cp, size_t n)
{
	size_t starter = 0, o = 1;
	unsigned last = 0;
	bool have;

	if (n == 0)
		return 0;
	have = ccc(cp[0]) == 0;	/* before the first starter nothing composes */
	for (size_t i = 1; i < n; i++) {
		uint32_t c = cp[i], comp = 0;
		uint64_t r = prop(c);
		unsigned cc = c < 0x300 ? 0 : UTAB_CCC(r);

		/* not blocked: nothing between, or all between sort lower */
		if (have && (last == 0 || last < cc) && UTAB_QC(r) == UTAB_QC_MAYBE)
			comp = compose_pair(cp[starter], c);
		if (comp) {
			cp[starter] = comp;
			continue;
		}
		if (cc == 0) {
			starter = o;
			have = true;
		}
		last = cc;
		cp[o++] = c;
	}
	return o;
}

bool
precis_is_nfc(const uint32_t *cp, size_t n)
{
	unsigned last = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t r;
		unsigned cc;

		if (cp[i] < 0x300) {
			last = 0;
			continue;
		}
		r = prop(cp[i]);
		cc = UTAB_CCC(r);
		if ((cc && last > cc) || UTAB_QC(r) != UTAB_QC_YES)
			return false;
		last = cc;
	}
	return true;
}

/*
 * NFC or NFKC (UAX #15 §1.2): decompose (canonically, or with the
 * compatibility decompositions too), order, compose canonically.  The
 * decomposed form must fit in cap (and PRECIS_CAP); the result is never
 * longer.
 */
static long
normalize(uint32_t *cp, size_t n, size_t cap, bool compat)
{
	uint32_t tmp[PRECIS_CAP];
	long o = 0;

	if (cap > PRECIS_CAP)
		cap = PRECIS_CAP;
	for (size_t i = 0; i < n; i++) {
		o = compat ? nfkd_push(cp[i], tmp, (size_t)o, cap) :
		    nfd_push(cp[i], tmp, (size_t)o, cap, 0);
		if (o < 0)
			return -1;
	}
	nfd_reorder(tmp, (size_t)o);
	o = (long)nfc_compose(tmp, (size_t)o);
	memcpy(cp, tmp, (size_t)o * sizeof(*cp));
	return o;
}

long
precis_nfc(uint32_t *cp, size_t n, size_t cap)
{
	if (precis_is_nfc(cp, n))
		return (long)n;
	return normalize(cp, n, cap, false);
}

/*
 * NFC with no compatibility decomposition in sight is NFKC: NFKD is then
 * NFD, and composing it gives the string back.
 */
bool
precis_is_nfkc(const uint32_t *cp, size_t n)
{
	if (!precis_is_nfc(cp, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if (kdecomp_find(cp[i]) >= 0)
			return false;
	return true;
}

long
precis_nfkc(uint32_t *cp, size_t n, size_t cap)
{
	if (precis_is_nfkc(cp, n))
		return (long)n;
	return normalize(cp, n, cap, true);
}

bool
precis_is_mark(uint32_t cp)
{
	return cp >= 0x300 && UTAB_MARK(prop(cp));
}

bool
precis_is_space(uint32_t cp)
{
	return cp == ' ' || (cp >= 0x80 && UTAB_ZS(prop(cp)));
}

static unsigned
script(uint32_t cp)
{
	return UTAB_SCRIPT(prop(cp));
}

/* Joining_Type {L,D} T* before i, and T* {R,D} after it (ZWNJ). */
static bool
zwnj_joining(const uint32_t *cp, size_t n, size_t i)
{
	size_t j;
	unsigned t = UTAB_JT_U;

	for (j = i; j > 0; j--)
		if ((t = UTAB_JT(prop(cp[j - 1]))) != UTAB_JT_T)
			break;
	if (j == 0 || (t != UTAB_JT_L && t != UTAB_JT_D))
		return false;
	for (j = i + 1; j < n; j++)
		if ((t = UTAB_JT(prop(cp[j]))) != UTAB_JT_T)
			break;
	return j < n && (t == UTAB_JT_R || t == UTAB_JT_D);
}

/* RFC 5892 Appendix A: may cp[i] (CONTEXTJ or CONTEXTO) stand here? */
static bool
context_ok(const uint32_t *cp, size_t n, size_t i)
{
	uint32_t c = cp[i];
	bool before = i > 0, after = i + 1 < n;

	switch (c) {
	case 0x200c:	/* A.1 ZERO WIDTH NON-JOINER */
		if (before && ccc(cp[i - 1]) == 9)	/* Virama */
			return true;
		return zwnj_joining(cp, n, i);
	case 0x200d:	/* A.2 ZERO WIDTH JOINER */
		return before && ccc(cp[i - 1]) == 9;
	case 0x00b7:	/* A.3 MIDDLE DOT: between two 'l' */
		return before && after && cp[i - 1] == 'l' && cp[i + 1] == 'l';
	case 0x0375:	/* A.4 GREEK LOWER NUMERAL SIGN: Greek follows */
		return after && script(cp[i + 1]) == UTAB_SC_GREEK;
	case 0x05f3:	/* A.5, A.6 HEBREW GERESH, GERSHAYIM: Hebrew before */
	case 0x05f4:
		return before && script(cp[i - 1]) == UTAB_SC_HEBREW;
	case 0x30fb:	/* A.7 KATAKANA MIDDLE DOT: Hiragana, Katakana, Han */
		for (size_t j = 0; j < n; j++)
			if (script(cp[j]) == UTAB_SC_HKH)
				return true;
		return false;
	}
	if (c >= 0x660 && c <= 0x669) {	/* A.8: no Extended Arabic-Indic */
		for (size_t j = 0; j < n; j++)
			if (cp[j] >= 0x6f0 && cp[j] <= 0x6f9)
				return false;
		return true;
	}
	if (c >= 0x6f0 && c <= 0x6f9) {	/* A.9: no Arabic-Indic digits */
		for (size_t j = 0; j < n; j++)
			if (cp[j] >= 0x660 && cp[j] <= 0x669)
				return false;
		return true;
	}
	return false;
}

int
precis_check(const uint32_t *cp, size_t n, enum precis_class cls)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = prop(cp[i]);
		unsigned v = cls == PRECIS_IDENTIFIER ? UTAB_ID(r) :
		    cls == PRECIS_FREEFORM ? UTAB_FREE(r) : UTAB_IDNA(r);

		if (v == UTAB_PVALID)
			continue;
		if ((v == UTAB_CONTEXTJ || v == UTAB_CONTEXTO) &&
		    context_ok(cp, n, i))
			continue;
		return -1;
	}
	return 0;
}

static unsigned
bidi(uint32_t cp)
{
	return UTAB_BIDI(prop(cp));
}

bool
precis_has_rtl(const uint32_t *cp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned b;

		if (cp[i] < 0x590)
			continue;	/* nothing below Hebrew is R, AL or AN */
		b = bidi(cp[i]);
		if (b == UTAB_BIDI_R || b == UTAB_BIDI_AL || b == UTAB_BIDI_AN)
			return true;
	}
	return false;
}

#define BIT(b) (1u << UTAB_BIDI_##b)

int
precis_bidi_rule(const uint32_t *cp, size_t n)
{
	const unsigned rtl_ok = BIT(R) | BIT(AL) | BIT(AN) | BIT(EN) |
	    BIT(ES) | BIT(CS) | BIT(ET) | BIT(ON) | BIT(BN) | BIT(NSM);
	const unsigned ltr_ok = BIT(L) | BIT(EN) | BIT(ES) | BIT(CS) |
	    BIT(ET) | BIT(ON) | BIT(BN) | BIT(NSM);
	unsigned first, seen = 0, end;
	size_t last;
	bool rtl;

	if (n == 0)
		return -1;
	/* 1: the first character is L, R or AL */
	first = bidi(cp[0]);
	if (first != UTAB_BIDI_L && first != UTAB_BIDI_R && first != UTAB_BIDI_AL)
		return -1;
	rtl = first != UTAB_BIDI_L;
	for (size_t i = 0; i < n; i++)
		seen |= 1u << bidi(cp[i]);
	/* 2, 5: only these classes */
	if (seen & ~(rtl ? rtl_ok : ltr_ok))
		return -1;
	/* 3, 6: the last character that is not NSM */
	for (last = n; last > 0 && bidi(cp[last - 1]) == UTAB_BIDI_NSM; last--)
		;
	if (last == 0)
		return -1;
	end = 1u << bidi(cp[last - 1]);
	if (rtl) {
		if (!(end & (BIT(R) | BIT(AL) | BIT(EN) | BIT(AN))))
			return -1;
		/* 4: not both EN and AN */
		if ((seen & BIT(EN)) && (seen & BIT(AN)))
			return -1;
	} else if (!(end & (BIT(L) | BIT(EN)))) {
		return -1;
	}
	return 0;
}

/*
 * RFC 8265 §3.3.3 (UsernameCaseMapped enforcement): width mapping, case
 * mapping, NFC, the Bidi Rule for strings with right-to-left code
 * points, then IdentifierClass; empty is refused.
 */
static long
username_round(const uint32_t *in, size_t n, uint32_t *out)
{
	uint32_t w[PRECIS_CAP];
	long m;

	memcpy(w, in, n * sizeof(*in));
	precis_map_width(w, n);
	if ((m = precis_map_lower(w, n, out, PRECIS_CAP)) < 0 ||
	    (m = precis_nfc(out, (size_t)m, PRECIS_CAP)) <= 0)
		return -1;
	if (precis_has_rtl(out, (size_t)m) && precis_bidi_rule(out, (size_t)m) == -1)
		return -1;
	if (precis_check(out, (size_t)m, PRECIS_IDENTIFIER) == -1)
		return -1;
	return m;
}

/*
 * RFC 8265 §4.2.3 (OpaqueString enforcement): non-ASCII spaces to
 * U+0020, NFC, then FreeformClass; empty is refused.
 */
static long
opaque_round(const uint32_t *in, size_t n, uint32_t *out)
{
	long m;

	for (size_t i = 0; i < n; i++)
		out[i] = precis_is_space(in[i]) ? ' ' : in[i];
	if ((m = precis_nfc(out, n, PRECIS_CAP)) <= 0)
		return -1;
	if (precis_check(out, (size_t)m, PRECIS_FREEFORM) == -1)
		return -1;
	return m;
}

/*
 * RFC 8264 §7: apply the rules until the result is stable, and refuse a
 * string that is not stable after three more applications.  Accepted
 * results are thereby fixed points: enforcing them again changes nothing.
 */
long
precis_enforce(const char *in, size_t len, char *out, size_t cap,
    long (*round)(const uint32_t *, size_t, uint32_t *))
{
	uint32_t a[PRECIS_CAP], b[PRECIS_CAP];
	uint32_t *cur = a, *next = b, *t;
	long n, m;

	if ((n = precis_decode(in, len, a, PRECIS_CAP)) <= 0)
		return -1;
	if ((m = round(cur, (size_t)n, next)) < 0)
		return -1;
	for (int k = 0; k < 3; k++) {
		t = cur; cur = next; next = t;
		n = m;
		if ((m = round(cur, (size_t)n, next)) < 0)
			return -1;
		if (m == n && memcmp(cur, next, (size_t)n * sizeof(*cur)) == 0)
			return precis_encode(cur, (size_t)n, out, cap);
	}
	return -1;
}

static bool
ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

long
precis_enforce_username(const char *in, size_t len, char *out, size_t cap)
{
	if (!ascii(in, len))
		return precis_enforce(in, len, out, cap, username_round);
	/* ASCII: lower-case; ASCII7 (U+0021..U+007E) is all PVALID */
	if (len == 0 || len >= cap)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c < 0x21 || c > 0x7e)
			return -1;
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	out[len] = '\0';
	return (long)len;
}

long
precis_enforce_opaque(const char *in, size_t len, char *out, size_t cap)
{
	if (!ascii(in, len))
		return precis_enforce(in, len, out, cap, opaque_round);
	/* ASCII: U+0020 is a space (FREE_PVAL), controls are not allowed */
	if (len == 0 || len >= cap)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (in[i] < 0x20 || in[i] == 0x7f)
			return -1;
		out[i] = in[i];
	}
	out[len] = '\0';
	return (long)len;
}
