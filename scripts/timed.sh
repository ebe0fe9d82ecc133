#!/usr/bin/env bash
# Runs a command and prints how long it took: `make test` prints one such line per phase.
# Usage: scripts/timed.sh PHASE COMMAND [ARGS...]
set -uo pipefail
phase=$1
shift
start=$(date +%s)
"$@"
status=$?
echo "make test: phase '$phase' took $(( $(date +%s) - start ))s (status $status)"
exit "$status"
