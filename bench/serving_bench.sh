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

for model in mlp cnn; do
  sed -e "s|^model: model.json|model: $src/examples/fashion_$model/model.json|" \
      -e "s|epochs: [0-9]*|epochs: 1|" \
      -e "s|path: \(/usr/share/datasets/fashion-mnist/[a-z0-9-]*\.gz\),|path: \1, limit: 512,|" \
      -e "s|y: \(/usr/share/datasets/fashion-mnist/[a-z0-9-]*\.gz\)|y: {path: \1, limit: 512}|" \
      "$src/examples/fashion_$model/job.yaml" > "$work/$model.yaml"
  "$build/client/fornax" train "$work/$model.yaml" --quiet --output "$work/$model.keras" >/dev/null
  for variant in "$model" "${model}_nobatch"; do
    mkdir -p "$work/repo/$variant/1"
    cp "$work/$model.keras" "$work/repo/$variant/1/model.keras"
  done
  echo '{"max_batch_size": 64}' > "$work/repo/$model/config.json"
  echo '{"max_batch_size": 64, "dynamic_batching": false}' > "$work/repo/${model}_nobatch/config.json"
done

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
"$build/bench/serving_bench" --fornax "$build/client/fornax" --repo "$work/repo" \
  --seconds "$seconds" --rounds "$rounds"
