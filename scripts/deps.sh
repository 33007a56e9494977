#!/usr/bin/env bash
# Installs the Debian 12 packages ssechat needs; a no-op when all are present.
#   scripts/deps.sh run    what building and running the server needs
#   scripts/deps.sh test   that, plus what the tests need
set -euo pipefail
cd "$(dirname "$0")/.."
lists=(scripts/debian-packages-run.txt)
[ "${1:-test}" = "test" ] && lists+=(scripts/debian-packages-test.txt)
mapfile -t pkgs < <(cat "${lists[@]}" | grep -v '^\s*#' | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Debian's nodejs comes without npm (NodeSource's includes it).
[ "${1:-test}" = "test" ] && ! command -v npm >/dev/null 2>&1 && missing+=(npm)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ((${#missing[@]})); then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
