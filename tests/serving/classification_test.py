"""`fornax serve`'s classification outputs (Triton's classification extension)
with the real tritonclient.grpc and tritonclient.http.

An output requested with InferRequestedOutput(name, class_count=k) comes
back as a BYTES tensor [batch, min(k, classes)] of "value:index" strings,
highest value first. Over gRPC, HTTP with binary data (tritonclient.http's
default) and HTTP with JSON data:
  - the MLP (3 logits), the CNN (3 softmax probabilities) and the two-output
    model (one output classified, the other raw in the same reply): the
    indices equal numpy's argsort of Keras's predictions, the values are
    Keras's within 1e-5, and each string is exactly Triton's "%f:%d" of the
    server's own raw output; k over the class count returns every class;
  - the server metadata lists the "classification" extension;
  - errors, each INVALID_ARGUMENT / 400 naming the output and what is
    wrong: k = 0 or negative, k not an integer (HTTP), classification with
    shared memory; the server serves normally after them.
Labels (config.pbtxt's label_filename; the MLP's 3 classes), over the same
three: strings "value:index:label" with the index numpy's argsort of
Keras's predictions; a class whose line is empty or past the file's end
gets no label, as in Triton; ModelConfig shows the label_filename (gRPC and
HTTP); a model whose labels file is missing is UNAVAILABLE in
RepositoryIndex naming the output and the file's path while the others
serve, and serves once the file appears; a changed labels file is served
after the next repository poll.
Usage: classification_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import http.client
import json
import os
import sys
import tempfile
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from serving_harness import (check, expect_error, finish, keras_predict, place, place_test_models,
                             serving)

DTYPES = {"float32": "FP32", "bool": "BOOL"}


class Protocol:
    def __init__(self, name, module, url, invalid, **output_flags):
        self.name, self.module, self.invalid = name, module, invalid
        self.client = module.InferenceServerClient(url)
        self.output_flags = output_flags  # HTTP: binary_data

    def infer(self, model, arrays, outputs):
        """outputs: [(name, class_count)]."""
        inputs = []
        for name, array in arrays:
            tensor = self.module.InferInput(name, list(array.shape), DTYPES[str(array.dtype)])
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        requested = [self.module.InferRequestedOutput(n, class_count=k, **self.output_flags)
                     for n, k in outputs]
        return self.client.infer(model, inputs, outputs=requested)

    def datatype(self, result, name):
        output = result.get_output(name)
        return output["datatype"] if isinstance(output, dict) else output.datatype


def strings(array):
    return [[x.decode() if isinstance(x, bytes) else x for x in row] for row in array]


def triton_strings(values, k):
    """Triton's "<value>:<index>" (std::to_string: "%f") for the top k of each row."""
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return [[f"{float(row[i]):f}:{i}" for i in top] for row, top in zip(values, order)]


def check_classes(proto, model, arrays, name, want, k, what):
    """`name` classified with class_count=k against the server's raw output
    (exact strings) and Keras's prediction `want` (indices, values)."""
    server = proto.infer(model, arrays, [(name, 0)]).as_numpy(name).reshape(len(want), -1)
    result = proto.infer(model, arrays, [(name, k)])
    got = strings(result.as_numpy(name))
    shown = min(k, want.shape[1])
    indices = [[int(s.split(":")[1]) for s in row] for row in got]
    values = np.array([[float(s.split(":")[0]) for s in row] for row in got])
    keras_order = np.argsort(-want, axis=1, kind="stable")[:, :shown]
    check(proto.datatype(result, name) == "BYTES"
          and np.array(result.as_numpy(name)).shape == (len(want), shown)
          and got == triton_strings(server, k)
          and indices == keras_order.tolist()
          and np.abs(values - np.take_along_axis(want, keras_order, axis=1)).max() <= 1e-5,
          f"{proto.name}: {what} class_count={k}: {got[0]} (keras top {keras_order[0].tolist()})")


