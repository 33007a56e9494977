#!/usr/bin/env bash
# Builds the .deb with cpack from the build folder $1, installs it with dpkg -i, checks what
# landed (binary, man page, systemd unit, defaults file) and that the installed binary runs
# and serves, then removes the package. dpkg -i needs root, as CI has: skipped (77) otherwise.
set -euo pipefail
build=$(cd "$1" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: installing a .deb needs root"
  exit 77
fi
out=$(mktemp -d /tmp/ssechat-deb-XXXXXX)
cleanup() {
  dpkg -r ssechat >/dev/null 2>&1 || true
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
deb=$(ls "$out"/ssechat_*_*.deb)
dpkg -i "$deb" >/dev/null
echo "installed $(basename "$deb")"

version=$(/usr/bin/ssechat --version)
echo "$version"
[[ "$version" =~ ^ssechat\ [0-9]+\.[0-9]+\.[0-9]+\ \(commit\ [0-9a-z-]+\)$ ]]
test -s /usr/share/man/man1/ssechat.1
grep -q '^\.TH SSECHAT 1' /usr/share/man/man1/ssechat.1
unit=/usr/lib/systemd/system/ssechat.service
for want in DynamicUser=yes StateDirectory=ssechat ProtectSystem=strict NoNewPrivileges=yes \
            PrivateTmp=yes LimitNOFILE= KillSignal=SIGTERM "ExecStart=/usr/bin/ssechat"; do
  grep -q "^$want" "$unit" || { echo "unit lacks $want"; exit 1; }
done
test -f /etc/default/ssechat
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$unit"
fi

# The installed binary serves, from a state folder as the unit would give it.
data="$out/state"
/usr/bin/ssechat --port 0 --data "$data" >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do grep -q "listening" "$out/stdout" && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out/stdout")
curl -sf "http://127.0.0.1:$port/healthz" | grep -q ok
kill -TERM "$pid"
wait "$pid"
pid=
test -f "$data/ssechat.db"
grep -q "ssechat stopped" "$out/stderr"
echo "package: 1 passed, 0 failed"
