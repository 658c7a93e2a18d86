"""test_cli_limits.py — the `specx` command against broken input and lost
output, one scenario per ctest (docs/reliability.md lists them).

usage: test_cli_limits.py SCENARIO SPECX_BIN
  eval_labels      no labels directory, a mistyped --labels, empty labels,
                   a class id past the names (issue 11, item 7)
  run_output       --out /dev/full, an unwritable --stats-json, stdout full (8)
  truncated_video  a video cut to 30 % of its bytes (9)
  netem_profile    delay = const ms=1e308, trace file=/dev/zero (10)
  detect_fifo      `specx detect` on a FIFO (10)
  run_sigint       SIGINT while `specx run` opens its model, and mid-run,
                   against a peer that accepts TCP and never speaks HTTP/2 (10)
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from hostile import check, SCALE, done

ASSETS = os.environ.get("SPECX_SHARED_ASSETS", os.path.join(os.path.dirname(__file__),
                                                            "../../../shared/assets"))
VIDEO = os.path.join(ASSETS, "video", "udacity_test_video.mp4")
MODELS = os.path.join(ASSETS, "models")


def run(specx, args, timeout=120, **kw):
    t0 = time.time()
    p = subprocess.run([specx] + args, capture_output=True, text=True, timeout=timeout * SCALE,
                       **kw)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def eval_labels(specx):
    tmp = tempfile.mkdtemp(prefix="specx-eval-labels-")
    try:
        src = os.path.join(ASSETS, "labeled", "coco128_val")
        names = sorted(os.listdir(os.path.join(src, "images")))[:2]
        os.makedirs(os.path.join(tmp, "images"))
        for n in names:
            shutil.copy(os.path.join(src, "images", n), os.path.join(tmp, "images", n))

        def labels(sub, text_of):
            d = os.path.join(tmp, sub)
            os.makedirs(d, exist_ok=True)
            for n in names:
                stem = n.rsplit(".", 1)[0]
                with open(os.path.join(d, stem + ".txt"), "w") as f:
                    f.write(text_of(n))

        def ev(*extra):
            return run(specx, ["eval", "--dataset", tmp, "--local-model", "test", "--modes",
                               "local", "--deadlines", "100", "--fps", "0", "--quiet",
                               "--model-dir", MODELS,
                               "--out-dir", os.path.join(tmp, "out")] + list(extra))

        rc, out, err, _ = ev()
        check(rc != 0 and "label directory" in err and "labels" in err,
              "no labels/ directory: exit %d, '%s'" % (rc, err.strip()[:160]))
        labels("labels", lambda n: "0 0.5 0.5 0.2 0.2\n")
        rc, out, err, _ = ev("--labels", "lables")
        check(rc != 0 and "lables" in err and "--labels" in err,
              "a mistyped --labels: exit %d, '%s'" % (rc, err.strip()[:160]))
        labels("empty", lambda n: "")
        rc, out, err, _ = ev("--labels", "empty")
        check(rc != 0 and "no labelled objects" in err,
              "empty label files: exit %d, '%s'" % (rc, err.strip()[:160]))
        labels("badclass", lambda n: "95 0.5 0.5 0.2 0.2\n")
        rc, out, err, _ = ev("--labels", "badclass")
        check(rc != 0 and "class 95" in err,
              "class 95 with 80 names: exit %d, '%s'" % (rc, err.strip()[:160]))
        rc, out, err, _ = ev()
        check(rc == 0, "the same dataset with good labels: exit %d %s" % (rc, err.strip()[:200]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_output(specx):
    base = ["run", "--video", VIDEO, "--local-model", "test", "--fps", "0", "--frames", "5"]
    rc, out, err, _ = run(specx, base + ["--out", "/dev/full"])
    check(rc != 0 and "/dev/full" in err, "--out /dev/full: exit %d, '%s'" % (rc, err.strip()[-120:]))
    rc, out, err, _ = run(specx, base + ["--stats-json", "/nonexistent-dir/stats.json"])
    check(rc != 0 and "stats.json" in err,
          "--stats-json in a missing directory: exit %d, '%s'" % (rc, err.strip()[-120:]))
    with open("/dev/full", "w") as full:
        p = subprocess.run([specx] + base, stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=120 * SCALE)
    check(p.returncode != 0 and "summary" in p.stderr,
          "stdout on /dev/full: exit %d, '%s'" % (p.returncode, p.stderr.strip()[-120:]))
    rc, out, err, _ = run(specx, base)
    check(rc == 0 and "5 frames" in out, "the same run with somewhere to write: exit %d" % rc)


def truncated_video(specx):
    tmp = tempfile.mkdtemp(prefix="specx-trunc-")
    try:
        data = open(VIDEO, "rb").read()
        cut = os.path.join(tmp, "cut.mp4")
        with open(cut, "wb") as f:
            f.write(data[:len(data) * 3 // 10])
        rc, out, err, _ = run(specx, ["run", "--video", cut, "--local-model", "test", "--fps",
                                      "0"])
        lines = [l for l in err.splitlines() if l.strip()]
        check(rc != 0 and "truncated" in err and "of the 38 frames" in err,
              "a video cut short: exit %d, '%s'" % (rc, err.strip()[-200:]))
        check(lines and all(l.startswith("specx run:") for l in lines),
              "nothing but specx's own lines on stderr (no FFmpeg log): %s" % lines[:3])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def netem_profile(specx):
    tmp = tempfile.mkdtemp(prefix="specx-netem-")
    try:
        def prof(name, text):
            p = os.path.join(tmp, name)
            with open(p, "w") as f:
                f.write(text)
            return p
        huge = prof("huge.prof", "name = huge\ndelay = const ms=1e308\n")
        rc, out, err, secs = run(specx, ["netem", "--describe", huge, "--traffic", "1000@10",
                                         "--seconds", "10"], timeout=30)
        check(rc != 0 and "1e308" in err, "delay = const ms=1e308: exit %d, '%s'" %
              (rc, err.strip()[:160]))
        zero = prof("zero.prof", "name = zero\ndelay = trace file=/dev/zero\n")
        try:
            rc, out, err, secs = run(specx, ["netem", "--describe", zero, "--traffic", "1000@10",
                                             "--seconds", "1"], timeout=10)
            check(rc != 0 and "/dev/zero" in err and secs < 5 * SCALE,
                  "trace file=/dev/zero: exit %d after %.2f s, '%s'" % (rc, secs, err.strip()[:160]))
        except subprocess.TimeoutExpired:
            check(False, "trace file=/dev/zero: no answer in 10 s")
        # The proxy itself refuses such a profile at start.
        try:
            rc, out, err, secs = run(specx, ["netem", "--listen", "0", "--target",
                                             "127.0.0.1:9", "--profile", huge], timeout=10)
            check(rc != 0, "specx netem --listen with that profile: refused, exit %d" % rc)
        except subprocess.TimeoutExpired:
            check(False, "specx netem --listen with that profile: started serving it")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def detect_fifo(specx):
    tmp = tempfile.mkdtemp(prefix="specx-fifo-")
    try:
        fifo = os.path.join(tmp, "frame.jpg")
        os.mkfifo(fifo)
        try:
            rc, out, err, secs = run(specx, ["detect", fifo, "--model", "test"], timeout=10)
            check(rc != 0 and "regular file" in err and secs < 5 * SCALE,
                  "specx detect on a FIFO: exit %d after %.2f s, '%s'" % (rc, secs, err.strip()))
        except subprocess.TimeoutExpired:
            check(False, "specx detect on a FIFO: still waiting after 10 s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class MutePeer:
    """Accepts TCP connections and never says anything."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(64)
        self.port = self.s.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)


