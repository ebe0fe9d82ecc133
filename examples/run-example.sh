#!/bin/sh
# Runs an example for CTest and judges it by its exit status AND its output, so that neither a
# crash after printing "OK" nor an "OK"-less clean exit passes:
#   run-example.sh NAME BINARY [ARG...]             passes iff BINARY exits 0 and prints "NAME: OK"
#   run-example.sh --exact TEXT BINARY [ARG...]     passes iff BINARY exits 0 and prints exactly TEXT
#                                                   (printf format, e.g. 'a\tb\n')
# An ARG written {VARIABLE} is replaced by that environment variable (a test server's URL from
# scripts/test-servers.sh). When one is unset the run is skipped (exit 77), or fails under
# `make test` (STRATA_TEST_REQUIRE_SERVERS=1). An example that itself exits 77 ("skipped")
# although its servers were given fails.
exact=""
if [ "$1" = "--exact" ]; then
  exact=$(printf "$2")
  name=$(basename "$3")
  shift 2
else
  name=$1
  shift
fi
binary=$1
shift

missing=""
for arg in "$@"; do
  case $arg in
    \{*\})
      var=${arg#\{}
      var=${var%\}}
      eval "value=\${$var:-}"
      [ -n "$value" ] || missing="$missing $var"
      ;;
  esac
done
if [ -n "$missing" ]; then
  echo "run-example: $name needs$missing (not set): run \`make test\` or start scripts/test-servers.sh"
  [ "${STRATA_TEST_REQUIRE_SERVERS:-0}" = 1 ] && exit 1
  exit 77
fi

count=$#
while [ "$count" -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    \{*\})
      var=${arg#\{}
      var=${var%\}}
      eval "arg=\${$var}"
      ;;
  esac
  set -- "$@" "$arg"
  count=$((count - 1))
done

output=$("$binary" "$@" 2>&1)
status=$?
printf '%s\n' "$output"
if [ "$status" -eq 77 ]; then
  echo "run-example: $name exited 77 (skipped) although everything it needs was given"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "run-example: $name exited with status $status"
  exit 1
fi
if [ -n "$exact" ]; then
  if [ "$output" != "$exact" ]; then
    echo "run-example: $name printed something else than expected"
    exit 1
  fi
elif ! printf '%s\n' "$output" | grep -q "^$name: OK"; then
  echo "run-example: $name exited 0 without printing \"$name: OK\""
  exit 1
fi
exit 0
