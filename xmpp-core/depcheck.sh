#!/bin/sh
# depcheck — the layering rule of xmpp-core, checked on every `make check`.
#
#   core/**   includes only core/ headers, common/ headers and system
#             headers: the core knows no module.
#   <module>/ includes core/ and common/ headers, its own, and the
#             headers another module folder lists on the
#             "Interface headers:" line of its README.md.
#   modules.c (the registry list) may include every module header.
#   import/   (xmppctl's importer: a tool that writes every module's
#             tables, linked into xmppctl only) may include every module
#             header too; core/xmppctl.c may include the headers on the
#             "Interface headers:" line of import/README.md.
#
# Prints each offending include as file:line and exits 1 if there is one.
# One pass: the header owners, interface lines and every include line are
# collected once and judged by awk (a shell loop per include took 15 s).
set -eu
cd "$(dirname "$0")"

mods=$(for d in */; do d=${d%/}; [ "$d" = core ] || echo "$d"; done)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd ../common && ls *.h) | sed 's/^/common /' > "$tmp/headers"
find core -name '*.h' | sed 's|.*/||; s/^/core /' >> "$tmp/headers"
for m in $mods; do
	# a header in two module folders belongs to the first, as before
	find "$m" -name '*.h' | sed "s|.*/||; s/^/mod $m /" >> "$tmp/headers"
	[ -f "$m/README.md" ] &&
	    sed -n 's/^Interface headers: *//p' "$m/README.md" | tr -d '`,' |
	    tr ' ' '\n' | sed "/^\$/d; s/^/iface $m /" >> "$tmp/headers"
done
# file:line:#include "h" for every C file of the core and the modules
# shellcheck disable=SC2086
find core $mods -name '*.[ch]' -exec grep -Hn '^#include "' {} + > "$tmp/includes" || true

awk -v out="$tmp/out" '
FNR == NR {
	if ($1 == "common" || $1 == "core") known[$2] = 1
	else if ($1 == "mod") { if (!($3 in owner)) owner[$3] = $2 }
	else if ($1 == "iface") iface[$2 " " $3] = 1
	next
}
{
	file = $0; sub(/:.*/, "", file)
	rest = substr($0, length(file) + 2)
	n = rest; sub(/:.*/, "", n)
	h = rest; sub(/^[^"]*"/, "", h); sub(/".*/, "", h)
	dir = file; sub(/\/.*/, "", dir)
	if (h in known) next
	o = (h in owner) ? owner[h] : ""
	if (file == "core/xmppctl.c" && o == "import" && (("import " h) in iface)) next
	if (dir == "core") {
		printf "%s:%s: core includes module header %s\n", file, n, h > out
		next
	}
	if (o == "") {
		printf "%s:%s: %s is in no xmpp-core folder\n", file, n, h > out
		next
	}
	if (o == dir || dir == "import") next
	if ((o " " h) in iface) next
	printf "%s:%s: %s includes %s/%s, which %s/README.md does not list as an interface header\n", file, n, dir, o, h, o > out
}' "$tmp/headers" "$tmp/includes"

if [ -s "$tmp/out" ]; then
	cat "$tmp/out" >&2
	echo "depcheck: xmpp-core layering broken (see xmpp-core/README.md)" >&2
	exit 1
fi
echo "depcheck: xmpp-core layering ok ($(echo $mods | wc -w) module folders)"
