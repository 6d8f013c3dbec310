"""Writes every example's model.json with the real Keras 3 (model.to_json()).

Run from the repository root with the project's venv:
  KERAS_BACKEND=jax .venv/bin/python examples/make_models.py
The JSON files are committed; rerun this after changing a model here.
Layer names are explicit so the files do not depend on Keras's global name
counters.
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def fashion_mlp():
    # Input is the flat 784-pixel image: the job reshapes the (28, 28) IDX
    # images to (784,) and scales them to [0, 1].
    return keras.Sequential(
        [
            keras.Input(shape=(784,), name="image"),
            layers.Dense(256, activation="relu", name="dense_1"),
            layers.Dense(128, activation="relu", name="dense_2"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="fashion_mlp",
    )


def fashion_cnn():
    # Input is (28, 28, 1), channels last: the job reshapes the IDX images.
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv_1"),
            layers.MaxPooling2D(name="pool_1"),
            layers.Conv2D(64, 3, activation="relu", name="conv_2"),
            layers.MaxPooling2D(name="pool_2"),
            layers.Flatten(name="flatten"),
            layers.Dropout(0.5, name="dropout"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="fashion_cnn",
    )


def functional_two_io():
    # Two named inputs (the image and its 28 row means) and two named outputs
    # (the class and the image's mean brightness).
    image = keras.Input(shape=(784,), name="image")
    row_means = keras.Input(shape=(28,), name="row_means")
    a = layers.Dense(128, activation="relu", name="image_dense")(image)
    b = layers.Dense(16, activation="relu", name="row_means_dense")(row_means)
    h = layers.Concatenate(name="concat")([a, b])
    h = layers.Dense(64, activation="relu", name="shared_dense")(h)
    label = layers.Dense(10, activation="softmax", name="label")(h)
    brightness = layers.Dense(1, name="brightness")(h)
    return keras.Model(
        inputs={"image": image, "row_means": row_means},
        outputs={"label": label, "brightness": brightness},
        name="functional_two_io",
    )


def main():
    for name, build in [
        ("fashion_mlp", fashion_mlp),
        ("fashion_cnn", fashion_cnn),
        ("functional_two_io", functional_two_io),
    ]:
        model = build()
        path = os.path.join(HERE, name, "model.json")
        with open(path, "w") as f:
            json.dump(json.loads(model.to_json()), f, indent=2)
            f.write("\n")
        print(f"wrote {path}: {model.count_params()} parameters")


if __name__ == "__main__":
    main()
