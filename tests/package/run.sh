#!/usr/bin/env bash
# Installs a built strata into a temporary prefix, then configures, builds and runs a consumer
# project that finds it with find_package(strata).
# Usage: tests/package/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/strata/error.h"
test -f "$work/prefix/lib/cmake/strata/strataConfig.cmake" || test -f "$work/prefix/lib/x86_64-linux-gnu/cmake/strata/strataConfig.cmake"
# The consumer builds with the same sanitizer flags as strata itself, if any.
flags=$(sed -n 's/^CMAKE_CXX_FLAGS:STRING=//p' "$build/CMakeCache.txt")
sanitize=$(sed -n 's/^STRATA_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
[ -n "$sanitize" ] && flags="$flags -fsanitize=$sanitize"
cmake -S "$source_dir/tests/package/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="${sanitize:+-fsanitize=$sanitize}" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"
echo "package: find_package(strata) consumer built and ran"
