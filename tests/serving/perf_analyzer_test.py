"""`fornax serve` as a Triton target for NVIDIA's perf_analyzer (the real binary).

perf_analyzer reads the model's ModelMetadata and ModelConfig: with
max_batch_size > 0 it takes the first dimension as the batch, which -b sets
(with 0 it refuses -b > 1); it sends ModelInfer (ModelStreamInfer with
--streaming) over gRPC and reads ModelStatistics around each measurement
window, insisting that compute_input/infer/output counts agree. Checks:
  - mlp (max_batch_size 8, dynamic batching on): -b 4 at concurrency 1 and 4
    exits 0 with a non-zero throughput at both levels, and the server-side
    counts it reports are 4 inferences per request;
  - perf_analyzer printed the ModelConfig it read (max_batch_size 8), and
    relays the server's refusal of -b 9;
  - --streaming works the same;
  - mlp_nobatch (dynamic batching off): every request is its own engine
    call (execution count == request count);
  - -i http (the HTTP/REST endpoint, JSON metadata and binary tensor data):
    the mlp run as above, and the refusal of -b 9;
  - --shared-memory=system over gRPC and HTTP: inputs and outputs in the
    regions perf_analyzer registers; it exits 0 and leaves none registered.
Server-side counts are snapshots taken while requests are in flight, so they
may be off by up to the concurrency.
Usage: perf_analyzer_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR; the
perf_analyzer binary is $FORNAX_PERF_ANALYZER, else the source tree's
.venv/perf_analyzer/bin/perf_analyzer that scripts/install-deps.sh installs).
"""
import os
import re
import subprocess
import sys
import tempfile

import tritonclient.grpc as grpcclient

from serving_harness import check, finish, place, serving

SOURCE = os.environ["FORNAX_SOURCE_DIR"]
PERF_ANALYZER = os.environ.get(
    "FORNAX_PERF_ANALYZER", os.path.join(SOURCE, ".venv/perf_analyzer/bin/perf_analyzer"))


def perf_analyzer(url, model, *args, protocol="grpc"):
    """Runs perf_analyzer; returns (exit code, stdout + stderr)."""
    # The binary links libcudart.so.12 from the PyPI package installed beside it.
    lib = os.path.join(os.path.dirname(os.path.dirname(PERF_ANALYZER)), "nvidia/cuda_runtime/lib")
    env = dict(os.environ, LD_LIBRARY_PATH=lib)
    # Short windows, and -s 1000: 3 windows within 11x of each other count as
    # stable (the machine is shared; performance is measured in bench/).
    cmd = [PERF_ANALYZER, "-i", protocol, "-u", url, "-m", model, "-p", "300", "-s", "1000",
           *args]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    print(f"$ {' '.join(cmd[1:])}\n{done.stdout}", flush=True)
    return done.returncode, done.stdout


def levels(output):
    """{concurrency: {field: number}} from perf_analyzer's per-level report."""
    result = {}
    for block in re.split(r"^Request concurrency: ", output, flags=re.M)[1:]:
        concurrency = int(block.split("\n", 1)[0])
        fields = {}
        for name, pattern in [("throughput", r"Throughput: ([\d.]+) infer/sec"),
                              ("inferences", r"Inference count: (\d+)"),
                              ("executions", r"Execution count: (\d+)"),
                              ("requests", r"Successful request count: (\d+)")]:
            match = re.search(pattern, block)
            if match:
                fields[name] = float(match.group(1))
        result[concurrency] = fields
    return result


def check_counts(fields, concurrency, batch, batching, what):
    """Server-side counts: `batch` rows per request; with batching off, one
    engine call per request; with it on, at most that."""
    requests = fields.get("requests", 0)
    executions = fields.get("executions", 0)
    ok = (fields.get("throughput", 0) > 0 and requests > 0
          and abs(fields.get("inferences", 0) - batch * requests) <= batch * concurrency
          and 0 < executions <= requests + concurrency
          and (batching or executions >= requests - concurrency))
    check(ok, f"{what}: {fields}")


