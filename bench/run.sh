#!/usr/bin/env bash
# Runs every benchmark scenario against ssechat and Nchan in turn, on loopback, with the
# server pinned to CPU 0 and the load tool to CPU 1. Each run is bounded in count and time.
# Output: bench/out/results.jsonl (one JSON line per run), a table on stdout, and
# bench/out/latency.png.
# Usage: bench/run.sh [--quick] [--no-nchan] [--cluster-only] [--changes] [--users] [--tls]
#                     [--rules] [--logins] [--prebuilt DIR]
# --changes: only what messages that change are judged by, at full size: fanout and idle
# memory against Nchan (fanout five times, the two servers taking turns, since one noisy
# minute should not land on one of them only), and edits and reactions against publishes
# (with the writer's state cache, and without it; five times each, taking turns).
# --users: only what one connection per user is judged by: 1,000 users each in 10 of 100
# rooms, on user streams (1,000 connections) and on room streams (10,000), under the same
# publish load, three times each, taking turns; and idle memory of 10,000 user streams each
# in 10 of 1,000 rooms, against 10,000 room streams over the same rooms.
# --tls: only what HTTPS and HTTP/2 are judged by: fanout to 1,000 subscribers over plain
# HTTP/1.1, HTTPS HTTP/1.1 and HTTPS HTTP/2 (100 streams per connection), and Nchan behind
# nginx with TLS (HTTP/1.1), three times each, taking turns; idle memory per HTTPS stream
# (both servers), and per HTTP/2 stream with 1 and with 100 streams per connection.
# --rules: only what room rules are judged by, everyone signed in with tokens: fanout to a
# private room of 1,000 members against a public room of 1,000 subscribers (five times each,
# taking turns), and idle memory of 1,000 streams in each.
# --logins: only what accounts are judged by: a stream's message latency at a fixed publish
# rate, quiet and while 200 clients at a time sign in (4,000 tries at most, 40 s at most),
# three times each; how the sign-ins were answered (200, 429, 503) goes in the results.
# --wait: only what --redis-replicas costs a publish: one node on a Redis master with one
# replica, publishes in a closed loop and at a fixed rate, with --redis-replicas 0 and 1,
# three times each, taking turns.
# --many-rooms: the chat workload of issue 28: 10,000 users each in 10 of 1,000 rooms, 2,000
# messages a second to random rooms (each reaches 100 users), ssechat on user streams (SQLite)
# against Nchan with each user on one multiplexed subscription of its 10 channels, three runs
# each, taking turns; then room streams (one per room per user) at 1,500 users, which is what
# this machine's 20,000 open files allow, against Nchan with one subscription per channel.
# MANY_RATE=N publishes N a second instead.
# --storm: a reconnect storm after a restart (SQLite): 30 messages in each of 1,000 rooms, the
# server restarted, then 15,000 streams (15 a room) all reconnect within a second with a
# Last-Event-ID 10 behind; each must get exactly the 10 it missed. Three runs. Reported: how
# long until every stream had resumed, and the store reads that took (from /metrics).
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=0
NCHAN=1
SINGLE=1
CHANGES=0
USERS=0
TLS=0
RULES=0
LOGINS=0
WAITING=0
STORM=0
MANY=0
SHARDING=0
ROUTING=0
REPLICAS=""  # start_cluster: with a number, a replica too, and --redis-replicas that number
SHARDS=1     # start_cluster: Redis shards (redis-server processes) the nodes spread rooms over
PREBUILT=""
while (($#)); do
  a=$1; shift
  case "$a" in
    --prebuilt) PREBUILT=$1; shift ;;
    --quick) QUICK=1 ;;
    --no-nchan) NCHAN=0 ;;
    --cluster-only) SINGLE=0 ;;
    --wait) WAITING=1; SINGLE=0; NCHAN=0 ;;
    --changes) CHANGES=1; SINGLE=0 ;;
    --users) USERS=1; SINGLE=0; NCHAN=0 ;;
    --tls) TLS=1; SINGLE=0 ;;
    --rules) RULES=1; SINGLE=0; NCHAN=0 ;;
    --logins) LOGINS=1; SINGLE=0; NCHAN=0 ;;
    --storm) STORM=1; SINGLE=0; NCHAN=0 ;;
    --many-rooms) MANY=1; SINGLE=0 ;;
    --shards) SHARDING=1; SINGLE=0; NCHAN=0 ;;
    --routing) ROUTING=1; SINGLE=0; NCHAN=0 ;;
    *) echo "usage: bench/run.sh [--quick] [--no-nchan] [--cluster-only] [--changes] [--users] [--tls] [--rules] [--logins] [--wait] [--storm] [--many-rooms] [--shards] [--routing] [--prebuilt DIR]" >&2; exit 2 ;;
  esac
