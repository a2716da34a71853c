#!/usr/bin/env bash
# A throwaway ACME CA (Debian's pebble) for manual tests and benchmarks.
# tests/acme/acme_test.cpp starts its own pebble; this script is for humans.
#   eval "$(scripts/pebble-test-server.sh start DIR [HTTP_PORT])"
#   scripts/pebble-test-server.sh stop DIR
# HTTP_PORT is where pebble's validator looks for HTTP-01 answers (default
# 5002). Every name resolves to 127.0.0.1 through pebble-challtestsrv's DNS.
# Exports:
#   CUMULO_TEST_PEBBLE_URL        ACME directory (https://localhost:PORT/dir)
#   CUMULO_TEST_PEBBLE_CA         CA file for pebble's own HTTPS endpoints
#   CUMULO_TEST_PEBBLE_ROOT       issuing root (PEM), fetched from /roots/0
#   CUMULO_TEST_PEBBLE_MGMT       management API base URL
#   CUMULO_TEST_PEBBLE_HTTP_PORT  the HTTP-01 port
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
[ -x /usr/bin/pebble ] || { echo "pebble not found (apt-get install pebble)" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
case "$cmd" in
  start)
    http_port=${3:-5002}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    acme_port=$(free_port); mgmt_port=$(free_port); dns_port=$(free_port); chall_mgmt=$(free_port)
    # Throwaway CA + server certificate for pebble's HTTPS API (the packaged
    # test certificates are not shipped by Debian).
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=cumulo pebble test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
      -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
      -out "$dir/server.pem" 2>/dev/null
    cat >"$dir/pebble-config.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$dir/server.pem",
    "privateKey": "$dir/server.key",
    "httpPort": $http_port,
    "tlsPort": $(free_port),
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
    setsid pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" \
      -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$chall_mgmt" >"$dir/challtestsrv.log" 2>&1 &
    echo $! >"$dir/challtestsrv.pid"
    PEBBLE_VA_NOSLEEP=1 PEBBLE_VA_ALWAYS_VALID=0 PEBBLE_WFE_NONCEREJECT=${PEBBLE_WFE_NONCEREJECT:-0} \
      setsid pebble -config "$dir/pebble-config.json" -dnsserver "127.0.0.1:$dns_port" >"$dir/pebble.log" 2>&1 &
    echo $! >"$dir/pebble.pid"
    for _ in $(seq 100); do
      curl -sf --cacert "$dir/ca.pem" "https://localhost:$mgmt_port/roots/0" -o "$dir/root.pem" && break
      sleep 0.1
    done
    [ -s "$dir/root.pem" ] || { echo "pebble did not start; see $dir/pebble.log" >&2; exit 1; }
    echo "export CUMULO_TEST_PEBBLE_URL='https://localhost:$acme_port/dir'"
    echo "export CUMULO_TEST_PEBBLE_CA='$dir/ca.pem'"
    echo "export CUMULO_TEST_PEBBLE_ROOT='$dir/root.pem'"
    echo "export CUMULO_TEST_PEBBLE_MGMT='https://localhost:$mgmt_port'"
    echo "export CUMULO_TEST_PEBBLE_HTTP_PORT='$http_port'"
    ;;
  stop)
    for p in pebble challtestsrv; do
      [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start DIR [HTTP_PORT] | stop DIR" >&2; exit 2 ;;
esac
