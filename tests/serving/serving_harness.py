"""What the Python serving tests share: numbered checks, a model repository
filled from the test archives, a `fornax serve` process on free ports, and
for the tritonclient tests Keras's predictions and expected client errors.

A test records each check with check(); finish() prints the summary and
exits non-zero when any failed, so every check runs even after a failure.
"""
import contextlib
import os
import re
import shutil
import subprocess
import sys

from tritonclient.utils import InferenceServerException

ARCHIVES = os.path.join(os.environ["FORNAX_SOURCE_DIR"], "tests/testdata/archives")
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)


def finish(what):
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print(f"all {what} checks passed")


def expect_error(call, status, pattern, what):
    """Checks that call() raises the server error `status` (HTTP status or
    gRPC code name) with a message matching `pattern`."""
    try:
        call()
    except InferenceServerException as e:
        ok = e.status() == status and re.search(pattern, e.message() or "") is not None
        check(ok, f"{what}: {e.status()} {e.message()!r}")
        return
    check(False, f"{what}: no error")


def keras_predict(archive, *xs, names=None):
    """Keras's predictions, one array per output (`names`: (inputs, outputs))."""
    # Imported here, after choosing the backend: perf_analyzer_test needs no Keras.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    model = keras.models.load_model(os.path.join(ARCHIVES, archive))
    if names is None:
        return [model.predict(xs[0], verbose=0)]
    inputs, outputs = names
    out = model.predict(dict(zip(inputs, xs)), verbose=0)
    return [out[name] for name in outputs]


def place(repo, model, version, archive, config=None):
    """Makes repo/model/version/model.keras appear atomically (rename), with
    repo/model/config.json when `config` (JSON text) is given."""
    tmp = os.path.join(repo, model, f".{version}.tmp")
    os.makedirs(tmp)
    shutil.copy(os.path.join(ARCHIVES, archive), os.path.join(tmp, "model.keras"))
    os.rename(tmp, os.path.join(repo, model, str(version)))
    if config is not None:
        with open(os.path.join(repo, model, "config.json"), "w") as f:
            f.write(config)


def place_test_models(repo):
    """The tritonclient tests' repository: mlp (batches of up to 8, 4
    preferred), cnn, two_io, embedding, and `broken`, not a Keras archive."""
    place(repo, "mlp", 1, "mlp_sgd.keras",
          '{"max_batch_size": 8, "dynamic_batching": '
          '{"preferred_batch_size": [4], "max_queue_delay_microseconds": 500}}')
    place(repo, "cnn", 1, "cnn_bn.keras")
    place(repo, "two_io", 1, "masked_two_io.keras")
    place(repo, "embedding", 1, "embedding.keras")
    os.makedirs(os.path.join(repo, "broken", "1"))
    with open(os.path.join(repo, "broken", "1", "model.keras"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a keras archive")


@contextlib.contextmanager
def serving(fornax, repo, *flags):
    """Runs `fornax serve` on `repo`; yields (grpc address, metrics address,
    http address) and checks that SIGTERM stops it with exit code 0."""
    proc = subprocess.Popen(
        [fornax, "serve", "--model-repository", repo, "--port", "0", "--metrics-port", "0",
         "--http-port", "0", *flags],
        stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = proc.stdout.readline()
    match = re.match(r"listening grpc=(\S+) metrics=(\S+) http=(\S+)\n", line)
    if not match:
        proc.kill()
        raise SystemExit(f"fornax serve printed {line!r}")
    try:
        yield match.group(1), match.group(2), match.group(3)
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    check(code == 0, f"SIGTERM: fornax serve exits 0 (got {code})")
