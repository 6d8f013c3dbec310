"""Keras -> Fornax -> continued training: optimizer state carries over exactly.

Usage: fornax_continues_keras.py FORNAX_BIN

Part 1 (live Keras): for SGD with momentum, Adam and AdamW, an MLP is
compiled and trained for one epoch (4 steps) in Keras and saved; Keras then
trains one more epoch on the same batches (no shuffle, no dropout). Fornax
resumes the saved archive (the job's model is the .keras file) for the same
epoch and writes --output; every weight must equal Keras's continued run
within 1e-4 relative (to each tensor's largest entry), and the iteration counts must
agree.

Part 2 (reference archives from real Keras 3.15, tests/testdata/archives,
written by make_archives.py): the MLP, the CNN with BatchNormalization, the
Functional model with a bool mask used by ops.where (two inputs, two
outputs) and the Embedding model (int32 ids), each with SGD momentum, Adam
and AdamW, trained 3 steps in Keras and saved. For each, `fornax predict` on
the archive equals Keras's predict within 1e-5, and Fornax continuing 3 more
steps on the same batches (the job compiles as the archive's compile_config
does) ends with every variable of model.weights.h5 (weights, BatchNormalization
moving statistics, optimizer slots) within 1e-4 of Keras's continuation,
relative to the tensor's largest entry, and with the same iteration count.

Part 3 (live Keras): a model of Keras operations on a bool mask (masked
mean, sqrt, maximum, logical_and, concatenate; tests/interop/
fornax_loads_keras.py's masked_ops) continues the same way with Adam.

This fails if any optimizer slot, the iteration or the learning rate were
not restored or not in Keras's order.
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
PREDICT_TOLERANCE = 1e-5
ARCHIVES = ("mlp_sgd", "mlp_adam", "mlp_adamw", "cnn_bn_sgd", "cnn_bn", "cnn_bn_adamw",
            "masked_two_io_sgd", "masked_two_io", "masked_two_io_adamw", "embedding_sgd",
            "embedding", "embedding_adamw")
REFERENCE_BATCH = 4  # make_archives.py's BATCH_SIZE


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")


def datasets(archive):
    with zipfile.ZipFile(archive) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        found = {}
        f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return found


def compare(name, want, got):
    """Max per-tensor relative difference of two {h5 path: array}; exits on a miss."""
    worst, worst_path = 0.0, ""
    for path, value in want.items():
        if path not in got:
            sys.exit(f"FAIL: {name}: Fornax's archive lacks {path}")
        if value.dtype.kind in "iu":
            if int(value) != int(got[path]):
                sys.exit(f"FAIL: {name}: {path} is {got[path]} in Fornax, {value} in Keras")
            continue
        scale = max(float(np.abs(value).max()), 1e-6)
        diff = float(np.abs(got[path] - value).max()) / scale
        if diff > worst:
            worst, worst_path = diff, path
    if not worst <= RELATIVE:
        sys.exit(f"FAIL: {name}: {worst_path} differs by {worst} relative > {RELATIVE}")
    return worst, worst_path


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
    want = datasets(continued)
    worst, worst_path = compare(name, want, datasets(resumed))
    print(f"{name}: {len(want)} variables, max relative difference {worst:.3g} ({worst_path})")


def check_masked_ops(fornax, workdir):
    """Training through Keras operations on a bool mask continues exactly."""
    from fornax_loads_keras import masked_ops  # noqa: PLC0415  (the sibling test's model)
    rng = np.random.default_rng(3)
    model = masked_ops()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss={"score": "mse", "large": "mse"})
    data = {"values": rng.standard_normal((SAMPLES, 6)).astype(np.float32),
            "mask": rng.random((SAMPLES, 6)) < 0.7,
            "score": rng.standard_normal((SAMPLES, 1)).astype(np.float32),
            "large": np.zeros((SAMPLES, 1), np.float32)}
    x = {k: data[k] for k in ("values", "mask")}
    y = {k: data[k] for k in ("score", "large")}
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    saved = os.path.join(workdir, "masked_ops.keras")
    model.save(saved)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    continued = os.path.join(workdir, "masked_ops_keras_continued.keras")
    model.save(continued)
    npz = os.path.join(workdir, "masked_ops.npz")
    np.savez(npz, **data)
    job = os.path.join(workdir, "masked_ops.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {saved}
compile: {{optimizer: {{class_name: Adam, config: {{learning_rate: 0.01}}}},
          loss: {{score: mse, large: mse}}}}
fit: {{epochs: 1, batch_size: {BATCH}, shuffle: false, seed: 1}}
data:
  train:
    x: {{values: "{npz}:values", mask: "{npz}:mask"}}
    y: {{score: "{npz}:score", large: "{npz}:large"}}
backend: cpu
""")
    resumed = os.path.join(workdir, "masked_ops_fornax_continued.keras")
    run([fornax, "train", job, "--output", resumed, "--quiet"])
    want = datasets(continued)
    worst, worst_path = compare("masked_ops", want, datasets(resumed))
    print(f"masked_ops: {len(want)} variables, max relative difference {worst:.3g} ({worst_path})")


