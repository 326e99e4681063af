/*
 * Unit tests for xmpp-core/core/jid/precis.c and idna.c: the RFC 7622 §3.5 JID
 * examples, the RFC 8265 §3.5 and §4.4 profile examples, case, width and
 * NFC cases, the RFC 5892 contextual rules, the Bidi Rule, domainparts
 * with A-labels (RFC 3492 §7.1 samples) and the limits; Python's NFC and
 * NFC(lower()) of random strings (precis_vectors.h, from the generator);
 * NFKC: cases, limits, Python's NFKC of random strings and hashes of
 * Python's NFC and NFKC of every code point (precis_nfkc_vectors.h).
 */
#include "t.h"
#include "idna.h"
#include "jid.h"
#include "precis.h"
#include "precis_vectors.h"
#include "precis_nfkc_vectors.h"

#include <stdlib.h>

static const char *
jid(const char *s)
{
	static char out[JID_STR_MAX + 1];
	struct jid j;

	if (jid_parse(s, &j) == -1)
		return "ERR";
	return jid_full(&j, out, sizeof(out));
}

static const char *
local(const char *s)
{
	static char out[JID_PART_MAX + 1];

	return jid_local_prep(s, out) == -1 ? "ERR" : out;
}

static const char *
res(const char *s)
{
	static char out[JID_PART_MAX + 1];

	return jid_resource_prep(s, out) == -1 ? "ERR" : out;
}

static const char *
dom(const char *s)
{
	static char out[JID_PART_MAX + 1];

	return jid_domain_prep(s, out) == -1 ? "ERR" : out;
}

/* prep(prep(x)) == prep(x) for a JID that parses */
static int
stable(const char *s)
{
	char once[JID_STR_MAX + 1];

	snprintf(once, sizeof(once), "%s", jid(s));
	return strcmp(once, "ERR") == 0 || strcmp(jid(once), once) == 0;
}

TEST(xmpp_precis_rfc7622_valid)
{
	/* RFC 7622 §3.5.1 */
	CHECK_STR(jid("juliet@example.com"), "juliet@example.com");
	CHECK_STR(jid("juliet@example.com/foo"), "juliet@example.com/foo");
	CHECK_STR(jid("juliet@example.com/foo bar"), "juliet@example.com/foo bar");
	CHECK_STR(jid("juliet@example.com/foo@bar"), "juliet@example.com/foo@bar");
	CHECK_STR(jid("foo\\20bar@example.com"), "foo\\20bar@example.com");
	CHECK_STR(jid("fussball@example.com"), "fussball@example.com");
	CHECK_STR(jid("fu\xc3\x9f" "ball@example.com"), "fu\xc3\x9f" "ball@example.com");
	CHECK_STR(jid("\xcf\x80@example.com"), "\xcf\x80@example.com");	/* π */
	/* Σ alone is not final: σ; ς stays ς */
	CHECK_STR(jid("\xce\xa3@example.com/foo"), "\xcf\x83@example.com/foo");
	CHECK_STR(jid("\xcf\x83@example.com/foo"), "\xcf\x83@example.com/foo");
	CHECK_STR(jid("\xcf\x82@example.com/foo"), "\xcf\x82@example.com/foo");
	CHECK_STR(jid("king@example.com/\xe2\x99\x9a"), "king@example.com/\xe2\x99\x9a");
	CHECK_STR(jid("example.com"), "example.com");
	CHECK_STR(jid("example.com/foobar"), "example.com/foobar");
	CHECK_STR(jid("a.example.com/b@example.net"), "a.example.com/b@example.net");
	/* listed as invalid in §3.5.2, but OpaqueString allows spaces
	 * anywhere (RFC 8265 §4.2); refusing it would lose messages */
	CHECK_STR(jid("juliet@example.com/ foo"), "juliet@example.com/ foo");
}

