#!/usr/bin/env bash
# Actions insert and feed (20 newest visible) through meta-sqlite and
# meta-postgres against raw sqlite3 / raw libpq statements doing the same work
# in the same run; RUNS runs, then the median ratio of each case.
#   bench/meta_bench.sh [build-dir] [seconds-per-case] [runs]
# PostgreSQL: the server named by CUMULO_TEST_PG, else a throwaway one
# (scripts/pg-test-server.sh) when the server binaries are installed;
# CUMULO_BENCH_PG=0 skips it.
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-3}
RUNS=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
targets="bench_meta sqlite_plugin"
[ -d "$BUILD/adapters-builtin/postgres" ] && ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^postgres_plugin:' && targets="$targets postgres_plugin"
cmake --build "$BUILD" -j2 --target $targets >/dev/null
which=sqlite
if [ "${CUMULO_BENCH_PG:-1}" != 0 ] && [ -f "$BUILD/plugins/postgres.so" ]; then
  if [ -z "${CUMULO_TEST_PG:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    pgdir=$(mktemp -d /tmp/cumulo-meta-bench-pg.XXXXXX)
    trap '"$here/scripts/pg-test-server.sh" stop "$pgdir"' EXIT
    eval "$("$here/scripts/pg-test-server.sh" start "$pgdir")"
  fi
  [ -n "${CUMULO_TEST_PG:-}" ] && which=all
fi
echo "\`bench/meta_bench.sh $BUILD $SECS $RUNS\` — $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)"
echo
out=$(mktemp)
for i in $(seq "$RUNS"); do
  echo "run $i:"
  "$BUILD/bin/bench_meta" "$SECS" "$which" 2>/dev/null | grep -vE '^  plan:|\] \[info\] ' | tee -a "$out"
done
echo "median ratio over $RUNS runs:"
awk '/^meta-/ {t=$1} /^insert/ {r[t" insert"]=r[t" insert"]" "$NF} /^20 newest/ {r[t" feed"]=r[t" feed"]" "$NF} END {for (k in r) print k, r[k]}' "$out" | sort | while read -r title case ratios; do
  echo "  $title $case: $(echo "$ratios" | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') (runs:$(echo " $ratios"))"
done
rm -f "$out"
