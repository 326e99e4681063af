#!/usr/bin/python3
"""Writes xmpp-core/core/jid/unicode/unicode_tables.[ch] and the test
vectors tests/unit/xmpp-core/core/precis_vectors.h,
tests/unit/xmpp-core/core/precis_nfkc_vectors.h and
tests/unit/xmpp-core/muc/mucnick_vectors.h.

Run by hand (the build never needs Python); commit what it writes:

    apt-get install unicode-data          # property files Python lacks
    /usr/bin/python3 xmpp-core/core/jid/unicode/unicode_tables.py

The Unicode version is Python's `unicodedata` (3.11: Unicode 14.0.0):
general category, bidi class, canonical combining class, decompositions,
case mapping (str.lower(): full toLowerCase), NFKC and case folding
(for HasCompat and IDNA2008's Unstable).  Python has no Joining_Type,
Script, Default_Ignorable_Code_Point, Noncharacter_Code_Point,
White_Space, Cased or Case_Ignorable; those come from Debian's
unicode-data files (/usr/share/unicode, Unicode 15.0), restricted to the
code points Python's version assigns, and Cased/Case_Ignorable are
checked against how str.lower() treats a final sigma.

Outputs (see precis.c for how they are read):
  * prop: one 64-bit record per code point (PRECIS IdentifierClass and
    FreeformClass and IDNA2008 derived property, bidi class, joining type,
    script group, Cased, Case_Ignorable, Zs, combining class, NFC_QC,
    flags "has canonical decomposition / lower mapping / width mapping",
    general category M) in a three-level trie with shared blocks.
  * lower and width mappings as runs (first, count, step, delta).
  * canonical decompositions (one level) as sorted uint64 (c<<42|a<<21|b)
    and the primary composites as indexes sorted by (a, b).
  * compatibility decompositions for NFKC: every code point whose NFKD
    differs from its NFD, with its full NFKD precomputed (recursion,
    canonical parts and Hangul included) as UTF-16 in one pool; entries
    (c << 15 | offset) sorted by c, the length is the next entry's offset
    minus this one's (a sentinel closes the array).  Checked: at most
    UTAB_KDECOMP_MAX (18, U+FDFA) code points per entry.
  * test vectors: random strings with Python's NFC and NFC(lower(s));
    random strings with Python's NFKC plus FNV-1a hashes of NFC and NFKC
    of every code point (alone, and followed by U+0301); random nicknames
    with a Python RFC 8266 Nickname profile (enforcement and comparison).
"""
import os
import random
import sys
import unicodedata as ud

UCD = "/usr/share/unicode"
HERE = os.path.dirname(os.path.abspath(__file__))
CORE = HERE	# the tables sit next to their generator
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
MAXCP = 0x110000

PVALID, CONTEXTJ, CONTEXTO, DISALLOWED, UNASSIGNED = range(5)
BIDI = ["L", "R", "AL", "EN", "ES", "ET", "AN", "CS", "NSM", "BN", "B", "S",
        "WS", "ON", "LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI",
        "PDI"]
JT = {"U": 0, "L": 1, "D": 2, "R": 3, "T": 4, "C": 5}
SCRIPTS = {"Greek": 1, "Hebrew": 2, "Hiragana": 3, "Katakana": 3, "Han": 3}