def data_yaml(npz, prefix, keys):
    """x: or y: of a job, from a make_archives.py npz ('x' or 'x__<name>' keys)."""
    if prefix in keys:
        return json.dumps(f"{npz}:{prefix}")
    named = sorted(k[len(prefix) + 2:] for k in keys if k.startswith(prefix + "__"))
    return json.dumps({n: f"{npz}:{prefix}__{n}" for n in named})


def check_reference(name, fornax, archives, workdir):
    """Fornax predicts and continues a Keras-saved reference archive."""
    archive = os.path.join(archives, f"{name}.keras")
    with zipfile.ZipFile(archive) as z:
        compile_config = json.loads(z.read("config.json"))["compile_config"]

    with np.load(os.path.join(archives, f"{name}.predict.npz")) as p:
        xs = {k[3:]: p[k] for k in p.files if k.startswith("x__")}
        ys = {k[3:]: p[k] for k in p.files if k.startswith("y__")}
        if not xs:
            xs, ys = {"": p["x"]}, {"": p["y"]}
    suffix = ".npz" if "" not in xs else ".npy"
    x_path = os.path.join(workdir, f"{name}_x{suffix}")
    y_path = os.path.join(workdir, f"{name}_y{suffix}")
    if suffix == ".npz":
        np.savez(x_path, **xs)
    else:
        np.save(x_path, xs[""])
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    if suffix == ".npz":
        with np.load(y_path) as got:
            predicted = {k: got[k] for k in ys}
    else:
        predicted = {"": np.load(y_path)}
    predict_diff = max(float(np.abs(predicted[k] - v).max()) for k, v in ys.items())
    if not predict_diff <= PREDICT_TOLERANCE:
        sys.exit(f"FAIL: {name}: fornax predict differs from Keras by {predict_diff}")

    batches = os.path.join(archives, f"{name}.batches.npz")
    with np.load(batches) as b:
        keys = b.files
    job = os.path.join(workdir, f"{name}.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {archive}
compile: {json.dumps({"optimizer": compile_config["optimizer"], "loss": compile_config["loss"]})}
fit: {{epochs: 1, batch_size: {REFERENCE_BATCH}, shuffle: false, seed: 1}}
data:
  train:
    x: {data_yaml(batches, "x", keys)}
    y: {data_yaml(batches, "y", keys)}
backend: cpu
""")
    resumed = os.path.join(workdir, f"{name}_fornax_continued.keras")
    run([fornax, "train", job, "--output", resumed, "--quiet"])
    with np.load(os.path.join(archives, f"{name}.continued.npz")) as z:
        want = {path: z[path] for path in z.files}
    worst, worst_path = compare(name, want, datasets(resumed))
    print(f"{name}: predict max diff {predict_diff:.3g}; {len(want)} variables after 3 more "
          f"steps, max relative difference {worst:.3g} ({worst_path})")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fornax_continues_keras.py FORNAX_BIN")
    source = os.environ.get("FORNAX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
    archives = os.path.join(source, "tests/testdata/archives")
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, 6), dtype=np.float32)
    y = rng.integers(0, 3, SAMPLES).astype(np.int32)
    with tempfile.TemporaryDirectory() as workdir:
        np.savez(os.path.join(workdir, "data.npz"), x=x, y=y)
        for name, optimizer in OPTIMIZERS.items():
            check(name, optimizer, sys.argv[1], workdir, x, y)
        check_masked_ops(sys.argv[1], workdir)
        for name in ARCHIVES:
            check_reference(name, sys.argv[1], archives, workdir)
    print("OK")


if __name__ == "__main__":
    main()