done

need=(nginx gnuplot-nox redis-server)
((NCHAN)) && need+=(libnginx-mod-nchan)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
fi
scripts/deps.sh
# --prebuilt DIR: that build's binaries (the same RelWithDebInfo flags), built already.
if [ -n "$PREBUILT" ]; then
  BIN=$PREBUILT
else
  BIN=build-bench
  scripts/build.sh build-bench -DSSECHAT_TESTS=OFF >/dev/null
fi

ulimit -n "$(ulimit -Hn)"
OUT=bench/out
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
WORK=$(mktemp -d /tmp/ssechat-bench-XXXXXX)
SERVER_PID=""
MASTER_PID=""
NODE_PIDS=()
REDIS_PID=""
REDIS_PIDS=()
REPLICA_PID=""
trap 'stop_server; stop_cluster; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server on port $1 did not come up" >&2; return 1
}

start_ssechat() {
  PORT=$(free_port)
  rm -rf "$WORK/data"
  taskset -c 0 $BIN/ssechat --port "$PORT" --threads 1 --data "$WORK/data" \
    --publish-rate 0 --max-connections 30000 --max-connections-per-ip 0 --max-streams-per-user 0 "$@" >"$WORK/ssechat.log" 2>&1 &
  SERVER_PID=$!
  MASTER_PID=""
  wait_port "$PORT"
}

# start_nchan [ssl]: with ssl, the listener is TLS (HTTP/1.1: Nchan's SSE over HTTP/2 is broken).
start_nchan() {
  PORT=$(free_port)
  local listen="listen 127.0.0.1:$PORT;"
  [ "${1:-}" = ssl ] && listen="listen 127.0.0.1:$PORT ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem; ssl_protocols TLSv1.2 TLSv1.3;"
  mkdir -p "$WORK/nginx/logs"
  cat >"$WORK/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx;
  server {
    $listen
    location ~ ^/sub/([\w,]+)\$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_channel_id_split_delimiter ",";
    }
    location ~ ^/pub/(\w+)\$ {
      nchan_publisher;
      nchan_channel_id \$1;
      nchan_message_buffer_length 1000;
      nchan_message_timeout 1h;
    }
  }
}
CONF
  taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" >"$WORK/nginx.log" 2>&1 &
  MASTER_PID=$!
  wait_port "$PORT"
  SERVER_PID=$(pgrep -P "$MASTER_PID" | head -1)
}

stop_server() {
  [ -n "$MASTER_PID" ] && kill "$MASTER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "$MASTER_PID" ] && wait "$MASTER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""; MASTER_PID=""
}

