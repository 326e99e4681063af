#!/usr/bin/env bash
# The web transports: xmpp-core's WebSocket and BOSH vs its own TCP+TLS
# c2s, Prosody's mod_websocket / mod_bosh and ejabberd's mod_bosh: RSS per
# idle session, CPU per delivered message.  See bench_web.py.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 bench_web.py
