#!/usr/bin/env bash
# Installs a built strata into a temporary prefix, then builds and runs a consumer project that
# uses it exactly as the README says: its CMakeLists.txt is a bare project (no C++ standard set)
# plus the README's "Using strata from CMake" snippet, copied verbatim from README.md.
# Usage: tests/package/run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/include/strata/strata.h"
test -f "$work/prefix/lib/cmake/strata/strataConfig.cmake" || test -f "$work/prefix/lib/x86_64-linux-gnu/cmake/strata/strataConfig.cmake"

# The first ```cmake block after the README's "## Using strata from CMake" heading.
snippet=$(awk '/^## Using strata from CMake/ {section = 1; next}
               section && /^## / {exit}
               section && /^```cmake$/ {block = 1; next}
               block && /^```$/ {exit}
               block {print}' "$source_dir/README.md")
if [ -z "$snippet" ] || ! grep -q 'strata::strata' <<<"$snippet"; then
  echo "package: no CMake snippet using strata::strata under README's 'Using strata from CMake'" >&2
  exit 1
fi
mkdir -p "$work/app"
cp "$source_dir/tests/package/consumer/main.cc" "$work/app/main.cc"
{
  echo 'cmake_minimum_required(VERSION 3.25)'
  echo 'project(app LANGUAGES CXX)  # no CMAKE_CXX_STANDARD: strata::strata must carry C++20'
  echo 'add_executable(app main.cc)'
  printf '%s\n' "$snippet"
} > "$work/app/CMakeLists.txt"

# The consumer builds with the same sanitizer flags as strata itself, if any.
flags=$(sed -n 's/^CMAKE_CXX_FLAGS:STRING=//p' "$build/CMakeCache.txt")
sanitize=$(sed -n 's/^STRATA_SANITIZE:STRING=//p' "$build/CMakeCache.txt")
[ -n "$sanitize" ] && flags="$flags -fsanitize=$sanitize"
cmake -S "$work/app" -B "$work/app/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="${sanitize:+-fsanitize=$sanitize}" >/dev/null
cmake --build "$work/app/build" >/dev/null
"$work/app/build/app"
echo "package: the README's CMake snippet built and ran a consumer (no C++ standard set)"
