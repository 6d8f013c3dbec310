#!/bin/sh
# `fornax serve` measured by Triton's own load generator, perf_analyzer (not
# a test): trains the Fashion-MNIST MLP and CNN examples briefly (weights do
# not change the cost of a prediction), serves them with dynamic batching on
# and off (max_batch_size 64), and runs perf_analyzer over gRPC with one
# sample per request at concurrency 1, 8 and 64, printing its throughput,
# p50/p99 latency and server-side inference/execution count lines
# (inferences / executions = the average batch). perf_analyzer's client
# shares the 2 cores, so compare its figures within one run, not with
# bench/serving_bench.sh's.
# usage: bench/perf_analyzer_bench.sh BUILD_DIR [WINDOW_MS]
# perf_analyzer: $FORNAX_PERF_ANALYZER, else .venv/perf_analyzer (installed
# by scripts/install-deps.sh).
set -eu
build=${1:?usage: perf_analyzer_bench.sh BUILD_DIR [WINDOW_MS]}
window_ms=${2:-2000}
src=$(cd "$(dirname "$0")/.." && pwd)
pa=${FORNAX_PERF_ANALYZER:-$src/.venv/perf_analyzer/bin/perf_analyzer}
# The binary links libcudart.so.12, installed beside it from PyPI.
LD_LIBRARY_PATH=$(dirname "$(dirname "$pa")")/nvidia/cuda_runtime/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
work=$(mktemp -d)
server=
trap '[ -z "$server" ] || kill "$server"; rm -rf "$work"' EXIT

. "$src/bench/serving_models.sh"
make_serving_repo "$build" "$src" "$work"

"$build/client/fornax" serve --model-repository "$work/repo" --port 0 --metrics-port 0 \
  --http-port -1 \
  > "$work/serve.out" 2> "$work/serve.err" &
server=$!
for _ in $(seq 100); do
  grep -q '^listening' "$work/serve.out" && break
  sleep 0.1
done
url=$(sed -n 's/^listening grpc=\([^ ]*\) .*/\1/p' "$work/serve.out")
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 1; }

echo "machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
"$pa" --version
# --async: a few client threads keep the requests in flight rather than one
# thread per request. -s 25: windows within 25% of each other count as stable
# (the default 10% is rarely met on this shared machine); a level that never
# stabilizes is reported and skipped.
for model in mlp mlp_nobatch cnn cnn_nobatch; do
  for concurrency in 1 8 64; do
    echo "== $model, concurrency $concurrency"
    if "$pa" -i grpc -u "$url" -m "$model" -b 1 --async --concurrency-range "$concurrency" \
        -p "$window_ms" -s 25 > "$work/pa.out" 2>&1; then
      grep -E 'Throughput:|p50 latency:|p99 latency:|Inference count:|Execution count:' "$work/pa.out"
    else
      echo "perf_analyzer failed:"; tail -3 "$work/pa.out"
    fi
  done
done
