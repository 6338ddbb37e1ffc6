#!/usr/bin/env bash
# The CPU executor under AddressSanitizer + UndefinedBehaviorSanitizer (clang, preset
# "sanitize"): a subset of the unit tests (below), then the checkpoint-loader fuzzer for a bounded
# time from its committed corpus. Called by scripts/test.sh; FUSEDOPT_FUZZ_SECONDS sets the
# fuzzing time in CPU seconds (default 45, spread over the cores).
#
# Under the sanitizers the tests run ~20x slower, so this runs a subset that still reaches every
# optimizer's code: one f32 trajectory case per optimizer with its options on, exact resume and
# AMP for the fused and loop impls (foreach shares loop's pass code), averaging in f32, frozen
# parameters and in-step clipping for the fused impl, a few emulated-device cases, and every
# other test whole, in one gtest shard per core and part, all at once.
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
# Each filter in $jobs gtest shards, all at once: the processes share the cores however long
# each shard turns out to be (one process per filter left a core idle for minutes).
pids=()
for part in everything_else trajectories; do
  for ((shard = 0; shard < jobs; ++shard)); do
    GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$shard "$tests" --gtest_brief=1 \
      --gtest_filter="${!part}" > "$build/sanitize-$part-$shard.log" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
# Failures and sanitizer reports; skips are listed below, by reason.
grep -v "^$" "$build"/sanitize-*.log | grep -v ": Skipped$" |
  grep -v "no CUDA device visible" | tail -40
# Skips stay visible: each reason, counted (without a GPU, the CUDA legs).
echo "sanitize.sh: skipped tests, by reason:"
cat "$build"/sanitize-*.log | awk '/Skipped$/ {getline; print}' | sort | uniq -c
if [ $status -ne 0 ]; then
  echo "sanitize.sh: a test failed or a sanitizer reported an error (logs: $build/sanitize-*.log)"
  exit 1
fi

test_seconds=$((SECONDS - start))
seconds=${FUSEDOPT_FUZZ_SECONDS:-45}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# New inputs go to $work; the committed seeds (tests/fuzz/corpus, and the checkpoint fixtures:
# bf16 state, master weights, an averaged model) are only read.
# libFuzzer's fork mode: one worker per core, for $seconds / $jobs each (the same executions
# as one worker for $seconds: about 1,000 a second each here); a crash stops it with an error.
"$build/tests/fuzz/fuzz_load" -fork="$jobs" -max_total_time=$(((seconds + jobs - 1) / jobs)) \
  -rss_limit_mb=2048 -max_len=65536 -dict=tests/fuzz/checkpoint.dict \
  -artifact_prefix="$build/fuzz-" "$work" tests/fuzz/corpus tests/fixtures/checkpoints 2>&1 |
  grep -v "NEW_FUNC" | tail -8
echo "sanitize.sh: unit tests and ${seconds}s of fuzzing passed under ASan + UBSan" \
  "(build ${build_seconds} s, tests ${test_seconds} s)"
