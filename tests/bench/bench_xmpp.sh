#!/usr/bin/env bash
# xmpp-core vs Prosody (and ejabberd when installed): memory per idle TLS
# session, CPU per login, CPU per delivered message.  See bench_xmpp.py.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 bench_xmpp.py