def ignore_sigint():
    # A background job of a script starts with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def loaded(pid, lib):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return lib in f.read()
    except OSError:
        return False


def run_sigint(specx):
    peer = MutePeer()
    for spec in ("", ",stream"):
        # SIGINT while the model loads (libdarknet is loaded then): it must
        # not be lost, also in a process that inherited SIGINT ignored.
        p = subprocess.Popen([specx, "run", "--video", VIDEO, "--mode", "sync",
                              "--local-model", "yolo-fastest-1.1", "--backend", "darknet",
                              "--model-dir", MODELS, "--server",
                              "127.0.0.1:%d%s" % (peer.port, spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=ignore_sigint)
        t0 = time.time()
        while not loaded(p.pid, "libdarknet") and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.005)  # no event tells another process's dlopen
        p.send_signal(signal.SIGINT)
        t1 = time.time()
        try:
            out, err = p.communicate(timeout=60 * SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        secs = time.time() - t1
        check("interrupted" in err and "38 frames" not in out,
              "server%s, SIGINT while the model loads: stopped (exit %d, %.1f s later): %s" %
              (spec, p.returncode, secs, err.strip().splitlines()[-1:] or "nothing"))
        # SIGINT mid-run: out within 3 s, whatever the silent peer does.
        p = subprocess.Popen([specx, "run", "--video", VIDEO, "--fps", "5", "--mode", "sync",
                              "--local-model", "test", "--server",
                              "127.0.0.1:%d%s" % (peer.port, spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        t1 = time.time()
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=30 * SCALE)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        secs = time.time() - t1
        check("interrupted" in err and secs < 3 * SCALE,
              "server%s, SIGINT mid-run: out %.2f s later" % (spec, secs))


def main():
    scenario, specx = sys.argv[1], sys.argv[2]
    {"eval_labels": eval_labels, "run_output": run_output, "truncated_video": truncated_video,
     "netem_profile": netem_profile, "detect_fifo": detect_fifo,
     "run_sigint": run_sigint}[scenario](specx)
    done()


if __name__ == "__main__":
    main()