def test_batching_model(url):
    code, output = perf_analyzer(url, "mlp", "-b", "4", "--concurrency-range", "1:4:3")
    check(code == 0, f"mlp -b 4, concurrency 1 and 4: exit code {code}")
    report = levels(output)
    check(sorted(report) == [1, 4], f"a report per concurrency level: {sorted(report)}")
    for concurrency, fields in sorted(report.items()):
        check_counts(fields, concurrency, 4, True, f"mlp concurrency {concurrency}")


def test_config_read(url):
    # -v -v prints the ModelMetadata and ModelConfig responses perf_analyzer parsed.
    code, output = perf_analyzer(url, "mlp", "-b", "9", "-v", "-v")
    check(re.search(r"^config \{.*^\s*max_batch_size: 8$", output, flags=re.M | re.S) is not None,
          "perf_analyzer read ModelConfig: max_batch_size 8")
    check(code != 0 and "input 'x': batch size (shape[0]) must be in 1..8 (the model's "
          "max_batch_size), got 9" in output, f"-b 9: refused, exit code {code}")


def test_streaming(url):
    code, output = perf_analyzer(url, "mlp", "-b", "2", "--streaming", "--concurrency-range", "2")
    check(code == 0, f"mlp --streaming -b 2, concurrency 2: exit code {code}")
    check_counts(levels(output).get(2, {}), 2, 2, True, "mlp streaming")


def test_no_batching_model(url):
    code, output = perf_analyzer(url, "mlp_nobatch", "-b", "4", "--concurrency-range", "2")
    check(code == 0, f"mlp_nobatch -b 4, concurrency 2: exit code {code}")
    check_counts(levels(output).get(2, {}), 2, 4, False,
                 "dynamic batching off: one engine call per request")


def test_http(http_url):
    # -i http: the same ModelMetadata/ModelConfig/ModelStatistics as JSON
    # from the HTTP endpoint, inference with binary tensor data.
    code, output = perf_analyzer(http_url, "mlp", "-b", "4", "--concurrency-range", "1:4:3",
                                 protocol="http")
    check(code == 0, f"-i http: mlp -b 4, concurrency 1 and 4: exit code {code}")
    report = levels(output)
    check(sorted(report) == [1, 4], f"-i http: a report per concurrency level: {sorted(report)}")
    for concurrency, fields in sorted(report.items()):
        check_counts(fields, concurrency, 4, True, f"-i http: mlp concurrency {concurrency}")
    code, output = perf_analyzer(http_url, "mlp", "-b", "9", protocol="http")
    check(code != 0 and "input 'x': batch size (shape[0]) must be in 1..8" in output,
          f"-i http: -b 9 refused with the server's message, exit code {code}")


def test_shared_memory(url, http_url):
    # --shared-memory=system: inputs and outputs in POSIX shared memory
    # regions that perf_analyzer registers, and unregisters (all) at exit.
    import tritonclient.grpc as grpcclient
    for protocol, address in (("grpc", url), ("http", http_url)):
        code, output = perf_analyzer(address, "mlp", "-b", "4", "--shared-memory=system",
                                     "--concurrency-range", "2", protocol=protocol)
        check(code == 0, f"-i {protocol} --shared-memory=system: mlp -b 4: exit code {code}")
        check_counts(levels(output).get(2, {}), 2, 4, True,
                     f"-i {protocol} --shared-memory=system: mlp concurrency 2")
        status = grpcclient.InferenceServerClient(url).get_system_shared_memory_status()
        check(len(status.regions) == 0,
              f"-i {protocol}: perf_analyzer unregistered its regions: {list(status.regions)}")


def main():
    fornax = sys.argv[1]
    if not os.access(PERF_ANALYZER, os.X_OK):
        raise SystemExit(f"no perf_analyzer at {PERF_ANALYZER} "
                         "(scripts/install-deps.sh installs it)")
    with tempfile.TemporaryDirectory() as repo:
        place(repo, "mlp", 1, "mlp_sgd.keras",
              '{"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 200}}')
        place(repo, "mlp_nobatch", 1, "mlp_sgd.keras",
              '{"max_batch_size": 8, "dynamic_batching": false}')
        with serving(fornax, repo) as (url, _, http_url):
            test_batching_model(url)
            test_config_read(url)
            test_streaming(url)
            test_no_batching_model(url)
            test_http(http_url)
            test_shared_memory(url, http_url)
    finish("perf_analyzer")


if __name__ == "__main__":
    main()
