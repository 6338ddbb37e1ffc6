#!/usr/bin/env bash
# Packs GoogleTest, Google Benchmark and nlohmann-json (headers, libraries, CMake package files) from this
# Debian machine into build/deps/usr, for a GPU machine that cannot install packages: carry
# build/deps with the working tree and point CMake at it (scripts/gpu_session.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
multiarch=$(gcc -print-multiarch)
dst=build/deps/usr
rm -rf build/deps
mkdir -p "$dst/include" "$dst/lib/$multiarch/cmake"
cp -r /usr/include/gtest /usr/include/gmock /usr/include/benchmark /usr/include/nlohmann "$dst/include/"
mkdir -p "$dst/share/cmake"
cp -r /usr/share/cmake/nlohmann_json "$dst/share/cmake/"
cp -a /usr/lib/"$multiarch"/libgtest*.a /usr/lib/"$multiarch"/libgmock*.a \
  /usr/lib/"$multiarch"/libbenchmark*.so* /usr/lib/"$multiarch"/libbenchmark_main.a "$dst/lib/$multiarch/"
cp -r /usr/lib/"$multiarch"/cmake/GTest /usr/lib/"$multiarch"/cmake/benchmark "$dst/lib/$multiarch/cmake/"
du -sh build/deps
