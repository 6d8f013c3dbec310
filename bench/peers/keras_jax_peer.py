"""Keras 3 on JAX (jit) peer for bench/train_bench.py.

Run with the venv's python and KERAS_BACKEND=jax. Builds the benchmark's MLP
or CNN exactly as a Keras user would, compiles with Adam(1e-3),
sparse_categorical_crossentropy and accuracy (jit_compile is on by default
on JAX), warms up with one fit() (tracing and XLA compilation), then times a
second fit() over the fixed step count. Both fits use whole batches, so
nothing retraces. Prints one JSON line. With --write-json DIR it instead
writes the two model configs (model.to_json()) for the Fornax side.
"""
import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

from fashion_data import load_train  # noqa: E402


def build(model):
    if model == "mlp":
        return keras.Sequential([
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ], name="bench_mlp")
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ], name="bench_cnn")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "cnn"])
    p.add_argument("--threads", type=int)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--steps", type=int)
    p.add_argument("--write-json", metavar="DIR")
    args = p.parse_args()

    if args.write_json:
        for name in ("mlp", "cnn"):
            with open(os.path.join(args.write_json, f"{name}.json"), "w") as f:
                f.write(build(name).to_json(indent=2) + "\n")
        return

    keras.utils.set_random_seed(1)
    n_warm = args.warmup_steps * args.batch
    n = n_warm + args.steps * args.batch
    x, y = load_train(n)
    model = build(args.model)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:n_warm], y[:n_warm], batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
    start = time.perf_counter()
    history = model.fit(x[n_warm:], y[n_warm:], batch_size=args.batch, epochs=1, shuffle=False,
                        verbose=0)
    seconds = time.perf_counter() - start
    import jax  # noqa: E402  (for the version only)
    print(json.dumps({
        "peer": "keras_jax", "model": args.model, "threads": args.threads, "steps": args.steps,
        "batch": args.batch, "seconds": seconds,
        "samples_per_s": args.steps * args.batch / seconds,
        "final_loss": history.history["loss"][-1], "accuracy": history.history["accuracy"][-1],
        "version": f"keras {keras.__version__}, jax {jax.__version__}"}))


if __name__ == "__main__":
    main()
