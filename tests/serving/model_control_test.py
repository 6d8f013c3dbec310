"""`fornax serve --model-control-mode` (Triton's none | poll | explicit and
--load-model) with the real tritonclient, over gRPC and HTTP:
  - none: every model loads at the start (the broken one UNAVAILABLE);
    load_model/unload_model fail as in Triton (gRPC UNAVAILABLE, HTTP 503,
    "explicit model load / unload is not allowed if polling is enabled")
    and change nothing; a model placed later is not loaded, and the index
    lists it by name only;
  - poll (the default): a model placed later loads; load/unload work (a
    Fornax addition: Triton refuses them in poll) and an unload holds;
  - explicit: only the --load-model models load; the others are in the index
    by name only; load_model loads one (and serves it), load_model again
    picks up a new version (no polling meanwhile), unload_model unloads;
    load_model of an unknown model is NOT_FOUND; --load-model '*' loads all;
  - startup errors exit 2 before serving, naming the flag: an unknown
    --load-model, a bad --model-control-mode, --load-model outside explicit.
Usage: model_control_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import subprocess
import sys
import tempfile
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from serving_harness import check, expect_error, finish, place, place_test_models, serving

REFUSED = r"^explicit model load / unload is not allowed if polling is enabled"
# Longer than the default poll interval (1 s) and a load: in poll mode a
# placed model loads in about 1 s (printed below; not asserted, so that a
# loaded machine cannot fail it), so in the other modes its absence after
# this wait means no rescan happened.
NO_POLL_WAIT = 2.5


def ready(client, *models):
    return {m for m in models if client.is_model_ready(m)}


def index(client):
    """RepositoryIndex over gRPC as {name: [(version, state)]}."""
    rows = {}
    for m in client.get_model_repository_index().models:
        rows.setdefault(m.name, []).append((m.version, m.state))
    return rows


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def infer_shape(client, model):
    """The output shapes of one inference on the MLP-shaped `model`."""
    x = grpcclient.InferInput("x", [2, 6], "FP32")
    x.set_data_from_numpy(np.ones((2, 6), np.float32))
    result = client.infer(model, [x]).get_response()
    return [list(o.shape) for o in result.outputs]


def test_none(fornax, repo):
    with serving(fornax, repo, "--model-control-mode=none") as (url, _, http_url):
        client = grpcclient.InferenceServerClient(url)
        http = httpclient.InferenceServerClient(http_url)
        models = ("mlp", "cnn", "two_io", "embedding", "broken")
        check(ready(client, *models) == {"mlp", "cnn", "two_io", "embedding"},
              f"none: every model loaded at the start, broken not: {ready(client, *models)}")
        for what, call in (("unload", lambda: client.unload_model("mlp")),
                           ("load", lambda: client.load_model("broken"))):
            expect_error(call, "StatusCode.UNAVAILABLE", REFUSED, f"none: gRPC {what}_model")
        for what, call in (("unload", lambda: http.unload_model("mlp")),
                           ("load", lambda: http.load_model("mlp"))):
            expect_error(call, "503", REFUSED, f"none: HTTP {what}_model")
        check(client.is_model_ready("mlp"), "none: the refused unload changed nothing")
        place(repo, "late", 1, "mlp_sgd.keras")
        time.sleep(NO_POLL_WAIT)
        check(not client.is_model_ready("late"), "none: a model placed later is not loaded")
        check(index(client).get("late") == [("", "")],
              f"none: the index lists it by name only: {index(client).get('late')}")


def test_poll(fornax, repo):
    with serving(fornax, repo, "--model-control-mode", "poll") as (url, _, http_url):
        client = grpcclient.InferenceServerClient(url)
        check(ready(client, "mlp", "late") == {"mlp", "late"}, "poll: every model loaded")
        place(repo, "later", 1, "mlp_sgd.keras")
        start = time.monotonic()
        loaded = wait_until(lambda: client.is_model_ready("later"))
        check(loaded, f"poll: a model placed later loads, here in {time.monotonic() - start:.1f} s "
              f"(the other modes wait {NO_POLL_WAIT} s for none)")
        client.unload_model("later")
        time.sleep(1.5)  # a poll or more
        check(not client.is_model_ready("later"), "poll: unload_model holds across polls")
        httpclient.InferenceServerClient(http_url).load_model("later")
        check(client.is_model_ready("later"), "poll: HTTP load_model loads it again")


def test_explicit(fornax, repo):
    with serving(fornax, repo, "--model-control-mode=explicit", "--load-model", "mlp",
                 "--load-model=broken") as (url, _, http_url):
        client = grpcclient.InferenceServerClient(url)
        http = httpclient.InferenceServerClient(http_url)
        models = ("mlp", "cnn", "late", "broken")
        check(ready(client, *models) == {"mlp"},
              f"explicit: only mlp serves: {ready(client, *models)}")
        rows = index(client)
        check(rows.get("cnn") == [("", "")] and rows.get("late") == [("", "")],
              f"explicit: models not loaded are listed by name only: {rows}")
        check(rows.get("broken", [("", "")])[0][1] == "UNAVAILABLE",
              f"explicit: --load-model broken is tried and reported: {rows.get('broken')}")
        expect_error(lambda: client.get_model_metadata("late"), "StatusCode.NOT_FOUND",
                     r"^model 'late' is not loaded$",
                     "explicit: a model not loaded is not served")
        client.load_model("late")
        check(client.is_model_ready("late") and infer_shape(client, "late") == [[2, 3]],
              "explicit: load_model loads and serves it")
        place(repo, "late", 2, "mlp_adam.keras")
        time.sleep(NO_POLL_WAIT)
        check(client.get_model_metadata("late").versions == ["1"],
              "explicit: a new version is not picked up without a load (no polling)")
        http.load_model("late")
        check(client.get_model_metadata("late").versions == ["2"],
              "explicit: load_model again (HTTP) serves the new version")
        client.unload_model("mlp")
        check(not client.is_model_ready("mlp"), "explicit: unload_model unloads")
        http.unload_model("cnn")  # present, never loaded: a success, as in Triton
        check(not client.is_model_ready("cnn"), "explicit: unloading a model never loaded is OK")
        expect_error(lambda: client.load_model("ghost"), "StatusCode.NOT_FOUND", r"'ghost'",
                     "explicit: load_model of an unknown model")
    with serving(fornax, repo, "--model-control-mode=EXPLICIT", "--load-model=*") as (url, _, _):
        client = grpcclient.InferenceServerClient(url)
        check(ready(client, "mlp", "cnn", "late", "later") == {"mlp", "cnn", "late", "later"},
              "explicit: --load-model '*' loads every model")


def test_startup_errors(fornax, repo):
    for flags, message in (
            (["--model-control-mode=explicit", "--load-model", "ghost"],
             "serve: --load-model ghost: model 'ghost' is not in the repository " + repo),
            (["--model-control-mode", "manual"],
             "serve: --model-control-mode: expected none, poll or explicit, got 'manual'"),
            (["--load-model", "mlp"],
             "serve: --load-model needs --model-control-mode=explicit (in none and poll modes "
             "every model loads at the start)")):
        proc = subprocess.run([fornax, "serve", "--model-repository", repo, "--port", "0",
                               "--metrics-port", "0", "--http-port", "0", *flags],
                              capture_output=True, text=True, timeout=60)
        check(proc.returncode == 2 and proc.stdout == ""
              and proc.stderr.strip() == "fornax: error: " + message,
              f"{' '.join(flags)}: exit 2 before serving: {proc.returncode} "
              f"{proc.stderr.strip()!r}")


def main():
    fornax = sys.argv[1]
    with tempfile.TemporaryDirectory() as repo:
        place_test_models(repo)
        test_none(fornax, repo)
        test_poll(fornax, repo)
        test_explicit(fornax, repo)
        test_startup_errors(fornax, repo)
    finish("model control")


if __name__ == "__main__":
    main()
