#!/usr/bin/env bash
# bench_portmap: time to install 1, 100 and 1000 forwards (each: IPv4 TCP,
# prerouting + output DNAT) with `portmap apply`, side by side with what an
# admin would otherwise run for the same ruleset:
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

gen() {	# gen N: portmap config, nft file, iptables file
	local n=$1 i
	: > "$TMP/pm-$n.toml"
	{
		echo "*nat"
		echo ":PREROUTING ACCEPT [0:0]"
		echo ":INPUT ACCEPT [0:0]"
		echo ":OUTPUT ACCEPT [0:0]"
		echo ":POSTROUTING ACCEPT [0:0]"
	} > "$TMP/ipt-$n.rules"
	for ((i = 0; i < n; i++)); do
		printf '[[forward]]\nname = "f%d"\nlisten = ["192.0.2.2"]\nport = %d\nto = ["192.0.2.1"]\nto_port = %d\n\n' \
			"$i" $((10000 + i)) $((30000 + i)) >> "$TMP/pm-$n.toml"
		for chain in PREROUTING OUTPUT; do
			printf -- '-A %s -d 192.0.2.2/32 -p tcp -m tcp --dport %d -m comment --comment f%d -j DNAT --to-destination 192.0.2.1:%d\n' \
				"$chain" $((10000 + i)) "$i" $((30000 + i)) >> "$TMP/ipt-$n.rules"
		done
	done
	echo "COMMIT" >> "$TMP/ipt-$n.rules"
	{
		echo "table inet portmap"
		echo "delete table inet portmap"
		"$BIN/portmap" -c "$TMP/pm-$n.toml" check | grep -v '^#'
	} > "$TMP/nft-$n.nft"
}

# Times commands inside the namespace (one `ip netns exec` for the lot, so
# its own start-up cost is not in the figures): median of RUNS runs, in ms.
median_ms() {
	inns /usr/bin/python3 - "$RUNS" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, argv = int(sys.argv[1]), sys.argv[2:]
t = []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t.append((time.perf_counter() - t0) * 1000)
print("%.2f" % statistics.median(t))
PY
}

printf '%-9s %12s %12s %16s %10s %10s\n' forwards "portmap ms" "nft -f ms" \
	"iptables-nft ms" "nft/pm" "ipt/pm"
for n in 1 100 1000; do
	gen "$n"
	inns "$BIN/portmap" -c "$TMP/pm-$n.toml" apply 2>/dev/null	# warm-up (modules)
	pm=$(median_ms "$BIN/portmap" -c "$TMP/pm-$n.toml" apply)
	inns "$BIN/portmap" -c "$TMP/pm-$n.toml" flush 2>/dev/null
	inns nft -f "$TMP/nft-$n.nft"
	nf=$(median_ms nft -f "$TMP/nft-$n.nft")
	inns nft delete table inet portmap
	if [ $have_ipt = 1 ]; then
		ipt=$(median_ms iptables-nft-restore "$TMP/ipt-$n.rules")
		inns nft flush ruleset
		r_ipt=$(awk -v a="$ipt" -v b="$pm" 'BEGIN {printf "%.2f", a/b}')
	else
		ipt="n/a"
		r_ipt="n/a"
	fi
	r_nft=$(awk -v a="$nf" -v b="$pm" 'BEGIN {printf "%.2f", a/b}')
	printf '%-9s %12s %12s %16s %10s %10s\n' "$n" "$pm" "$nf" "$ipt" "$r_nft" "$r_ipt"
done
echo "(each: median of $RUNS runs in a private namespace, process start included;"
echo " portmap and nft -f replace the table atomically, iptables-nft-restore"
echo " replaces the nat table; ratios > 1: portmap faster.  At 1 forward all"
echo " three wait the same few jiffies in the kernel: closing a netlink socket"
echo " after rules were replaced waits for nf_tables' RCU-deferred destroy work)"
