#!/usr/bin/env bash
# test_make_certs.sh — make_certs.sh gives what the mutual-TLS tests need:
# `openssl verify` accepts the server certificate for localhost/127.0.0.1 and
# the client certificate for client use, and refuses the other CA's client,
# the expired client (for its dates alone) and a wrong host name; every key
# matches its certificate.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/specx-certs-XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0

ok() { # ok NAME COMMAND... : the command must succeed
  local name=$1; shift
  if out=$("$@" 2>&1); then pass=$((pass + 1)); echo "ok: $name"
  else fail=$((fail + 1)); echo "FAIL: $name: $out"; fi
}
refused() { # refused NAME WANT COMMAND... : must fail with WANT in its output
  local name=$1 want=$2; shift 2
  if out=$("$@" 2>&1); then fail=$((fail + 1)); echo "FAIL: $name: accepted: $out"
  elif grep -q -- "$want" <<< "$out"; then pass=$((pass + 1)); echo "ok: $name"
  else fail=$((fail + 1)); echo "FAIL: $name: want '$want', got: $out"; fi
}
same_key() { # same_key NAME: the key's public half is the certificate's
  [ "$(openssl pkey -in "$dir/$1.key" -pubout)" = "$(openssl x509 -in "$dir/$1.pem" -noout -pubkey)" ]
}

if ! "$here/make_certs.sh" "$dir" > "$dir/log" 2>&1; then
  echo "FAIL: make_certs.sh: $(cat "$dir/log")"
  echo "0 passed, 1 failed"
  exit 1
fi
cd "$dir"
ok "server cert for localhost" openssl verify -CAfile ca.pem -purpose sslserver -verify_hostname localhost server.pem
ok "server cert for 127.0.0.1" openssl verify -CAfile ca.pem -purpose sslserver -verify_ip 127.0.0.1 server.pem
refused "server cert not for another name" "hostname mismatch" openssl verify -CAfile ca.pem -verify_hostname example.com server.pem
ok "client cert from the CA" openssl verify -CAfile ca.pem -purpose sslclient client.pem
refused "client cert is not a server cert" "unsuitable certificate purpose" openssl verify -CAfile ca.pem -purpose sslserver client.pem
refused "other CA's client refused" "unable to get local issuer certificate" openssl verify -CAfile ca.pem -purpose sslclient other-client.pem
ok "other CA's client is valid for its own CA" openssl verify -CAfile other-ca.pem -purpose sslclient other-client.pem
refused "expired client refused" "certificate has expired" openssl verify -CAfile ca.pem -purpose sslclient expired-client.pem
ok "expired client is fine but for its dates" openssl verify -CAfile ca.pem -purpose sslclient -no_check_time expired-client.pem
for n in ca other-ca server client other-client expired-client; do
  ok "$n.key matches $n.pem" same_key "$n"
done
ok "client identity is vehicle-7" grep -q "CN = vehicle-7" <(openssl x509 -in client.pem -noout -subject)
ok "keys are private" test "$(stat -c %a client.key)" = 600

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
