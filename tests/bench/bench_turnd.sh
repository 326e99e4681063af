#!/usr/bin/env bash
# turnd vs coturn (Debian's turnserver) on loopback: server CPU per relayed
# ChannelData packet (UDP/TCP/TLS, 100 and 1200 bytes, 1 and 16
# allocations), CPU per allocation, RSS per allocation before and after
# freeing, each on a fresh server, next to the floor: a bare UDP recv+send
# pair measured in the same run.  Figures are server-side from /proc, so
# they hold on a busy machine.  BENCH_QUICK=1 runs a short subset.
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${EDGE_BUILD:-$(cd ../.. && pwd)/build}
mkdir -p "$BUILD/bench"
for t in blast floor; do
	cc -O2 -Wall -Wextra -o "$BUILD/bench/turnd_$t" "turnd_$t.c"
done
[ -x "$BUILD/bin/turnd" ] || { echo "bench_turnd: $BUILD/bin/turnd not built" >&2; exit 1; }
command -v turnserver >/dev/null || echo "bench_turnd: coturn not installed, turnd only"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EDGE_BUILD="$BUILD" exec /usr/bin/python3 turnd_bench.py
