"""`fornax serve`'s system shared memory extension with the real tritonclient.

tritonclient.utils.shared_memory puts tensors in POSIX shared memory
(Python's multiprocessing.shared_memory, /dev/shm); the client registers the
regions and names them in its requests. Over gRPC and HTTP alike:
  - the MLP and the two-input two-output model with inputs and outputs in
    shared memory (offsets in the request and in the registration, one
    output in a region and one in the reply): outputs equal the in-band
    path's bit for bit and Keras's within 1e-5; the reply carries no data
    for an output in a region (gRPC: an empty raw entry, as Triton);
  - status lists the regions (one or all); unregister one, unknown, all;
  - errors, each with its code and a message naming what is wrong: unknown
    key, range past the object, zero size, duplicate name, unknown region
    in status and infer, request range past the region, byte size not the
    tensor's, output region too small, use after unregister; the server
    serves normally after them;
  - HTTP: malformed register bodies, wrong methods and paths;
  - gRPC: ModelStreamInfer with regions; malformed parameters; inputs that
    also carry contents; an object truncated under a registered region is
    refused (FAILED_PRECONDITION), not a SIGBUS; unregistering a region
    while other threads infer with it: every request succeeds with the
    right outputs or gets NOT_FOUND, and the server lives on.
Usage: shared_memory_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import http.client
import json
import os
import queue
import re
import sys
import tempfile
import threading

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm

from serving_harness import check, expect_error, finish, keras_predict, place_test_models, serving

REGION_BYTES = 4096


class Grpc:
    name = "grpc"
    client = grpcclient
    invalid, not_found, exists = ("StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND",
                                  "StatusCode.ALREADY_EXISTS")

    @staticmethod
    def regions(client, name=""):
        status = client.get_system_shared_memory_status(name)
        return sorted((r.name, r.key, r.offset, r.byte_size) for r in status.regions.values())

    @staticmethod
    def output_names(client, model):
        return [o.name for o in client.get_model_metadata(model).outputs]

    @staticmethod
    def reply_has_no_data(result, name):
        """The output is described (shape, datatype) and its raw entry is empty."""
        response = result.get_response()
        index = [o.name for o in response.outputs].index(name)
        output = response.outputs[index]
        return (len(response.raw_output_contents) == len(response.outputs)
                and response.raw_output_contents[index] == b"" and not output.parameters
                and output.datatype == "FP32")


class Http:
    name = "http"
    client = httpclient
    invalid, not_found, exists = "400", "404", "409"

    @staticmethod
    def regions(client, name=""):
        return [(r["name"], r["key"], r["offset"], r["byte_size"])
                for r in client.get_system_shared_memory_status(name)]

    @staticmethod
    def output_names(client, model):
        return [o["name"] for o in client.get_model_metadata(model)["outputs"]]

    @staticmethod
    def reply_has_no_data(result, name):
        output = result.get_output(name)
        return set(output) == {"name", "datatype", "shape"} and output["datatype"] == "FP32"


def key(proto, what):
    return f"/fornax_shm_test_{os.getpid()}_{proto.name}_{what}"


def shm_input(proto, name, array, region, offset=0, byte_size=None):
    tensor = proto.client.InferInput(name, list(array.shape),
                                     {"float32": "FP32", "bool": "BOOL"}[str(array.dtype)])
    tensor.set_shared_memory(region, array.nbytes if byte_size is None else byte_size, offset)
    return tensor


def inband_input(proto, name, array):
    tensor = proto.client.InferInput(name, list(array.shape),
                                     {"float32": "FP32", "bool": "BOOL"}[str(array.dtype)])
    tensor.set_data_from_numpy(array)
    return tensor


def shm_output(proto, name, region, byte_size, offset=0):
    output = proto.client.InferRequestedOutput(name)
    output.set_shared_memory(region, byte_size, offset)
    return output


class Regions:
    """The client's shared memory objects ("in", "out", "io"), created and
    destroyed (unlinked) here."""

    def __init__(self, proto):
        self.handles = {what: shm.create_shared_memory_region(what, key(proto, what), REGION_BYTES,
                                                              create_only=True)
                        for what in ("in", "out", "io")}

    def close(self):
        for handle in self.handles.values():
            shm.destroy_shared_memory_region(handle)


def test_models(proto, client, regions, want):
    """MLP and two_io with inputs and outputs in shared memory."""
    client.register_system_shared_memory("in", key(proto, "in"), REGION_BYTES)
    client.register_system_shared_memory("out", key(proto, "out"), REGION_BYTES)
    # A region starting 100 bytes into its object (not page-aligned).
    client.register_system_shared_memory("io", key(proto, "io"), 1000, offset=100)

    x = want["x"]
    (mlp_out,) = proto.output_names(client, "mlp")
    shm.set_shared_memory_region(regions.handles["in"], [x])
    result = client.infer("mlp", [shm_input(proto, "x", x, "in")],
                          outputs=[shm_output(proto, mlp_out, "out", 60)])
    got = shm.get_contents_as_numpy(regions.handles["out"], np.float32, [5, 3]).copy()
    inband = client.infer("mlp", [inband_input(proto, "x", x)]).as_numpy(mlp_out)
    check(np.array_equal(got, inband), f"{proto.name} mlp: output in shared memory == in-band bit for bit")
    diff = np.abs(got - want["mlp"]).max()
    check(diff <= 1e-5, f"{proto.name} mlp: shared memory output vs Keras: max diff {diff:.2e}")
    check(proto.reply_has_no_data(result, mlp_out),
          f"{proto.name} mlp: the reply describes the output but carries no data for it")

    features, mask = want["features"], want["mask"]
    names = proto.output_names(client, "two_io")
    # features at 0 and mask at 80 of region "io" (object bytes 100 and 180).
    shm.set_shared_memory_region(regions.handles["io"], [features, mask], offset=100)
    inputs = [shm_input(proto, "features", features, "io"),
              shm_input(proto, "mask", mask, "io", offset=features.nbytes)]
    outputs = [shm_output(proto, names[0], "out", 400, offset=200),
               proto.client.InferRequestedOutput(names[1])]
    result = client.infer("two_io", inputs, outputs=outputs)
    shape = list(want["two_io"][0].shape)
    first = shm.get_contents_as_numpy(regions.handles["out"], np.float32, shape, offset=200).copy()
    second = result.as_numpy(names[1])
    inband = client.infer("two_io", [inband_input(proto, "features", features),
                                     inband_input(proto, "mask", mask)])
    check(np.array_equal(first, inband.as_numpy(names[0]))
          and np.array_equal(second, inband.as_numpy(names[1])),
          f"{proto.name} two_io (FP32 + BOOL inputs at offsets): outputs == in-band bit for bit")
    diffs = [np.abs(g - w).max() for g, w in zip((first, second), want["two_io"])]
    check(max(diffs) <= 1e-5, f"{proto.name} two_io: one output in a region, one in the reply, "
          f"vs Keras: {diffs}")
    check(proto.reply_has_no_data(result, names[0]),
          f"{proto.name} two_io: no data for the output in a region")


def test_status(proto, client):
    want = [("in", key(proto, "in"), 0, REGION_BYTES), ("io", key(proto, "io"), 100, 1000),
            ("out", key(proto, "out"), 0, REGION_BYTES)]
    got = proto.regions(client)
    check(got == want, f"{proto.name} status lists every region: {got}")
    got = proto.regions(client, "io")
    check(got == want[1:2], f"{proto.name} status of one region: {got}")
    expect_error(lambda: proto.regions(client, "ghost"), proto.not_found,
                 r"^system shared memory region 'ghost' is not registered$",
                 f"{proto.name} status of an unknown region")


def test_errors(proto, client, want):
    x = want["x"]
    (mlp_out,) = proto.output_names(client, "mlp")
    p, k = proto.name, key(proto, "in")
    expect_error(lambda: client.register_system_shared_memory("r", k + "_nope", 64), proto.not_found,
                 rf"^system shared memory region 'r': cannot open shared memory key '{k}_nope': "
                 r"No such file or directory$", f"{p} register: unknown key")
    expect_error(lambda: client.register_system_shared_memory("r", k, 200, offset=4000),
                 proto.invalid, rf"^system shared memory region 'r': offset 4000 \+ byte_size 200 "
                 rf"is past the end of shared memory key '{k}' \(4096 bytes\)$",
                 f"{p} register: range past the object")
    expect_error(lambda: client.register_system_shared_memory("r", k, 0), proto.invalid,
                 r"^system shared memory region 'r': byte_size must be at least 1, got 0$",
                 f"{p} register: zero byte_size")
    expect_error(lambda: client.register_system_shared_memory("in", k, 64), proto.exists,
                 r"^system shared memory region 'in' is already registered$",
                 f"{p} register: a name already registered")

    def infer(inputs, outputs=None):
        return lambda: client.infer("mlp", inputs, outputs=outputs)

    expect_error(infer([shm_input(proto, "x", x, "ghost")]), proto.not_found,
                 r"^input 'x': shared memory region 'ghost' is not registered$",
                 f"{p} infer: unknown input region")
    expect_error(infer([shm_input(proto, "x", x, "in", offset=4000)]), proto.invalid,
                 r"^input 'x': shared_memory_offset 4000 \+ shared_memory_byte_size 120 is past "
                 r"the end of shared memory region 'in' \(4096 bytes\)$",
                 f"{p} infer: input range past the region")
    expect_error(infer([shm_input(proto, "x", x, "in", byte_size=96)]), proto.invalid,
                 r"^input 'x': expected 120 bytes for shape \[5,6\] FP32, got "
                 r"shared_memory_byte_size 96$", f"{p} infer: byte size not the tensor's")
    expect_error(infer([inband_input(proto, "x", x)], [shm_output(proto, mlp_out, "out", 40)]),
                 proto.invalid, rf"^output '{mlp_out}': needs 60 bytes for shape \[5,3\] FP32, but "
                 r"shared_memory_byte_size is 40$", f"{p} infer: output region too small")
    expect_error(infer([inband_input(proto, "x", x)], [shm_output(proto, mlp_out, "ghost", 60)]),
                 proto.not_found, rf"^output '{mlp_out}': shared memory region 'ghost' is not "
                 r"registered$", f"{p} infer: unknown output region")

    client.unregister_system_shared_memory("in")
    client.unregister_system_shared_memory("never_registered")  # Triton: OK, nothing to do
    check([r[0] for r in proto.regions(client)] == ["io", "out"],
          f"{p} unregister one (and an unknown name: no error)")
    expect_error(infer([shm_input(proto, "x", x, "in")]), proto.not_found,
                 r"^input 'x': shared memory region 'in' is not registered$",
                 f"{p} infer: region used after unregister")
    got = client.infer("mlp", [inband_input(proto, "x", x)]).as_numpy(mlp_out)
    check(np.abs(got - want["mlp"]).max() <= 1e-5, f"{p}: the server serves after the errors")
    client.unregister_system_shared_memory()
    check(proto.regions(client) == [], f"{p} unregister all (empty name)")


def test_grpc_stream(url, regions, want):
    client = grpcclient.InferenceServerClient(url)
    client.register_system_shared_memory("in", key(Grpc, "in"), REGION_BYTES)
    client.register_system_shared_memory("out", key(Grpc, "out"), REGION_BYTES)
    (name,) = Grpc.output_names(client, "mlp")
    x = want["x"]
    shm.set_shared_memory_region(regions.handles["in"], [x])
    results = queue.Queue()
    client.start_stream(callback=lambda result, error: results.put((result, error)))
    for i in range(2):  # row pairs 0-1 and 2-3, answers at 0 and 24 in "out"
        client.async_stream_infer(
            "mlp", [shm_input(Grpc, "x", x[2 * i:2 * i + 2], "in", offset=48 * i)],
            outputs=[shm_output(Grpc, name, "out", 24, offset=24 * i)], request_id=str(i))
    client.async_stream_infer("mlp", [shm_input(Grpc, "x", x[:2], "ghost")], request_id="bad")
    client.async_stream_infer("mlp", [shm_input(Grpc, "x", x[:2], "in")],
                              outputs=[shm_output(Grpc, name, "out", 8, offset=100)],
                              request_id="small")
    got = [results.get(timeout=30) for _ in range(4)]
    client.stop_stream()
    errors = sorted(str(e) for _, e in got if e is not None)
    out = shm.get_contents_as_numpy(regions.handles["out"], np.float32, [4, 3])
    check(len(errors) == 2 and np.abs(out - want["mlp"][:4]).max() <= 1e-5
          and "input 'x': shared memory region 'ghost' is not registered" in errors[0]
          and f"output '{name}': needs 24 bytes for shape [2,3] FP32, but "
              "shared_memory_byte_size is 8" in errors[1],
          f"grpc ModelStreamInfer with regions: outputs equal Keras, bad ones err: {errors}")
    client.unregister_system_shared_memory()


def test_grpc_parameters(url):
    """What tritonclient never sends: malformed parameters, contents too."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc
    channel = grpc.insecure_channel(url)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    stub.SystemSharedMemoryRegister(service_pb2.SystemSharedMemoryRegisterRequest(
        name="in", key=key(Grpc, "in"), byte_size=REGION_BYTES))

    def refused(edit, pattern, what, code=grpc.StatusCode.INVALID_ARGUMENT):
        request = service_pb2.ModelInferRequest(model_name="mlp")
        tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 6])
        tensor.parameters["shared_memory_region"].string_param = "in"
        tensor.parameters["shared_memory_byte_size"].int64_param = 24
        edit(request, tensor)
        try:
            stub.ModelInfer(request)
            check(False, f"grpc {what}: no error")
        except grpc.RpcError as e:
            check(e.code() == code and re.search(pattern, e.details()) is not None,
                  f"grpc {what}: {e.code()} {e.details()!r}")

    def drop(parameter):
        return lambda r, t: t.parameters.__delitem__(parameter)

    def set_param(parameter, **value):
        return lambda r, t: t.parameters[parameter].MergeFrom(service_pb2.InferParameter(**value))

    refused(lambda r, t: t.contents.fp32_contents.extend([0.0] * 6),
            r"^input 'x': has both shared memory parameters and contents$", "region and contents")
    refused(lambda r, t: r.raw_input_contents.append(bytes(24)),
            r"^expected one raw_input_contents entry per input not in shared memory \(0 inputs\), "
            r"got 1$", "a raw entry for an input in a region")
    refused(set_param("shared_memory_byte_size", string_param="24"),
            r"^input 'x': parameter 'shared_memory_byte_size' must be a non-negative integer$",
            "byte size as a string")
    refused(set_param("shared_memory_offset", int64_param=-8),
            r"^input 'x': parameter 'shared_memory_offset' must be a non-negative integer$",
            "negative offset")
    refused(drop("shared_memory_byte_size"),
            r"^input 'x': parameter 'shared_memory_region' needs 'shared_memory_byte_size'$",
            "region without byte size")
    refused(drop("shared_memory_region"),
            r"^input 'x': parameter 'shared_memory_byte_size' needs 'shared_memory_region'$",
            "byte size without region")
    stub.SystemSharedMemoryUnregister(service_pb2.SystemSharedMemoryUnregisterRequest())
    channel.close()


