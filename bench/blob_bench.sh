#!/usr/bin/env bash
# Blob write/read throughput through the adapters (blob-fs, blob-rocksdb) against
# raw syscalls, dd and cp moving the same bytes on the same disk in the same run.
#   bench/blob_bench.sh [build-dir] [scratch-dir] [small-count] [reps]
# build-dir needs bench_blob (-DCUMULO_BUILD_BENCH=ON) and both plugins; the
# scratch directory must be on the disk under test (default: the build tree's).
set -euo pipefail
BUILD=${1:-build}
SCRATCH=${2:-$BUILD}
COUNT=${3:-200}
REPS=${4:-3}
cmake --build "$BUILD" -j1 --target bench_blob blob_fs blob_rocksdb >/dev/null
fstype=$(df -T "$SCRATCH" | awk 'NR==2 {print $2}')
echo "\`bench/blob_bench.sh $BUILD $SCRATCH $COUNT $REPS\` — $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), scratch on $fstype, $(date -u +%Y-%m-%d)"
echo
"$BUILD/bin/bench_blob" "$BUILD" "$SCRATCH" "$COUNT" "$REPS"
