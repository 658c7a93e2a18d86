"""hostile.py — what the server-limit tests need: a `specx serve` process,
raw HTTP/2 connections that misbehave on purpose (frames written by hand,
so a test can send what no gRPC library would: headers and nothing else,
a length prefix and no message, half a preface), a well-behaved grpcio
client that records its latencies, and the few protobuf fields involved.

Standard library and Debian's python3-grpcio only.
"""
import os
import socket
import struct
import subprocess
import threading
import time
import zlib

SYNC = "/object_detection.GRPCImage/ProcessImageSync"
STREAM = "/object_detection.GRPCImage/ProcessImageStreaming"
HEALTH = "/grpc.health.v1.Health/Check"

SCALE = float(os.environ.get("SPECX_TEST_TIMEOUT_SCALE", "1") or 1)
if SCALE <= 0:
    SCALE = 1.0

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def done():
    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        raise SystemExit(1)
    print("all checks passed")


# ---- protobuf, by hand (object_detection.Request / Response) ----------------

def _varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def request(image, req_id=0, budget_us=0):
    """object_detection.Request{image_data=1, req_id=2, deadline_budget_us=3}."""
    m = b"\x0a" + _varint(len(image)) + image
    if req_id:
        m += b"\x10" + _varint(req_id)
    if budget_us:
        m += b"\x18" + _varint(budget_us)
    return m


def fields(msg):
    """Top-level fields of a protobuf message: {number: [values]} (varints as
    ints, length-delimited as bytes, fixed as raw bytes)."""
    out, i = {}, 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(msg, i)
        elif wt == 2:
            n, i = _read_varint(msg, i)
            v, i = msg[i:i + n], i + n
        elif wt == 1:
            v, i = msg[i:i + 8], i + 8
        elif wt == 5:
            v, i = msg[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def _read_varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def png(w, h, level=6):
    """An RGB PNG of w x h (a grey gradient)."""
    row = bytes([(x * 7) & 0xFF for x in range(w * 3)])
    raw = b"".join(b"\x00" + row for _ in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, level)) + chunk(b"IEND", b""))


def png_zeros(w, h):
    """A PNG of w x h black pixels: tiny on the wire, w*h*3 bytes decoded."""
    z = zlib.compressobj(9)
    line = b"\x00" * (1 + w * 3)
    data = b"".join(z.compress(line) for _ in range(h)) + z.flush()

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


# ---- the server ---------------------------------------------------------------

class Server:
    """`specx serve --model test` on a free loopback port."""

    def __init__(self, specx, *args, nofile=None, env=None):
        def limits():
            if nofile is not None:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        e = dict(os.environ)
        # Freed memory goes back to use at once, so RSS says what is held.
        e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
        e.update(env or {})
        self.p = subprocess.Popen([specx, "serve", "--model", "test", "--port", "0",
                                   "--bind", "127.0.0.1"] + list(args),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  preexec_fn=limits, env=e, text=True)
        line = self.p.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError("server did not start: %r %s" % (line, self.p.stderr.read()))
        self.port = int(line.rsplit(":", 1)[1])
        self.err_lines = []
        threading.Thread(target=self._drain_err, daemon=True).start()

    def _drain_err(self):
        for line in self.p.stderr:
            self.err_lines.append(line)

    def rss_kb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.p.pid))

    def stop(self, timeout=30):
        """SIGTERM; returns (exit code, seconds to exit, stdout)."""
        t0 = time.time()
        self.p.terminate()
        try:
            out, _ = self.p.communicate(timeout=timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, _ = self.p.communicate()
            return -9, time.time() - t0, out
        return self.p.returncode, time.time() - t0, out

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---- a well-behaved client ------------------------------------------------------

class GoodClient:
    """Unary calls with a real PNG, one after another on its own thread, while
    a test misbehaves elsewhere; records each call's outcome and latency."""

    def __init__(self, port, period=0.05):
        import grpc
        self.grpc = grpc
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % port)
        self.call = self.ch.unary_unary(SYNC)
        self.img = png(64, 48)
        self.period = period
        self.results = []  # (ok, seconds, detail)
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def one(self, timeout=10):
        t0 = time.time()
        try:
            r = self.call(request(self.img, req_id=7), timeout=timeout * SCALE)
            f = fields(r)
            ok = f.get(2, [0])[0] == 7
            return ok, time.time() - t0, "req_id %s" % f.get(2)
        except self.grpc.RpcError as e:
            return False, time.time() - t0, "%s: %s" % (e.code(), e.details())

    def start(self):
        self.t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.results.append(self.one())
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self.t.join()
        self.ch.close()

    def assert_healthy(self, what, bound=3.0, min_calls=5):
        n = len(self.results)
        bad = [r for r in self.results if not r[0]]
        worst = max((r[1] for r in self.results), default=0)
        check(n >= min_calls and not bad,
              "%s: the well-behaved client's %d calls all succeeded%s" %
              (what, n, "" if not bad else " (first failure: %s)" % bad[0][2]))
        check(worst < bound * SCALE,
              "%s: its slowest call took %.3f s (bound %.1f s)" % (what, worst, bound * SCALE))