def test_grpc_truncated_object(url, want):
    """Reading a region whose object shrank is refused (the server copies with
    pread; touching a mapping there would have been a SIGBUS)."""
    client = grpcclient.InferenceServerClient(url)
    handle = shm.create_shared_memory_region("t", key(Grpc, "t"), REGION_BYTES, create_only=True)
    client.register_system_shared_memory("t", key(Grpc, "t"), REGION_BYTES)
    path = "/dev/shm" + key(Grpc, "t")
    os.truncate(path, 0)
    x = want["x"]
    expect_error(lambda: client.infer("mlp", [shm_input(Grpc, "x", x, "t")]),
                 "StatusCode.FAILED_PRECONDITION",
                 rf"^input 'x': shared memory key '{key(Grpc, 't')}' of region 't' has shrunk to 0 "
                 r"bytes since it was registered \(offset 0 \+ byte_size 4096\); register it again$",
                 "grpc: a region whose object was truncated is refused")
    os.truncate(path, REGION_BYTES)
    client.unregister_system_shared_memory("t")
    shm.destroy_shared_memory_region(handle)
    check(client.is_server_live(), "grpc: the server lives on after the truncated object")


def test_grpc_unregister_in_flight(url, regions, want):
    """Threads infer from region "in" while it is unregistered and registered
    again, over and over: each request reads the mapping it found (kept
    alive until it finishes) or finds no region."""
    admin = grpcclient.InferenceServerClient(url)
    (name,) = Grpc.output_names(admin, "mlp")
    x = want["x"]
    shm.set_shared_memory_region(regions.handles["in"], [x])
    admin.register_system_shared_memory("in", key(Grpc, "in"), REGION_BYTES)
    for t in range(3):  # a separate output slot per thread: 64 bytes each
        admin.register_system_shared_memory(f"out{t}", key(Grpc, "out"), 64, offset=64 * t)
    stop = threading.Event()
    outcomes = []

    def hammer(t):
        client = grpcclient.InferenceServerClient(url)
        while not stop.is_set():
            try:
                client.infer("mlp", [shm_input(Grpc, "x", x, "in")],
                             outputs=[shm_output(Grpc, name, f"out{t}", 60)])
                got = shm.get_contents_as_numpy(regions.handles["out"], np.float32, [5, 3],
                                                offset=64 * t)
                outcomes.append("ok" if np.abs(got - want["mlp"]).max() <= 1e-5 else "wrong")
            except Exception as e:  # noqa: BLE001 - every outcome is recorded
                outcomes.append("not found" if "is not registered" in str(e) else str(e))

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        admin.unregister_system_shared_memory("in")
        admin.register_system_shared_memory("in", key(Grpc, "in"), REGION_BYTES)
    stop.set()
    for thread in threads:
        thread.join()
    kinds = {o: outcomes.count(o) for o in set(outcomes)}
    check(set(kinds) <= {"ok", "not found"} and kinds.get("ok", 0) > 0,
          f"grpc: 200 unregister/register cycles under 3 inferring threads: {kinds}")
    check(admin.is_server_live(), "grpc: the server lives on")
    admin.unregister_system_shared_memory()


