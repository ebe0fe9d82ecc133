#!/usr/bin/env bash
# Runs every CTest test of a build against real servers: starts them (scripts/test-servers.sh),
# runs ctest, and stops them on the way out, also when a test fails or the run is interrupted.
# Usage: scripts/run-tests.sh [BUILD_DIR] [extra ctest arguments...]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:-build}" && pwd)
shift || true

export STRATA_SERVERS_POINTER="$build/test-servers.dir"
trap '"$here/test-servers.sh" stop' EXIT
trap 'exit 130' INT TERM
"$here/test-servers.sh" start
# shellcheck disable=SC1091
source "$(cat "$STRATA_SERVERS_POINTER")/env"
# Under `make test` a test that needs a server and finds none fails instead of skipping.
export STRATA_TEST_REQUIRE_SERVERS=1

start=$(date +%s)
status=0
ctest --test-dir "$build" --output-on-failure --timeout 600 -j "${STRATA_TEST_JOBS:-2}" "$@" || status=$?
echo "run-tests: ctest finished in $(( $(date +%s) - start ))s with status $status"
exit "$status"
