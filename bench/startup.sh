#!/usr/bin/env bash
# Host start → /ready with every built-in plugin loaded, and idle RSS.
#   bench/startup.sh [build-dir] [runs]
set -euo pipefail
BUILD=${1:-build}
RUNS=${2:-10}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
best=999999; total=0; rss=0
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/data"
  t0=$(date +%s%N)
  MODE=proxy LISTEN=127.0.0.1:$PORT DATA_DIR=$WORK/data BASE_ID_TAG=bench.test LOG_LEVEL=warn "$BUILD/bin/cumulo" serve >"$WORK/log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready"; do :; done
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  total=$((total + ms)); [ $ms -lt $best ] && best=$ms
  # Idle RSS after it settled (the last run's value is reported).
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  plugins=$(curl -s "http://127.0.0.1:$PORT/ready" | python3 -c 'import sys,json; print(json.load(sys.stdin)["data"]["plugins"])')
  kill -TERM $pid; wait $pid
done
echo "| runs | plugins loaded | start→/ready best | mean | idle RSS |"
echo "|---|---|---|---|---|"
echo "| $RUNS | $plugins | ${best} ms | $((total / RUNS)) ms | $((rss / 1024)) MiB ($rss KiB) |"
