#!/usr/bin/env bash
# Actions end to end vs raw ES384 on the same core (issue 5):
#   create: POST /api/actions under wrk (HTTP → validate → sign ES384 → a1~ →
#           store → hooks) against `openssl speed ecdsap384` sign/s;
#   inbound: POST /api/inbox/sync with fresh tokens (parse → key → verify →
#           validate → gates → store → hooks) against verify/s.
# The server runs pinned to CPU 0 (taskset), wrk to CPU 1; openssl speed
# runs on CPU 0 too, interleaved round by round with the server's runs.
#   bench/actions_bench.sh [build-dir] [seconds] [rounds]
# IN_DUR (default 3 s): length of each inbound round — every round needs
# fresh tokens (the create rounds produce them), so it is kept short.
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-10}
ROUNDS=${3:-3}
BIN=$BUILD/bin/cumulo
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_up() { # url [curl args]
  local url=$1; shift
  for _ in $(seq 1 600); do curl -s -o /dev/null "$@" "$url" && return 0; sleep 0.05; done
  echo "timeout: $url" >&2; return 1
}
PA=$(free_port); PB=$(free_port); PA_TLS=$(free_port)

# Test CA + alice's certificate (bob fetches alice's key over TLS).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/a.key" -out "$WORK/a.csr" -subj "/CN=cl-o.alice.test" 2>/dev/null
printf 'subjectAltName=DNS:cl-o.alice.test\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/a.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -out "$WORK/a.crt" -days 2 -extfile "$WORK/san.ext" 2>/dev/null

run_node() { # name config-json → pid
  local name=$1 cfg=$2
  echo "$cfg" >"$WORK/$name.json"
  taskset -c 0 "$BIN" serve --config "$WORK/$name.json" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
login() { # port idTag password
  curl -s "http://127.0.0.1:$1/api/auth/login" -H "Host: cl-o.$2" -H 'Content-Type: application/json' \
    -d "{\"idTag\":\"$2\",\"password\":\"$3\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])'
}
speed() { # → "sign/s verify/s" of one P-384 ECDSA run on CPU 0
  taskset -c 0 openssl speed -seconds "$DUR" ecdsap384 2>/dev/null | awk '/ecdsa \(nistp384\)/ {print $(NF-1), $NF}'
}
# PERF=dir: also record a CPU profile of the measured server (perf record -g)
# during each wrk run, into dir/<script>-<round>.data.
cpu_ticks() { # pid → utime+stime of the process so far, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
# → "requests/s requests-per-server-CPU-second". `openssl speed` counts its
# operations per second of its own user CPU time, so the second figure is the
# like-for-like one when something else competes for CPU 0; the first is
# what a client sees.
wrk_rate() { # script url [seconds]
  local pid=${PIDS[-1]} t0 t1 out
  if [[ -n ${PERF:-} ]]; then
    mkdir -p "$PERF"
    perf record --call-graph dwarf,16384 -F ${PERF_HZ:-499} -o "$PERF/$(basename "$1" .lua)-$r.data" -p "$pid" -- sleep "$DUR" >/dev/null 2>&1 &
  fi
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c8 -d"${3:-$DUR}s" -s "$1" "$2" 2>"$WORK/wrk.err")
  t1=$(cpu_ticks "$pid")
  awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /Requests\/sec/ {rps = $2}
    END {printf "%s %.1f\n", rps, (ticks > 0 ? n / (ticks / hz) : 0)}' <<<"$out"
}
W=(); C=()
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
# The machine's speed drifts by ±15 % from one run of `openssl speed` to the
# next, so each round pairs a crypto run with a server run and many short
# rounds are summarised by their medians.
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }

# ---- alice in proxy mode (plain HTTP for wrk): create ------------------------
run_node alice "{\"mode\":\"proxy\",\"listen\":\"127.0.0.1:$PA\",\"dataDir\":\"$WORK/alice\",\"baseIdTag\":\"alice.test\",
  \"basePassword\":\"alice-password\",\"logLevel\":\"warn\",\"auth\":{\"rateLimits\":false},\"ioThreads\":1}"
wait_up "http://127.0.0.1:$PA/ready"
export CUMULO_TOKEN CUMULO_HOST=cl-o.alice.test
CUMULO_TOKEN=$(login "$PA" alice.test alice-password)
echo "== create: POST /api/actions vs ES384 sign (CPU 0), ${DUR}s x $ROUNDS"
for r in $(seq 1 "$ROUNDS"); do
  read -r SIGN VERIFY < <(speed)
  read -r RATE CPU_RATE < <(wrk_rate "$(dirname "$0")/wrk/create_post.lua" "http://127.0.0.1:$PA")
  W[r]=$(ratio "$RATE" "$SIGN"); C[r]=$(ratio "$CPU_RATE" "$SIGN")
  echo "round $r: created $RATE/s ($CPU_RATE per server CPU-s), openssl sign $SIGN/s -> ratio ${W[r]}, per CPU-s ${C[r]} ($(cat "$WORK/wrk.err"))"
