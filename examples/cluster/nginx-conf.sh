#!/bin/sh
# Prints an nginx config that spreads clients over ssechat nodes; run.sh and the cluster tests
# both use it, so the tested config is the documented one.
# usage: nginx-conf.sh LISTEN_PORT PREFIX_DIR NODE_PORT [NODE_PORT...]
set -eu
listen=$1
prefix=$2
shift 2
cat <<CONF
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;

    upstream ssechat {
        # Event streams live for hours: balance on open connections, not on request count.
        least_conn;
CONF
for port in "$@"; do
    echo "        server 127.0.0.1:$port max_fails=1 fail_timeout=5s;"
done
cat <<CONF
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$listen;
        location / {
            proxy_pass http://ssechat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            # Each event must reach the client when the node writes it, not when a buffer fills.
            proxy_buffering off;
            proxy_cache off;
            # A stream is quiet between heartbeats (15 s by default); these must outlast them.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # A dead node is skipped at once; a client that loses its node reconnects here
            # and lands on a live one, resuming with Last-Event-ID.
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }
    }
}
CONF