TEST(xmpp_precis_rfc7622_invalid)
{
	/* RFC 7622 §3.5.2 */
	CHECK_STR(jid("\"juliet\"@example.com"), "ERR");
	CHECK_STR(jid("foo bar@example.com"), "ERR");
	CHECK_STR(jid("@example.com/"), "ERR");
	CHECK_STR(jid("henry\xe2\x85\xa3@example.com"), "ERR");	/* U+2163 */
	CHECK_STR(jid("\xe2\x99\x9a@example.com"), "ERR");	/* U+265A */
	CHECK_STR(jid("juliet@"), "ERR");
	CHECK_STR(jid("/foobar"), "ERR");
	/* §3.3.1 exclusions, also when they come out of width mapping */
	CHECK_STR(local("a&b"), "ERR");
	CHECK_STR(local("a'b"), "ERR");
	CHECK_STR(local("a<b"), "ERR");
	CHECK_STR(local("a>b"), "ERR");
	CHECK_STR(local("a\xef\xbc\xa0" "b"), "ERR");	/* fullwidth @ */
	CHECK_STR(local("a\xef\xbc\x8f" "b"), "ERR");	/* fullwidth / */
	CHECK_STR(local("a\xef\xbc\x9a" "b"), "ERR");	/* fullwidth : */
}

TEST(xmpp_precis_rfc8265_username)
{
	/* RFC 8265 §3.5 (with "juliet@example.com" as a JID localpart
	 * refused only for its '@', RFC 7622 §3.3.1) */
	char out[64];

	CHECK_INT(precis_enforce_username("juliet@example.com", 18, out, sizeof(out)), 18);
	CHECK_STR(local("juliet@example.com"), "ERR");
	CHECK_STR(local("fussball"), "fussball");
	CHECK_STR(local("Fu\xc3\x9f" "ball"), "fu\xc3\x9f" "ball");
	CHECK_STR(local("\xcf\x80"), "\xcf\x80");
	CHECK_STR(local("\xce\xa3"), "\xcf\x83");
	CHECK_STR(local("\xcf\x82"), "\xcf\x82");
	CHECK_STR(local("foo bar"), "ERR");
	CHECK_STR(local(""), "ERR");
	CHECK_STR(local("henry\xe2\x85\xa3"), "ERR");
	CHECK_STR(local("\xe2\x99\x9a"), "ERR");
}

TEST(xmpp_precis_rfc8265_opaque)
{
	/* RFC 8265 §4.4 */
	CHECK_STR(res("correct horse battery staple"), "correct horse battery staple");
	CHECK_STR(res("Correct Horse Battery Staple"), "Correct Horse Battery Staple");
	CHECK_STR(res("\xcf\x80\xc3\x9f\xc3\xa5"), "\xcf\x80\xc3\x9f\xc3\xa5");
	CHECK_STR(res("Jack of \xe2\x99\xa6s"), "Jack of \xe2\x99\xa6s");
	/* U+1680 OGHAM SPACE MARK is mapped to U+0020 */
	CHECK_STR(res("foo\xe1\x9a\x80" "bar"), "foo bar");
	CHECK_STR(res("foo\xe3\x80\x80" "bar"), "foo bar");	/* U+3000 */
	CHECK_STR(res(""), "ERR");
	CHECK_STR(res("my cat is a \x09" "by"), "ERR");
	/* no case mapping, but NFC */
	CHECK_STR(res("Caf" "e\xcc\x81"), "Caf\xc3\xa9");
	/* disallowed in FreeformClass: controls, unassigned, noncharacters,
	 * default-ignorables */
	CHECK_STR(res("a\xc2\x85"), "ERR");		/* U+0085 NEL */
	CHECK_STR(res("a\xcd\xb8"), "ERR");		/* U+0378 unassigned */
	CHECK_STR(res("a\xef\xbf\xbe"), "ERR");		/* U+FFFE */
	CHECK_STR(res("a\xe2\x80\x8b" "b"), "ERR");	/* U+200B ZWSP */
	CHECK_STR(res("a\xc2\xad" "b"), "ERR");		/* U+00AD soft hyphen */
	/* symbols and compatibility characters are fine here */
	CHECK_STR(res("henry\xe2\x85\xa3"), "henry\xe2\x85\xa3");
	CHECK_STR(res("\xef\xbd\x8a"), "\xef\xbd\x8a");	/* fullwidth j kept */
}

