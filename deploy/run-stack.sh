#!/usr/bin/env bash
# make run: the local stack in the foreground, state under ./run/.
#
# Generates once: run/secrets/* (mode 0600), a self-signed CA and a
# certificate for localhost under run/tls/, one config per daemon under
# run/etc/.  Starts every built daemon in this process group, prints what
# listens where, and on Ctrl-C / SIGTERM stops them all (each daemon exits
# within 10 s).  Ports are the reference host's (see DESIGN.md).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${EDGE_BUILD:-$REPO/build}/bin
RUN=${EDGE_RUN:-$REPO/run}

mkdir -p "$RUN"/{secrets,etc,tls,log,upload}
chmod 0700 "$RUN/secrets"

secret() {	# secret NAME: create run/secrets/NAME once, print its path
	local f="$RUN/secrets/$1"
	if [ ! -s "$f" ]; then
		( umask 077; openssl rand -hex 32 > "$f" )
	fi
	chmod 0600 "$f"
	echo "$f"
}

tls_material() {
	local d="$RUN/tls"
	[ -s "$d/localhost.pem" ] && return
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=edge local CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout "$d/localhost.key" -out "$d/localhost.csr" >/dev/null 2>&1
	printf 'subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1,IP:::1\n' > "$d/ext.cnf"
	openssl x509 -req -in "$d/localhost.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 3650 -extfile "$d/ext.cnf" -out "$d/localhost.crt" >/dev/null 2>&1
	cat "$d/localhost.crt" "$d/ca.pem" > "$d/localhost.pem"
	chmod 0600 "$d/ca.key" "$d/localhost.key"
}

pids=()
names=()
netns=()
start() {	# start NAME ARGV...: run in this process group, stderr to log and tty
	local name=$1; shift
	"$@" 2> >(tee -a "$RUN/log/$name.log" >&2) &
	pids+=($!)
	names+=("$name")
}

stop_all() {
	trap - INT TERM
	echo
	echo "stopping: ${names[*]}"
	# daemons first; postgres gets SIGINT (fast shutdown) once they are gone
	for i in "${!pids[@]}"; do
		[ "${names[$i]}" = postgres ] || kill -TERM "${pids[$i]}" 2>/dev/null || true
	done
	for i in "${!pids[@]}"; do
		[ "${names[$i]}" = postgres ] || continue
		local d=$((SECONDS + 5))
		for j in "${!pids[@]}"; do
			[ "${names[$j]}" = postgres ] && continue
			while kill -0 "${pids[$j]}" 2>/dev/null && [ $SECONDS -lt $d ]; do sleep 0.1; done
		done
		kill -INT "${pids[$i]}" 2>/dev/null || true
	done
	local deadline=$((SECONDS + 10))
	for p in "${pids[@]}"; do
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
	exit 0
}
trap stop_all INT TERM

tls_material
listening=()

# --- PostgreSQL (private cluster, unix socket only) + xmpp-core ---------
# The server refuses to run as root, so as root it runs as the postgres
# user; setpriv execs it, so the PID kept is the postmaster's own.
if [ -x "$BIN/xmpp-core" ]; then
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	PGDIR="$RUN/pg"
	mkdir -p "$PGDIR"
	asroot=()
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$PGDIR"
		chmod o+x "$RUN"
		asroot=(setpriv --reuid=postgres --regid=postgres --init-groups --)
	fi
	if [ ! -s "$PGDIR/data/PG_VERSION" ]; then
		"${asroot[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres \
			-E UTF8 --locale=C >"$RUN/log/initdb.log" 2>&1
	fi
	start postgres "${asroot[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -k "$PGDIR" \
		-c listen_addresses= -c max_connections=50
	for _ in $(seq 100); do
		"$PGBIN/pg_isready" -q -h "$PGDIR" -U postgres && break
		sleep 0.1
	done
	if ! "$PGBIN/psql" -h "$PGDIR" -U postgres -d postgres -Atc \
		"SELECT 1 FROM pg_database WHERE datname = 'xmpp'" | grep -q 1; then
		"$PGBIN/createdb" -h "$PGDIR" -U postgres xmpp
	fi
	UPLOAD_SECRET=$(secret upload)
	TURN_SECRET=$(secret turn)
	cat > "$RUN/etc/xmpp-core.toml" <<CONF
