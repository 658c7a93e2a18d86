"""raw_peer.py — a raw gRPC peer (Python grpcio) against a specx server that
requires client certificates and bearer tokens: calls with no authorization
header, with a header that is not a bearer credential, and with an empty
bearer token must each be refused with UNAUTHENTICATED (auth is checked
before the request is even parsed, so the payload is arbitrary bytes).
Prints one line per check; exit 0 when every check passed.

usage: raw_peer.py PORT CERTDIR
"""
import os
import sys

import grpc

SYNC = "/object_detection.GRPCImage/ProcessImageSync"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    port, certs = int(sys.argv[1]), sys.argv[2]
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(os.path.join(certs, "ca.pem")),
        private_key=read(os.path.join(certs, "client.key")),
        certificate_chain=read(os.path.join(certs, "client.pem")))
    ch = grpc.secure_channel("127.0.0.1:%d" % port, creds)
    call = ch.unary_unary(SYNC, request_serializer=lambda b: b,
                          response_deserializer=lambda b: b)
    failures = 0
    cases = [("no authorization header", None),
             ("a Basic credential", (("authorization", "Basic dmVoaWNsZTpwdw=="),)),
             ("an empty bearer token", (("authorization", "Bearer "),))]
    for what, md in cases:
        try:
            call(b"\x0a\x03abc", timeout=10, metadata=md)
            ok, got = False, "OK"
        except grpc.RpcError as e:
            got = "%s: %s" % (e.code().name, e.details())
            ok = e.code() == grpc.StatusCode.UNAUTHENTICATED
        print(("ok   " if ok else "FAIL ") + what + " -> " + got, flush=True)
        failures += 0 if ok else 1
    ch.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