def test_http_routes(url):
    """What tritonclient.http never sends: malformed register bodies, wrong
    methods and paths."""
    def call(method, path, body=b""):
        host, port = url.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request(method, path, body=body)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, json.loads(data) if data else None

    k = key(Http, "in")
    base = "/v2/systemsharedmemory"
    for body, error in [
            (b"not json", r"^the register request of region 'r' is not valid JSON"),
            (b"[]", r"^the register request of region 'r' must be a JSON object$"),
            (b'{"byte_size": 8}', r"^the register request of region 'r': 'key' must be a string$"),
            (json.dumps({"key": k}).encode(),
             r"^the register request of region 'r': 'byte_size' must be a non-negative integer$"),
            (json.dumps({"key": k, "byte_size": 8, "offset": -1}).encode(),
             r"^the register request of region 'r': 'offset' must be a non-negative integer$")]:
        status, answer = call("POST", f"{base}/region/r/register", body)
        check(status == 400 and re.search(error, answer["error"]) is not None,
              f"http register body {body[:30]!r}: {status} {answer}")
    status, answer = call("GET", f"{base}/region/r/register")
    check(status == 405, f"http GET .../register: {status} {answer}")
    status, answer = call("POST", f"{base}/register", b"{}")
    check(status == 404 and "/v2/systemsharedmemory/region/NAME/register" in answer["error"],
          f"http register without a region name: {status} {answer}")
    status, answer = call("POST", f"{base}/status")
    check(status == 405, f"http POST .../status: {status} {answer}")
    status, answer = call("POST", f"{base}/region/r/unregister")
    check(status == 200 and answer == {}, f"http unregister answers {{}}: {status} {answer}")


