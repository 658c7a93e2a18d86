#!/usr/bin/python3
"""grpc_through_netem.py — a real gRPC client and server (Debian's grpcio)
talking through `specx netem`: payloads arrive intact, each call takes at
least the configured delay both ways, and SIGTERM stops netem with exit 0
and its statistics. Exit 77 (skipped) when grpcio is not installed.

Usage: grpc_through_netem.py PATH/TO/specx
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent import futures

try:
    import grpc
except ImportError:
    print("SKIP: python3 grpcio not installed")
    sys.exit(77)

SCALE = float(os.environ.get("SPECX_TEST_TIMEOUT_SCALE", "1") or 1)


def echo(request, context):
    return request[::-1]


def main():
    specx = sys.argv[1]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Reverse": grpc.unary_unary_rpc_method_handler(echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    with tempfile.NamedTemporaryFile("w", suffix=".prof", delete=False) as f:
        f.write("name = grpc-test\nup.delay = const ms=20\ndown.delay = const ms=10\n"
                "up.rate_mbit = 50\n")
        prof = f.name
    proc = subprocess.Popen(
        [specx, "netem", "--listen", "0", "--target", "127.0.0.1:%d" % port,
         "--profile", prof, "--seed", "5"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line
        nport = int(line.split("127.0.0.1:")[1].split()[0])
        channel = grpc.insecure_channel("127.0.0.1:%d" % nport)
        call = channel.unary_unary("/test.Echo/Reverse")
        grpc.channel_ready_future(channel).result(timeout=10 * SCALE)
        payload = bytes((i * 7) % 251 for i in range(33300))  # a 33.3 KB frame
        rtts = []
        for _ in range(10):
            t = time.monotonic()
            reply = call(payload, timeout=10 * SCALE)
            rtts.append((time.monotonic() - t) * 1000)
            assert reply == payload[::-1], "payload corrupted"
        rtts.sort()
        # 20 + 10 ms of delay, plus 33.3 KB at 50 Mbit/s = 5.3 ms.
        print("gRPC through netem: RTT min %.1f ms, median %.1f ms, max %.1f ms"
              % (rtts[0], rtts[5], rtts[-1]))
        assert rtts[0] >= 30.0 + 5.0, rtts
        assert rtts[5] <= 35.3 + 40.0 * SCALE, rtts
        channel.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10 * SCALE)
        server.stop(0)
        os.unlink(prof)
    print(out, end="")
    assert proc.returncode == 0, proc.returncode
    assert "stopped by SIGTERM" in out
    assert "1 connections" in out, out
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
