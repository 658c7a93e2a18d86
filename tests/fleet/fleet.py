"""fleet.py — what the fleet tests and their harness share: `specx serve`
replicas as processes (started, restarted on the same port, stopped with a
signal), nginx in front of them from deploy/nginx/nginx.conf (own prefix,
loopback, no daemon), `specx run` over a directory of small frames, and the
reading of its JSON lines and summary.

Every process started here is ended when the interpreter exits. Waits scale
with SPECX_TEST_TIMEOUT_SCALE like the C tests' (tests/common/test_timeout.h).
Standard library only; /usr/bin/python3."""
import atexit
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib

try:
    SCALE = float(os.environ.get("SPECX_TEST_TIMEOUT_SCALE", "1"))
except ValueError:
    SCALE = 1.0
if SCALE <= 0:
    SCALE = 1.0
SOURCE_DIR = os.environ.get(
    "SPECX_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

_children = []


def _reap_all():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_reap_all)


def scaled(seconds):
    return seconds * SCALE


def spawn(argv, **kw):
    """Popen that is killed at exit if still running."""
    p = subprocess.Popen(argv, **kw)
    _children.append(p)
    return p


def free_port():
    """A TCP port nobody listens on now (the usual small race applies)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_line(f, timeout):
    """One line from a pipe within timeout seconds, or None."""
    end = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        ch = os.read(fd, 1)
        if not ch:
            return buf.decode() if buf else None
        buf += ch
    return buf.decode()


class Replica:
    """One `specx serve --model test:delay_ms=N` process on 127.0.0.1."""

    def __init__(self, specx, workdir, name, delay_ms=10, extra=(), port=0):
        self.specx, self.workdir, self.name = specx, workdir, name
        self.delay_ms, self.extra, self.port = delay_ms, list(extra), port
        self.stats_path = os.path.join(workdir, name + ".stats.json")
        self.proc = None
        self.starts = 0

    def start(self):
        argv = [self.specx, "serve", "--bind", "127.0.0.1", "--port", str(self.port),
                "--model", "test:delay_ms=%d" % self.delay_ms,
                "--stats-json", self.stats_path, "--stats-interval", "0.2"] + self.extra
        self.err = open(os.path.join(self.workdir, "%s.%d.err" % (self.name, self.starts)), "w")
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=self.err)
        self.starts += 1
        line = read_line(self.proc.stdout, scaled(30))
        if line is None or not line.startswith("listening on "):
            raise AssertionError("%s did not start: %r" % (self.name, line))
        port = int(line.strip().rsplit(":", 1)[1])
        assert self.port in (0, port), (self.port, port)
        self.port = port
        return self

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends sig and waits for the exit; returns the exit code (-N for a
        signal) and the stdout after the listening line."""
        self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError("%s did not exit within %.0f s of signal %d" %
                                 (self.name, scaled(timeout), sig))
        self.err.close()
        return self.proc.returncode, out.decode()

    def stats(self):
        """The latest --stats-json object (written every 0.2 s and at exit)."""
        with open(self.stats_path) as f:
            return json.load(f)


class Nginx:
    """deploy/nginx/nginx.conf in a prefix of its own, listening on a free
    loopback port, with the given replicas in replicas.conf."""

    def __init__(self, workdir, replicas):
        self.prefix = os.path.join(workdir, "nginx")
        os.makedirs(self.prefix, exist_ok=True)
        self.port = free_port()
        with open(os.path.join(SOURCE_DIR, "deploy/nginx/nginx.conf")) as f:
            conf = f.read()
        assert "listen 8080 http2;" in conf, "deploy/nginx/nginx.conf has no 'listen 8080 http2;'"
        # One worker: a loaded 2-core machine; the balancing is the same.
        conf = conf.replace("listen 8080 http2;", "listen 127.0.0.1:%d http2;" % self.port)
        conf = conf.replace("worker_processes auto;", "worker_processes 1;")
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(conf)
        with open(os.path.join(self.prefix, "replicas.conf"), "w") as f:
            for r in replicas:
                f.write("server %s max_fails=1 fail_timeout=1s;\n" % r.addr())
        self.proc = None

    @staticmethod
    def binary():
        for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
            if p and os.access(p, os.X_OK):
                return p
        raise AssertionError("nginx not found (scripts/install-deps.sh installs Debian's nginx)")

    def start(self):
        conf = os.path.join(self.prefix, "nginx.conf")
        self.err = open(os.path.join(self.prefix, "stderr.txt"), "w")
        self.proc = spawn([self.binary(), "-p", self.prefix, "-c", conf, "-e", "stderr",
                           "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=self.err)
        end = time.monotonic() + scaled(20)
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: " + open(self.err.name).read())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not listen on %d" % self.port)

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)  # graceful
        try:
            self.proc.wait(timeout=scaled(20))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()

    def access_log(self):
        path = os.path.join(self.prefix, "access.log")
        return open(path).read().splitlines() if os.path.exists(path) else []


