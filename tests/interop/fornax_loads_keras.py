"""Keras -> Fornax interop: archives real Keras 3 saves run in `fornax predict`.

Usage: fornax_loads_keras.py FORNAX_BIN

Builds, compiles (Adam) and trains for a few steps in Keras a Sequential MLP
with Dropout, a Functional CNN with BatchNormalization, a two-input,
two-output Functional model and an Embedding model (int32 input), plus an
MLP compiled but never trained (its archive holds only the optimizer's
iteration and learning rate), and a model of Keras operations on a bool mask
input (where, sum, maximum, sqrt, concatenate, logical_and, ...); saves each with model.save(".keras") and checks
that `fornax predict` on the archive equals Keras's predict within 1e-5 (npz
keyed by input and output names for the multi-IO model).
Exits non-zero with a message on the first failure.
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

TOLERANCE = 1e-5


def mlp():
    return keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(3, activation="softmax"),
    ], name="mlp")


def cnn_bn():
    inputs = keras.Input((10, 10, 2), name="image")
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="cnn_bn")


def two_io():
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    hidden = keras.layers.Dense(5, activation="tanh", name="hid")(
        keras.layers.Concatenate(name="cat")([a, b]))
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(hidden)
    reg = keras.layers.Dense(1, name="reg")(hidden)
    return keras.Model([a, b], [cls, reg], name="two_io")


def embedding():
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(20, 4, name="embed")(tokens)
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(tokens, keras.layers.Dense(3, activation="softmax", name="probs")(x),
                       name="embedding")


def masked_ops():
    """What users write on a padding mask: masked mean, centering, a count."""
    ops = keras.ops
    values = keras.Input((6,), name="values")
    mask = keras.Input((6,), dtype="bool", name="mask")
    weight = ops.cast(mask, "float32")
    kept = ops.where(mask, values, 0.0)
    count = ops.sum(weight, axis=-1, keepdims=True)
    mean = ops.sum(kept, axis=-1, keepdims=True) / ops.maximum(count, 1.0)
    centered = (kept - mean) * weight
    spread = ops.sqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + 1e-6)
    features = ops.concatenate([centered, mean, spread, ops.expand_dims(
        ops.max(ops.abs(kept), axis=-1), -1), count / 6.0], axis=-1)
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(features)
    any_large = ops.cast(ops.logical_and(mask, ops.greater(values, 0.5)), "float32")
    return keras.Model({"values": values, "mask": mask},
                       {"score": keras.layers.Dense(1, name="score")(hidden),
                        "large": ops.sum(any_large, axis=-1, keepdims=True)},
                       name="masked_ops")


def check_masked_ops(fornax, workdir):
    """Keras ops on a bool mask input, trained in Keras, run in fornax predict."""
    rng = np.random.default_rng(3)
    model = masked_ops()
    model.compile(optimizer="adam", loss={"score": "mse", "large": "mse"})
    x = {"values": rng.standard_normal((32, 6)).astype(np.float32),
         "mask": rng.random((32, 6)) < 0.7}
    model.fit(x, {"score": rng.standard_normal((32, 1)).astype(np.float32),
                  "large": np.zeros((32, 1), np.float32)},
              batch_size=8, epochs=1, verbose=0, shuffle=False)
    archive = os.path.join(workdir, "masked_ops.keras")
    model.save(archive)
    test = {"values": rng.standard_normal((20, 6)).astype(np.float32),
            "mask": rng.random((20, 6)) < 0.5}
    keras_y = model.predict(test, verbose=0)
    x_path, y_path = os.path.join(workdir, "ops_x.npz"), os.path.join(workdir, "ops_y.npz")
    np.savez(x_path, **test)
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    with np.load(y_path) as fornax_y:
        diff = max(float(np.abs(fornax_y[k] - np.asarray(keras_y[k])).max())
                   for k in ("score", "large"))
    print(f"masked_ops: max |keras - fornax| = {diff:.3g}")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: masked_ops: Keras and Fornax predictions differ by {diff} > {TOLERANCE}")


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")


def check(name, fornax, workdir, model, xs, ys, loss, train=True):
    rng = np.random.default_rng(1)
    model.compile(optimizer="adam", loss=loss)
    if train:  # else Keras saves the unbuilt optimizer: iteration and learning_rate only
        model.fit(xs if len(xs) > 1 else xs[0], ys if len(ys) > 1 else ys[0], batch_size=8,
                  epochs=1, verbose=0, shuffle=False)
    archive = os.path.join(workdir, f"{name}.keras")
    model.save(archive)
    test = [rng.integers(0, 20, x.shape).astype(x.dtype) if x.dtype.kind == "i"
            else rng.random(x.shape, dtype=np.float32) for x in xs]
    keras_y = model.predict(test if len(test) > 1 else test[0], verbose=0)
    keras_y = keras_y if isinstance(keras_y, list) else [keras_y]
    if len(test) == 1:
        x_path, y_path = os.path.join(workdir, f"{name}_x.npy"), os.path.join(workdir, f"{name}_y.npy")
        np.save(x_path, test[0])
    else:
        x_path, y_path = os.path.join(workdir, f"{name}_x.npz"), os.path.join(workdir, f"{name}_y.npz")
        np.savez(x_path, **{t.name: v for t, v in zip(model.inputs, test)})
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    if y_path.endswith(".npy"):
        fornax_y = [np.load(y_path)]
    else:
        with np.load(y_path) as z:
            fornax_y = [z[n] for n in model.output_names]
    diff = max(float(np.abs(f - np.asarray(k)).max()) for f, k in zip(fornax_y, keras_y))
    print(f"{name}: max |keras - fornax| = {diff:.3g}")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: {name}: Keras and Fornax predictions differ by {diff} > {TOLERANCE}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fornax_loads_keras.py FORNAX_BIN")
    fornax = sys.argv[1]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 32)
    with tempfile.TemporaryDirectory() as workdir:
        check("mlp", fornax, workdir, mlp(), [rng.random((32, 12), dtype=np.float32)], [labels],
              "sparse_categorical_crossentropy")
        check("cnn_bn", fornax, workdir, cnn_bn(), [rng.random((32, 10, 10, 2), dtype=np.float32)],
              [labels], "sparse_categorical_crossentropy")
        check("two_io", fornax, workdir, two_io(),
              [rng.random((32, 4), dtype=np.float32), rng.random((32, 2), dtype=np.float32)],
              [labels, rng.random((32, 1), dtype=np.float32)],
              ["sparse_categorical_crossentropy", "mse"])
        check("mlp_compiled_untrained", fornax, workdir, mlp(),
              [rng.random((32, 12), dtype=np.float32)], [labels],
              "sparse_categorical_crossentropy", train=False)
        check("embedding", fornax, workdir, embedding(),
              [rng.integers(0, 20, (32, 6)).astype(np.int32)], [labels],
              "sparse_categorical_crossentropy")
        check_masked_ops(fornax, workdir)
    print("OK")


if __name__ == "__main__":
    main()
