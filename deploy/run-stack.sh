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
	exit 0
}
trap stop_all INT TERM

# A private PostgreSQL cluster in run/pg, on a unix socket only.  The
# server refuses to run as root, so as root it runs as the postgres user.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_DIR="$RUN/pg"
PG_SOCK="$RUN/pg-socket"
as_pg() {	# exec as postgres (setpriv execs: the PID is the server's)
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		"$@"
	fi
}
postgres_start() {
	mkdir -p "$PG_DIR" "$PG_SOCK"
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$PG_DIR" "$PG_SOCK"
		# the postgres user must be able to reach run/ to get to its dirs
		chmod o+x "$RUN"
	fi
	chmod 0700 "$PG_DIR"
	if [ ! -s "$PG_DIR/PG_VERSION" ]; then
		as_pg "$PG_BIN/initdb" -D "$PG_DIR" -A trust -U edge -E UTF8 >/dev/null
	fi
	as_pg "$PG_BIN/postgres" -D "$PG_DIR" -k "$PG_SOCK" -c listen_addresses='' \
		2> >(tee -a "$RUN/log/postgres.log" >&2) &
	pids+=($!)
	names+=(postgres)
	for _ in $(seq 100); do
		as_pg "$PG_BIN/pg_isready" -q -h "$PG_SOCK" -U edge && break
		sleep 0.1
	done
	as_pg "$PG_BIN/psql" -q -h "$PG_SOCK" -U edge -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname='edge'" | grep -q 1 ||
		as_pg "$PG_BIN/createdb" -h "$PG_SOCK" -U edge edge
	listening+=("postgres    unix socket $PG_SOCK (database edge, user edge)")
}

tls_material
listening=()

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
