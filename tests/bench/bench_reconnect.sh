#!/usr/bin/env bash
# A reconnect storm: server CPU and round trips per reconnect, xmpp-core's
# modern path (TLS resumption + SASL2 FAST + inline SM resume) against
# today's (full TLS + SCRAM + restart + SM resume) on xmpp-core, ejabberd
# and Prosody.  See bench_reconnect.py for the knobs
# (XMPP_BENCH_RECONNECTS, XMPP_BENCH_CONCURRENCY, XMPP_BENCH_ONLY).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${EDGE_BUILD:-$(cd ../.. && pwd)/build}
[ -x "$BUILD/bin/xmpp-core" ] || { echo "bench_reconnect: $BUILD/bin/xmpp-core not built" >&2; exit 1; }
mkdir -p "$BUILD/bench"
cc -O2 -Wall -Wextra -o "$BUILD/bench/tls_resume_floor" tls_resume_floor.c -lssl -lcrypto
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EDGE_BUILD="$BUILD" exec /usr/bin/python3 bench_reconnect.py
