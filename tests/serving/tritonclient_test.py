"""`fornax serve` against the real tritonclient[grpc] and real Keras 3.

Serves Keras-written reference archives (tests/testdata/archives: an MLP, a
CNN with BatchNormalization, a two-input two-output model with a BOOL input,
an INT32 Embedding model) and checks, over gRPC on loopback:
  - health, server/model metadata, model config (what perf_analyzer reads);
  - infer outputs == keras.models.load_model(...).predict within 1e-5
    (unary, requested-output subset, streaming);
  - bad inputs -> INVALID_ARGUMENT naming the tensor; unknown model -> NOT_FOUND;
  - a corrupt model is reported (RepositoryIndex) and the others serve;
  - explicit unload/load; statistics; Prometheus metrics;
  - hot reload: a new version directory is served within the poll interval
    while a client thread hammers infer, with no failed request.
Usage: tritonclient_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient

from serving_harness import (check, expect_error, finish, keras_predict, place, place_test_models,
                             serving)

POLL_MS = 200


def infer(client, model, arrays, outputs=None):
    inputs = []
    for name, array in arrays:
        dtype = {"float32": "FP32", "int32": "INT32", "bool": "BOOL"}[str(array.dtype)]
        tensor = grpcclient.InferInput(name, list(array.shape), dtype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    requested = [grpcclient.InferRequestedOutput(n) for n in outputs] if outputs else None
    return client.infer(model, inputs, outputs=requested)


def test_basics(client, rng):
    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    check(client.is_model_ready("mlp"), "is_model_ready(mlp)")
    check(not client.is_model_ready("no_such_model"), "unknown model: ready=false, no error")
    check(not client.is_model_ready("mlp", "7"), "unserved version: ready=false")
    server = client.get_server_metadata()
    check(server.name == "fornax" and "model_repository" in server.extensions,
          f"server metadata {server.name} {list(server.extensions)}")
    meta = client.get_model_metadata("mlp")
    check(meta.versions == ["1"] and [(i.name, i.datatype, list(i.shape)) for i in meta.inputs]
          == [("x", "FP32", [-1, 6])], "mlp metadata: input x FP32 [-1, 6], version 1")
    check([(o.datatype, list(o.shape)) for o in meta.outputs] == [("FP32", [-1, 3])],
          "mlp metadata: output FP32 [-1, 3]")
    meta = client.get_model_metadata("two_io")
    check([(i.name, i.datatype) for i in meta.inputs] == [("features", "FP32"), ("mask", "BOOL")],
          "two_io metadata: inputs features FP32, mask BOOL")
    config = client.get_model_config("cnn").config
    check(config.max_batch_size == 64 and config.HasField("dynamic_batching")
          and list(config.input[0].dims) == [6, 6, 2] and config.input[0].data_type == 11,
          f"cnn config max_batch_size={config.max_batch_size} dims={list(config.input[0].dims)}")
    config = client.get_model_config("mlp").config
    check(config.max_batch_size == 8 and list(config.dynamic_batching.preferred_batch_size) == [4]
          and config.dynamic_batching.max_queue_delay_microseconds == 500,
          "mlp config.json (max_batch_size 8, preferred [4], delay 500us)")
    expect_error(lambda: client.get_model_metadata("ghost"), "StatusCode.NOT_FOUND",
                 "unknown model 'ghost'", "metadata of an unknown model")


def test_outputs(client, rng):
    x = rng.normal(size=(5, 6)).astype(np.float32)
    got = infer(client, "mlp", [("x", x)])
    out_name = client.get_model_metadata("mlp").outputs[0].name
    want = keras_predict("mlp_sgd.keras", x)[0]
    diff = np.abs(got.as_numpy(out_name) - want).max()
    check(got.as_numpy(out_name).shape == (5, 3) and diff <= 1e-5, f"MLP vs Keras: max diff {diff:.2e}")

    images = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
    got = infer(client, "cnn", [("image", images)])
    out_name = client.get_model_metadata("cnn").outputs[0].name
    want = keras_predict("cnn_bn.keras", images)[0]
    diff = np.abs(got.as_numpy(out_name) - want).max()
    check(diff <= 1e-5, f"CNN vs Keras: max diff {diff:.2e}")

    features = rng.normal(size=(4, 5)).astype(np.float32)
    mask = rng.random(size=(4, 5)) > 0.3
    names = [o.name for o in client.get_model_metadata("two_io").outputs]
    want = keras_predict("masked_two_io.keras", features, mask,
                         names=(["features", "mask"], names))
    got = infer(client, "two_io", [("features", features), ("mask", mask)])
    diffs = [np.abs(got.as_numpy(n) - w).max() for n, w in zip(names, want)]
    check(max(diffs) <= 1e-5, f"two inputs (FP32, BOOL), two outputs vs Keras: {diffs}")
    got = infer(client, "two_io", [("features", features), ("mask", mask)], outputs=[names[1]])
    response = got.get_response()
    check([o.name for o in response.outputs] == [names[1]] and len(response.raw_output_contents) == 1
          and np.abs(got.as_numpy(names[1]) - want[1]).max() <= 1e-5,
          "requested-output subset: only that output, in raw_output_contents")

    tokens = rng.integers(0, 20, size=(3, 6)).astype(np.int32)
    got = infer(client, "embedding", [("tokens", tokens)])
    name = client.get_model_metadata("embedding").outputs[0].name
    diff = np.abs(got.as_numpy(name) - keras_predict("embedding.keras", tokens)[0]).max()
    check(diff <= 1e-5, f"INT32 Embedding model vs Keras: max diff {diff:.2e}")


def test_stream(url, rng):
    results = queue.Queue()
    client = grpcclient.InferenceServerClient(url)
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    xs = [rng.normal(size=(2, 6)).astype(np.float32) for _ in range(3)]
    for i, x in enumerate(xs):
        tensor = grpcclient.InferInput("x", [2, 6], "FP32")
        tensor.set_data_from_numpy(x)
        client.async_stream_infer("mlp", [tensor], request_id=str(i))
    bad = grpcclient.InferInput("x", [2, 5], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 5), np.float32))
    client.async_stream_infer("mlp", [bad], request_id="bad")
    got = [results.get(timeout=30) for _ in range(4)]
    client.stop_stream()
    want = keras_predict("mlp_sgd.keras", np.concatenate(xs))[0]
    name = client.get_model_metadata("mlp").outputs[0].name
    by_id = {r.get_response().id: r for r, e in got if e is None}
    errors = [e for r, e in got if e is not None]
    ok = len(by_id) == 3 and all(
        np.abs(by_id[str(i)].as_numpy(name) - want[2 * i:2 * i + 2]).max() <= 1e-5 for i in range(3))
    check(ok, "ModelStreamInfer: 3 responses equal Keras")
    check(len(errors) == 1 and "expected shape [-1,6], got [2,5]" in str(errors[0]),
          f"ModelStreamInfer: a bad request is an error message on the stream: {errors}")


def test_bad_inputs(client):
    invalid = "StatusCode.INVALID_ARGUMENT"
    x = np.zeros((2, 6), np.float32)
    expect_error(lambda: client.infer("mlp", [_raw_input("x", [2, 6], "FP64", np.zeros((2, 6)))]),
                 invalid, r"input 'x': expected datatype FP32, got 'FP64'", "wrong datatype")
    expect_error(lambda: infer(client, "mlp", [("x", np.zeros((2, 5), np.float32))]), invalid,
                 r"input 'x': expected shape \[-1,6\], got \[2,5\]", "wrong shape")
    expect_error(lambda: client.infer("mlp", [_raw_input("x", [2, 6], "FP32", np.zeros(11, np.float32))]),
                 invalid, r"input 'x': expected 48 bytes for shape \[2,6\] FP32, got 44", "wrong byte size")
    expect_error(lambda: infer(client, "two_io", [("features", np.zeros((1, 5), np.float32))]),
                 invalid, r"input 'mask' is missing; model 'two_io' expects 'features', 'mask'",
                 "missing input")
    expect_error(lambda: infer(client, "mlp", [("x", x)], outputs=["nope"]), invalid,
                 r"unknown output 'nope' requested; model 'mlp' has outputs", "unknown output")
    expect_error(lambda: infer(client, "mlp", [("x", x), ("y", x)]), invalid,
                 r"unexpected input 'y' for model 'mlp'; its inputs are 'x'", "unknown input")
    expect_error(lambda: infer(client, "mlp", [("x", np.zeros((9, 6), np.float32))]), invalid,
                 r"input 'x': batch size \(shape\[0\]\) must be in 1..8", "batch over max_batch_size")
    expect_error(lambda: infer(client, "ghost", [("x", x)]), "StatusCode.NOT_FOUND",
                 r"unknown model 'ghost'", "infer on an unknown model")
    expect_error(lambda: infer(client, "broken", [("x", x)]), "StatusCode.NOT_FOUND",
                 r"model 'broken' is not ready: version 1: ", "infer on a corrupt model")


def test_raw_protocol(url):
    """Typed `contents` (which tritonclient never sends), mixing rules, big messages."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    channel = grpc.insecure_channel(url, options=[("grpc.max_send_message_length", 1 << 30)])
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name="mlp", id="typed")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 6])
    x = np.arange(6, dtype=np.float32).reshape(1, 6) / 6
    tensor.contents.fp32_contents.extend(x.ravel().tolist())
    response = stub.ModelInfer(request)
    got = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(1, 3)
    check(response.id == "typed" and response.model_version == "1" and not response.outputs[0].HasField("contents")
          and np.abs(got - keras_predict("mlp_sgd.keras", x)[0]).max() <= 1e-5,
          "typed fp32_contents in, raw_output_contents out, equal to Keras")
    request.raw_input_contents.append(x.tobytes())
    try:
        stub.ModelInfer(request)
        check(False, "raw and typed contents together: no error")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "contents must not be given" in e.details(),
              f"raw and typed contents together: {e.code()} {e.details()!r}")
    big = service_pb2.ModelInferRequest(model_name="mlp")
    big.inputs.add(name="x", datatype="FP32", shape=[2, 6])
    big.raw_input_contents.append(bytes(5 << 20))
    try:
        stub.ModelInfer(big)
        check(False, "5 MiB request: no error")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "got 5242880" in e.details(),
              f"a 5 MiB message is read (limit raised past gRPC's 4 MiB): {e.details()!r}")
    channel.close()


