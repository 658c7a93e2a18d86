#!/usr/bin/python3
"""Replay against live: compare two `specx eval` output directories, or
measure the host overhead of a live run.

  replay_vs_live.py compare LIVE_DIR REPLAY_DIR [--map-tol T] [--share-tol S]
      Per mode and deadline: mAP@0.5 and the cloud's share of frames, each
      the mean over the runs' repeats (results.csv), live next to replay, as
      a Markdown table; exit status 1 if any row is outside the tolerances
      (default 0.01 mAP@0.5 and 0.05 share).

  replay_vs_live.py overhead LIVE_DIR REPLAY0_DIR OUT
      The software path's time per cloud call in the live run: for every
      frame of every cloud-unbounded run of LIVE_DIR, its latency minus its
      server compute time (results.json frame_compute_ms) minus the latency
      the replay in REPLAY0_DIR gave the same frame and seed with zero
      compute (encoding, link, connection set-up). One ms value per line in
      OUT, for `specx eval --replay --host-overhead-ms OUT`.
"""
import csv
import json
import sys


def means(path):
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            key = (r["mode"], float(r["deadline_ms"]))
            m, s, n = rows.get(key, (0.0, 0.0, 0))
            rows[key] = (m + float(r["map50"]), s + float(r.get("won_cloud", 0) or 0), n + 1)
    return {k: (m / n, s / n, n) for k, (m, s, n) in rows.items()}


def compare(live_dir, replay_dir, map_tol, share_tol):
    live = means(f"{live_dir}/results.csv")
    rep = means(f"{replay_dir}/results.csv")
    order = ["local", "cloud", "speculative", "cloud-unbounded"]
    keys = sorted(set(live) & set(rep), key=lambda k: (order.index(k[0]) if k[0] in order else 9, k[1]))
    print("| mode | deadline ms | mAP@0.5 live | replay | Δ | cloud % live | replay | Δ (points) | within |")
    print("|---|---|---|---|---|---|---|---|---|")
    # cloud-unbounded ignores the deadline: its runs at every deadline are
    # one row (the first), and only the rows shown are counted
    unbounded = [k for k in keys if k[0] == "cloud-unbounded"]
    keys = [k for k in keys if k[0] != "cloud-unbounded"] + unbounded[:1]
    bad = 0
    for k in keys:
        (lm, ls, _), (rm, rs, _) = live[k], rep[k]
        ok = abs(rm - lm) <= map_tol + 1e-12 and abs(rs - ls) <= share_tol + 1e-12
        bad += not ok
        dl = "none" if k[0] == "cloud-unbounded" else f"{k[1]:g}"
        print(f"| {k[0]} | {dl} | {lm:.3f} | {rm:.3f} | {rm - lm:+.3f} | {100 * ls:.1f} | "
              f"{100 * rs:.1f} | {100 * (rs - ls):+.1f} | {'yes' if ok else '**no**'} |")
    print(f"\n{len(keys) - bad} of {len(keys)} rows within {map_tol} mAP@0.5 and "
          f"{100 * share_tol:g} points of cloud share" if keys else "no common rows")
    return 0 if keys and bad == 0 else 1


def unbounded_runs(path):
    with open(path) as f:
        r = json.load(f)
    runs = {}
    for run in r["runs"]:
        if run["mode"] == "cloud-unbounded":
            runs.setdefault(run["repeat"], run)
    return runs


def overhead(live_dir, replay0_dir, out):
    live = unbounded_runs(f"{live_dir}/results.json")
    rep = unbounded_runs(f"{replay0_dir}/results.json")
    samples = []
    for k, run in sorted(live.items()):
        if k not in rep:
            continue
        for lat, comp, base in zip(run["frame_latency_ms"], run["frame_compute_ms"],
                                   rep[k]["frame_latency_ms"]):
            if lat is not None and comp is not None and base is not None:
                samples.append(max(0.0, lat - comp - base))
    if not samples:
        print("no cloud-unbounded frames in common", file=sys.stderr)
        return 1
    with open(out, "w") as f:
        f.write("# host overhead per cloud call (ms): live latency - server compute - "
                "replay latency at zero compute\n")
        for v in samples:
            f.write(f"{v:.3f}\n")
    s = sorted(samples)
    n = len(s)
    print(f"{n} samples: p10 {s[n // 10]:.1f}, p50 {s[n // 2]:.1f}, p90 {s[9 * n // 10]:.1f} ms")
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "compare":
        map_tol, share_tol = 0.01, 0.05
        rest = argv[4:]
        while rest:
            if rest[0] == "--map-tol":
                map_tol = float(rest[1])
            elif rest[0] == "--share-tol":
                share_tol = float(rest[1])
            else:
                break
            rest = rest[2:]
        return compare(argv[2], argv[3], map_tol, share_tol)
    if len(argv) == 5 and argv[1] == "overhead":
        return overhead(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
