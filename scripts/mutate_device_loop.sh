#!/usr/bin/env bash
# Shows that the emulated-device suites (NOTE(emulated-device)) test the CUDA kernels' own
# loops: each mutation below breaks one line of the device path in kernels/engine/apply.h (the
# lane stride, the vector bound, the scalar tail's start, the step-count protocol). For each, a
# scratch copy of the tree is built (CPU preset) and a few Emulated tests must fail, while the
# same tests on the CPU executor, which does not run those lines, still pass.
#
#   bash scripts/mutate_device_loop.sh [workdir]     (about 4 minutes per mutation on 2 cores)
#   ONLY='tail start' bash scripts/mutate_device_loop.sh    (the mutations whose name matches)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build/mutants}
rm -rf "$work/src"
mkdir -p "$work/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
src="$work/src"
cp "$src/kernels/engine/apply.h" "$work/apply.h.orig"
jobs=${JOBS:-$(nproc)}
emulated='Emulated/TrajectoryTest.*/Adam_ams1_wd1_max0_*:Emulated/TrajectoryTest.*/SGD_mom1_damp0_nest1_wd0_max0_*:Emulated/ManyTensors.*:Emulated/Api.*'
native='AllOptions/TrajectoryTest.*/Adam_ams1_wd1_max0_*_cpu:AllOptions/TrajectoryTest.*/SGD_mom1_damp0_nest1_wd0_max0_*_cpu:Executors/ManyTensors.*/cpu:Executors/Api.*/cpu'

# name | python expression applied to the source of apply.h (occurrence-exact replacements)
mutations=(
  "update_range lane stride|s.replace('i += std::int64_t(stride) * kVec) {\n    Pack<T, kVec> pv', 'i += std::int64_t(stride - 1) * kVec) {\n    Pack<T, kVec> pv', 1)"
  "update_range vector bound|s.replace('const std::int64_t vector_end = aligned ? n - n % kVec : 0;', 'const std::int64_t vector_end = aligned ? n : 0;', 1)"
  "update_range tail start|s.replace('for (std::int64_t i = vector_end + lane; i < n; i += stride) {\n    Element x{};', 'for (std::int64_t i = vector_end; i < n; i += stride) {\n    Element x{};', 1)"
  "pass_range tail start|s.replace('for (std::int64_t i = vector_end + lane; i < n; i += stride) {\n    Element x[1]', 'for (std::int64_t i = vector_end + 2 * lane; i < n; i += stride) {\n    Element x[1]', 1)"
  "zero_chunk lane stride|s.replace('i += std::int64_t(stride) * kVec)\n    store_pack', 'i += std::int64_t(stride) * (kVec + 1))\n    store_pack', 1)"
  "finish_step arrival|s.replace('return arrived_before == blocks - 1;', 'return arrived_before == 0;', 1)"
)
status=0
for m in "${mutations[@]}"; do
  name=${m%%|*}
  expr=${m#*|}
  [[ -z ${ONLY:-} || $name == *$ONLY* ]] || continue
  python3 - "$work/apply.h.orig" "$src/kernels/engine/apply.h" "$expr" <<'PY'
import sys
s = open(sys.argv[1]).read()
t = eval(sys.argv[3], {"s": s})
if t == s: sys.exit("mutation did not apply")
open(sys.argv[2], "w").write(t)
PY
  cmake -S "$src" -B "$work/build" -DFUSEDOPT_ENABLE_CUDA=OFF -DFUSEDOPT_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/build" -j "$jobs" --target fusedopt_tests >/dev/null
  tests="$work/build/tests/fusedopt_tests"
  if OMP_NUM_THREADS=1 "$tests" --gtest_filter="$emulated" --gtest_brief=1 >"$work/emulated.log" 2>&1; then
    echo "MISSED  $name: the Emulated tests pass with the mutation"; status=1
  else
    failed=$(grep -c '^\[  FAILED  \].*Emulated' "$work/emulated.log" || true)
    if OMP_NUM_THREADS=1 "$tests" --gtest_filter="$native" --gtest_brief=1 >"$work/native.log" 2>&1; then
      echo "caught  $name: $failed Emulated tests fail; the CPU executor's tests pass"
    else
      echo "caught  $name: $failed Emulated tests fail (the CPU executor's tests fail too)"
    fi
  fi
done
cp "$work/apply.h.orig" "$src/kernels/engine/apply.h"
exit $status
