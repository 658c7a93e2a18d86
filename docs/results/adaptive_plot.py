#!/usr/bin/python3
"""adaptive_plot.py OUT DOCDIR — figures and tables for docs/results.md,
"Adaptive deadlines", from the runs of adaptive_runs.sh.

For each frame set x link x fps it reads summary.csv (estimates and 95 %
bootstrap intervals of mAP@0.5 and mean latency) of the fixed deadline
(mode speculative), local, cloud-unbounded and the adaptive deadline at each
target, and results.json of the first run for a clairvoyant bound. Writes
DOCDIR/adaptive-SET.svg (mAP@0.5 against mean latency, one curve per
policy, one panel per link and fps) and prints the Markdown tables.

Comparisons:
  * at equal mAP along the curves: the fixed deadline's mean latency at the
    adaptive point's mAP, interpolated linearly between neighbouring fixed
    points (local counts as the fixed point of deadline 0); alternating
    between two fixed deadlines reaches any point of that segment;
  * the goal's test: the best fixed deadline (highest mAP@0.5) against every
    adaptive point whose mAP estimate lies inside the best fixed one's
    interval;
  * clairvoyant bound at a fixed deadline: a plan that knew which frames'
    cloud answers arrive in time would wait for exactly those (the same
    answers, so the same mAP) and send the local answer at once on the
    others (head-of-line waits ignored, so a lower bound on its latency).
"""
import csv
import json
import math
import os
import sys

TARGETS = ["0.5", "0.8", "0.95"]
SETS = [("swr", "udacity_solidWhiteRight (golden)"), ("testvideo", "udacity_test_video (golden)"),
        ("kitti", "KITTI tiny (labels)"), ("coco", "COCO128 val (labels)")]
LINKS = ["5g-sf", "lte"]
FPS = ["10", "30"]
COLORS = {"fixed": "#000000", "0.5": "#E69F00", "0.8": "#0072B2", "0.95": "#D55E00"}


def cells(path):
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["kind"] != "cell":
                continue
            g = lambda k: tuple(float(row[k + s]) for s in ("", "_lo", "_hi"))
            out[(row["mode"], float(row["deadline_ms"]))] = {"map": g("map50"),
                                                             "lat": g("latency_mean_ms")}
    return out


def clairvoyant(path):
    """Mean latency of the clairvoyant plan per deadline (see the top)."""
    j = json.load(open(path))
    local = {}
    for r in j["runs"]:
        if r["mode"] == "local":
            local[r["repeat"]] = r["frame_latency_ms"]
    acc = {}
    for r in j["runs"]:
        if r["mode"] != "speculative":
            continue
        s, n = acc.get(r["deadline_ms"], (0.0, 0))
        for f, (lat, win) in enumerate(zip(r["frame_latency_ms"], r["frame_winner"])):
            v = lat if win == 0 else local[r["repeat"]][f]
            if v is not None:
                s, n = s + v, n + 1
        acc[r["deadline_ms"]] = (s, n)
    return {d: s / n for d, (s, n) in acc.items()}


def load(out, tag, link, fps):
    base = os.path.join(out, "%s-%s-%s" % (tag, link, fps))
    c = cells(base + "-p0.5/summary.csv")
    cfg = {"fixed": sorted(((d, v) for (m, d), v in c.items() if m == "speculative")),
           "local": next(v for (m, _), v in c.items() if m == "local"),
           "cloud": next(v for (m, _), v in c.items() if m == "cloud-unbounded"),
           "bound": clairvoyant(base + "-p0.5/results.json")}
    for t in TARGETS:
        ct = c if t == "0.5" else cells(base + "-p%s/summary.csv" % t)
        cfg[t] = sorted((d, v) for (m, d), v in ct.items() if m == "speculative-adaptive")
    return cfg


def curve(cfg, policy):
    """A policy's (mAP, latency) points over its deadlines or targets, from
    the local-only point."""
    start = [(cfg["local"]["map"][0], cfg["local"]["lat"][0])]
    return start + [(v["map"][0], v["lat"][0]) for _, v in cfg[policy]]


def latency_at(pts, m):
    """Least latency at mAP m on a curve of (mAP, latency) points, linear
    between neighbours; NaN when m is outside it."""
    best = math.nan
    for (m0, l0), (m1, l1) in zip(pts, pts[1:]):
        if min(m0, m1) <= m <= max(m0, m1):
            l = l0 if m1 == m0 else l0 + (m - m0) / (m1 - m0) * (l1 - l0)
            best = l if math.isnan(best) else min(best, l)
    return best


def level_row(cfg, levels):
    """Per mAP level: fixed latency, best adaptive latency (over targets), cut."""
    fixed = curve(cfg, "fixed")
    out = []
    for m in levels:
        lf = latency_at(fixed, m)
        la = min((latency_at(curve(cfg, t), m) for t in TARGETS),
                 key=lambda x: math.inf if math.isnan(x) else x)
        if math.isnan(lf) or math.isnan(la):
            out.append("—")
        else:
            out.append("%.0f → %.0f (%+.0f %%)" % (lf, la, 100 * (la / lf - 1)))
    return out


