#!/usr/bin/env bash
# The README's "run it" command: installs dependencies, builds Fornax, starts
# a coordinator and one worker on this machine, submits an example job,
# follows it live (Keras-style progress rebuilt from the event stream),
# pulls the trained model as a .keras file, deploys it to the worker and
# asks it for predictions over the Open Inference Protocol.
#
#   scripts/run-example.sh                     # examples/fashion_mlp on the service
#   scripts/run-example.sh fashion_cnn         # another folder under examples/
#   scripts/run-example.sh --local             # no service: `fornax train` in this process
#   scripts/run-example.sh fashion_mlp --priority 5   # extra arguments go to `fornax submit`
#                                                     # (with --local: to `fornax train`)
#
# Service mode: the coordinator keeps its state (SQLite) and artifacts
# (datasets, checkpoints) in out/service/coordinator, the worker its job
# directories and dataset cache in out/service/worker; their logs are
# out/service/*.log. The coordinator listens on 127.0.0.1:$FORNAX_PORT
# (default 7070; FORNAX_PORT=0 picks a free port). Both daemons are stopped
# when the script exits, also on failure or Ctrl-C.
# Outputs: out/<example>/model.keras (and, with --local, history.json).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${FORNAX_BUILD_DIR:-build}

example=fashion_mlp
local_run=0
extra=()
for arg in "$@"; do
  case "$arg" in
    --local) local_run=1 ;;
    -*) extra+=("$arg") ;;
    *) if [ ${#extra[@]} -eq 0 ] && [ "$example" = fashion_mlp ] && [ -d "examples/$arg" ]; then
         example=$arg
       else
         extra+=("$arg")
       fi ;;
  esac
done

fail() {
  echo "run-example.sh: $*" >&2
  exit 2
}

job=examples/$example/job.yaml
if [ ! -f "$job" ]; then
  echo "run-example.sh: no job file $job; examples:" >&2
  ls examples >&2
  exit 2
fi
out_dir=out/$example
mkdir -p "$out_dir"

# The engine needs no Python; skip the test peers unless asked for them.
FORNAX_SKIP_PY=${FORNAX_SKIP_PY:-1} bash scripts/install-deps.sh

fornax=$build_dir/client/fornax
if [ "$local_run" = 1 ]; then
  bash scripts/build.sh fornax
  echo "run-example.sh: fornax train $job --history $out_dir/history.json" \
    "--output $out_dir/model.keras ${extra[*]:-}"
  "$fornax" train "$job" --history "$out_dir/history.json" --output "$out_dir/model.keras" \
    ${extra[@]+"${extra[@]}"}
  echo "run-example.sh: history in $out_dir/history.json, model in $out_dir/model.keras"
  exit 0
fi

bash scripts/build.sh fornax fornax-coordinator fornax-worker

service_dir=out/service
mkdir -p "$service_dir/coordinator" "$service_dir/worker"
port=${FORNAX_PORT:-7070}
if [ "$port" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  fail "port $port on 127.0.0.1 is in use (another fornax-coordinator?); stop it, or pick" \
    "another port: FORNAX_PORT=$((port + 1)) scripts/run-example.sh (FORNAX_PORT=0: any free port)"
fi

pids=()
stop_daemons() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Graceful shutdown first; whatever is still there after 10 s is killed.
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  [ ${#pids[@]} -gt 0 ] && echo "run-example.sh: coordinator and worker stopped" \
    "(logs: $service_dir/coordinator.log, $service_dir/worker.log)" >&2
  [ "$status" != 0 ] && echo "run-example.sh: FAILED (exit $status)" >&2
  exit "$status"
}
trap stop_daemons EXIT
trap 'echo >&2; exit 130' INT TERM  # the newline ends a half-drawn progress bar

# wait_listening NAME PID FILE: waits for the daemon's "listening ..." line
# and prints it; fails with the daemon's log when it exits first.
wait_listening() {
  local name=$1 pid=$2 out=$3
  for _ in $(seq 300); do
    if grep -q '^listening ' "$out" 2>/dev/null; then
      grep -m1 '^listening ' "$out"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-example.sh: $name exited before listening; its log ($service_dir/$name.log):" >&2
      tail -n 20 "$service_dir/$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "run-example.sh: $name did not print its listening line within 30 s" >&2
  exit 1
}

"$build_dir/server/fornax-coordinator" --listen "127.0.0.1:$port" \
  --data-dir "$service_dir/coordinator" --metrics-listen 127.0.0.1:0 \
  >"$service_dir/coordinator.out" 2>"$service_dir/coordinator.log" &
pids+=($!)
line=$(wait_listening coordinator "${pids[0]}" "$service_dir/coordinator.out")
address=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' <<<"$line")
echo "run-example.sh: fornax-coordinator $line"

"$build_dir/worker/fornax-worker" --coordinator "$address" --name local-1 \
  --work-dir "$service_dir/worker" --metrics-listen 127.0.0.1:0 \
  >"$service_dir/worker.out" 2>"$service_dir/worker.log" &
pids+=($!)
line=$(wait_listening worker "${pids[1]}" "$service_dir/worker.out")
echo "run-example.sh: fornax-worker $line"

export FORNAX_COORDINATOR=$address
echo "run-example.sh: fornax submit $job ${extra[*]:-}"
job_id=$("$fornax" submit "$job" ${extra[@]+"${extra[@]}"})
# What `fornax submit --follow` does, in two steps so the script keeps the
# job id while the progress bars still draw on the terminal.
echo "run-example.sh: job $job_id; fornax logs -f $job_id"
"$fornax" logs -f "$job_id"
"$fornax" pull "$job_id" -o "$out_dir/model.keras"
echo "run-example.sh: the trained model is $out_dir/model.keras" \
  "(keras.models.load_model opens it; so does fornax predict)"

# Serve it: the worker hosts the final model over the Open Inference
# Protocol, and the first 1,000 test images go through it.
"$fornax" deploy "$job_id" --name "$example"
/usr/bin/python3 - "$job" "$out_dir" <<'PY'
import gzip, re, sys
import numpy as np
job, out = sys.argv[1], sys.argv[2]
reshape = [int(d) for d in re.findall(r"reshape: \[([0-9, ]+)\]", open(job).read())[-1].split(",")]
root = "/usr/share/datasets/fashion-mnist/"
with gzip.open(root + "t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:1000]
with gzip.open(root + "t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)[:1000]
np.save(out + "/test_x.npy", (x.astype(np.float32) / 255).reshape([-1] + reshape))
np.save(out + "/test_y.npy", y)
PY
"$fornax" predict --model "$example" --input "$out_dir/test_x.npy" \
  --output "$out_dir/test_predictions.npy"
/usr/bin/python3 -c "
import numpy as np
p = np.load('$out_dir/test_predictions.npy'); y = np.load('$out_dir/test_y.npy')
print('run-example.sh: served by the worker: accuracy %.4f on the first %d test images'
      ' (%s)' % ((p.argmax(1) == y).mean(), len(y), '$out_dir/test_predictions.npy'))"
