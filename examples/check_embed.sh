#!/bin/sh
# check_embed.sh EMBED ASSETS — the embedding example turns N frames of the
# bundled video into exactly N outputs, frames 0..N-1 in order, and the local
# model answers at least one of them.
set -eu
n=8
out=$("$1" "$2/video/udacity_test_video.mp4" "$n" "$2/models")
lines=$(printf '%s\n' "$out" | grep -c '^{"frame":' || true)
if [ "$lines" -ne "$n" ]; then
    echo "expected $n outputs, got $lines:"
    printf '%s\n' "$out"
    exit 1
fi
i=0
printf '%s\n' "$out" | while IFS= read -r line; do
    case "$line" in
    "{\"frame\":$i,"*) ;;
    *) echo "output $i is not frame $i: $line"; exit 1 ;;
    esac
    i=$((i + 1))
done
printf '%s\n' "$out" | grep -q '"winner":"local"' || { echo "no frame answered by the local model"; exit 1; }
echo "ok: $n frames, $n outputs in order"
