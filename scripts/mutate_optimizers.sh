#!/usr/bin/env bash
# Shows that the reference tests catch a wrong optimizer: each mutation below breaks one line of
# a functor in kernels/optimizers/ (a flipped sign, a dropped term, a hyper-parameter read from
# another slot, a state not stored). For each, a scratch copy of the tree is built (CPU, no CUDA)
# and that optimizer's trajectory tests run on the CPU executor; the mutation is caught only when
# they fail in every storage dtype (f32, f16 and bf16 parameters), since each dtype has its own
# kernel instances and its own tolerance rule (NOTE(two-byte-tolerance) in test_trajectories.cpp).
#
#   bash scripts/mutate_optimizers.sh [workdir]      (2-4 minutes per mutation on 2 cores)
#   ONLY='Lion' bash scripts/mutate_optimizers.sh    (the mutations whose name matches)
# Exit status 1 when any mutation is missed. The README lists the mutations and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build/mutants-optimizers}
rm -rf "$work/src"
mkdir -p "$work/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
# The working tree's versions of tracked files (an uncommitted functor is what gets tested).
git ls-files -z --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work/src"
src="$work/src"
jobs=${JOBS:-$(nproc)}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# file @ name @ python expression applied to the file's source @ the optimizer's trajectory cases
mutations=(
  "adam.h@Adam: bias correction 1 dropped@s.replace('float(h[kLr] / bias_correction1)', 'float(h[kLr])', 1)@Adam_*:AdamW_*"
  "adam.h@Adam: bias correction 2 dropped@s.replace('float(sqrt(bias_correction2))', 'float(1.0 + 0.0 * bias_correction2)', 1)@Adam_*:AdamW_*"
  "adam.h@Adam: 1 - beta1 read from beta2's slot@s.replace('float(1.0 - h[kBeta1]),', 'float(1.0 - h[kBeta2]),', 1)@Adam_*:AdamW_*"
  "adam.h@Adam: eps read from weight_decay's slot@s.replace('float(h[kEps]),', 'float(h[kWeightDecay]),', 1)@Adam_*:AdamW_*"
  "adam.h@AdamW: decoupled weight decay dropped@s.replace('float(h[kLr] * h[kWeightDecay]),\n            float(1.0 - h[kLr] * h[kWeightDecay]),', 'float(0.0),\n            float(1.0),', 1)@AdamW_*"
  "adam.h@Adam: max_exp_avg_sq not stored@s.replace('return {state_list(1) | state_list(2), state_list(2)};', 'return {state_list(1) | state_list(2), 0u};', 1)@Adam_*:AdamW_*"
  "adam.h@Adam: update's sign flipped@s.replace(': e->p - update;', ': e->p + update;', 1)@Adam_*"
  "lion.h@Lion: update's sign flipped@s.replace('direction > 0.0f ? 1.0f : direction < 0.0f ? -1.0f : 0.0f', 'direction > 0.0f ? -1.0f : direction < 0.0f ? 1.0f : 0.0f', 1)@Lion_*"
  "lion.h@Lion: beta1 read from beta2's slot@s.replace('float(h[kBeta1]),       float(1.0 - h[kBeta1]),', 'float(h[kBeta2]),       float(1.0 - h[kBeta2]),', 1)@Lion_*"
  "lion.h@Lion: weight decay dropped@s.replace('float(h[kLr] * h[kWeightDecay])}', 'float(0.0 * h[kWeightDecay])}', 1)@Lion_*"
  "sgd.h@SGD: dampening ignored@s.replace('float(1.0 - h[kDampening])', 'float(1.0)', 1)@SGD_*"
  "rmsprop.h@RMSprop: alpha read from momentum's slot@s.replace('float(h[kAlpha]),       float(1.0 - h[kAlpha]),', 'float(h[kMomentum]),       float(1.0 - h[kMomentum]),', 1)@RMSprop_*"
  "adadelta.h@Adadelta: eps read from weight_decay's slot@s.replace('float(1.0 - h[kRho]), float(h[kEps]),', 'float(1.0 - h[kRho]), float(h[kWeightDecay]),', 1)@Adadelta_*"
  "asgd.h@ASGD: alpha ignored@s.replace('h[kAlpha])', '0.75)', 1)@ASGD_*"
  "nadam.h@NAdam: momentum_decay ignored@s.replace('step * h[kMomentumDecay]', 'step * 0.004', 1)@NAdam_*"
  "radam.h@RAdam: 1 - beta1 read from beta2's slot@s.replace('float(1.0 - h[kBeta1]),', 'float(1.0 - h[kBeta2]),', 1)@RAdam_*"
  "adamax.h@Adamax: bias correction dropped@s.replace('float(h[kLr] / (1.0 - pow(h[kBeta1], step)))', 'float(h[kLr] + 0.0 * step)', 1)@Adamax_*"
  "adagrad.h@Adagrad: lr_decay ignored@s.replace('double(step_before) * h[kLrDecay]', 'double(step_before) * 0.0', 1)@Adagrad_*"
  "rprop.h@Rprop: etas swapped@s.replace('float(h[kEtaMinus]),    float(h[kEtaPlus]),', 'float(h[kEtaPlus]),    float(h[kEtaMinus]),', 1)@Rprop_*"
)
status=0
for m in "${mutations[@]}"; do
  IFS='@' read -r file name expr cases <<<"$m"
  [[ -z ${ONLY:-} || $name == *$ONLY* ]] || continue
  target="$src/kernels/optimizers/$file"
  cp "kernels/optimizers/$file" "$target"
  python3 - "$target" "$expr" <<'PY'
import sys
s = open(sys.argv[1]).read()
t = eval(sys.argv[2], {"s": s})
if t == s: sys.exit("mutation did not apply: " + sys.argv[2])
open(sys.argv[1], "w").write(t)
PY
  cmake -S "$src" -B "$work/build" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DFUSEDOPT_ENABLE_CUDA=OFF -DFUSEDOPT_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/build" -j "$jobs" --target fusedopt_tests >"$work/build.log" 2>&1 ||
    { echo "ERROR   $name: the mutant does not build ($work/build.log)"; status=1; cp "kernels/optimizers/$file" "$target"; continue; }
  filter=""
  for c in ${cases//:/ }; do filter="$filter${filter:+:}AllOptions/TrajectoryTest.*/${c}_cpu"; done
  OMP_NUM_THREADS=1 "$work/build/tests/fusedopt_tests" --gtest_filter="$filter" --gtest_brief=1 \
    >"$work/mutant.log" 2>&1 || true
  counts="" missed=""
  for dtype in f32 f16 bf16; do
    n=$(grep -c "^\[  FAILED  \] .*_${dtype}_cpu" "$work/mutant.log" || true)
    counts="$counts ${dtype}:${n}"
    [[ $n -gt 0 ]] || missed="$missed $dtype"
  done
  if [[ -z $missed ]]; then
    echo "caught  $name (failed cases per dtype:$counts)"
  else
    echo "MISSED  $name: no failure in$missed (failed cases per dtype:$counts)"; status=1
  fi
  cp "kernels/optimizers/$file" "$target"
done
exit $status
