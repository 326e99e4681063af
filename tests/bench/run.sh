#!/usr/bin/env bash
# make bench: runs every tests/bench/bench_*.sh (or those whose name contains
# $1).  Each benchmark prints its figures side by side with the program a
# user would otherwise run, as ratios.
set -euo pipefail
cd "$(dirname "$0")"
filter="${1:-}"
status=0
found=0
for b in bench_*.sh; do
	[ -e "$b" ] || continue
	[ -z "$filter" ] || [[ "$b" == *"$filter"* ]] || continue
	found=1
	echo "=== $b"
	bash "$b" || status=$?
done
[ $found = 1 ] || { echo "no benchmark matches '$filter'"; exit 1; }
exit $status
