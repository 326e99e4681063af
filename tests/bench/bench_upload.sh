#!/usr/bin/env bash
# upload-gw against nginx from Debian on the same files, same machine:
#   GET  1 MiB files, concurrency 1 and 16 (wrk, keep-alive; nginx sendfile)
#   PUT  1 MiB files, concurrency 1 and 16 (unique signed URLs; nginx dav)
#   PUT + GET of one 1 GiB file (curl), and each server's peak RSS.
# Prints MiB/s side by side and upload-gw/nginx ratios.  upload-gw runs
# with its defaults, which fsync every upload before answering 201 (nginx
# never fsyncs); the fsync=false lines are a second upload-gw instance
# configured like nginx behaves.  All servers run side by side; each case
# runs ROUNDS times alternating between them and the median round counts,
# which keeps other load on a shared machine from deciding the ratio.
# Env: DURATION (s per wrk run, default 3), ROUNDS (default 3), BIG_MIB
# (default 1024), GW_THREADS, GW_EXTRA (extra upload-gw config lines).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${EDGE_BUILD:-$REPO/build}/bin
HERE=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-3}
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
GWNS_PORT=$(free_port)
NGX_PORT=$(free_port)
printf '%s\n' "$SECRET" > "$TMP/secret"; chmod 600 "$TMP/secret"

wait_http() {	# wait_http PORT NAME LOG
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return
		sleep 0.05
	done
	echo "$2 did not start"; cat "$3"; exit 1
}

start_gw() {	# start_gw NAME PORT FSYNC -> pid in GW_PID
	local name=$1 port=$2
	cat > "$TMP/$name.toml" <<CONF
storeDir = "$TMP/gw-store"
uploadSubDir = "upload/"
listen = ["127.0.0.1:$port"]
secret_file = "$TMP/secret"
max_file_size = "2G"
threads = ${GW_THREADS:-0}
fsync = $3
${GW_EXTRA:-}
CONF
	"$BIN/upload-gw" -c "$TMP/$name.toml" 2>>"$TMP/$name.log" &
	GW_PID=$!
	pids+=("$GW_PID")
	wait_http "$port" upload-gw "$TMP/$name.log"
}

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
	wait_http "$NGX_PORT" nginx "$TMP/ngx/error.log"
}

# Peak RSS (KiB) of a process and its children (nginx workers).
peak_rss() {
	local top=0 p v
	for p in $1 $(pgrep -P "$1" || true); do
		v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		[ "${v:-0}" -gt "$top" ] && top=$v
	done
	echo "$top"
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

# Removes a bench directory; uploads wrk left in flight may still land.
clean() {
	sleep 0.2
	rm -rf "$@" 2>/dev/null || { sleep 0.5; rm -rf "$@"; }
}

declare -A R
record() {	# record KEY VALUE: one round (the median is taken at the end)
	R[$1]="${R[$1]:-} $2"
}
median() {	# median "v1 v2 ..." -> middle value
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Servers, side by side: upload-gw (defaults), upload-gw fsync=false, nginx.
start_gw gw "$GW_PORT" true
GW_MAIN=$GW_PID
start_gw gwns "$GWNS_PORT" false
start_ngx

declare -A PORT=([gw]=$GW_PORT [gwns]=$GWNS_PORT [ngx]=$NGX_PORT)
n=$((DURATION * 2500))
for round in $(seq "$ROUNDS"); do
	for s in gw ngx; do
		record "$s,get1" "$(wrk_mibs "${PORT[$s]}" 1 get)"
		record "$s,get16" "$(wrk_mibs "${PORT[$s]}" 16 get)"
	done
	for s in gw gwns ngx; do
		for c in 1 16; do
			sign_urls "$s-r$round-c$c" "$n" > "$TMP/urls.lua"
			record "$s,put$c" "$(wrk_mibs "${PORT[$s]}" "$c" put "$TMP/urls.lua")"
			clean "$TMP/gw-store/$s-r$round-c$c" "$TMP/ngx/root/upload/$s-r$round-c$c"
		done
	done
	for s in gw gwns ngx; do
		p="$s-big-r$round/big.bin"
		mac=$(printf '%s %d' "$p" $((BIG_MIB << 20)) |
			openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
		t=$(curl_secs -T "$TMP/big.bin" "http://127.0.0.1:${PORT[$s]}/upload/$p?v=$mac")
		record "$s,bigput" "$(awk -v m="$BIG_MIB" -v s="$t" 'BEGIN { printf "%.0f", m / s }')"
		if [ "$s" != gwns ]; then
			t=$(curl_secs "http://127.0.0.1:${PORT[$s]}/upload/$p")
			record "$s,bigget" "$(awk -v m="$BIG_MIB" -v s="$t" 'BEGIN { printf "%.0f", m / s }')"
		fi
		clean "$TMP/gw-store/$s-big-r$round" "$TMP/ngx/root/upload/$s-big-r$round"
	done
done
for k in "${!R[@]}"; do R[$k]=$(median "${R[$k]}"); done
R[gw,rss]=$(peak_rss "$GW_MAIN")
R[ngx,rss]=$(peak_rss "$NGX_PID")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\n%-34s %12s %12s %8s\n' "upload-gw vs nginx $(nginx -v 2>&1 | sed 's/.*\///')" "upload-gw" "nginx" "ratio"
row() { printf '%-34s %10s/s %10s/s %7sx\n' "$1" "$2 MiB" "$3 MiB" "$(ratio "$2" "$3")"; }
row "GET 1 MiB, concurrency 1" "${R[gw,get1]}" "${R[ngx,get1]}"
row "GET 1 MiB, concurrency 16" "${R[gw,get16]}" "${R[ngx,get16]}"
row "PUT 1 MiB, concurrency 1 (fsync)" "${R[gw,put1]}" "${R[ngx,put1]}"
row "PUT 1 MiB, concurrency 16 (fsync)" "${R[gw,put16]}" "${R[ngx,put16]}"
row "PUT 1 MiB, conc. 1 (fsync=false)" "${R[gwns,put1]}" "${R[ngx,put1]}"
row "PUT 1 MiB, conc. 16 (fsync=false)" "${R[gwns,put16]}" "${R[ngx,put16]}"
row "PUT $BIG_MIB MiB file (fsync)" "${R[gw,bigput]}" "${R[ngx,bigput]}"
row "PUT $BIG_MIB MiB file (fsync=false)" "${R[gwns,bigput]}" "${R[ngx,bigput]}"
row "GET $BIG_MIB MiB file (curl)" "${R[gw,bigget]}" "${R[ngx,bigget]}"
printf '%-34s %9s KiB %9s KiB %7sx\n' "peak RSS (largest process)" "${R[gw,rss]}" "${R[ngx,rss]}" \
	"$(ratio "${R[gw,rss]}" "${R[ngx,rss]}")"
