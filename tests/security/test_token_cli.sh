#!/usr/bin/env bash
# test_token_cli.sh SPECX — `specx token new`: the token's form, the token
# file line is "ID sha256:<SHA-256 of the token>", two tokens differ, --out
# writes a 0600 file and never overwrites one, a bad id is a usage error.
set -uo pipefail
specx=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/specx-token-XXXXXX")
trap 'rm -rf "$dir"' EXIT
fail=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}
hash_of() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

out=$("$specx" token new --id vehicle-7 2>"$dir/err")
check "exit 0" test $? -eq 0
tok=$(sed -n 1p <<< "$out")
line=$(sed -n 2p <<< "$out")
check "two lines" test "$(wc -l <<< "$out")" -eq 2
check "token form sxt_ + 43 base64url" grep -Eq '^sxt_[A-Za-z0-9_-]{43}$' <<< "$tok"
check "line is the id and the token's SHA-256" test "$line" = "vehicle-7 sha256:$(hash_of "$tok")"
check "the note on stderr names no token" bash -c "! grep -q '${tok#sxt_}' '$dir/err'"
tok2=$("$specx" token new --id vehicle-7 2>/dev/null | sed -n 1p)
check "a second token differs" test "$tok" != "$tok2"

line=$("$specx" token new --id vehicle-8 --out "$dir/t8" 2>/dev/null)
check "--out: exit 0" test $? -eq 0
check "--out: mode 0600" test "$(stat -c %a "$dir/t8")" = 600
t8=$(tr -d '\n' < "$dir/t8")
check "--out: stdout is only the line, for the file's token" test "$line" = "vehicle-8 sha256:$(hash_of "$t8")"
"$specx" token new --id vehicle-8 --out "$dir/t8" > /dev/null 2>&1
check "--out: an existing file is refused (exit 1)" test $? -eq 1
check "--out: and left unchanged" test "$(tr -d '\n' < "$dir/t8")" = "$t8"

"$specx" token new --id 'bad id' > /dev/null 2>&1
check "bad id: exit 2" test $? -eq 2
"$specx" token new > /dev/null 2>&1
check "no --id: exit 2" test $? -eq 2
exit $fail
