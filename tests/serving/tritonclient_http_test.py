"""`fornax serve`'s HTTP/REST endpoint against the real tritonclient.http and Keras 3.

Serves the Keras-written reference archives (an MLP, a CNN with
BatchNormalization, a two-input two-output model with a BOOL input, an INT32
Embedding model) and checks, over HTTP on loopback:
  - health, server/model metadata and config as tritonclient.http returns them;
  - infer outputs == keras.models.load_model(...).predict within 1e-5 with
    binary tensor data (tritonclient's default), JSON data both ways, and the
    two mixed in one request; requested outputs; a version in the URL;
    concurrent async requests;
  - request and response compression (gzip, deflate): outputs equal the
    uncompressed request's; the reply carries Content-Encoding;
  - bad inputs -> 400 naming the tensor and what was expected; unknown model
    -> 404; malformed bodies (JSON, binary sizes, header) -> 400, never a crash;
  - statistics, repository index, unload/load; wrong method 405, unknown path 404;
  - --http-port -1 (off), out of range, busy.
Usage: tritonclient_http_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import gzip
import http.client
import json
import re
import socket
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import tritonclient.http as httpclient

from serving_harness import check, expect_error, finish, keras_predict, place_test_models, serving

DTYPES = {"float32": "FP32", "int32": "INT32", "bool": "BOOL"}


def infer(client, model, arrays, binary=True, outputs=None, binary_outputs=True, **kwargs):
    """client.infer with each input's data binary or JSON (`binary`: a bool
    or one per input)."""
    inputs = []
    for i, (name, array) in enumerate(arrays):
        tensor = httpclient.InferInput(name, list(array.shape), DTYPES[str(array.dtype)])
        tensor.set_data_from_numpy(array, binary_data=binary if binary in (True, False)
                                   else binary[i])
        inputs.append(tensor)
    requested = None
    if outputs:
        requested = [httpclient.InferRequestedOutput(n, binary_data=binary_outputs)
                     for n in outputs]
    return client.infer(model, inputs, outputs=requested, **kwargs)


def raw(url, method, path, body=b"", headers=None):
    """One plain HTTP request: (status, decoded JSON body or None, headers)."""
    host, port = url.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = data
    return response.status, parsed, dict(response.getheaders())


def test_metadata(client):
    check(client.is_server_live(), "is_server_live")
    check(client.is_server_ready(), "is_server_ready")
    check(client.is_model_ready("mlp"), "is_model_ready(mlp)")
    check(client.is_model_ready("mlp", "1"), "is_model_ready(mlp, version 1)")
    check(not client.is_model_ready("no_such_model"), "unknown model: not ready")
    server = client.get_server_metadata()
    check(server["name"] == "fornax" and "binary_tensor_data" in server["extensions"],
          f"server metadata {server}")
    meta = client.get_model_metadata("mlp")
    check(meta["versions"] == ["1"] and meta["platform"] == "keras"
          and meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 6]}]
          and [(o["datatype"], o["shape"]) for o in meta["outputs"]] == [("FP32", [-1, 3])],
          f"mlp metadata {meta}")
    meta = client.get_model_metadata("two_io", "1")
    check([(i["name"], i["datatype"]) for i in meta["inputs"]]
          == [("features", "FP32"), ("mask", "BOOL")], "two_io metadata (version 1 in the URL)")
    config = client.get_model_config("cnn")
    check(config["max_batch_size"] == 64 and "dynamic_batching" in config
          and config["input"][0]["dims"] == [6, 6, 2]
          and config["input"][0]["data_type"] == "TYPE_FP32"
          and "sequence_batching" not in config,
          f"cnn config: max_batch_size {config.get('max_batch_size')}, "
          f"dims {config['input'][0].get('dims')}")
    config = client.get_model_config("mlp")
    check(config["max_batch_size"] == 8
          and config["dynamic_batching"]["preferred_batch_size"] == [4]
          and config["dynamic_batching"]["max_queue_delay_microseconds"] == 500,
          "mlp config.json (max_batch_size 8, preferred [4], delay 500us)")
    expect_error(lambda: client.get_model_metadata("ghost"), "404", r"unknown model 'ghost'",
                 "metadata of an unknown model")
    expect_error(lambda: client.get_model_config("broken"), "404",
                 r"model 'broken' is not ready: version 1: ", "config of a corrupt model")


def test_outputs(client, rng):
    x = rng.normal(size=(5, 6)).astype(np.float32)
    want = keras_predict("mlp_sgd.keras", x)[0]
    name = client.get_model_metadata("mlp")["outputs"][0]["name"]
    for binary, what in [(True, "binary in, binary out"), (False, "JSON in, JSON out")]:
        got = infer(client, "mlp", [("x", x)], binary=binary, outputs=[name],
                    binary_outputs=binary)
        output = got.get_output(name)
        form_ok = ("data" in output) != binary and (
            "binary_data_size" in output.get("parameters", {})) == binary
        diff = np.abs(got.as_numpy(name) - want).max()
        check(form_ok and got.as_numpy(name).shape == (5, 3) and diff <= 1e-5,
              f"MLP vs Keras, {what}: max diff {diff:.2e}")
    got = infer(client, "mlp", [("x", x)], model_version="1", request_id="r7")
    check(got.get_response()["id"] == "r7" and got.get_response()["model_version"] == "1"
          and np.abs(got.as_numpy(name) - want).max() <= 1e-5,
          "no outputs listed (binary_data_output), version and id in the request")

    images = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
    want = keras_predict("cnn_bn.keras", images)[0]
    name = client.get_model_metadata("cnn")["outputs"][0]["name"]
    for binary in (True, False):
        got = infer(client, "cnn", [("image", images)], binary=binary, outputs=[name],
                    binary_outputs=binary)
        diff = np.abs(got.as_numpy(name) - want).max()
        check(diff <= 1e-5, f"CNN vs Keras, binary={binary}: max diff {diff:.2e}")

    features = rng.normal(size=(4, 5)).astype(np.float32)
    mask = rng.random(size=(4, 5)) > 0.3
    names = [o["name"] for o in client.get_model_metadata("two_io")["outputs"]]
    want = keras_predict("masked_two_io.keras", features, mask,
                         names=(["features", "mask"], names))
    got = infer(client, "two_io", [("features", features), ("mask", mask)], binary=[True, False],
                outputs=names, binary_outputs=False)
    diffs = [np.abs(got.as_numpy(n) - w).max() for n, w in zip(names, want)]
    check(max(diffs) <= 1e-5, f"FP32 binary + BOOL JSON inputs, JSON outputs vs Keras: {diffs}")
    got = infer(client, "two_io", [("features", features), ("mask", mask)], binary=[False, True],
                outputs=[names[1]])
    check([o["name"] for o in got.get_response()["outputs"]] == [names[1]]
          and np.abs(got.as_numpy(names[1]) - want[1]).max() <= 1e-5,
          "requested-output subset: only that output")

    tokens = rng.integers(0, 20, size=(3, 6)).astype(np.int32)
    name = client.get_model_metadata("embedding")["outputs"][0]["name"]
    want = keras_predict("embedding.keras", tokens)[0]
    for binary in (True, False):
        got = infer(client, "embedding", [("tokens", tokens)], binary=binary)
        diff = np.abs(got.as_numpy(name) - want).max()
        check(diff <= 1e-5, f"INT32 Embedding vs Keras, binary={binary}: max diff {diff:.2e}")


def test_compression(client, url, rng):
    """request_compression_algorithm / response_compression_algorithm: the
    outputs equal the uncompressed request's bit for bit."""
    x = rng.normal(size=(8, 6)).astype(np.float32)
    want = keras_predict("mlp_sgd.keras", x)[0]
    for binary in (True, False):
        plain = infer(client, "mlp", [("x", x)], binary=binary, outputs=["dense_2"],
                      binary_outputs=binary).as_numpy("dense_2")
        for request in (None, "gzip", "deflate"):
            for response in (None, "gzip", "deflate"):
                got = infer(client, "mlp", [("x", x)], binary=binary, outputs=["dense_2"],
                            binary_outputs=binary, request_compression_algorithm=request,
                            response_compression_algorithm=response).as_numpy("dense_2")
                check(np.array_equal(got, plain) and np.abs(got - want).max() <= 1e-5,
                      f"{'binary' if binary else 'JSON'} data, request {request}, response "
                      f"{response}: outputs equal the uncompressed ones")
    # The reply is compressed as asked (tritonclient hides the headers).
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [8, 6],
                                   "data": x.flatten().tolist()}]}).encode()
    for coding, compress, decompress in (("gzip", gzip.compress, gzip.decompress),
                                         ("deflate", zlib.compress, zlib.decompress)):
        status, reply, headers = raw(url, "POST", "/v2/models/mlp/infer", compress(body),
                                     {"Content-Encoding": coding, "Accept-Encoding": coding})
        data = json.loads(decompress(reply)) if isinstance(reply, bytes) else {}
        got = np.array(data.get("outputs", [{}])[0].get("data", []), np.float32).reshape(-1, 3)
        check(status == 200 and headers.get("Content-Encoding") == coding
              and int(headers.get("Content-Length")) == len(reply)
              and np.abs(got - want).max() <= 1e-5,
              f"raw {coding} request and reply: {status} {headers.get('Content-Encoding')}")


