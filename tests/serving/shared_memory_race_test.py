"""A client that resizes a registered shared memory object while requests
use it must not crash `fornax serve`.

A region's object is the client's: it may shrink it (ftruncate) or unlink
and recreate it at any moment. Touching a mapping past the end of a shrunk
object raises SIGBUS, so a server that maps regions dies; Fornax copies with
pread/pwrite and answers instead. Here, over real gRPC with tritonclient:
  - 4 threads infer the MLP with its input and its output in region "io"
    (the whole 4 KiB object), each output in its own slot;
  - meanwhile a toggler thread alternates 10 ms storms (the
    object truncated to 0 and grown back to 4 KiB in a tight loop; every
    5th storm also unlinks and recreates it and registers "io" again) with
    10 ms calm phases (the object full size holding x, untouched), for
    2 s and then on until both a calm-phase success and a refused read
    have been seen (at most 60 s: a loaded machine may run few requests);
  - every request ends in success or in a clear error (FAILED_PRECONDITION
    naming the region, key and range that could not be read; NOT_FOUND
    while "io" is registered again); a request that began and finished
    (its output read back) within one calm phase has the in-band path's
    output bit for bit; a success under a storm is counted but not compared
    (its bytes are whatever the client's object held at that moment);
  - the server answers afterwards and exits 0 on SIGTERM (not -SIGBUS).
The MLP runs without dynamic batching: each request its own engine call, so
outputs compare bit for bit.
Usage: shared_memory_race_test.py FORNAX_BINARY (env FORNAX_SOURCE_DIR).
"""
import os
import re
import sys
import tempfile
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from serving_harness import check, finish, place, serving

OBJECT_BYTES = 4096
OUTPUT_AT = 1024  # thread t's output slot: 64 bytes at OUTPUT_AT + 64 * t
THREADS = 4
SECONDS = 2.0  # at least: on until both outcomes asserted below are seen
MAX_SECONDS = 60.0
PHASE = 0.010


class Toggler:
    """Owns the object at /dev/shm/KEY (the client's side of region "io").
    `epoch` is even in a calm phase (the object full size, x at 0, left
    alone) and odd in a storm; requests compare it before and after."""

    def __init__(self, url, key, x):
        self.url, self.key, self.x = url, key, x.tobytes()
        self.path = "/dev/shm" + key
        self.epoch = 0
        self.storms = self.recreated = 0
        self.fd = self._create()
        self.admin = grpcclient.InferenceServerClient(url)
        self.admin.register_system_shared_memory("io", key, OBJECT_BYTES)

    def _create(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, OBJECT_BYTES)
        os.pwrite(fd, self.x, 0)
        return fd

    def run(self, done):
        while not done():
            self.epoch += 1  # odd: storm
            self.storms += 1
            if self.storms % 5 == 0:
                os.close(self.fd)
                os.unlink(self.path)
                self.fd = self._create()
                self.recreated += 1
                self.admin.unregister_system_shared_memory("io")
                self.admin.register_system_shared_memory("io", self.key, OBJECT_BYTES)
            end = time.monotonic() + PHASE
            while time.monotonic() < end:
                os.ftruncate(self.fd, 0)
                os.ftruncate(self.fd, OBJECT_BYTES)
            os.pwrite(self.fd, self.x, 0)
            self.epoch += 1  # even: calm
            time.sleep(PHASE)

    def read(self, offset, size):
        """The object's bytes, read without mapping it (a mapping of a
        shrunk object would SIGBUS this test)."""
        return os.pread(self.fd, size, offset)

    def close(self):
        os.close(self.fd)
        os.unlink(self.path)


