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
# ports from the OS: the bench may run beside tests and other benches
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
C2S=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -m fast stop >/dev/null 2>&1 || true; rm -rf $D' EXIT
runuser -u postgres -- $PGBIN/initdb -D $D/data -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -l $D/log -w -o "-k $D -c listen_addresses= -c port=$PORT -c fsync=off -c synchronous_commit=off -c shared_buffers=128MB" start >/dev/null
P="$PGBIN/psql -h $D -p $PORT -U postgres -q -v ON_ERROR_STOP=1"
$P -d postgres -c "CREATE DATABASE ej" -c "CREATE DATABASE xc"
$P -d ej -f /usr/share/ejabberd/sql/pg.new.sql
t0=$(date +%s.%N)
# the source's secondary indexes are dropped for the load and made again
# after it (faster than growing them row by row; the import and the
# sizes see them as ejabberd made them)
$P -d ej <<SQL
CREATE TEMP TABLE idx AS SELECT indexname, indexdef FROM pg_indexes
  WHERE tablename IN ('rosterusers', 'rostergroups', 'archive') AND indexdef NOT LIKE '%UNIQUE%';
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexname FROM idx LOOP EXECUTE 'DROP INDEX ' || quote_ident(r.indexname); END LOOP;
END \$\$;
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
  SELECT 'u' || i, 'localhost', 1700000000000000 + i::bigint * 1000000 + j, 'c' || (j % 100) || '@example.org/r',
         'c' || (j % 100) || '@example.org',
         '<message xmlns=''jabber:client'' to=''u' || i || '@localhost'' from=''c' || (j % 100) ||
         '@example.org/r'' type=''chat'' id=''m' || j || '''><body>message number ' || j ||
         ' of a benchmark archive</body></message>', 'message', 'chat', ''
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 1000) j;
DO \$\$ DECLARE r record; BEGIN
  FOR r IN SELECT indexdef FROM idx LOOP EXECUTE r.indexdef; END LOOP;
END \$\$;
ANALYZE;
SQL
t1=$(date +%s.%N)
cat > $D/x.toml <<TOML
hosts = ["localhost"]
[database]
conninfo = "host=$D port=$PORT dbname=xc user=postgres"
[tls]
cert_file = "$D/cert.pem"
key_file = "$D/key.pem"
[c2s]
listen = ["127.0.0.1:$C2S"]
TOML
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout $D/key.pem -out $D/cert.pem 2>/dev/null
chmod 600 $D/key.pem
$BUILD/bin/xmppctl -c $D/x.toml init-db
t2=$(date +%s.%N)
$BUILD/bin/xmppctl -c $D/x.toml import ejabberd --from "host=$D port=$PORT dbname=ej user=postgres" >$D/import.out 2>$D/import.err
t3=$(date +%s.%N)
$P -d ej -c "VACUUM ANALYZE" >/dev/null
$P -d xc -c "VACUUM ANALYZE" >/dev/null
rows=$(tail -1 $D/import.out | cut -d' ' -f1)
echo "accounts: $ACCOUNTS; source rows generated in $(echo "$t1 - $t0" | bc) s"
echo "import ejabberd: $(echo "$t3 - $t2" | bc) s, $rows rows, $(echo "$rows / ($t3 - $t2)" | bc) rows/s"
cat $D/import.out
$P -d postgres -At -c "SELECT datname, pg_size_pretty(pg_database_size(datname)) FROM pg_database WHERE datname IN ('ej', 'xc') ORDER BY 1"
echo "source indexes on rosterusers, rostergroups, archive: $($P -d ej -At -c "SELECT count(*) FROM pg_indexes WHERE tablename IN ('rosterusers', 'rostergroups', 'archive')")"
grep -c "skipped" $D/import.err || true
