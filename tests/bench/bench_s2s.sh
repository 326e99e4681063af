#!/usr/bin/env bash
# Federation: xmpp-core<->xmpp-core (dialback, and SASL EXTERNAL with a
# lab CA) against Prosody<->Prosody and ejabberd<->ejabberd on loopback:
# link set-up time, RSS per idle link, CPU per message on each side and
# p50/p99 latency across one link.  See bench_s2s.py for the knobs
# (XMPP_BENCH_MESSAGES, XMPP_BENCH_S2S_DOMAINS, XMPP_BENCH_ONLY).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${EDGE_BUILD:-$(cd ../.. && pwd)/build}
[ -x "$BUILD/bin/xmpp-core" ] || { echo "bench_s2s: $BUILD/bin/xmpp-core not built" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EDGE_BUILD="$BUILD" exec /usr/bin/python3 bench_s2s.py
