#!/usr/bin/env bash
# Starts an ssechat cluster on this machine: one redis-server, NODES ssechat nodes sharing it,
# and nginx in front, all on loopback. Ctrl-C stops everything; data stays in DATA.
# usage: examples/cluster/run.sh [NODES]   (default 3)
# env:   PORT (nginx, default 8080), REDIS_PORT (default 6390), NODE_PORT (first node, 3101),
#        DATA (default ./cluster-data)
#        SENTINEL=1: the Redis is a master with two replicas (REDIS_PORT+1, +2) watched by three
#        Sentinels (REDIS_PORT+10 to +12); nodes find the master through them and acknowledge
#        a message once a replica has it (--redis-replicas 1). Kill the master
#        (kill -9 $(cat DATA/redis.pid)) and publishes answer 503 for a few seconds, then
#        go on, with nothing acknowledged lost.
#        SHARDS=N (N > 1, without SENTINEL): rooms spread over N redis-servers (REDIS_PORT and
#        REDIS_PORT+20 on), --redis given as their list. Keep the same N for the same DATA, or
#        move the rooms first: build/ssechat redis reshard --from OLD-LIST --to NEW-LIST.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
nodes=${1:-3}
port=${PORT:-8080}
redis_port=${REDIS_PORT:-6390}
node_port=${NODE_PORT:-3101}
data=$(mkdir -p "${DATA:-./cluster-data}" && cd "${DATA:-./cluster-data}" && pwd)

"$root/scripts/deps.sh"
# A build folder that exists keeps its options (it may hold the tests); a new one gets none.
if [ -f "$root/build/CMakeCache.txt" ]; then
  "$root/scripts/build.sh" "$root/build" >/dev/null
else
  "$root/scripts/build.sh" "$root/build" -DSSECHAT_TESTS=OFF >/dev/null
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1; see $data/*.log" >&2
  exit 1
}

# appendfsync everysec: each write reaches the AOF file before Redis replies, so an
# acknowledged message survives a crash of Redis itself; 'always' also survives power loss.
mkdir -p "$data/redis" "$data/nginx/tmp"
redis_url="redis://127.0.0.1:$redis_port"
node_flags=()
start_redis() {  # port, folder, extra flags...
  local rp=$1 dir=$2
  shift 2
  mkdir -p "$dir"
  redis-server --port "$rp" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly yes \
    --appendfsync everysec --repl-diskless-sync-delay 0 --daemonize no "$@" >"$dir.log" 2>&1 &
  pids+=($!)
  wait_port "$rp"
}
start_redis "$redis_port" "$data/redis"
echo "${pids[-1]}" >"$data/redis.pid"
# The processes whose exit stops the cluster: with Sentinel a Redis may die (and be replaced).
watched=()
[ "${SENTINEL:-0}" = 1 ] || watched+=("${pids[-1]}")
if [ "${SENTINEL:-0}" = 1 ]; then
  for r in 1 2; do
    start_redis $((redis_port + r)) "$data/replica$r" --replicaof 127.0.0.1 "$redis_port"
  done
  sentinel=$(command -v redis-sentinel || true)
  hosts=()
  for s in 0 1 2; do
    sp=$((redis_port + 10 + s))
    mkdir -p "$data/sentinel$s"
    # Sentinel rewrites its file as it learns the replicas and the other Sentinels.
    cat >"$data/sentinel$s/sentinel.conf" <<CONF
port $sp
bind 127.0.0.1
dir $data/sentinel$s
sentinel monitor chat 127.0.0.1 $redis_port 2
sentinel down-after-milliseconds chat 2000
sentinel failover-timeout chat 10000
CONF
    if [ -n "$sentinel" ]; then
      "$sentinel" "$data/sentinel$s/sentinel.conf" >"$data/sentinel$s.log" 2>&1 &
    else
      redis-server "$data/sentinel$s/sentinel.conf" --sentinel >"$data/sentinel$s.log" 2>&1 &
    fi
    pids+=($!)
    wait_port "$sp"
    hosts+=("127.0.0.1:$sp")
  done
  redis_url="redis-sentinel://$(IFS=,; echo "${hosts[*]}")/chat"
  node_flags=(--redis-replicas 1)
elif [ "${SHARDS:-1}" -gt 1 ]; then
  for k in $(seq 2 "$SHARDS"); do
    sp=$((redis_port + 18 + k))
    start_redis "$sp" "$data/redis-shard$k"
    watched+=("${pids[-1]}")
    redis_url+=",redis://127.0.0.1:$sp"
  done
fi

ports=()
for i in $(seq "$nodes"); do
  p=$((node_port + i - 1))
  # Every client arrives from nginx's address, so the per-address limit would count them
  # all as one client; the per-user limits still apply.
  "$root/build/ssechat" --port "$p" --store redis --redis "$redis_url" \
    --max-connections-per-ip 0 "${node_flags[@]}" >"$data/node$i.log" 2>&1 &
  pids+=($!)
  watched+=($!)
  ports+=("$p")
done
for p in "${ports[@]}"; do wait_port "$p"; done

"$root/examples/cluster/nginx-conf.sh" "$port" "$data/nginx" "${ports[@]}" >"$data/nginx/nginx.conf"
nginx=nginx
[ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx
"$nginx" -p "$data/nginx" -e "$data/nginx/error.log" -c "$data/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
watched+=($!)
wait_port "$port"

echo "ssechat cluster: http://localhost:$port (nodes on ${ports[*]}, $redis_url, data in $data)"
wait -n "${watched[@]}" || true
echo "a process of the cluster exited; stopping the rest" >&2
