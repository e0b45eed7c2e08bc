#!/usr/bin/env bash
# Installs the comparison proxies `npm run bench` measures Airlock against (Debian/Ubuntu):
# mitmproxy (another TLS-intercepting proxy) and squid (a plain CONNECT tunnel). Idempotent:
# does nothing when both are already installed. The bench skips whichever is missing.
set -euo pipefail

if command -v mitmdump >/dev/null 2>&1 && { command -v squid >/dev/null 2>&1 || [ -x /usr/sbin/squid ]; }; then
  echo "bench-deps: mitmproxy and squid already installed"
  exit 0
fi

SUDO=''
if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y mitmproxy squid
# The bench starts its own squid on a loopback port; a distribution service is not needed.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now squid >/dev/null 2>&1 || true; fi
