#!/usr/bin/env bash
# Installs the Debian 12 packages edge needs, skipping what is already
# present, in three tiers (each includes the ones before it):
#
#   deps.sh run     building and running the local stack (`make run`):
#                   the build libraries, PostgreSQL, openssl, curl
#   deps.sh check   and what the tests talk to (`make check`, .ci/run;
#                   the default): pytest, slixmpp, node for xmpp.js,
#                   coturn, Prosody, ejabberd
#   deps.sh bench   and what the benchmarks compare with (`make bench`):
#                   nginx, wrk, iptables
#
# Services those packages would start are kept from starting while they
# are installed (policy-rc.d), and the ones this script installed are
# disabled at boot afterwards (systemctl / update-rc.d): every test and
# the local stack start private instances of their own, and a daemon that
# came back at the next boot would take the stack's ports.
set -euo pipefail

tier="${1:-check}"
case "$tier" in
run|check|bench) ;;
*) echo "usage: deps.sh [run|check|bench]" >&2; exit 2 ;;
esac

PKGS=(
	# build
	build-essential pkg-config openssl
	libssl-dev libpq-dev libmicrohttpd-dev libnftnl-dev libmnl-dev libexpat1-dev
	# the local stack
	postgresql curl procps iproute2 nftables
)
if [ "$tier" != run ]; then
	PKGS+=(
		# the tests and the real peers they talk to
		python3 python3-pytest python3-slixmpp python3-aiohttp
		python3-pytest-xdist	# make integration runs test files side by side
		nodejs	# xmpp.js, the SASL2/FAST peer of test_xmpp_sasl2.py
		nginx-light	# in front of xmpp-core's web listener (test_xmpp_web_nginx.py)
		chromium	# Strophe.js over BOSH and WebSocket (test_xmpp_web_browser.py)
		coturn prosody prosody-modules
		ejabberd erlang-p1-pgsql lua-dbi-postgresql
		# test_deploy_*: systemd-analyze/-sysusers/-tmpfiles (systemd
		# need not be PID 1), make deb and its checks
		systemd debhelper dpkg-dev lintian
		tesseract-ocr	# the OCR our captchas must defeat (test_xmpp_register_ocr.py)
		prometheus	# scrapes every daemon's /metrics (test_metrics.py)
		prometheus-node-exporter	# textfile collector for portmap metrics (test_metrics_nft.py)
		lua-dbi-sqlite3	# Prosody on SQLite (test_xmpp_import_prosody.py)
	)
fi
if [ "$tier" = bench ]; then
	# the programs a user would otherwise run
	PKGS+=(nginx-light wrk iptables)
fi
# services of those packages that must not start at boot
SERVICES=(postgresql coturn prosody ejabberd nginx)
SERVICES+=(prometheus)
SERVICES+=(prometheus-node-exporter)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ "$st" == ii* ]] || missing+=("$p")
done
# Debian's expat before 2.5.0-1+deb12u2 lacks XML_SetReparseDeferralEnabled
# (the CVE-2023-52425 backport xmpp-core calls); an old base image has it.
if ! grep -q XML_SetReparseDeferralEnabled /usr/include/expat.h 2>/dev/null; then
	missing+=(libexpat1 libexpat1-dev)
fi
# npm comes with nodesource's nodejs, separately with Debian's
if [ "$tier" != run ]; then
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

# xmpp.js, Strophe.js, Converse.js for the web tests, pinned by their
# package-lock.json, into tests/integration/xmppjs/node_modules (nothing
# global).  The lock file npm ci installed from is kept next to the
# modules: a checkout whose lock file changed since (a pull that adds a
# package) installs again.
npm_deps() {
	local d
	[ "$tier" != run ] || return 0
	d="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/xmppjs"
	[ -f "$d/package-lock.json" ] || return 0
	if ! cmp -s "$d/package-lock.json" "$d/node_modules/.edge-installed-lock.json"; then
		echo "deps.sh: npm ci in $d"
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error &&
		    cp package-lock.json node_modules/.edge-installed-lock.json)
	fi
}

if [ ${#missing[@]} -eq 0 ]; then
	npm_deps
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	created_policy=1
fi
trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] ||
   [ "${CI:-}" = true ]; then
	apt-get update -qq
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# what was installed here does not come back at the next boot
for svc in "${SERVICES[@]}"; do
	installed_here=0
	for p in "${missing[@]}"; do
		case "$p" in "$svc"|"$svc"-*) installed_here=1 ;; esac
	done
	[ $installed_here = 1 ] || continue
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --quiet "$svc" 2>/dev/null || true
	fi
	if [ -e "/etc/init.d/$svc" ] && command -v update-rc.d >/dev/null; then
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
	# the unit's enablement symlinks even without a running systemd
	rm -f /etc/systemd/system/multi-user.target.wants/"$svc".service
done
npm_deps
