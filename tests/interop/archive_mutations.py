"""Hostile archives: `fornax predict` on mutated .keras files never crashes.

Usage: archive_mutations.py FORNAX_BIN [COUNT]

Saves a small Keras model (Dense + BatchNormalization, trained with Adam),
then runs `fornax predict` on COUNT (default 300) seeded mutations of it:
truncations and byte overwrites aimed at the zip directory, the HDF5
superblock and anywhere. Every run must exit 0 (the damage hit weight
values) or 2 with a "fornax: error:" line; a signal, exit 1 or a hang
fails, naming the mutation (the seed is fixed, so it reproduces).
"""
import os
import random
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: archive_mutations.py FORNAX_BIN [COUNT]")
    fornax, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 300
    rng = random.Random(20261122)
    with tempfile.TemporaryDirectory() as workdir:
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse")
        x = np.random.default_rng(0).random((16, 6), dtype=np.float32)
        model.fit(x, x[:, :2], epochs=1, batch_size=8, verbose=0)
        base_path = os.path.join(workdir, "base.keras")
        model.save(base_path)
        with open(base_path, "rb") as f:
            base = f.read()
        x_path, y_path = os.path.join(workdir, "x.npy"), os.path.join(workdir, "y.npy")
        np.save(x_path, x)
        outcomes = {0: 0, 2: 0}
        for i in range(count):
            data = bytearray(base)
            if rng.random() < 0.3:
                data = data[:rng.randrange(len(data))]
            else:
                for _ in range(rng.randrange(1, 20)):
                    start, end = rng.choice([(0, 4096), (max(0, len(data) - 2048), len(data)),
                                             (0, len(data))])
                    data[rng.randrange(start, end)] = rng.randrange(256)
            path = os.path.join(workdir, f"mutant_{i}.keras")
            with open(path, "wb") as f:
                f.write(data)
            try:
                result = subprocess.run([fornax, "predict", "--model", path, "--input", x_path,
                                         "--output", y_path], capture_output=True, text=True,
                                        timeout=60)
            except subprocess.TimeoutExpired:
                sys.exit(f"FAIL: mutation {i} hangs")
            if result.returncode not in outcomes or (
                    result.returncode == 2 and not result.stderr.startswith("fornax: error:")):
                sys.exit(f"FAIL: mutation {i}: exit {result.returncode}: {result.stderr[-500:]}")
            outcomes[result.returncode] += 1
            os.remove(path)
        print(f"{count} mutations: {outcomes[0]} loaded, {outcomes[2]} refused with an error")
    print("OK")


if __name__ == "__main__":
    main()