def test_concurrent(url, rng):
    client = httpclient.InferenceServerClient(url, concurrency=4)
    xs = [rng.normal(size=(2, 6)).astype(np.float32) for _ in range(12)]
    handles = []
    for x in xs:
        tensor = httpclient.InferInput("x", [2, 6], "FP32")
        tensor.set_data_from_numpy(x)
        handles.append(client.async_infer("mlp", [tensor]))
    got = np.concatenate([h.get_result().as_numpy("dense_2") for h in handles])
    diff = np.abs(got - keras_predict("mlp_sgd.keras", np.concatenate(xs))[0]).max()
    check(diff <= 1e-5, f"12 async requests on 4 connections equal Keras: max diff {diff:.2e}")
    client.close()


def test_bad_inputs(client):
    x = np.zeros((2, 6), np.float32)
    expect_error(lambda: infer(client, "mlp", [("x", np.zeros((2, 5), np.float32))]), "400",
                 r"input 'x': expected shape \[-1,6\], got \[2,5\]", "wrong shape")
    expect_error(lambda: infer(client, "mlp", [("x", np.zeros((2, 6), np.int32))]), "400",
                 r"input 'x': expected datatype FP32, got 'INT32'", "wrong datatype")
    expect_error(lambda: infer(client, "mlp", [("x", np.zeros((9, 6), np.float32))]), "400",
                 r"input 'x': batch size \(shape\[0\]\) must be in 1..8", "batch over max")
    expect_error(lambda: infer(client, "two_io", [("features", np.zeros((1, 5), np.float32))]),
                 "400", r"input 'mask' is missing; model 'two_io' expects 'features', 'mask'",
                 "missing input")
    expect_error(lambda: infer(client, "mlp", [("x", x)], outputs=["nope"]), "400",
                 r"unknown output 'nope' requested; model 'mlp' has outputs", "unknown output")
    expect_error(lambda: infer(client, "ghost", [("x", x)]), "404", r"unknown model 'ghost'",
                 "infer on an unknown model")
    expect_error(lambda: infer(client, "mlp", [("x", x)], model_version="7"), "404",
                 r"model 'mlp' version '7' is not served; the serving version is 1",
                 "infer on an unserved version")


