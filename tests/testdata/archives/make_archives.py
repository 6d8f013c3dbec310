"""Generates the Keras -> Fornax reference archives for M1-2 (acceptance 2, 4).

Run from the repo root (deterministic; rewrites every file next to this script):
  KERAS_BACKEND=jax .venv/bin/python tests/testdata/archives/make_archives.py

Per model NAME it writes:
  NAME.keras           model built, compiled, trained TRAIN_STEPS steps, saved.
  NAME.batches.npz     the training data: x (or x__<input name>) and y (or
                       y__<output name>); fit runs over it in batches of
                       BATCH_SIZE, in order (shuffle=False), one step per batch.
  NAME.predict.npz     x* = fixed predict input, y* = Keras predict on it
                       (from the saved state).
  NAME.continued.npz   every dataset of model.weights.h5 after CONTINUE_STEPS
                       more steps on the same batches, continuing from the
                       loaded .keras; keys are h5 paths such as
                       "layers/dense/vars/0" and "optimizer/vars/2".
Plus mlp_legacy.h5 (Keras-2 style full-model HDF5 from model.save("x.h5"))
and mlp_legacy.predict.npz.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))
BATCH_SIZE = 4
TRAIN_STEPS = 3  # one epoch over 3 batches before the save
CONTINUE_STEPS = 3  # k: steps after the save, same 3 batches again
SEED = 1234


def h5_datasets(path):
  """Returns {h5 path: array} for every dataset in a weights file."""
  out = {}

  def visit(name, obj):
    if isinstance(obj, h5py.Dataset):
      out[name] = obj[()]

  with h5py.File(path, "r") as f:
    f.visititems(visit)
  return out


def flat(prefix, value):
  """npz entries for an array or a dict of named arrays."""
  if isinstance(value, dict):
    return {f"{prefix}__{k}": np.asarray(v) for k, v in value.items()}
  return {prefix: np.asarray(value)}


def mlp(optimizer):
  model = keras.Sequential([
      keras.Input((6,), name="x"),
      layers.Dense(8, activation="relu"),
      layers.Dense(8, activation="relu"),
      layers.Dense(3),
  ], name="mlp")
  model.compile(optimizer=optimizer, loss="mse")
  return model


def mlp_data(rng):
  x = rng.standard_normal((12, 6)).astype("float32")
  y = rng.standard_normal((12, 3)).astype("float32")
  return x, y, rng.standard_normal((5, 6)).astype("float32")


def cnn():
  model = keras.Sequential([
      keras.Input((6, 6, 2), name="image"),
      layers.Conv2D(4, 3),
      layers.BatchNormalization(momentum=0.9),
      layers.Activation("relu"),
      layers.Flatten(),
      layers.Dense(3, activation="softmax"),
  ], name="cnn")
  model.compile(optimizer=keras.optimizers.Adam(0.01),
                loss="sparse_categorical_crossentropy")
  return model


def cnn_data(rng):
  x = rng.standard_normal((12, 6, 6, 2)).astype("float32")
  y = rng.integers(0, 3, (12,)).astype("int32")
  return x, y, rng.standard_normal((5, 6, 6, 2)).astype("float32")


def masked_two_io():
  features = keras.Input((5,), name="features")
  mask = keras.Input((5,), dtype="bool", name="mask")
  masked = ops.where(mask, features, ops.zeros_like(features))
  joined = layers.Concatenate()([masked, ops.cast(mask, "float32")])
  hidden = layers.Dense(8, activation="relu")(joined)
  reg = layers.Dense(2, name="reg")(hidden)
  cls = layers.Dense(1, activation="sigmoid", name="cls")(hidden)
  model = keras.Model({"features": features, "mask": mask},
                      {"reg": reg, "cls": cls}, name="masked_two_io")
  model.compile(optimizer=keras.optimizers.Adam(0.01),
                loss={"reg": "mse", "cls": "binary_crossentropy"})
  return model


def masked_two_io_data(rng):
  def x_of(n):
    return {"features": rng.standard_normal((n, 5)).astype("float32"),
            "mask": rng.random((n, 5)) < 0.6}
  x = x_of(12)
  y = {"reg": rng.standard_normal((12, 2)).astype("float32"),
       "cls": rng.integers(0, 2, (12, 1)).astype("float32")}
  return x, y, x_of(5)


def embedding():
  model = keras.Sequential([
      keras.Input((6,), dtype="int32", name="tokens"),
      layers.Embedding(20, 4),
      layers.Flatten(),
      layers.Dense(1, activation="sigmoid"),
  ], name="embedding")
  model.compile(optimizer=keras.optimizers.Adam(0.01),
                loss="binary_crossentropy")
  return model


def embedding_data(rng):
  x = rng.integers(0, 20, (12, 6)).astype("int32")
  y = rng.integers(0, 2, (12, 1)).astype("float32")
  return x, y, rng.integers(0, 20, (5, 6)).astype("int32")


MODELS = {
    "mlp_sgd": (lambda: mlp(keras.optimizers.SGD(0.05, momentum=0.9)),
                mlp_data),
    "mlp_adam": (lambda: mlp(keras.optimizers.Adam(0.01)), mlp_data),
    "mlp_adamw": (lambda: mlp(keras.optimizers.AdamW(0.01,
                                                     weight_decay=0.05)),
                  mlp_data),
    "cnn_bn": (cnn, cnn_data),
    "masked_two_io": (masked_two_io, masked_two_io_data),
    "embedding": (embedding, embedding_data),
}


def make(name, build, data):
  keras.backend.clear_session()  # layer names restart at dense, dense_1, ...
  keras.utils.set_random_seed(SEED)
  rng = np.random.default_rng(SEED)
  model = build()
  x, y, x_predict = data(rng)
  fit_args = dict(batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
  model.fit(x, y, **fit_args)
  assert int(model.optimizer.iterations.numpy()) == TRAIN_STEPS
  path = os.path.join(OUT, f"{name}.keras")
  model.save(path)
  np.savez(os.path.join(OUT, f"{name}.batches.npz"),
           **flat("x", x), **flat("y", y))

  loaded = keras.models.load_model(path)
  y_predict = loaded.predict(x_predict, verbose=0)
  for got, want in zip(keras.tree.flatten(y_predict),
                       keras.tree.flatten(model.predict(x_predict, verbose=0))):
    np.testing.assert_array_equal(got, want)
  np.savez(os.path.join(OUT, f"{name}.predict.npz"),
           **flat("x", x_predict), **flat("y", y_predict))

  # Continue from the reloaded archive (proves the saved state is complete)
  # and cross-check against continuing the in-memory model.
  loaded.fit(x, y, **fit_args)
  model.fit(x, y, **fit_args)
  assert int(loaded.optimizer.iterations.numpy()) == (TRAIN_STEPS +
                                                       CONTINUE_STEPS)
  tmp = os.path.join(OUT, f"{name}.tmp.weights.h5")
  loaded.save_weights(tmp)
  continued = h5_datasets(tmp)
  model.save_weights(tmp)
  in_memory = h5_datasets(tmp)
  os.remove(tmp)
  for key, value in continued.items():
    np.testing.assert_allclose(value, in_memory[key], rtol=1e-6, atol=1e-7,
                               err_msg=f"{name} {key}")
  np.savez(os.path.join(OUT, f"{name}.continued.npz"), **continued)


def make_legacy_h5():
  keras.backend.clear_session()
  keras.utils.set_random_seed(SEED)
  rng = np.random.default_rng(SEED)
  model = mlp(keras.optimizers.Adam(0.01))
  x, y, x_predict = mlp_data(rng)
  model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0)
  path = os.path.join(OUT, "mlp_legacy.h5")
  model.save(path)
  # compile=True fails in 3.15.1 for a legacy h5 compiled with loss="mse":
  # "Could not deserialize 'keras.metrics.mse' because it is not a
  # KerasSaveable subclass" (see docs/keras-format-notes.md).
  loaded = keras.models.load_model(path, compile=False)
  np.savez(os.path.join(OUT, "mlp_legacy.predict.npz"), x=x_predict,
           y=loaded.predict(x_predict, verbose=0))


if __name__ == "__main__":
  for model_name, (build_fn, data_fn) in MODELS.items():
    make(model_name, build_fn, data_fn)
  make_legacy_h5()
