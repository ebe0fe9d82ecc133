#!/usr/bin/env bash
# Checks `strata sim` against exact published numbers (reads the shared traces at run time):
#  1. lru and opt hit counts of every cell of policy-anchors.md, Appendix A (76 cells, 152 counts);
#  2. weighted (byte-capacity) LRU miss counts of libCacheSim's test_evictionAlgo.c on
#     cloudPhysicsIO.oracleGeneral.bin, 128..1024 MiB (traces/README.md).
# usage: scripts/check-sim-exactness.sh [BUILD_DIR] [SHARED_DIR]   (defaults: build /work/shared)
set -euo pipefail
build=${1:-build}
shared=${2:-/work/shared}
strata="$build/strata"

"$strata" sim --check-appendix "$shared/anchors/policy-anchors.md" --traces "$shared/traces"

echo
echo "weighted LRU on cloudPhysicsIO.oracleGeneral.bin (misses; libCacheSim test_evictionAlgo.c)"
expected=(93374 89783 83572 81722 72494 72104 71972 71704)
capacities=$(for i in 1 2 3 4 5 6 7 8; do printf '%s%d' "${sep:-}" $((i * 128 * 1024 * 1024)); sep=,; done)
mapfile -t got < <("$strata" sim --trace "$shared/traces/libcachesim/cloudPhysicsIO.oracleGeneral.bin" \
  --weighted --capacity "$capacities" --policy lru --json 2>/dev/null |
  python3 -c 'import json,sys; [print(j["requests"] - j["hits"]) for j in map(json.loads, sys.stdin)]')
fail=0
for i in "${!expected[@]}"; do
  status=ok
  [ "${got[$i]:-}" = "${expected[$i]}" ] || { status=MISMATCH; fail=1; }
  printf '%5d MiB  %6s  expected %6s  %s\n' $(((i + 1) * 128)) "${got[$i]:-?}" "${expected[$i]}" "$status"
done
exit $fail