def test_malformed(url):
    """Bodies tritonclient would never send; each gets a 400 that says what is wrong."""
    infer_path = "/v2/models/mlp/infer"
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 6],
                                   "parameters": {"binary_data_size": 24}}]}).encode()
    data = np.zeros(6, np.float32).tobytes()
    cases = [
        (b"{\"inputs\": [", {}, r"the inference request is not valid JSON"),
        (b"[]", {}, r"must be a JSON object, got array"),
        (json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 6],
                                 "data": [1, 2, 3]}]}).encode(), {},
         r"input 'x': shape \[1,6\] needs 6 elements, 'data' has 3"),
        (json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 6],
                                 "data": [1, 2, 3, 4, 5, "six"]}]}).encode(), {},
         r"input 'x': 'data' FP32 element 5: expected a number, got \"six\""),
        (head + data[:20], {"Inference-Header-Content-Length": str(len(head))},
         r"input 'x': binary_data_size is 24 but only 20 bytes"),
        (head + data + b"xx", {"Inference-Header-Content-Length": str(len(head))},
         r"2 bytes of binary data follow"),
        (head + data, {"Inference-Header-Content-Length": "-5"},
         r"Inference-Header-Content-Length must be an integer in 0\.\.\d+"),
        (head + data, {"Inference-Header-Content-Length": str(len(head)),
                       "Content-Encoding": "gzip"},
         r"^the request body is not valid gzip data \(Content-Encoding: gzip\): incorrect header "
         r"check$"),
        (head + data, {"Content-Encoding": "br"},
         r"^Content-Encoding 'br' is not supported \(gzip, deflate or identity\)$"),
    ]
    for body, headers, pattern in cases:
        status, reply, _ = raw(url, "POST", infer_path, body, headers)
        error = reply.get("error", "") if isinstance(reply, dict) else ""
        check(status in (400, 501) and re.search(pattern, error) is not None,
              f"malformed body -> {status} {error!r}")
    status, reply, headers = raw(url, "POST", infer_path, head + data,
                                 {"Inference-Header-Content-Length": str(len(head))})
    check(status == 200 and headers.get("Content-Type") == "application/json"
          and "Inference-Header-Content-Length" not in headers and "data" in reply["outputs"][0],
          "raw binary input, no binary_data_output: a JSON-only answer")
    status, reply, _ = raw(url, "GET", infer_path)
    check(status == 405 and "method not allowed" in reply["error"], f"GET infer: {status}")
    status, reply, _ = raw(url, "GET", "/v2/nothing/here")
    check(status == 404 and "no endpoint GET /v2/nothing/here" in reply["error"],
          f"unknown path: {status} {reply}")
    status, reply, _ = raw(url, "POST", "/v2/repository/models/mlp/load",
                           json.dumps({"parameters": {"config": "{}"}}).encode())
    check(status == 400 and "load parameter 'config' is not supported" in reply["error"],
          f"load with a config: {status} {reply}")
    status, _, _ = raw(url, "GET", "/v2/health/ready")
    check(status == 200, "the server still answers after the malformed requests")


