#!/usr/bin/env bash
# valgrind.sh — runs specx's gRPC server and client paths under valgrind
# memcheck: the in-process rpc tests (server + client + executor under the
# operator) and a `specx-serve` process (`specx serve` alone: the `specx`
# binary links FFmpeg, whose libhwy runs RDTSCP in a constructor, which
# valgrind 3.19 cannot execute) driven by the Python grpcio client,
# stopped with SIGTERM. Fails on any memory error or definite/indirect leak;
# scripts/valgrind-grpc.supp hides only gRPC/abseil/OpenSSL globals.
# usage: scripts/valgrind.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: scripts/valgrind.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
supp="$root/scripts/valgrind-grpc.supp"
vg=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --num-callers=40 --suppressions="$supp")
export SPECX_TEST_TIMEOUT_SCALE=${SPECX_TEST_TIMEOUT_SCALE:-10}
export SPECX_SOURCE_DIR="$root"
export SPECX_PYGEN="$build/tests/rpc/pygen"
fail=0

for bin in specx specx-serve tests/rpc/test_rpc tests/rpc/test_rpc_executor; do
  [ -x "$build/$bin" ] || { echo "valgrind.sh: $build/$bin missing (build first)"; exit 2; }
done
if [ ! -f "$SPECX_PYGEN/object_detection_pb2.py" ]; then
  echo "valgrind.sh: $SPECX_PYGEN/object_detection_pb2.py missing (build first)"; exit 2
fi

run() {
  echo "== valgrind: $*"
  if ! "${vg[@]}" "$@"; then echo "!! FAILED: $*"; fail=1; fi
}

# Client and server in one process: unary + stream, cancel, bad input, order.
for g in roundtrip cancel bad_input stream_order; do
  run "$build/tests/rpc/test_rpc" "$g" "$build/specx"
done
# The remote executor under the operator.
run "$build/tests/rpc/test_rpc_executor" executor "$build/specx"

# The server as a process: Python client, then SIGTERM -> graceful exit.
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "== valgrind: specx-serve + Python client + SIGTERM"
: >"$tmp/out"
"${vg[@]}" "$build/specx-serve" --port 0 --bind 127.0.0.1 --model test:delay_ms=1 \
  --stats-json "$tmp/stats.json" >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "!! specx serve did not start under valgrind"; cat "$tmp/err"; kill -9 "$pid" 2>/dev/null; fail=1
else
  /usr/bin/python3 "$root/tests/rpc/py/od_client.py" "$port" >"$tmp/py" || { cat "$tmp/py"; fail=1; }
  kill -TERM "$pid"
  if ! wait "$pid"; then echo "!! specx serve under valgrind failed"; cat "$tmp/err"; fail=1; fi
  pid=
fi

if [ $fail -ne 0 ]; then echo "valgrind.sh: FAILED"; exit 1; fi
echo "valgrind.sh: no errors, no leaks of ours"
