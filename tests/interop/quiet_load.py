"""load_model that fails the interop test on any warning, shared by its scripts.

The scripts run as `python script.py`, so this directory is on sys.path and
`from quiet_load import load_quietly` needs no wiring; they choose the Keras
backend before importing it.
"""
import contextlib
import io
import logging
import sys
import warnings

import keras


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(self.format(record))


def load_quietly(path):
    """load_model with every kind of warning turned into a failure."""
    collector = _Collect()
    root = logging.getLogger()
    root.addHandler(collector)
    out, err = io.StringIO(), io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("error")
            model = keras.models.load_model(path)
    finally:
        root.removeHandler(collector)
    noise = collector.records + [s for s in (out.getvalue(), err.getvalue()) if s.strip()]
    if noise:
        sys.exit(f"FAIL: loading {path} was not silent: {noise}")
    return model
