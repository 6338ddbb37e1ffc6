#!/usr/bin/env bash
# The GPU check, in stages of a few minutes each, for a lent GPU machine (16 cores, no network,
# no package installs: GoogleTest, Google Benchmark and nlohmann-json come packed in build/deps,
# made here by scripts/gpu_deps.sh and carried with the tree).
#
#   bash scripts/gpu_check.sh RESULTS_DIR [STAGE ...]
#
# Stages (default: all, in this order):
#   build     one build directory (build/gpu, Ninja when present) with only what the later
#             stages run: fusedopt_tests and fusedopt_bench, for this GPU's architecture
#   test      the CUDA tests, run directly and sharded over the cores, with
#             FUSEDOPT_REQUIRE_GPU=1 (a skip is a failure)
#   sanitize  compute-sanitizer memcheck and initcheck over a curated list (every kernel kind:
#             step, pass, finish, zero_grad; every dtype), racecheck on the kernels that use
#             shared memory (the fused step's last-block flag)
#   bench     the mini-bench: AdamW and SGD fused, f32 and bf16, on gpt2, small10k, tensors1000
#             and sweep256M, and AdamW loop/foreach at 1,000 tensors
#   torch     bench/compare_torch.py on the bench stage's JSON only
#   ncu       when ncu is present: DRAM throughput and achieved occupancy of two step kernels
#
# Each stage prints one summary line and writes at most one summary (<stage>.txt) and one
# archive into RESULTS_DIR: 8 files at most in all. Exit status: 0 every stage passed, 1 a
# stage failed, 2 usage, 3 no GPU visible (said at once; `build` alone runs anywhere).
# Environment: FUSEDOPT_BENCH_MIN_TIME (s, default 0.2), FUSEDOPT_BENCH_REPETITIONS (default 5),
# GPU_CHECK_JOBS (default nproc), GPU_CHECK_TIMEOUT (seconds per stage, default 300).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
  sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
results=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "gpu_check.sh: cannot use $1"; exit 2; }
shift
stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(build test sanitize bench torch ncu)
for stage in "${stages[@]}"; do
  case $stage in build | test | sanitize | bench | torch | ncu) ;;
    *) echo "gpu_check.sh: unknown stage '$stage'"; exit 2 ;;
  esac
done

gpu_visible() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }
if ! gpu_visible && [[ ${stages[*]} != build ]]; then
  echo "gpu_check.sh: no GPU visible (nvidia-smi -L lists none): stages ${stages[*]} need one;" \
       "only 'build' runs without a GPU"
  exit 3
fi

jobs=${GPU_CHECK_JOBS:-$(nproc)}
stage_timeout=${GPU_CHECK_TIMEOUT:-300}
build=build/gpu
tests="$build/tests/fusedopt_tests"
bench="$build/bench/fusedopt_bench"
bench_json="$build/bench.json"
prefix="$PWD/build/deps/usr"
export LD_LIBRARY_PATH="$prefix/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu):${LD_LIBRARY_PATH:-}"
export OMP_NUM_THREADS=1
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
failed=0

# `summary STAGE STATUS LINE`: prints the stage's one line and starts its summary file.
summary() {
  local line="$1: $2 — $3"
  echo "$line"
  { echo "$line"; echo "commit $commit, $(date -u +%Y-%m-%dT%H:%M:%SZ)"; } > "$results/$1.txt"
  [[ $2 == ok ]] || failed=1
}
machine() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -n 1
}

stage_build() {
  local start=$SECONDS arch generator=() log="$build/build.log"
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')
  arch=${arch:-90}
  command -v ninja >/dev/null && generator=(-G Ninja)
  [[ -f $build/CMakeCache.txt ]] && generator=()  # keep the generator the directory has
  mkdir -p "$build"
  {
    cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CUDA_ARCHITECTURES="$arch" \
      -DFUSEDOPT_BUILD_TESTS=ON -DFUSEDOPT_BUILD_BENCH=ON -DFUSEDOPT_BUILD_EXAMPLES=OFF &&
      cmake --build "$build" -j "$jobs" --target fusedopt_tests fusedopt_bench
  } > "$log" 2>&1
  local status=$?
  local what="sm_$arch, $(grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$build/CMakeCache.txt" 2>/dev/null && echo Ninja || echo Make), $jobs jobs, $((SECONDS - start)) s"
  grep -q 'CUDA executor ON' "$log" || { status=1; what="$what; CUDA executor OFF (no nvcc?)"; }
  if [[ $status -eq 0 ]]; then
    summary build ok "$what"
  else
    summary build FAILED "$what"
    tail -n 60 "$log" >> "$results/build.txt"
  fi
  { echo "GPU: $(machine)"; nvcc --version 2>/dev/null | tail -n 2; cmake --version | head -n 1; } >> "$results/build.txt"
}

