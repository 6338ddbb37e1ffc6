#!/usr/bin/env bash
# Builds fusedopt and runs the example training loop (GPU when present, else CPU). Only what
# the example uses is compiled (NOTE(build-what-you-use)): Adam, fused, f32 and bf16 parameters
# with master weights; the CUDA kernels only when a GPU is visible, for that GPU's architecture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=build/example
options=(-DFUSEDOPT_OPTIMIZERS=adam "-DFUSEDOPT_DTYPES=f32;bf16" -DFUSEDOPT_BF16_STATE=OFF
         -DFUSEDOPT_UNFUSED=OFF)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  options+=(-DCMAKE_CUDA_ARCHITECTURES=native)
else
  options+=(-DFUSEDOPT_ENABLE_CUDA=OFF)
fi
mapfile -t fast < <(bash scripts/build_flags.sh "$build")  # Ninja and ccache where present
cmake --preset release -B "$build" "${options[@]}" "${fast[@]}" >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target mlp_regression
"$build/examples/mlp_regression"
