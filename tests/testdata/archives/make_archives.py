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
NAME is mlp_<opt>, cnn_bn[_<opt>], masked_two_io[_<opt>] and
embedding[_<opt>] for opt in sgd (SGD momentum 0.9), adam, adamw (no suffix:
adam). Plus mlp_legacy.h5 (Keras-2 style full-model HDF5 from
model.save("x.h5")) and mlp_legacy.predict.npz, and ops_zoo.json (a
Functional model of Keras operations on float, bool and int32 inputs, with
Keras's outputs and input gradients; see make_ops_zoo).
"""

import json
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


def cnn(optimizer):
  model = keras.Sequential([
      keras.Input((6, 6, 2), name="image"),
      # The activation sits before BatchNormalization so the conv bias has a
      # gradient: right before BN it would get only rounding noise, which
      # Adam's normalization turns into lr-sized steps in random directions.
      layers.Conv2D(4, 3),
      layers.Activation("relu"),
      layers.BatchNormalization(momentum=0.9),
      layers.Flatten(),
      layers.Dense(3, activation="softmax"),
  ], name="cnn")
  model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
  return model


def cnn_data(rng):
  x = rng.standard_normal((12, 6, 6, 2)).astype("float32")
  y = rng.integers(0, 3, (12,)).astype("int32")
  return x, y, rng.standard_normal((5, 6, 6, 2)).astype("float32")


def masked_two_io(optimizer):
  features = keras.Input((5,), name="features")
  mask = keras.Input((5,), dtype="bool", name="mask")
  masked = ops.where(mask, features, ops.zeros_like(features))
  joined = layers.Concatenate()([masked, ops.cast(mask, "float32")])
  hidden = layers.Dense(8, activation="relu")(joined)
  reg = layers.Dense(2, name="reg")(hidden)
  cls = layers.Dense(1, activation="sigmoid", name="cls")(hidden)
  model = keras.Model({"features": features, "mask": mask},
                      {"reg": reg, "cls": cls}, name="masked_two_io")
  model.compile(optimizer=optimizer,
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


def embedding(optimizer):
  model = keras.Sequential([
      keras.Input((6,), dtype="int32", name="tokens"),
      layers.Embedding(20, 4),
      layers.Flatten(),
      layers.Dense(1, activation="sigmoid"),
  ], name="embedding")
  model.compile(optimizer=optimizer, loss="binary_crossentropy")
  return model


def embedding_data(rng):
  x = rng.integers(0, 20, (12, 6)).astype("int32")
  y = rng.integers(0, 2, (12, 1)).astype("float32")
  return x, y, rng.integers(0, 20, (5, 6)).astype("int32")


OPTIMIZERS = {
    "sgd": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(0.01),
    "adamw": lambda: keras.optimizers.AdamW(0.01, weight_decay=0.05),
}
ARCHITECTURES = {
    "mlp": (mlp, mlp_data),
    "cnn_bn": (cnn, cnn_data),
    "masked_two_io": (masked_two_io, masked_two_io_data),
    "embedding": (embedding, embedding_data),
}


def model_name(arch, opt):
  """mlp_<opt> for the MLP; the Adam runs of the others keep their plain name."""
  if arch == "mlp":
    return f"mlp_{opt}"
  return arch if opt == "adam" else f"{arch}_{opt}"


# Every architecture with SGD(momentum), Adam and AdamW (acceptance 2).
MODELS = {
    model_name(arch, opt): ((lambda b=build, o=make_opt: b(o())), data)
    for arch, (build, data) in ARCHITECTURES.items()
    for opt, make_opt in OPTIMIZERS.items()
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


def ops_zoo():
  """A Functional model whose outputs are Keras operations on its inputs."""
  f = keras.Input((4,), name="f")
  g = keras.Input((4,), name="g")
  m = keras.Input((4,), dtype="bool", name="m")
  i = keras.Input((4,), dtype="int32", name="i")
  f22 = ops.reshape(f, (-1, 2, 2))
  outputs = {
      "where_scalar": ops.where(m, f, 0.0),
      "where_tensors": ops.where(m, f, g),
      "where_int": ops.where(m, i, 0),
      "cast_bool": ops.cast(m, "float32"),
      "cast_int": ops.cast(i, "float32"),
      "cast_to_int": ops.cast(f * 3.0, "int32"),
      "cast_to_bool": ops.cast(f, "bool"),
      "add_scalar": f + 1.0,
      "scalar_subtract": 2.0 - f,
      "multiply": f * g,
      "divide": ops.divide(f, ops.abs(g) + 1.0),
      "true_divide_int": i / 2,
      "subtract_int": f - ops.cast(i, "float32"),
      "int_add": i + 1,
      "int_times_float": i * f,
      "bool_add": m + m,
      "bool_plus_int": m + 1,
      "concatenate": ops.concatenate([f, ops.cast(m, "float32"), g], axis=-1),
      "concatenate_mixed": ops.concatenate([i, f], axis=1),
      "zeros_like": ops.zeros_like(f),
      "ones_like": ops.ones_like(i),
      "equal": ops.equal(i, 3),
      "not_equal": ops.not_equal(f, g),
      "greater": ops.greater(f, 0.0),
      "greater_equal": f >= g,
      "less": ops.less(f, g),
      "less_equal": ops.less_equal(i, 2),
      "logical_and": ops.logical_and(m, ops.greater(f, 0)),
      "logical_or": ops.logical_or(m, ops.less(g, 0)),
      "logical_not": ops.logical_not(m),
      "logical_xor": ops.logical_xor(m, ops.greater(f, g)),
      "bool_and_operator": m & ops.greater(g, 0),
      "expand_dims": ops.expand_dims(f, -1),
      "squeeze": ops.squeeze(ops.expand_dims(g, 1), axis=1),
      "reshape": f22,
      "transpose": ops.transpose(f22, (0, 2, 1)),
      "sum": ops.sum(f, axis=1, keepdims=True),
      "sum_bool": ops.sum(m, axis=-1),
      "mean": ops.mean(f, axis=-1),
      "mean_int": ops.mean(i, axis=1),
      "max": ops.max(f, axis=1),
      "min": ops.min(g, axis=-1, keepdims=True),
      "max_2d": ops.max(f22, axis=(1, 2)),
      "abs": ops.abs(f),
      "negative": -g,
      "exp": ops.exp(f),
      "log": ops.log(ops.abs(f) + 1.0),
      "log1p": ops.log1p(ops.abs(g)),
      "sqrt": ops.sqrt(ops.abs(f)),
      "square": ops.square(f),
      "square_int": ops.square(i),
      "power": ops.power(f, 2.0),
      "power_int": ops.power(i, 2),
      "maximum": ops.maximum(f, 0.0),
      "maximum_tensors": ops.maximum(f, g),
      "minimum": ops.minimum(f, g),
      "clip": ops.clip(f, -0.5, 0.5),
      "tanh": ops.tanh(f),
      "sigmoid": ops.sigmoid(f),
      "relu": ops.relu(g),
      "softplus": ops.softplus(f),
      "softmax": ops.softmax(f),
      "matmul": ops.matmul(ops.expand_dims(f, 2), ops.expand_dims(g, 1)),
      "matmul_square": ops.matmul(f22, ops.transpose(f22, (0, 2, 1))),
      "stack": ops.stack([f, g], axis=1),
  }
  return keras.Model({"f": f, "g": g, "m": m, "i": i}, outputs, name="ops_zoo")


def make_ops_zoo():
  """ops_zoo.json: the model config, inputs, Keras's outputs and, for each
  float output y, the gradient of sum((y + 0.3)^2) / 2 with respect to the
  float inputs (jax.grad through the model)."""
  import jax  # noqa: PLC0415  (the JAX backend is already loaded)

  keras.backend.clear_session()
  model = ops_zoo()
  rng = np.random.default_rng(SEED)
  # Values away from 0, ties and the clip bounds, so every op is smooth there.
  magnitude = rng.uniform(0.2, 1.8, (3, 4)) * rng.choice([-1, 1], (3, 4))
  x = {"f": magnitude.astype("float32"),
       "g": (rng.uniform(0.2, 1.8, (3, 4)) * rng.choice([-1, 1], (3, 4))
             ).astype("float32"),
       "m": rng.random((3, 4)) < 0.5,
       "i": rng.integers(0, 5, (3, 4)).astype("int32")}
  y = model.predict(x, verbose=0)

  def described(a):
    a = np.asarray(a)
    return {"dtype": str(a.dtype), "shape": list(a.shape),
            "values": a.astype("float64").ravel().tolist()}

  gradients = {}
  for name in sorted(y):
    if np.asarray(y[name]).dtype.kind != "f":
      continue

    def loss(fg, name=name):
      fixed = {k: jax.numpy.asarray(x[k]) for k in ("m", "i")}
      out = model({**fixed, **fg})[name]
      return 0.5 * jax.numpy.sum(jax.numpy.square(out + 0.3))

    grads = jax.grad(loss)({"f": x["f"], "g": x["g"]})
    gradients[name] = {k: described(v)["values"] for k, v in grads.items()}
  with open(os.path.join(OUT, "ops_zoo.json"), "w") as out:
    json.dump({"model": json.loads(model.to_json()),
               "inputs": {k: described(v) for k, v in x.items()},
               "outputs": {k: described(v) for k, v in y.items()},
               "gradients": gradients}, out)
    out.write("\n")


if __name__ == "__main__":
  for model_name_, (build_fn, data_fn) in MODELS.items():
    make(model_name_, build_fn, data_fn)
  make_legacy_h5()
  make_ops_zoo()