# start_cluster STORE NODES: ssechat nodes on one store, unpinned (see RESULTS.md: two nodes on
# two cores measure the cluster path's cost, not scaling). PORT and SERVER_PID become
# comma lists; the bench spreads connections over the nodes and sums CPU over every process,
# redis-server included.
start_cluster() {
  local store=$1 n=$2 ports=() pids=() p
  local args=(--threads 1 --publish-rate 0 --max-connections 30000 --max-connections-per-ip 0
              --max-streams-per-user 0)
  if [ "$store" = redis ]; then
    local rport list="" s
    REDIS_PIDS=()
    for s in $(seq "$SHARDS"); do
      rport=$(free_port)
      rm -rf "$WORK/redis$s"; mkdir -p "$WORK/redis$s"
      # everysec: the AOF is written before each reply and fsynced every second, the same
      # promise as ssechat's default SQLite mode (survives a process crash, not power loss).
      redis-server --port "$rport" --bind 127.0.0.1 --dir "$WORK/redis$s" --save '' \
        --appendonly yes --appendfsync everysec --daemonize no >"$WORK/redis$s.log" 2>&1 &
      REDIS_PIDS+=($!)
      wait_port "$rport"
      list+="${list:+,}redis://127.0.0.1:$rport"
    done
    REDIS_PID=${REDIS_PIDS[0]}
    args+=(--store redis --redis "$list")
    pids+=("${REDIS_PIDS[@]}")
    if [ -n "$REPLICAS" ]; then
      local qport; qport=$(free_port)
      rm -rf "$WORK/replica"; mkdir -p "$WORK/replica"
      redis-server --port "$qport" --bind 127.0.0.1 --dir "$WORK/replica" --save '' \
        --appendonly yes --appendfsync everysec --daemonize no \
        --replicaof 127.0.0.1 "$rport" >"$WORK/replica.log" 2>&1 &
      REPLICA_PID=$!
      wait_port "$qport"
      # Attached and in sync before the first publish is timed.
      for _ in $(seq 100); do
        redis-cli -p "$rport" INFO replication | grep -q 'state=online' && break
        sleep 0.1
      done
      args+=(--redis-replicas "$REPLICAS")
      pids+=("$REPLICA_PID")
    fi
  else
    rm -rf "$WORK/data"
    args+=(--data "$WORK/data")
  fi
  for _ in $(seq "$n"); do
    p=$(free_port)
    $BIN/ssechat --port "$p" "${args[@]}" >>"$WORK/ssechat.log" 2>&1 &
    NODE_PIDS+=($!); pids+=($!); ports+=("$p")
    wait_port "$p"
  done
  PORT=$(IFS=,; echo "${ports[*]}")
  SERVER_PID=$(IFS=,; echo "${pids[*]}")
  MASTER_PID=""
}

stop_cluster() {
  for p in "${NODE_PIDS[@]}" "${REDIS_PIDS[@]}" $REPLICA_PID; do kill "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]}" "${REDIS_PIDS[@]}" $REPLICA_PID; do wait "$p" 2>/dev/null || true; done
  NODE_PIDS=(); REDIS_PIDS=(); REDIS_PID=""; REPLICA_PID=""; SERVER_PID=""
}

# CPU ticks (1/100 s, user + system) of each Redis shard, space-separated.
redis_ticks() {
  local p out=""
  for p in "${REDIS_PIDS[@]}"; do
    out+="${out:+ }$(awk '{print $14 + $15}' "/proc/$p/stat")"
  done
  echo "$out"
}

# bench SERVER SCENARIO [ssechat-bench args...]
bench() {
  local server=$1 scenario=$2; shift 2
  local paths
  if [ "$server" = nchan ]; then
    paths=(--sub-path "/sub/{room}" --pub-path "/pub/{room}" --body "{marker}" --content-type text/plain)
  else
    paths=()
  fi
  echo "-- $server / $scenario" >&2
  local pin=(taskset -c 1)
  [[ "$server" == cluster-* ]] && pin=()
  "${pin[@]}" $BIN/ssechat-bench --port "$PORT" --pid "$SERVER_PID" --label "$server/$scenario" \
    "${paths[@]}" "$@" 2>"$WORK/bench.err" | tee -a "$RESULTS" >/dev/null
  tail -5 "$WORK/bench.err" >&2
}

scale() { if ((QUICK)); then echo "$2"; else echo "$1"; fi; }
SERVERS=(ssechat)
((NCHAN)) && SERVERS+=(nchan)

