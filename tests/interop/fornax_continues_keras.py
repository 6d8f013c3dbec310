"""Keras -> Fornax -> continued training: optimizer state carries over exactly.

Usage: fornax_continues_keras.py FORNAX_BIN

For SGD with momentum, Adam and AdamW: an MLP is compiled and trained for
one epoch (4 steps) in Keras and saved; Keras then trains one more epoch on
the same batches (no shuffle, no dropout). Fornax resumes the saved archive
(the job's model is the .keras file) for the same epoch and writes
--output; every weight must equal Keras's continued run within 1e-4
relative, and the iteration counts must agree. This fails if any optimizer
slot, the iteration or the learning rate were not restored or not in
Keras's order.
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import h5py  # noqa: E402
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

OPTIMIZERS = {
    "sgd_momentum": {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9}},
    "adam": {"class_name": "Adam", "config": {"learning_rate": 0.01}},
    "adamw": {"class_name": "AdamW", "config": {"learning_rate": 0.01, "weight_decay": 0.05}},
}
SAMPLES, BATCH = 32, 8
RELATIVE = 1e-4


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")


def datasets(archive):
    with zipfile.ZipFile(archive) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        found = {}
        f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return found


def check(name, optimizer, fornax, workdir, x, y):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")], name=name)
    model.compile(optimizer=keras.optimizers.get(optimizer), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    saved = os.path.join(workdir, f"{name}.keras")
    model.save(saved)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    continued = os.path.join(workdir, f"{name}_keras_continued.keras")
    model.save(continued)

    job = os.path.join(workdir, f"{name}.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {saved}
compile:
  optimizer: {json.dumps(optimizer)}
  loss: sparse_categorical_crossentropy
fit: {{epochs: 1, batch_size: {BATCH}, shuffle: false, seed: 1}}
data:
  train:
    x: {workdir}/data.npz:x
    y: {workdir}/data.npz:y
backend: cpu
""")
    resumed = os.path.join(workdir, f"{name}_fornax_continued.keras")
    run([fornax, "train", job, "--output", resumed, "--quiet"])
    want, got = datasets(continued), datasets(resumed)
    worst = 0.0
    for path, value in want.items():
        if path not in got:
            sys.exit(f"FAIL: {name}: Fornax's archive lacks {path}")
        if value.dtype.kind in "iu":
            if int(value) != int(got[path]):
                sys.exit(f"FAIL: {name}: {path} is {got[path]} in Fornax, {value} in Keras")
            continue
        scale = np.maximum(np.abs(value), 1e-3)
        worst = max(worst, float((np.abs(got[path] - value) / scale).max()))
    print(f"{name}: {len(want)} variables, max relative difference {worst:.3g}")
    if not worst <= RELATIVE:
        sys.exit(f"FAIL: {name}: continued weights differ by {worst} relative > {RELATIVE}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fornax_continues_keras.py FORNAX_BIN")
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, 6), dtype=np.float32)
    y = rng.integers(0, 3, SAMPLES).astype(np.int32)
    with tempfile.TemporaryDirectory() as workdir:
        np.savez(os.path.join(workdir, "data.npz"), x=x, y=y)
        for name, optimizer in OPTIMIZERS.items():
            check(name, optimizer, sys.argv[1], workdir, x, y)
    print("OK")


if __name__ == "__main__":
    main()
