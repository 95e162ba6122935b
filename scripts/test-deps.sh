#!/usr/bin/env bash
# Installs the external programs the test suite runs for real: the Prometheus
# server and promtool (Debian's prometheus package), and headless Chromium
# (Debian's chromium package) for the report's browser test. Idempotent.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deps: missing ${need[*]}; run as root or install them: apt-get install ${need[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
mapfile -t pkgs < <(printf '%s\n' "${need[@]}" | sort -u)
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
# The Debian package starts a system service; the tests start their own servers.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
