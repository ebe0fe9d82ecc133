#!/usr/bin/env bash
# Installs the Debian 12 packages strata needs, only those that are missing.
#   scripts/install-deps.sh build   compilers and libraries (enough for `make run`)
#   scripts/install-deps.sh test    plus the servers the tests start (Redis, PostgreSQL)
# ccache is not installed here: on a fresh machine (CI) it has nothing to reuse and only adds
# work; install it yourself and the Makefile uses it for every build.
# Uses sudo when not run as root. Installs nothing and prints nothing when all is present.
set -euo pipefail

build_packages=(
  g++ make cmake ninja-build pkg-config
  libhiredis-dev libpq-dev libsqlite3-dev libssl-dev
  nlohmann-json3-dev libmsgpack-cxx-dev libzstd-dev liblz4-dev zlib1g-dev liblzma-dev
  libabsl-dev libcli11-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# clang and its runtime libraries build the libFuzzer targets that `make test` runs (fuzz/);
# clang-format checks the formatting (the first phase of `make test`).
test_packages=(redis-server redis-tools postgresql-15 postgresql-client-15 sqlite3 util-linux procps
               clang libclang-rt-14-dev clang-format openssl)

packages=("${build_packages[@]}")
case "${1:-build}" in
  build) ;;
  test) packages+=("${test_packages[@]}") ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# The tests never use the packages' own services: they start their own servers on free ports.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
