#!/usr/bin/python3
"""calibrate_netem.py — refits a profile's uplink delay knots so that what
requests experience under its reference traffic matches its round-trip
targets. Not part of the suite: it is how the built-in profiles' knots were
found (docs/netem.md, "Calibration").

The profile (built-in name or file) must have `up.delay = quantiles ...` with
one knot per quantile of `target_rtt_ms`, and a `reference_traffic`. Each
evaluation runs `specx netem --describe --json` over HOURS of virtual time
with one fixed seed (common random numbers: the delay process depends on the
seed and time only, so the simulated quantiles are a smooth function of the
knots), and Newton's method on the log-knots, with a finite-difference
Jacobian, drives log(simulated / target) to zero.

Usage: calibrate_netem.py SPECX PROFILE [--hours H] [--seed S]
Prints the fitted `up.delay` line and the quantiles it gives.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile


def profile_text(specx, name):
    if os.path.exists(name):
        with open(name) as f:
            return f.read()
    return subprocess.run([specx, "netem", "--show", name], capture_output=True, text=True,
                          check=True).stdout


def parse(text):
    targets = re.search(r"^target_rtt_ms\s*=\s*(.*)$", text, re.M)
    delay = re.search(r"^up\.delay\s*=\s*quantiles\s+(.*)$", text, re.M)
    if not targets or not delay:
        sys.exit("profile needs target_rtt_ms and up.delay = quantiles ...")
    tq = {float(k[1:]): float(v) for k, v in re.findall(r"(p[\d.]+)=([\d.]+)", targets.group(1))}
    knots = {}
    rest = []
    for tok in delay.group(1).split():
        m = re.fullmatch(r"p([\d.]+)=([\d.]+)", tok)
        if m:
            knots[float(m.group(1))] = float(m.group(2))
        else:
            rest.append(tok)
    if sorted(knots) != sorted(tq):
        sys.exit("up.delay knots %s must sit at the target quantiles %s" % (sorted(knots), sorted(tq)))
    return tq, knots, " ".join(rest), delay


def with_knots(text, delay_match, qs, logk, rest):
    line = "up.delay = quantiles " + " ".join(
        "p%g=%.4g" % (q, math.exp(v)) for q, v in zip(qs, logk)) + (" " + rest if rest else "")
    return text[:delay_match.start()] + line + text[delay_match.end():], line


def evaluate(specx, text, seconds, seed):
    with tempfile.NamedTemporaryFile("w", suffix=".prof", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        out = subprocess.run([specx, "netem", "--describe", path, "--json", "--seconds",
                              str(seconds), "--seed", str(seed)],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    return json.loads(out)["rtt_ms"]


def solve(a, b):
    """Gaussian elimination with partial pivoting: a x = b."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        if abs(m[c][c]) < 1e-12:
            raise ZeroDivisionError("singular Jacobian")
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                for k in range(c, n + 1):
                    m[r][k] -= f * m[c][k]
    return [m[i][n] / m[i][i] for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("specx")
    ap.add_argument("profile")
    ap.add_argument("--hours", type=float, default=1000)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--tol", type=float, default=0.003, help="max |log(sim/target)|")
    args = ap.parse_args()
    text = profile_text(args.specx, args.profile)
    tq, knots, rest, dm = parse(text)
    qs = sorted(tq)
    logk = [math.log(knots[q]) for q in qs]
    seconds = args.hours * 3600

    def resid(lk):
        t, _ = with_knots(text, dm, qs, lk, rest)
        r = evaluate(args.specx, t, seconds, args.seed)
        return [math.log(r["p%g" % q] / tq[q]) for q in qs], r

    for it in range(12):
        f, r = resid(logk)
        print("iteration %d: knots %s -> %s" % (
            it, ["%.4g" % math.exp(v) for v in logk], {"p%g" % q: r["p%g" % q] for q in qs}),
            flush=True)
        if max(abs(x) for x in f) < args.tol:
            break
        jac = [[0.0] * len(qs) for _ in qs]
        for j in range(len(qs)):
            lk = list(logk)
            lk[j] += 0.03
            f2, _ = resid(lk)
            for i in range(len(qs)):
                jac[i][j] = (f2[i] - f[i]) / 0.03
        step = solve(jac, [-x for x in f])
        big = max(abs(x) for x in step)
        if big > 0.5:
            step = [x * 0.5 / big for x in step]
        logk = [a + b for a, b in zip(logk, step)]
        for i in range(1, len(logk)):  # knots must increase
            logk[i] = max(logk[i], logk[i - 1] + 0.01)
    print(with_knots(text, dm, qs, logk, rest)[1])


if __name__ == "__main__":
    main()
