#!/bin/bash
# bench_import — `xmppctl import ejabberd` rate (issue 16): ejabberd's
# pg.new.sql filled by SQL with ACCOUNTS accounts (default 10000), each
# with 100 roster items and 1000 archived messages, imported into a fresh
# xmpp-core database on the same private PostgreSQL cluster.  Prints rows,
# seconds, rows/s and both databases' sizes.
#   EDGE_BUILD=build ACCOUNTS=1000 bash tests/bench/bench_import.sh [--quick]
# --quick: 100 accounts (a check that it runs).  The Prosody import and
# the XEP-0227 round trip: bench_import_prosody.sh.
set -eu
ACCOUNTS=${ACCOUNTS:-10000}
[ "${1:-}" = "--quick" ] && ACCOUNTS=100
BUILD=${EDGE_BUILD:-$PWD/build}
PGBIN=/usr/lib/postgresql/15/bin
D=$(mktemp -d /tmp/edge-bench-import-XXXXXX)
chown postgres "$D"
trap 'runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -m fast stop >/dev/null 2>&1 || true; rm -rf $D' EXIT
runuser -u postgres -- $PGBIN/initdb -D $D/data -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -l $D/log -w -o "-k $D -c listen_addresses= -c port=55499 -c fsync=off -c synchronous_commit=off -c shared_buffers=128MB" start >/dev/null
P="$PGBIN/psql -h $D -p 55499 -U postgres -q -v ON_ERROR_STOP=1"
$P -d postgres -c "CREATE DATABASE ej" -c "CREATE DATABASE xc"
$P -d ej -f /usr/share/ejabberd/sql/pg.new.sql
t0=$(date +%s.%N)
$P -d ej <<SQL
INSERT INTO users (username, server_host, password, serverkey, salt, iterationcount)
  SELECT 'u' || i, 'localhost', 'eW716XAqPTyX0wArs5l7eN9/UAY=', '8GXVGIdYYlWZOS1UluuPm8L+98E=',
         '5qRs7X0Ew66L/u+PDOwYKg==', 4096 FROM generate_series(1, $ACCOUNTS) i;
INSERT INTO rosterusers (username, server_host, jid, nick, subscription, ask, askmessage, server, subscribe, type)
  SELECT 'u' || i, 'localhost', 'c' || j || '@example.org', 'Contact ' || j, 'B', 'N', '', 'N', '', 'item'
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 100) j;
INSERT INTO rostergroups (username, server_host, jid, grp)
  SELECT 'u' || i, 'localhost', 'c' || j || '@example.org', 'Group ' || (j % 5)
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 100) j;
INSERT INTO archive (username, server_host, timestamp, peer, bare_peer, xml, txt, kind, nick)
  SELECT 'u' || i, 'localhost', 1700000000000000 + i * 1000000 + j, 'c' || (j % 100) || '@example.org/r',
         'c' || (j % 100) || '@example.org',
         '<message xmlns=''jabber:client'' to=''u' || i || '@localhost'' from=''c' || (j % 100) ||
         '@example.org/r'' type=''chat'' id=''m' || j || '''><body>message number ' || j ||
         ' of a benchmark archive</body></message>', 'message', 'chat', ''
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 1000) j;
ANALYZE;
SQL
t1=$(date +%s.%N)
cat > $D/x.toml <<TOML
hosts = ["localhost"]
[database]
conninfo = "host=$D port=55499 dbname=xc user=postgres"
[tls]
cert_file = "$D/cert.pem"
key_file = "$D/key.pem"
[c2s]
listen = ["127.0.0.1:45299"]
TOML
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout $D/key.pem -out $D/cert.pem 2>/dev/null
chmod 600 $D/key.pem
$BUILD/bin/xmppctl -c $D/x.toml init-db
t2=$(date +%s.%N)
$BUILD/bin/xmppctl -c $D/x.toml import ejabberd --from "host=$D port=55499 dbname=ej user=postgres" 2>$D/import.err
t3=$(date +%s.%N)
$P -d xc -c "VACUUM ANALYZE" >/dev/null
echo "accounts: $ACCOUNTS; source rows generated in $(echo "$t1 - $t0" | bc) s"
echo "import: $(echo "$t3 - $t2" | bc) s"
$P -d postgres -At -c "SELECT datname, pg_size_pretty(pg_database_size(datname)) FROM pg_database WHERE datname IN ('ej', 'xc')"
tail -1 $D/import.err
