#!/usr/bin/env bash
# Builds fusedopt and runs every test: the GoogleTest suite and the example through ctest, then
# installs the library and builds a consumer project against it with find_package(CONFIG).
# CUDA kernels are compiled when nvcc is present; GPU tests skip with a reason without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
# The time of each phase, printed at the end (also when a phase fails).
phase_start=$SECONDS
phase_times=()
phase_done() {
  phase_times+=("$1 $((SECONDS - phase_start)) s")
  phase_start=$SECONDS
}
trap 'echo "test.sh phases: ${phase_times[*]/%/,} total $SECONDS s"' EXIT
bash scripts/deps.sh
phase_done deps
jobs=$(nproc 2>/dev/null || echo 2)
build=build/test
# Without a GPU the CUDA kernels are only compiled, not run: one architecture (sm_90, no PTX)
# checks that they build at half the compile time; with a GPU, the default architectures.
archs="80-real;90"
if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }; then
  archs="90-real"
fi
mapfile -t fast < <(bash scripts/build_flags.sh "$build")  # Ninja and ccache where present
# The LibTorch example (examples/libtorch) builds against the CPU torch that the interop test
# uses, installed here first (scripts/torch_venv.sh; it exits 77 when pip's index cannot be
# reached, and fails instead under CI=true); CMake finds it through Torch_DIR.
torch=()
venv_status=0
venv_python=$(bash scripts/torch_venv.sh "$build/torch-venv") || venv_status=$?
if [ $venv_status -eq 0 ]; then
  torch=("-DTorch_DIR=$("$venv_python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "share", "cmake", "Torch"))')")
elif [ $venv_status -ne 77 ]; then
  exit $venv_status
else
  echo "test.sh: no torch (pip's index cannot be reached): the LibTorch example is not built"
fi
phase_done torch
cmake --preset test -B "$build" -DCMAKE_CUDA_ARCHITECTURES="$archs" "${fast[@]}" "${torch[@]}" >/dev/null
cmake --build "$build" -j "$jobs"
phase_done build
# ctest runs $jobs test processes at once; one OpenMP thread each keeps the CPU executor's
# threads from oversubscribing the cores (spinning OpenMP barriers made the suite 6x slower);
# the tests that set 2 and 8 threads themselves wait passively (1.3x faster here than spinning).
# The GPU tests skip without a device: their names are left out of the summary so that a
# failure's output, printed again at the end, is what a log's tail shows.
if ! OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
    ctest --test-dir "$build" --output-on-failure -j "$jobs" | grep -v ' (Skipped)$'; then
  bash scripts/failed_test_output.sh "$build"
  exit 1
fi
phase_done ctest

# find_package(fusedopt CONFIG) from an install tree.
prefix="$PWD/$build/install"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/consumer" -j "$jobs" >/dev/null
"$build/consumer/consumer"
phase_done install

# The library built with few optimizers and dtypes (a typical engine): what it compiled steps,
# what it left out throws fusedopt::Error naming the configure option.
mapfile -t fast_options < <(bash scripts/build_flags.sh "$build/build_options")
cmake -S tests/build_options -B "$build/build_options" "${fast_options[@]}" >/dev/null
cmake --build "$build/build_options" -j "$jobs" >/dev/null
"$build/build_options/left_out"
phase_done build_options

# The CPU executor, the tests and the checkpoint-loader fuzzer under ASan + UBSan (clang).
bash scripts/sanitize.sh
phase_done sanitize