def main():
    fornax = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    features = rng.normal(size=(4, 5)).astype(np.float32)
    mask = rng.random(size=(4, 5)) > 0.3
    with tempfile.TemporaryDirectory() as repo:
        place_test_models(repo)
        with serving(fornax, repo) as (grpc_url, _, http_url):
            names = Grpc.output_names(grpcclient.InferenceServerClient(grpc_url), "two_io")
            want = {"x": x, "features": features, "mask": mask,
                    "mlp": keras_predict("mlp_sgd.keras", x)[0],
                    "two_io": keras_predict("masked_two_io.keras", features, mask,
                                            names=(["features", "mask"], names))}
            for proto, url in ((Grpc, grpc_url), (Http, http_url)):
                regions = Regions(proto)
                try:
                    client = proto.client.InferenceServerClient(url)
                    test_models(proto, client, regions, want)
                    test_status(proto, client)
                    test_errors(proto, client, want)
                    if proto is Http:
                        test_http_routes(url)
                    if proto is Grpc:
                        test_grpc_stream(url, regions, want)
                        test_grpc_parameters(url)
                        test_grpc_truncated_object(url, want)
                        test_grpc_unregister_in_flight(url, regions, want)
                finally:
                    regions.close()
    finish("shared memory")


if __name__ == "__main__":
    main()
