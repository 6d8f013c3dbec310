"""Fashion-MNIST from the Debian package's IDX files, as numpy arrays.

Shared by the benchmark peers so every framework trains on the same bytes:
images float32 in [0, 1] shaped (N, 28, 28, 1) (channels_last, as Keras and
Fornax use), labels int64 (N,). Only numpy and the standard library: this
runs under both /usr/bin/python3 (Debian torch) and the venv (Keras/JAX).
"""
import gzip
import os

import numpy as np

DATA_DIR = os.environ.get("FORNAX_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load_train(num_samples):
    """`num_samples` training images and labels, shuffled with seed 1; past
    the 60000 the set holds, the same order repeats (so any step count runs
    on full batches)."""
    x = _read_idx(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))
    y = _read_idx(os.path.join(DATA_DIR, "train-labels-idx1-ubyte.gz"))
    order = np.resize(np.random.default_rng(1).permutation(len(x)), num_samples)
    images = (x[order].astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return np.ascontiguousarray(images), y[order].astype(np.int64)