# Every test, CUDA legs included: with FUSEDOPT_REQUIRE_GPU=1 none of them may skip.
cuda_filter='*'

stage_test() {
  local start=$SECONDS logs="$build/test-logs" pids=() status=0
  [[ -x $tests ]] || { summary test FAILED "no $tests: run the build stage first"; return; }
  rm -rf "$logs" && mkdir -p "$logs"
  for ((i = 0; i < jobs; ++i)); do
    GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i FUSEDOPT_REQUIRE_GPU=1 \
      timeout "$stage_timeout" "$tests" --gtest_filter="$cuda_filter" --gtest_brief=1 \
      > "$logs/shard-$i.log" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  local passed failed_tests skipped
  passed=$(cat "$logs"/shard-*.log | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s += $1} END {print s + 0}')
  failed_tests=$(grep -h '^\[  FAILED  \] [A-Z]' "$logs"/shard-*.log | sort -u)
  skipped=$(cat "$logs"/shard-*.log | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s += $1} END {print s + 0}')
  local what="${passed:-0} passed, $(echo -n "$failed_tests" | grep -c . ) failed, ${skipped:-0} skipped, $jobs shards, $((SECONDS - start)) s"
  if [[ $status -eq 0 ]]; then summary test ok "$what"; else summary test FAILED "$what"; fi
  [[ -z $failed_tests ]] || { echo "failed:"; echo "$failed_tests"; } >> "$results/test.txt"
  grep -h -B2 -A12 'Failure\|error:' "$logs"/shard-*.log | head -n 300 >> "$results/test.txt"
  tar -czf "$results/test-logs.tar.gz" -C "$build" test-logs build.log 2>/dev/null
}

# Every kernel kind (step, pass, finish: the three Impls; zero_grad) and dtype at least once.
sanitize_list='AllOptions/TrajectoryTest.MatchesReferenceOver20Steps/AdamW_ams1_wd1_max0_*_cuda:AllOptions/TrajectoryTest.MatchesReferenceOver20Steps/SGD_mom1_damp0_nest1_wd1_max0_f16_cuda:Executors/Api.ZeroGradWritesZerosEverywhereAndNothingElse/cuda:Executors/ManyTensors.*/cuda:Modes/Averaging.*/SWA_bf16_*_cuda:EveryOptimizer/AmpScaling.*/NAdam_*_cuda:Executors/EveryBitPattern.*/f16_fused_cuda:Graph.*:Executors/Frozen.*/cuda_fused_bf16:Executors/ClipInStep.*/cuda_fused_f32_amp:Executors/GradUtils.*/cuda:GradUtilsDeterminism.*:Executors/MasterWeights.*/cuda_fused_bf16:PrecisionCuda.*'
# Shared memory: the fused step's last-block flag (finish_step).
racecheck_list='Executors/ManyTensors.*/cuda:AllOptions/TrajectoryTest.MatchesReferenceOver20Steps/AdamW_ams1_wd1_max0_f32_cuda'

stage_sanitize() {
  local start=$SECONDS logs="$build/sanitize-logs" status=0 pids=() tools=(memcheck initcheck racecheck)
  [[ -x $tests ]] || { summary sanitize FAILED "no $tests: run the build stage first"; return; }
  command -v compute-sanitizer >/dev/null || { summary sanitize FAILED "compute-sanitizer not found"; return; }
  rm -rf "$logs" && mkdir -p "$logs"
  for tool in "${tools[@]}"; do
    local list=$sanitize_list args=(--tool "$tool" --error-exitcode 3)
    [[ $tool == racecheck ]] && list=$racecheck_list
    [[ $tool == memcheck ]] && args+=(--leak-check full)
    FUSEDOPT_REQUIRE_GPU=1 timeout "$stage_timeout" compute-sanitizer "${args[@]}" "$tests" \
      --gtest_filter="$list" --gtest_brief=1 > "$logs/$tool.log" 2>&1 &
    pids+=($!)
  done
  local what=""
  for k in "${!tools[@]}"; do
    wait "${pids[$k]}"
    local rc=$? tool=${tools[$k]}
    local ran errors
    ran=$(sed -n 's/^\[==========\] \([0-9]*\) test.*ran.*/\1/p' "$logs/$tool.log" | tail -n 1)
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$logs/$tool.log" | tail -n 1)
    [[ $rc -eq 0 ]] || status=1
    what="$what$tool ${errors:-?} errors over ${ran:-?} tests (exit $rc); "
  done
  what="$what$((SECONDS - start)) s"
  if [[ $status -eq 0 ]]; then summary sanitize ok "$what"; else summary sanitize FAILED "$what"; fi
  for tool in "${tools[@]}"; do
    { echo "--- $tool"; grep -E '^=========|FAILED' "$logs/$tool.log" | head -n 80; } >> "$results/sanitize.txt"
  done
}

