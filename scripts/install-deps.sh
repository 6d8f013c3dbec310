#!/usr/bin/env bash
# Installs everything Fornax needs to build, test and benchmark on Debian 12.
# Idempotent: running it twice is cheap. Nothing is downloaded at build time;
# every dependency comes from here (Debian packages via apt-get, Python test
# peers via pip into a virtual environment under .venv/).
#
#   scripts/install-deps.sh            # build + test dependencies
#   FORNAX_SKIP_PY=1 scripts/...       # skip the Python test peers
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libhdf5-dev libzip-dev zipcmp zipmerge ziptool
  nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev sqlite3 libssl-dev
  libcivetweb-dev  # fornax serve's HTTP/REST endpoint (also prometheus-cpp's)
  zlib1g-dev  # HTTP gzip/deflate bodies (server/inference/http_compression.cc)
  libgloo-dev dataset-fashion-mnist prometheus
  libb64-0d  # perf_analyzer (below) links it
  python3 python3-venv python3-pip python3-torch python3-numpy
  # Debian's torch calls whatever libblas.so.3 is; without OpenBLAS that is
  # the reference BLAS (30x slower matmuls), and the benchmark's PyTorch peer
  # would be a straw man. (Recommended by python3-torch, which
  # --no-install-recommends skips.)
  libopenblas0-pthread
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  sudo=()
  if [ "$(id -u)" != 0 ]; then sudo=(sudo --non-interactive); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian prometheus package starts a server on :9090; tests run their own.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi

if [ "${FORNAX_SKIP_PY:-0}" != 1 ]; then
  # Test peers: real Keras 3 on the JAX CPU backend, h5py, tritonclient.
  # /usr/bin/python3 so the venv can also see Debian's python3-torch (bench).
  if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
  fi
  stamp=.venv/.fornax-requirements
  if ! cmp -s scripts/requirements-test.txt "$stamp" 2>/dev/null; then
    .venv/bin/pip install -q --no-input --disable-pip-version-check -r scripts/requirements-test.txt
    cp scripts/requirements-test.txt "$stamp"
  fi
  # Triton's perf_analyzer, the load generator people point at a Triton
  # server (tests/serving/perf_analyzer_test.py). The one shipped in
  # tritonclient 2.51.0 is the newest that runs on Debian 12: the later
  # builds (tritonclient >= 2.52, the perf-analyzer wheels) need glibc 2.38.
  # It links libcudart.so.12 (loaded, unused without --shared-memory=cuda).
  # A separate --target keeps the venv's own newer tritonclient.
  pa=.venv/perf_analyzer
  if [ ! -x "$pa/bin/perf_analyzer" ]; then
    .venv/bin/pip install -q --no-input --disable-pip-version-check --no-deps --target "$pa" \
      tritonclient==2.51.0 nvidia-cuda-runtime-cu12==12.9.79
  fi
fi
echo "install-deps: ok"
