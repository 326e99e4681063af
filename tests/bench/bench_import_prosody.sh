#!/bin/bash
# bench_import_prosody — `xmppctl import prosody` and the XEP-0227 round
# trip (issue 16): Prosody's mod_storage_sql tables (prosody,
# prosodyarchive, as Prosody 0.12 creates them) filled by SQL with
# ACCOUNTS accounts (default 10000), each with 100 roster items and 1000
# archived messages; imported into a fresh xmpp-core database, then that
# one exported with `xmppctl export --all` and the file imported into a
# third database.  All three on one private PostgreSQL cluster.  Prints
# rows, seconds, rows/s, the databases' and the file's sizes.
#   EDGE_BUILD=build bash tests/bench/bench_import_prosody.sh [--quick]
# --quick: 100 accounts (a minute's check that it runs).
set -eu
ACCOUNTS=${ACCOUNTS:-10000}
[ "${1:-}" = "--quick" ] && ACCOUNTS=100
BUILD=${EDGE_BUILD:-$PWD/build}
PGBIN=/usr/lib/postgresql/15/bin
D=$(mktemp -d /tmp/edge-bench-pimport-XXXXXX)
chown postgres "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -m fast stop >/dev/null 2>&1 || true; rm -rf $D' EXIT
runuser -u postgres -- $PGBIN/initdb -D $D/data -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
runuser -u postgres -- $PGBIN/pg_ctl -D $D/data -l $D/log -w -o "-k $D -c listen_addresses= -c port=$PORT -c fsync=off -c synchronous_commit=off -c shared_buffers=128MB" start >/dev/null
P="$PGBIN/psql -h $D -p $PORT -U postgres -q -v ON_ERROR_STOP=1"
$P -d postgres -c "CREATE DATABASE pr" -c "CREATE DATABASE xc" -c "CREATE DATABASE xc2"
t0=$(date +%s.%N)
# the tables and indexes as Prosody 0.12's mod_storage_sql creates them
$P -d pr <<SQL
CREATE TABLE prosody (host TEXT NOT NULL, "user" TEXT NOT NULL, store TEXT NOT NULL,
  key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE UNIQUE INDEX prosody_index ON prosody (host, "user", store, key);
CREATE TABLE prosodyarchive (sort_id BIGSERIAL PRIMARY KEY, host TEXT NOT NULL,
  "user" TEXT NOT NULL, store TEXT NOT NULL, key TEXT NOT NULL, "when" INTEGER NOT NULL,
  "with" TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE UNIQUE INDEX prosodyarchive_index ON prosodyarchive (host, "user", store, key);
CREATE INDEX prosodyarchive_with_when ON prosodyarchive (host, "user", store, "with", "when");
CREATE INDEX prosodyarchive_when ON prosodyarchive (host, "user", store, "when");
INSERT INTO prosody SELECT 'localhost', 'u' || i, 'accounts', k, t, v FROM
  generate_series(1, $ACCOUNTS) i, (VALUES
  ('stored_key', 'string', '43f02ef5cc868a669709b24a6b6a405a508c40d6'),
  ('server_key', 'string', 'ed247114246efdf54df785e8b32b21e0e033c1d1'),
  ('salt', 'string', 'b173a4a1-a5b8-42e2-a088-18c3b5b78ed8'),
  ('iteration_count', 'number', '10000')) AS a(k, t, v);
INSERT INTO prosody SELECT 'localhost', 'u' || i, 'roster', 'c' || j || '@example.org', 'json',
  '{"name":"Contact ' || j || '","groups":{"Group ' || (j % 5) || '":true},"subscription":"both"}'
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 100) j;
INSERT INTO prosody SELECT 'localhost', 'u' || i, 'roster', '', 'json',
  '{"__hash":[false,{"pending":{},"version":100}]}' FROM generate_series(1, $ACCOUNTS) i;
INSERT INTO prosodyarchive (host, "user", store, key, "when", "with", type, value)
  SELECT 'localhost', 'u' || i, 'archive', md5(i || '/' || j), 1700000000 + j,
         'c' || (j % 100) || '@example.org', 'xml',
         '<message xmlns=''jabber:client'' to=''u' || i || '@localhost'' from=''c' || (j % 100) ||
         '@example.org/r'' type=''chat'' id=''m' || j || '''><body>message number ' || j ||
         ' of a benchmark archive</body></message>'
  FROM generate_series(1, $ACCOUNTS) i, generate_series(1, 1000) j;
ANALYZE;
SQL
t1=$(date +%s.%N)
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout $D/key.pem -out $D/cert.pem 2>/dev/null
chmod 600 $D/key.pem
for db in xc xc2; do
	cat > $D/$db.toml <<TOML
hosts = ["localhost"]
[database]
conninfo = "host=$D port=$PORT dbname=$db user=postgres"
[tls]
cert_file = "$D/cert.pem"
key_file = "$D/key.pem"
[c2s]
listen = ["127.0.0.1:$PORT"]
TOML
	$BUILD/bin/xmppctl -c $D/$db.toml init-db
done
t2=$(date +%s.%N)
$BUILD/bin/xmppctl -c $D/xc.toml import prosody --from "host=$D port=$PORT dbname=pr user=postgres" >$D/import.out 2>$D/import.err
t3=$(date +%s.%N)
$BUILD/bin/xmppctl -c $D/xc.toml export --all --out $D/all.xml >$D/export.out 2>$D/export.err
t4=$(date +%s.%N)
$BUILD/bin/xmppctl -c $D/xc2.toml import xep0227 $D/all.xml >$D/import2.out 2>$D/import2.err
t5=$(date +%s.%N)
$P -d xc -c "VACUUM ANALYZE" >/dev/null
$P -d xc2 -c "VACUUM ANALYZE" >/dev/null
rows=$(tail -1 $D/import.out | cut -d' ' -f1)
echo "accounts: $ACCOUNTS; source rows generated in $(echo "$t1 - $t0" | bc) s"
echo "import prosody: $(echo "$t3 - $t2" | bc) s, $rows rows, $(echo "$rows / ($t3 - $t2)" | bc) rows/s"
echo "export --all: $(echo "$t4 - $t3" | bc) s, $(du -h $D/all.xml | cut -f1) of XEP-0227"
echo "import xep0227: $(echo "$t5 - $t4" | bc) s, $(echo "$rows / ($t5 - $t4)" | bc) rows/s"
$P -d postgres -At -c "SELECT datname, pg_size_pretty(pg_database_size(datname)) FROM pg_database WHERE datname IN ('pr', 'xc', 'xc2') ORDER BY 1"
grep -c "skipped\|note:" $D/import.err $D/import2.err || true
