#!/usr/bin/env bash
# test_fetch_assets.sh — scripts/fetch-assets.sh in a scratch checkout: copy
# from a mirror (and idempotence), deriving the 416 cfg, a corrupt mirror
# file, ../shared/assets used in place, and an unreachable download host.
set -euo pipefail
src="${SPECX_SOURCE_DIR:?}"
shared="${SPECX_SHARED_ASSETS:?}"
work="$(mktemp -d /tmp/specx-test-fetch-XXXXXX)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

repo="$work/repo"
mkdir -p "$repo/scripts"
cp "$src/scripts/fetch-assets.sh" "$src/scripts/assets-SOURCES.tsv" "$repo/scripts/"
run() { (cd "$repo" && scripts/fetch-assets.sh "$@") > "$work/out" 2>&1; }
pin() { awk -F'\t' -v p="$1" '$1 == p { print $3 }' "$repo/scripts/assets-SOURCES.tsv"; }
check() { [ "$(sha256sum "$repo/assets/$1" | cut -d' ' -f1)" = "$(pin "$1")" ] || fail "$1 not verified"; }

# Usage errors.
rc=0; run --bogus || rc=$?
[ "$rc" = 2 ] || fail "unknown option: exit $rc, want 2"

# 1. Mirror: the default set is copied and verified; a second run does nothing.
run --mirror "$shared" || { cat "$work/out"; fail "mirror copy failed"; }
for f in models/yolo-fastest-1.1.weights models/yolo-fastest-1.1-xl-416.cfg \
         models/alt/MobileNetV2-YOLOv3-Nano-coco.weights video/udacity_test_video.mp4 \
         images/udacity_highway/test1.jpg models/coco.names; do
  check "$f"
done
[ ! -e "$repo/assets/labeled" ] || fail "labelled sets copied without --all"
run --mirror "$shared" || fail "second run failed"
grep -q "nothing to do" "$work/out" || fail "second run was not a no-op: $(cat "$work/out")"
# A file changed after verification invalidates the stamp and is replaced.
printf 'x' >> "$repo/assets/models/coco.names"
run --mirror "$shared" || { cat "$work/out"; fail "repair run failed"; }
check models/coco.names

# 2. A mirror without the 416 cfg: it is derived from the xl cfg (the other
#    files are present and verified, so only this one is provided).
rm "$repo/assets/models/yolo-fastest-1.1-xl-416.cfg"
mkdir -p "$work/partial"
cp -rs "$shared/." "$work/partial/"
rm "$work/partial/models/yolo-fastest-1.1-xl-416.cfg"
run --mirror "$work/partial" || { cat "$work/out"; fail "derivation run failed"; }
check models/yolo-fastest-1.1-xl-416.cfg

grep -q "1 fetched" "$work/out" || fail "present files were fetched again: $(cat "$work/out")"

# 3. A corrupt file in the mirror is named, not installed; exit 1.
rm -f "$repo/assets/models/yolo-fastest-1.1.weights"
rm -rf "$work/partial"
mkdir -p "$work/partial"
cp -rs "$shared/." "$work/partial/"
rm "$work/partial/models/yolo-fastest-1.1.weights"
head -c 1000 "$shared/models/yolo-fastest-1.1.weights" > "$work/partial/models/yolo-fastest-1.1.weights"
rc=0; run --mirror "$work/partial" || rc=$?
[ "$rc" = 1 ] || fail "corrupt mirror: exit $rc, want 1"
grep -q "models/yolo-fastest-1.1.weights: sha256 mismatch" "$work/out" || fail "corrupt file not named: $(cat "$work/out")"
[ ! -e "$repo/assets/models/yolo-fastest-1.1.weights" ] || fail "corrupt file installed"
[ ! -e "$repo/assets/.verified" ] || fail "stamp written despite a failure"

# 4. ../shared/assets present: verified in place, nothing copied.
rm -rf "$repo/assets"
mkdir -p "$work/shared"
ln -s "$shared" "$work/shared/assets"
run || { cat "$work/out"; fail "shared run failed"; }
grep -q "in place" "$work/out" || fail "shared not used in place: $(cat "$work/out")"
[ ! -e "$repo/assets/models" ] || fail "files copied although shared exists"
run || fail "second shared run failed"
grep -q "nothing to do" "$work/out" || fail "second shared run was not a no-op"
rm "$work/shared/assets"

# 5. No shared, no mirror, unreachable host: fails fast, naming the URL.
rm -rf "$repo/assets"
rc=0; SPECX_ASSETS_MIRROR= SPECX_ASSETS_BASE_URL=http://127.0.0.1:9 run || rc=$?
[ "$rc" = 1 ] || fail "unreachable host: exit $rc, want 1"
grep -q "download failed (curl exit 7): http://127.0.0.1:9/dog-qiuqiu/Yolo-Fastest/" "$work/out" ||
  grep -q "download failed (curl exit 7): http://127.0.0.1:9/" "$work/out" || fail "URL not named: $(cat "$work/out")"
grep -q "host unreachable" "$work/out" || fail "no offline hint"
[ ! -e "$repo/assets/models" ] || fail "empty directories left behind"
echo "fetch-assets: all checks passed"