# ---- raw HTTP/2 ---------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 1, 4, 1


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def _hint(v, bits):
    mx = (1 << bits) - 1
    if v < mx:
        return bytes([v])
    out = [mx]
    v -= mx
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    return bytes(out + [v])


def hpack(headers):
    """Literal header fields without indexing, no Huffman coding."""
    b = b""
    for k, v in headers:
        k, v = k.encode(), v.encode()
        b += b"\x00" + _hint(len(k), 7) + k + _hint(len(v), 7) + v
    return b


def grpc_headers(path, timeout=None):
    h = [(":method", "POST"), (":scheme", "http"), (":path", path),
         (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")]
    if timeout is not None:
        h.append(("grpc-timeout", timeout))
    return hpack(h)


def grpc_message(payload):
    return struct.pack(">BI", 0, len(payload)) + payload


class Conn:
    """A raw HTTP/2 client connection. ack: answer the server's SETTINGS and
    PINGs as a real client does (a hostile one may not)."""

    def __init__(self, port, ack=True, preface=True):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.ack = ack
        self.buf = b""
        self.closed = False
        if preface:
            self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def read_frame(self, timeout):
        """(type, flags, stream, payload), or None when the server closed the
        connection; raises socket.timeout when nothing came in time."""
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    break
            try:
                d = self.s.recv(1 << 16)
            except ConnectionResetError:
                d = b""
            if not d:
                self.closed = True
                return None
            self.buf += d
        ft, fl = self.buf[3], self.buf[4]
        sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        payload = self.buf[9:9 + n]
        self.buf = self.buf[9 + n:]
        if self.ack and ft == SETTINGS and not fl & ACK:
            self.send(frame(SETTINGS, ACK, 0))
        if self.ack and ft == PING and not fl & ACK:
            self.send(frame(PING, ACK, 0, payload))
        return ft, fl, sid, payload

    def frames_until(self, pred, timeout):
        """Reads frames until pred(frame) is true (returns that frame and the
        time it took), the connection closes (None) or timeout passes
        (socket.timeout)."""
        t0 = time.time()
        while True:
            left = timeout - (time.time() - t0)
            if left <= 0:
                raise socket.timeout()
            f = self.read_frame(left)
            if f is None or pred(f):
                return f, time.time() - t0

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def trailer_status(payload):
    """grpc-status from a trailers HEADERS block written by gRPC (it sends it
    as a literal; good enough to find the digits after the name)."""
    i = payload.find(b"grpc-status")
    if i < 0:
        return None
    j = i + len(b"grpc-status")
    n = payload[j] & 0x7F
    try:
        return int(payload[j + 1:j + 1 + n])
    except ValueError:
        return None