hosts = ["localhost"]
control_socket = "$RUN/xmpp-core.sock"

[database]
conninfo = "host=$PGDIR dbname=xmpp user=postgres"

[tls]
cert_file = "$RUN/tls/localhost.pem"
key_file  = "$RUN/tls/localhost.key"

[c2s]
listen     = ["127.0.0.1:5222", "[::1]:5222"]
listen_tls = ["127.0.0.1:5223", "[::1]:5223"]

[registration]
enabled = true
allow_from = ["127.0.0.0/8", "::1/128"]
min_password_entropy = 0

[contact]
abuse = ["mailto:abuse@localhost"]

[upload]
url = "http://localhost:5050/upload/"
secret_file = "$UPLOAD_SECRET"
max_file_size = "100M"

[extdisco]
secret_file = "$TURN_SECRET"
ttl = "24h"

[[extdisco.service]]
type = "stun"
host = "localhost"
port = 3478
transport = "udp"

[[extdisco.service]]
type = "turn"
host = "localhost"
port = 3478
transport = "udp"

[[extdisco.service]]
type = "turn"
host = "localhost"
port = 3478
transport = "tcp"

[[extdisco.service]]
type = "turns"
host = "localhost"
port = 3443
transport = "tcp"

[proxy65]
listen = ["127.0.0.1:7777", "[::1]:7777"]
host = "localhost"

[web]
listen = ["127.0.0.1:5080", "[::1]:5080"]
websocket_url = "ws://localhost:5080/ws"
bosh_url = "http://localhost:5080/bosh"
trusted_proxies = ["127.0.0.1", "::1"]

[s2s]
enabled = true
listen = ["127.0.0.1:5269", "[::1]:5269"]
CONF
	start xmpp-core "$BIN/xmpp-core" -c "$RUN/etc/xmpp-core.toml"
	listening+=("xmpp-core   localhost c2s 5222 (STARTTLS), 5223 (direct TLS) on 127.0.0.1 and ::1; in-band registration open from loopback")
	listening+=("            add a user: $BIN/xmppctl -c $RUN/etc/xmpp-core.toml adduser you@localhost   (password on stdin)")
	listening+=("            file upload via upload.localhost -> http://localhost:5050/upload/; STUN/TURN via XEP-0215 (localhost:3478, turns 3443)")
	listening+=("            SOCKS5 file-transfer proxy proxy.localhost -> localhost:7777 (XEP-0065); MAM, PEP, push, carbons, SM on")
	listening+=("            web 5080 on 127.0.0.1 and ::1: WebSocket ws://localhost:5080/ws (RFC 7395), BOSH http://localhost:5080/bosh,")
	listening+=("            host-meta http://localhost:5080/.well-known/host-meta (and .json)")
	listening+=("            account pages http://localhost:5080/register (new account, /register/password, /register/delete)")
	listening+=("            s2s 5269 on 127.0.0.1 and ::1 (STARTTLS, dialback; a self-signed certificate federates by dialback only)")
	listening+=("postgres    unix socket in $PGDIR (psql -h $PGDIR -U postgres xmpp)")
fi

# --- upload-gw: Prosody Filer's config keys plus edge's own -------------
if [ -x "$BIN/upload-gw" ]; then
	UPLOAD_SECRET=$(secret upload)
	cat > "$RUN/etc/upload-gw.toml" <<CONF
