#!/usr/bin/env bash
# Identity primitives benchmark: bench_identity (ours vs raw OpenSSL calls in
# one process) next to `openssl speed ecdsap384` (the CLI's own loop), one
# after the other on the same machine, single thread.
#   bench/identity_bench.sh [build-dir] [seconds]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-3}
cmake --build "$BUILD" --target bench_identity -j2 >/dev/null
"$BUILD/bin/bench_identity" --benchmark_min_time="$SECS" --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true 2>&1 | grep -v '^\*\*\*'
echo
echo "== openssl speed -seconds $SECS ecdsap384 ($(openssl version))"
openssl speed -seconds "$SECS" ecdsap384 2>/dev/null | tail -2
