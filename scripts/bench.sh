#!/usr/bin/env bash
# Builds the benchmarks (Release) and prints loop / foreach / fused side by side with the
# memory-bandwidth ceiling measured in the same run: on the GPU when one is visible, else on the
# CPU. The raw JSON goes to bench/results/<device>-<date>.json.
#
#   bash scripts/bench.sh                      # the default selection (below)
#   bash scripts/bench.sh 'Lion/.*/bf16/gpt2'  # any --benchmark_filter regex
# Environment: FUSEDOPT_SKIP_DEPS=1 (no apt-get), FUSEDOPT_CMAKE_ARGS (extra configure
# arguments), BENCH_RESULTS (output folder, default bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${FUSEDOPT_SKIP_DEPS:-0} == 1 ]] || bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
read -r -a cmake_args <<< "${FUSEDOPT_CMAKE_ARGS:-}"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  device=cuda
  build=build/bench
  cmake --preset bench "${cmake_args[@]}" >/dev/null
  # Every optimizer fused on GPT-2; AdamW and SGD all three ways on every mix; the size sweep.
  default_filter='^[A-Za-z]+/fused/(f32|bf16)/gpt2/cuda|^(AdamW|SGD|EMA)/[a-z]+/(f32|bf16)/(uniform|gpt2|small10k|tensors1000)/cuda|^AdamW/[a-z]+/f32/sweep[0-9]+M/cuda'
else
  device=cpu  # no GPU: skip compiling the CUDA kernels
  build=build/bench-cpu
  cmake --preset bench -B "$build" -DFUSEDOPT_ENABLE_CUDA=OFF "${cmake_args[@]}" >/dev/null
  # The speed targets' rows: SGD momentum, Adam, AdamW and Adagrad, f32 and bf16 (fp32 or bf16
  # state), all three ways, on uniform, gpt2 and small10k.
  default_filter='^(SGD|Adam|AdamW|Adagrad)(\+bf16_state)?/[a-z]+/(f32|bf16)/(uniform|gpt2|small10k)/cpu'
fi
cmake --build "$build" -j "$jobs"
filter=${1:-$default_filter}
results=${BENCH_RESULTS:-bench/results}
mkdir -p "$results"
out="$results/${device}-$(date -u +%Y%m%d-%H%M%S).json"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
"$build/bench/fusedopt_bench" --benchmark_filter="$filter" \
  --benchmark_out="$out" --benchmark_out_format=json \
  --benchmark_context=commit="$commit"
echo
echo "JSON: $out"
python3 bench/report.py "$out"
