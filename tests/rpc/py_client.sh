#!/usr/bin/env bash
# py_client.sh — rpc.interop_py_client: a real `specx serve --port 0` process,
# called by a Python grpcio client (py/od_client.py); then SIGTERM must stop
# it gracefully (exit 0) with its statistics printed and written as JSON.
# Given the `specx-serve` binary instead (rpc.serve_alone), the same, and it
# must link no FFmpeg.
# usage: py_client.sh SPECX_BIN|SPECX_SERVE_BIN PYGEN_DIR
set -euo pipefail
specx=$1
export SPECX_PYGEN=$2
here=$(cd "$(dirname "$0")" && pwd)
serve=(serve)
if [ "$(basename "$specx")" = specx-serve ]; then
  serve=()
  if ldd "$specx" | grep -Ei 'libav(format|codec|util)|libswscale|libjxl|libhwy'; then
    echo "specx-serve links FFmpeg (above)"; exit 1
  fi
fi
tmp=$(mktemp -d)
pid=""
# Whatever happens, the server does not outlive the test.
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

: >"$tmp/out" # exists before the background job's own redirection
"$specx" "${serve[@]}" --port 0 --bind 127.0.0.1 --model test:delay_ms=1 --workers 2 \
  --stats-json "$tmp/stats.json" --stats-interval 0.2 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=""
for _ in $(seq 1 200); do
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
  [ -n "$port" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then cat "$tmp/err"; exit 1; fi
  sleep 0.05
done
[ -n "$port" ] || { echo "server did not say 'listening on'"; kill -9 "$pid"; exit 1; }

rc=0
/usr/bin/python3 "$here/py/od_client.py" "$port" || rc=1

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
cat "$tmp/out"
[ "$status" -eq 0 ] || { echo "specx serve exited $status after SIGTERM"; cat "$tmp/err"; rc=1; }
grep -q "^requests: received 9, completed 9, expired-before-start 0, cancelled 0, rejected 4" "$tmp/out" || { echo "counters not printed as expected"; rc=1; }
grep -q '"completed":9' "$tmp/stats.json" || { echo "stats JSON missing/wrong:"; cat "$tmp/stats.json"; rc=1; }
grep -q '"health_checks":3' "$tmp/stats.json" || { echo "health checks not counted"; rc=1; }
exit $rc
