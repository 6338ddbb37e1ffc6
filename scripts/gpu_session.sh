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
  ctest --test-dir build/test -j 8 --output-on-failure > "$out/ctest.log" 2>&1
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
  cmake --preset bench -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/bench-configure.log" 2>&1
  cmake --build build/bench -j "$jobs" > "$out/bench-build.log" 2>&1 || { tail -n 40 "$out/bench-build.log"; exit 1; }
  json="$out/cuda-$(date -u +%Y%m%d-%H%M%S).json"
  filter='^[A-Za-z]+/fused/(f32|bf16)/gpt2/cuda|^(AdamW|SGD|EMA)/[a-z]+/(f32|bf16)/(uniform|gpt2|small10k|tensors1000)/cuda|^AdamW/[a-z]+/f32/sweep[0-9]+M/cuda'
  build/bench/bench/fusedopt_bench --benchmark_filter="${BENCH_FILTER:-$filter}" \
    --benchmark_out="$json" --benchmark_out_format=json \
    --benchmark_context=commit="$(git rev-parse --short HEAD)" > "$out/bench.log" 2>&1
  python3 bench/report.py "$json" | tee "$out/report.txt"
  python3 bench/compare_torch.py "$json" --out "${json%.json}-torch.json" > "${json%.json}-torch.txt" 2> "$out/compare.log"
  cat "${json%.json}-torch.txt"
  python3 bench/plot.py "$json" --torch "${json%.json}-torch.json" -o "${json%.json}.png" >> "$out/compare.log" 2>&1
fi
