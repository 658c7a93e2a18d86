#!/bin/sh
# bench_smoke.sh SPECX MODEL_DIR — `specx bench pipeline` runs end to end and
# prints both tables (the figures themselves are not checked).
out=$("$1" bench pipeline --frames 3 --warmup 1 --workers 1 --models yolo-fastest-1.1 \
      --server-model yolo-fastest-1.1 --model-dir "$2") || { echo "$out"; exit 1; }
echo "$out"
echo "$out" | grep -Eq '^yolo-fastest-1.1 +[a-z]+ +320x320 +[0-9.]+ +[0-9.]+' || exit 1
echo "$out" | grep -Eq '^1 +2 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ ms' || exit 1