# Edits and reactions need messages to change: prefill N stores N, by the user the bench
# edits as, and each run then changes each of them once (--targets N): one edit, or one
# reaction, per message, as in a chat, rather than one message piling up thousands.
prefill() { $BIN/ssechat-bench --port "$PORT" --subscribers 0 --messages "$1" --connections 16 --label prefill >/dev/null 2>&1; }
EDIT=(--method PATCH --pub-path '/rooms/{room}/messages/{n}?id=bench')
REACT=(--method PUT --pub-path '/rooms/{room}/messages/{n}/reactions/{marker}?id=bench' --body '')

if ((CHANGES)); then
  for server in "${SERVERS[@]}"; do
    start_$server
    bench "$server" idle --subscribers 10000 --ramp 4000 --messages 0 --settle 0 --max-seconds 60
    stop_server
  done
  for rep in 1 2 3 4 5; do
    for server in "${SERVERS[@]}"; do
      start_$server
      bench "$server" fanout --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120
      stop_server
    done
    for kind in edit reaction; do
      start_ssechat; prefill 2000
      if [ "$kind" = edit ]; then args=("${EDIT[@]}"); else args=("${REACT[@]}"); fi
      bench ssechat "fanout_$kind" --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 --targets 2000 "${args[@]}"
      stop_server
    done
  done
  # The *_uncached runs change the same messages with the writer's state cache off
  # (--state-cache 2), so that every change first reads its message from the store: what a
  # change to a message older than the cache's newest half costs. Five rounds, taking turns:
  # a run is about 0.3 s of server CPU, and runs of one binary differ by 3% and more.
  for rep in 1 2 3 4 5; do
    for kind in plain edit reaction edit_uncached reaction_uncached; do
      sargs=(); [[ "$kind" == *_uncached ]] && sargs=(--state-cache 2)
      start_ssechat "${sargs[@]}"; prefill 20000
      case $kind in
        plain) args=() ;;
        edit*) args=("${EDIT[@]}" --targets 20000) ;;
        reaction*) args=("${REACT[@]}" --targets 20000) ;;
      esac
      sc=publish; [ "$kind" = plain ] || sc="publish_$kind"
      bench ssechat "$sc" --subscribers 0 --messages 20000 --connections 64 --max-seconds 60 ${args[@]+"${args[@]}"}
      stop_server
    done
  done
fi

if ((RULES)); then
  SECRET=bench-rules-secret
  OWNER="Authorization: Bearer $($BIN/ssechat token --sub bench --secret "$SECRET" | head -1)"
  # A private room of bench and s0..s999; its id is the server's, so the paths are fixed.
  private_room() {
    local id
    id=$(curl -sf -X POST "http://127.0.0.1:$PORT/rooms" -H "$OWNER" \
      -d '{"visibility":"private","name":"bench"}' | sed 's/.*"room":"\([^"]*\)".*/\1/')
    for ((i = 0; i < 1000; i++)); do echo "url = \"http://127.0.0.1:$PORT/rooms/$id/members/s$i\""; done |
      curl -sf -K - -X PUT -H "$OWNER" >/dev/null
    echo "$id"
  }
  TOK=(--token-secret "$SECRET")
  for rep in 1 2 3 4 5; do
    start_ssechat --jwt-secret "$SECRET"
    bench ssechat fanout_public_signed_in --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 "${TOK[@]}"
    stop_server
    start_ssechat --jwt-secret "$SECRET"
    room=$(private_room)
    bench ssechat fanout_private_1000_members --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 "${TOK[@]}" \
      --sub-path "/rooms/$room/events?history=0&presence=0" --pub-path "/rooms/$room/messages"
    stop_server
  done
  start_ssechat --jwt-secret "$SECRET"
  bench ssechat idle_public_signed_in --subscribers 1000 --messages 0 --settle 0 --max-seconds 60 "${TOK[@]}"
  stop_server
  start_ssechat --jwt-secret "$SECRET"
  room=$(private_room)
  bench ssechat idle_private_1000_members --subscribers 1000 --messages 0 --settle 0 --max-seconds 60 "${TOK[@]}" \
    --sub-path "/rooms/$room/events?history=0&presence=0"
  stop_server
fi