def test_predict_command(fornax, url, rng):
    """`fornax predict --server ADDR --model NAME` calls ModelInfer."""
    with tempfile.TemporaryDirectory() as tmp:
        x = rng.normal(size=(4, 6))  # float64: cast to the model's FP32 by the client
        np.save(os.path.join(tmp, "x.npy"), x)
        run = subprocess.run([fornax, "predict", "--server", url, "--model", "mlp", "--input",
                              os.path.join(tmp, "x.npy"), "--output", os.path.join(tmp, "y.npy")],
                             capture_output=True, text=True)
        ok = run.returncode == 0
        if ok:
            y = np.load(os.path.join(tmp, "y.npy"))
            ok = np.abs(y - keras_predict("mlp_sgd.keras", x.astype(np.float32))[0]).max() <= 1e-5
        check(ok, f"fornax predict --server: equals Keras ({run.returncode} {run.stderr.strip()!r})")
        run = subprocess.run([fornax, "predict", "--server", url, "--model", "ghost", "--input",
                              os.path.join(tmp, "x.npy"), "--output", os.path.join(tmp, "y.npy")],
                             capture_output=True, text=True)
        check(run.returncode == 2 and "fornax: error: predict: ModelMetadata on" in run.stderr
              and "unknown model 'ghost'" in run.stderr,
              f"fornax predict --server, unknown model: exit {run.returncode} {run.stderr.strip()!r}")


