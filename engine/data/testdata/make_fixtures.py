"""Writes the small NumPy files the data reader tests compare against.

Run with any NumPy (the repository's venv works):
  .venv/bin/python engine/data/testdata/make_fixtures.py
The outputs are committed; rerunning reproduces the same arrays.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def path(name):
    return os.path.join(HERE, name)


def main():
    np.save(path("f4_2x3.npy"), np.arange(6, dtype="<f4").reshape(2, 3) / 4)
    np.save(path("f2_4.npy"), np.array([0.5, -1.0, 2.0, 65504.0], dtype="<f2"))
    np.save(path("f8_3.npy"), np.array([0.25, -2.5, 1e3], dtype="<f8"))
    np.save(path("i4_3.npy"), np.array([1, -2, 3], dtype="<i4"))
    np.save(path("i8_2x2.npy"), np.array([[1, 2], [3, -(2**40)]], dtype="<i8"))
    np.save(path("u1_5.npy"), np.array([0, 1, 2, 254, 255], dtype="u1"))
    np.save(path("b1_3.npy"), np.array([True, False, True]))
    np.save(path("scalar_f4.npy"), np.float32(7.5))
    np.save(path("fortran_2x3.npy"), np.asfortranarray(np.ones((2, 3), dtype="<f4")))
    np.save(path("c16_2.npy"), np.zeros(2, dtype="<c16"))
    x = np.arange(12, dtype="<f4").reshape(4, 3)
    y = np.array([0, 1, 1, 0], dtype="<i8")
    np.savez(path("xy.npz"), x=x, y=y)
    np.savez_compressed(path("xy_compressed.npz"), x=x, y=y)


if __name__ == "__main__":
    main()
