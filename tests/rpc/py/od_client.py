"""od_client.py — interoperability check: a Python grpcio client (the
original system's client shape) against a specx server at 127.0.0.1:PORT.
Checks unary and streaming round trips with PNG frames, per-request errors,
and the health service. Exit 0 if all checks pass; prints what failed.

usage: od_client.py PORT
"""
import sys
import time

import grpc

from od_common import pb, png_rgb, HEALTH, STREAM, SYNC

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def main():
    port = int(sys.argv[1])
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    sync = ch.unary_unary(SYNC, request_serializer=pb.Request.SerializeToString,
                          response_deserializer=pb.Response.FromString)
    stream = ch.stream_stream(STREAM, request_serializer=pb.Request.SerializeToString,
                              response_deserializer=pb.Response.FromString)
    health = ch.unary_unary(HEALTH, request_serializer=lambda b: b,
                            response_deserializer=lambda b: b)

    # Health: SERVING = HealthCheckResponse{status: 1} = 08 01.
    check(health(b"", timeout=5) == b"\x08\x01", "health Check says SERVING")
    svc = b"object_detection.GRPCImage"
    check(health(b"\x0a" + bytes([len(svc)]) + svc, timeout=5) == b"\x08\x01",
          "health Check of the named service says SERVING")

    # Unary, as the original clients call it: a PNG frame and a req_id.
    before = time.time()
    r = sync(pb.Request(image_data=png_rgb(96, 64), req_id=41), timeout=5)
    after = time.time()
    check(r.req_id == 41, "unary reply carries req_id 41 (got %d)" % r.req_id)
    check(len(r.detected_objects) == 1 and r.detected_objects[0].label == "test",
          "unary reply has the test detection")
    b = r.detected_objects[0].box if r.detected_objects else None
    check(b is not None and b.xmax == 96 and b.ymax == 64,
          "box in pixels of the 96x64 image")
    check(before - 1 <= r.recv_time <= after + 1, "recv_time is the server's wall clock")
    check(r.image_width == 96 and r.image_height == 64 and r.model == "test",
          "specx fields: image size and model")
    check(not r.HasField("model_input"),
          "no model_input from a detector without a fixed input size (the test detector)")

    # Bad input gets INVALID_ARGUMENT with a message.
    try:
        sync(pb.Request(image_data=b"not an image", req_id=1), timeout=5)
        check(False, "garbage image is rejected")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "JPEG" in e.details(),
              "garbage image -> INVALID_ARGUMENT (%s: %s)" % (e.code(), e.details()))

    # A message that is not a Request at all (raw bytes on the wire).
    raw = ch.unary_unary(SYNC, request_serializer=lambda b: b,
                         response_deserializer=lambda b: b)
    for junk in (b"\xff\xff\xff\xff", b"\x0a\x80\x80\x80\x80\x10"):
        try:
            raw(junk, timeout=5)
            check(False, "malformed protobuf is rejected")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and
                  "object_detection.Request" in e.details(),
                  "malformed protobuf -> INVALID_ARGUMENT (%s)" % e.details())

    # Streaming: replies matched by req_id; sizes tell the frames apart.
    reqs = [pb.Request(image_data=png_rgb(20 + i, 10 + i), req_id=1000 + i) for i in range(8)]
    reqs.append(pb.Request(image_data=b"\x89PNG\r\n\x1a\nbroken", req_id=2000))
    got = {}
    for rep in stream(iter(reqs), timeout=10):
        got[rep.req_id] = rep
    check(len(got) == 9, "stream: one reply per request (%d)" % len(got))
    ok = all(got.get(1000 + i) is not None and got[1000 + i].image_width == 20 + i and
             got[1000 + i].image_height == 10 + i for i in range(8))
    check(ok, "stream: every reply matches its request")
    bad = got.get(2000)
    check(bad is not None and bad.status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and
          bad.status_message != "", "stream: truncated PNG -> per-request INVALID_ARGUMENT")

    # Still healthy.
    check(health(b"", timeout=5) == b"\x08\x01", "still SERVING after bad input")
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
