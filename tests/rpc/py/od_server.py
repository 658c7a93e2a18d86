"""od_server.py — a small Python gRPC detection server (the original
system's shape), for interoperability tests and as the benchmark baseline.
Prints "listening on 127.0.0.1:PORT" once ready; exits on SIGTERM/SIGINT.

usage: od_server.py [--port N] [--boxes N] [--workers N] [--reverse]
  --boxes N    detections per reply (reply size)
  --reverse    streaming: answer each pair of requests in reverse order
"""
import argparse
import signal
import sys
import threading
import time
from concurrent import futures

import grpc

from od_common import pb, STREAM, SYNC


def make_reply(req, boxes):
    r = pb.Response(req_id=req.req_id, recv_time=time.time(), model="python-test",
                    image_width=len(req.image_data))
    for i in range(boxes):
        o = r.detected_objects.add()
        o.score = 1.0 / (i + 1)
        o.label = "py"
        o.class_number = i + 1
        o.box.xmin, o.box.xmax, o.box.ymin, o.box.ymax = 1.0, 2.0 + i, 3.0, 4.0
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--boxes", type=int, default=1)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--reverse", action="store_true")
    a = ap.parse_args()

    def sync(req, ctx):
        return make_reply(req, a.boxes)

    def stream(it, ctx):
        held = None
        for req in it:
            if not a.reverse:
                yield make_reply(req, a.boxes)
            elif held is None:
                held = req
            else:
                yield make_reply(req, a.boxes)
                yield make_reply(held, a.boxes)
                held = None
        if held is not None:
            yield make_reply(held, a.boxes)

    handler = grpc.method_handlers_generic_handler("object_detection.GRPCImage", {
        "ProcessImageSync": grpc.unary_unary_rpc_method_handler(
            sync, request_deserializer=pb.Request.FromString,
            response_serializer=pb.Response.SerializeToString),
        "ProcessImageStreaming": grpc.stream_stream_rpc_method_handler(
            stream, request_deserializer=pb.Request.FromString,
            response_serializer=pb.Response.SerializeToString),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:%d" % a.port)
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(0.5).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