def _raw_input(name, shape, datatype, array):
    """An InferInput whose raw bytes need not match its declared shape."""
    tensor = grpcclient.InferInput(name, shape, datatype)
    tensor._raw_content = array.tobytes()
    tensor._input.ClearField("contents")
    return tensor


def test_repository(client, metrics_url):
    index = {(m.name, m.state): m for m in client.get_model_repository_index().models}
    broken = index.get(("broken", "UNAVAILABLE"))
    check(broken is not None and broken.version == "1" and "broken/1/model.keras" in broken.reason,
          f"corrupt model reported in RepositoryIndex: {broken and broken.reason!r}")
    check(("mlp", "READY") in index and ("cnn", "READY") in index, "the others are READY")
    client.unload_model("cnn")
    check(not client.is_model_ready("cnn"), "unload_model: cnn not ready")
    client.load_model("cnn")
    check(client.is_model_ready("cnn"), "load_model: cnn ready again")
    stats = client.get_inference_statistics("mlp").model_stats[0]
    check(stats.inference_count >= 5 and stats.execution_count >= 1
          and stats.inference_stats.success.count >= 1,
          f"statistics: inference_count={stats.inference_count} exec={stats.execution_count}")
    text = urllib.request.urlopen(f"http://{metrics_url}/metrics", timeout=10).read().decode()
    count = re.search(r'nv_inference_count\{model="mlp",version="1"\} (\S+)', text)
    check(count is not None and float(count.group(1)) >= 5, "Prometheus nv_inference_count{mlp,1}")
    for name in ("nv_inference_request_success", "nv_inference_request_failure",
                 "nv_inference_exec_count", "nv_inference_queue_duration_us",
                 "nv_inference_compute_infer_duration_us", "fornax_inference_batch_size_bucket"):
        check(re.search(name + r'\{[^}]*model="mlp"', text) is not None, f"metric {name}")


