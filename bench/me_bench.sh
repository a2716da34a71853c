#!/usr/bin/env bash
# GET /api/me under wrk (2 threads, 64 connections) against nginx serving the
# exact bytes and content type cumulo returns, in one run, on this machine,
# cumulo and nginx interleaved round by round. Same method as
# bench/http_vs_nginx.sh (no CPU pinning: wrk and both servers share the cores).
#   bench/me_bench.sh [build-dir] [seconds] [rounds]
# KEEP=1 keeps the temp directory (logs, nginx.conf, the captured body).
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-10}
ROUNDS=${3:-3}
HOST=cl-o.alice.test
WORK=$(mktemp -d)
CUMULO_PID='' NGINX_PID=''
cleanup() {
  for p in $CUMULO_PID $NGINX_PID; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# Polls URL until it answers 2xx or the deadline (seconds) passes.
wait_ok() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$url"; do
    ((SECONDS < deadline)) || { echo "timeout waiting for $url" >&2; return 1; }
    sleep 0.05
  done
}
CPORT=$(free_port)
NPORT=$(free_port)

# cumulo: proxy mode (plain HTTP, like nginx), embedded default profile. The
# per-IP auth limiter is off: every wrk connection comes from 127.0.0.1 and
# would otherwise be refused as one abusive client.
mkdir -p "$WORK/data"
cat >"$WORK/cumulo.json" <<'JSON'
{"ioThreads": 2, "auth": {"rateLimits": false}}
JSON
MODE=proxy LISTEN=127.0.0.1:$CPORT DATA_DIR=$WORK/data BASE_ID_TAG=alice.test PLUGIN_DIRS=$BUILD/plugins LOG_LEVEL=warn \
  "$BUILD/bin/cumulo" serve --config "$WORK/cumulo.json" >"$WORK/cumulo.log" 2>&1 &
CUMULO_PID=$!
wait_ok "http://127.0.0.1:$CPORT/ready" 30 || { cat "$WORK/cumulo.log" >&2; exit 1; }

# The exact body and content type of GET /api/me.
mkdir -p "$WORK/www/api" "$WORK/tmp"
# nginx workers run as www-data when started by root: let them reach www/ only.
chmod 711 "$WORK"
chmod -R go+rX "$WORK/www"
CTYPE=$(curl -sf -H "Host: $HOST" -D "$WORK/me.headers" -o "$WORK/www/api/me" -w '%{content_type}' "http://127.0.0.1:$CPORT/api/me")
chmod go+r "$WORK/www/api/me"
BYTES=$(wc -c <"$WORK/www/api/me")

# nginx: the same body as a static file, same content type, no ETag (cumulo's
# ETag only matters for conditional requests, which wrk does not send).
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp; uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server {
    listen 127.0.0.1:$NPORT; root $WORK/www; keepalive_requests 1000000; etag off;
    location = /api/me { types { } default_type "$CTYPE"; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
wait_ok "http://127.0.0.1:$NPORT/api/me" 10
cmp -s "$WORK/www/api/me" <(curl -sf -H "Host: $HOST" "http://127.0.0.1:$NPORT/api/me") || { echo "nginx body differs" >&2; exit 1; }
read -ra NGINX_WORKERS <<<"$(ps --ppid "$NGINX_PID" -o pid= | xargs)"
[[ $(curl -sf -o /dev/null -w '%{content_type}' "http://127.0.0.1:$NPORT/api/me") == "$CTYPE" ]] || { echo "nginx content type differs" >&2; exit 1; }

# CPU time (user+sys, clock ticks) of the given processes, all threads.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
HZ=$(getconf CLK_TCK)

# One wrk run against URL, measuring the server processes PIDS...: prints
# "req/s p50 p99 cpu-us-per-request". Server CPU per request depends far less
# on what else runs on the machine than req/s does. Non-2xx answers would make
# the comparison meaningless, so they abort the run.
run() {
  local url=$1 out t0 t1; shift
  t0=$(ticks "$@")
  out=$(wrk -t2 -c64 -d"${DUR}s" --latency -H "Host: $HOST" "$url")
  t1=$(ticks "$@")
  if grep -q 'Non-2xx' <<<"$out"; then echo "$out" >&2; exit 1; fi
  awk -v dt=$((t1 - t0)) -v hz="$HZ" '/requests in/ {n=$1} /Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    END {printf "%s %s %s %.1f\n", r, p50, p99, dt / hz * 1e6 / n}' <<<"$out"
}

echo "GET /api/me: $BYTES bytes, $CTYPE; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo
# Reference columns, same round: cumulo's /health (answered on the network
# thread) and /ready (one hop to the blocking pool, adapter health() calls, no
# query), to tell how much of /api/me is the hop and how much the route's work.
echo "| round | cumulo req/s | cumulo p50 | cumulo p99 | cumulo CPU µs/req | nginx req/s | nginx p50 | nginx p99 | nginx CPU µs/req | ratio | cumulo /health req/s, CPU µs/req | cumulo /ready req/s, CPU µs/req |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
RATIOS=()
# out=$(run …) on its own line: set -e then stops the script when a run fails.
for r in $(seq "$ROUNDS"); do
  out=$(run "http://127.0.0.1:$CPORT/api/me" "$CUMULO_PID")
  read -r c_rps c_p50 c_p99 c_cpu <<<"$out"
  out=$(run "http://127.0.0.1:$NPORT/api/me" "${NGINX_WORKERS[@]}")
  read -r n_rps n_p50 n_p99 n_cpu <<<"$out"
  ratio=$(python3 -c "print(f'{$c_rps/$n_rps:.2f}')")
  RATIOS+=("$ratio")
  out=$(run "http://127.0.0.1:$CPORT/health" "$CUMULO_PID")
  read -r h_rps _ _ h_cpu <<<"$out"
  out=$(run "http://127.0.0.1:$CPORT/ready" "$CUMULO_PID")
  read -r y_rps _ _ y_cpu <<<"$out"
  echo "| $r | $c_rps | $c_p50 | $c_p99 | $c_cpu | $n_rps | $n_p50 | $n_p99 | $n_cpu | $ratio | $h_rps, $h_cpu | $y_rps, $y_cpu |"
done
echo
echo "median ratio: $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') (goal >= 0.6); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
