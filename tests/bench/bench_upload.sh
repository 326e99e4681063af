#!/usr/bin/env bash
# upload-gw against nginx from Debian on the same files, same machine:
#   GET  1 MiB files, concurrency 1 and 16 (wrk, keep-alive; nginx sendfile)
#   PUT  1 MiB files, concurrency 1 and 16 (unique signed URLs; nginx dav)
#   PUT + GET of one 1 GiB file (curl), and each server's peak RSS.
# Prints MiB/s side by side and upload-gw/nginx ratios.  upload-gw runs
# with its defaults, which fsync every upload before answering 201 (nginx
# never fsyncs); a second PUT line shows upload-gw with fsync = false.
# Env: DURATION (s per wrk run, default 4), BIG_MIB (default 1024),
# GW_EXTRA (extra upload-gw config lines, for experiments).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${EDGE_BUILD:-$REPO/build}/bin
HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-4}
BIG_MIB=${BIG_MIB:-1024}
NFILES=64
THREADS=$(nproc)
SECRET=bench-secret

for t in wrk curl nginx openssl python3; do
	command -v "$t" >/dev/null || { echo "bench_upload: $t missing (make deps)"; exit 1; }
done
[ -x "$BIN/upload-gw" ] || { echo "bench_upload: $BIN/upload-gw not built"; exit 1; }

