#!/usr/bin/env bash
# xmpp-core vs Prosody and ejabberd (when installed): memory per idle TLS
# session at N = 1000/4000/8000, CPU per login, CPU per delivered message
# next to a bare TCP read+write floor, and the same after churn.  See
# bench_xmpp.py for the knobs (XMPP_BENCH_SESSIONS, XMPP_BENCH_ONLY, ...).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${EDGE_BUILD:-$(cd ../.. && pwd)/build}
mkdir -p "$BUILD/bench"
cc -O2 -Wall -Wextra -o "$BUILD/bench/xmpp_floor" xmpp_floor.c
cc -O2 -Wall -Wextra -I../../common -o "$BUILD/bench/tls_mem" tls_mem.c "$BUILD/libedge.a" \
	-lssl -lcrypto
[ -x "$BUILD/bin/xmpp-core" ] || { echo "bench_xmpp: $BUILD/bin/xmpp-core not built" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EDGE_BUILD="$BUILD" exec /usr/bin/python3 bench_xmpp.py