if ((MANY)); then
  # MANY_RATE=N: another fixed rate (10 s of it), to compare where both servers keep up.
  rate=${MANY_RATE:-2000}
  LOAD=(--rooms 1000 --ramp 4000 --messages $((rate * 10)) --rate "$rate" --connections 8 --max-seconds 120)
  for rep in 1 2 3; do
    start_ssechat
    bench ssechat many_rooms_user_streams --subscribers 10000 --member-of 10 \
      --sub-path '/me/events?id=s{sub}' "${LOAD[@]}"
    stop_server
    # Nchan: one stream per user, multiplexing its 10 channels (nchan_channel_id_split_delimiter).
    start_nchan
    bench nchan many_rooms_multiplexed --subscribers 10000 --member-of 10 --join-path '' \
      --sub-path '/sub/{rooms}' "${LOAD[@]}"
    stop_server
  done
  for rep in 1 2 3; do
    start_ssechat
    bench ssechat many_rooms_room_streams --subscribers 15000 "${LOAD[@]}"
    stop_server
    start_nchan
    bench nchan many_rooms_room_streams --subscribers 15000 "${LOAD[@]}"
    stop_server
  done
fi

if ((STORM)); then
  # The restart the bench runs between publishing and reconnecting: the same server, data
  # and port, started again (so every room's cache is cold); prints the new pid.
  cat >"$WORK/restart.sh" <<'SH'
#!/usr/bin/env bash
set -e
kill "$(cat "$WORK/server.pid")"
while kill -0 "$(cat "$WORK/server.pid")" 2>/dev/null; do sleep 0.05; done
taskset -c 0 "$BIN/ssechat" --port "$PORT" --threads 1 --data "$WORK/data" --publish-rate 0 \
  --max-connections 30000 --max-connections-per-ip 0 --max-streams-per-user 0 \
  >>"$WORK/ssechat.log" 2>&1 </dev/null &
echo $! >"$WORK/server.pid"
for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done
echo $!
SH
  chmod +x "$WORK/restart.sh"
  export WORK BIN
  for run in 1 2 3; do
    start_ssechat
    echo "$SERVER_PID" >"$WORK/server.pid"
    export PORT
    bench ssechat "storm-$run" --storm 10 --restart "$WORK/restart.sh" \
      --rooms 1000 --messages 30000 --connections 16 --subscribers 15000 --ramp 15000 \
      --sources 16 --sub-path '/rooms/storm{room}/events?presence=0&id=s{sub}' \
      --pub-path '/rooms/storm{room}/messages?id=bench' --max-seconds 120
    SERVER_PID=$(cat "$WORK/server.pid"); MASTER_PID=""
    stop_server
  done
fi

if ((LOGINS)); then
  SECRET=bench-logins-secret
  export SSECHAT_FIRST_ADMIN_PASSWORD=bench-root-password
  TOK=(--token-secret "$SECRET")
  # ?id= is refused with accounts on: everyone is a token's sub.
  STREAM=(--subscribers 100 --messages 3000 --rate 100 --connections 2 --max-seconds 60 "${TOK[@]}"
    --sub-path '/rooms/{room}/events?history=0&presence=0' --pub-path '/rooms/{room}/messages')
  # 200 sign-ins at a time with the right password (each one a hash, none throttled), on the
  # load tool's core below it (nice 19: curl's process starts must not delay the tool's
  # reads, which would count as the server's latency); every answer's status goes to
  # $WORK/logins.
  flood() {
    seq 1 4000 | timeout 40 taskset -c 1 nice -n 19 xargs -P 200 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
      --max-time 10 -X POST "http://127.0.0.1:$PORT/auth/login" -H 'Content-Type: application/json' \
      -H 'User-Agent: bench' -d '{"user_id":"root","password":"bench-root-password"}' >"$WORK/logins" || true
  }
  for rep in 1 2 3; do
    start_ssechat --accounts --first-admin root --jwt-secret "$SECRET"
    bench ssechat stream_quiet "${STREAM[@]}"
    stop_server
    start_ssechat --accounts --first-admin root --jwt-secret "$SECRET"
    flood &
    FLOOD=$!
    sleep 1
    bench ssechat stream_during_login_flood "${STREAM[@]}"
    wait "$FLOOD"
    printf '{"label":"ssechat/login_flood","tries":%d,"ok":%d,"throttled":%d,"busy":%d,"other":%d}\n' \
      "$(wc -l <"$WORK/logins")" "$(grep -c '^200' "$WORK/logins" || true)" \
      "$(grep -c '^429' "$WORK/logins" || true)" "$(grep -c '^503' "$WORK/logins" || true)" \
      "$(grep -vc '^\(200\|429\|503\)' "$WORK/logins" || true)" | tee -a "$RESULTS"
    stop_server
  done
