#!/usr/bin/env bash
# bench_portmap: time to install 1, 100 and 1000 forwards (each: IPv4 TCP,
# prerouting + output DNAT) with `portmap apply` over a previous version of
# them, side by side with what an admin would otherwise run for the same
# change:
#   nft -f          the text `portmap check` prints, as an atomic replace
#                   (table; delete table; table { ... }) — the same change
#   iptables-nft-restore   the equivalent nat table (PREROUTING + OUTPUT DNAT)
# Each figure is the median of several runs in a private network namespace.
# Ratios > 1 mean portmap is faster.
set -euo pipefail

BIN=${EDGE_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}/bin
RUNS=${BENCH_RUNS:-7}
NS=edge-bench-pm-$$
TMP=$(mktemp -d /tmp/edge-bench-portmap.XXXXXX)

if [ "$(id -u)" != 0 ] || ! ip netns add "$NS" 2>/dev/null; then
	echo "bench_portmap: skipped (needs root and network namespaces)"
	exit 0
fi
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
inns() { ip netns exec "$NS" "$@"; }
have_ipt=1
command -v iptables-nft-restore >/dev/null || have_ipt=0

gen() {	# gen N V: portmap config, nft file, iptables file (variant V: ports)
	local n=$1 v=$2 i f="$TMP/$1-$2"
	: > "$f.toml"
	{
		echo "*nat"
		echo ":PREROUTING ACCEPT [0:0]"
		echo ":INPUT ACCEPT [0:0]"
		echo ":OUTPUT ACCEPT [0:0]"
		echo ":POSTROUTING ACCEPT [0:0]"
	} > "$f.rules"
	for ((i = 0; i < n; i++)); do
		printf '[[forward]]\nname = "f%d"\nlisten = ["192.0.2.2"]\nport = %d\nto = ["192.0.2.1"]\nto_port = %d\n\n' \
			"$i" $((10000 + i)) $((30000 + i + v)) >> "$f.toml"
		for chain in PREROUTING OUTPUT; do
			printf -- '-A %s -d 192.0.2.2/32 -p tcp -m tcp --dport %d -m comment --comment f%d -j DNAT --to-destination 192.0.2.1:%d\n' \
				"$chain" $((10000 + i)) "$i" $((30000 + i + v)) >> "$f.rules"
		done
	done
	echo "COMMIT" >> "$f.rules"
	{
		echo "table inet portmap"
		echo "delete table inet portmap"
		"$BIN/portmap" -c "$f.toml" check | grep -v '^#'
	} > "$f.nft"
}

# Times commands inside the namespace (one `ip netns exec` for the lot, so
# its own start-up cost is not in the figures): median of RUNS runs, in ms.
# Every argument "%" is replaced by A and B in turn, so each run is a real
# change (portmap leaves a table that already matches alone).
median_ms() {	# median_ms A B CMD...
	inns /usr/bin/python3 - "$RUNS" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, alt, argv = int(sys.argv[1]), sys.argv[2:4], sys.argv[4:]
t = []
for i in range(runs):
    cmd = [alt[i % 2] if a == "%" else a for a in argv]
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t.append((time.perf_counter() - t0) * 1000)
print("%.2f" % statistics.median(t))
PY
}

printf '%-9s %11s %11s %11s %16s %8s %8s\n' forwards "portmap ms" "unchanged" \
	"nft -f ms" "iptables-nft ms" "nft/pm" "ipt/pm"
for n in 1 100 1000; do
	gen "$n" 0
	gen "$n" 1
	A="$TMP/$n-0" B="$TMP/$n-1"
	inns "$BIN/portmap" -c "$A.toml" apply 2>/dev/null	# warm-up (modules)
	pm=$(median_ms "$B.toml" "$A.toml" "$BIN/portmap" -c % apply)
	same=$(median_ms "$A.toml" "$A.toml" "$BIN/portmap" -c % apply)
	inns "$BIN/portmap" -c "$A.toml" flush 2>/dev/null
	inns nft -f "$A.nft"
	nf=$(median_ms "$B.nft" "$A.nft" nft -f %)
	inns nft delete table inet portmap
	if [ $have_ipt = 1 ]; then
		inns iptables-nft-restore "$A.rules"
		ipt=$(median_ms "$B.rules" "$A.rules" iptables-nft-restore %)
		inns nft flush ruleset
		r_ipt=$(awk -v a="$ipt" -v b="$pm" 'BEGIN {printf "%.2f", a/b}')
	else
		ipt="n/a"
		r_ipt="n/a"
	fi
	r_nft=$(awk -v a="$nf" -v b="$pm" 'BEGIN {printf "%.2f", a/b}')
	printf '%-9s %11s %11s %11s %16s %8s %8s\n' "$n" "$pm" "$same" "$nf" "$ipt" \
		"$r_nft" "$r_ipt"
done
echo "(each: median of $RUNS runs in a private namespace, process start included,"
echo " alternating between two rulesets so every run changes every rule;"
echo " portmap and nft -f replace the table atomically, iptables-nft-restore"
echo " replaces the nat table; ratios > 1: portmap faster.  'unchanged':"
echo " portmap apply of the ruleset already in place (read back, compared, left"
echo " alone).  Small sizes are dominated by a kernel wait every tool pays:"
echo " closing a netlink socket after rules were replaced waits for"
echo " nf_tables' RCU-deferred destroy work, a few jiffies)"