def _png(w, h, seed):
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 3 + seed) % 256 for x in range(w * 3))
                    for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def frame_dir(workdir, n, w=64, h=48):
    """A directory of n frames for `specx run --video DIR` (one small PNG
    and n - 1 links to it): decoding and encoding them costs next to
    nothing, so the runs measure the servers, not this machine's CPU."""
    d = os.path.join(workdir, "frames%d" % n)
    if os.path.isdir(d):
        return d
    os.makedirs(d)
    with open(os.path.join(d, "f000000.png"), "wb") as f:
        f.write(_png(w, h, 1))
    for i in range(1, n):
        os.symlink("f000000.png", os.path.join(d, "f%06d.png" % i))
    return d


class Run:
    """`specx run` over a frame directory as a process; its JSON lines go to
    a file that the test may read while it runs."""

    def __init__(self, specx, workdir, name, server, frames, fps, deadline_ms,
                 local="test:delay_ms=1", extra=(), nice=0):
        self.out = os.path.join(workdir, name + ".jsonl")
        self.summary = os.path.join(workdir, name + ".json")
        self.errpath = os.path.join(workdir, name + ".err")
        video = frame_dir(workdir, frames)
        servers = server if isinstance(server, (list, tuple)) else [server]
        argv = [specx, "run", "--video", video, "--fps", str(fps), "--frames", str(frames),
                "--deadline", str(deadline_ms), "--out", self.out, "--stats-json", self.summary]
        if local:
            argv += ["--local-model", local]
        for s in servers:
            argv += ["--server", s]
        self.argv = (["nice", "-n", str(nice)] if nice else []) + argv + list(extra)
        self.proc = None

    def start(self):
        self.err = open(self.errpath, "w")
        self.proc = spawn(self.argv, stdout=subprocess.DEVNULL, stderr=self.err)
        return self

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("specx run did not finish within %.0f s" % scaled(timeout))
        self.err.close()
        if rc != 0:
            raise AssertionError("specx run exit %d: %s" % (rc, open(self.errpath).read()[-2000:]))
        return self

    def run(self, timeout):
        return self.start().wait(timeout)

    def outputs_so_far(self):
        """Number of complete JSON lines written."""
        try:
            with open(self.out, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def lines(self):
        with open(self.out) as f:
            return [json.loads(line) for line in f if line.strip()]

    def summary_json(self):
        with open(self.summary) as f:
            return json.load(f)


def remote_entries(line):
    """The (name, entry) of every remote executor in one JSON line."""
    return [(n, e) for n, e in line["executors"].items() if n != "local"]


def check_one_output_per_frame(lines, frames):
    idx = [ln["frame"] for ln in lines]
    assert len(idx) == frames, "%d outputs for %d frames" % (len(idx), frames)
    assert sorted(idx) == list(range(frames)), "frames missing or repeated"


def cloud_win_share(summary):
    """Fraction of frames a remote executor won."""
    wins = summary["wins"]
    remote = sum(v for k, v in wins.items() if k != "local")
    return remote / summary["frames"] if summary["frames"] else 0.0


_tmpdirs = []


def _remove_tmpdirs():
    if not os.environ.get("SPECX_KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_remove_tmpdirs)  # runs after _reap_all (registered first)


def tmpdir(tag):
    """A scratch directory, removed at exit (kept when SPECX_KEEP_TMP is set)."""
    d = tempfile.mkdtemp(prefix="specx-fleet-%s-" % tag)
    _tmpdirs.append(d)
    return d
