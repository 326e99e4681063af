#!/usr/bin/env bash
# Installs the Debian 12 packages edge needs to build, run and test, skipping
# what is already present.  Used by `make run`, `make check` and .ci/run.
# Services that packages would start on install (postgresql, nginx, coturn,
# prosody) are kept from starting: tests start their own private instances.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config openssl
	libssl-dev libpq-dev libmicrohttpd-dev libnftnl-dev libmnl-dev libexpat1-dev
	# local stack and tests
	postgresql curl procps iproute2 nftables
	python3 python3-pytest python3-slixmpp python3-aiohttp
	nodejs	# xmpp.js, the SASL2/FAST peer of test_xmpp_sasl2.py
	coturn prosody prosody-modules
	# benchmarks: the programs a user would otherwise run
	nginx-light wrk iptables ejabberd erlang-p1-pgsql lua-dbi-postgresql
)

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
command -v npm >/dev/null 2>&1 || missing+=(npm)

# xmpp.js for test_xmpp_sasl2.py, pinned by its package-lock.json, into
# tests/integration/xmppjs/node_modules (nothing global)
npm_deps() {
	local d
	d="$(cd "$(dirname "$0")/.." && pwd)/tests/integration/xmppjs"
	if [ -f "$d/package-lock.json" ] && [ ! -d "$d/node_modules/@xmpp/client" ]; then
		echo "deps.sh: npm ci in $d"
		(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
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
npm_deps
