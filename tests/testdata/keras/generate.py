"""Generates the Keras test data under tests/testdata/keras/ with the REAL Keras.

Run from the repository root:
  KERAS_BACKEND=jax .venv/bin/python tests/testdata/keras/generate.py

models/*.json   exactly what model.to_json() writes, for the parser tests.
layer_cases.json  one entry per layer test: the layer's serialized config, its
                  inputs, the weights set into it, and the outputs real Keras
                  computed (and for training-mode BatchNormalization the
                  updated moving statistics).
"""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def write_model(name, model):
    with open(os.path.join(HERE, "models", name + ".json"), "w") as f:
        f.write(json.dumps(json.loads(model.to_json()), indent=1))
        f.write("\n")


def models():
    keras.utils.clear_session()
    write_model("mlp_sequential", keras.Sequential([
        keras.Input((784,), name="pixels"),
        layers.Dense(256, activation="relu"),
        layers.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="fashion_mlp"))

    keras.utils.clear_session()
    write_model("cnn_sequential", keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="fashion_cnn"))

    keras.utils.clear_session()
    model = keras.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2)],
                             name="no_input_layer")
    model.build((None, 3))
    write_model("sequential_build_config", model)

    keras.utils.clear_session()
    image = keras.Input((8, 8, 3), name="image")
    meta = keras.Input((5,), name="meta")
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    m = layers.Dense(4, activation="gelu")(meta)
    joined = layers.Concatenate()([x, m])
    hidden = layers.Dense(16, activation="relu")(joined)
    score = layers.Dense(1, name="score")(hidden)
    label = layers.Dense(3, activation="softmax", name="label")(hidden)
    write_model("functional_two_in_two_out",
                keras.Model(inputs=[image, meta], outputs=[score, label], name="two_heads"))

    keras.utils.clear_session()
    a = keras.Input((6,), name="left")
    b = keras.Input((6,), name="right", dtype="int32")
    s = layers.Add()([a, b])
    d = layers.Subtract()([a, b])
    p = layers.Multiply()([s, d])
    out = layers.Dense(2, name="out")(layers.LayerNormalization()(p))
    write_model("functional_dict_inputs",
                keras.Model(inputs={"left": a, "right": b}, outputs={"out": out}, name="dicts"))

    keras.utils.clear_session()
    tokens = keras.Input((10,), dtype="int32", name="tokens")
    x = layers.Embedding(100, 8)(tokens)
    x = layers.Flatten()(x)
    x = layers.Dense(1, activation="sigmoid")(x)
    write_model("embedding_functional", keras.Model(tokens, x, name="embedder"))

    keras.utils.clear_session()
    write_model("many_layers_sequential", keras.Sequential([
        keras.Input((4, 4, 2)),
        layers.Rescaling(1.0 / 255, offset=-0.5),
        layers.Conv2D(3, (2, 2), strides=(1, 1), padding="valid", use_bias=False,
                      kernel_initializer="he_normal"),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
        layers.ReLU(max_value=6.0),
        layers.AveragePooling2D(pool_size=(1, 1)),
        layers.Reshape((27,)),
        layers.LeakyReLU(negative_slope=0.1),
        layers.Dense(5, kernel_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=7),
                     bias_initializer=keras.initializers.Constant(0.5),
                     bias_regularizer="l1"),
        layers.Activation("swish"),
        layers.Softmax(),
    ], name="many_layers"))

    keras.utils.clear_session()
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(2)], name="inner")
    x_in = keras.Input((3,), name="x")
    write_model("nested_functional",
                keras.Model(x_in, layers.Dense(1, name="head")(inner(x_in)), name="outer"))

    keras.utils.clear_session()
    shared = layers.Dense(4, activation="relu", name="shared")
    a = keras.Input((3,), name="a")
    b = keras.Input((3,), name="b")
    block = keras.Sequential([keras.Input((4,)), layers.Dense(2, name="block_dense")], name="block")
    joined = layers.Add()([block(shared(a)), block(shared(b))])
    write_model("shared_layers_functional", keras.Model([a, b], joined, name="siamese"))

    keras.utils.clear_session()
    x_in = keras.Input((3,), name="x")
    write_model("lambda_functional",
                keras.Model(x_in, layers.Lambda(lambda t: t * 2.0)(x_in), name="with_lambda"))