def ucd_ranges(name, want=None):
    """Yields (cp, value) from a UCD property file."""
    with open(os.path.join(UCD, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = [x.strip() for x in line.split(";")]
            if want is not None and fields[1] != want:
                continue
            r = fields[0].split("..")
            lo = int(r[0], 16)
            hi = int(r[-1], 16)
            for cp in range(lo, hi + 1):
                yield cp, fields


def cat(cp):
    return ud.category(chr(cp))


def assigned(cp):
    return cat(cp) != "Cn"


def load():
    d = {}
    d["di"] = {cp for cp, _ in ucd_ranges("DerivedCoreProperties.txt",
                                          "Default_Ignorable_Code_Point")}
    d["cased"] = {cp for cp, _ in ucd_ranges("DerivedCoreProperties.txt",
                                             "Cased") if assigned(cp)}
    d["ci"] = {cp for cp, _ in ucd_ranges("DerivedCoreProperties.txt",
                                          "Case_Ignorable") if assigned(cp)}
    d["nonchar"] = {cp for cp, _ in ucd_ranges("PropList.txt",
                                               "Noncharacter_Code_Point")}
    d["white"] = {cp for cp, _ in ucd_ranges("PropList.txt", "White_Space")}
    jt = {}
    for cp, f in ucd_ranges("ArabicShaping.txt"):
        if assigned(cp):
            jt[cp] = JT[f[2]]
    d["jt"] = jt
    sc = {}
    for cp, f in ucd_ranges("Scripts.txt"):
        if assigned(cp) and f[1] in SCRIPTS:
            sc[cp] = SCRIPTS[f[1]]
    d["script"] = sc
    hst = {}
    for cp, f in ucd_ranges("HangulSyllableType.txt"):
        hst[cp] = f[1]
    d["hst"] = hst
    return d


def check_sigma(d):
    """Cased/Case_Ignorable from 15.0 files must match Python's lower()."""
    for cp in range(MAXCP):
        if not assigned(cp) or 0xd800 <= cp <= 0xdfff:
            continue
        c = chr(cp)
        p1 = (c + "\u03a3").lower()[-1] == "\u03c2"
        p2 = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
        if cp in d["ci"]:
            ok = not p1 and p2
        elif cp in d["cased"]:
            ok = p1 and p2
        else:
            ok = not p1 and not p2
        if not ok:
            sys.exit("Cased/Case_Ignorable mismatch at U+%04X" % cp)


EXC = {0x00DF: PVALID, 0x03C2: PVALID, 0x06FD: PVALID, 0x06FE: PVALID,
       0x0F0B: PVALID, 0x3007: PVALID, 0x00B7: CONTEXTO, 0x0375: CONTEXTO,
       0x05F3: CONTEXTO, 0x05F4: CONTEXTO, 0x30FB: CONTEXTO,
       0x0640: DISALLOWED, 0x07FA: DISALLOWED, 0x302E: DISALLOWED,
       0x302F: DISALLOWED, 0x3031: DISALLOWED, 0x3032: DISALLOWED,
       0x3033: DISALLOWED, 0x3034: DISALLOWED, 0x3035: DISALLOWED,
       0x303B: DISALLOWED}
for _cp in list(range(0x0660, 0x066A)) + list(range(0x06F0, 0x06FA)):
    EXC[_cp] = CONTEXTO

LETTER_DIGITS = {"Ll", "Lu", "Lo", "Nd", "Lm", "Mn", "Mc"}
OTHER_LETTER_DIGITS = {"Lt", "Nl", "No", "Me"}
SYMBOLS = {"Sm", "Sc", "Sk", "So"}
PUNCT = {"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}


def precis(cp, d, freeform):
    """RFC 8264 §8: the derived property of cp in one string class."""
    c = chr(cp)
    g = cat(cp)
    if cp in EXC:
        return EXC[cp]
    if g == "Cn" and cp not in d["nonchar"]:
        return UNASSIGNED
    if 0x21 <= cp <= 0x7e:
        return PVALID
    if cp in (0x200c, 0x200d):
        return CONTEXTJ
    if d["hst"].get(cp) in ("L", "V", "T"):
        return DISALLOWED
    if cp in d["di"] or cp in d["nonchar"]:
        return DISALLOWED
    if g == "Cc":
        return DISALLOWED
    free = PVALID if freeform else DISALLOWED
    if ud.normalize("NFKC", c) != c:
        return free
    if g in LETTER_DIGITS:
        return PVALID
    if g in OTHER_LETTER_DIGITS or g == "Zs" or g in SYMBOLS or g in PUNCT:
        return free
    return DISALLOWED


def idna(cp, d):
    """RFC 5892 §3: the IDNA2008 derived property."""
    c = chr(cp)
    g = cat(cp)
    if cp in EXC:
        return EXC[cp]
    if g == "Cn" and cp not in d["nonchar"]:
        return UNASSIGNED
    if cp == 0x2d or 0x30 <= cp <= 0x39 or 0x61 <= cp <= 0x7a:
        return PVALID
    if cp in (0x200c, 0x200d):
        return CONTEXTJ
    if 0xd800 <= cp <= 0xdfff:
        return DISALLOWED
    if ud.normalize("NFKC", ud.normalize("NFKC", c).casefold()) != c:
        return DISALLOWED
    if cp in d["di"] or cp in d["white"] or cp in d["nonchar"]:
        return DISALLOWED
    if (0x20d0 <= cp <= 0x20ff or 0x1d100 <= cp <= 0x1d1ff or
            0x1d200 <= cp <= 0x1d24f):
        return DISALLOWED
    if d["hst"].get(cp) in ("L", "V", "T"):
        return DISALLOWED
    if g in LETTER_DIGITS:
        return PVALID
    return DISALLOWED


def decomp(cp):
    s = ud.decomposition(chr(cp))
    if not s or s.startswith("<"):
        return None
    return [int(x, 16) for x in s.split()]


def width(cp):
    s = ud.decomposition(chr(cp))
    if s.startswith("<wide>") or s.startswith("<narrow>"):
        v = [int(x, 16) for x in s.split()[1:]]
        assert len(v) == 1
        return v[0]
    return None


def runs(pairs):
    """(cp, target) sorted -> [(first, n, step, delta)]."""
    out = []
    for cp, t in pairs:
        delta = t - cp
        if out:
            first, n, step, dl = out[-1]
            last = first + (n - 1) * step
            if dl == delta and n == 1 and cp - last in (1, 2):
                out[-1] = (first, 2, cp - last, dl)
                continue
            if dl == delta and n > 1 and cp - last == step:
                out[-1] = (first, n + 1, step, dl)
                continue
        out.append((cp, 1, 1, delta))
    return out


def trie(values):
    """Three-level trie: cp>>12, (cp>>6)&63, cp&63 over unique records."""
    recs = sorted(set(values))
    rid = {r: i for i, r in enumerate(recs)}
    leaves, leaf_id = [], {}
    mids, mid_id = [], {}
    top = []
    for hi in range(MAXCP >> 12):
        mid = []
        for m in range(64):
            base = (hi << 12) | (m << 6)
            blk = tuple(rid[values[base + k]] for k in range(64))
            if blk not in leaf_id:
                leaf_id[blk] = len(leaves)
                leaves.append(blk)
            mid.append(leaf_id[blk])
        mid = tuple(mid)
        if mid not in mid_id:
            mid_id[mid] = len(mids)
            mids.append(mid)
        top.append(mid_id[mid])
    return recs, top, mids, leaves


def ctype(maxv):
    return "uint8_t" if maxv < 256 else "uint16_t"


def carray(f, decl, vals, per=12, fmt="%d"):
    f.write("%s = {\n" % decl)
    for i in range(0, len(vals), per):
        f.write("\t" + ", ".join(fmt % v for v in vals[i:i + per]) + ",\n")
    f.write("};\n")


def main():
    if ud.unidata_version != "14.0.0":
        sys.exit("expected Python with Unicode 14.0.0, got " +
                 ud.unidata_version)
    d = load()
    check_sigma(d)
    dec, lower, wid = {}, [], []
    for cp in range(MAXCP):
        if 0xd800 <= cp <= 0xdfff:
            continue
        x = decomp(cp)
        if x:
            assert len(x) in (1, 2)
            dec[cp] = x
        lo = chr(cp).lower()
        if lo != chr(cp):
            if len(lo) == 1:
                lower.append((cp, ord(lo)))
            else:
                assert cp == 0x130 and lo == "i\u0307", hex(cp)
        w = width(cp)
        if w is not None:
            wid.append((cp, w))
    # primary composites: two-code-point decompositions NFC keeps
    comp = sorted((dec[c][0], dec[c][1], c) for c in dec
                  if len(dec[c]) == 2 and ud.normalize("NFC", chr(c)) == chr(c))
    second = {b for _, b, _ in comp}
    second |= set(range(0x1161, 0x1176)) | set(range(0x11a8, 0x11c3))
    for cp in range(0x300):
        assert ud.combining(chr(cp)) == 0 and cp not in second
        assert ud.normalize("NFC", chr(cp)) == chr(cp)
    assert min(dec) >= 0xc0
    maxd = max(len(ud.normalize("NFD", chr(c))) for c in dec)
    assert maxd <= 4, maxd
    kent, kpool, kmax = kdecomp()

    values = []
    lower_set = {cp for cp, _ in lower} | {0x130}
    wid_set = {cp for cp, _ in wid}
    for cp in range(MAXCP):
        if 0xd800 <= cp <= 0xdfff:
            values.append(DISALLOWED | DISALLOWED << 3 | DISALLOWED << 6)
            continue
        c = chr(cp)
        g = cat(cp)
        b = ud.bidirectional(c) or "L"
        qc = 0
        if ud.normalize("NFC", c) != c:
            qc = 1
        elif cp in second:
            qc = 2
        v = (precis(cp, d, False) | precis(cp, d, True) << 3 |
             idna(cp, d) << 6 | BIDI.index(b) << 9 |
             d["jt"].get(cp, JT["T"] if g in ("Mn", "Me", "Cf") else 0) << 14 |
             d["script"].get(cp, 0) << 17 |
             (cp in d["ci"]) << 19 | (cp in d["cased"]) << 20 |
             (g == "Zs") << 21 | ud.combining(c) << 22 | qc << 30 |
             (cp in dec) << 32 | (cp in lower_set) << 33 |
             (cp in wid_set) << 34 | (g[0] == "M") << 35)
        values.append(v)
    recs, top, mids, leaves = trie(values)

    lruns = runs(lower)
    wruns = runs(wid)
    dkeys = sorted(dec)
    dent = [c << 42 | dec[c][0] << 21 | (dec[c][1] if len(dec[c]) > 1 else 0)
            for c in dkeys]
    didx = {c: i for i, c in enumerate(dkeys)}
    cidx = [didx[c] for _, _, c in comp]

    size = (len(recs) * 8 + len(top) * (1 if len(mids) < 256 else 2) +
            len(mids) * 64 * (1 if len(leaves) < 256 else 2) +
            len(leaves) * 64 * (1 if len(recs) < 256 else 2) +
            (len(lruns) + len(wruns)) * 12 + len(dent) * 8 + len(cidx) * 2 +
            len(kent) * 4 + len(kpool) * 2)
    out = os.path.join(CORE, "unicode_tables.c")
    with open(out, "w") as f:
        f.write("/*\n * unicode_tables — generated by xmpp-core/core/jid/unicode/"
                "unicode_tables.py\n * from Unicode %s\n * (Python unicodedata; "
                "Joining_Type, Script, Default_Ignorable, Cased,\n * "
                "Case_Ignorable, White_Space, Noncharacter from Debian's "
                "unicode-data).\n * Do not edit; about %d bytes of tables.  "
                "See unicode_tables.h.\n */\n" % (ud.unidata_version, size))
        f.write('#include "unicode_tables.h"\n\n')
        carray(f, "const uint64_t utab_recs[%d]" % len(recs), recs, 4,
               "0x%xULL")
        carray(f, "const %s utab_top[%d]" % (ctype(len(mids)), len(top)), top)
        flat = [x for m in mids for x in m]
        carray(f, "const %s utab_mid[%d]" % (ctype(len(leaves)), len(flat)),
               flat, 16)
        flat = [x for l in leaves for x in l]
        carray(f, "const %s utab_leaf[%d]" % (ctype(len(recs)), len(flat)),
               flat, 16)
        for name, rr in (("utab_lower", lruns), ("utab_width", wruns)):
            f.write("const struct utab_run %s[%d] = {\n" % (name, len(rr)))
            for a, n, s, dl in rr:
                f.write("\t{ 0x%x, %d, %d, %d },\n" % (a, n, s, dl))
            f.write("};\n")
        carray(f, "const uint64_t utab_decomp[%d]" % len(dent), dent, 3,
               "0x%016xULL")
        carray(f, "const uint16_t utab_comp[%d]" % len(cidx), cidx, 12)
        carray(f, "const uint32_t utab_kdecomp[%d]" % len(kent), kent, 6,
               "0x%08x")
        carray(f, "const uint16_t utab_kpool[%d]" % len(kpool), kpool, 10,
               "0x%04x")
    with open(os.path.join(CORE, "unicode_tables.h"), "w") as f:
        f.write(HEADER % {
            "ver": ud.unidata_version, "nrecs": len(recs), "ntop": len(top),
            "nmid": len(mids) * 64, "nleaf": len(leaves) * 64,
            "tt": ctype(len(mids)), "mt": ctype(len(leaves)),
            "lt": ctype(len(recs)), "nlower": len(lruns),
            "nwidth": len(wruns), "ndec": len(dent), "ncomp": len(cidx),
            "nkdec": len(kent) - 1, "nkent": len(kent),
            "nkpool": len(kpool), "kmax": kmax})
    vectors()
    nfkc_vectors()
    nick_vectors(d)
    print("records %d, top %d, mid blocks %d, leaf blocks %d, lower runs %d,"
          " width runs %d, decompositions %d, composites %d, compatibility"
          " decompositions %d (pool %d): %d bytes" %
          (len(recs), len(top), len(mids), len(leaves), len(lruns),
           len(wruns), len(dent), len(cidx), len(kent) - 1, len(kpool), size))


KDECOMP_MAX = 18	# U+FDFA ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM


def kdecomp():
    """Entries c << 15 | offset (plus a sentinel) and the UTF-16 pool of
    the full NFKD of every code point whose NFKD is not its NFD."""
    ent, pool, kmax = [], [], 0
    for cp in range(MAXCP):
        if 0xd800 <= cp <= 0xdfff:
            continue
        c = chr(cp)
        k = ud.normalize("NFKD", c)
        if k == ud.normalize("NFD", c):
            continue
        # not a Hangul syllable (those are arithmetic), and nothing below
        # U+00A0 (precis.c skips the search there)
        assert cp >= 0xa0 and not 0xac00 <= cp <= 0xd7a3, hex(cp)
        assert ud.normalize("NFKD", k) == k
        kmax = max(kmax, len(k))
        ent.append(cp << 15 | len(pool))
        for ch in k:
            v = ord(ch)
            if v >= 0x10000:
                v -= 0x10000
                pool += [0xd800 | v >> 10, 0xdc00 | (v & 0x3ff)]
            else:
                assert not 0xd800 <= v <= 0xdfff
                pool.append(v)
    assert kmax == KDECOMP_MAX, kmax
    assert ent[-1] >> 15 < 0x1ffff and len(pool) < 1 << 15
    ent.append(0x1ffff << 15 | len(pool))	# sentinel: the last length
    return ent, pool, kmax


HEADER = """/*
 * unicode_tables — generated by xmpp-core/core/jid/unicode/unicode_tables.py
 * (Unicode %(ver)s); do not edit.  precis.c reads these tables.
 *
 * utab_recs[] holds one 64-bit record per distinct set of properties,
 * found through utab_top[cp >> 12], utab_mid[.. * 64 + ((cp >> 6) & 63)],
 * utab_leaf[.. * 64 + (cp & 63)].  Record bits: UTAB_* below.
 */
#ifndef XMPP_UNICODE_TABLES_H
#define XMPP_UNICODE_TABLES_H

#include <stdint.h>

#define UTAB_VERSION "%(ver)s"

/* derived property values (RFC 8264 §8, RFC 5892 §3) */
enum { UTAB_PVALID, UTAB_CONTEXTJ, UTAB_CONTEXTO, UTAB_DISALLOWED,
	UTAB_UNASSIGNED };
/* bidi classes, in the generator's order */
enum { UTAB_BIDI_L, UTAB_BIDI_R, UTAB_BIDI_AL, UTAB_BIDI_EN, UTAB_BIDI_ES,
	UTAB_BIDI_ET, UTAB_BIDI_AN, UTAB_BIDI_CS, UTAB_BIDI_NSM, UTAB_BIDI_BN,
	UTAB_BIDI_B, UTAB_BIDI_S, UTAB_BIDI_WS, UTAB_BIDI_ON, UTAB_BIDI_LRE,
	UTAB_BIDI_LRO, UTAB_BIDI_RLE, UTAB_BIDI_RLO, UTAB_BIDI_PDF,
	UTAB_BIDI_LRI, UTAB_BIDI_RLI, UTAB_BIDI_FSI, UTAB_BIDI_PDI };
/* Joining_Type */
enum { UTAB_JT_U, UTAB_JT_L, UTAB_JT_D, UTAB_JT_R, UTAB_JT_T, UTAB_JT_C };
/* script groups the RFC 5892 contextual rules ask about */
enum { UTAB_SC_OTHER, UTAB_SC_GREEK, UTAB_SC_HEBREW, UTAB_SC_HKH };
/* NFC_Quick_Check */
enum { UTAB_QC_YES, UTAB_QC_NO, UTAB_QC_MAYBE };

#define UTAB_ID(r)	((unsigned)((r) & 7))	/* IdentifierClass */
#define UTAB_FREE(r)	((unsigned)((r) >> 3 & 7))	/* FreeformClass */
#define UTAB_IDNA(r)	((unsigned)((r) >> 6 & 7))	/* IDNA2008 */
#define UTAB_BIDI(r)	((unsigned)((r) >> 9 & 31))
#define UTAB_JT(r)	((unsigned)((r) >> 14 & 7))
#define UTAB_SCRIPT(r)	((unsigned)((r) >> 17 & 3))
#define UTAB_CI(r)	((unsigned)((r) >> 19 & 1))	/* Case_Ignorable */
#define UTAB_CASED(r)	((unsigned)((r) >> 20 & 1))
#define UTAB_ZS(r)	((unsigned)((r) >> 21 & 1))	/* category Zs */
#define UTAB_CCC(r)	((unsigned)((r) >> 22 & 255))
#define UTAB_QC(r)	((unsigned)((r) >> 30 & 3))	/* NFC_QC */
#define UTAB_DECOMP(r)	((unsigned)((r) >> 32 & 1))	/* in utab_decomp */
#define UTAB_LOWER(r)	((unsigned)((r) >> 33 & 1))	/* toLowerCase changes it */
#define UTAB_WIDTH(r)	((unsigned)((r) >> 34 & 1))	/* <wide>/<narrow> */
#define UTAB_MARK(r)	((unsigned)((r) >> 35 & 1))	/* category M* */

/* cp in first, first + step, ... (n of them) maps to cp + delta */
struct utab_run {
	uint32_t first;
	uint16_t n;
	uint8_t step;
	int32_t delta;
};

extern const uint64_t utab_recs[%(nrecs)d];
extern const %(tt)s utab_top[%(ntop)d];
extern const %(mt)s utab_mid[%(nmid)d];
extern const %(lt)s utab_leaf[%(nleaf)d];
/* one-character lower-case mappings (U+0130 is special: i + U+0307) */
extern const struct utab_run utab_lower[%(nlower)d];
/* RFC 8265 §3.3.1 rule 1: fullwidth/halfwidth to their decomposition */
extern const struct utab_run utab_width[%(nwidth)d];
/* canonical decomposition, one level: c << 42 | a << 21 | b (b 0 if
 * a singleton), sorted by c; Hangul syllables are not listed */
extern const uint64_t utab_decomp[%(ndec)d];
/* indexes into utab_decomp of the primary composites, sorted by (a, b) */
extern const uint16_t utab_comp[%(ncomp)d];
/*
 * compatibility decompositions (NFKD, fully decomposed, canonically
 * ordered) of every code point whose NFKD is not its NFD: entries
 * c << 15 | offset into utab_kpool (UTF-16), sorted by c, the length
 * being the next entry's offset minus this one's; the last entry is a
 * sentinel.  No entry is below U+00A0 or a Hangul syllable, and none
 * is longer than UTAB_KDECOMP_MAX code points.
 */
extern const uint32_t utab_kdecomp[%(nkent)d];
extern const uint16_t utab_kpool[%(nkpool)d];

#define UTAB_NLOWER %(nlower)d
#define UTAB_NWIDTH %(nwidth)d
#define UTAB_NDECOMP %(ndec)d
#define UTAB_NCOMP %(ncomp)d
#define UTAB_NKDECOMP %(nkdec)d
#define UTAB_KDECOMP_MAX %(kmax)d

#endif
"""


def esc(s):
    b = s.encode("utf-8")
    return '"' + "".join(chr(c) if 0x20 < c < 0x7f and c not in (0x22, 0x5c, 0x3f)
                         else "\\%03o" % c for c in b) + '"'


def vectors():
    """Random strings with Python's NFC and NFC(s.lower()) (same seed)."""
    rnd = random.Random(7622)
    pools = [list(range(0x41, 0x5b)) + list(range(0x61, 0x7b)),
             list(range(0xc0, 0x250)), list(range(0x300, 0x370)),
             list(range(0x370, 0x400)), list(range(0x400, 0x530)),
             list(range(0x1100, 0x1200)), list(range(0xac00, 0xac40)),
             list(range(0x1e00, 0x2000)), list(range(0x0900, 0x0980)),
             list(range(0x0590, 0x0700)), list(range(0x3040, 0x3100)),
             [0x3a3, 0x130, 0x1c4, 0x1c5, 0x345, 0x1f80, 0x1f88, 0xfb01,
              0x1d15e, 0x1d160, 0x0f73, 0x0344, 0x212b, 0x2126, 0x0340]]
    allp = [cp for p in pools for cp in p]
    rows = []
    while len(rows) < 400:
        n = rnd.randint(1, 12)
        s = "".join(chr(rnd.choice(allp if rnd.random() < 0.3 else
                                   rnd.choice(pools))) for _ in range(n))
        if any(cat(ord(c)) == "Cn" for c in s):
            continue
        rows.append((s, ud.normalize("NFC", s), ud.normalize("NFC", s.lower())))
    path = os.path.join(ROOT, "tests", "unit", "xmpp-core", "core", "precis_vectors.h")
    with open(path, "w") as f:
        f.write("/* Generated by xmpp-core/core/jid/unicode/unicode_tables.py: random "
                "strings, Python's\n * unicodedata.normalize('NFC', s) and "
                "normalize('NFC', s.lower()). */\n")
        f.write("static const char *const precis_vectors[][3] = {\n")
        for s, a, b in rows:
            f.write("\t{ %s,\n\t  %s,\n\t  %s },\n" % (esc(s), esc(a), esc(b)))
        f.write("};\n")


FNV_OFFSET = 0xcbf29ce484222325
FNV_PRIME = 0x100000001b3


def fnv(h, s):
    """FNV-1a over code points, one step each, then a separator step
    (0x110000, not a code point); precis tests do the same in C."""
    for ch in s:
        h = ((h ^ ord(ch)) * FNV_PRIME) & 0xffffffffffffffff
    return ((h ^ 0x110000) * FNV_PRIME) & 0xffffffffffffffff


def random_strings(rnd, pools, count, nmax, ok):
    allp = [cp for p in pools for cp in p]
    rows = []
    while len(rows) < count:
        n = rnd.randint(1, nmax)
        s = "".join(chr(rnd.choice(allp if rnd.random() < 0.3 else
                                   rnd.choice(pools))) for _ in range(n))
        if any(cat(ord(c)) == "Cn" for c in s):
            continue
        r = ok(s)
        if r is not None:
            rows.append(r)
    return rows


def compat_pool():
    return [cp for cp in range(0xa0, MAXCP) if not 0xd800 <= cp <= 0xdfff and
            ud.normalize("NFKD", chr(cp)) != ud.normalize("NFD", chr(cp))]


def nfkc_vectors():
    """Random strings rich in compatibility characters with Python's
    NFKC, and hashes of NFC and NFKC of every code point."""
    rnd = random.Random(8264)
    compat = compat_pool()
    pools = [compat, compat, list(range(0x41, 0x5b)) + list(range(0x61, 0x7b)),
             list(range(0x300, 0x370)), list(range(0xc0, 0x250)),
             list(range(0x1100, 0x1200)), list(range(0xac00, 0xac40)),
             list(range(0x3130, 0x3190)), list(range(0x3200, 0x3400)),
             list(range(0x1f00, 0x2000)), list(range(0x2150, 0x2190)),
             list(range(0xfb00, 0xfb50)), list(range(0xfe70, 0xff00)),
             list(range(0xff00, 0xfff0)), list(range(0x1d400, 0x1d800)),
             list(range(0x10780, 0x107c0)), list(range(0x1f100, 0x1f260)),
             [0x3a3, 0x3d2, 0x3d4, 0x345, 0x1e9b, 0x17f, 0x301, 0x323, 0x308,
              0xfdfa, 0xfdfb, 0x3099, 0x309a, 0x304b, 0x30ab, 0x0f77, 0x0f79]]
    rows = random_strings(rnd, pools, 400, 10,
                          lambda s: (s, ud.normalize("NFKC", s)))
    h = [FNV_OFFSET] * 4
    for cp in range(MAXCP):
        if 0xd800 <= cp <= 0xdfff:
            continue
        c = chr(cp)
        h[0] = fnv(h[0], ud.normalize("NFC", c))
        h[1] = fnv(h[1], ud.normalize("NFKC", c))
        h[2] = fnv(h[2], ud.normalize("NFC", c + "\u0301"))
        h[3] = fnv(h[3], ud.normalize("NFKC", c + "\u0301"))
    path = os.path.join(ROOT, "tests", "unit", "xmpp-core", "core",
                        "precis_nfkc_vectors.h")
    with open(path, "w") as f:
        f.write("/* Generated by xmpp-core/core/jid/unicode/unicode_tables.py: "
                "random strings and\n * Python's unicodedata.normalize('NFKC', "
                "s) (Unicode %s); FNV-1a hashes of NFC\n * and NFKC of every "
                "code point c, and of c + U+0301 (see fnv() there). */\n"
                % ud.unidata_version)
        for name, v in zip(("NFC", "NFKC", "NFC_ACUTE", "NFKC_ACUTE"), h):
            f.write("#define PRECIS_HASH_%s 0x%016xULL\n" % (name, v))
        f.write("static const char *const precis_nfkc_vectors[][2] = {\n")
        for s, a in rows:
            f.write("\t{ %s,\n\t  %s },\n" % (esc(s), esc(a)))
        f.write("};\n")


class Context(Exception):
    """A CONTEXTJ/CONTEXTO code point: the vectors leave those out."""


def nick_round(s, d, compare):
    """RFC 8266 §2.3 (enforcement) or §2.4 (comparison), one round, with
    the FreeformClass of §2.2: the string, or None when refused."""
    s = "".join(" " if cat(ord(ch)) == "Zs" else ch for ch in s)
    s = " ".join(w for w in s.split(" ") if w)
    if compare:
        s = s.lower()
    s = ud.normalize("NFKC", s)
    if not s:
        return None
    for ch in s:
        v = precis(ord(ch), d, True)
        if v in (CONTEXTJ, CONTEXTO):
            raise Context()
        if v != PVALID:
            return None
    return s


def nick(s, d, compare):
    """RFC 8264 §7 / RFC 8266 §4: rounds until stable, at most 3 more."""
    cur = nick_round(s, d, compare)
    if cur is None:
        return None
    for _ in range(3):
        nxt = nick_round(cur, d, compare)
        if nxt is None:
            return None
        if nxt == cur:
            return cur
        cur = nxt
    return None


def nick_vectors(d):
    """Random nicknames with Python's enforcement and comparison key."""
    rnd = random.Random(8266)
    compat = compat_pool()
    pools = [[0x20, 0x20, 0x20, 0xa0, 0x1680, 0x2003, 0x202f, 0x3000],
             list(range(0x41, 0x5b)) + list(range(0x61, 0x7b)),
             list(range(0x20, 0x7f)), list(range(0xa0, 0x250)),
             list(range(0x300, 0x370)), list(range(0x370, 0x400)),
             list(range(0x1f00, 0x2000)), list(range(0x2150, 0x2190)),
             list(range(0x2600, 0x2700)), list(range(0xff00, 0xfff0)),
             list(range(0x0600, 0x0700)), list(range(0xfb50, 0xfe00)),
             list(range(0x1100, 0x1200)), list(range(0xac00, 0xac40)),
             compat, compat,
             [0x3a3, 0x3c2, 0x3d2, 0x3d4, 0x130, 0x1f9b, 0x2163, 0xfb01,
              0xfdfa, 0xa8, 0x7, 0x378, 0x200b, 0xad, 0xfeff, 0x1f600]]

    def row(s):
        try:
            e = nick(s, d, False)
            k = nick(e, d, True) if e is not None else None
        except Context:
            return None
        return (s, e, k)
    rows = random_strings(rnd, pools, 400, 10, row)
    path = os.path.join(ROOT, "tests", "unit", "xmpp-core", "muc",
                        "mucnick_vectors.h")
    with open(path, "w") as f:
        f.write("/* Generated by xmpp-core/core/jid/unicode/unicode_tables.py: "
                "random nicknames,\n * their RFC 8266 enforcement and comparison "
                "key by Python's unicodedata\n * (Unicode %s), NULL when "
                "refused (see nick() there). */\n" % ud.unidata_version)
        f.write("static const char *const mucnick_vectors[][3] = {\n")
        for s, e, k in rows:
            f.write("\t{ %s,\n\t  %s,\n\t  %s },\n" %
                    (esc(s), "NULL" if e is None else esc(e),
                     "NULL" if k is None else esc(k)))
        f.write("};\n")


if __name__ == "__main__":
    main()
