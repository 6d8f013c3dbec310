"""Time from SIGTERM to exit of idle fornax-coordinator, fornax-worker and
`fornax serve` (not a test; docs/serving.md, "Stopping").

Each round starts a coordinator, a worker registered with it and a serve of
an empty model repository, all on free loopback ports, leaves each idle for
a random 0.5-2.5 s (civetweb's stop used to depend on where its 2 s poll
stood: 0-2 s per server, whatever the load), then sends it SIGTERM and
times its exit (worker first, then coordinator, then serve). Prints each
process's times in ms.
usage: python3 bench/exit_time_bench.py BUILD_DIR [ROUNDS]
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time


def start(argv, log):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    if not line.startswith("listening"):
        sys.exit(f"{argv[0]} did not start: {line!r}")
    return process, dict(f.split("=", 1) for f in line.split()[1:])


def stop_ms(process):
    time.sleep(random.uniform(0.5, 2.5))
    begin = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait()
    return (time.monotonic() - begin) * 1000


def main():
    build = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    times = {"worker": [], "coordinator": [], "serve": []}
    with tempfile.TemporaryDirectory() as work, open(os.path.join(work, "log"), "w") as log:
        os.makedirs(os.path.join(work, "models"))
        for i in range(rounds):
            data = os.path.join(work, str(i))
            coordinator, ports = start([f"{build}/server/fornax-coordinator",
                                        "--listen", "127.0.0.1:0",
                                        "--metrics-listen", "127.0.0.1:0",
                                        "--data-dir", data + "/c"], log)
            worker, _ = start([f"{build}/worker/fornax-worker", "--coordinator", ports["grpc"],
                               "--name", "w", "--work-dir", data + "/w",
                               "--metrics-listen", "127.0.0.1:0"], log)
            times["worker"].append(stop_ms(worker))
            times["coordinator"].append(stop_ms(coordinator))
            serve, _ = start([f"{build}/client/fornax", "serve",
                              "--model-repository", work + "/models", "--port", "0",
                              "--metrics-port", "0", "--http-port", "0"], log)
            times["serve"].append(stop_ms(serve))
    print(f"load average {os.getloadavg()[0]:.1f}")
    for name, values in times.items():
        print(f"{name:12s}", " ".join(f"{v:.0f}" for v in values), "ms")


if __name__ == "__main__":
    main()