# Prosody Filer keys
storeDir     = "$RUN/upload/"
uploadSubDir = "upload/"
# edge extras
listen       = ["127.0.0.1:5050", "[::1]:5050"]
secret_file  = "$UPLOAD_SECRET"
max_file_size = "100M"
expire_after = "30d"
CONF
	start upload-gw "$BIN/upload-gw" -c "$RUN/etc/upload-gw.toml"
	listening+=("upload-gw   http://localhost:5050/upload/  (127.0.0.1:5050, [::1]:5050)  secret: $UPLOAD_SECRET")
fi

# --- turnd: STUN/TURN 3478 udp+tcp, TURNS 3443 ---------------------------
if [ -x "$BIN/turnd" ]; then
	TURN_SECRET=$(secret turn)
	cat > "$RUN/etc/turnd.toml" <<CONF
listen      = ["127.0.0.1:3478", "[::1]:3478"]
tls_listen  = ["127.0.0.1:3443", "[::1]:3443"]
tls_cert    = "$RUN/tls/localhost.pem"
tls_key     = "$RUN/tls/localhost.key"
realm       = "localhost"
secret_file = "$TURN_SECRET"
[relay]
ports = "49152-65535"
CONF
	start turnd "$BIN/turnd" -c "$RUN/etc/turnd.toml"
	listening+=("turnd       turn:localhost:3478 (udp, tcp), turns:localhost:3443 (127.0.0.1, [::1])  REST secret: $TURN_SECRET")
fi

# --- portmap + dumbclient-redirect: they change the firewall, so they are
# shown in a private network namespace (the host's ruleset is untouched) ---
if [ -x "$BIN/portmap" ] && [ "$(id -u)" = 0 ] && ip netns add "edge-run-$$" 2>/dev/null; then
	NS="edge-run-$$"
	netns+=("$NS")
	ip -n "$NS" link set lo up
	for a in 192.0.2.1 192.0.2.2 198.51.100.1 198.51.100.2; do
		ip -n "$NS" addr add "$a/32" dev lo
	done
	cat > "$RUN/etc/portmap.toml" <<CONF
[[forward]]
name = "xmpps"
listen = ["192.0.2.2"]
port = 443
to = ["192.0.2.1"]
to_port = 5223

[[forward]]
name = "turns"
listen = ["198.51.100.2"]
port = 443
to = ["198.51.100.1"]
to_port = 3443
CONF
	ip netns exec "$NS" "$BIN/portmap" -c "$RUN/etc/portmap.toml" apply
	listening+=("portmap     netns $NS: 192.0.2.2:443 -> 192.0.2.1:5223, 198.51.100.2:443 -> 198.51.100.1:3443")
	listening+=("            ip netns exec $NS $BIN/portmap -c $RUN/etc/portmap.toml show")
	if [ -x "$BIN/dumbclient-redirect" ]; then
		cat > "$RUN/etc/dumbclient-redirect.toml" <<CONF
ports = ["5222", "5269"]
listen = ["198.51.100.1"]
target = ["192.0.2.1"]
CONF
		start dumbclient-redirect ip netns exec "$NS" "$BIN/dumbclient-redirect" \
			-c "$RUN/etc/dumbclient-redirect.toml"
		listening+=("dumbclient-redirect netns $NS: 198.51.100.1:5222/5269 -> 192.0.2.1 (nft list table inet dumbclient_redirect)")
	fi
fi

if [ ${#pids[@]} -eq 0 ]; then
	echo "run-stack: nothing built in $BIN" >&2
	exit 1
fi

sleep 0.5
echo
echo "edge local stack (state in $RUN, logs in $RUN/log/):"
for l in "${listening[@]}"; do echo "  $l"; done
echo "  CA certificate: $RUN/tls/ca.pem"
echo "Ctrl-C stops everything."

# If any daemon dies, bring the rest down too.
while :; do
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "run-stack: ${names[$i]} exited" >&2
			stop_all
		fi
	done
	sleep 1
done