fi

if ((USERS)); then
  USER_STREAMS=(--member-of 10 --sub-path '/me/events?id=s{sub}')
  for rep in 1 2 3; do
    start_ssechat
    bench ssechat users_on_room_streams --subscribers 10000 --rooms 100 --ramp 4000 --messages 10000 --rate 2000 --connections 8 --max-seconds 120
    stop_server
    start_ssechat
    bench ssechat users_on_user_streams --subscribers 1000 --rooms 100 --ramp 4000 --messages 10000 --rate 2000 --connections 8 --max-seconds 120 "${USER_STREAMS[@]}"
    stop_server
  done
  start_ssechat
  bench ssechat idle_room_streams_1000_rooms --subscribers 10000 --rooms 1000 --ramp 4000 --messages 0 --settle 0 --max-seconds 60
  stop_server
  start_ssechat
  bench ssechat idle_user_streams_10_of_1000 --subscribers 10000 --rooms 1000 --ramp 4000 --messages 0 --settle 0 --max-seconds 120 "${USER_STREAMS[@]}"
  stop_server
  # The stream alone, with one room: what grows with more rooms is in the per-room indexes.
  start_ssechat
  bench ssechat idle_user_streams_1_of_1000 --subscribers 10000 --rooms 1000 --ramp 4000 --messages 0 --settle 0 --max-seconds 120 --member-of 1 --sub-path '/me/events?id=s{sub}'
  stop_server
fi

if ((SINGLE)); then
# First, before other runs leave thousands of loopback ports in TIME_WAIT: the most streams
# one process holds here (the machine caps open files at 20,000 per process), one message to all.
start_ssechat
bench ssechat max_streams --subscribers "$(scale 19000 3000)" --ramp 4000 --messages 1 --connections 1 --settle 10 --max-seconds 120
stop_server

for server in "${SERVERS[@]}"; do
  # idle: memory per idle stream
  start_$server
  bench "$server" idle --subscribers "$(scale 10000 2000)" --ramp 4000 --messages 0 --settle 0 --max-seconds 60
  stop_server
  # fanout: 1,000 subscribers, 2,000 messages closed-loop, 4 in flight
  for rep in 1 2 3; do
    start_$server
    bench "$server" fanout --subscribers 1000 --messages "$(scale 2000 500)" --connections 4 --max-seconds 120
    stop_server
  done
  # latency at fixed rates (the 50 msg/s point is the target scenario)
  for rate in 50 200 1000 4000; do
    start_$server
    secs=$(scale 10 3)
    bench "$server" "latency@$rate" --subscribers 1000 --rate "$rate" --messages $((rate * secs)) --connections 8 --max-seconds 60
    stop_server
  done
  # many rooms: 10,000 subscribers over 1,000 rooms
  start_$server
  bench "$server" many_rooms --subscribers "$(scale 10000 2000)" --rooms 1000 --ramp 4000 --messages "$(scale 20000 4000)" --connections 8 --max-seconds 120
  stop_server
  # publish: acknowledged publishes per second, no subscribers
  start_$server
  bench "$server" publish --subscribers 0 --messages "$(scale 100000 20000)" --connections 64 --max-seconds 60
  stop_server
done