def analyse(cfg):
    """Cuts along the curves, the goal's test, the clairvoyant bound."""
    along = []
    for t in TARGETS:
        for d, v in cfg[t]:
            lf = latency_at(curve(cfg, "fixed"), v["map"][0])
            if not math.isnan(lf) and lf > 0:
                along.append((1 - v["lat"][0] / lf, t, d, v, lf))
    bd, bv = max(cfg["fixed"], key=lambda x: (x[1]["map"][0], -x[0]))
    goal = []
    for t in TARGETS:
        for d, v in cfg[t]:
            if bv["map"][1] <= v["map"][0] <= bv["map"][2]:
                goal.append((1 - v["lat"][0] / bv["lat"][0], t, d, v))
    return along, (bd, bv), max(goal) if goal else None


# ---- SVG -------------------------------------------------------------------------

def panel(cfg, x0, y0, w, h, title):
    xmax = max(v["lat"][0] for k in ["fixed"] + TARGETS for _, v in cfg[k])
    xmax = 50 * math.ceil(xmax * 1.05 / 50)
    maps = [v["map"][0] for k in ["fixed"] + TARGETS for _, v in cfg[k]]
    maps += [cfg["local"]["map"][0], cfg["cloud"]["map"][0]]
    ylo = max(0.0, math.floor((min(maps) - 0.05) * 10) / 10)
    yhi = min(1.0, math.ceil((max(maps) + 0.05) * 10) / 10)
    o = []
    px = lambda x: x0 + 50 + (w - 60) * x / xmax
    py = lambda y: y0 + h - 30 - (h - 55) * (min(max(y, ylo), yhi) - ylo) / (yhi - ylo)
    o.append('<text x="%g" y="%g" font-size="12" text-anchor="middle">%s</text>'
             % (x0 + w / 2, y0 + 14, title))
    o.append('<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#888"/>'
             % (px(0), py(yhi), px(xmax) - px(0), py(ylo) - py(yhi)))
    step = 25 if xmax <= 150 else 50 if xmax <= 500 else 100
    for x in range(0, int(xmax) + 1, step):
        o.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>' % (px(x), py(ylo), px(x), py(yhi)))
        o.append('<text x="%g" y="%g" font-size="9" text-anchor="middle">%d</text>' % (px(x), py(ylo) + 11, x))
    ystep = 0.2 if yhi - ylo > 0.5 else 0.1 if yhi - ylo > 0.2 else 0.05
    for i in range(int(round((yhi - ylo) / ystep)) + 1):
        y = ylo + i * ystep
        o.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#eee"/>' % (px(0), py(y), px(xmax), py(y)))
        o.append('<text x="%g" y="%g" font-size="9" text-anchor="end">%.2f</text>' % (px(0) - 3, py(y) + 3, y))
    o.append('<text x="%g" y="%g" font-size="10" text-anchor="middle">mean latency (ms)</text>'
             % (px(xmax / 2), py(ylo) + 24))
    o.append('<text x="%g" y="%g" font-size="10" text-anchor="middle" transform="rotate(-90 %g %g)">'
             'mAP@0.5</text>' % (x0 + 12, py((ylo + yhi) / 2), x0 + 12, py((ylo + yhi) / 2)))
    series = [("fixed", [cfg["local"]] + [v for _, v in cfg["fixed"]])]
    series += [(t, [v for _, v in cfg[t]]) for t in TARGETS]
    for name, pts in series:
        col = COLORS[name]
        for v in pts:
            (m, ml, mh), (l, ll, lh) = v["map"], v["lat"]
            clip = lambda x: min(x, xmax)
            if not math.isnan(ml):
                o.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-opacity="0.35"/>'
                         % (px(clip(l)), py(ml), px(clip(l)), py(mh), col))
            if not math.isnan(ll):
                o.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-opacity="0.35"/>'
                         % (px(clip(ll)), py(m), px(clip(lh)), py(m), col))
        path = " ".join("%g,%g" % (px(min(v["lat"][0], xmax)), py(v["map"][0])) for v in pts)
        dash = "" if name == "fixed" else ' stroke-dasharray="5,3"'
        o.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s/>' % (path, col, dash))
        for v in pts:
            o.append('<circle cx="%g" cy="%g" r="2.2" fill="%s"/>'
                     % (px(min(v["lat"][0], xmax)), py(v["map"][0]), col))
    c = cfg["cloud"]
    if c["lat"][0] <= xmax:
        o.append('<rect x="%g" y="%g" width="5" height="5" fill="#009E73"/>'
                 % (px(c["lat"][0]) - 2.5, py(c["map"][0]) - 2.5))
    else:
        x, y = px(xmax), py(c["map"][0])
        o.append('<polygon points="%g,%g %g,%g %g,%g" fill="#009E73"/>'
                 % (x - 6, y - 4, x, y, x - 6, y + 4))
        o.append('<text x="%g" y="%g" font-size="9" text-anchor="end">cloud unbounded: '
                 'mean %.0f ms</text>' % (x - 8, y + 3, c["lat"][0]))
    return o


