#!/usr/bin/env bash
# The whole test suite, as README and CI run it:
#   1. installs dependencies (Debian packages),
#   2. builds and installs the SDK, then builds samples/hello-plugin out of
#      tree against it with clang++ and libc++ (the ABI proof), and
#      samples/blob-encrypted out of tree, run through cumulo-adapter-test,
#      and samples/action-poll out of tree (CUMULO_POLL_PLUGIN, for tests),
#   3. builds everything with g++ and runs all tests (ctest),
#   4. rebuilds with ASan+UBSan and runs all tests again.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
# ccache keyed on paths relative to the checkout: a fresh clone elsewhere
# (CI) reuses objects an earlier build of the same sources produced.
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
./scripts/install-deps.sh

echo "== g++ build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"

echo "== SDK install + out-of-tree clang++/libc++ sample"
rm -rf build/sdk-prefix build/hello-clang
cmake --install build/sdk --prefix build/sdk-prefix >/dev/null
CXX=clang++ cmake -S samples/hello-plugin -B build/hello-clang -G Ninja \
  -DCMAKE_PREFIX_PATH="$ROOT/build/sdk-prefix" -DCMAKE_CXX_FLAGS="-stdlib=libc++" \
  -DCMAKE_SHARED_LINKER_FLAGS="-stdlib=libc++" -DCMAKE_MODULE_LINKER_FLAGS="-stdlib=libc++" >/dev/null
cmake --build build/hello-clang -j "$JOBS"
export CUMULO_CLANG_PLUGIN_DIR="$ROOT/build/hello-clang"

echo "== out-of-tree third-party adapter (samples/blob-encrypted) through cumulo-adapter-test"
rm -rf build/blob-encrypted
cmake -S samples/blob-encrypted -B build/blob-encrypted -G Ninja -DCMAKE_PREFIX_PATH="$ROOT/build/sdk-prefix" >/dev/null
cmake --build build/blob-encrypted -j "$JOBS"
build/bin/cumulo-adapter-test \
  "$ROOT/build/blob-encrypted/blob-encrypted.so::blob-encrypted::{\"dir\":\"\${DIR}\",\"masterKey\":\"$(printf '%064x' 42)\"}" \
  --gtest_brief=1
# The clang plugins must really be libc++ builds.
# (Captured first: `ldd | grep -q` under pipefail fails when grep's early exit
# SIGPIPEs ldd, which made this check flaky.)
HELLO_DEPS=$(ldd build/hello-clang/hello-blob.so)
[[ $HELLO_DEPS == *libc++* ]] || { echo "hello-blob.so is not linked to libc++:"; echo "$HELLO_DEPS"; exit 1; }

echo "== out-of-tree action-type plugin (samples/action-poll)"
rm -rf build/action-poll
cmake -S samples/action-poll -B build/action-poll -G Ninja -DCMAKE_PREFIX_PATH="$ROOT/build/sdk-prefix" >/dev/null
cmake --build build/action-poll -j "$JOBS"
export CUMULO_POLL_PLUGIN="$ROOT/build/action-poll/action-poll.so"

echo "== PostgreSQL test server"
PGDIR=$(mktemp -d /tmp/cumulo-pg.XXXXXX)
trap 'scripts/pg-test-server.sh stop "$PGDIR"' EXIT
eval "$(scripts/pg-test-server.sh start "$PGDIR")"
echo "CUMULO_TEST_PG=$CUMULO_TEST_PG"

echo "== tests (g++)"
ctest --test-dir build --output-on-failure -j 2 --timeout 300

echo "== ASan+UBSan build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCUMULO_SANITIZE=ON -DCUMULO_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$JOBS"
echo "== tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 600
