#!/usr/bin/python3
"""Markdown tables for docs/results.md from the summary.csv files of a sweep
(docs/results.md, "Commands").

  make_tables.py SWEEP_DIR SET table [DEADLINES]
      per link and frame rate: local, cloud, speculative and the
      cloud-unbounded ceiling (mAP@0.5 [95 % CI]), speculative minus the
      better of local and cloud, and the latency p50 of local and
      speculative, at the given deadlines (default 27,52.4,102,197,382,741,2000)
  make_tables.py SWEEP_DIR all count
      over every set, link, frame rate and deadline: how many cells have
      speculative above both, below the better, level
  make_tables.py SWEEP_DIR SET verdicts
      per link and frame rate: the deadlines at which speculative is above
      both (the interval of spec - max(local, cloud) above 0), below the
      better (below 0), and level otherwise
"""
import csv
import sys

LINKS = ["5g-sf", "lte", "lan"]
FPS = [10, 30]


def load(path):
    cells, gains = {}, {}
    with open(path) as f:
        for r in csv.DictReader(f):
            d = float(r["deadline_ms"])
            if r["kind"] == "cell":
                cells[(r["mode"], d)] = r
            elif r["kind"] == "gain_vs_best":
                gains[d] = (float(r["map50"]), float(r["map50_lo"]), float(r["map50_hi"]))
    return cells, gains


def ci(r, k, fmt="{:.3f}"):
    return f"{fmt.format(float(r[k]))} [{fmt.format(float(r[k + '_lo']))}, {fmt.format(float(r[k + '_hi']))}]"


def table(sweep, name, deadlines):
    for link in LINKS:
        for fps in FPS:
            cells, gains = load(f"{sweep}/{name}-{link}-{fps}/summary.csv")
            have = sorted({d for (_, d) in cells})
            print(f"\n**{link}, {fps} fps**\n")
            print("| deadline ms | local | cloud | speculative | spec − max(local, cloud) | cloud won (spec) | p50 ms local / spec |")
            print("|---|---|---|---|---|---|---|")
            for want in deadlines:
                d = min(have, key=lambda x: abs(x - want))
                lo, cl, sp = cells[("local", d)], cells[("cloud", d)], cells[("speculative", d)]
                g = gains[d]
                won = f"{100 * float(sp['won_cloud']):.0f} %"
                print(f"| {d:g} | {ci(lo, 'map50')} | {ci(cl, 'map50')} | {ci(sp, 'map50')} | "
                      f"{g[0]:+.3f} [{g[1]:+.3f}, {g[2]:+.3f}] | {won} | "
                      f"{float(lo['latency_p50_ms']):.0f} / {float(sp['latency_p50_ms']):.0f} |")
            ub = cells[("cloud-unbounded", have[0])]
            print(f"\ncloud-unbounded (the ceiling): {ci(ub, 'map50')}, latency p50 "
                  f"{float(ub['latency_p50_ms']):.0f} ms, p90 {float(ub['latency_p90_ms']):.0f} ms")


def ranges(ds):
    return ", ".join(f"{d:g}" for d in ds) if ds else "—"


def verdicts(sweep, name):
    print("| link | fps | above both at (ms) | below the better at (ms) | largest gain over the better |")
    print("|---|---|---|---|---|")
    for link in LINKS:
        for fps in FPS:
            _, gains = load(f"{sweep}/{name}-{link}-{fps}/summary.csv")
            above = [d for d, g in sorted(gains.items()) if g[1] > 0]
            below = [d for d, g in sorted(gains.items()) if g[2] < 0]
            best = max(gains.items(), key=lambda kv: kv[1][0])
            print(f"| {link} | {fps} | {ranges(above)} | {ranges(below)} | "
                  f"{best[1][0]:+.3f} [{best[1][1]:+.3f}, {best[1][2]:+.3f}] at {best[0]:g} ms |")


SETS = ["coco128", "kitti", "video-test", "video-white"]


def count(sweep):
    print("| frame set | cells | above both | below the better | level | spec − max, lowest estimate |")
    print("|---|---|---|---|---|---|")
    tot = [0, 0, 0, 0]
    for name in SETS:
        n = above = below = 0
        low = (1.0, 0.0, 0.0, "")
        for link in LINKS:
            for fps in FPS:
                _, gains = load(f"{sweep}/{name}-{link}-{fps}/summary.csv")
                for d, g in gains.items():
                    n += 1
                    above += g[1] > 0
                    below += g[2] < 0
                    if g[0] < low[0]:
                        low = (g[0], g[1], g[2], f"{link} {fps} fps {d:g} ms")
        level = n - above - below
        tot = [tot[0] + n, tot[1] + above, tot[2] + below, tot[3] + level]
        print(f"| {name} | {n} | {above} | {below} | {level} | "
              f"{low[0]:+.3f} [{low[1]:+.3f}, {low[2]:+.3f}] ({low[3]}) |")
    print(f"| all | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} | |")


def main(argv):
    if len(argv) == 4 and argv[2] == "all" and argv[3] == "count":
        count(argv[1])
        return 0
    if len(argv) >= 4 and argv[3] == "table":
        dl = [float(x) for x in (argv[4] if len(argv) > 4 else "27,52.4,102,197,382,741,2000").split(",")]
        table(argv[1], argv[2], dl)
        return 0
    if len(argv) == 4 and argv[3] == "verdicts":
        verdicts(argv[1], argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