def test_hot_reload(url, repo, rng):
    x = rng.normal(size=(3, 6)).astype(np.float32)
    v1 = keras_predict("mlp_sgd.keras", x)[0]
    v2 = keras_predict("mlp_adam.keras", x)[0]
    check(np.abs(v1 - v2).max() > 1e-3, "versions 1 and 2 predict differently")
    stop = threading.Event()
    # (sent, answered, version, matches that version's Keras output)
    seen = []
    errors = []

    def hammer():
        client = grpcclient.InferenceServerClient(url)
        name = client.get_model_metadata("mlp").outputs[0].name
        while not stop.is_set():
            try:
                sent = time.monotonic()
                result = infer(client, "mlp", [("x", x)])
                version = result.get_response().model_version
                out = result.as_numpy(name)
                want = v1 if version == "1" else v2
                seen.append((sent, time.monotonic(), version, np.abs(out - want).max() <= 1e-5))
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    placed = time.monotonic()
    place(repo, "mlp", 2, "mlp_adam.keras")
    deadline = placed + 10
    while time.monotonic() < deadline and not any(v == "2" for _, _, v, _ in seen):
        time.sleep(0.01)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    first_v2 = min((t for _, t, v, _ in seen if v == "2"), default=None)
    check(not errors, f"no failed request during the switch ({len(seen)} requests, errors: {errors[:3]})")
    check(all(ok for *_, ok in seen), "every response equals its version's Keras predict")
    check(first_v2 is not None, "version 2 served")
    if first_v2 is not None:
        delay = first_v2 - placed
        # Poll interval + loading and warming the archive; generous for a loaded CI box.
        check(delay <= POLL_MS / 1000 + 1.5, f"version 2 served {delay * 1000:.0f} ms after it appeared")
        # Sent after a version 2 answer came back: a request answered later
        # but sent before it may have been given version 1 on arrival.
        after = [v for sent, _, v, _ in seen if sent > first_v2]
        check(after and all(v == "2" for v in after), "only version 2 after the switch")


def test_serve_flags(fornax):
    cases = [([], "serve: --model-repository is required "
                  "(usage: fornax serve --model-repository DIR)"),
             (["--model-repository", "/nonexistent/models"],
              "serve: --model-repository /nonexistent/models: not a directory"),
             (["--model-repository", ".", "--port", "http"],
              "serve: --port: expected an integer in 0..65535, got 'http'"),
             (["--model-repository", ".", "--poll-interval-ms", "0"],
              "serve: --poll-interval-ms: expected an integer in 1..86400000, got '0'")]
    for args, message in cases:
        run = subprocess.run([fornax, "serve", *args], capture_output=True, text=True, timeout=30)
        check(run.returncode == 2 and run.stderr.strip() == f"fornax: error: {message}",
              f"fornax serve {' '.join(args)}: exit {run.returncode} {run.stderr.strip()!r}")


def main():
    fornax = sys.argv[1]
    test_serve_flags(fornax)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as repo:
        place_test_models(repo)
        with serving(fornax, repo, "--poll-interval-ms", str(POLL_MS)) as (url, metrics_url, _):
            client = grpcclient.InferenceServerClient(url)
            test_basics(client, rng)
            test_outputs(client, rng)
            test_stream(url, rng)
            test_bad_inputs(client)
            test_raw_protocol(url)
            test_predict_command(fornax, url, rng)
            test_repository(client, metrics_url)
            test_hot_reload(url, repo, rng)
    finish("serving")


if __name__ == "__main__":
    main()
