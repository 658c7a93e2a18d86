#!/bin/sh
# adaptive_runs.sh SPECX OUT — the replay sweeps behind docs/results.md,
# "Adaptive deadlines": fixed vs adaptive deadlines on both bundled videos
# (golden configuration) and on KITTI tiny / COCO128 val (human labels),
# behind the calibrated 5g-sf and lte links, at 10 and 30 fps, deadlines
# 33-400 ms, 20 seeds, a GPU-class cloud (3 ms). Per set x link x fps: one
# invocation with local, speculative (the fixed deadline), cloud-unbounded
# and speculative-adaptive at target 0.5, then speculative-adaptive at
# targets 0.8 and 0.95. Then: adaptive_plot.py OUT docs/results.
set -e
SPECX=${1:?usage: adaptive_runs.sh SPECX OUT}
OUT=${2:?usage: adaptive_runs.sh SPECX OUT}
A=${ASSETS:-../shared/assets}
D=33,50,67,100,150,200,300,400
mkdir -p "$OUT"
run() { # tag source-args...
    tag=$1
    shift
    for link in 5g-sf lte; do
        for fps in 10 30; do
            o=$OUT/$tag-$link-$fps
            "$SPECX" eval --replay "$@" --profile $link --fps $fps --cloud-compute-ms 3 \
                --deadlines $D --repeats 20 -q \
                --modes local,speculative,cloud-unbounded,speculative-adaptive \
                --adaptive-target 0.5 --out-dir $o-p0.5 >$o-p0.5.txt
            for p in 0.8 0.95; do
                "$SPECX" eval --replay "$@" --profile $link --fps $fps --cloud-compute-ms 3 \
                    --deadlines $D --repeats 20 -q --modes speculative-adaptive \
                    --adaptive-target $p --out-dir $o-p$p >$o-p$p.txt
            done
        done
    done
}
run swr --video $A/video/udacity_solidWhiteRight.mp4
run testvideo --video $A/video/udacity_test_video.mp4
run kitti --dataset $A/labeled/kitti_tiny --images image_2 --labels labels_coco_yolo
run coco --dataset $A/labeled/coco128_val
