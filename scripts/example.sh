#!/usr/bin/env bash
# Builds fusedopt and runs the example training loop (GPU when present, else CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release -B build/release >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" --target mlp_regression
build/release/examples/mlp_regression
