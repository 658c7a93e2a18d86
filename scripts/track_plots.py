#!/usr/bin/python3
"""Accuracy vs latency plots for docs/results.md, "Late answers carried
forward": one SVG per frame set and link, one panel per frame rate, one
curve per policy (mAP@0.5 with its 95 % interval against the mean output
latency of each deadline; cloud-unbounded and local are single points).

usage: track_plots.py OUT.svg TITLE RESULTS_DIR_10FPS RESULTS_DIR_30FPS
(each directory is a `specx eval --replay --out-dir`, its results.json)."""
import json
import math
import sys

COLOURS = {"local": "#E69F00", "speculative": "#0072B2",
           "speculative-track": "#D55E00", "cloud-unbounded": "#009E73"}
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 380, 300, 56, 12, 34, 44


def load(d):
    r = json.load(open(d + "/results.json"))
    cells = {(c["mode"], c["deadline_ms"]): c for c in r["summary"]["cells"]}
    lat = {}
    for run in r["runs"]:
        v = [x for x in run["frame_latency_ms"] if x is not None]
        lat.setdefault((run["mode"], run["deadline_ms"]), []).extend(v)
    mean = {k: sum(v) / len(v) for k, v in lat.items() if v}
    return r["modes"], r["deadlines_ms"], cells, mean


def series(modes, deadlines, cells, mean):
    out = {}
    for m in modes:
        ds = deadlines[:1] if m in ("local", "cloud-unbounded") else deadlines
        out[m] = [(mean[(m, d)], cells[(m, d)]["map50"]) for d in ds if (m, d) in mean]
    return out


def panel(x0, sub, s, xmax):
    # x: mean latency, log scale from 5 ms; y: mAP@0.5 from 0 to 1
    lo, hi = math.log10(5), math.log10(xmax)
    pw, ph = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def X(v):
        return x0 + PAD_L + (math.log10(max(v, 5)) - lo) / (hi - lo) * pw

    def Y(v):
        return PAD_T + (1 - v) * ph
    g = [f'<text x="{x0 + PAD_L + pw / 2}" y="{PAD_T - 10}" text-anchor="middle" '
         f'font-size="13">{sub}</text>',
         f'<rect x="{x0 + PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    for t in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        g.append(f'<line x1="{x0 + PAD_L}" x2="{x0 + PAD_L + pw}" y1="{Y(t)}" y2="{Y(t)}" '
                 f'stroke="#eee"/><text x="{x0 + PAD_L - 4}" y="{Y(t) + 4}" '
                 f'text-anchor="end" font-size="10">{t:.1f}</text>')
    for t in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if t <= xmax:
            g.append(f'<line x1="{X(t)}" x2="{X(t)}" y1="{PAD_T}" y2="{PAD_T + ph}" stroke="#eee"/>'
                     f'<text x="{X(t)}" y="{PAD_T + ph + 13}" text-anchor="middle" '
                     f'font-size="10">{t}</text>')
    g.append(f'<text x="{x0 + PAD_L + pw / 2}" y="{H - 8}" text-anchor="middle" font-size="11">'
             f'mean output latency (ms, log)</text>')
    g.append(f'<text transform="translate({x0 + 14},{PAD_T + ph / 2}) rotate(-90)" '
             f'text-anchor="middle" font-size="11">mAP@0.5</text>')
    for m, pts in s.items():
        c = COLOURS.get(m, "#000")
        for x, (e, l, h) in pts:
            if l is not None and h is not None:
                g.append(f'<line x1="{X(x)}" x2="{X(x)}" y1="{Y(h)}" y2="{Y(l)}" '
                         f'stroke="{c}" stroke-opacity="0.5"/>')
            g.append(f'<circle cx="{X(x)}" cy="{Y(e)}" r="2.6" fill="{c}"/>')
        if len(pts) > 1:
            d = " ".join(f"{X(x):.1f},{Y(e[0]):.1f}" for x, e in pts)
            g.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="1.6"/>')
    return g


def main():
    out, title, d10, d30 = sys.argv[1:5]
    data = [(sub, series(*load(d))) for sub, d in (("10 fps", d10), ("30 fps", d30))]
    xmax = max(x for _, s in data for pts in s.values() for x, _ in pts)
    xmax = max(500, xmax * 1.3)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 44}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{W}" y="16" text-anchor="middle" font-size="14">{title}</text>',
           '<g transform="translate(0,18)">']
    for i, (sub, s) in enumerate(data):
        svg += panel(i * W, sub, s, xmax)
    for k, m in enumerate(COLOURS):
        lx, y = 60 + 170 * k, H + 14
        svg.append(f'<rect x="{lx}" y="{y - 8}" width="10" height="10" fill="{COLOURS[m]}"/>'
                   f'<text x="{lx + 14}" y="{y + 1}" font-size="11">{m}</text>')
    svg.append("</g></svg>")
    open(out, "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
