#!/usr/bin/env bash
# CI smoke of bench/run.sh --storm at a small size: the load tool's storm mode against a real
# server restarted in between. Every stream must resume exactly (the tool exits 1 otherwise)
# and the store must have been read once per room, never per stream. No timing is judged.
# Usage: storm_smoke.sh BUILD_DIR
set -euo pipefail
BIN=$1
WORK=$(mktemp -d /tmp/ssechat-storm-XXXXXX)
trap 'kill "$(cat "$WORK/server.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export WORK BIN PORT
cat >"$WORK/start.sh" <<'SH'
#!/usr/bin/env bash
"$BIN/ssechat" --port "$PORT" --threads 2 --data "$WORK/data" --publish-rate 0 \
  --max-streams-per-user 0 >>"$WORK/ssechat.log" 2>&1 </dev/null &
echo $! >"$WORK/server.pid"
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done
echo $!
SH
cat >"$WORK/restart.sh" <<'SH'
#!/usr/bin/env bash
kill "$(cat "$WORK/server.pid")"
while kill -0 "$(cat "$WORK/server.pid")" 2>/dev/null; do sleep 0.05; done
exec "$WORK/start.sh"
SH
chmod +x "$WORK/start.sh" "$WORK/restart.sh"
"$WORK/start.sh" >/dev/null
out=$("$BIN/ssechat-bench" --port "$PORT" --storm 10 --restart "$WORK/restart.sh" --rooms 20 \
  --messages 600 --connections 4 --subscribers 400 --ramp 2000 --max-seconds 60 \
  --sub-path '/rooms/storm{room}/events?presence=0&id=s{sub}' \
  --pub-path '/rooms/storm{room}/messages?id=bench' 2>"$WORK/bench.err") || {
  cat "$WORK/bench.err" "$WORK/ssechat.log" >&2; echo "$out" >&2; exit 1; }
echo "$out"
grep -q '"exact":400,' <<<"$out"
grep -q '"store_reads_room_load":20,' <<<"$out" || { echo "rooms were read more than once" >&2; exit 1; }
grep -q '"store_reads_replay":0,' <<<"$out" || { echo "streams read the store one by one" >&2; exit 1; }
