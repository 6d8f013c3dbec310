"""Regenerates the legacy full-model .h5 test files (Keras 3.15, jax backend).

Run with the repo's venv: .venv/bin/python tests/testdata/archives/make_legacy.py

`model.save("x.h5")` in Keras 3 writes the legacy (Keras 2) format: root
attributes model_config / training_config / keras_version / backend,
model_weights/<layer>/<weight_name> datasets listed by each group's
weight_names attribute, optimizer_weights likewise. Files (legacy_NAME):

- legacy_mlp.h5, legacy_cnn_bn.h5: an MLP (Adam, mse) and a CNN with
  BatchNormalization (Adam, sparse_categorical_crossentropy), trained 3 steps
  and saved; legacy_NAME.predict.npz holds x (5 rows) and Keras's predict of
  the reloaded file (compile=False: compile=True fails for loss="mse" in
  3.15, see docs/keras-format-notes.md).
- legacy_mlp_k2names.h5: legacy_mlp.h5 rewritten with tf.keras 2.x naming
  ("dense/kernel:0" datasets at model_weights/dense/dense/kernel:0) and a
  tf.keras 2.x optimizer layout (Adam/iter:0, all m's, then all v's; no
  learning_rate): the weights load, the optimizer state does not match and
  starts fresh.
- legacy_mlp_chunked.h5: legacy_mlp.h5 with layer_names and dense's
  weight_names split into name0, name1 attributes, as Keras writes lists
  over HDF5's 64 KB object header limit.
- legacy_hostile_*.h5: broken copies of legacy_mlp.h5 that must be refused
  with a message (no_model_config, model_config_not_json, bad_weight_names,
  weight_count, missing_layer, shape_mismatch, weights_not_numeric).
"""

import json
import os
import shutil

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.dirname(os.path.abspath(__file__))
SEED = 4321


def mlp():
  model = keras.Sequential([
      keras.Input((6,), name="x"),
      layers.Dense(8, activation="relu"),
      layers.Dense(8, activation="relu"),
      layers.Dense(3),
  ], name="mlp")
  model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
  rng = np.random.default_rng(SEED)
  x = rng.standard_normal((12, 6)).astype("float32")
  y = rng.standard_normal((12, 3)).astype("float32")
  return model, x, y, rng.standard_normal((5, 6)).astype("float32")


def cnn_bn():
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
  rng = np.random.default_rng(SEED)
  x = rng.standard_normal((12, 6, 6, 2)).astype("float32")
  y = rng.integers(0, 3, (12,)).astype("int32")
  return model, x, y, rng.standard_normal((5, 6, 6, 2)).astype("float32")


def make(name, build):
  keras.backend.clear_session()
  keras.utils.set_random_seed(SEED)
  model, x, y, x_predict = build()
  model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
  path = os.path.join(OUT, f"legacy_{name}.h5")
  model.save(path)
  loaded = keras.models.load_model(path, compile=False)
  y_predict = loaded.predict(x_predict, verbose=0)
  np.testing.assert_allclose(y_predict, model.predict(x_predict, verbose=0), rtol=1e-6)
  np.savez(os.path.join(OUT, f"legacy_{name}.predict.npz"), x=x_predict, y=y_predict)
  return path


def names(values):
  return np.array([v.encode("utf8") for v in values])  # tf.keras 2.x: fixed-length bytes


def rewrite_k2(src, dst):
  """tf.keras 2.x naming and optimizer layout over the same weights."""
  with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
    for key, value in f.attrs.items():
      g.attrs[key] = value
    weights = g.create_group("model_weights")
    layer_names = [n for n in f["model_weights"].attrs["layer_names"]]
    weights.attrs["layer_names"] = names(layer_names)
    weights.attrs["backend"] = "tensorflow"
    weights.attrs["keras_version"] = "2.15.0"
    g.attrs["keras_version"] = "2.15.0"
    g.attrs["backend"] = "tensorflow"
    slots = []
    for layer in layer_names:
      group = weights.create_group(layer)
      new_names = []
      for old in f["model_weights"][layer].attrs["weight_names"]:
        var = old.split("/")[-1]
        new = f"{layer}/{var}:0"
        group.create_dataset(new, data=f["model_weights"][layer][old][()])
        new_names.append(new)
        slots.append(f"{layer}/{var}")
      group.attrs["weight_names"] = names(new_names)
    opt = g.create_group("optimizer_weights")
    opt_names = ["Adam/iter:0"]
    opt.create_dataset("Adam/iter:0", data=np.int64(3))
    for kind in ("m", "v"):
      for slot in slots:
        layer, var = slot.split("/")
        value = f["optimizer_weights/adam"][
            f"mlp_{layer}_{var}_{'momentum' if kind == 'm' else 'velocity'}"][()]
        opt.create_dataset(f"Adam/{slot}/{kind}:0", data=value)
        opt_names.append(f"Adam/{slot}/{kind}:0")
    opt.attrs["weight_names"] = names(opt_names)


def chunked(src, dst):
  shutil.copyfile(src, dst)
  with h5py.File(dst, "r+") as f:
    for group, key, split in (("model_weights", "layer_names", 2),
                              ("model_weights/dense", "weight_names", 1)):
      values = list(f[group].attrs[key])
      del f[group].attrs[key]
      f[group].attrs[f"{key}0"] = np.array(values[:split], dtype=object)
      f[group].attrs[f"{key}1"] = np.array(values[split:], dtype=object)


def hostile(src):
  def copy(case):
    dst = os.path.join(OUT, f"legacy_hostile_{case}.h5")
    shutil.copyfile(src, dst)
    return h5py.File(dst, "r+")

  with copy("no_model_config") as f:
    del f.attrs["model_config"]
  with copy("model_config_not_json") as f:
    f.attrs["model_config"] = '{"class_name": "Sequential", "config": {'
  with copy("bad_weight_names") as f:  # names a dataset that does not exist
    f["model_weights/dense_1"].attrs["weight_names"] = np.array(
        ["mlp/dense_1/kernel", "mlp/dense_1/no_such_bias"], dtype=object)
  with copy("weight_count") as f:
    f["model_weights/dense"].attrs["weight_names"] = np.array(["mlp/dense/kernel"], dtype=object)
  with copy("missing_layer") as f:
    f["model_weights"].attrs["layer_names"] = np.array(["dense", "dense_1"], dtype=object)
    del f["model_weights/dense_2"]
  with copy("shape_mismatch") as f:
    del f["model_weights/dense_2/mlp/dense_2/bias"]
    f["model_weights/dense_2/mlp/dense_2"].create_dataset("bias", data=np.zeros(5, "float32"))
  with copy("weights_not_numeric") as f:
    del f["model_weights/dense/mlp/dense/bias"]
    f["model_weights/dense/mlp/dense"].create_dataset("bias", data=np.array([b"x"] * 8))


if __name__ == "__main__":
  mlp_path = make("mlp", mlp)
  make("cnn_bn", cnn_bn)
  rewrite_k2(mlp_path, os.path.join(OUT, "legacy_mlp_k2names.h5"))
  chunked(mlp_path, os.path.join(OUT, "legacy_mlp_chunked.h5"))
  hostile(mlp_path)
  # Sanity: the config parses and the tf.keras-2-named copy predicts the same.
  with h5py.File(mlp_path, "r") as f:
    json.loads(f.attrs["model_config"])
