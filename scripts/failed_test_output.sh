#!/usr/bin/env bash
# Prints the output of each test of the last ctest run in build folder $1 that failed, from
# ctest's own log: the failure and its seed (FUSEDOPT_TEST_SEED reproduces it) end a CI log.
set -uo pipefail
log="$1/Testing/Temporary/LastTest.log"
failed="$1/Testing/Temporary/LastTestsFailed.log"
[[ -f "$log" && -f "$failed" ]] || exit 0
# Its lines: "<number>:<name>"; a test's section of the log runs from "<number>/<count> Test:"
# to the next "<end of output>".
while IFS=: read -r number name; do
  echo "==== output of failed test $name"
  awk -v n="$number" 'index($0, n "/") == 1 && $2 == "Test:" {on = 1} on {print}
                      on && /^<end of output>/ {exit}' \
    "$log" | grep -v '^\[ *\(RUN\|OK\) *\]' | tail -n 120
done < "$failed"
