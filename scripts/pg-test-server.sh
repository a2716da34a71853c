#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: its own data directory, a free
# port on 127.0.0.1, trust auth, no system service involved.
#   eval "$(scripts/pg-test-server.sh start DIR)"   # exports CUMULO_TEST_PG
#   scripts/pg-test-server.sh stop DIR
#   scripts/pg-test-server.sh halt DIR     # stop the server, keep data and port
#   scripts/pg-test-server.sh resume DIR   # start it again (restart tests)
set -euo pipefail
cmd=${1:?start|stop|halt|resume}
dir=${2:?directory}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
# PostgreSQL refuses to run as root: use the postgres account when we are root.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $1 -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    echo "$port" >"$dir/port"
    pg_start "$port"
    echo "export CUMULO_TEST_PG='host=127.0.0.1 port=$port user=postgres dbname=postgres'"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  halt) as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  resume) pg_start "$(cat "$dir/port")" ;;
  *) echo "usage: $0 start|stop|halt|resume DIR" >&2; exit 2 ;;
esac
