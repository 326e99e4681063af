#!/bin/sh
# Runs every unit-test binary in ../unit/ (one per daemon, and
# common/) and prints the total as "N passed, N failed".  An argument is
# passed on: only tests whose name contains it run.
dir=$(dirname "$0")
passed=0
failed=0
status=0
for b in "$dir"/../unit/*; do
	[ -x "$b" ] || continue
	out=$("$b" "$@") || status=1
	line=$(printf '%s\n' "$out" | tail -n 1)
	p=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(printf '%s\n' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then
		echo "$(basename "$b"): no summary (crashed?)" >&2
		status=1
		continue
	fi
	printf '%s\n' "$out" | sed '$d'
	echo "  $(basename "$b"): $line"
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit $status
exit 1
