#!/bin/sh
# Replay against live (docs/results.md, "Replay against live"): for each
# link, a live `specx eval` of COCO128 at 10 fps and the replay of the same
# frames, link, seeds and deadlines, given the live run's compute times;
# then the live run's host overhead (replay_vs_live.py overhead) and the
# replay with it. Prints both comparisons per link.
#
#   docs/results/replay_vs_live.sh OUT [LINK...]     (default links: lan lte)
#
# The live runs take about 10 minutes per link; they ran at `nice -n -10`
# (the NICE variable; set it empty to run at the default priority) so that
# other users' work on this 2-core machine delays them less. Environment:
# SPECX (default build/specx), ASSETS (default ../shared/assets),
# SPECX_CACHE_DIR (the replay's answer cache). Run from the repository's
# top directory.
set -eu
OUT=${1:?usage: docs/results/replay_vs_live.sh OUT [LINK...]}
shift
LINKS=${*:-lan lte}
SPECX=${SPECX:-build/specx}
ASSETS=${ASSETS:-../shared/assets}
NICE=${NICE-nice -n -10}
COCO=$ASSETS/labeled/coco128_val
D=27,52.4,102,197,382
COMMON="--dataset $COCO --fps 10 --deadlines $D --repeats 3 --seed 1"
mkdir -p "$OUT"

for link in $LINKS; do
    live=$OUT/live-$link
    uptime >"$live.load"
    # shellcheck disable=SC2086 # NICE and COMMON are split on purpose
    $NICE "$SPECX" eval $COMMON --profile "$link" --out-dir "$live" --quiet >"$live.txt"
    uptime >>"$live.load"
    # shellcheck disable=SC2086
    "$SPECX" eval --replay $COMMON --profile "$link" \
        --local-compute-ms "$live/compute-local.txt" --cloud-compute-ms "$live/compute-cloud.txt" \
        --out-dir "$OUT/replay-$link" --quiet >/dev/null
    # shellcheck disable=SC2086
    "$SPECX" eval --replay $COMMON --profile "$link" --modes cloud-unbounded \
        --cloud-compute-ms 0 --out-dir "$OUT/replay0-$link" --quiet >/dev/null
    tests/evalcmd/replay_vs_live.py overhead "$live" "$OUT/replay0-$link" "$OUT/host-$link.txt"
    # shellcheck disable=SC2086
    "$SPECX" eval --replay $COMMON --profile "$link" \
        --local-compute-ms "$live/compute-local.txt" --cloud-compute-ms "$live/compute-cloud.txt" \
        --host-overhead-ms "$OUT/host-$link.txt" --out-dir "$OUT/replayh-$link" --quiet >/dev/null
    echo "== $link: compute times only"
    tests/evalcmd/replay_vs_live.py compare "$live" "$OUT/replay-$link" || true
    echo "== $link: compute times and the measured host overhead"
    tests/evalcmd/replay_vs_live.py compare "$live" "$OUT/replayh-$link" || true
done
