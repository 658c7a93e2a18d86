#!/usr/bin/env bash
# Provides the assets (models, videos, images; labelled sets with --all) that
# `make demo` and `make test` need, every file checked against the sha256
# pinned in scripts/assets-SOURCES.tsv (a copy of ../shared/assets/SOURCES.tsv).
#
# Where they come from, in order:
#  1. ../shared/assets next to the checkout: used in place, only verified
#     (the code finds it as ../shared/assets/models). Nothing is copied.
#  2. a mirror directory (--mirror DIR or $SPECX_ASSETS_MIRROR) laid out like
#     shared/assets: files are copied into ./assets/ and verified.
#  3. otherwise each file is downloaded from its upstream GitHub repository at
#     the pinned commit (raw.githubusercontent.com/<repo>/<commit>/<path>, or
#     $SPECX_ASSETS_BASE_URL/<repo>/<commit>/<path>) into ./assets/.
# Files that upstream does not have are derived here: the 416x416 xl cfg from
# the xl cfg; KITTI labels converted to COCO ids cannot be rebuilt and are
# skipped with a note.
#
# Idempotent: files already present and verified are skipped, and a stamp
# (assets/.verified, keyed on the pins, the file set, the source and each
# file's size and mtime) makes a repeated run return at once.
#
# usage: scripts/fetch-assets.sh [--all] [--mirror DIR] [--force] [--quiet]
# exit status: 0 all needed files present and verified, 1 something missing
# or corrupt (each one named), 2 usage.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all=0
force=0
quiet=0
mirror="${SPECX_ASSETS_MIRROR:-}"
base_url="${SPECX_ASSETS_BASE_URL:-https://raw.githubusercontent.com}"
while [ $# -gt 0 ]; do
  case "$1" in
    --all) all=1 ;;
    --force) force=1 ;;
    --quiet) quiet=1 ;;
    --mirror)
      [ $# -ge 2 ] || { echo "fetch-assets: --mirror needs a directory" >&2; exit 2; }
      mirror="$2"; shift ;;
    --mirror=*) mirror="${1#--mirror=}" ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fetch-assets: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { [ "$quiet" = 1 ] || echo "fetch-assets: $*"; }
err() { echo "fetch-assets: $*" >&2; }

sources="scripts/assets-SOURCES.tsv"
[ -f "$sources" ] || { err "missing $sources (the pinned list of assets)"; exit 1; }
if [ -f ../shared/assets/SOURCES.tsv ] && ! cmp -s ../shared/assets/SOURCES.tsv "$sources"; then
  err "note: ../shared/assets/SOURCES.tsv differs from $sources; using the repository's pins"
fi
command -v sha256sum >/dev/null || { err "sha256sum not found (coreutils)"; exit 1; }

dest="assets"
shared="../shared/assets"
if [ -n "$mirror" ]; then
  [ -d "$mirror" ] || { err "mirror '$mirror' is not a directory"; exit 1; }
  mirror="$(cd "$mirror" && pwd)"
  mode="mirror:$mirror"
elif [ -d "$shared" ]; then
  mode="shared:$(cd "$shared" && pwd)"
else
  mode="download:$base_url"
fi
set_name=$([ "$all" = 1 ] && echo all || echo default)

# Rows needed: path bytes sha256 repo commit upstream_path (tab-separated).
needed() {
  awk -F'\t' -v all="$all" 'NR > 1 && $1 != "" {
      if (all == 1 || $1 ~ /^(models|video|images)\//) print $1 "\t" $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6
    }' "$sources"
}

sha_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

