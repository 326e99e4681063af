# mkman.awk — edge's man pages: a small markdown-like source to roff.
#
#   awk -v version=0.1.0 -v date=2026-12-07 -f mkman.awk NAME.SECTION.md > NAME.SECTION
#
# The source, one construct per line (nothing else is markdown here):
#   % NAME SECTION Title words        the .TH line (first line)
#   # HEADING                         .SH      ## Heading   .SS
#   : term                            .TP: the term, its text on the next lines
#   - item                            a bullet item
#   4-space indented lines            a literal block (.nf/.fi)
#   blank line                        a new paragraph
#   @keys FILE                        every key table of the reference FILE
#                                     (relative to the source): a .SS per
#                                     heading, a .TP per key
# and inline **bold**, *italic*, `literal` (bold).  roff's own characters
# are escaped, so a source line can never become a request.
function esc(s) {
	gsub(/\\/, "\\e", s)
	return s
}
function inline(s,    out, m) {
	s = esc(s)
	out = ""
	while (match(s, /\*\*[^*]+\*\*|`[^`]+`|\*[^* ][^*]*\*/)) {
		m = substr(s, RSTART, RLENGTH)
		out = out substr(s, 1, RSTART - 1)
		if (m ~ /^\*\*/)
			m = "\\fB" minus(substr(m, 3, RLENGTH - 4)) "\\fR"
		else if (m ~ /^`/)
			m = "\\fB" minus(substr(m, 2, RLENGTH - 2)) "\\fR"
		else
			m = "\\fI" substr(m, 2, RLENGTH - 2) "\\fR"
		out = out m
		s = substr(s, RSTART + RLENGTH)
	}
	out = out s
	if (out ~ /^[.']/)
		out = "\\&" out
	return out
}
# in options and literals a "-" is a minus sign (what one types)
function minus(s) {
	gsub(/-/, "\\-", s)
	return s
}
# The config keys have one source, the tables of the daemon's reference
# (deploy/*.md) with the header | key | type | default | meaning |: the
# section-5 page takes them from there, so the two never disagree.
function keys(path,    line, head, shown, intable, n, c, rc) {
	head = ""; shown = 0; intable = 0
	while ((rc = (getline line < path)) > 0) {
		if (line ~ /^##+ /) {
			head = line; sub(/^##+ /, "", head); shown = 0; intable = 0
			continue
		}
		if (line == "| key | type | default | meaning |") { intable = 1; continue }
		if (!intable || line ~ /^\|---/)
			continue
		if (line !~ /^\| /) { intable = 0; continue }
		sub(/^\| /, "", line); sub(/ \|$/, "", line)
		n = split(line, c, / \| /)
		if (n != 4) {
			print path ": a key row without 4 cells: " line > "/dev/stderr"
			failed = 1; exit 1
		}
		if (!shown && head != "") { print ".SS " inline(head); shown = 1 }
		print ".TP"
		print inline(c[1]) " (" inline(c[2]) (c[3] ~ /^(required|—)/ ? "; " : "; default: ") \
		    inline(c[3]) ")"
		print inline(c[4])
	}
	if (rc < 0) {
		print path ": cannot read" > "/dev/stderr"
		failed = 1; exit 1
	}
	close(path)
}
function endlit() {
	if (lit) { print ".fi"; print ".RE"; lit = 0 }
}
NR == 1 {
	if ($1 != "%") { print FILENAME ": first line must be: % NAME SECTION Title" > "/dev/stderr"; exit 1 }
	title = $0; sub(/^% [^ ]+ [^ ]+ /, "", title)
	dir = FILENAME; if (!sub(/\/[^\/]*$/, "", dir)) dir = "."
	printf ".TH %s %s %s \"edge %s\" \"%s\"\n", toupper($2), $3, date, version, title
	next
}
/^    / {
	if (!lit) { print ".RS 4"; print ".nf"; lit = 1 }
	l = esc(substr($0, 5))
	if (l ~ /^[.']/)
		l = "\\&" l
	print minus(l)
	next
}
{ endlit() }
/^@keys / { keys(dir "/" substr($0, 7)); para = 0; next }
/^$/ { para = 1; next }
/^## / { print ".SS " inline(substr($0, 4)); para = 0; next }
/^# / { sh = toupper(substr($0, 3)); print ".SH " toupper(inline(substr($0, 3))); para = 0; next }
/^: / { print ".TP"; print inline(substr($0, 3)); para = 0; next }
/^- / { print ".IP \\(bu 2"; print inline(substr($0, 3)); para = 0; next }
# NAME's "name - what" is roff's name \- what (whatis, lintian)
sh == "NAME" { l = inline($0); sub(/ - /, " \\- ", l); print l; next }
{
	if (para) { print ".PP"; para = 0 }
	print inline($0)
}
END { if (!failed) endlit() }