# ssechat only: messages that change. Edits and reactions to 500 earlier messages, each
# fanned out to the same 1,000 subscribers as "fanout" (so CPU per delivery compares), and
# with no subscribers, against "publish" (so the store's share compares).
for rep in 1 2 3; do
  for kind in edit reaction; do
    n=$(scale 2000 500)
    start_ssechat; prefill "$n"
    if [ "$kind" = edit ]; then args=("${EDIT[@]}"); else args=("${REACT[@]}"); fi
    bench ssechat "fanout_$kind" --subscribers 1000 --messages "$n" --connections 4 --max-seconds 120 --targets "$n" "${args[@]}"
    stop_server
  done
done
for kind in edit reaction; do
  n=$(scale 20000 5000)
  start_ssechat; prefill "$n"
  if [ "$kind" = edit ]; then args=("${EDIT[@]}"); else args=("${REACT[@]}"); fi
  bench ssechat "publish_$kind" --subscribers 0 --messages "$n" --connections 64 --max-seconds 60 --targets "$n" "${args[@]}"
  stop_server
done

# ssechat only: the seed API fanout (Nchan has no seed API).
start_ssechat
bench ssechat seed_api --subscribers 1000 --messages "$(scale 2000 500)" --connections 4 --cumulative \
  --sub-path "/messages?id=s{sub}" --pub-path "/message?id=bench" --max-seconds 120
stop_server

fi

# Cluster: one SQLite node, then the Redis store with one node and with two, the same load.
if ((TLS)); then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/key.pem" \
    -out "$WORK/cert.pem" -days 2 -subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null
  TLSARGS=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
  for rep in 1 2 3; do
    start_ssechat
    bench ssechat fanout_http1 --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120
    stop_server
    start_ssechat "${TLSARGS[@]}"
    bench ssechat fanout_https1 --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 --tls
    stop_server
    start_ssechat "${TLSARGS[@]}"
    bench ssechat fanout_https2 --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 --tls --h2 100
    stop_server
    if ((NCHAN)); then
      start_nchan ssl
      bench nchan fanout_https1 --subscribers 1000 --messages 2000 --connections 4 --max-seconds 120 --tls
      stop_server
    fi
  done
  start_ssechat "${TLSARGS[@]}"
  bench ssechat idle_https1 --subscribers 10000 --ramp 2000 --messages 0 --settle 0 --max-seconds 120 --tls
  stop_server
  if ((NCHAN)); then
    start_nchan ssl
    bench nchan idle_https1 --subscribers 10000 --ramp 2000 --messages 0 --settle 0 --max-seconds 120 --tls
    stop_server
  fi
  # Per extra HTTP/2 stream: 100 connections with 1 stream each, then with 100 each; three
  # times, since a few KB of noise per connection moves the difference.
  for rep in 1 2 3; do
    start_ssechat "${TLSARGS[@]}"
    bench ssechat idle_https2_1_per_conn --subscribers 100 --ramp 2000 --messages 0 --settle 0 --max-seconds 60 --tls --h2 1
    stop_server
    start_ssechat "${TLSARGS[@]}"
    bench ssechat idle_https2_100_per_conn --subscribers 10000 --ramp 4000 --messages 0 --settle 0 --max-seconds 120 --tls --h2 100
    stop_server
  done
fi

if ((WAITING)); then
  for rep in 1 2 3; do
    for r in 0 1; do
      REPLICAS=$r
      start_cluster redis 1
      bench "wait-replicas$r" publish --subscribers 0 --messages "$(scale 20000 5000)" --connections 64 --max-seconds 60
      stop_cluster
      start_cluster redis 1
      bench "wait-replicas$r" "latency@500" --subscribers 100 --rate 500 --messages "$(scale 5000 1000)" --connections 8 --max-seconds 60
      stop_cluster
    done
  done
  REPLICAS=""
fi

