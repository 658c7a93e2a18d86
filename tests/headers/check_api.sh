#!/bin/sh
# check_api.sh LIBSPECX_SO INCLUDE_DIR — the public API is exactly
# include/specx/: libspecx.so exports only specx_* symbols, each named in a
# public header, and no public header names an internal (sx_*) or includes a
# header outside include/specx/.
set -u
lib=$1
inc=$2
fail=0
[ -f "$lib" ] || { echo "no $lib"; exit 1; }
words=$(mktemp)
exports=$(mktemp)
trap 'rm -f "$words" "$exports"' EXIT
cat "$inc"/specx/*.h | grep -oE '\bspecx_[a-z0-9_]+\b' | sort -u >"$words"
nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(_init|_fini)$' | sort -u >"$exports"
n=$(wc -l <"$exports")
if [ "$n" -lt 50 ]; then
    echo "libspecx.so exports only $n symbols: the module archives were not linked whole"
    fail=1
fi
bad=$(grep -v '^specx_' "$exports")
if [ -n "$bad" ]; then
    echo "libspecx.so exports symbols outside the specx_ namespace:"
    echo "$bad" | head -20
    fail=1
fi
hidden=$(comm -13 "$words" "$exports")
if [ -n "$hidden" ]; then
    echo "libspecx.so exports specx_ symbols that no public header declares (internals must be sx_):"
    echo "$hidden" | head -20
    fail=1
fi
leak=$(grep -n -E '\bsx_[a-z0-9_]+' "$inc"/specx/*.h)
if [ -n "$leak" ]; then
    echo "public headers name internals:"
    echo "$leak" | head -20
    fail=1
fi
incl=$(grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$inc"/specx/*.h | grep -v '"specx/')
if [ -n "$incl" ]; then
    echo "public headers include headers outside include/specx/:"
    echo "$incl"
    fail=1
fi
[ $fail -eq 0 ] && echo "libspecx.so: $n exported symbols, all public"
exit $fail
