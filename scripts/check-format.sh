#!/usr/bin/env bash
# Fails when any tracked C++ file differs from .clang-format (the first phase of `make test`).
# Usage: scripts/check-format.sh        (make format fixes what it reports)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is not installed" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.h' '*.cc' 2>/dev/null || find include src tools tests bench examples fuzz -name '*.h' -o -name '*.cc')
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "check-format: the files above differ from .clang-format; run 'make format'" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format"