def test_classes(proto, want, x, images, features, mask, two_io_names):
    for k in (1, 2, 3, 10):
        check_classes(proto, "mlp", [("x", x)], "dense_2", want["mlp"], k, "mlp")
    image_name = proto.client.get_model_metadata("cnn")
    image_name = (image_name["outputs"][0]["name"] if isinstance(image_name, dict)
                  else image_name.outputs[0].name)
    check_classes(proto, "cnn", [("image", images)], image_name, want["cnn"], 2, "cnn")
    # One output classified, the other raw, in one reply.
    # "reg" has 2 values per row, "cls" 1.
    reg, cls = (0, 1) if want["two_io"][0].shape[1] == 2 else (1, 0)
    want_reg, want_cls = want["two_io"][reg], want["two_io"][cls]
    reg, cls = two_io_names[reg], two_io_names[cls]
    arrays = [("features", features), ("mask", mask)]
    check_classes(proto, "two_io", arrays, reg, want_reg, 2, "two_io")
    server_reg = proto.infer("two_io", arrays, [(reg, 0)]).as_numpy(reg)
    result = proto.infer("two_io", arrays, [(reg, 2), (cls, 0)])
    check(strings(result.as_numpy(reg)) == triton_strings(server_reg, 2)
          and proto.datatype(result, cls) == "FP32"
          and np.abs(result.as_numpy(cls) - want_cls).max() <= 1e-5,
          f"{proto.name}: two_io {reg} classified and {cls} raw in one reply")


def test_errors(proto, x):
    for k in (-1, -5):
        expect_error(lambda: proto.infer("mlp", [("x", x)], [("dense_2", k)]), proto.invalid,
                     r"^output 'dense_2': parameter 'classification' must be a positive integer "
                     rf"\(how many classes to return\), got {k}$",
                     f"{proto.name}: class_count={k}")
    if proto.module is grpcclient:
        # tritonclient sends no parameter for class_count=0 (the tensor): set it by hand.
        inp = grpcclient.InferInput("x", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        out = grpcclient.InferRequestedOutput("dense_2")
        out._output.parameters["classification"].int64_param = 0
        expect_error(lambda: proto.client.infer("mlp", [inp], outputs=[out]), proto.invalid,
                     r"parameter 'classification' must be a positive integer .*got 0$",
                     "grpc: classification 0")
    inp = proto.module.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    # tritonclient refuses to send this itself: the parameter is set by hand.
    out = proto.module.InferRequestedOutput("dense_2", **proto.output_flags)
    out.set_shared_memory("nowhere", 64)
    if proto.module is grpcclient:
        out._output.parameters["classification"].int64_param = 2
    else:
        out._parameters["classification"] = 2
    expect_error(lambda: proto.client.infer("mlp", [inp], outputs=[out]), proto.invalid,
                 r"^output 'dense_2': the 'classification' and shared memory parameters cannot "
                 r"be combined \(classes are answered in the reply\)$",
                 f"{proto.name}: classification with shared memory")


def test_http_raw(url, x):
    """Parameters tritonclient.http never sends, in a hand-written body."""
    host, port = url.split(":")
    for value, shown in (("2", "'2'"), (2.5, "2.500000"), (True, "true")):
        body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                                       "data": x.flatten().tolist()}],
                           "outputs": [{"name": "dense_2",
                                        "parameters": {"classification": value}}]})
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("POST", "/v2/models/mlp/infer", body=body)
        response = conn.getresponse()
        reply = json.loads(response.read())
        conn.close()
        check(response.status == 400 and reply.get("error") ==
              "output 'dense_2': parameter 'classification' must be a positive integer (how many "
              f"classes to return), got {shown}",
              f"http classification {value!r}: {response.status} {reply}")


LABELS = {"labelled": "setosa\nversi:color\nvirginica\n",
          # Class 1's line is empty, class 2 is past the end: no label.
          "partly_labelled": "setosa\n\n"}


def place_labelled(repo, model, labels_text):
    """The MLP with a config.pbtxt naming labels.txt for dense_2, and that
    file holding `labels_text` (None: no file)."""
    place(repo, model, 1, "mlp_sgd.keras")
    with open(os.path.join(repo, model, "config.pbtxt"), "w") as f:
        f.write('max_batch_size: 8\noutput [ { name: "dense_2", data_type: TYPE_FP32, '
                'dims: [ 3 ], label_filename: "labels.txt" } ]\n')
    if labels_text is not None:
        write_labels(repo, model, labels_text)


def write_labels(repo, model, text):
    # Renamed into place, so a poll never reads half of it.
    path = os.path.join(repo, model, "labels.txt")
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)


def labelled_strings(values, k, labels_text):
    """triton_strings with Triton's ":<label>" for the classes that have one."""
    labels = labels_text.split("\n")
    return [[s + (f":{labels[int(s.split(':')[1])]}"
                  if int(s.split(":")[1]) < len(labels) and labels[int(s.split(":")[1])] else "")
             for s in row] for row in triton_strings(values, k)]


