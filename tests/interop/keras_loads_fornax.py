"""Fornax -> Keras interop: `fornax train --output` archives open in real Keras 3.

Usage: keras_loads_fornax.py FORNAX_BIN

For an MLP (examples/fashion_mlp), a small CNN with BatchNormalization
(built here in Keras and exported with to_json) and the two-input,
two-output Functional model of examples/functional_two_io (and an
Embedding model on int32 ids, and a two-input, two-output Functional model
whose bool mask input feeds keras.ops.where / cast), trained by Fornax on a
Fashion-MNIST subset (or random arrays), checks that keras.models.load_model:
  - emits no warning (Python warnings are errors; logging and anything printed
    to stdout/stderr while loading count as warnings too),
  - predicts what `fornax predict` predicts on the same inputs within 1e-5,
  - restores model.optimizer.iterations to Fornax's step count,
  - keeps the bool input a bool (config.json's InputLayer and the loaded model).
Then, Fornax only: training 2 epochs, saving, and resuming from the .keras
for a third (fit.initial_epoch 2) is bit-identical to 3 epochs straight; the
ModelCheckpoint callback's per-epoch archives load in Keras.
Exits non-zero with a message on the first failure.
"""
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from quiet_load import load_quietly  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
SAMPLES = 256
BATCH = 64
EPOCHS = 2
STEPS = EPOCHS * ((SAMPLES + BATCH - 1) // BATCH)
TOLERANCE = 1e-5


def cnn_config():
    """A Functional CNN with BatchNormalization, as Keras serializes it."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name="cnn_bn").to_json()


def write_job(path, model_path, reshape, epochs=EPOCHS, initial_epoch=0, callbacks="[]"):
    x_extra = f", reshape: {reshape}" if reshape else ""
    with open(path, "w") as f:
        f.write(f"""model: {model_path}
compile:
  optimizer: {{class_name: Adam, config: {{learning_rate: 0.001}}}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: {epochs}
  initial_epoch: {initial_epoch}
  callbacks: {callbacks}
  batch_size: {BATCH}
  seed: 3
data:
  train:
    limit: {SAMPLES}
    x: {{path: {FASHION}/train-images-idx3-ubyte.gz, dtype: float32,
        scale: 0.00392156862745098{x_extra}}}
    y: {FASHION}/train-labels-idx1-ubyte.gz
backend: cpu
""")


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {result.returncode}:\n{result.stderr}")


def check(name, fornax, workdir, model_json, input_shape, reshape):
    model_path = os.path.join(workdir, f"{name}.json")
    with open(model_path, "w") as f:
        f.write(model_json)
    job = os.path.join(workdir, f"{name}.yaml")
    write_job(job, model_path, reshape)
    archive = os.path.join(workdir, f"{name}.keras")
    run([fornax, "train", job, "--output", archive, "--quiet"])

    model = load_quietly(archive)
    x = np.random.default_rng(7).random((40,) + input_shape, dtype=np.float32)
    x_path, y_path = os.path.join(workdir, f"{name}_x.npy"), os.path.join(workdir, f"{name}_y.npy")
    np.save(x_path, x)
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    fornax_y = np.load(y_path)
    keras_y = np.asarray(model.predict(x, verbose=0))
    diff = float(np.abs(fornax_y - keras_y).max())
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    print(f"{name}: max |keras - fornax| = {diff:.3g}, optimizer.iterations = {iterations}")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: {name}: Keras and Fornax predictions differ by {diff} > {TOLERANCE}")
    if iterations != STEPS:
        sys.exit(f"FAIL: {name}: optimizer.iterations is {iterations}, Fornax took {STEPS} steps")


def check_two_io(fornax, workdir, source):
    """examples/functional_two_io: dict inputs and outputs, two losses."""
    model_path = os.path.join(source, "examples/functional_two_io/model.json")
    # The example's derived arrays (what its make_data.py writes), computed
    # here: a fresh clone has no examples/functional_two_io/data/.
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    pixels = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:SAMPLES]
    pixels = pixels.astype(np.float32) / 255.0
    data = os.path.join(workdir, "two_io_train.npz")
    np.savez(data, row_means=pixels.mean(axis=2, dtype=np.float32),
             brightness=pixels.mean(axis=(1, 2), dtype=np.float32).reshape(-1, 1))
    job = os.path.join(workdir, "two_io.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {model_path}
compile:
  optimizer: adam
  loss: {{label: sparse_categorical_crossentropy, brightness: mean_squared_error}}
  loss_weights: {{label: 1.0, brightness: 0.5}}
  metrics: {{label: [accuracy], brightness: [mae]}}
fit: {{epochs: {EPOCHS}, batch_size: {BATCH}, seed: 3}}
data:
  train:
    limit: {SAMPLES}
    x:
      image: {{path: {FASHION}/train-images-idx3-ubyte.gz, dtype: float32,
              scale: 0.00392156862745098, reshape: [784]}}
      row_means: {data}:row_means
    y:
      label: {FASHION}/train-labels-idx1-ubyte.gz
      brightness: {data}:brightness
backend: cpu
""")
    archive = os.path.join(workdir, "two_io.keras")
    run([fornax, "train", job, "--output", archive, "--quiet"])
    model = load_quietly(archive)
    rng = np.random.default_rng(5)
    x = {"image": rng.random((40, 784), dtype=np.float32),
         "row_means": rng.random((40, 28), dtype=np.float32)}
    x_path, y_path = os.path.join(workdir, "two_io_x.npz"), os.path.join(workdir, "two_io_y.npz")
    np.savez(x_path, **x)
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    keras_y = model.predict(x, verbose=0)
    with np.load(y_path) as fornax_y:
        diff = max(float(np.abs(fornax_y[k] - np.asarray(keras_y[k])).max())
                   for k in ("label", "brightness"))
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    print(f"two_io: max |keras - fornax| = {diff:.3g}, optimizer.iterations = {iterations}")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: two_io: Keras and Fornax predictions differ by {diff} > {TOLERANCE}")
    if iterations != STEPS:
        sys.exit(f"FAIL: two_io: optimizer.iterations is {iterations}, Fornax took {STEPS} steps")


def check_embedding(fornax, workdir):
    """An Embedding model on int32 token ids (data from an .npz)."""
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = keras.layers.Flatten(name="flatten")(keras.layers.Embedding(20, 4, name="embed")(tokens))
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    model_path = os.path.join(workdir, "embedding.json")
    with open(model_path, "w") as f:
        f.write(keras.Model(tokens, outputs, name="embedding").to_json())
    rng = np.random.default_rng(11)
    data = os.path.join(workdir, "tokens.npz")
    np.savez(data, x=rng.integers(0, 20, (SAMPLES, 6)).astype(np.int32),
             y=rng.integers(0, 3, SAMPLES).astype(np.int32))
    job = os.path.join(workdir, "embedding.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {model_path}
compile: {{optimizer: adam, loss: sparse_categorical_crossentropy}}
fit: {{epochs: {EPOCHS}, batch_size: {BATCH}, seed: 3}}
data: {{train: {{x: "{data}:x", y: "{data}:y"}}}}
backend: cpu
""")
    archive = os.path.join(workdir, "embedding.keras")
    run([fornax, "train", job, "--output", archive, "--quiet"])
    model = load_quietly(archive)
    if model.inputs[0].dtype != "int32":
        sys.exit(f"FAIL: embedding: Keras loaded the tokens input as {model.inputs[0].dtype}")
    x = rng.integers(0, 20, (40, 6)).astype(np.int32)
    x_path, y_path = os.path.join(workdir, "tokens_x.npy"), os.path.join(workdir, "tokens_y.npy")
    np.save(x_path, x)
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    diff = float(np.abs(np.load(y_path) - np.asarray(model.predict(x, verbose=0))).max())
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    print(f"embedding: max |keras - fornax| = {diff:.3g}, optimizer.iterations = {iterations}")
    if not diff <= TOLERANCE or iterations != STEPS:
        sys.exit(f"FAIL: embedding: difference {diff}, iterations {iterations} (want {STEPS})")


def masked_config():
    """Two inputs (float features and a bool mask used by ops.where), two outputs."""
    features = keras.Input((5,), name="features")
    mask = keras.Input((5,), dtype="bool", name="mask")
    masked = keras.ops.where(mask, features, keras.ops.zeros_like(features))
    joined = keras.layers.Concatenate()([masked, keras.ops.cast(mask, "float32")])
    hidden = keras.layers.Dense(8, activation="relu")(joined)
    reg = keras.layers.Dense(2, name="reg")(hidden)
    cls = keras.layers.Dense(1, activation="sigmoid", name="cls")(hidden)
    return keras.Model({"features": features, "mask": mask}, {"reg": reg, "cls": cls},
                       name="masked_two_io").to_json()


def check_masked(fornax, workdir):
    """Keras operations on a bool input survive Fornax training and saving."""
    model_path = os.path.join(workdir, "masked.json")
    with open(model_path, "w") as f:
        f.write(masked_config())
    rng = np.random.default_rng(13)
    data = os.path.join(workdir, "masked.npz")
    features = rng.standard_normal((SAMPLES, 5)).astype(np.float32)
    mask = rng.random((SAMPLES, 5)) < 0.6
    np.savez(data, features=features, mask=mask,
             reg=(features * mask).sum(axis=1, keepdims=True).repeat(2, axis=1),
             cls=(mask.sum(axis=1, keepdims=True) > 3).astype(np.float32))
    job = os.path.join(workdir, "masked.yaml")
    with open(job, "w") as f:
        f.write(f"""model: {model_path}
compile:
  optimizer: {{class_name: Adam, config: {{learning_rate: 0.01}}}}
  loss: {{reg: mse, cls: binary_crossentropy}}
fit: {{epochs: {EPOCHS}, batch_size: {BATCH}, seed: 3}}
data:
  train:
    x: {{features: "{data}:features", mask: "{data}:mask"}}
    y: {{reg: "{data}:reg", cls: "{data}:cls"}}
backend: cpu
""")
    archive = os.path.join(workdir, "masked.keras")
    run([fornax, "train", job, "--output", archive, "--quiet"])
    with zipfile.ZipFile(archive) as z:
        layers = {l["name"]: l for l in json.loads(z.read("config.json"))["config"]["layers"]}
    if layers["mask"]["config"]["dtype"] != "bool":
        sys.exit(f"FAIL: masked: config.json's mask InputLayer is {layers['mask']['config']}")
    model = load_quietly(archive)
    dtypes = {t.name: t.dtype for t in model.inputs}
    if dtypes != {"features": "float32", "mask": "bool"}:
        sys.exit(f"FAIL: masked: Keras loaded input dtypes {dtypes}")
    x = {"features": rng.standard_normal((40, 5)).astype(np.float32),
         "mask": rng.random((40, 5)) < 0.5}
    x_path, y_path = os.path.join(workdir, "masked_x.npz"), os.path.join(workdir, "masked_y.npz")
    np.savez(x_path, **x)
    run([fornax, "predict", "--model", archive, "--input", x_path, "--output", y_path])
    keras_y = model.predict(x, verbose=0)
    with np.load(y_path) as fornax_y:
        diff = max(float(np.abs(fornax_y[k] - np.asarray(keras_y[k])).max())
                   for k in ("reg", "cls"))
    iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    print(f"masked_two_io: max |keras - fornax| = {diff:.3g}, optimizer.iterations = "
          f"{iterations}, input dtypes {dtypes}")
    if not diff <= TOLERANCE or iterations != STEPS:
        sys.exit(f"FAIL: masked: difference {diff}, iterations {iterations} (want {STEPS})")


def check_checkpoints(fornax, workdir, mlp_path):
    """ModelCheckpoint writes one archive per epoch that Keras loads."""
    pattern = os.path.join(workdir, "ckpt-{epoch:02d}.keras")
    job = os.path.join(workdir, "ckpt.yaml")
    write_job(job, mlp_path, "[784]",
              callbacks=f'[{{class_name: ModelCheckpoint, config: {{filepath: "{pattern}"}}}}]')
    run([fornax, "train", job, "--quiet"])
    for epoch in range(1, EPOCHS + 1):
        model = load_quietly(os.path.join(workdir, f"ckpt-{epoch:02d}.keras"))
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        want = epoch * STEPS // EPOCHS
        if iterations != want:
            sys.exit(f"FAIL: checkpoint of epoch {epoch}: iterations {iterations}, want {want}")
    print(f"checkpoints: {EPOCHS} epochs saved, each loads with its step count")


def weights_of(archive):
    """Every dataset of the archive's model.weights.h5, by path."""
    import h5py  # noqa: PLC0415  (only this check needs it)
    with zipfile.ZipFile(archive) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        found = {}
        f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return found


def check_resume(fornax, workdir, mlp_path):
    """3 epochs straight == 2 epochs, save, resume from the .keras for 1 more."""
    archives = {}
    for name, model, epochs, initial in (("straight", mlp_path, 3, 0), ("first", mlp_path, 2, 0),
                                         ("resumed", os.path.join(workdir, "first.keras"), 3, 2)):
        job = os.path.join(workdir, f"{name}.yaml")
        write_job(job, model, "[784]", epochs, initial)
        archives[name] = os.path.join(workdir, f"{name}.keras")
        run([fornax, "train", job, "--output", archives[name], "--quiet"])
    straight, resumed = weights_of(archives["straight"]), weights_of(archives["resumed"])
    differing = [k for k in straight if k not in resumed or
                 straight[k].tobytes() != resumed[k].tobytes()]
    print(f"resume: {len(straight)} datasets, {len(differing)} differ from the straight run")
    if differing or len(straight) != len(resumed):
        sys.exit(f"FAIL: resumed training is not bit-identical to the straight run: {differing}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: keras_loads_fornax.py FORNAX_BIN")
    fornax = sys.argv[1]
    source = os.environ.get("FORNAX_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
    with open(os.path.join(source, "examples/fashion_mlp/model.json")) as f:
        mlp_json = f.read()
    with tempfile.TemporaryDirectory() as workdir:
        check("mlp", fornax, workdir, mlp_json, (784,), "[784]")
        check("cnn_bn", fornax, workdir, cnn_config(), (28, 28, 1), "[28, 28, 1]")
        check_two_io(fornax, workdir, source)
        check_embedding(fornax, workdir)
        check_masked(fornax, workdir)
        check_resume(fornax, workdir, os.path.join(workdir, "mlp.json"))
        check_checkpoints(fornax, workdir, os.path.join(workdir, "mlp.json"))
    print("OK")


if __name__ == "__main__":
    main()
