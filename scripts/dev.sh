#!/usr/bin/env bash
# The inner loop: an incremental CPU-only build (preset "cpu", with Ninja and ccache where
# present) and the tests whose names match a regex (default: all).
#
#   bash scripts/dev.sh 'AdamW'          e.g. after editing kernels/optimizers/adam.h
#
# Touching one functor header rebuilds only that optimizer's generated units (NOTE(one-list))
# and the test files that include it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/cpu
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$build/CMakeCache.txt" ]; then
  mapfile -t fast < <(bash scripts/build_flags.sh "$build")
  cmake --preset cpu "${fast[@]}" >/dev/null
fi
cmake --build "$build" -j "$jobs"
# One OpenMP thread per test process, as in scripts/test.sh.
OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
  ctest --test-dir "$build" -j "$jobs" --output-on-failure -R "${1:-.}" | grep -v ' (Skipped)$'
