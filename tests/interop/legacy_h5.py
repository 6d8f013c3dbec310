"""Legacy Keras full-model .h5 -> Fornax: what real Keras writes loads and predicts the same.

Usage: legacy_h5.py FORNAX_BIN

In a temporary directory, real Keras 3 builds, compiles (Adam) and trains a
few steps an MLP and a Functional CNN with BatchNormalization, and saves each
with model.save("x.h5") (the legacy Keras 2 format). Then:
- `fornax predict --model x.h5` equals Keras's predict within 1e-5;
- `fornax train` on a job whose model is the .h5 and that has no compile
  section trains with the file's training_config (loss, Adam) and continues
  its optimizer state (the saved .keras has iterations = saved + new steps);
  a second job on that .keras giving only compile.metrics keeps its loss,
  optimizer and optimizer state;
- broken copies (no model_config, weight_names naming a missing dataset,
  weights of a layer the config lacks, a file that is no HDF5 past its
  signature) exit 2 with one "fornax: error:" line naming what is wrong.
Exits non-zero with a message on the first failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import h5py  # noqa: E402
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

TOLERANCE = 1e-5


def mlp():
    return keras.Sequential([keras.Input((7,)), keras.layers.Dense(9, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")], name="mlp")


def cnn_bn():
    inputs = keras.Input((8, 8, 2), name="image")
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="cnn_bn")


def run(args, expect):
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if result.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)}: exit {result.returncode}, expected {expect}:\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: legacy_h5.py FORNAX_BIN")
    fornax = sys.argv[1]
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as work:
        paths = {}
        for build, shape in ((mlp, (7,)), (cnn_bn, (8, 8, 2))):
            keras.utils.set_random_seed(3)
            model = build()
            model.compile(optimizer=keras.optimizers.Adam(0.01),
                          loss="sparse_categorical_crossentropy")
            x = rng.standard_normal((16, *shape)).astype("float32")
            y = rng.integers(0, 3, (16,)).astype("int32")
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            path = paths[model.name] = os.path.join(work, f"{model.name}.h5")
            model.save(path)
            np.save(os.path.join(work, "x.npy"), x)
            np.save(os.path.join(work, f"{model.name}_y.npy"), y)
            expected = model.predict(x, verbose=0)
            out = os.path.join(work, "pred.npy")
            run([fornax, "predict", "--model", path, "--input", os.path.join(work, "x.npy"),
                 "--output", out], 0)
            diff = float(np.max(np.abs(np.load(out) - expected)))
            print(f"{model.name}.h5: fornax predict vs keras: max abs diff {diff:.3g}")
            if not diff <= TOLERANCE:
                sys.exit(f"FAIL: {model.name}.h5 predicts {diff} away from Keras")

        # A job with the .h5 as its model and no compile section.
        job = os.path.join(work, "job.yaml")
        with open(job, "w") as f:
            f.write("model: cnn_bn.h5\nfit: {epochs: 1, batch_size: 8, shuffle: false}\n"
                    "data:\n  train: {x: x.npy, y: cnn_bn_y.npy}\n")
        saved = os.path.join(work, "continued.keras")
        run([fornax, "train", job, "--quiet", "--output", saved], 0)
        with zipfile.ZipFile(saved) as z:
            compile_config = json.loads(z.read("config.json"))["compile_config"]
        if compile_config["loss"] != "sparse_categorical_crossentropy" or \
                compile_config["optimizer"]["class_name"] != "Adam":
            sys.exit(f"FAIL: the job did not compile with the file's training_config: "
                     f"{compile_config}")
        continued = keras.models.load_model(saved)
        if int(continued.optimizer.iterations) != 4:  # 2 steps in Keras + 2 in Fornax
            sys.exit(f"FAIL: iterations {int(continued.optimizer.iterations)}, expected 4")
        print("job without compile: trained with the .h5's training_config, iterations 2 -> 4")

        # A .keras model with a compile section giving only metrics: the
        # loss and the optimizer (and its state) stay the archive's.
        with open(job, "w") as f:
            f.write("model: continued.keras\ncompile: {metrics: [accuracy]}\n"
                    "fit: {epochs: 1, batch_size: 8, shuffle: false}\n"
                    "data:\n  train: {x: x.npy, y: cnn_bn_y.npy}\n")
        overridden = os.path.join(work, "overridden.keras")
        run([fornax, "train", job, "--quiet", "--output", overridden], 0)
        with zipfile.ZipFile(overridden) as z:
            compile_config = json.loads(z.read("config.json"))["compile_config"]
        if compile_config["loss"] != "sparse_categorical_crossentropy" or \
                compile_config["optimizer"]["class_name"] != "Adam" or \
                compile_config["metrics"] != ["accuracy"]:
            sys.exit(f"FAIL: compile {{metrics: [accuracy]}} over the .keras: {compile_config}")
        if int(keras.models.load_model(overridden).optimizer.iterations) != 6:
            sys.exit("FAIL: the .keras's optimizer state did not carry over")
        print("job with compile {metrics: [accuracy]} over a .keras: the archive's loss and Adam, "
              "iterations 4 -> 6")

        # Hostile copies.
        def broken(name, edit):
            path = os.path.join(work, f"broken_{name}.h5")
            shutil.copyfile(paths["mlp"], path)
            with h5py.File(path, "r+") as f:
                edit(f)
            return path

        def drop_bias(f):
            f["model_weights/dense"].attrs["weight_names"] = np.array(
                ["mlp/dense/kernel", "mlp/dense/no_bias"], dtype=object)

        def extra_layer(f):
            names = list(f["model_weights"].attrs["layer_names"]) + ["ghost"]
            f["model_weights"].attrs["layer_names"] = np.array(names, dtype=object)
            f["model_weights"].create_group("ghost").attrs["weight_names"] = np.array(
                ["ghost/kernel"], dtype=object)

        cases = [
            (broken("no_config", lambda f: f.attrs.__delitem__("model_config")),
             "without a 'model_config' attribute"),
            (broken("weight_names", drop_bias),
             "dataset 'model_weights/dense/mlp/dense/no_bias' is missing"),
            (broken("extra_layer", extra_layer),
             "model_weights/ghost: weights [ghost/kernel] of layer 'ghost', which the "
             "model_config does not have"),
        ]
        garbage = os.path.join(work, "garbage.h5")
        with open(garbage, "wb") as f:
            f.write(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
        cases.append((garbage, "not a readable HDF5 file"))
        for path, message in cases:
            result = run([fornax, "predict", "--model", path, "--input",
                          os.path.join(work, "x.npy"), "--output", out], 2)
            if not result.stderr.startswith("fornax: error: ") or message not in result.stderr:
                sys.exit(f"FAIL: {path}: expected '{message}', got: {result.stderr}")
            print(f"{os.path.basename(path)}: {result.stderr.strip()}")
    print("OK")


if __name__ == "__main__":
    main()
