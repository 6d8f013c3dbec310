"""Hostile archives: `fornax predict` on broken .keras files: a precise error, never a crash.

Usage: archive_mutations.py FORNAX_BIN [COUNT]

Saves a small Keras model (Dense + BatchNormalization, trained with Adam).
First, one targeted edit per hostile case (path traversal and absolute
member names, a declared size over the limit, truncated or non-HDF5
weights, missing or extra variables and layers, shape and dtype mismatch,
unknown layer and optimizer classes, malformed or missing config.json,
missing members): `fornax predict` must exit 2 with one "fornax: error:"
line containing the member, layer or variable named in CASES, and write
nothing outside its --output (the traversal names are checked on disk). A
malformed metadata.json loads, as in Keras (it is never read).
Then it runs `fornax predict` on COUNT (default 300) seeded mutations:
truncations and byte overwrites aimed at the zip directory, the HDF5
superblock and anywhere. Every run must exit 0 (the damage hit weight
values) or 2 with a "fornax: error:" line; a signal, exit 1 or a hang
fails, naming the mutation (the seed is fixed, so it reproduces).
"""
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import h5py  # noqa: E402
import keras  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def members_of(archive):
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return {name: z.read(name) for name in z.namelist()}


def zip_of(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps odd names as given
    return out.getvalue()


def edit_h5(weights, workdir, edit):
    path = os.path.join(workdir, "edit.h5")
    with open(path, "wb") as f:
        f.write(weights)
    with h5py.File(path, "r+") as f:
        edit(f)
    with open(path, "rb") as f:
        return f.read()


def edit_config(config, edit):
    value = json.loads(config)
    edit(value)
    return json.dumps(value).encode()


def declare_size(archive, name, size):
    """Rewrites `name`'s uncompressed size in both zip headers."""
    data = bytearray(archive)
    encoded = name.encode()
    for signature, name_at, size_at in ((b"PK\x01\x02", 46, 24), (b"PK\x03\x04", 30, 22)):
        at = data.find(signature)
        while at >= 0:
            if data[at + name_at:at + name_at + len(encoded)] == encoded:
                data[at + size_at:at + size_at + 4] = struct.pack("<I", size)
            at = data.find(signature, at + 4)
    return bytes(data)


def set_var(group, name, value):
    del group[name]
    group.create_dataset(name, data=value)


def cases(base, workdir):
    """(name, archive bytes, substrings the error must contain; None: loads)."""
    m = members_of(base)
    weights, config = m["model.weights.h5"], m["config.json"]

    def with_members(**changes):
        out = dict(m)
        for key, value in changes.items():
            name = key.replace("__", ".")
            if value is None:
                del out[name]
            else:
                out[name] = value
        return zip_of(out)

    def h5(edit):
        return with_members(model__weights__h5=edit_h5(weights, workdir, edit))

    def cfg(edit):
        return with_members(config__json=edit_config(config, edit))

    def layer_class(c, old, new):
        for layer in c["config"]["layers"]:
            if layer["class_name"] == old:
                layer["class_name"] = new

    traversal = dict(m)
    traversal["../evil_traversal.txt"] = b"x"
    absolute = dict(m)
    absolute[os.path.join(workdir, "evil_absolute.txt")] = b"x"
    return [
        ("path traversal", zip_of(traversal),
         ["member '../evil_traversal.txt'", "outside the archive"]),
        ("absolute name", zip_of(absolute),
         [f"member '{os.path.join(workdir, 'evil_absolute.txt')}'", "outside the archive"]),
        ("declared size over the limit", declare_size(base, "model.weights.h5", 0xF0000000),
         ["member 'model.weights.h5' declares 4026531840 bytes", "refusing it"]),
        ("truncated weights",
         with_members(model__weights__h5=weights[:len(weights) // 2]),
         ["model.weights.h5: not a readable HDF5 file"]),
        ("non-HDF5 weights", with_members(model__weights__h5=b"PK\x03\x04 not hdf5"),
         ["model.weights.h5: not an HDF5 file"]),
        ("missing variable", h5(lambda f: f["layers/dense/vars"].__delitem__("1")),
         ["layers/dense/vars: 'layer dense' expected 2 variables [dense/kernel, dense/bias], "
          "but the file has 1"]),
        ("missing layer", h5(lambda f: f["layers"].__delitem__("dense_1")),
         ["layers/dense_1/vars: 'layer dense_1' expected 2 variables", "the file has 0"]),
        ("extra variable",
         h5(lambda f: f["layers/dense/vars"].create_dataset("2", data=np.zeros(5, "f4"))),
         ["layers/dense/vars: 'layer dense' expected 2 variables", "the file has 3"]),
        ("shape mismatch",
         h5(lambda f: set_var(f["layers/dense/vars"], "1", np.zeros(7, "f4"))),
         ["dataset 'layers/dense/vars/1' (dense/bias): expected shape (5,), received (7,)"]),
        ("dtype mismatch",
         h5(lambda f: set_var(f["layers/dense/vars"], "1", np.zeros(5, "i4"))),
         ["dataset 'layers/dense/vars/1' (dense/bias): expected dtype float32, "
          "received int32"]),
        ("optimizer variables",
         h5(lambda f: f["optimizer/vars"].__delitem__("13")),
         ["optimizer/vars: 'optimizer adam' expected 14 variables", "the file has 13"]),
        ("unknown layer class",
         cfg(lambda c: layer_class(c, "BatchNormalization", "FancyNormalization")),
         ["config.json", "FancyNormalization"]),
        ("unknown optimizer class",
         cfg(lambda c: c["compile_config"]["optimizer"].__setitem__("class_name", "Nadamax")),
         ["compile_config", "unknown optimizer 'Nadamax'"]),
        ("malformed config.json", with_members(config__json=config[:len(config) // 2]),
         ["config.json is not a JSON object"]),
        ("missing config.json", with_members(config__json=None),
         ["has no member 'config.json'"]),
        ("missing model.weights.h5", with_members(model__weights__h5=None),
         ["has no member 'model.weights.h5'"]),
        ("malformed metadata.json (never read, as in Keras)",
         with_members(metadata__json=b"{not json"), None),
    ]


def check_cases(fornax, base, workdir, x_path):
    dest = os.path.join(workdir, "dest")
    os.makedirs(dest)
    for name, data, expected in cases(base, workdir):
        path = os.path.join(dest, "case.keras")
        with open(path, "wb") as f:
            f.write(data)
        result = subprocess.run([fornax, "predict", "--model", path, "--input", x_path,
                                 "--output", os.path.join(dest, "y.npy")],
                                capture_output=True, text=True, timeout=60, cwd=dest)
        if expected is None:
            if result.returncode != 0:
                sys.exit(f"FAIL: {name}: exit {result.returncode}: {result.stderr}")
            print(f"{name}: loads")
            continue
        lines = result.stderr.strip().splitlines()
        if result.returncode != 2 or len(lines) != 1 or not lines[0].startswith("fornax: error:"):
            sys.exit(f"FAIL: {name}: exit {result.returncode}: {result.stderr}")
        for part in expected:
            if part not in lines[0]:
                sys.exit(f"FAIL: {name}: '{part}' not in: {lines[0]}")
        print(f"{name}: {lines[0]}")
    for escaped in (os.path.join(workdir, "evil_traversal.txt"),
                    os.path.join(workdir, "evil_absolute.txt")):
        if os.path.exists(escaped):
            sys.exit(f"FAIL: {escaped} was written outside the destination")
    if sorted(os.listdir(dest)) != ["case.keras", "y.npy"]:
        sys.exit(f"FAIL: unexpected files in the destination: {os.listdir(dest)}")


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
        check_cases(fornax, base, workdir, x_path)
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
