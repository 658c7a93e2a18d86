#!/usr/bin/python3
"""grpc_through_netem.py — a real gRPC client and server (Debian's grpcio)
talking through `specx netem`.

1. Payloads: 33.3 KB requests through a constant-delay, rate-limited profile
   arrive intact, each call takes at least the configured delays, and
   SIGTERM stops netem with exit 0 and its statistics.
2. Stream: requests of --bytes at --hz on one channel for --seconds through
   --profile (default: 5g-sf's reference traffic, seed 1). The client's
   round-trip quantiles are compared with the simulator's for the same seed
   and the same window of link time (`specx netem --describe --start`): the
   proxy and the simulator run the same link code, and the delay process
   depends on the seed and time only. The proxy's own request round trips
   (HTTP/2 streams) are compared with the client's.

Exit 77 (skipped) when grpcio is not installed. --stream-only skips part 1;
--json prints one line with the live and simulated figures (for docs).

Usage: grpc_through_netem.py SPECX [--profile P] [--seed N] [--seconds S]
                             [--bytes B] [--hz F] [--reply-bytes R]
                             [--stream-only] [--json] [--check]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

try:
    import grpc
except ImportError:
    print("SKIP: python3 grpcio not installed")
    sys.exit(77)

SCALE = float(os.environ.get("SPECX_TEST_TIMEOUT_SCALE", "1") or 1)


def start_server(reply_bytes):
    reply = bytes(reply_bytes)

    def reverse(request, context):
        return request[::-1]

    def noop(request, context):
        return reply

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Reverse": grpc.unary_unary_rpc_method_handler(reverse),
                      "Noop": grpc.unary_unary_rpc_method_handler(noop)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def start_netem(specx, port, profile, seed):
    proc = subprocess.Popen(
        [specx, "netem", "--listen", "0", "--target", "127.0.0.1:%d" % port,
         "--profile", profile, "--seed", str(seed)],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    ready = time.monotonic()  # the link's clock started just before this line
    assert "listening on 127.0.0.1:" in line, line
    return proc, int(line.split("127.0.0.1:")[1].split()[0]), ready


def stop_netem(proc):
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30 * SCALE)
    assert proc.returncode == 0, proc.returncode
    assert "stopped by SIGTERM" in out, out
    return out


def quantile(sorted_v, q):
    pos = q * (len(sorted_v) - 1)
    i = int(pos)
    if i + 1 >= len(sorted_v):
        return sorted_v[-1]
    return sorted_v[i] + (pos - i) * (sorted_v[i + 1] - sorted_v[i])


def payload_check(specx):
    server, port = start_server(1000)
    with tempfile.NamedTemporaryFile("w", suffix=".prof", delete=False) as f:
        f.write("name = grpc-test\nup.delay = const ms=20\ndown.delay = const ms=10\n"
                "up.rate_mbit = 50\n")
        prof = f.name
    proc, nport, _ = start_netem(specx, port, prof, 5)
    try:
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
        print("payloads: RTT min %.1f ms, median %.1f ms, max %.1f ms"
              % (rtts[0], rtts[5], rtts[-1]))
        assert rtts[0] >= 30.0 + 5.0, rtts
        assert rtts[5] <= 35.3 + 40.0 * SCALE, rtts
        channel.close()
    finally:
        out = stop_netem(proc)
        server.stop(0)
        os.unlink(prof)
    print(out, end="")
    assert "1 connections" in out, out
    assert "requests (HTTP/2 streams on 1 connections" in out, out


def run_stream(channel, args):
    """Sends args.bytes every 1/args.hz s for args.seconds; returns
    (first send time, [rtt ms])."""
    call = channel.unary_unary("/test.Echo/Noop")
    payload = bytes(args.bytes)
    n = int(args.seconds * args.hz)
    sent = [0.0] * n
    rtt = [None] * n
    done = threading.Semaphore(0)

    def finished(i):
        def cb(fut):
            if fut.exception() is None:
                rtt[i] = (time.monotonic() - sent[i]) * 1000
            done.release()
        return cb

    t0 = time.monotonic() + 0.05
    for i in range(n):
        when = t0 + i / args.hz
        delay = when - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the traffic generator
        sent[i] = time.monotonic()
        fut = call.future(payload, timeout=120 * SCALE)
        fut.add_done_callback(finished(i))
    for _ in range(n):
        done.acquire()
    failed = sum(1 for r in rtt if r is None)
    assert failed == 0, "%d calls failed" % failed
    return t0, rtt


def simulate(specx, args, start):
    out = subprocess.run(
        [specx, "netem", "--describe", args.profile, "--traffic",
         "%d@%g" % (args.bytes, args.hz), "--reply-bytes", str(args.reply_bytes),
         "--seconds", str(args.seconds), "--start", "%.4f" % start, "--seed", str(args.seed),
         "--json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def proxy_requests(out):
    """(count, p50 ms) of the proxy's request round trips, from its exit report."""
    for line in out.splitlines():
        if line.strip().endswith("ms") and " requests  p50 " in line:
            words = line.split()
            return int(words[0]), float(words[words.index("p50") + 1])
    return 0, None


