#!/usr/bin/env bash
# One call on a lent GPU machine (no package installs there): build and run the whole test suite
# with the GPU tests enabled, compute-sanitizer (memcheck, racecheck, initcheck) over the CUDA
# tests, the benchmarks and the torch comparison. Logs and JSON go to $OUT (or build/gpu-out).
# Prepare here first: bash scripts/gpu_deps.sh, then carry build/deps.
#
#   bash scripts/gpu_session.sh [tests|sanitize|bench|all]   (default all)
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
out=${OUT:-build/gpu-out}
mkdir -p "$out"
jobs=$(nproc)
prefix="$PWD/build/deps/usr"
export LD_LIBRARY_PATH="$prefix/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu):${LD_LIBRARY_PATH:-}"
{ nvidia-smi; nvcc --version; git log --oneline -1; date -u; } > "$out/machine.txt" 2>&1
tail -n 20 "$out/machine.txt"

if [[ $what == all || $what == tests || $what == sanitize ]]; then
  cmake --preset test -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/configure.log" 2>&1
  cmake --build build/test -j "$jobs" > "$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; exit 1; }
fi
if [[ $what == all || $what == tests ]]; then
  OMP_NUM_THREADS=2 ctest --test-dir build/test -j 8 --output-on-failure > "$out/ctest.log" 2>&1
  echo "ctest exit $?"; grep -E "tests passed|Skipped|Failed" "$out/ctest.log" | tail -n 5
fi
if [[ $what == all || $what == sanitize ]]; then
  # The CUDA half of the suite, each tool in turn (f32 trajectories keep racecheck short).
  filter='*cuda*:*Cuda*:*Graph*:-*f16_cuda*:*bf16_cuda*'
  for tool in memcheck racecheck initcheck; do
    args=(--tool "$tool" --error-exitcode 3)
    [[ $tool == memcheck ]] && args+=(--leak-check full)
    compute-sanitizer "${args[@]}" build/test/tests/fusedopt_tests --gtest_filter="$filter" \
      --gtest_brief=1 > "$out/sanitizer-$tool.log" 2>&1
    echo "compute-sanitizer $tool exit $?"; tail -n 3 "$out/sanitizer-$tool.log"
  done
fi
if [[ $what == all || $what == bench ]]; then
  FUSEDOPT_SKIP_DEPS=1 BENCH_RESULTS="$out" \
    FUSEDOPT_CMAKE_ARGS="-DCMAKE_PREFIX_PATH=$prefix -DCMAKE_CUDA_ARCHITECTURES=90" \
    bash scripts/bench.sh ${BENCH_FILTER:+"$BENCH_FILTER"} 2>&1 | tee "$out/bench.log" | tail -n 30
  json=$(ls -t "$out"/cuda-*.json 2>/dev/null | head -n 1)
  [[ -n $json ]] || { echo "no CUDA benchmark JSON in $out"; exit 1; }
  python3 bench/compare_torch.py "$json" --out "${json%.json}-torch.json" > "${json%.json}-torch.txt" 2> "$out/compare.log"
  cat "${json%.json}-torch.txt"
  python3 bench/plot.py "$json" --torch "${json%.json}-torch.json" -o "${json%.json}.png" >> "$out/compare.log" 2>&1
fi
