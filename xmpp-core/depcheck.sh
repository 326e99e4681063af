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
set -eu
cd "$(dirname "$0")"

fail=0
common=$(cd ../common && ls *.h | tr '\n' ' ')
core=$(find core -name '*.h' -exec basename {} \; | tr '\n' ' ')
mods=$(for d in */; do d=${d%/}; [ "$d" = core ] || echo "$d"; done)

# owner <header>: the module folder that holds it, or nothing
owner() {
	for m in $mods; do
		if [ -n "$(find "$m" -name "$1" -print -quit)" ]; then
			echo "$m"
			return
		fi
	done
}

# interface <folder>: the headers its README.md exports
interface() {
	[ -f "$1/README.md" ] || return 0
	sed -n 's/^Interface headers: *//p' "$1/README.md" | tr -d '`,' 
}

in_list() {
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

check() {	# check <file> <folder or core>
	grep -n '^#include "' "$1" | while IFS= read -r line; do
		n=${line%%:*}
		h=$(echo "$line" | sed 's/.*#include "\([^"]*\)".*/\1/')
		in_list "$h" "$common" && continue
		in_list "$h" "$core" && continue
		if [ "$1" = core/xmppctl.c ] && [ "$(owner "$h")" = import ] &&
		    in_list "$h" "$(interface import)"; then
			continue
		fi
		if [ "$2" = core ]; then
			echo "$1:$n: core includes module header $h"
			echo x
			continue
		fi
		o=$(owner "$h")
		if [ -z "$o" ]; then
			echo "$1:$n: $h is in no xmpp-core folder"
			echo x
			continue
		fi
		[ "$o" = "$2" ] && continue
		[ "$2" = import ] && continue
		in_list "$h" "$(interface "$o")" && continue
		echo "$1:$n: $2 includes $o/$h, which $o/README.md does not list as an interface header"
		echo x
	done
}

out=$(
	for f in $(find core -name '*.[ch]'); do check "$f" core; done
	for m in $mods; do
		for f in $(find "$m" -name '*.[ch]'); do check "$f" "$m"; done
	done
)
if echo "$out" | grep -qx x; then
	echo "$out" | grep -vx x >&2
	echo "depcheck: xmpp-core layering broken (see xmpp-core/README.md)" >&2
	exit 1
fi
echo "depcheck: xmpp-core layering ok ($(echo $mods | wc -w) module folders)"
