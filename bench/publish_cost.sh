#!/usr/bin/env bash
# Usage: [BIN=build] bench/publish_cost.sh [ssechat flags...] (Nchan from libnginx-mod-nchan)
# Publish cost with no subscribers: ssechat (SQLite durable, one loop) vs Nchan (memory), both
# pinned to CPU 0, the tool on CPU 1. Prints per run: publishes/s, server CPU us per publish,
# and the kernel's share (stime) of it.
set -euo pipefail
BIN=${BIN:-build}
WORK=$(mktemp -d /tmp/pubcost-XXXXXX)
ulimit -n 20000
ticks() { awk '{print $14, $15}' /proc/$1/stat; }
run() { # name pid port args...
  local name=$1 pid=$2 port=$3; shift 3
  read -r u0 s0 < <(ticks "$pid")
  out=$(taskset -c 1 $BIN/ssechat-bench --port "$port" --subscribers 0 --messages 40000 --connections 64 --max-seconds 60 --pid "$pid" --label "$name" "$@" 2>/dev/null)
  read -r u1 s1 < <(ticks "$pid")
  python3 - "$out" "$u0" "$s0" "$u1" "$s1" <<'PY'
import json,sys
o=json.loads(sys.argv[1]); u0,s0,u1,s1=map(int,sys.argv[2:])
n=o["acked"]; user=(u1-u0)*10000/n; sys_=(s1-s0)*10000/n
print(json.dumps({"label":o["label"],"acked":n,"publishes_per_s":o["publishes_per_s"],"cpu_us_per_publish":round(user+sys_,2),"user_us":round(user,2),"kernel_us":round(sys_,2),"pub_errors":o["pub_errors"]}))
PY
}
for i in 1 2 3; do
  rm -rf $WORK/data; port=$((21000+i))
  taskset -c 0 $BIN/ssechat --port $port --threads 1 --data $WORK/data --publish-rate 0 "$@" > $WORK/s.log 2>&1 &
  pid=$!; sleep 1
  run ssechat $pid $port
  kill $pid; wait $pid 2>/dev/null || true
  mkdir -p $WORK/nginx/logs; port=$((21100+i))
  cat > $WORK/nginx/nginx.conf <<CONF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1; worker_rlimit_nofile 20000; daemon off; pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 20000; multi_accept on; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path $WORK/nginx;
  server { listen 127.0.0.1:$port;
    location ~ ^/sub/(\w+)\$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
    location ~ ^/pub/(\w+)\$ { nchan_publisher; nchan_channel_id \$1; nchan_message_buffer_length 1000; nchan_message_timeout 1h; } } }
CONF
  taskset -c 0 nginx -p $WORK/nginx -c $WORK/nginx/nginx.conf > $WORK/n.log 2>&1 &
  mpid=$!; sleep 1; wpid=$(pgrep -P $mpid | head -1)
  run nchan $wpid $port --sub-path "/sub/{room}" --pub-path "/pub/{room}" --body "{marker}" --content-type text/plain
  kill $mpid; wait $mpid 2>/dev/null || true
done
rm -rf $WORK
