#!/usr/bin/env bash
# upload-gw against nginx from Debian on the same files, same machine:
#   GET  1 MiB files, concurrency 1 and 16 (wrk, keep-alive; nginx sendfile)
#   PUT  1 MiB files, concurrency 1 and 16 (unique signed URLs; nginx dav)
#   PUT + GET of one 1 GiB file (curl), and each server's peak RSS.
# Prints MiB/s side by side and upload-gw/nginx ratios.  upload-gw runs
# with its defaults, durable: a 201 only once the file's data and its
# directory entry are on disk (nginx never fsyncs); the "not durable"
# lines are a second upload-gw instance with fsync = false, which
# promises what nginx promises.  All servers run side by side; each case
# runs ROUNDS times alternating between them and the median round counts,
# which keeps other load on a shared machine from deciding the ratio; the
# range is that of the per-round ratios (each round's figures measured
# back to back).
# Durability is only measured on a disk: the files live in BENCH_DIR
# (default /var/tmp), whose filesystem is printed, and tmpfs is refused
# (where fsync costs nothing) unless ALLOW_TMPFS=1.  A "disk" line gives
# what the disk itself sustains durably (dd conv=fdatasync, and the
# latency of one 4 KiB O_DSYNC write), the ceiling for durable PUTs.
# Env: DURATION (s per wrk run, default 3), ROUNDS (default 3), BIG_MIB
# (default 1024), BENCH_DIR, GW_THREADS, GW_EXTRA (extra upload-gw config
# lines).
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

BENCH_DIR=${BENCH_DIR:-/var/tmp}
FSTYPE=$(findmnt -no FSTYPE -T "$BENCH_DIR" 2>/dev/null || stat -f -c %T "$BENCH_DIR")
FSDEV=$(findmnt -no SOURCE -T "$BENCH_DIR" 2>/dev/null || echo "?")
FSNOTE=""
# ext4 without a journal (no jbd2 entry): fsync still works, crash
# recovery is fsck's.
if [ "$FSTYPE" = ext4 ] && ! ls /proc/fs/jbd2 2>/dev/null | grep -q "^${FSDEV##*/}-"; then
	FSNOTE=", no journal"
fi
if [ "$FSTYPE" = tmpfs ] && [ -z "${ALLOW_TMPFS:-}" ]; then
	echo "bench_upload: $BENCH_DIR is tmpfs, where fsync is free; use a disk (BENCH_DIR)"
	exit 1
fi
TMP=$(mktemp -d "$BENCH_DIR/edge-bench-upload.XXXXXX")
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

# Signed unique upload URLs (the same list serves nginx, which ignores ?v=),
# each in a directory of its own as xmpp-core's slots are (upload/<random
# hex>/<name>): a server makes that directory and its entry durable too.
sign_urls() {	# sign_urls PREFIX COUNT > file.lua
	/usr/bin/python3 - "$1" "$2" "$SECRET" <<'PY'
import hashlib, hmac, sys
prefix, n, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
print("return {")
for i in range(n):
    p = "%s/%d/%d.bin" % (prefix, i, i)
    m = hmac.new(secret, ("%s %d" % (p, 1 << 20)).encode(), hashlib.sha256).hexdigest()
    print('"/upload/%s?v=%s",' % (p, m))
print("}")
PY
}

# What the disk itself does durably, before anything else runs.
disk_probe() {
	local t0 t1
	t0=$(date +%s.%N)
	dd if=/dev/zero of="$TMP/dd.bin" bs=1M count=512 conv=fdatasync status=none
	t1=$(date +%s.%N)
	DISK_SEQ=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 512 / (b - a) }')
	t0=$(date +%s.%N)
	dd if=/dev/zero of="$TMP/dd.bin" bs=4k count=200 oflag=dsync status=none
	t1=$(date +%s.%N)
	DISK_LAT=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1e6 / 200 }')
	rm -f "$TMP/dd.bin"
}
disk_probe

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
# Per-round ratios of a to b (both recorded in round order): "min-max".
ratio_range() {	# ratio_range KEY_A KEY_B
	paste -d' ' <(tr ' ' '\n' <<<"${R[$1]}" | grep .) <(tr ' ' '\n' <<<"${R[$2]}" | grep .) |
		awk '$2 > 0 { r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r }
		    END { printf "%.2f-%.2f", lo, hi }'
}
declare -A RANGE
for a in gw gwns; do
	for c in put1 put16 bigput; do RANGE[$a,$c]=$(ratio_range "$a,$c" "ngx,$c"); done
done
for c in get1 get16 bigget; do RANGE[gw,$c]=$(ratio_range "gw,$c" "ngx,$c"); done
for c in put1 put16 bigput; do RANGE[dur,$c]=$(ratio_range "gw,$c" "gwns,$c"); done
for k in "${!R[@]}"; do R[$k]=$(median "${R[$k]}"); done
R[gw,rss]=$(peak_rss "$GW_MAIN")
R[ngx,rss]=$(peak_rss "$NGX_PID")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\nfiles on %s (%s on %s%s); disk alone, durably: %s MiB/s sequential\n' \
	"$BENCH_DIR" "$FSTYPE" "$FSDEV" "$FSNOTE" "$DISK_SEQ"
printf '(512 MiB, dd conv=fdatasync), %s us per 4 KiB O_DSYNC write; load average %s\n' \
	"$DISK_LAT" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s rounds of %ss, median round; range = per-round ratios\n' "$ROUNDS" "$DURATION"
printf '\n%-36s %12s %12s %7s %11s\n' "upload-gw vs nginx $(nginx -v 2>&1 | sed 's/.*\///')" "upload-gw" "nginx" "ratio" "range"
row() { printf '%-36s %10s/s %10s/s %6sx %11s\n' "$1" "$2 MiB" "$3 MiB" "$(ratio "$2" "$3")" "$4"; }
row "GET 1 MiB, concurrency 1" "${R[gw,get1]}" "${R[ngx,get1]}" "${RANGE[gw,get1]}"
row "GET 1 MiB, concurrency 16" "${R[gw,get16]}" "${R[ngx,get16]}" "${RANGE[gw,get16]}"
for c in put1 put16 bigput; do
	case $c in
	put1) what="PUT 1 MiB, concurrency 1" ;;
	put16) what="PUT 1 MiB, concurrency 16" ;;
	bigput) what="PUT $BIG_MIB MiB file" ;;
	esac
	row "$what, durable" "${R[gw,$c]}" "${R[ngx,$c]}" "${RANGE[gw,$c]}"
	row "$what, not durable" "${R[gwns,$c]}" "${R[ngx,$c]}" "${RANGE[gwns,$c]}"
done
row "GET $BIG_MIB MiB file (curl)" "${R[gw,bigget]}" "${R[ngx,bigget]}" "${RANGE[gw,bigget]}"
printf '%-36s %9s KiB %9s KiB %6sx\n' "peak RSS (largest process)" "${R[gw,rss]}" "${R[ngx,rss]}" \
	"$(ratio "${R[gw,rss]}" "${R[ngx,rss]}")"
printf '\n%-36s %12s %12s %7s %11s\n' "what durability costs upload-gw" "durable" "not durable" "ratio" "range"
for c in put1 put16 bigput; do
	case $c in
	put1) what="PUT 1 MiB, concurrency 1" ;;
	put16) what="PUT 1 MiB, concurrency 16" ;;
	bigput) what="PUT $BIG_MIB MiB file" ;;
	esac
	row "$what" "${R[gw,$c]}" "${R[gwns,$c]}" "${RANGE[dur,$c]}"
done