def stream_check(specx, args):
    server, port = start_server(args.reply_bytes)
    proc, nport, ready = start_netem(specx, port, args.profile, args.seed)
    try:
        channel = grpc.insecure_channel("127.0.0.1:%d" % nport)
        grpc.channel_ready_future(channel).result(timeout=30 * SCALE)
        t0, rtt = run_stream(channel, args)
        channel.close()
    finally:
        out = stop_netem(proc)
        server.stop(0)
    start = t0 - ready
    v = sorted(rtt)
    live = {q: round(quantile(v, x), 2) for q, x in
            (("p1", .01), ("p10", .1), ("p50", .5), ("p90", .9), ("p99", .99))}
    sim = simulate(specx, args, start)
    nreq, proxy_p50 = proxy_requests(out)
    result = {"profile": args.profile, "seed": args.seed, "seconds": args.seconds,
              "traffic": {"bytes": args.bytes, "hz": args.hz, "reply_bytes": args.reply_bytes},
              "start_s": round(start, 4), "requests": len(v), "live_rtt_ms": live,
              "sim_rtt_ms": sim["rtt_ms"], "proxy_requests": nreq, "proxy_p50_ms": proxy_p50}
    if args.json:
        print(json.dumps(result))
    else:
        print(out, end="")
        print("stream: %d requests of %d B at %g Hz for %g s through %s (seed %d), first at "
              "%.3f s of link time" % (len(v), args.bytes, args.hz, args.seconds, args.profile,
                                       args.seed, start))
        for q in ("p1", "p10", "p50", "p90", "p99"):
            print("  %-4s live %9.1f ms   simulated (same seed, same window) %9.1f ms"
                  % (q, live[q], sim["rtt_ms"][q]))
        print("  proxy's own count: %d requests, p50 %s ms" % (nreq, proxy_p50))
    if args.check:
        # The proxy saw every request and agrees with the client on their
        # round trips (it times from its read to its release, the client
        # adds the loopback hops and gRPC's own work).
        assert nreq == len(v), (nreq, len(v))
        assert abs(proxy_p50 - live["p50"]) <= 0.1 * live["p50"] + 5 * SCALE, (proxy_p50, live)
        # Live against the model: the same realization of the link, so the
        # quantiles agree up to timing noise and gRPC's own behaviour.
        for q, tol in (("p50", 0.15), ("p90", 0.25), ("p99", 0.35)):
            s = sim["rtt_ms"][q]
            assert abs(live[q] - s) <= tol * s + 5 * SCALE, (q, live[q], s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("specx")
    ap.add_argument("--profile", default="5g-sf")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--bytes", type=int, default=33300)
    ap.add_argument("--hz", type=float, default=30)
    ap.add_argument("--reply-bytes", type=int, default=1000)
    ap.add_argument("--stream-only", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="assert (the suite passes this)")
    args = ap.parse_args()
    if not args.stream_only:
        payload_check(args.specx)
    stream_check(args.specx, args)
    print("1 passed, 0 failed" if args.check else "done")


if __name__ == "__main__":
    main()