done
echo "create, median of $ROUNDS rounds: ratio $(median "${W[@]}"), per CPU-s $(median "${C[@]}")"
# Every POST created above becomes one inbound token for bob.
: >"$WORK/tokens"
CURSOR=''
while :; do
  PAGE=$(curl -s "http://127.0.0.1:$PA/api/actions?type=POST&limit=500&includeTokens=true${CURSOR:+&cursor=$CURSOR}" \
    -H "Host: cl-o.alice.test" -H "Authorization: Bearer $CUMULO_TOKEN")
  echo "$PAGE" | python3 -c 'import json,sys; [print(a["token"]) for a in json.load(sys.stdin)["data"]]' >>"$WORK/tokens"
  CURSOR=$(echo "$PAGE" | python3 -c 'import json,sys,urllib.parse; c=json.load(sys.stdin)["cursorPagination"]["nextCursor"]; print(urllib.parse.quote(c) if c else "")')
  [[ -n $CURSOR ]] || break
done
echo "tokens for the inbound run: $(wc -l <"$WORK/tokens")"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()

# ---- alice again over TLS (same data: same keys), bob in proxy mode ---------
run_node alice "{\"mode\":\"standalone\",\"listen\":\"127.0.0.1:$PA_TLS\",\"listenHttp\":\"\",\"dataDir\":\"$WORK/alice\",
  \"baseIdTag\":\"alice.test\",\"logLevel\":\"warn\",\"certs\":[{\"domain\":\"cl-o.alice.test\",\"cert\":\"$WORK/a.crt\",\"key\":\"$WORK/a.key\"}]}"
run_node bob "{\"mode\":\"proxy\",\"listen\":\"127.0.0.1:$PB\",\"dataDir\":\"$WORK/bob\",\"baseIdTag\":\"bob.test\",
  \"basePassword\":\"bob-password\",\"logLevel\":\"warn\",\"auth\":{\"rateLimits\":false},\"ioThreads\":1,
  \"outbound\":{\"resolve\":{\"cl-o.alice.test:443\":\"127.0.0.1:$PA_TLS\"},\"caFile\":\"$WORK/ca.pem\"}}"
wait_up "http://127.0.0.1:$PB/ready"
wait_up "https://cl-o.alice.test:$PA_TLS/ready" --cacert "$WORK/ca.pem" --resolve "cl-o.alice.test:$PA_TLS:127.0.0.1"
BOB=$(login "$PB" bob.test bob-password)
# bob follows alice, so her POSTs pass bob's relationship gate.
curl -s -o /dev/null "http://127.0.0.1:$PB/api/actions" -H "Host: cl-o.bob.test" -H "Authorization: Bearer $BOB" \
  -H 'Content-Type: application/json' -d '{"type":"FLLW","audienceTag":"alice.test"}'
# Warm bob's key cache with one token (the key fetch is not what we measure).
head -1 "$WORK/tokens" | python3 -c 'import json,sys; print(json.dumps({"token": sys.stdin.read().strip()}))' |
  curl -s -o /dev/null "http://127.0.0.1:$PB/api/inbox/sync" -H "Host: cl-o.bob.test" -H 'Content-Type: application/json' -d @-
export CUMULO_TOKENS=$WORK/tokens CUMULO_HOST=cl-o.bob.test
IN_DUR=${IN_DUR:-3}
echo "== inbound: POST /api/inbox/sync vs ES384 verify (CPU 0), ${IN_DUR}s x $ROUNDS"
TOTAL=$(wc -l <"$WORK/tokens")
for r in $(seq 1 "$ROUNDS"); do
  read -r SIGN VERIFY < <(speed)
  # Each round takes a fresh slice of tokens (a repeat would be a dedup hit).
  START=$(( (r - 1) * TOTAL / ROUNDS + 2 )); END=$(( r * TOTAL / ROUNDS ))
  sed -n "${START},${END}p" "$WORK/tokens" >"$WORK/slice"
  CUMULO_TOKENS=$WORK/slice
  read -r RATE CPU_RATE < <(wrk_rate "$(dirname "$0")/wrk/inbox_sync.lua" "http://127.0.0.1:$PB" "$IN_DUR")
  W[r]=$(ratio "$RATE" "$VERIFY"); C[r]=$(ratio "$CPU_RATE" "$VERIFY")
  echo "round $r: verified+stored $RATE/s ($CPU_RATE per server CPU-s), openssl verify $VERIFY/s -> ratio ${W[r]}, per CPU-s ${C[r]} ($(cat "$WORK/wrk.err"))"
done
echo "inbound, median of $ROUNDS rounds: ratio $(median "${W[@]}"), per CPU-s $(median "${C[@]}")"