TMP=$(mktemp -d /var/tmp/edge-bench-upload.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Shared GET files, and a 1 GiB source file.
mkdir -p "$TMP/files/get" "$TMP/gw-store" "$TMP/ngx/root/upload" "$TMP/ngx/tmp"
for i in $(seq 0 $((NFILES - 1))); do
	head -c 1048576 /dev/urandom > "$TMP/files/get/$i.bin"
done
head -c $((BIG_MIB << 20)) /dev/zero > "$TMP/big.bin"
# upload-gw never follows symlinks: share the files by hard link.
mkdir -p "$TMP/gw-store/get"
ln "$TMP/files/get/"*.bin "$TMP/gw-store/get/"

# Signed unique upload URLs (the same list serves nginx, which ignores ?v=).
sign_urls() {	# sign_urls PREFIX COUNT > file.lua
	/usr/bin/python3 - "$1" "$2" "$SECRET" <<'PY'
import hashlib, hmac, sys
prefix, n, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
print("return {")
for i in range(n):
    p = "%s/%d.bin" % (prefix, i)
    m = hmac.new(secret, ("%s %d" % (p, 1 << 20)).encode(), hashlib.sha256).hexdigest()
    print('"/upload/%s?v=%s",' % (p, m))
print("}")
PY
}

# --- servers ---------------------------------------------------------------
GW_PORT=$(free_port)
NGX_PORT=$(free_port)
printf '%s\n' "$SECRET" > "$TMP/secret"; chmod 600 "$TMP/secret"

start_gw() {	# start_gw FSYNC
	cat > "$TMP/gw.toml" <<CONF
storeDir = "$TMP/gw-store"
uploadSubDir = "upload/"
listen = ["127.0.0.1:$GW_PORT"]
secret_file = "$TMP/secret"
max_file_size = "2G"
threads = ${GW_THREADS:-$THREADS}
fsync = $1
${GW_EXTRA:-}
CONF
	"$BIN/upload-gw" -c "$TMP/gw.toml" 2>>"$TMP/gw.log" &
	GW_PID=$!
	pids+=("$GW_PID")
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/" && return
		sleep 0.05
	done
	echo "upload-gw did not start"; cat "$TMP/gw.log"; exit 1
}
stop_gw() { kill -TERM "$GW_PID"; wait "$GW_PID" || true; }

start_ngx() {
	# Workers as the invoking user, so both servers see the same files.
	local user_line=""
	[ "$(id -u)" = 0 ] && user_line="user root;"
	cat > "$TMP/ngx/nginx.conf" <<CONF
$user_line
worker_processes $THREADS;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log;
daemon off;
events { worker_connections 1024; }
http {
	access_log $TMP/ngx/access.log;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_body_temp_path $TMP/ngx/tmp;
	default_type application/octet-stream;
	server {
		listen 127.0.0.1:$NGX_PORT;
		client_max_body_size 2g;
		location /upload/get/ { alias $TMP/files/get/; }
		location /upload/ {
			root $TMP/ngx/root;
			dav_methods PUT;
			create_full_put_path on;
			dav_access user:rw group:r all:r;
		}
	}
}
CONF
	nginx -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" -e "$TMP/ngx/error.log" &
	NGX_PID=$!
	pids+=("$NGX_PID")
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$NGX_PORT/" && return
		sleep 0.05
	done
	echo "nginx did not start"; cat "$TMP/ngx/error.log"; exit 1
}
stop_ngx() { kill -QUIT "$NGX_PID"; wait "$NGX_PID" || true; }

# Peak RSS (KiB) of a process and its children (nginx workers).
peak_rss() {
	local total=0 p
	for p in $1 $(pgrep -P "$1" || true); do
		local v
		v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		[ "${v:-0}" -gt "$total" ] && total=$v
	done
	echo "$total"
}

# wrk run -> MiB/s (1 MiB per request); fails on any non-2xx answer.
wrk_mibs() {	# wrk_mibs PORT CONC MODE [URLS]
	local port=$1 conc=$2 mode=$3 urls=${4:-} out t
	t=$(( conc < THREADS ? conc : THREADS ))
	out=$(MODE=$mode URLS=$urls THREADS=$t NFILES=$NFILES wrk -t"$t" -c"$conc" \
		-d"${DURATION}s" -s "$HERE/upload_wrk.lua" "http://127.0.0.1:$port" 2>&1)
	if grep -q "Non-2xx" <<<"$out"; then
		echo "bench_upload: errors in $mode run:" >&2; echo "$out" >&2; exit 1
	fi
	awk '/Requests\/sec:/{printf "%.0f", $2}' <<<"$out"
}

curl_secs() {	# curl_secs ARGS... -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	curl -sS -f -o /dev/null "$@"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

declare -A R
run_all() {	# run_all NAME PORT
	local name=$1 port=$2 n
	R[$name,get1]=$(wrk_mibs "$port" 1 get)
	R[$name,get16]=$(wrk_mibs "$port" 16 get)
	n=$((DURATION * 4000))
	sign_urls "$name-p1" "$n" > "$TMP/urls1.lua"
	sign_urls "$name-p16" "$n" > "$TMP/urls16.lua"
	R[$name,put1]=$(wrk_mibs "$port" 1 put "$TMP/urls1.lua")
	R[$name,put16]=$(wrk_mibs "$port" 16 put "$TMP/urls16.lua")
	local p="$name-big/big.bin" mac s
	mac=$(printf '%s %d' "$p" $((BIG_MIB << 20)) | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
	s=$(curl_secs -T "$TMP/big.bin" "http://127.0.0.1:$port/upload/$p?v=$mac")
	R[$name,bigput]=$(awk -v m="$BIG_MIB" -v s="$s" 'BEGIN { printf "%.0f", m / s }')
	s=$(curl_secs "http://127.0.0.1:$port/upload/$p")
	R[$name,bigget]=$(awk -v m="$BIG_MIB" -v s="$s" 'BEGIN { printf "%.0f", m / s }')
}


start_gw true
run_all gw "$GW_PORT"
R[gw,rss]=$(peak_rss "$GW_PID")
stop_gw
rm -rf "$TMP/gw-store/gw-"*
start_gw false
n=$((DURATION * 4000))
sign_urls "gwnosync-p16" "$n" > "$TMP/urls16.lua"
R[gwns,put16]=$(wrk_mibs "$GW_PORT" 16 put "$TMP/urls16.lua")
sign_urls "gwnosync-p1" "$n" > "$TMP/urls1.lua"
R[gwns,put1]=$(wrk_mibs "$GW_PORT" 1 put "$TMP/urls1.lua")
stop_gw
rm -rf "$TMP/gw-store/gwnosync-"*

start_ngx
run_all ngx "$NGX_PORT"
R[ngx,rss]=$(peak_rss "$NGX_PID")
stop_ngx

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\n%-34s %12s %12s %8s\n' "upload-gw vs nginx $(nginx -v 2>&1 | sed 's/.*\///')" "upload-gw" "nginx" "ratio"
row() { printf '%-34s %10s/s %10s/s %7sx\n' "$1" "$2 MiB" "$3 MiB" "$(ratio "$2" "$3")"; }
row "GET 1 MiB, concurrency 1" "${R[gw,get1]}" "${R[ngx,get1]}"
row "GET 1 MiB, concurrency 16" "${R[gw,get16]}" "${R[ngx,get16]}"
row "PUT 1 MiB, concurrency 1 (fsync)" "${R[gw,put1]}" "${R[ngx,put1]}"
row "PUT 1 MiB, concurrency 16 (fsync)" "${R[gw,put16]}" "${R[ngx,put16]}"
row "PUT 1 MiB, conc. 1 (fsync=false)" "${R[gwns,put1]}" "${R[ngx,put1]}"
row "PUT 1 MiB, conc. 16 (fsync=false)" "${R[gwns,put16]}" "${R[ngx,put16]}"
row "PUT $BIG_MIB MiB file (curl)" "${R[gw,bigput]}" "${R[ngx,bigput]}"
row "GET $BIG_MIB MiB file (curl)" "${R[gw,bigget]}" "${R[ngx,bigget]}"
printf '%-34s %9s KiB %9s KiB %7sx\n' "peak RSS (largest process)" "${R[gw,rss]}" "${R[ngx,rss]}" \
	"$(ratio "${R[gw,rss]}" "${R[ngx,rss]}")"
