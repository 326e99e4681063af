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
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	local deadline=$((SECONDS + 10))
	for p in "${pids[@]}"; do
		while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	exit 0
}
trap stop_all INT TERM

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