TEST(xmpp_precis_case_width)
{
	/* ΚΑΛΗΜΕΡΑ and καλημερα are one account */
	CHECK_STR(local("\xce\x9a\xce\x91\xce\x9b\xce\x97\xce\x9c\xce\x95\xce\xa1\xce\x91"),
	    "\xce\xba\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xb5\xcf\x81\xce\xb1");
	/* ΟΔΥΣΣΕΥΣ: the last sigma is final (ς), the others are not */
	CHECK_STR(local("\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3"),
	    "\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xcf\x85\xcf\x82");
	/* fullwidth ｊｕｌｉｅｔ and Ｊｕｌｉｅｔ are juliet */
	CHECK_STR(local("\xef\xbd\x8a\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x85\xef\xbd\x94"),
	    "juliet");
	CHECK_STR(jid("\xef\xbc\xaa\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x85\xef\xbd\x94@LOCALHOST"),
	    "juliet@localhost");
	/* halfwidth katakana ｶ is カ */
	CHECK_STR(local("\xef\xbd\xb6"), "\xe3\x82\xab");
	/* Ǆ lower-cases to ǆ, which has a compatibility decomposition:
	 * HasCompat, so not in IdentifierClass (ǅ likewise) */
	CHECK_STR(local("\xc7\x84"), "ERR");
	CHECK_STR(local("\xc7\x85"), "ERR");
	/* İ is i + U+0307 (SpecialCasing), and stays so under NFC */
	CHECK_STR(local("\xc4\xb0"), "i\xcc\x87");
	/* Cyrillic, Armenian, Deseret (outside the BMP) */
	CHECK_STR(local("\xd0\x98\xd0\x92\xd0\x90\xd0\x9d"), "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd");
	CHECK_STR(local("\xd4\xb1"), "\xd5\xa1");
	CHECK_STR(local("\xf0\x90\x90\x80"), "\xf0\x90\x90\xa8");
	CHECK_STR(local("\xc3\x89L\xc3\x88VE"), "\xc3\xa9l\xc3\xa8ve");
}

