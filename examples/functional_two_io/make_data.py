"""Writes the derived arrays of the functional_two_io example.

For each Fashion-MNIST split it stores, in data/<split>.npz:
  row_means   float32 (N, 28): each image's mean pixel value per row, in [0, 1]
  brightness  float32 (N, 1):  each image's mean pixel value, in [0, 1]
The images and labels themselves are read by `fornax train` from the IDX
files directly. Run from the repository root (any NumPy works):
  .venv/bin/python examples/functional_two_io/make_data.py [IDX_DIR]
"""
import gzip
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_IDX_DIR = "/usr/share/datasets/fashion-mnist"


def read_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def main():
    idx_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_IDX_DIR
    out_dir = os.path.join(HERE, "data")
    os.makedirs(out_dir, exist_ok=True)
    for split in ("train", "t10k"):
        images = read_images(os.path.join(idx_dir, f"{split}-images-idx3-ubyte.gz"))
        pixels = images.astype(np.float32) / 255.0
        row_means = pixels.mean(axis=2, dtype=np.float32)
        brightness = pixels.mean(axis=(1, 2), dtype=np.float32).reshape(-1, 1)
        path = os.path.join(out_dir, f"{split}.npz")
        np.savez(path, row_means=row_means, brightness=brightness)
        print(f"wrote {path}: {len(images)} samples")


if __name__ == "__main__":
    main()