def rng_values(rng, shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype("float32")


def case(name, layer, inputs, training=False, weights_rng_seed=1):
    """Builds `layer` on `inputs`, sets deterministic weights, runs it."""
    rng = np.random.default_rng(weights_rng_seed)
    arrays = [np.asarray(x) for x in inputs]
    specs = [keras.KerasTensor(a.shape[1:] and (None,) + a.shape[1:], dtype=str(a.dtype))
             for a in arrays]
    if len(specs) == 1:
        layer.build(specs[0].shape)
    else:
        layer.build([s.shape for s in specs])
    weights = []
    for v in layer.weights:
        if "moving_variance" in v.path or "gamma" in v.path:
            value = rng_values(rng, v.shape, 0.5, 1.5)
        else:
            value = rng_values(rng, v.shape)
        v.assign(value)
        weights.append({"path": v.path, "shape": list(v.shape),
                        "values": value.ravel().tolist()})
    call_inputs = arrays[0] if len(arrays) == 1 else arrays
    if isinstance(layer, (layers.Dropout, layers.BatchNormalization)):
        out = layer(call_inputs, training=training)
    else:
        out = layer(call_inputs)
    out = np.asarray(out)
    entry = {
        "name": name,
        "layer": keras.layers.serialize(layer),
        "training": training,
        "inputs": [{"shape": list(a.shape), "dtype": str(a.dtype), "values": a.ravel().tolist()}
                   for a in arrays],
        "weights": weights,
        "output": {"shape": list(out.shape), "values": out.ravel().astype("float64").tolist()},
        "updated_weights": [{"path": v.path, "values": np.asarray(v).ravel().tolist()}
                            for v in layer.weights],
    }
    return entry


ACTIVATIONS = ["relu", "relu6", "elu", "selu", "gelu", "silu", "swish", "sigmoid",
               "hard_sigmoid", "hard_silu", "hard_swish", "tanh", "softplus", "softsign",
               "exponential", "linear", "softmax", "log_softmax", "leaky_relu", "mish", "celu",
               "glu", "squareplus", "sparse_plus", "hard_tanh", "tanh_shrink", "log_sigmoid",
               "sparse_sigmoid", "soft_shrink", "hard_shrink", "sparsemax"]


def layer_cases():
    rng = np.random.default_rng(0)
    x24 = rng_values(rng, (2, 4), -3, 3)
    x2x3 = rng_values(rng, (2, 3))
    img = rng_values(rng, (2, 5, 5, 3))
    cases = [
        case("dense", layers.Dense(3, activation="relu", name="dense"), [x24]),
        case("dense_rank3", layers.Dense(2, name="dense_r3"), [rng_values(rng, (2, 3, 4))]),
        case("dense_no_bias", layers.Dense(2, use_bias=False, name="dense_nb"), [x24]),
        case("relu_layer", layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2,
                                       name="relu_l"), [x24]),
        case("leaky_relu_layer", layers.LeakyReLU(negative_slope=0.25, name="lrelu"), [x24]),
        case("softmax_layer", layers.Softmax(axis=0, name="smax"), [x24]),
        case("rescaling", layers.Rescaling(scale=0.5, offset=1.0, name="resc"), [x24]),
        case("flatten", layers.Flatten(name="flat"), [img[:, :2, :2, :]]),
        case("reshape", layers.Reshape((2, -1), name="resh"), [x24]),
        case("add", layers.Add(name="add"), [x24, x24 * 2]),
        case("subtract", layers.Subtract(name="sub"), [x24, x24 * 0.5]),
        case("multiply", layers.Multiply(name="mul"), [x24, x24]),
        case("concatenate", layers.Concatenate(axis=-1, name="cat"), [x24, x2x3]),
        case("conv2d_valid", layers.Conv2D(2, 3, name="conv_v"), [img]),
        case("conv2d_same_strided", layers.Conv2D(2, (3, 2), strides=2, padding="same",
                                                  activation="tanh", name="conv_s"), [img]),
        case("conv2d_dilated", layers.Conv2D(1, 2, dilation_rate=2, name="conv_d"), [img]),
        case("max_pool", layers.MaxPooling2D(name="mpool"), [img]),
        case("max_pool_same", layers.MaxPooling2D(3, strides=2, padding="same", name="mpool_s"),
             [img]),
        case("avg_pool", layers.AveragePooling2D(2, name="apool"), [img]),
        case("avg_pool_same", layers.AveragePooling2D(3, strides=2, padding="same",
                                                      name="apool_s"), [img]),
        case("global_avg_pool", layers.GlobalAveragePooling2D(name="gap"), [img]),
        case("global_avg_pool_keepdims", layers.GlobalAveragePooling2D(keepdims=True,
                                                                       name="gap_k"), [img]),
        case("batch_norm_inference", layers.BatchNormalization(name="bn_i"), [img]),
        case("batch_norm_training", layers.BatchNormalization(momentum=0.9, epsilon=0.01,
                                                              name="bn_t"), [img], training=True),
        case("batch_norm_no_scale", layers.BatchNormalization(center=False, scale=False,
                                                              name="bn_ns"), [x24], training=True),
        case("layer_norm", layers.LayerNormalization(name="ln"), [x24]),
        case("layer_norm_axes", layers.LayerNormalization(axis=[1, 2], epsilon=0.1,
                                                          name="ln_a"), [img[:, :, :, 0]]),
        case("embedding", layers.Embedding(6, 3, name="emb"),
             [np.array([[0, 5, 2], [1, 1, 4]], dtype="int32")]),
        case("dropout_inference", layers.Dropout(0.5, name="drop"), [x24]),
    ]
    wide = np.linspace(-4.0, 4.0, 12, dtype="float32").reshape(2, 6)
    for act in ACTIVATIONS:
        cases.append(case("activation_" + act, layers.Activation(act, name="act_" + act), [wide]))
    with open(os.path.join(HERE, "layer_cases.json"), "w") as f:
        json.dump(cases, f, indent=None)
        f.write("\n")


