"""`fornax serve` on a Triton-style model repository, with the real
tritonclient[grpc] and real Keras 3.

The repository holds Triton's config.pbtxt files and checks, over gRPC:
  - version_policy latest {num_versions: 2}: two versions serve at once,
    each answering as its own Keras model; unversioned requests get the
    highest; an unserved version is NOT_FOUND naming those served;
    ModelMetadata, ModelReady, ModelConfig, statistics and RepositoryIndex
    per version, as Triton reports them;
  - the config's settings reach ModelConfig (max_batch_size, dynamic
    batching, version policy, declared tensors);
  - a new version appearing is served within the poll interval while
    clients hammer both the unversioned model and the older version it
    keeps, with no failed request, and the oldest version goes;
  - broken configs (a parse error, a tensor that does not match the model,
    an ONNX platform, a GPU instance group, a name that is not UTF-8) are
    reported by RepositoryIndex with the file and field, and the other
    models serve;
  - RepositoryIndex (get_model_repository_index over gRPC and HTTP) lists
    versions as Triton does: the replaced version 1, and every version of
    the model after unload_model, as UNAVAILABLE "unloaded"; load_model
    brings the selected ones back to READY.
Usage: triton_repository_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from serving_harness import ARCHIVES, check, expect_error, finish, keras_predict, serving

POLL_MS = 200

MLP_CONFIG = """
name: "mlp"
backend: "fornax"
max_batch_size: 8
version_policy: { latest: { num_versions: 2 } }
input [ { name: "x", data_type: TYPE_FP32, dims: [ 6 ] } ]
output [ { name: "dense_2", data_type: TYPE_FP32, dims: [ 3 ] } ]
dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 300 }
instance_group [ { count: 1, kind: KIND_CPU } ]
"""

BROKEN_CONFIGS = {
    "unparsable": ("max_batch_size: 8\ndynamic_batching { preferred_batch_size: [4, }\n",
                   "unparsable/config.pbtxt:2:46: Expected integer, got: }"),
    "mismatch": ('max_batch_size: 8\ninput [ { name: "x", data_type: TYPE_FP32, dims: [ 7 ] } ]\n',
                 "mismatch/config.pbtxt: input 'x': dims [7] do not match the model's [6]"),
    "onnx": ('platform: "onnxruntime_onnx"\nmax_batch_size: 8\n',
             "onnx/config.pbtxt: platform: 'onnxruntime_onnx' is not served here"),
    "gpu": ("max_batch_size: 8\ninstance_group [ { kind: KIND_GPU } ]\n",
            "gpu/config.pbtxt: instance_group[0].kind: KIND_GPU is not supported"),
    # A name that is not UTF-8 (found by fuzzing): quoted in the reason, it
    # made the whole index unparsable for tritonclient until escaped.
    "badname": ('name: "bad\\377name"\nmax_batch_size: 8\n',
                "badname/config.pbtxt: name: 'bad\\xffname' does not match the model's "
                "directory 'badname'"),
}


def place(repo, model, version, archive):
    tmp = os.path.join(repo, model, f".{version}.tmp")
    os.makedirs(tmp)
    shutil.copy(os.path.join(ARCHIVES, archive), os.path.join(tmp, "model.keras"))
    os.rename(tmp, os.path.join(repo, model, str(version)))


def write(repo, model, text):
    os.makedirs(os.path.join(repo, model), exist_ok=True)
    with open(os.path.join(repo, model, "config.pbtxt"), "w") as f:
        f.write(text)


def infer(client, x, version=""):
    tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return client.infer("mlp", [tensor], model_version=version)


def test_versions(client, x, want):
    meta = client.get_model_metadata("mlp")
    check(list(meta.versions) == ["1", "2"], f"metadata lists the versions served: {meta.versions}")
    check(list(client.get_model_metadata("mlp", "1").versions) == ["1"],
          "metadata of version 1 lists version 1")
    check(client.is_model_ready("mlp", "1") and client.is_model_ready("mlp", "2")
          and client.is_model_ready("mlp"), "versions 1 and 2 ready")
    for version in ("1", "2"):
        result = infer(client, x, version)
        diff = np.abs(result.as_numpy("dense_2") - want[version]).max()
        check(result.get_response().model_version == version and diff <= 1e-5,
              f"version {version} answers as its own Keras model (max diff {diff:.2e})")
    result = infer(client, x)
    check(result.get_response().model_version == "2"
          and np.abs(result.as_numpy("dense_2") - want["2"]).max() <= 1e-5,
          "an unversioned request gets the highest version")
    expect_error(lambda: infer(client, x, "7"), "StatusCode.NOT_FOUND",
                 r"model 'mlp' version '7' is not served; the serving versions are 1, 2",
                 "an unserved version")
    check(not client.is_model_ready("mlp", "7"), "an unserved version is not ready")

    config = client.get_model_config("mlp").config
    check(config.version_policy.WhichOneof("policy_choice") == "latest"
          and config.version_policy.latest.num_versions == 2,
          f"config: version_policy {config.version_policy}".replace("\n", " "))
    check(config.max_batch_size == 8 and list(config.dynamic_batching.preferred_batch_size) == [4]
          and config.dynamic_batching.max_queue_delay_microseconds == 300
          and [(i.name, list(i.dims)) for i in config.input] == [("x", [6])]
          and [(o.name, list(o.dims)) for o in config.output] == [("dense_2", [3])],
          "config: max_batch_size 8, preferred [4], delay 300us, x [6], dense_2 [3]")

    stats = client.get_inference_statistics("mlp").model_stats
    counts = {s.version: s.inference_count for s in stats}
    check(counts == {"1": 3, "2": 6}, f"statistics per version (rows of 3): {counts}")
    index = [(m.name, m.version, m.state) for m in client.get_model_repository_index().models
             if m.name == "mlp"]
    check(index == [("mlp", "1", "READY"), ("mlp", "2", "READY")], f"repository index {index}")


def test_new_version(client, url, repo, x, want):
    """Version 3 appears while clients hammer the unversioned model and
    version 2: no request fails; then 2 and 3 serve and 1 is gone."""
    stop = threading.Event()
    seen, errors = [], []

    def hammer(version):
        client = grpcclient.InferenceServerClient(url)
        while not stop.is_set():
            try:
                result = infer(client, x, version)
                got = result.get_response().model_version
                ok = np.abs(result.as_numpy("dense_2") - want[got]).max() <= 1e-5
                seen.append((time.monotonic(), version, got, ok))
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))

    threads = [threading.Thread(target=hammer, args=(v,)) for v in ("", "", "2")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    placed = time.monotonic()
    place(repo, "mlp", 3, "mlp_adamw.keras")
    deadline = placed + 10
    while time.monotonic() < deadline and not any(g == "3" for _, _, g, _ in seen):
        time.sleep(0.01)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    check(not errors, f"no failed request ({len(seen)} requests, errors: {errors[:3]})")
    check(all(ok for *_, ok in seen), "every response equals its version's Keras predict")
    check(all(got == "2" for _, asked, got, _ in seen if asked == "2"),
          "requests naming version 2 got version 2 throughout")
    first_v3 = min((t for t, _, g, _ in seen if g == "3"), default=None)
    check(first_v3 is not None and first_v3 - placed <= POLL_MS / 1000 + 1.5,
          f"version 3 served {((first_v3 or placed + 99) - placed) * 1000:.0f} ms after it appeared")
    check(list(client.get_model_metadata("mlp").versions) == ["2", "3"],
          "then versions 2 and 3 serve")
    expect_error(lambda: infer(client, x, "1"), "StatusCode.NOT_FOUND",
                 r"the serving versions are 2, 3", "version 1 is gone")


def test_broken_configs(client):
    index = {m.name: (m.state, m.reason) for m in client.get_model_repository_index().models
             if m.name in BROKEN_CONFIGS}
    for model, (_, message) in BROKEN_CONFIGS.items():
        state, reason = index.get(model, ("missing", ""))
        check(state == "UNAVAILABLE" and message in reason, f"{model}: {state} {reason!r}")
    expect_error(lambda: client.get_model_config("onnx"), "StatusCode.NOT_FOUND",
                 r"model 'onnx' is not ready: version 1: .*onnxruntime_onnx",
                 "config of a model with a broken config.pbtxt")


def mlp_index(client, http_client):
    """The mlp rows of RepositoryIndex as (version, state, reason), over gRPC
    and over HTTP."""
    grpc_rows = [(m.version, m.state, m.reason)
                 for m in client.get_model_repository_index().models if m.name == "mlp"]
    http_rows = [(m.get("version"), m.get("state"), m.get("reason"))
                 for m in http_client.get_model_repository_index() if m["name"] == "mlp"]
    return grpc_rows, http_rows


def test_index_of_unloaded_versions(client, http_client):
    """After test_new_version: version 1 was replaced; then the model is
    unloaded and loaded again."""
    unloaded = ("UNAVAILABLE", "unloaded")
    want = [("1", *unloaded), ("2", "READY", ""), ("3", "READY", "")]
    grpc_rows, http_rows = mlp_index(client, http_client)
    check(grpc_rows == want, f"gRPC index: the replaced version 1 is unloaded: {grpc_rows}")
    check(http_rows == want, f"HTTP index: the same rows: {http_rows}")

    client.unload_model("mlp")
    want = [("1", *unloaded), ("2", *unloaded), ("3", *unloaded)]
    grpc_rows, http_rows = mlp_index(client, http_client)
    check(grpc_rows == want and http_rows == want,
          f"after unload_model, every version that served is unloaded: {grpc_rows} {http_rows}")
    expect_error(lambda: client.get_model_metadata("mlp"), "StatusCode.NOT_FOUND",
                 r"model 'mlp' is not ready: unloaded", "metadata of the unloaded model")

    client.load_model("mlp")
    want = [("1", *unloaded), ("2", "READY", ""), ("3", "READY", "")]
    grpc_rows, http_rows = mlp_index(client, http_client)
    check(grpc_rows == want and http_rows == want,
          f"after load_model, versions 2 and 3 are READY again: {grpc_rows} {http_rows}")


def main():
    fornax = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6)).astype(np.float32)
    want = {"1": keras_predict("mlp_sgd.keras", x)[0], "2": keras_predict("mlp_adam.keras", x)[0],
            "3": keras_predict("mlp_adamw.keras", x)[0]}
    check(np.abs(want["1"] - want["2"]).max() > 1e-3 and np.abs(want["2"] - want["3"]).max() > 1e-3,
          "the three versions predict differently")
    with tempfile.TemporaryDirectory() as repo:
        write(repo, "mlp", MLP_CONFIG)
        place(repo, "mlp", 1, "mlp_sgd.keras")
        place(repo, "mlp", 2, "mlp_adam.keras")
        for model, (text, _) in BROKEN_CONFIGS.items():
            write(repo, model, text)
            place(repo, model, 1, "mlp_sgd.keras")
        with serving(fornax, repo, "--poll-interval-ms", str(POLL_MS)) as (url, _, http_url):
            client = grpcclient.InferenceServerClient(url)
            test_versions(client, x, want)
            test_broken_configs(client)
            test_new_version(client, url, repo, x, want)
            test_index_of_unloaded_versions(client, httpclient.InferenceServerClient(http_url))
    finish("Triton repository")


if __name__ == "__main__":
    main()
