#!/usr/bin/env bash
# Ninja and ccache, where present, for a build directory the scripts configure: one `cmake`
# flag per line, to append to `cmake --preset`.   bash scripts/build_flags.sh BUILD_DIR
# A directory keeps the generator it was first configured with, so -G is only for a new one.
# ccache runs with this clone as its base directory and without hashing the working directory,
# so that a fresh clone in another folder hits what an earlier clone compiled.
set -euo pipefail
dir=${1:?usage: build_flags.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
if command -v ninja >/dev/null && [ ! -f "$dir/CMakeCache.txt" ]; then
  printf '%s\n' -G Ninja
fi
if command -v ccache >/dev/null; then
  launcher="env;CCACHE_BASEDIR=$root;CCACHE_NOHASHDIR=1;ccache"
  printf '%s\n' "-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher" "-DCMAKE_CUDA_COMPILER_LAUNCHER=$launcher"
fi
