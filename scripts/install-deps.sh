#!/usr/bin/env bash
# Installs every build, test and benchmark dependency from Debian packages.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES=(
  build-essential cmake ninja-build ccache mold pkg-config git
  libboost1.81-dev libssl-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libc++-dev libc++abi-dev
  curl wrk nginx-light procps python3
  postgresql libpq-dev liblmdb-dev librocksdb-dev
  libsqlite3-dev libcrypt-dev
  libcurl4-openssl-dev pebble
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
