#!/usr/bin/env bash
# Group chat vs ejabberd (mod_muc + mod_mam on PostgreSQL) and Prosody
# (muc + mod_muc_mam on SQL): fan-out to rooms of 100 and 500 occupants
# next to a TCP loopback floor, join of a 500-occupant room, RSS per
# occupant, start-up with 10,000 persistent rooms.  See bench_muc.py for
# the knobs (XMPP_BENCH_MUC_SECONDS, XMPP_BENCH_ONLY, ...).
set -euo pipefail
cd "$(dirname "$0")"
BUILD=${EDGE_BUILD:-$(cd ../.. && pwd)/build}
mkdir -p "$BUILD/bench"
cc -O2 -Wall -Wextra -o "$BUILD/bench/xmpp_floor" xmpp_floor.c
cc -O2 -Wall -Wextra -o "$BUILD/bench/muc_load" muc_load.c -lssl -lcrypto
[ -x "$BUILD/bin/xmpp-core" ] || { echo "bench_muc: $BUILD/bin/xmpp-core not built" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
EDGE_BUILD="$BUILD" exec /usr/bin/python3 bench_muc.py