stamp_file="$dest/.verified"
stamp_key() { # dir holding the files
  {
    echo "sources $(sha256sum "$sources" | cut -d' ' -f1)"
    echo "set $set_name"
    echo "mode $mode"
    needed | while IFS=$'\t' read -r path _; do
      case "$path" in labeled/kitti_tiny/labels_coco_yolo/*) continue ;; esac
      stat -c "%s %Y $path" "$1/$path" 2>/dev/null || echo "missing $path"
    done
  } | sha256sum | cut -d' ' -f1
}

case "$mode" in shared:*) files_dir="$shared" ;; *) files_dir="$dest" ;; esac

if [ "$force" = 0 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$(stamp_key "$files_dir")" ]; then
  say "assets verified earlier ($set_name set, ${mode%%:*}); nothing to do"
  exit 0
fi

failed=0
skipped_derived=0

# 1. Shared assets: verify in place.
if [[ "$mode" == shared:* ]]; then
  bad=0
  while IFS=$'\t' read -r path bytes sha repo commit upath; do
    case "$repo" in "derived here"*) [ -f "$shared/$path" ] || { skipped_derived=$((skipped_derived+1)); continue; } ;; esac
    if ! sha_ok "$shared/$path" "$sha"; then
      err "$shared/$path: missing or sha256 mismatch"
      bad=$((bad+1))
    fi
  done < <(needed)
  if [ "$bad" = 0 ]; then
    mkdir -p "$dest"
    stamp_key "$shared" > "$stamp_file"
    say "using $shared in place: $(needed | wc -l) files verified"
    exit 0
  fi
  err "$bad file(s) in $shared failed verification; providing assets in ./$dest instead"
  mode="download:$base_url"
  files_dir="$dest"
fi

# 2./3. Populate ./assets from the mirror or upstream.
fetch_one() { # path sha repo commit upath -> 0 if dest/path verified
  local path="$1" sha="$2" repo="$3" commit="$4" upath="$5"
  local out="$dest/$path" tmp
  mkdir -p "$(dirname "$out")"
  tmp="$(mktemp "$out.part.XXXXXX")"
  if [[ "$mode" == mirror:* ]]; then
    if ! cp "$mirror/$path" "$tmp" 2>/dev/null; then
      rm -f "$tmp"; err "$path: not in mirror $mirror"; return 1
    fi
  else
    command -v curl >/dev/null || { rm -f "$tmp"; err "curl not found (scripts/install-deps.sh installs it)"; return 1; }
    local url="$base_url/$repo/$commit/$upath" rc=0
    if [ "$offline" = 1 ]; then
      rm -f "$tmp"; err "$path: not downloaded (host unreachable)"; return 1
    fi
    curl -fsSL --retry 1 --connect-timeout 15 --max-time 600 -o "$tmp" "$url" 2>/dev/null || rc=$?
    if [ "$rc" != 0 ]; then
      rm -f "$tmp"
      err "$path: download failed (curl exit $rc): $url"
      # Cannot resolve / connect / timed out: the rest would fail the same way.
      case "$rc" in 6|7|28) offline=1; err "host unreachable: no network? provide the assets with --mirror DIR or ../shared/assets" ;; esac
      return 1
    fi
  fi
  if ! sha_ok "$tmp" "$sha"; then
    rm -f "$tmp"; err "$path: sha256 mismatch (expected $sha); not installed"; return 1
  fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$out"
}

derive_one() { # path sha repo -> 0 if derived and verified
  local path="$1" sha="$2" repo="$3" out="$dest/$1" tmp
  case "$path" in
    models/yolo-fastest-1.1-xl-416.cfg)
      local src="$dest/models/yolo-fastest-1.1-xl.cfg"
      [[ "$mode" == mirror:* ]] && [ -f "$mirror/$path" ] && { fetch_one "$path" "$sha" "" "" ""; return; }
      [ -f "$src" ] || { err "$path: cannot derive, $src is missing"; return 1; }
      tmp="$(mktemp "$out.part.XXXXXX")"
      sed -e 's/^width=320$/width=416/' -e 's/^height=320$/height=416/' "$src" > "$tmp"
      if ! sha_ok "$tmp" "$sha"; then
        rm -f "$tmp"; err "$path: derived file does not match its pin"; return 1
      fi
      chmod 644 "$tmp"
      mv -f "$tmp" "$out"
      ;;
    *)
      if [[ "$mode" == mirror:* ]] && [ -f "$mirror/$path" ]; then
        fetch_one "$path" "$sha" "" "" ""; return
      fi
      return 2 ;; # cannot be rebuilt here
  esac
}

n_ok=0
n_fetched=0
offline=0
# Derived rows last: they are built from downloaded ones.
while IFS=$'\t' read -r path bytes sha repo commit upath; do
  if sha_ok "$dest/$path" "$sha"; then
    n_ok=$((n_ok+1)); continue
  fi
  case "$repo" in
    "derived here"*|derived*)
      rc=0; derive_one "$path" "$sha" "$repo" || rc=$?
      if [ "$rc" = 0 ]; then n_fetched=$((n_fetched+1))
      elif [ "$rc" = 2 ]; then skipped_derived=$((skipped_derived+1))
      else failed=$((failed+1)); fi
      ;;
    *)
      if fetch_one "$path" "$sha" "$repo" "$commit" "$upath"; then
        n_fetched=$((n_fetched+1))
      else
        failed=$((failed+1))
      fi
      ;;
  esac
done < <(needed | awk -F'\t' '$4 !~ /^derived/' ; needed | awk -F'\t' '$4 ~ /^derived/')

if [ "$skipped_derived" -gt 0 ]; then
  say "note: skipped $skipped_derived KITTI label file(s) converted to COCO ids (labeled/kitti_tiny/labels_coco_yolo): they are derived, not downloadable; evaluation on kitti_tiny needs ../shared/assets or a mirror that has them"
fi
if [ "$failed" -gt 0 ]; then
  err "$failed file(s) could not be provided (see above); $n_ok already present, $n_fetched fetched"
  rm -f "$stamp_file"
  # Empty directories left behind would shadow ../shared/assets later.
  find "$dest" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  exit 1
fi
stamp_key "$dest" > "$stamp_file"
say "assets ready in ./$dest ($set_name set): $n_ok already present, $n_fetched fetched, all verified"
