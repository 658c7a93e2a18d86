#!/usr/bin/python3
"""Markdown tables for docs/results.md from the summary.csv files of a sweep
written by docs/results/sweep.sh (one directory SET-LINK-FPS per
`specx eval --replay`).

  make_tables.py SWEEP headline SET [DEADLINES]
      per link and frame rate, at the given deadlines (default 52.4,102,197,
      the sweep's points nearest 50, 100 and 200 ms): local, cloud,
      speculative and cloud-unbounded mAP@0.5 [95 % CI], speculative minus
      the better of local and cloud, the cloud's share of speculative's
      frames, speculative's latency p50 / p90
  make_tables.py SWEEP full
      every set, link, frame rate and deadline (the generated
      docs/results/tables-*.md)
  make_tables.py SWEEP count
      over every set, link, frame rate and deadline: how many cells have
      speculative above both, below the better, level
  make_tables.py SWEEP verdicts
      per set, link and frame rate: the deadlines at which speculative is
      above both (the interval of spec - max(local, cloud) above 0), below
      the better (below 0), the largest gain, and what the rule costs in
      latency (speculative's p50 minus local's, at the smallest deadline
      where speculative is within 0.005 of the ceiling)
  make_tables.py SWEEP notes
      the compute distributions, JPEG sizes and wall times of the sweep
"""
import csv
import os
import re
import sys

LINKS = ["5g-sf", "lte", "lan"]
FPS = [10, 30]
SETS = ["coco128", "kitti", "video-test", "video-white"]
SET_NAMES = {"coco128": "COCO128 val (labels)", "kitti": "KITTI tiny (labels)",
             "video-test": "udacity_test_video (golden)",
             "video-white": "udacity_solidWhiteRight (golden)"}


def load(sweep, name, link, fps):
    cells, gains = {}, {}
    with open(f"{sweep}/{name}-{link}-{fps}/summary.csv") as f:
        for r in csv.DictReader(f):
            d = float(r["deadline_ms"])
            if r["kind"] == "cell":
                cells[(r["mode"], d)] = r
            elif r["kind"] == "gain_vs_best":
                gains[d] = (float(r["map50"]), float(r["map50_lo"]), float(r["map50_hi"]))
    return cells, gains


def ci(r, k):
    return f"{float(r[k]):.3f} [{float(r[k + '_lo']):.3f}, {float(r[k + '_hi']):.3f}]"


def gain(g):
    return f"{g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}]"


def ms(r, k):
    v = float(r[k])
    return "—" if v != v else f"{v:.0f}"


def nearest(have, want):
    return min(have, key=lambda x: abs(x - want))


def rows(sweep, name, deadlines, with_set=False):
    for link in LINKS:
        for fps in FPS:
            cells, gains = load(sweep, name, link, fps)
            have = sorted({d for (_, d) in cells})
            ub = cells[("cloud-unbounded", have[0])]
            for want in deadlines:
                d = nearest(have, want)
                lo, cl, sp = cells[("local", d)], cells[("cloud", d)], cells[("speculative", d)]
                lead = f"| {name} " if with_set else ""
                print(f"{lead}| {link} | {fps} | {d:g} | {ci(lo, 'map50')} | {ci(cl, 'map50')} | "
                      f"{ci(sp, 'map50')} | {gain(gains[d])} | {ci(ub, 'map50')} | "
                      f"{100 * float(sp['won_cloud']):.0f} % | {ms(sp, 'latency_p50_ms')} / "
                      f"{ms(sp, 'latency_p90_ms')} |")


HEAD = ("| link | fps | deadline ms | local | cloud | speculative | spec − max(local, cloud) | "
        "cloud-unbounded | cloud's share (spec) | spec p50 / p90 ms |")
RULE = "|---|---|---|---|---|---|---|---|---|---|"


def headline(sweep, name, deadlines):
    print(HEAD)
    print(RULE)
    rows(sweep, name, deadlines)


