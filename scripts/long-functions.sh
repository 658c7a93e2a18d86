#!/bin/bash
# long-functions.sh — C functions longer than a reader can hold in mind.
#
# usage: scripts/long-functions.sh [--list N] [--max M] [FILE.c...]
# Prints every function of more than N lines (default 100), longest first,
# as "LINES NAME FILE:LINE", and exits 1 if one has more than M (default
# 150). Without files: the C files of src/, apps/, bench/ and examples/
# known to git. Lines count from the first line of the signature to the
# closing brace. The function bodies are found by the layout `make format`
# gives them (.clang-format: the opening and closing braces of a function
# alone on a line at column 0), so run it on formatted files.
set -euo pipefail
list=100
max=150
while [ $# -gt 0 ]; do
    case "$1" in
    --list) list=$2; shift 2 ;;
    --max) max=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) echo "long-functions.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    cd "$(dirname "$0")/.."
    set -- $(git ls-files 'src/*.c' 'apps/*.c' 'bench/*.c' 'examples/*.c')
fi
awk -v list="$list" -v max="$max" '
FNR == 1 { sig = ""; start = 0; inside = 0 }
inside {
    if ($0 == "}") {
        n = FNR - start + 1
        if (n > list) { printf "%d %s %s:%d\n", n, name, FILENAME, start }
        if (n > max) { over++ }
        inside = 0; sig = ""; start = 0
    }
    next
}
$0 == "{" {
    name = "?"
    if (start == 0) { start = FNR - 1 }
    if (match(sig, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
        name = substr(sig, RSTART, RLENGTH)
        sub(/[ \t]*\($/, "", name)
    }
    inside = 1
    next
}
# A declaration starts after a blank line, a preprocessor line, or a line
# that ends a statement, a block or a comment.
/^[ \t]*$/ || /^#/ || /[;}][ \t]*$/ || /\*\/[ \t]*$/ { sig = ""; start = 0; next }
{ if (start == 0) { start = FNR }; sig = sig " " $0 }
END {
    if (over > 0) {
        printf "long-functions.sh: %d function(s) over %d lines: split them\n", over, max > "/dev/stderr"
        exit 1
    }
}
' "$@" | sort -rn
