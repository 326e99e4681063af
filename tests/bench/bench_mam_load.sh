#!/usr/bin/env bash
# The message path with the archive on and off in one run (issue 18):
# light-load and saturating latency, CPU per message with PostgreSQL's
# share, rows per statement; the same loads against ejabberd and Prosody
# archiving into PostgreSQL.  See bench_mam_load.py.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 bench_mam_load.py