TEST(xmpp_precis_nfc)
{
	/* e + U+0301 is é */
	CHECK_STR(local("e\xcc\x81"), "\xc3\xa9");
	CHECK_STR(jid("Jos" "e\xcc\x81@example.com"), "jos\xc3\xa9@example.com");
	/* canonical ordering: dot below (220) before acute (230) */
	CHECK_STR(local("e\xcc\x81\xcc\xa3"), "\xe1\xba\xb9\xcc\x81");
	/* Hangul: ᄀ + ᅡ + ᆨ is 각, and 가 + ᆨ too */
	CHECK_STR(local("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "\xea\xb0\x81");
	CHECK_STR(local("\xea\xb0\x80\xe1\x86\xa8"), "\xea\xb0\x81");
	/* but a conjoining jamo left alone is OldHangulJamo: disallowed */
	CHECK_STR(local("\xe1\x84\x80"), "ERR");
	/* a singleton: U+212B ANGSTROM SIGN is Å, lower-cased å */
	CHECK_STR(local("\xe2\x84\xab"), "\xc3\xa5");
	/* U+2126 OHM SIGN is Ω, ω */
	CHECK_STR(local("\xe2\x84\xa6"), "\xcf\x89");
}

TEST(xmpp_precis_disallowed)
{
	CHECK_STR(local("a b"), "ERR");
	CHECK_STR(local("a\xc2\xa0" "b"), "ERR");	/* U+00A0 */
	CHECK_STR(local("a\xe3\x80\x80" "b"), "ERR");	/* U+3000 */
	CHECK_STR(local("\xe2\x99\xa5"), "ERR");	/* ♥ symbol */
	CHECK_STR(local("a\xe2\x80\x94" "b"), "ERR");	/* em dash: punctuation */
	CHECK_STR(local("\xc2\xb2"), "ERR");		/* ² HasCompat */
	CHECK_STR(local("\xef\xac\x81"), "ERR");	/* ﬁ ligature */
	CHECK_STR(local("a\xe2\x80\x8d"), "ERR");	/* ZWJ without virama */
	CHECK_STR(local("a\xe2\x80\x8b" "b"), "ERR");	/* ZWSP */
	CHECK_STR(local("a\xcd\xb8"), "ERR");		/* unassigned */
	CHECK_STR(local("a\xee\x80\x80"), "ERR");	/* private use */
	CHECK_STR(local("\xf0\x9f\x98\x80"), "ERR");	/* emoji */
	CHECK_STR(local("a\xc2\x80"), "ERR");		/* C1 control */
	CHECK_STR(local("\xe1\x85\x9f"), "ERR");	/* HANGUL CHOSEONG FILLER */
	/* letters and digits of many scripts are fine */
	CHECK_STR(local("\xe4\xb8\xad\xe6\x96\x87"), "\xe4\xb8\xad\xe6\x96\x87");
	CHECK_STR(local("\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80"),
	    "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80");
}

TEST(xmpp_precis_context)
{
	/* A.3 MIDDLE DOT: col·la is Catalan, co·lla is not */
	CHECK_STR(local("col\xc2\xb7la"), "col\xc2\xb7la");
	CHECK_STR(local("co\xc2\xb7lla"), "ERR");
	/* A.1 ZWNJ after a virama (क्‌ष), or between joining letters */
	CHECK_STR(local("\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8c\xe0\xa4\xb7"),
	    "\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8c\xe0\xa4\xb7");
	CHECK_STR(local("\xd9\x85\xe2\x80\x8c\xd9\x85"), "\xd9\x85\xe2\x80\x8c\xd9\x85");
	CHECK_STR(local("a\xe2\x80\x8c" "b"), "ERR");
	/* A.4 KERAIA before a Greek letter */
	CHECK_STR(local("\xcd\xb5\xce\xb1"), "\xcd\xb5\xce\xb1");
	CHECK_STR(local("\xcd\xb5" "a"), "ERR");
	/* A.5 GERESH after Hebrew */
	CHECK_STR(local("\xd7\x90\xd7\xb3"), "\xd7\x90\xd7\xb3");
	CHECK_STR(local("a\xd7\xb3"), "ERR");
	/* A.7 KATAKANA MIDDLE DOT with kana */
	CHECK_STR(local("\xe3\x82\xab\xe3\x83\xbb\xe3\x82\xab"), "\xe3\x82\xab\xe3\x83\xbb\xe3\x82\xab");
	CHECK_STR(local("a\xe3\x83\xbb" "b"), "ERR");
	/* A.8/A.9 the two kinds of Arabic digits never mix */
	CHECK_STR(local("\xd8\xa8\xd9\xa1"), "\xd8\xa8\xd9\xa1");
	CHECK_STR(local("\xd8\xa8\xd9\xa1\xdb\xb1"), "ERR");
}

TEST(xmpp_precis_bidi)
{
	CHECK_STR(local("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"), "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d");
	CHECK_STR(local("\xd7\x90\xd7\x91" "1"), "\xd7\x90\xd7\x91" "1");
	/* rule 1: starts with a digit */
	CHECK_STR(local("1\xd7\x90"), "ERR");
	/* rule 2: L in an RTL label */
	CHECK_STR(local("\xd7\x90" "a"), "ERR");
	/* rule 5: R in an LTR label */
	CHECK_STR(local("a\xd7\x90"), "ERR");
	/* rule 3: an RTL label ends with R, AL, EN or AN (here ON '-') */
	CHECK_STR(local("\xd7\x90-"), "ERR");
	/* rule 4: EN and AN together */
	CHECK_STR(local("\xd8\xa8" "1\xd9\xa1"), "ERR");
	/* LTR only: no bidi rule at all */
	CHECK_STR(local("1abc"), "1abc");
}

TEST(xmpp_precis_domain)
{
	CHECK_STR(dom("EXAMPLE.com"), "example.com");
	CHECK_STR(dom("example.com."), "example.com");
	CHECK_STR(dom("\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90"
	    "\xef\xbd\x8c\xef\xbd\x85\xef\xbc\x8e\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d"),
	    "example.com");
	CHECK_STR(dom("example\xe3\x80\x82" "com"), "example.com");	/* 。 */
	CHECK_STR(dom("caf\xc3\xa9.example"), "caf\xc3\xa9.example");
	CHECK_STR(dom("CAF\xc3\x89.example"), "caf\xc3\xa9.example");
	CHECK_STR(dom("xn--caf-dma.example"), "caf\xc3\xa9.example");
	CHECK_STR(dom("XN--CAF-DMA.Example"), "caf\xc3\xa9.example");
	CHECK_STR(dom("xn--bcher-kva.example"), "b\xc3\xbc" "cher.example");
	CHECK_STR(dom("fa\xc3\x9f.de"), "fa\xc3\x9f.de");	/* no transitional map */
	CHECK_STR(dom("xn--fa-hia.de"), "fa\xc3\x9f.de");
	CHECK_STR(dom("\xd7\x90\xd7\x91.example"), "\xd7\x90\xd7\x91.example");
	CHECK_STR(dom("127.0.0.1"), "127.0.0.1");
	CHECK_STR(dom("[::1]"), "[::1]");
	CHECK_STR(dom("[2001:DB8::A]"), "[2001:db8::a]");
	CHECK_STR(dom("a-b.c0"), "a-b.c0");
	CHECK_STR(dom("1.example"), "1.example");
	/* refused */
	CHECK_STR(dom(""), "ERR");
	CHECK_STR(dom("."), "ERR");
	CHECK_STR(dom("a..b"), "ERR");
	CHECK_STR(dom(".a"), "ERR");
	CHECK_STR(dom("a_b.example"), "ERR");	/* not LDH */
	CHECK_STR(dom("-a.example"), "ERR");
	CHECK_STR(dom("a-.example"), "ERR");
	CHECK_STR(dom("ab--c.example"), "ERR");	/* R-LDH */
	CHECK_STR(dom("xn--abc-.example"), "ERR");	/* decodes to ASCII */
	CHECK_STR(dom("xn--caf-dmb.example"), "ERR");	/* not a U-label */
	CHECK_STR(dom("xn--CAF-.example"), "ERR");
	CHECK_STR(dom("xn--99999999999999999999.example"), "ERR");	/* overflow */
	CHECK_STR(dom("xn--.example"), "ERR");
	CHECK_STR(dom("999.1.1.1"), "ERR");
	CHECK_STR(dom("1.2"), "ERR");
	CHECK_STR(dom("[::G]"), "ERR");
	CHECK_STR(dom("[::1"), "ERR");
	CHECK_STR(dom("[v1.x]"), "ERR");
	CHECK_STR(dom("a:b"), "ERR");
	CHECK_STR(dom("\xe2\x99\x9a.example"), "ERR");	/* symbol */
	CHECK_STR(dom("\xcc\x81" "a.example"), "ERR");	/* leading mark */
	CHECK_STR(dom("\xd7\x90\xd7\x91.1example"), "ERR");	/* bidi domain */
	CHECK_STR(dom("\xd7\x90" "a.example"), "ERR");
	CHECK_STR(dom("a\xe2\x80\x8d" "b.example"), "ERR");	/* ZWJ */
	CHECK_STR(dom("\xc2\xb2.example"), "ERR");	/* unstable under NFKC */
	CHECK_STR(dom("exa mple.com"), "ERR");
}

TEST(xmpp_precis_punycode)
{
	/* RFC 3492 §7.1 (A) Arabic and (B) simplified Chinese */
	static const uint32_t ar[] = { 0x644, 0x64a, 0x647, 0x645, 0x627, 0x628,
	    0x62a, 0x643, 0x644, 0x645, 0x648, 0x634, 0x639, 0x631, 0x628,
	    0x64a, 0x61f };
	static const uint32_t zh[] = { 0x4ed6, 0x4eec, 0x4e3a, 0x4ec0, 0x4e48,
	    0x4e0d, 0x8bf4, 0x4e2d, 0x6587 };
	uint32_t back[32];
	char out[64];

	CHECK_INT(idna_punycode_encode(ar, 17, out, sizeof(out)), 22);
	CHECK_STR(out, "egbpdaj6bu4bxfgehfvwxn");
	CHECK_INT(idna_punycode_decode(out, 22, back, 32), 17);
	CHECK_MEM(back, ar, sizeof(ar));
	CHECK_INT(idna_punycode_encode(zh, 9, out, sizeof(out)), 24);
	CHECK_STR(out, "ihqwcrb4cv8a8dqg056pqjye");
	CHECK_INT(idna_punycode_decode(out, 24, back, 32), 9);
	CHECK_MEM(back, zh, sizeof(zh));
	CHECK_INT(idna_punycode_encode(ar, 17, out, 22), -1);	/* too small */
	CHECK_INT(idna_punycode_decode("egbpdaj6bu4bxfgehfvwxn", 22, back, 16), -1);
}

TEST(xmpp_precis_limits)
{
	char big[4 * 1024 + 16], out[JID_PART_MAX + 1];
	size_t i;

	memset(big, 'a', JID_PART_MAX);
	big[JID_PART_MAX] = '\0';
	CHECK_STR(local(big), big);
	CHECK_STR(res(big), big);
	big[JID_PART_MAX] = 'a';
	big[JID_PART_MAX + 1] = '\0';
	CHECK_STR(local(big), "ERR");
	CHECK_STR(res(big), "ERR");
	/* 1023 fullwidth letters (3069 bytes) prepare to 1023 bytes */
	for (i = 0; i < JID_PART_MAX; i++)
		memcpy(big + 3 * i, "\xef\xbd\x81", 3);
	big[3 * i] = '\0';
	CHECK_INT(jid_local_prep(big, out), 0);
	CHECK_INT(strlen(out), JID_PART_MAX);
	memcpy(big + 3 * i, "\xef\xbd\x81", 4);
	CHECK_STR(local(big), "ERR");
	/* 1024 combining marks after a base: far more than fits */
	big[0] = 'a';
	for (i = 0; i < 1024; i++)
		memcpy(big + 1 + 2 * i, "\xcc\x81", 2);
	big[1 + 2 * i] = '\0';
	CHECK_STR(res(big), "ERR");
	/* labels: 63 octets, and the A-label of a U-label likewise */
	memset(big, 'a', 63);
	strcpy(big + 63, ".example");
	CHECK_STR(dom(big), big);
	memset(big, 'a', 64);
	strcpy(big + 64, ".example");
	CHECK_STR(dom(big), "ERR");
	for (i = 0; i < 58; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	strcpy(big + 2 * i, ".example");
	CHECK_STR(dom(big), "ERR");	/* xn-- plus 60 characters */
	for (i = 0; i < 57; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	strcpy(big + 2 * i, ".example");
	CHECK_STR(dom(big), big);
	/* the whole domainpart: at most 1023 octets */
	for (i = 0; i < 16; i++)
		memcpy(big + 64 * i, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.", 64);
	big[1023] = '\0';
	CHECK_STR(dom(big), big);
	big[1023] = 'a';
	big[1024] = '\0';
	CHECK_STR(dom(big), "ERR");
}

TEST(xmpp_precis_python_vectors)
{
	size_t n = sizeof(precis_vectors) / sizeof(precis_vectors[0]);
	size_t accepted = 0;
	static uint32_t cp[PRECIS_CAP];
	char out[4096], again[4096];

	for (size_t i = 0; i < n; i++) {
		const char *s = precis_vectors[i][0];
		long k = precis_decode(s, strlen(s), cp, PRECIS_CAP);

		CHECK(k > 0);
		k = precis_nfc(cp, (size_t)k, PRECIS_CAP);
		CHECK(k > 0);
		CHECK(precis_encode(cp, (size_t)k, out, sizeof(out)) > 0);
		CHECK_STR(out, precis_vectors[i][1]);
		if (precis_enforce_username(s, strlen(s), out, sizeof(out)) < 0)
			continue;
		accepted++;
		CHECK_STR(out, precis_vectors[i][2]);
		CHECK(precis_enforce_username(out, strlen(out), again, sizeof(again)) >= 0);
		CHECK_STR(again, out);
	}
	CHECK(accepted > n / 10);
}

TEST(xmpp_precis_idempotent)
{
	static const char *const s[] = {
		"\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\xa5\xce\xa3@XN--CAF-DMA.example/R\xc3\xa9s",
		"\xc4\xb0stanbul@example.com/\xe1\x9a\x80x",
		"e\xcc\xa3\xcc\x81@\xef\xbd\x85.com/e\xcc\x81\xcc\xa3",
		"\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8@\xea\xb0\x81.kr",
		"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d@\xd7\x90\xd7\x91.example",
		"a\xcd\x85\xce\xa3@b",	/* ypogegrammeni is cased and case-ignorable */
	};

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		CHECK(strcmp(jid(s[i]), "ERR") != 0);
		CHECK(stable(s[i]));
	}
	for (size_t i = 0; i < sizeof(precis_vectors) / sizeof(precis_vectors[0]); i++) {
		char buf[1200];

		snprintf(buf, sizeof(buf), "%s@example.com/%s", precis_vectors[i][0],
		    precis_vectors[i][0]);
		CHECK(stable(buf));
	}
}

/* NFKC of UTF-8 s, as UTF-8 ("ERR" when refused) */
static const char *
nfkc(const char *s)
{
	static uint32_t cp[PRECIS_CAP];
	static char out[4 * PRECIS_CAP + 1];
	long n = precis_decode(s, strlen(s), cp, PRECIS_CAP);

	if (n < 0 || (n = precis_nfkc(cp, (size_t)n, PRECIS_CAP)) < 0 ||
	    precis_encode(cp, (size_t)n, out, sizeof(out)) < 0)
		return "ERR";
	return out;
}

TEST(xmpp_precis_nfkc)
{
	CHECK_STR(nfkc(""), "");
	CHECK_STR(nfkc("abc"), "abc");
	CHECK_STR(nfkc("\xef\xac\x81"), "fi");			/* ﬁ */
	CHECK_STR(nfkc("\xe2\x85\xa3"), "IV");			/* Ⅳ */
	CHECK_STR(nfkc("\xc2\xb2"), "2");			/* ² */
	CHECK_STR(nfkc("\xef\xbc\xa1\xef\xbd\x82"), "Ab");	/* fullwidth */
	CHECK_STR(nfkc("\xef\xbd\xb6"), "\xe3\x82\xab");	/* halfwidth ｶ */
	CHECK_STR(nfkc("\xc2\xa0"), " ");			/* NBSP */
	CHECK_STR(nfkc("\xc2\xa8"), " \xcc\x88");		/* ¨: space + U+0308 */
	CHECK_STR(nfkc("\xf0\x9d\x90\x80"), "A");		/* U+1D400 math bold A */
	/* canonical parts too: ẛ is ſ + U+0307, ſ is s, so ṡ */
	CHECK_STR(nfkc("\xe1\xba\x9b"), "\xe1\xb9\xa1");
	/* ϔ is ϒ + U+0308, ϒ is Υ: Ϋ (U+03AB) */
	CHECK_STR(nfkc("\xcf\x94"), "\xce\xab");
	/* the decomposed tail composes with what follows: ﬁ + U+0301 */
	CHECK_STR(nfkc("\xef\xac\x81\xcc\x81"), "f\xc3\xad");
	/* and halfwidth ｶ + halfwidth voiced mark: ガ */
	CHECK_STR(nfkc("\xef\xbd\xb6\xef\xbe\x9e"), "\xe3\x82\xac");
	/* Hangul: ㈎ is ( + 가 + ), the jamo composed again */
	CHECK_STR(nfkc("\xe3\x88\x8e"), "(\xea\xb0\x80)");
	CHECK_STR(nfkc("\xea\xb0\x80\xe1\x86\xa8"), "\xea\xb0\x81");
	/* outside the BMP on both sides: U+107BA is U+1DF1E */
	CHECK_STR(nfkc("\xf0\x90\x9e\xba"), "\xf0\x9d\xbc\x9e");
	/* U+FDFA: the longest expansion, 18 code points */
	CHECK_STR(nfkc("\xef\xb7\xba"),
	    "\xd8\xb5\xd9\x84\xd9\x89 \xd8\xa7\xd9\x84\xd9\x84\xd9\x87 "
	    "\xd8\xb9\xd9\x84\xd9\x8a\xd9\x87 \xd9\x88\xd8\xb3\xd9\x84\xd9\x85");
	/* NFC is unchanged: no compatibility decompositions there */
	CHECK_STR(res("\xef\xac\x81"), "\xef\xac\x81");
	CHECK_STR(local("\xe2\x85\xa3"), "ERR");
}

TEST(xmpp_precis_nfkc_quick_check)
{
	uint32_t a[] = { 'a', 0xe9, 0x3c3 };
	uint32_t b[3] = { 'a', 0xfb01 };	/* room for "afi" */
	uint32_t c[] = { 'e', 0x301 };

	CHECK(precis_is_nfkc(a, 3));
	CHECK(!precis_is_nfkc(b, 2));
	CHECK(precis_is_nfc(b, 2));
	CHECK(!precis_is_nfkc(c, 2));
	CHECK_INT(precis_nfkc(b, 2, 2), -1);	/* "afi" does not fit in 2 */
	CHECK_INT(precis_nfkc(b, 2, 3), 3);
	CHECK_INT(b[1], 'f');
}

TEST(xmpp_precis_nfkc_limits)
{
	static uint32_t cp[PRECIS_CAP];
	size_t k = PRECIS_CAP / 18, i;

	/* 227 U+FDFA are 4086 code points: they fit; 228 do not */
	for (i = 0; i < k; i++)
		cp[i] = 0xfdfa;
	CHECK_INT(precis_nfkc(cp, k, PRECIS_CAP), (long)(18 * k));
	CHECK_INT(cp[18 * k - 1], 0x645);
	for (i = 0; i < k + 1; i++)
		cp[i] = 0xfdfa;
	CHECK_INT(precis_nfkc(cp, k + 1, PRECIS_CAP), -1);
	/* a smaller cap is honoured too */
	cp[0] = 0xfdfa;
	CHECK_INT(precis_nfkc(cp, 1, 17), -1);
	CHECK_INT(precis_nfkc(cp, 1, 18), 18);
	/* a whole buffer of them: refused, nothing written past the end */
	for (i = 0; i < PRECIS_CAP; i++)
		cp[i] = 0xfdfa;
	CHECK_INT(precis_nfkc(cp, PRECIS_CAP, PRECIS_CAP), -1);
}

TEST(xmpp_precis_nfkc_python_vectors)
{
	size_t n = sizeof(precis_nfkc_vectors) / sizeof(precis_nfkc_vectors[0]);

	for (size_t i = 0; i < n; i++) {
		CHECK_STR(nfkc(precis_nfkc_vectors[i][0]), precis_nfkc_vectors[i][1]);
		/* idempotent */
		CHECK_STR(nfkc(precis_nfkc_vectors[i][1]), precis_nfkc_vectors[i][1]);
	}
}

/* FNV-1a over code points, then a separator (unicode_tables.py fnv()) */
static uint64_t
fnv(uint64_t h, const uint32_t *cp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ cp[i]) * 0x100000001b3ULL;
	return (h ^ 0x110000) * 0x100000001b3ULL;
}

TEST(xmpp_precis_nfkc_every_code_point)
{
	uint64_t h[4] = { 0xcbf29ce484222325ULL, 0xcbf29ce484222325ULL,
	    0xcbf29ce484222325ULL, 0xcbf29ce484222325ULL };

	for (uint32_t c = 0; c < 0x110000; c++) {
		uint32_t cp[PRECIS_CAP];
		long n;

		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		for (int k = 0; k < 4; k++) {
			cp[0] = c;
			cp[1] = 0x301;
			n = k & 1 ? precis_nfkc(cp, k < 2 ? 1 : 2, PRECIS_CAP) :
			    precis_nfc(cp, k < 2 ? 1 : 2, PRECIS_CAP);
			if (n < 0)
				n = 0;
			h[k] = fnv(h[k], cp, (size_t)n);
		}
	}
	CHECK(h[0] == PRECIS_HASH_NFC);
	CHECK(h[1] == PRECIS_HASH_NFKC);
	CHECK(h[2] == PRECIS_HASH_NFC_ACUTE);
	CHECK(h[3] == PRECIS_HASH_NFKC_ACUTE);
}
