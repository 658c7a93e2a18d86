#!/bin/sh
# The whole replay sweep of docs/results.md: four frame sets x three links x
# two frame rates, 17 deadlines log-spaced from 10 to 2000 ms, 20 seeds, the
# four modes, 95 % bootstrap intervals. One `specx eval --replay` per set,
# link and rate, each in OUT/SET-LINK-FPS/ (its stdout in table.txt, its
# wall time in wall.txt).
#
#   docs/results/sweep.sh OUT [CLOUD_MS]
#
# CLOUD_MS is the cloud's compute time: `measured` (default: decode +
# inference of yolo-fastest-1.1-xl-416 measured on this machine when the
# answers are cached) or a constant in ms (3: a GPU-class server).
# Environment: SPECX (default build/specx, the Release build), ASSETS
# (default ../shared/assets), SPECX_CACHE_DIR (the answer cache; default
# OUT/../cache). Run from the repository's top directory.
set -eu
OUT=${1:?usage: docs/results/sweep.sh OUT [CLOUD_MS]}
CLOUD=${2:-measured}
SPECX=${SPECX:-build/specx}
ASSETS=${ASSETS:-../shared/assets}
CACHE=${SPECX_CACHE_DIR:-$OUT/../cache}
mkdir -p "$OUT" "$CACHE"

set_args() {
    case $1 in
    coco128) echo "--dataset $ASSETS/labeled/coco128_val" ;;
    kitti) echo "--dataset $ASSETS/labeled/kitti_tiny --images image_2 --labels labels_coco_yolo" ;;
    video-test) echo "--video $ASSETS/video/udacity_test_video.mp4" ;;
    video-white) echo "--video $ASSETS/video/udacity_solidWhiteRight.mp4" ;;
    esac
}

start=$(date +%s)
for set in coco128 kitti video-test video-white; do
    for link in 5g-sf lte lan; do
        for fps in 10 30; do
            dir="$OUT/$set-$link-$fps"
            mkdir -p "$dir"
            t0=$(date +%s)
            # shellcheck disable=SC2046 # set_args is split on purpose
            "$SPECX" eval --replay $(set_args "$set") --profile "$link" --fps "$fps" \
                --deadlines log:10:2000:17 --repeats 20 --seed 1 --cloud-compute-ms "$CLOUD" \
                --cache-dir "$CACHE" --out-dir "$dir" --quiet >"$dir/table.txt"
            echo $(($(date +%s) - t0)) >"$dir/wall.txt"
            echo "$set $link $fps fps: $(cat "$dir/wall.txt") s"
        done
    done
done
echo "sweep: $(($(date +%s) - start)) s"
