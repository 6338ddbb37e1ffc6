#!/usr/bin/env bash
# The CPU executor under AddressSanitizer + UndefinedBehaviorSanitizer (clang, preset
# "sanitize"): a subset of the unit tests (below) and, beside them, the checkpoint-loader fuzzer
# for a fixed number of inputs from its committed corpus. Called by scripts/test.sh;
# FUSEDOPT_FUZZ_RUNS sets the number of inputs (default 45,000).
#
# Under the sanitizers the tests run ~20x slower, so this runs a subset that still reaches every
# optimizer's code: one f32 trajectory case per optimizer with its options on, exact resume and
# AMP for the fused and loop impls (foreach shares loop's pass code), averaging in f32, frozen
# parameters and in-step clipping for the fused impl, a few emulated-device cases, and every
# other test whole.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh sanitize
jobs=$(nproc 2>/dev/null || echo 2)
build=build/sanitize
mapfile -t fast < <(bash scripts/build_flags.sh "$build")  # Ninja and ccache where present
cmake --preset sanitize "${fast[@]}" >/dev/null
start=$SECONDS
cmake --build "$build" -j "$jobs" --target fusedopt_tests fuzz_load
build_seconds=$((SECONDS - start))
start=$SECONDS

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
tests="$build/tests/fusedopt_tests"
# One trajectory case per optimizer, with every option on (each case also has a group with
# maximize flipped and one with its own lr).
cases=(
  SGD_mom1_damp0_nest1_wd1_max1
  SGD_mom1_damp1_nest0_wd1_max1
  Adam_ams1_wd1_max1
  AdamW_ams1_wd1_max1
  RMSprop_centered1_mom1_wd1_max1
  Adagrad_lrdecay1_init1_wd1_max1
  Adamax_wd1_max1
  NAdam_wd1_decoupled1_max1
  RAdam_wd1_decoupled1_max1
  Adadelta_wd1_max1
  Rprop_custom1_max1
  ASGD_t01_wd1_max1
  Lion_wd1_max1
)
trajectories=""
for c in "${cases[@]}"; do
  trajectories="$trajectories${trajectories:+:}AllOptions/TrajectoryTest.*/${c}_f32_cpu"
done
# The emulated device (the CUDA kernels' lanes, vector packs and tails on the CPU, where UBSan
# sees a misaligned vector access): a few trajectories across dtypes, the API and bit patterns.
emulated='Emulated/TrajectoryTest.*/AdamW_ams1_wd1_max1_bf16_emulated:Emulated/TrajectoryTest.*/SGD_mom1_damp0_nest1_wd1_max1_f16_emulated:Emulated/TrajectoryTest.*/RMSprop_centered1_mom1_wd1_max1_f32_emulated:Emulated/ScheduleFreeTrajectory.*/bf16_master_bf16_state_warmup_wd_r_emulated:Emulated/Api.*:Emulated/EveryBitPattern.*'
trajectories="$trajectories:$emulated"
# Not here: the instruction-set and thread tests (this build has one level and may lack OpenMP;
# the main build runs them, and under CI=true they fail rather than skip).
everything_else='-AllOptions/TrajectoryTest.*:Emulated/*:*ExactResume*foreach*:*AmpScaling*foreach*:Modes/Averaging.*f16*:*Frozen*loop*:*Frozen*foreach*:*ClipInStep*loop*:*ClipInStep*foreach*:*MasterWeights*loop*:*MasterWeights*foreach*:AllOptions/CpuIsaTest.*:HyperParameters/CpuThreadsTest.*:*ResumeWithSchedulerAndAveraging*foreach*:*ResumeWithSchedulerAndAveraging*loop*'
# One pool of processes, all at once, so that the cores stay busy until the last one ends (one
# process per filter left a core idle for minutes): each filter in gtest shards (the larger in
# twice as many), and the fuzzer. The fuzzer runs a fixed number of inputs (FUSEDOPT_FUZZ_RUNS,
# default 45,000: what 45 s ran alone here), not a time, so that sharing the cores does not cut
# its work. New inputs go to $work; the committed seeds (tests/fuzz/corpus, and the checkpoint
# fixtures: bf16 state, master weights, an averaged model) are only read.
runs=${FUSEDOPT_FUZZ_RUNS:-45000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/tests/fuzz/fuzz_load" -runs="$runs" -max_total_time=900 -rss_limit_mb=2048 \
  -max_len=65536 -dict=tests/fuzz/checkpoint.dict -print_final_stats=1 \
  -artifact_prefix="$build/fuzz-" "$work" tests/fuzz/corpus tests/fixtures/checkpoints \
  > "$build/fuzz.log" 2>&1 &
fuzzer=$!
pids=()
for part in everything_else trajectories; do
  [ "$part" = everything_else ] && shards=$((2 * jobs)) || shards=$jobs
  for ((shard = 0; shard < shards; ++shard)); do
    GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$shard "$tests" --gtest_brief=1 \
      --gtest_filter="${!part}" > "$build/sanitize-$part-$shard.log" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
test_seconds=$((SECONDS - start))
fuzz_status=0
wait $fuzzer || fuzz_status=1
# Failures and sanitizer reports; skips are listed below, by reason.
grep -v "^$" "$build"/sanitize-*.log | grep -v ": Skipped$" |
  grep -v "no CUDA device visible" | tail -40
# Skips stay visible: each reason, counted (without a GPU, the CUDA legs).
echo "sanitize.sh: skipped tests, by reason:"
cat "$build"/sanitize-*.log | awk '/Skipped$/ {getline; print}' | sort | uniq -c
grep -E "^(Done|stat::)" "$build/fuzz.log" || true
if [ $status -ne 0 ]; then
  echo "sanitize.sh: a test failed or a sanitizer reported an error (logs: $build/sanitize-*.log)"
  exit 1
fi
if [ $fuzz_status -ne 0 ] || ! grep -q "^Done $runs runs" "$build/fuzz.log"; then
  grep -v "NEW_FUNC" "$build/fuzz.log" | tail -40
  echo "sanitize.sh: the fuzzer found an input that fails or did not run $runs inputs" \
    "(log: $build/fuzz.log; inputs: $build/fuzz-*)"
  exit 1
fi
echo "sanitize.sh: unit tests and $runs fuzzer inputs passed under ASan + UBSan" \
  "(build ${build_seconds} s, tests and fuzzing $((SECONDS - start)) s, tests alone ${test_seconds} s)"
