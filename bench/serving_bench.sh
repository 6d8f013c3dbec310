#!/bin/sh
# Serving benchmark (M1-4 acceptance 3; not a test): trains the Fashion-MNIST
# MLP and CNN examples briefly with `fornax train` (weights do not change
# the cost of a prediction), lays out a model repository with dynamic
# batching on (mlp, cnn: max_batch_size 64, queue delay 0) and off
# (mlp_nobatch, cnn_nobatch), and runs serving_bench (fornax serve vs a bare
# gRPC echo server, concurrency 1, 8, 64; ROUNDS times over, the best
# round of each counting), then the engine's own cost per sample.
# usage: bench/serving_bench.sh BUILD_DIR [SECONDS_PER_RUN] [ROUNDS]
set -eu
build=${1:?usage: serving_bench.sh BUILD_DIR [SECONDS] [ROUNDS]}
seconds=${2:-2}
rounds=${3:-3}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

. "$src/bench/serving_models.sh"
make_serving_repo "$build" "$src" "$work"

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
"$build/bench/serving_bench" --fornax "$build/client/fornax" --repo "$work/repo" \
  --seconds "$seconds" --rounds "$rounds"
