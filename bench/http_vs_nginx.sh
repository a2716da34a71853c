#!/usr/bin/env bash
# GET /health and GET /ready (a JSON route that calls every bound adapter)
# under wrk (2 threads, 64 connections) against nginx serving static files of
# the same sizes, in one run, on this machine. Prints a Markdown table.
#   bench/http_vs_nginx.sh [build-dir] [seconds]
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-10}
WORK=$(mktemp -d)
trap 'kill $CUMULO_PID $NGINX_PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
CPORT=$(free_port); NPORT=$(free_port)

# cumulo: proxy mode (plain HTTP, like nginx below), embedded default profile.
mkdir -p "$WORK/data"
MODE=proxy LISTEN=127.0.0.1:$CPORT DATA_DIR=$WORK/data BASE_ID_TAG=bench.test LOG_LEVEL=warn \
  "$BUILD/bin/cumulo" serve >"$WORK/cumulo.log" 2>&1 &
CUMULO_PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$CPORT/ready" >/dev/null && break; sleep 0.05; done

# nginx: static files with exactly the bytes cumulo returns.
mkdir -p "$WORK/www"
curl -s "http://127.0.0.1:$CPORT/health" >"$WORK/www/health.json"
curl -s -H 'Host: cl-o.bench.test' "http://127.0.0.1:$CPORT/ready" >"$WORK/www/ready.json"
curl -s -H 'Host: bench.test' "http://127.0.0.1:$CPORT/.well-known/cloudillo/id-tag" >"$WORK/www/id-tag.json"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp; uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server { listen 127.0.0.1:$NPORT; root $WORK/www; keepalive_requests 1000000; }
}
NGINX
mkdir -p "$WORK/tmp"
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$NPORT/health.json" >/dev/null && break; sleep 0.05; done

rps() { wrk -t2 -c64 -d"${DUR}s" --latency "$@" | awk '/Requests\/sec/ {print $2} / 99%/ {p99=$2} END {print p99}' | paste -sd' '; }

echo "| route | bytes | cumulo req/s | cumulo p99 | nginx req/s | nginx p99 | ratio |"
echo "|---|---|---|---|---|---|---|"
# /health: the envelope; id-tag: a JSON API route; /ready: calls every bound
# adapter through the SDK on the blocking pool.
declare -A PATHS=([health]=/health [id-tag]=/.well-known/cloudillo/id-tag [ready]=/ready)
declare -A HOSTS=([health]=cl-o.bench.test [id-tag]=bench.test [ready]=cl-o.bench.test)
for route in health id-tag ready; do
  bytes=$(wc -c <"$WORK/www/$route.json")
  read -r c_rps c_p99 <<<"$(rps -H "Host: ${HOSTS[$route]}" "http://127.0.0.1:$CPORT${PATHS[$route]}")"
  read -r n_rps n_p99 <<<"$(rps "http://127.0.0.1:$NPORT/$route.json")"
  ratio=$(python3 -c "print(f'{$c_rps/$n_rps:.2f}')")
  echo "| GET ${PATHS[$route]} | $bytes | $c_rps | $c_p99 | $n_rps | $n_p99 | $ratio |"
done
