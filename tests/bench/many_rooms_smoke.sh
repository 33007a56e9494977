#!/usr/bin/env bash
# CI smoke of bench/run.sh --many-rooms at a small size: users each in a few of many rooms, one
# /me/events stream each, messages at a fixed rate to random rooms; then the same on two nodes
# over Redis (a publish on one node, streams on both). Every stream must get each message of
# its rooms once (the tool counts what is missing or doubled). No timing is judged.
# Usage: many_rooms_smoke.sh BUILD_DIR
set -euo pipefail
BIN=$1
WORK=$(mktemp -d /tmp/ssechat-many-XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
ARGS=(--threads 2 --publish-rate 0 --max-streams-per-user 0)
check() {  # LABEL PORTS [extra server args]
  local out
  out=$("$BIN/ssechat-bench" --port "$2" --label "$1" --subscribers 300 --rooms 30 --member-of 3 \
    --ramp 3000 --messages 600 --rate 300 --connections 4 --max-seconds 60 \
    --sub-path '/me/events?id=s{sub}' 2>"$WORK/bench.err") || {
    cat "$WORK/bench.err" "$WORK"/*.log >&2; echo "$out" >&2; exit 1; }
  echo "$out"
  grep -q '"missing":0,' <<<"$out" || { echo "$1: messages missing" >&2; exit 1; }
  grep -q '"duplicates":0,' <<<"$out" || { echo "$1: messages doubled" >&2; exit 1; }
  grep -q '"sub_failed":0,' <<<"$out" || { echo "$1: streams refused" >&2; exit 1; }
  grep -q '"deliveries":0,' <<<"$out" && { echo "$1: nothing delivered" >&2; exit 1; }
  return 0
}

port=$(free_port)
"$BIN/ssechat" --port "$port" --data "$WORK/data" "${ARGS[@]}" >"$WORK/single.log" 2>&1 &
PIDS+=($!)
wait_port "$port"
check many_rooms_single "$port"

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$rport"
a=$(free_port) b=$(free_port)
for p in "$a" "$b"; do
  "$BIN/ssechat" --port "$p" --store redis --redis "redis://127.0.0.1:$rport" "${ARGS[@]}" \
    >"$WORK/node-$p.log" 2>&1 &
  PIDS+=($!)
  wait_port "$p"
done
check many_rooms_cluster "$a,$b"