def main():
    fornax = sys.argv[1]
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    key = f"/fornax_shm_race_{os.getpid()}"
    with tempfile.TemporaryDirectory() as repo:
        place(repo, "mlp", 1, "mlp_sgd.keras", '{"max_batch_size": 8, "dynamic_batching": false}')
        with serving(fornax, repo) as (url, _, _):
            client = grpcclient.InferenceServerClient(url)
            (name,) = [o.name for o in client.get_model_metadata("mlp").outputs]
            inband = grpcclient.InferInput("x", [5, 6], "FP32")
            inband.set_data_from_numpy(x)
            want = client.infer("mlp", [inband]).as_numpy(name).tobytes()
            toggler = Toggler(url, key, x)
            shrunk = re.compile(
                rf"^input 'x': shared memory key '{key}' of region 'io' has shrunk to \d+ bytes "
                rf"since it was registered \(offset 0 \+ byte_size {OBJECT_BYTES}\); "
                r"register it again$")
            outcomes = []  # one per request (list.append is atomic)

            def classify(e):
                if e.status() == "StatusCode.FAILED_PRECONDITION" and shrunk.match(e.message()):
                    return "FAILED_PRECONDITION: shrunk"
                if e.status() == "StatusCode.NOT_FOUND" and re.match(
                        rf"^(input 'x'|output '{name}'): shared memory region 'io' is not "
                        r"registered$", e.message()):
                    return "NOT_FOUND: registered again"
                return f"{e.status()} {e.message()}"
            start = time.monotonic()
            stop = threading.Event()  # set when the toggler is done

            def done():
                elapsed = time.monotonic() - start
                seen = ("ok in a calm phase" in outcomes
                        and "FAILED_PRECONDITION: shrunk" in outcomes)
                return elapsed >= MAX_SECONDS or (elapsed >= SECONDS and seen)

            def infer(t):
                mine = grpcclient.InferenceServerClient(url)
                tensor = grpcclient.InferInput("x", [5, 6], "FP32")
                tensor.set_shared_memory("io", x.nbytes)
                output = grpcclient.InferRequestedOutput(name)
                output.set_shared_memory("io", len(want), OUTPUT_AT + 64 * t)
                while not stop.is_set():
                    epoch = toggler.epoch
                    try:
                        mine.infer("mlp", [tensor], outputs=[output])
                    except InferenceServerException as e:
                        outcomes.append(classify(e))
                        continue
                    outcome = "ok under a storm"
                    if epoch % 2 == 0 and toggler.epoch == epoch:
                        try:
                            got = toggler.read(OUTPUT_AT + 64 * t, len(want))
                        except OSError:  # the object was recreated meanwhile: a storm
                            got = None
                        if toggler.epoch == epoch:
                            outcome = "ok in a calm phase" if got == want else "WRONG in a calm phase"
                    outcomes.append(outcome)

            threads = [threading.Thread(target=infer, args=(t,)) for t in range(THREADS)]
            for thread in threads:
                thread.start()
            try:
                toggler.run(done)
            except InferenceServerException as e:  # the server died
                check(False, f"the toggler registers the recreated object: {e}")
            finally:
                stop.set()
            for thread in threads:
                thread.join()
            kinds = {o: outcomes.count(o) for o in set(outcomes)}
            print(f"{toggler.storms} storms ({toggler.recreated} recreating the object) in "
                  f"{time.monotonic() - start:.1f} s; outcomes: {kinds}", flush=True)
            expected = {"ok in a calm phase", "ok under a storm", "FAILED_PRECONDITION: shrunk",
                        "NOT_FOUND: registered again"}
            check(set(kinds) <= expected,
                  f"every request succeeded or got a clear error: {sorted(kinds)}")
            check(kinds.get("ok in a calm phase", 0) > 0,
                  "requests within a calm phase: output == in-band bit for bit")
            check(kinds.get("FAILED_PRECONDITION: shrunk", 0) > 0,
                  "the storms raced requests (some read a shrunk object)")
            try:
                again = client.infer("mlp", [inband]).as_numpy(name).tobytes()
                check(again == want, "the server answers in-band requests as before")
                toggler.admin.unregister_system_shared_memory()
            except InferenceServerException as e:
                check(False, f"the server answers after the storms: {e}")
            toggler.close()
    finish("shared memory race")


if __name__ == "__main__":
    main()