bench_filter='^(AdamW|SGD)(\+bf16_state)?/fused/(f32|bf16)/(gpt2|small10k|tensors1000|sweep64M|sweep256M)/cuda$|^AdamW/(loop|foreach)/f32/tensors1000/cuda$'

stage_bench() {
  local start=$SECONDS log="$build/bench.log"
  [[ -x $bench ]] || { summary bench FAILED "no $bench: run the build stage first"; return; }
  timeout "$stage_timeout" "$bench" --benchmark_filter="$bench_filter" \
    --benchmark_out="$bench_json" --benchmark_out_format=json \
    --benchmark_context=commit="$commit" > "$log" 2>&1
  local status=$?
  local table
  table=$(python3 bench/report.py "$bench_json" --markdown 2>&1)
  [[ $? -eq 0 ]] || status=1
  local what="min time ${FUSEDOPT_BENCH_MIN_TIME:-0.2} s x ${FUSEDOPT_BENCH_REPETITIONS:-5} repetitions, $((SECONDS - start)) s"
  if [[ $status -eq 0 ]]; then summary bench ok "$what"; else summary bench FAILED "$what"; fi
  { echo "GPU: $(machine)"; echo; echo "$table"; } >> "$results/bench.txt"
  [[ $status -eq 0 ]] || tail -n 40 "$log" >> "$results/bench.txt"
  tar -czf "$results/bench.tar.gz" -C "$build" bench.json bench.log 2>/dev/null
}

stage_torch() {
  local start=$SECONDS
  [[ -f $bench_json ]] || { summary torch FAILED "no $bench_json: run the bench stage first"; return; }
  local out status
  out=$(timeout "$stage_timeout" python3 bench/compare_torch.py "$bench_json" --markdown \
    --min-time "${FUSEDOPT_BENCH_MIN_TIME:-0.2}" --repetitions "${FUSEDOPT_BENCH_REPETITIONS:-5}" 2>"$build/torch.log")
  status=$?
  local what="$(python3 -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo 'no torch'), $((SECONDS - start)) s"
  if [[ $status -eq 0 ]]; then summary torch ok "$what"; else summary torch FAILED "$what"; fi
  { echo; echo "$out"; [[ $status -eq 0 ]] || tail -n 30 "$build/torch.log"; } >> "$results/torch.txt"
}

stage_ncu() {
  local start=$SECONDS
  command -v ncu >/dev/null || { summary ncu ok "skipped: ncu not found"; return; }
  [[ -x $bench ]] || { summary ncu FAILED "no $bench: run the build stage first"; return; }
  local metrics=dram__throughput.avg.pct_of_peak_sustained_elapsed,dram__bytes.sum.per_second,sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__occupancy_limit_registers
  local status=0 report=""
  for config in 'AdamW/fused/f32/sweep256M/cuda' 'SGD/fused/bf16/gpt2/cuda'; do
    local out
    out=$(FUSEDOPT_BENCH_MIN_TIME=0.01 FUSEDOPT_BENCH_REPETITIONS=1 timeout 150 \
      ncu --kernel-name regex:step_kernel --launch-skip 3 --launch-count 1 --metrics "$metrics" \
      --csv "$bench" --benchmark_filter="^$config\$" 2>&1)
    [[ $? -eq 0 ]] || status=1
    report="$report--- $config"$'\n'"$(echo "$out" | python3 -c '
import csv, sys
rows = [r for r in csv.reader(l for l in sys.stdin if l.startswith("\""))]
for r in rows[1:]:
    print(f"{r[4][:60]:60} {r[-3]:55} {r[-1]:>14} {r[-2]}")')"$'\n'
    echo "$out" | grep -q ERR_NVGPUCTRPERM && report="$report(no permission for GPU performance counters)"$'\n'
  done
  if [[ $status -eq 0 ]]; then summary ncu ok "$((SECONDS - start)) s"; else summary ncu FAILED "$((SECONDS - start)) s"; fi
  echo "$report" >> "$results/ncu.txt"
}

for stage in "${stages[@]}"; do "stage_$stage"; done
exit $failed
