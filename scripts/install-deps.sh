#!/usr/bin/env bash
# Installs every Debian package specx needs to build, test, benchmark and run its
# demo. Idempotent: packages already present are skipped; nothing else is touched.
# Usage: scripts/install-deps.sh [--dry-run]
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates curl openssl
  # core: JSON export, unit tests
  libcjson-dev libcmocka-dev
  # rpc: gRPC C-core and protobuf-c (code generated at build time)
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  # interoperability tests: Debian's Python gRPC (run with /usr/bin/python3)
  python3 python3-grpcio python3-protobuf
  # detection: darknet reference backend, XNNPACK fast backend; OpenCV DNN,
  # the peer `specx bench detect` times on the same models (through python3)
  darknet libxnnpack-dev libpthreadpool-dev python3-opencv
  # media: JPEG, PNG, video decode/encode
  libturbojpeg0-dev libpng-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  # report tests: headless browser
  chromium
  # metrics: /metrics over HTTP; promtool and a real Prometheus for the tests
  libmicrohttpd-dev prometheus
  # auth: SHA-256 of bearer tokens, constant-time compare; test certificates
  libssl-dev
  # fleet: nginx as the gRPC proxy in front of replicas (tests/fleet, deploy/);
  # python3-yaml to check the Kubernetes and compose files
  nginx python3-yaml
  # sanitizers, checks
  valgrind
  # fuzzing: clang with libFuzzer (-fsanitize=fuzzer is in libclang-rt-14-dev,
  # which clang only recommends)
  clang libclang-rt-14-dev
)

dry=0
[ "${1:-}" = "--dry-run" ] && dry=1

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
[ $dry -eq 1 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: done"
