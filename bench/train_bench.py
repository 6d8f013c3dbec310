#!/usr/bin/env python3
"""Training throughput: Fornax vs PyTorch (CPU) vs Keras 3 on JAX, in one run.

Trains the same two models on the same Fashion-MNIST data with batch 128
and Adam(1e-3), sparse categorical cross-entropy and accuracy:
  mlp: 784 -> Dense 256 relu -> Dense 128 relu -> Dense 10 softmax
  cnn: Conv2D 32 3x3 relu -> MaxPool -> Conv2D 64 3x3 relu -> MaxPool ->
       Flatten -> Dropout 0.5 -> Dense 10 softmax
Each framework runs as its own process (bench/peers/*.py, bench/fornax_bench),
once per thread count (1 and 2 by default; 1 thread also pins the process to
core 0 with taskset), excluding warm-up steps (tracing, compilation, first
allocations); each is credited with its fastest thread count. Prints samples/s
per run, the best per framework and Fornax's ratios against each peer with
the M1-1 targets. Not part of CI.

  python3 bench/train_bench.py                       # everything, defaults
  python3 bench/train_bench.py --models mlp --peers pytorch,keras_jax
  python3 bench/train_bench.py --json out/bench.json # also write all results

Standard library only: runs under any python3. PyTorch runs under
/usr/bin/python3 (Debian's torch needs Debian's numpy), Keras/JAX under the
venv that scripts/install-deps.sh creates, Fornax from the build directory
(scripts/build.sh fornax_bench).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_DIR = os.path.join(ROOT, "bench", "peers")
ALL_PEERS = ("fornax", "pytorch", "keras_jax")
# M1-1's targets on a 2-core machine: Fornax / peer samples/s at least this.
TARGETS = {("mlp", "pytorch"): 2.0, ("mlp", "keras_jax"): 1.2,
           ("cnn", "pytorch"): 1.0, ("cnn", "keras_jax"): 1.0}


def command(peer, model, threads, steps, warmup, batch, args):
    common = ["--model", model, "--threads", str(threads), "--steps", str(steps),
              "--warmup-steps", str(warmup), "--batch", str(batch)]
    if peer == "pytorch":
        return [args.torch_python, os.path.join(PEERS_DIR, "torch_peer.py")] + common
    if peer == "keras_jax":
        return [args.venv_python, os.path.join(PEERS_DIR, "keras_jax_peer.py")] + common
    model_json = os.path.join(ROOT, "bench", "models", f"{model}.json")
    return [args.fornax_bench, "--model_config", model_json] + common


def environment(peer, threads):
    env = dict(os.environ)
    # Every thread pool a peer might use gets the same count.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if peer == "keras_jax":
        env["KERAS_BACKEND"] = "jax"
        env["JAX_PLATFORMS"] = "cpu"
        if threads == 1:
            env["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                                "intra_op_parallelism_threads=1")
        else:
            env.pop("XLA_FLAGS", None)
    if peer == "pytorch":
        env["PYTHONPATH"] = PEERS_DIR
    return env


def run_one(peer, model, threads, steps, args):
    cmd = command(peer, model, threads, steps, args.warmup_steps, args.batch, args)
    if threads == 1 and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0"] + cmd
    proc = subprocess.run(cmd, env=environment(peer, threads), cwd=PEERS_DIR,
                          capture_output=True, text=True, timeout=args.timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
    return {"peer": peer, "model": model, "threads": threads,
            "error": f"exit {proc.returncode}: {tail}"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--peers", default=",".join(ALL_PEERS))
    p.add_argument("--threads", default="1,2", help="thread counts to try per framework")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--mlp-steps", type=int, default=469, help="timed steps (469 = one epoch)")
    p.add_argument("--cnn-steps", type=int, default=100, help="timed steps")
    p.add_argument("--repeats", type=int, default=1, help="runs per configuration; best counts")
    p.add_argument("--timeout", type=int, default=900, help="seconds per run")
    p.add_argument("--torch-python", default="/usr/bin/python3")
    p.add_argument("--venv-python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    p.add_argument("--fornax-bench", default=os.path.join(
        ROOT, os.environ.get("FORNAX_BUILD_DIR", "build"), "bench", "fornax_bench"))
    p.add_argument("--json", help="write every result here")
    args = p.parse_args()

    models = args.models.split(",")
    peers = args.peers.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    if "fornax" in peers and not os.access(args.fornax_bench, os.X_OK):
        print(f"train_bench: {args.fornax_bench} not built (scripts/build.sh fornax_bench); "
              "skipping Fornax", file=sys.stderr)
        peers.remove("fornax")

    results = []
    # Other processes on the cores distort every number (2-thread runs most):
    # say how busy the machine was.
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    print(f"{'model':5} {'framework':10} {'threads':>7} {'samples/s':>10} {'seconds':>8}  "
          f"{'loss':>6} {'acc':>5}", flush=True)
    for model in models:
        steps = args.mlp_steps if model == "mlp" else args.cnn_steps
        for peer in peers:
            for threads in thread_counts:
                for _ in range(args.repeats):
                    r = run_one(peer, model, threads, steps, args)
                    results.append(r)
                    if "error" in r:
                        print(f"{model:5} {peer:10} {threads:>7}  FAILED: {r['error']}", flush=True)
                        continue
                    print(f"{model:5} {peer:10} {threads:>7} {r['samples_per_s']:>10.0f} "
                          f"{r['seconds']:>8.2f}  {r['final_loss']:>6.3f} {r['accuracy']:>5.3f}",
                          flush=True)

    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    best = {}
    for r in results:
        if "error" in r:
            continue
        key = (r["model"], r["peer"])
        if key not in best or r["samples_per_s"] > best[key]["samples_per_s"]:
            best[key] = r
    print("\nbest per framework (samples/s, thread count):")
    for model in models:
        cells = [f"{peer} {best[(model, peer)]['samples_per_s']:.0f} "
                 f"({best[(model, peer)]['threads']}t)" for peer in peers if (model, peer) in best]
        print(f"  {model}: " + ", ".join(cells))
    if any(key[1] == "fornax" for key in best):
        print("\nFornax ratios (Fornax samples/s / peer samples/s; target):")
        for model in models:
            if (model, "fornax") not in best:
                continue
            for peer in peers:
                if peer == "fornax" or (model, peer) not in best:
                    continue
                ratio = best[(model, "fornax")]["samples_per_s"] / best[(model, peer)]["samples_per_s"]
                target = TARGETS.get((model, peer))
                verdict = "" if target is None else (
                    f"; target >= {target:.1f}x: {'met' if ratio >= target else 'NOT met'}")
                print(f"  {model} vs {peer}: {ratio:.2f}x{verdict}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"results": results,
                       "best": {f"{m}/{p}": r for (m, p), r in best.items()}}, f, indent=2)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
