#!/usr/bin/env bash
# THE test command (README, .ci/run): installs dependencies, builds
# everything, checks source sizes, and runs every test through CTest.
# Works on a fresh clone (no .venv/, no build/); fails loudly on the first
# error; ends with CTest's "N% tests passed" summary.
#
#   scripts/test.sh                       # all tests
#   scripts/test.sh -R Trainer            # extra arguments go to ctest
#   scripts/test.sh -LE slow              # leave out the slow tests (CNN acceptance)
#   FORNAX_BUILD_DIR=build-x scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${FORNAX_BUILD_DIR:-build}

trap 'echo "test.sh: FAILED (line $LINENO, exit $?)" >&2' ERR

bash scripts/install-deps.sh

# Tests that drive real Keras/JAX use the venv's python, never a pyenv shim
# or whatever python3 comes first on PATH.
export FORNAX_PYTHON="$root/.venv/bin/python"
export KERAS_BACKEND=jax

bash scripts/build.sh
bash scripts/check-sizes.sh

# --no-tests=error: an empty test list (a broken glob, a failed discovery)
# is a failure, not a silent pass.
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "${FORNAX_TEST_JOBS:-2}" \
  --timeout "${FORNAX_TEST_TIMEOUT:-1200}" "$@"