def full(sweep):
    head = open(f"{sweep}/{SETS[0]}-{LINKS[0]}-{FPS[0]}/table.txt").read().split("\n")[1]
    cloud = re.findall(r"compute ([^;]*?\(p50 [0-9.]+ ms\))", head)[1]
    print("# Every cell of a replay sweep\n")
    print("Written by `docs/results/make_tables.py SWEEP full` from the output of "
          "`docs/results/sweep.sh` (see [../results.md](../results.md)). mAP@0.5 [95 % CI] "
          "for the four modes at every deadline, 20 seeds each; the cloud's compute time: "
          f"{cloud}.")
    for name in SETS:
        cells, _ = load(sweep, name, LINKS[0], FPS[0])
        have = sorted({d for (_, d) in cells})
        print(f"\n## {SET_NAMES[name]}\n")
        print(HEAD)
        print(RULE)
        rows(sweep, name, have)
        print("\ncloud-unbounded latency p50 / p90 ms: " + "; ".join(
            f"{link} {fps} fps {ms(u, 'latency_p50_ms')} / {ms(u, 'latency_p90_ms')}"
            for link in LINKS for fps in FPS
            for u in [load(sweep, name, link, fps)[0][("cloud-unbounded", have[0])]]))


def listing(ds):
    return ", ".join(f"{d:g}" for d in ds) if ds else "—"


def latency_cost(cells, have):
    """spec p50 - local p50 at the smallest deadline within 0.005 of the ceiling"""
    ceiling = float(cells[("cloud-unbounded", have[0])]["map50"])
    for d in have:
        sp = cells[("speculative", d)]
        if float(sp["map50"]) >= ceiling - 0.005:
            lo = cells[("local", d)]
            return (f"{d:g} ms: p50 {float(sp['latency_p50_ms']):.0f} ms "
                    f"({float(sp['latency_p50_ms']) - float(lo['latency_p50_ms']):+.0f})")
    return "never"


def verdicts(sweep):
    print("| frames | link | fps | above both at (ms) | below the better at (ms) | "
          "largest gain over the better | within 0.005 of the ceiling from |")
    print("|---|---|---|---|---|---|---|")
    for name in SETS:
        for link in LINKS:
            for fps in FPS:
                cells, gains = load(sweep, name, link, fps)
                have = sorted({d for (_, d) in cells})
                above = [d for d, g in sorted(gains.items()) if g[1] > 0]
                below = [d for d, g in sorted(gains.items()) if g[2] < 0]
                best = max(gains.items(), key=lambda kv: kv[1][0])
                print(f"| {name} | {link} | {fps} | {listing(above)} | {listing(below)} | "
                      f"{gain(best[1])} at {best[0]:g} ms | {latency_cost(cells, have)} |")


def count(sweep):
    print("| frames | cells | above both | below the better | level | "
          "spec − max, lowest estimate |")
    print("|---|---|---|---|---|---|")
    tot = [0, 0, 0, 0]
    for name in SETS:
        n = above = below = 0
        low = (1.0, 0.0, 0.0, "")
        for link in LINKS:
            for fps in FPS:
                _, gains = load(sweep, name, link, fps)
                for d, g in gains.items():
                    n += 1
                    above += g[1] > 0
                    below += g[2] < 0
                    if g[0] < low[0]:
                        low = (g[0], g[1], g[2], f"{link} {fps} fps {d:g} ms")
        level = n - above - below
        tot = [tot[0] + n, tot[1] + above, tot[2] + below, tot[3] + level]
        print(f"| {name} | {n} | {above} | {below} | {level} | {gain(low[:3])} ({low[3]}) |")
    print(f"| all | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} | |")


def notes(sweep):
    total = 0
    for name in SETS:
        for link in LINKS:
            for fps in FPS:
                d = f"{sweep}/{name}-{link}-{fps}"
                wall = int(open(f"{d}/wall.txt").read()) if os.path.exists(f"{d}/wall.txt") else 0
                total += wall
                head = open(f"{d}/table.txt").read().split("\n")[1]
                comp = re.findall(r"compute ([^;]*?\(p50 [0-9.]+ ms\))", head)
                jpeg = re.search(r"frames (?:sent )?([^;]*?encode p50 [0-9.]+ ms\))", head)
                frames = re.search(r"; (\d+) frames of", head)
                if link == LINKS[0] and fps == FPS[0]:
                    print(f"* {name}: {frames.group(1)} frames; local {comp[0]}; cloud {comp[1]}; "
                          f"sent {jpeg.group(1)}")
    print(f"* wall time of the sweep: {total} s")


def main(argv):
    if len(argv) >= 4 and argv[2] == "headline":
        dl = [float(x) for x in (argv[4] if len(argv) > 4 else "52.4,102,197").split(",")]
        headline(argv[1], argv[3], dl)
    elif len(argv) == 3 and argv[2] in ("full", "count", "verdicts", "notes"):
        {"full": full, "count": count, "verdicts": verdicts, "notes": notes}[argv[2]](argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