def test_labels(proto, want, x, model, labels_text):
    server = proto.infer(model, [("x", x)], [("dense_2", 0)]).as_numpy("dense_2")
    got = strings(proto.infer(model, [("x", x)], [("dense_2", 3)]).as_numpy("dense_2"))
    keras_order = np.argsort(-want, axis=1, kind="stable").tolist()
    check(got == labelled_strings(server, 3, labels_text)
          and [[int(s.split(":")[1]) for s in row] for row in got] == keras_order,
          f"{proto.name}: {model} class_count=3: {got[0]} (keras top {keras_order[0]})")


def test_label_config(grpc, http_client):
    grpc_output = grpc.get_model_config("labelled").config.output[0]
    http_output = http_client.get_model_config("labelled")["output"][0]
    check(grpc_output.label_filename == "labels.txt"
          and http_output.get("label_filename") == "labels.txt"
          and grpc.get_model_config("mlp").config.output[0].label_filename == "",
          f"ModelConfig shows label_filename: grpc {grpc_output.label_filename!r}, "
          f"http {http_output.get('label_filename')!r}")


def test_missing_labels(grpc, repo):
    path = os.path.join(repo, "labels_missing", "labels.txt")
    rows = {m.name: (m.state, m.reason) for m in grpc.get_model_repository_index().models}
    state, reason = rows.get("labels_missing", ("missing", ""))
    check(state == "UNAVAILABLE" and reason.endswith(
              f"config.pbtxt: output 'dense_2'.label_filename: {path}: no such file"),
          f"labels_missing: {state} {reason!r}")
    check(rows.get("labelled", ("",))[0] == "READY", "the other models serve")


def wait_for(condition, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            check(False, f"{what}: not within {timeout} s")
            return False
        time.sleep(0.1)
    return True


def test_labels_follow_the_files(protocols, want, x, repo):
    """Labels files written while serving are picked up by the poll."""
    grpc = protocols[0]
    changed = "Iris setosa\nIris versicolor\nIris virginica\n"
    write_labels(repo, "labelled", changed)
    write_labels(repo, "labels_missing", changed)

    def shows(model):
        try:
            got = strings(grpc.infer(model, [("x", x)], [("dense_2", 1)]).as_numpy("dense_2"))
        except Exception:  # not ready yet
            return False
        return got[0][0].split(":")[2].startswith("Iris ")

    if wait_for(lambda: shows("labelled") and shows("labels_missing"),
                "new labels after a poll"):
        for proto in protocols:
            test_labels(proto, want, x, "labelled", changed)
            test_labels(proto, want, x, "labels_missing", changed)


def main():
    fornax = sys.argv[1]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    images = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
    features = rng.normal(size=(4, 5)).astype(np.float32)
    mask = rng.random(size=(4, 5)) > 0.3
    with tempfile.TemporaryDirectory() as repo:
        place_test_models(repo)
        for model, labels_text in LABELS.items():
            place_labelled(repo, model, labels_text)
        place_labelled(repo, "labels_missing", None)
        with serving(fornax, repo, "--poll-interval-ms", "200") as (grpc_url, _, http_url):
            grpc = grpcclient.InferenceServerClient(grpc_url)
            names = [o.name for o in grpc.get_model_metadata("two_io").outputs]
            check("classification" in grpc.get_server_metadata().extensions,
                  "server metadata lists the classification extension")
            want = {"mlp": keras_predict("mlp_sgd.keras", x)[0],
                    "cnn": keras_predict("cnn_bn.keras", images)[0],
                    "two_io": keras_predict("masked_two_io.keras", features, mask,
                                            names=(["features", "mask"], names))}
            protocols = [Protocol("grpc", grpcclient, grpc_url, "StatusCode.INVALID_ARGUMENT"),
                         Protocol("http", httpclient, http_url, "400", binary_data=True),
                         Protocol("http json", httpclient, http_url, "400", binary_data=False)]
            for proto in protocols:
                test_classes(proto, want, x, images, features, mask, names)
                test_errors(proto, x)
                for model, labels_text in LABELS.items():
                    test_labels(proto, want["mlp"], x, model, labels_text)
            test_http_raw(http_url, x)
            test_label_config(grpc, protocols[1].client)
            test_missing_labels(grpc, repo)
            test_labels_follow_the_files(protocols, want["mlp"], x, repo)
            got = protocols[0].infer("mlp", [("x", x)], [("dense_2", 0)]).as_numpy("dense_2")
            check(np.abs(got - want["mlp"]).max() <= 1e-5, "the server serves after the errors")
    finish("classification")


if __name__ == "__main__":
    main()