if ((SHARDING)); then
  # Three nodes on one Redis, then on two shards: acknowledged publishes a second, and each
  # Redis's CPU over the run (its own line: ticks before and after, per shard).
  for rep in 1 2 3; do
    for n in 1 2; do
      SHARDS=$n
      start_cluster redis 3
      before=$(redis_ticks)
      bench "shards$n" publish --subscribers 0 --rooms 64 --messages "$(scale 60000 10000)" --connections 96 --max-seconds 60
      after=$(redis_ticks)
      printf '{"label":"shards%s/redis-cpu","ticks_before":"%s","ticks_after":"%s"}\n' \
        "$n" "$before" "$after" >>"$RESULTS"
      stop_cluster
    done
  done
  SHARDS=1
fi

if ((ROUTING)); then
  # Two nodes on one Redis: every publish goes through the first; the second serves one
  # stream of room "served" and none of room "unserved". The second node's CPU (ticks of
  # 1/100 s from /proc) over M publishes to each room, per message.
  for rep in 1 2 3; do
    start_cluster redis 2
    IFS=, read -r pub_port watch_port <<<"$PORT"
    watch_pid=${NODE_PIDS[1]}
    curl -sN "http://127.0.0.1:$watch_port/rooms/served/events?id=watcher&presence=0" >/dev/null &
    curl_pid=$!
    sleep 0.5
    m=$(scale 100000 10000)
    # What the node spends doing nothing for as long (heartbeats, timers, the feed's ping):
    # the floor the unserved room's figure is read against.
    before=$(awk '{print $14 + $15}' "/proc/$watch_pid/stat")
    sleep 5
    after=$(awk '{print $14 + $15}' "/proc/$watch_pid/stat")
    printf '{"label":"routing/idle/watcher-cpu","seconds":5,"ticks":%s}\n' "$((after - before))" | tee -a "$RESULTS"
    for room in unserved served; do
      before=$(awk '{print $14 + $15}' "/proc/$watch_pid/stat")
      $BIN/ssechat-bench --port "$pub_port" --subscribers 0 --messages "$m" --connections 32 \
        --pub-path "/rooms/$room/messages?id=bench" --max-seconds 60 --label "routing/$room" \
        2>"$WORK/bench.err" | tee -a "$RESULTS" >/dev/null
      sleep 0.5  # the feed's last messages reach the node
      after=$(awk '{print $14 + $15}' "/proc/$watch_pid/stat")
      printf '{"label":"routing/%s/watcher-cpu","messages":%s,"ticks":%s}\n' \
        "$room" "$m" "$((after - before))" | tee -a "$RESULTS"
    done
    curl -s "http://127.0.0.1:$watch_port/metrics" | grep '^ssechat_cluster_events_read_total' \
      | sed 's/^/# /' | tee -a "$WORK/routing-metrics.txt"
    kill "$curl_pid" 2>/dev/null || true
    stop_cluster
  done
fi

((CHANGES || USERS || TLS || RULES || LOGINS || WAITING || STORM || MANY || SHARDING || ROUTING)) || for setup in "sqlite 1" "redis 1" "redis 2"; do
  set -- $setup
  name="cluster-$1$2"
  for rep in 1 2 3; do
    start_cluster "$1" "$2"
    bench "$name" fanout --subscribers 1000 --messages "$(scale 2000 500)" --connections 4 --max-seconds 120
    stop_cluster
  done
  start_cluster "$1" "$2"
  bench "$name" "latency@200" --subscribers 1000 --rate 200 --messages $((200 * $(scale 10 3))) --connections 8 --max-seconds 60
  stop_cluster
  start_cluster "$1" "$2"
  bench "$name" many_rooms --subscribers "$(scale 4000 1000)" --rooms "$(scale 400 100)" --ramp 4000 --messages "$(scale 8000 2000)" --connections 8 --max-seconds 120
  stop_cluster
  start_cluster "$1" "$2"
  bench "$name" publish --subscribers 0 --messages "$(scale 40000 10000)" --connections 64 --max-seconds 60
  stop_cluster
done

# The storm's lines have no latencies to plot: the JSON lines are its report.
((STORM || MANY || SHARDING || ROUTING)) && { cat "$RESULTS"; exit 0; }
python3 bench/report.py "$RESULTS" "$OUT"