def test_repository(client):
    stats = client.get_inference_statistics("mlp")["model_stats"][0]
    infer_stats = stats["inference_stats"]
    check(stats["name"] == "mlp" and stats["version"] == "1"
          and isinstance(stats["inference_count"], int) and stats["inference_count"] >= 5
          and infer_stats["success"]["count"] >= 1
          and infer_stats["compute_infer"]["count"] == infer_stats["compute_output"]["count"],
          f"mlp statistics: {stats['inference_count']} inferences, "
          f"{infer_stats['success']['count']} requests")
    all_stats = client.get_inference_statistics()["model_stats"]
    check({"mlp", "cnn"} <= {s["name"] for s in all_stats}, "statistics of every model")
    index = client.get_model_repository_index()
    states = {m["name"]: m["state"] for m in index}
    check(states.get("mlp") == "READY" and states.get("broken") == "UNAVAILABLE",
          f"repository index: {states}")
    client.unload_model("cnn")
    check(not client.is_model_ready("cnn"), "unload_model(cnn): no longer ready")
    client.load_model("cnn")
    check(client.is_model_ready("cnn"), "load_model(cnn): ready again")
    expect_error(lambda: client.load_model("ghost"), "404", r"ghost", "load of an unknown model")


def serve_with_busy_port(fornax, repo, flags):
    """Runs `fornax serve` to its exit with flags(port) while another socket
    listens on port; returns the port and the finished run."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        return port, subprocess.run([fornax, "serve", "--model-repository", repo, "--port", "0",
                                     *flags(port)], capture_output=True, text=True, timeout=60)


def test_serve_flags(fornax, repo):
    """--http-port: -1 turns HTTP off (no http= on the listening line), an
    out-of-range value and a busy port are refused."""
    proc = subprocess.Popen([fornax, "serve", "--model-repository", repo, "--port", "0",
                             "--metrics-port", "0", "--http-port", "-1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    proc.terminate()
    proc.wait(timeout=30)
    check(re.fullmatch(r"listening grpc=\S+ metrics=\S+\n", line) is not None,
          f"--http-port -1: no HTTP endpoint: {line!r}")
    run = subprocess.run([fornax, "serve", "--model-repository", repo, "--http-port", "-2"],
                         capture_output=True, text=True, timeout=30)
    check(run.returncode != 0 and "serve: --http-port: expected an integer in -1..65535, "
          "got '-2'" in run.stderr, f"--http-port -2: {run.returncode} {run.stderr.strip()!r}")
    port, run = serve_with_busy_port(fornax, repo, lambda port: ["--metrics-port", "0",
                                                                "--http-port", str(port)])
    check(run.returncode != 0
          and f"serve: cannot listen for HTTP on 127.0.0.1:{port}" in run.stderr,
          f"busy HTTP port: {run.returncode} {run.stderr.strip()[-120:]!r}")
    run = subprocess.run([fornax, "serve", "--model-repository", repo, "--http-threads", "0"],
                         capture_output=True, text=True, timeout=30)
    check(run.returncode != 0 and "serve: --http-threads: expected an integer in 1..4096, "
          "got '0'" in run.stderr, f"--http-threads 0: {run.returncode} {run.stderr.strip()!r}")
    port, run = serve_with_busy_port(fornax, repo, lambda port: ["--metrics-port", str(port),
                                                                "--http-port", "-1"])
    check(run.returncode != 0
          and f"serve: metrics: cannot listen on 127.0.0.1:{port}" in run.stderr,
          f"busy metrics port: {run.returncode} {run.stderr.strip()[-120:]!r}")


def main():
    fornax = sys.argv[1]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as repo:
        place_test_models(repo)
        test_serve_flags(fornax, repo)
        with serving(fornax, repo) as (_, _, url):
            client = httpclient.InferenceServerClient(url)
            test_metadata(client)
            test_outputs(client, rng)
            test_compression(client, url, rng)
            test_concurrent(url, rng)
            test_bad_inputs(client)
            test_malformed(url)
            test_repository(client)
            client.close()
    finish("HTTP serving")


if __name__ == "__main__":
    main()
