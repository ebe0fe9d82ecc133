#!/bin/sh
# Runs an example against the test servers (scripts/test-servers.sh):
#   run-with-servers.sh EXAMPLE  ->  EXAMPLE --redis $STRATA_TEST_REDIS_URL --postgres $STRATA_TEST_POSTGRES_URL
# Without those variables it skips (exit 77), or fails under `make test`
# (STRATA_TEST_REQUIRE_SERVERS=1).
if [ -z "$STRATA_TEST_REDIS_URL" ] || [ -z "$STRATA_TEST_POSTGRES_URL" ]; then
  echo "STRATA_TEST_REDIS_URL / STRATA_TEST_POSTGRES_URL not set: run \`make test\` or start scripts/test-servers.sh"
  [ "${STRATA_TEST_REQUIRE_SERVERS:-0}" = 1 ] && exit 1
  exit 77
fi
exec "$1" --redis "$STRATA_TEST_REDIS_URL" --postgres "$STRATA_TEST_POSTGRES_URL"
