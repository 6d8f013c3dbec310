"""Fornax checkpoints (with their training state in metadata.json) open in real Keras 3.

Usage: keras_loads_mid_epoch_checkpoint.py FORNAX_WORKER_BIN

Runs `fornax-worker run-job --checkpoint-every-steps 3` on 512 Fashion-MNIST
samples (batch 64: 8 steps per epoch) for 2 epochs, with EarlyStopping
(restore_best_weights) and ReduceLROnPlateau, and checks that:
  - the checkpoint at step 4 of epoch 2 (ckpt-e1-s12.keras) is the three
    members Keras writes and fornax/tensors.bin, with metadata.json's
    "fornax" entry saying epoch 1, step 4 of 8, the epoch's metric variables,
    and both callbacks' state: EarlyStopping's best weights, read from
    fornax/tensors.bin at the offset and size metadata.json gives (and
    matching its crc32), are those of epoch 1's end, bit for bit (the weights
    of the epoch checkpoint ckpt-e1-s8.keras);
  - the epoch checkpoint has a "fornax" entry at step 0 with no metrics;
  - keras.models.load_model opens both with no warning; the mid-epoch one
    has optimizer.iterations 12 and the archive's weights, and model.fit
    trains on from it.
Exits non-zero with a message on the first failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import h5py  # noqa: E402
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from quiet_load import load_quietly  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def fail(message):
    sys.exit(f"FAIL: {message}")


TENSORS = "fornax/tensors.bin"


def metadata(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if names != ["metadata.json", "config.json", "model.weights.h5", TENSORS]:
            fail(f"{path}: members {names}")
        return json.loads(z.read("metadata.json"))


def tensor(path, entry):
    """A tensor of the fornax entry, from its bytes in fornax/tensors.bin."""
    ref = entry["bytes"]
    if ref["member"] != TENSORS:
        fail(f"{path}: tensor bytes in {ref['member']}")
    with zipfile.ZipFile(path) as z:
        data = z.read(TENSORS)[ref["offset"]:ref["offset"] + ref["size"]]
    if len(data) != ref["size"] or zlib.crc32(data) != ref["crc32"]:
        fail(f"{path}: {TENSORS} bytes {ref} do not match their size or crc32")
    return np.frombuffer(data, dtype=entry["dtype"]).reshape(entry["shape"])


def main():
    worker = sys.argv[1]
    source = os.environ.get("FORNAX_SOURCE_DIR", ".")
    if not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST is not installed")
        return
    with tempfile.TemporaryDirectory() as job:
        with open(os.path.join(source, "examples/fashion_mlp/model.json")) as f:
            model_json = f.read()
        with open(os.path.join(job, "model.json"), "w") as f:
            f.write(model_json)
        with open(os.path.join(job, "job.yaml"), "w") as f:
            f.write(
                "model: model.json\n"
                "compile:\n"
                "  optimizer: {class_name: Adam, config: {learning_rate: 0.001}}\n"
                "  loss: sparse_categorical_crossentropy\n"
                "  metrics: [accuracy]\n"
                "fit:\n"
                "  epochs: 2\n"
                "  batch_size: 64\n"
                "  seed: 5\n"
                "  callbacks:\n"
                "    - {class_name: EarlyStopping, config: {monitor: loss, patience: 5,\n"
                "                                           restore_best_weights: true}}\n"
                "    - {class_name: ReduceLROnPlateau, config: {monitor: loss, patience: 5}}\n"
                "data:\n"
                "  train:\n"
                "    limit: 512\n"
                f"    x: {{path: {FASHION}/train-images-idx3-ubyte.gz, dtype: float32, "
                "scale: 0.00392156862745098, reshape: [784]}\n"
                f"    y: {FASHION}/train-labels-idx1-ubyte.gz\n")
        run = subprocess.run([worker, "run-job", "--dir", job, "--checkpoint-every-steps", "3"],
                             capture_output=True, text=True, timeout=240)
        if run.returncode != 0:
            fail(f"run-job exited {run.returncode}: {run.stderr[-2000:]}")

        mid = os.path.join(job, "checkpoints/ckpt-e1-s12.keras")
        state = metadata(mid).get("fornax")
        if state is None or (state["epoch"], state["step"], state["steps_per_epoch"]) != (1, 4, 8):
            fail(f"{mid}: metadata.json fornax entry {state}")
        wanted = {"metrics/loss/total", "metrics/loss/count", "metrics/accuracy/total",
                  "metrics/accuracy/count"}
        if set(state["metrics"]) != wanted:
            fail(f"{mid}: metric variables {sorted(state['metrics'])}, expected {sorted(wanted)}")
        classes = [c["class_name"] for c in state["callbacks"]]
        if classes != ["EarlyStopping", "ReduceLROnPlateau"]:
            fail(f"{mid}: callbacks {classes}")
        best_weights = state["callbacks"][0]["state"]["best_weights"]
        end = os.path.join(job, "checkpoints/ckpt-e1-s8.keras")
        end_state = metadata(end).get("fornax")
        if end_state is None or (end_state["epoch"], end_state["step"], end_state["metrics"]) != \
                (1, 0, {}):
            fail(f"{end}: epoch checkpoint's fornax entry {end_state}")
        with zipfile.ZipFile(end) as z, tempfile.TemporaryDirectory() as tmp:
            z.extract("model.weights.h5", tmp)
            with h5py.File(os.path.join(tmp, "model.weights.h5")) as h5:
                epoch_kernel = h5["layers/dense/vars/0"][()]
        best_kernel = tensor(mid, best_weights[0])
        if best_kernel.shape != epoch_kernel.shape or \
                best_kernel.tobytes() != epoch_kernel.tobytes():
            fail(f"{mid}: EarlyStopping's best kernel is not epoch 1's")
        load_quietly(end)

        model = load_quietly(mid)
        if int(model.optimizer.iterations.numpy()) != 12:
            fail(f"iterations {int(model.optimizer.iterations.numpy())}, expected 12")
        with zipfile.ZipFile(mid) as z, tempfile.TemporaryDirectory() as tmp:
            z.extract("model.weights.h5", tmp)
            with h5py.File(os.path.join(tmp, "model.weights.h5")) as h5:
                kernel = h5["layers/dense/vars/0"][()]
        if not np.array_equal(np.asarray(model.get_layer("dense_1").kernel), kernel):
            fail("the loaded dense kernel differs from the archive's")
        x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
        y = np.zeros((64,), dtype=np.int32)
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        if int(model.optimizer.iterations.numpy()) != 13:
            fail("model.fit did not train on from the checkpoint")
    print("OK: epoch and mid-epoch checkpoints load, and train on, in Keras", keras.__version__)


if __name__ == "__main__":
    main()
