"""Writes the bad model configs the CLI tests feed to `fornax train`.

Each starts from a real Keras 3 model.to_json() and, where Keras itself would
refuse to build the model, is edited the way a hand-written or corrupted
config would be. Run from the repository root:
  KERAS_BACKEND=jax .venv/bin/python tests/testdata/cli/make_models.py
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, config):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")


def small_mlp():
    return keras.Sequential(
        [
            keras.Input(shape=(784,), name="image"),
            layers.Dense(32, activation="relu", name="hidden"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="small_mlp",
    )


def main():
    good = json.loads(small_mlp().to_json())
    write("small_mlp.json", good)

    unknown = json.loads(small_mlp().to_json())
    unknown["config"]["layers"][1]["class_name"] = "FancyDense"
    write("unknown_layer.json", unknown)

    lam = keras.Sequential(
        [
            keras.Input(shape=(784,), name="image"),
            layers.Lambda(lambda x: x * 2.0, name="double"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="lambda_model",
    )
    write("lambda_layer.json", json.loads(lam.to_json()))

    # Two branches of different widths fed to Add: (None, 32) + (None, 16).
    inp = keras.Input(shape=(784,), name="image")
    a = layers.Dense(32, name="branch_a")(inp)
    b = layers.Dense(32, name="branch_b")(inp)
    out = layers.Dense(10, activation="softmax", name="predictions")(layers.Add(name="add")([a, b]))
    bad_add = json.loads(keras.Model(inp, out, name="bad_add").to_json())
    for layer in bad_add["config"]["layers"]:
        if layer["config"]["name"] == "branch_b":
            layer["config"]["units"] = 16
    write("incompatible_shapes.json", bad_add)

    with open(os.path.join(HERE, "malformed.json"), "w") as f:
        f.write(json.dumps(good, indent=1)[:200])


if __name__ == "__main__":
    main()
