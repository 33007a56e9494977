#!/usr/bin/env bash
# Starts an ssechat cluster on this machine: one redis-server, NODES ssechat nodes sharing it,
# and nginx in front, all on loopback. Ctrl-C stops everything; data stays in DATA.
# usage: examples/cluster/run.sh [NODES]   (default 3)
# env:   PORT (nginx, default 8080), REDIS_PORT (default 6390), NODE_PORT (first node, 3101),
#        DATA (default ./cluster-data)
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
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" --save '' \
  --appendonly yes --appendfsync everysec --daemonize no >"$data/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port"

ports=()
for i in $(seq "$nodes"); do
  p=$((node_port + i - 1))
  # Every client arrives from nginx's address, so the per-address limit would count them
  # all as one client; the per-user limits still apply.
  "$root/build/ssechat" --port "$p" --store redis --redis "redis://127.0.0.1:$redis_port" \
    --max-connections-per-ip 0 >"$data/node$i.log" 2>&1 &
  pids+=($!)
  ports+=("$p")
done
for p in "${ports[@]}"; do wait_port "$p"; done

"$root/examples/cluster/nginx-conf.sh" "$port" "$data/nginx" "${ports[@]}" >"$data/nginx/nginx.conf"
nginx=nginx
[ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx
"$nginx" -p "$data/nginx" -e "$data/nginx/error.log" -c "$data/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
wait_port "$port"

echo "ssechat cluster: http://localhost:$port (nodes on ${ports[*]}, redis on $redis_port, data in $data)"
wait -n "${pids[@]}" || true
echo "a process of the cluster exited; stopping the rest" >&2
