#!/usr/bin/env bash
# The README's "run it" command: installs dependencies, builds the `fornax`
# CLI and trains an example end to end with live Keras-style progress.
#
#   scripts/run-example.sh                    # examples/fashion_mlp
#   scripts/run-example.sh fashion_cnn        # another folder under examples/
#   scripts/run-example.sh fashion_mlp --foo  # extra arguments go to `fornax train`
#
# Outputs go to out/<example>/: history.json (Keras's History.history plus
# the test-set "evaluate" results).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FORNAX_BUILD_DIR:-build}
example=${1:-fashion_mlp}
[ $# -gt 0 ] && shift

trap 'echo "run-example.sh: FAILED (line $LINENO, exit $?)" >&2' ERR

job=examples/$example/job.yaml
if [ ! -f "$job" ]; then
  echo "run-example.sh: no job file $job; examples:" >&2
  ls examples >&2
  exit 2
fi

# The engine needs no Python; skip the test peers unless asked for them.
FORNAX_SKIP_PY=${FORNAX_SKIP_PY:-1} bash scripts/install-deps.sh
bash scripts/build.sh fornax

out_dir=out/$example
mkdir -p "$out_dir"
echo "run-example.sh: fornax train $job --history $out_dir/history.json $*"
"$build_dir/client/fornax" train "$job" --history "$out_dir/history.json" "$@"
echo "run-example.sh: history written to $out_dir/history.json"