FORWARD_MODELS = ["mlp_sequential", "functional_two_in_two_out", "functional_dict_inputs",
                  "embedding_functional", "many_layers_sequential", "sequential_build_config",
                  "nested_functional", "shared_layers_functional"]


def expectations():
    """models/expected.json: what real Keras says about each model (inputs,
    outputs, parameter counts, summary rows) and, for some, an inference
    forward pass with deterministic weights."""
    out = {}
    for file in sorted(os.listdir(os.path.join(HERE, "models"))):
        name = file[:-5]
        if not file.endswith(".json") or name in ("expected", "lambda_functional"):
            continue
        keras.utils.clear_session()
        with open(os.path.join(HERE, "models", file)) as f:
            model = keras.models.model_from_json(f.read())
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        entry = {
            "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
                       for t in model.inputs],
            "outputs": [{"shape": list(t.shape)} for t in model.outputs],
            "total_params": model.count_params(),
            "trainable_params": trainable,
            "layers": [{"name": l.name, "class_name": l.__class__.__name__,
                        "params": l.count_params()} for l in model.layers],
        }
        if name in FORWARD_MODELS:
            rng = np.random.default_rng(3)
            weights = {}
            for v in model.weights:
                low, high = (0.5, 1.5) if "variance" in v.path else (-0.5, 0.5)
                value = rng.uniform(low, high, size=v.shape).astype("float32")
                v.assign(value)
                weights[v.path] = value.ravel().tolist()
            inputs = {}
            for t in model.inputs:
                shape = (2,) + tuple(t.shape[1:])
                if "int" in t.dtype:
                    value = rng.integers(0, 6, size=shape).astype(t.dtype)
                else:
                    value = rng.uniform(-1, 1, size=shape).astype(t.dtype)
                inputs[t.name] = value
            feed = ({k: v for k, v in inputs.items()} if isinstance(getattr(model, "_inputs_struct", None), dict)
                    else [inputs[t.name] for t in model.inputs])
            if len(model.inputs) == 1 and not isinstance(feed, dict):
                feed = feed[0]
            result = model(feed, training=False)
            if isinstance(result, dict):
                result = [result[k] for k in sorted(result)]
            elif not isinstance(result, (list, tuple)):
                result = [result]
            entry["forward"] = {
                "weights": weights,
                "inputs": {k: v.ravel().tolist() for k, v in inputs.items()},
                "outputs": [np.asarray(r).ravel().astype("float64").tolist() for r in result],
            }
        out[name] = entry
    with open(os.path.join(HERE, "models", "expected.json"), "w") as f:
        json.dump(out, f, indent=None)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "models"), exist_ok=True)
    models()
    layer_cases()
    expectations()
