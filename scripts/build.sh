#!/usr/bin/env bash
# Configures and builds Fornax (CMake + Ninja, Release, ccache when present).
# Shared by scripts/test.sh and scripts/run-example.sh; does not install deps.
#
#   scripts/build.sh                 # everything, into build/
#   scripts/build.sh fornax          # only these targets
#   FORNAX_BUILD_DIR=build-x FORNAX_CMAKE_ARGS="-DFORNAX_CUDA=ON" scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${FORNAX_BUILD_DIR:-build}

# ccache keys on paths relative to the checkout, so a fresh clone elsewhere
# (CI) still hits the cache that an earlier build filled.
export CCACHE_BASEDIR="$root"
export CCACHE_NOHASHDIR=1

jobs=${FORNAX_JOBS:-$(nproc)}
# shellcheck disable=SC2086  # FORNAX_CMAKE_ARGS is a list of words on purpose
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  ${FORNAX_CMAKE_ARGS:-} >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$build_dir" -j "$jobs" --target "$@"
else
  cmake --build "$build_dir" -j "$jobs"
fi