def svg(tag, name, data, path):
    W, H = 380, 260
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">'
         % (2 * W, 2 * H + 50), '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="16" font-size="13" text-anchor="middle">%s: mAP@0.5 against mean latency, '
         'deadlines 33-400 ms, 20 seeds, 95 %% intervals</text>' % (W, name)]
    for i, link in enumerate(LINKS):
        for j, fps in enumerate(FPS):
            o += panel(data[(link, fps)], j * W, 22 + i * H, W, H, "%s, %s fps" % (link, fps))
    ly = 2 * H + 38
    items = [("fixed", "fixed (left end: local)")] + \
            [(t, "adaptive, p = %s" % t) for t in TARGETS]
    for k, (key, label) in enumerate(items):
        x = 10 + k * 150
        dash = "" if key == "fixed" else ' stroke-dasharray="5,3"'
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="1.6"%s/>'
                 % (x, ly, x + 22, ly, COLORS[key], dash))
        o.append('<text x="%d" y="%d" font-size="10">%s</text>' % (x + 26, ly + 4, label))
    o.append('<rect x="%d" y="%d" width="6" height="6" fill="#009E73"/>' % (2 * W - 105, ly - 3))
    o.append('<text x="%d" y="%d" font-size="10">cloud unbounded</text>' % (2 * W - 95, ly + 4))
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def ci(v, fmt):
    return (fmt + " [" + fmt + ", " + fmt + "]") % v


def main():
    out, docdir = sys.argv[1], sys.argv[2]
    print("| set | link | fps | best fixed: deadline, mAP@0.5, mean ms | adaptive at equal mAP "
          "(estimate inside its interval), largest cut | cut along the curves: largest, and at the highest "
          "adaptive mAP | clairvoyant bound at the best fixed deadline |")
    print("|---|---|---|---|---|---|---|")
    for tag, name in SETS:
        data = {}
        for link in LINKS:
            for fps in FPS:
                try:
                    data[(link, fps)] = load(out, tag, link, fps)
                except (OSError, StopIteration):
                    continue
                cfg = data[(link, fps)]
                along, (bd, bv), goal = analyse(cfg)
                g = "none"
                if goal:
                    cut, t, d, v = goal
                    g = "p=%s, %g ms: %s, %s ms: **%.0f %%**" % (
                        t, d, ci(v["map"], "%.3f"), ci(v["lat"], "%.1f"), 100 * cut)
                big = max(along)
                top = max(along, key=lambda a: a[3]["map"][0])
                a = "%.0f %% (p=%s, %g ms, mAP %.3f); %.0f %% (p=%s, %g ms, mAP %.3f)" % (
                    100 * big[0], big[1], big[2], big[3]["map"][0],
                    100 * top[0], top[1], top[2], top[3]["map"][0])
                b = cfg["bound"].get(bd, math.nan)
                print("| %s | %s | %s | %g ms: %s, %s | %s | %s | %.1f ms (%.0f %%) |" % (
                    name, link, fps, bd, ci(bv["map"], "%.3f"), ci(bv["lat"], "%.1f"), g, a,
                    b, 100 * (1 - b / bv["lat"][0])))
        if len(data) == 4:
            svg(tag, name, data, os.path.join(docdir, "adaptive-%s.svg" % tag))
    levels = [0.5, 0.7, 0.8, 0.9, 0.95]
    print("\nVideos: mean latency (ms) of the fixed deadline → the adaptive one (the best "
          "target) at the same mAP@0.5\n")
    print("| video | link | fps | " + " | ".join("mAP %.2f" % m for m in levels) + " |")
    print("|---|---|---|" + "---|" * len(levels))
    for tag, name in SETS[:2]:
        for link in LINKS:
            for fps in FPS:
                cfg = load(out, tag, link, fps)
                print("| %s | %s | %s | %s |" % (name.split(" ")[0], link, fps,
                                                 " | ".join(level_row(cfg, levels))))
    for tag, link, fps in [("swr", "5g-sf", "30"), ("kitti", "5g-sf", "10")]:
        cfg = load(out, tag, link, fps)
        print("\n%s, %s, %s fps: mAP@0.5 / mean latency (ms) per deadline\n" % (tag, link, fps))
        print("| deadline | fixed | adaptive 0.5 | adaptive 0.8 | adaptive 0.95 | clairvoyant |")
        print("|---|---|---|---|---|---|")
        for i, (d, v) in enumerate(cfg["fixed"]):
            row = ["%.3f [%.3f, %.3f] / %.1f" % (v["map"] + (v["lat"][0],))]
            for t in TARGETS:
                w = cfg[t][i][1]
                row.append("%.3f [%.3f, %.3f] / %.1f" % (w["map"] + (w["lat"][0],)))
            row.append("%.1f" % cfg["bound"][d])
            print("| %g | %s |" % (d, " | ".join(row)))


if __name__ == "__main__":
    main()
