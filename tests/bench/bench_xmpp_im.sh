#!/usr/bin/env bash
# The modern IM set vs ejabberd (PostgreSQL) and Prosody (SQL): messages/s
# with carbons and archiving, MAM query latency on a large archive, XEP-0198
# resume latency.  See bench_xmpp_im.py.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 bench_xmpp_im.py
