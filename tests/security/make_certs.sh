#!/usr/bin/env bash
# make_certs.sh OUTDIR — test certificates for mutual TLS, made with openssl
# at test time (nothing secret is ever committed). EC P-256 keys, SHA-256.
#
#   ca.pem, ca.key                  the fleet CA
#   server.pem, server.key          CN=localhost, SAN localhost, 127.0.0.1, ::1;
#                                   serverAuth; signed by the CA
#   client.pem, client.key          CN=vehicle-7, clientAuth; signed by the CA
#   other-ca.pem, other-ca.key      an unrelated CA
#   other-client.pem, other-client.key
#                                   CN=vehicle-7, clientAuth; signed by other-ca
#   expired-client.pem, expired-client.key
#                                   CN=vehicle-7, clientAuth; signed by the CA,
#                                   valid 2020-01-01 to 2020-01-02 only
#
# Leaf certificates are valid for DAYS (environment, default 2) days from now.
# Keys are written mode 0600. The expired certificate is issued with
# `openssl ca -startdate/-enddate` (OpenSSL 3.0's `x509 -req` cannot backdate).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
days=${DAYS:-2}
mkdir -p "$out"
cd "$out"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
serial() { echo "0x$(openssl rand -hex 8)"; }

# make_ca NAME CN
make_ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 30 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

# make_leaf NAME CN CA EXTENSIONS
make_leaf() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf '%b\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "$(serial)" \
    -days "$days" -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid'
server_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nauthorityKeyIdentifier=keyid'

make_ca ca "specx test fleet CA"
make_ca other-ca "specx test other CA"
make_leaf server localhost ca "$server_ext"
make_leaf client vehicle-7 ca "$client_ext"
make_leaf other-client vehicle-7 other-ca "$client_ext"

# The expired client: `openssl ca` with explicit dates in a scratch database.
db=$(mktemp -d "${TMPDIR:-/tmp}/specx-ca-XXXXXX")
trap 'rm -rf "$db"' EXIT
: > "$db/index.txt"
openssl rand -hex 8 > "$db/serial"
cat > "$db/ca.cnf" <<CNF
[ ca ]
default_ca = fleet
[ fleet ]
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
key expired-client.key
openssl req -new -key expired-client.key -subj "/CN=vehicle-7" -out "$db/expired.csr"
openssl ca -batch -notext -config "$db/ca.cnf" -cert ca.pem -keyfile ca.key \
  -in "$db/expired.csr" -out expired-client.pem -extensions client \
  -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null
chmod 0644 ./*.pem
