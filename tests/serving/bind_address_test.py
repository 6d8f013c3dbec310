"""`fornax serve --address` with the real tritonclient, reached through a
non-loopback address of this machine (the first IPv4 one `hostname -I`
lists):
  - by default it listens on 127.0.0.1 only: the "listening" line says so
    and the non-loopback address is refused for gRPC, HTTP and metrics;
  - with --address 0.0.0.0 the line prints 0.0.0.0 and gRPC (infer), HTTP
    and /metrics answer through the non-loopback address; shared-memory
    registration from it is refused (gRPC PERMISSION_DENIED, HTTP 403)
    while from 127.0.0.1 it works;
  - with --address set to the non-loopback address, 127.0.0.1 is refused;
  - a bad --address exits 2 naming the flag, and an address not of this
    machine exits non-zero saying it cannot listen, both before serving.
Without a non-loopback IPv4 address (a machine with loopback only, or no
`hostname` program) the checks that need one are reported as skipped and
the others run; so is the address not of this machine where
net.ipv4.ip_nonlocal_bind lets a server listen on any address.
Usage: bind_address_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import ipaddress
import subprocess
import sys
import tempfile
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm

from serving_harness import check, expect_error, finish, place, serving


def non_loopback_ipv4():
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    except OSError:  # no hostname program: as if no address
        out = []
    for word in out:
        try:
            address = ipaddress.ip_address(word)
        except ValueError:
            continue
        if address.version == 4 and not address.is_loopback:
            return word
    return None


def nonlocal_bind():
    """Whether this machine lets a socket bind an address it does not have."""
    try:
        with open("/proc/sys/net/ipv4/ip_nonlocal_bind") as f:
            return f.read().strip() != "0"
    except OSError:
        return False


def host_port(address):
    host, port = address.rsplit(":", 1)
    return host, port


def answers(url):
    """Whether a gRPC server answers at `url`."""
    try:
        return grpcclient.InferenceServerClient(url).is_server_live(client_timeout=5)
    except Exception:  # connection refused: tritonclient raises its own or grpc's
        return False


def http_answers(url):
    try:
        return httpclient.InferenceServerClient(url, connection_timeout=5).is_server_live()
    except Exception:
        return False


def metrics_answer(url):
    try:
        with urllib.request.urlopen(f"http://{url}/metrics", timeout=5) as reply:
            return reply.status == 200 and b"nv_inference" in reply.read()
    except OSError:
        return False


def infer_shape(client):
    x = grpcclient.InferInput("x", [2, 6], "FP32")
    x.set_data_from_numpy(np.ones((2, 6), np.float32))
    return [list(o.shape) for o in client.infer("mlp", [x]).get_response().outputs]


def test_default_is_loopback(fornax, repo, outside):
    with serving(fornax, repo) as (url, metrics_url, http_url):
        hosts = {host_port(u)[0] for u in (url, metrics_url, http_url)}
        check(hosts == {"127.0.0.1"}, f"default: listening on 127.0.0.1 only: {url} {http_url}")
        if outside is None:
            print("skip default: refused through a non-loopback address: this machine has none")
            return
        port, metrics_port, http_port = (host_port(u)[1] for u in (url, metrics_url, http_url))
        check(not answers(f"{outside}:{port}"), f"default: gRPC refused at {outside}")
        check(not http_answers(f"{outside}:{http_port}"), f"default: HTTP refused at {outside}")
        check(not metrics_answer(f"{outside}:{metrics_port}"),
              f"default: metrics refused at {outside}")


def test_every_interface(fornax, repo, outside):
    with serving(fornax, repo, "--address", "0.0.0.0") as (url, metrics_url, http_url):
        hosts = {host_port(u)[0] for u in (url, metrics_url, http_url)}
        check(hosts == {"0.0.0.0"}, f"0.0.0.0: the listening line names it: {url} {http_url}")
        port, metrics_port, http_port = (host_port(u)[1] for u in (url, metrics_url, http_url))
        local = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        check(infer_shape(local) == [[2, 3]], "0.0.0.0: infer through 127.0.0.1")
        if outside is None:
            print("skip 0.0.0.0 through a non-loopback address: this machine has none")
            return
        remote = grpcclient.InferenceServerClient(f"{outside}:{port}")
        check(infer_shape(remote) == [[2, 3]], f"0.0.0.0: gRPC infer through {outside}")
        remote_http = httpclient.InferenceServerClient(f"{outside}:{http_port}")
        check(remote_http.is_model_ready("mlp"), f"0.0.0.0: HTTP through {outside}")
        check(metrics_answer(f"{outside}:{metrics_port}"), f"0.0.0.0: metrics through {outside}")

        key = f"/fornax_bind_address_{port}"
        region = shm.create_shared_memory_region("r", key, 64)
        try:
            expect_error(lambda: remote.register_system_shared_memory("r", key, 64),
                         "StatusCode.PERMISSION_DENIED", rf"loopback.*ipv4:{outside}:",
                         f"0.0.0.0: gRPC shared-memory registration from {outside}")
            expect_error(lambda: remote_http.register_system_shared_memory("r", key, 64),
                         "403", rf"loopback.*{outside}",
                         f"0.0.0.0: HTTP shared-memory registration from {outside}")
            check(remote.get_system_shared_memory_status(as_json=True).get("regions", {}) == {},
                  "0.0.0.0: the refused registrations registered nothing")
            local.register_system_shared_memory("r", key, 64)
            check("r" in local.get_system_shared_memory_status(as_json=True).get("regions", {}),
                  "0.0.0.0: registration through 127.0.0.1 works")
            local.unregister_system_shared_memory("r")
        finally:
            shm.destroy_shared_memory_region(region)


def test_one_address(fornax, repo, outside):
    if outside is None:
        print("skip --address NON-LOOPBACK: this machine has no such address")
        return
    with serving(fornax, repo, "--address", outside) as (url, _, http_url):
        port = host_port(url)[1]
        check(host_port(url)[0] == outside and host_port(http_url)[0] == outside,
              f"{outside}: the listening line names it: {url} {http_url}")
        check(answers(url), f"{outside}: gRPC answers there")
        check(not answers(f"127.0.0.1:{port}"), f"{outside}: 127.0.0.1 is refused")


def test_bad_addresses(fornax, repo):
    expected = ("fornax: error: serve: --address: expected an IPv4 address (127.0.0.1: this "
                "machine only; 0.0.0.0: every interface), got ")
    for address, code, message in (
            ("localhost", 2, expected + "'localhost'"),
            ("::", 2, expected + "'::' (IPv6 is not supported: the HTTP and metrics servers "
             "lack it)"),
            # TEST-NET-3: not an address of this machine.
            ("203.0.113.9", 1,
             "fornax: internal error: serve: metrics: cannot listen on 203.0.113.9:0")):
        if address == "203.0.113.9" and nonlocal_bind():
            print(f"skip --address {address}: net.ipv4.ip_nonlocal_bind lets it listen there")
            continue
        proc = subprocess.run([fornax, "serve", "--model-repository", repo, "--port", "0",
                               "--metrics-port", "0", "--http-port", "0", "--address", address],
                              capture_output=True, text=True, timeout=60)
        check(proc.returncode == code and proc.stdout == ""
              and proc.stderr.strip().startswith(message),
              f"--address {address}: exit {code} before serving: {proc.returncode} "
              f"{proc.stderr.strip()!r}")


def main():
    fornax = sys.argv[1]
    outside = non_loopback_ipv4()
    print(f"non-loopback address: {outside}")
    with tempfile.TemporaryDirectory() as repo:
        place(repo, "mlp", 1, "mlp_sgd.keras")
        test_default_is_loopback(fornax, repo, outside)
        test_every_interface(fornax, repo, outside)
        test_one_address(fornax, repo, outside)
        test_bad_addresses(fornax, repo)
    finish("bind address")


if __name__ == "__main__":
    main()
