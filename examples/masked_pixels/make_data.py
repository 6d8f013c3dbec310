"""Writes the masked_pixels example: its model.json and its occlusion masks.

The model (Keras 3 Functional, what model.to_json() writes) takes a
Fashion-MNIST image and a bool mask of the pixels that were observed; Keras
operations on the symbolic inputs blank the unobserved pixels
(ops.where(mask, image, 0.0)), measure the coverage and append it:

  image (784) --where(mask, image, 0.0)--+
  mask (784, bool) --cast--> mean -------+--concatenate--> Dense(128, relu)
                                                        --> Dense(10, softmax) "label"

data/<split>.npz holds `mask`: per image, one random square of side 8-16
pixels is hidden (False), every other pixel is observed (True); the seed is
fixed. Images and labels are read by `fornax train` from the IDX files.
Run from the repository root (needs the repository's .venv for Keras):
  .venv/bin/python examples/masked_pixels/make_data.py
  build/client/fornax train examples/masked_pixels/job.yaml --output masked.keras
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTS = {"train": 60000, "t10k": 10000}


def model_json():
    import keras  # noqa: PLC0415  (only the model needs Keras)
    from keras import layers, ops  # noqa: PLC0415

    image = keras.Input((784,), name="image")
    mask = keras.Input((784,), dtype="bool", name="mask")
    observed = ops.where(mask, image, 0.0)
    coverage = ops.mean(ops.cast(mask, "float32"), axis=-1, keepdims=True)
    joined = layers.Concatenate(name="joined")([observed, coverage])
    hidden = layers.Dense(128, activation="relu", name="hidden")(joined)
    label = layers.Dense(10, activation="softmax", name="label")(hidden)
    return keras.Model({"image": image, "mask": mask}, {"label": label},
                       name="masked_pixels").to_json()


def masks(n, rng):
    """One hidden square per image; True = observed."""
    out = np.ones((n, 28, 28), dtype=bool)
    side = rng.integers(8, 17, n)
    top = rng.integers(0, 28 - side + 1)
    left = rng.integers(0, 28 - side + 1)
    for i in range(n):
        out[i, top[i]:top[i] + side[i], left[i]:left[i] + side[i]] = False
    return out.reshape(n, 784)


def main():
    with open(os.path.join(HERE, "model.json"), "w") as f:
        f.write(json.dumps(json.loads(model_json()), indent=1) + "\n")
    rng = np.random.default_rng(7)
    os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
    for split, n in COUNTS.items():
        path = os.path.join(HERE, "data", f"{split}.npz")
        np.savez_compressed(path, mask=masks(n, rng))
        print(f"wrote {path}: {n} masks")


if __name__ == "__main__":
    main()
