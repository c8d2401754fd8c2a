#!/usr/bin/env python3
"""The picture beside `make bench`'s results.json: one self-contained SVG (no script, no
external font or link) that shows dlockd beside its peers without the table.

Top: the run's date, commit and machine. Then throughput bars, dlockd beside each peer
with the ratio dlockd / peer and the goal where the table has one. Then latency against
percentile (log scale) per workload, from the load generators' "pcts" lists, or from
p50/p90/p99/max where a run has no list. Whatever is missing, failed or skipped in the
results is left out and named in small text at the bottom.

Owns the drawing only: every number comes from results.json as bench/run.sh wrote it.

Usage: plot.py RESULTS.json OUT.svg
  Exit status 0: OUT.svg written (checked to parse as XML first); 2: RESULTS.json
  unreadable or OUT.svg not writable.
"""

import html
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

# ------------------------------------------------------------------ what is drawn ---

# Throughput groups: (title, dlockd row keys (the first usable one), peer row key, peer
# label, rows that may carry the goal, optional). An optional group whose peer row is
# absent is left out silently (rows that older runs do not have yet).
GROUPS = [
    ("raw Redis, the same scripts by EVALSHA (redis-benchmark)", ["pairs_c64"], "redis_pairs",
     "raw Redis EVALSHA pairs", ["ratio_redis"], False),
    ("hand-written SET NX / GET-compare-DEL client (both unpinned)", ["seed_dlockd", "pairs_c64"], "seed_pairs",
     "SET NX / GET-compare-DEL", ["ratio_seed", "seed_dlockd"], True),
    ("node-redlock, 1 Redis", ["pairs_c64"], "node1", "node-redlock, 1 node", ["ratio_node"], False),
    ("etcd on disk (fsync per write, as deployed), lease reused", ["pairs_c64"], "etcd_disk_reuse",
     "etcd on disk, lease reused", ["ratio_etcd"], True),
    ("etcd on tmpfs, lease reused", ["pairs_c64"], "etcd_reuse", "etcd on tmpfs, lease reused",
     ["ratio_etcd_tmpfs"], False),
    ("etcd on tmpfs, lease granted + revoked per pair", ["pairs_c64"], "etcd_lease", "etcd on tmpfs, lease per pair",
     ["ratio_etcd_lease"], False),
    ("Redlock over 3 Redis nodes", ["redlock3"], "node3", "node-redlock, 3 nodes", ["redlock3"], False),
]

DLOCKD_BAR_LABEL = {"pairs_c64": "dlockd, c=64", "seed_dlockd": "dlockd, unpinned", "redlock3": "dlockd Redlock, 3 nodes"}

# Latency panels: (title, [(raw key, label, "dlockd" or "peer", field prefix, optional)]).
PANELS = [
    ("Acquire + release pair latency", [
        ("pairs_c64", "dlockd, c=64", "dlockd", "", False),
        ("pairs_c1", "dlockd, c=1 (unloaded)", "dlockd", "", False),
        ("seed_dlockd", "dlockd, c=64, unpinned (beside SET NX)", "dlockd", "", True),
        ("redis_resp", "raw Redis scripts over RESP (loadgen), c=64", "peer", "", False),
        ("redis_resp_c1", "raw Redis scripts over RESP (loadgen), c=1", "peer", "", True),
        ("seed_pairs", "SET NX / GET-compare-DEL, c=64", "peer", "", True),
        ("node1", "node-redlock, 1 node, 64 loops", "peer", "", False),
        ("etcd_disk_reuse", "etcd on disk, lease reused, c=64", "peer", "", True),
        ("etcd_reuse", "etcd on tmpfs, lease reused, c=64", "peer", "", False),
        ("etcd_lease", "etcd on tmpfs, lease per pair, c=64", "peer", "", False),
    ]),
    ("Redlock pair latency, c=64", [
        ("redlock3", "dlockd Redlock, 3 nodes", "dlockd", "", False),
        ("redlock5", "dlockd Redlock, 5 nodes", "dlockd", "", False),
        ("node3", "node-redlock, 3 nodes", "peer", "", False),
    ]),
    ("Hand-off latency: release -> next holder's grant", [
        ("handoff", "wait_ms, 64 clients on one lock", "dlockd", "ho_", False),
        ("handoff_low", "wait_ms, 1 holder + 1 waiter", "dlockd", "ho_", False),
        ("poll", "polling every 100 ms, 64 clients", "peer", "ho_", False),
        ("poll_low", "polling every 100 ms, 16 locks x 2", "peer", "ho_", False),
    ]),
    ("dlockd set-ups, latency at c=64", [
        ("pairs_tls", "pairs over HTTPS (TLS 1.3)", "dlockd", "", False),
        ("renew", "renew (one request)", "dlockd", "", False),
        ("replica_nowait", "pairs, master + replica", "dlockd", "", False),
        ("replica_wait1", "pairs, --redis-wait-replicas 1", "dlockd", "", False),
        ("cluster3", "pairs, Redis Cluster, 3 masters", "dlockd", "", False),
        ("sentinel", "pairs, Sentinel", "dlockd", "", False),
        ("healthz", "GET /healthz (HTTP floor)", "dlockd", "", False),
    ]),
]

# The percentiles of a "pcts" list, and where p50/p90/p99/max fall among them.
QUANTILES = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]
FALLBACK = [(50, "p50_us"), (90, "p90_us"), (99, "p99_us"), (100, "max_us")]

DLOCKD_COLOURS = ["#08519c", "#3182bd", "#17a2b8", "#5e60ce", "#6baed6", "#00796b", "#283593"]
PEER_COLOURS = ["#d94801", "#b2182b", "#f16913", "#8c2d04", "#e7298a", "#fdae6b"]
DASHES = ["", "6 3", "2 2", "8 3 2 3"]
MARKERS = ["circle", "square", "triangle", "diamond"]

W = 1100
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
STYLE = f"""
text{{font-family:{FONT};font-size:11px;fill:#222}}
.h1{{font-size:17px;font-weight:bold}}.h2{{font-size:14px;font-weight:bold}}
.h3{{font-size:12px;font-weight:bold}}.small{{font-size:10px;fill:#555}}
.tick{{font-size:10px;fill:#555}}.end{{text-anchor:end}}.mid{{text-anchor:middle}}
.grid{{stroke:#e4e4e4;stroke-width:1}}.axis{{stroke:#888;stroke-width:1}}
.ratio{{font-size:15px;font-weight:bold}}.met{{fill:#1a7f37}}.miss{{fill:#c62828}}
.inbar{{fill:#fff;font-weight:bold}}
"""

# ------------------------------------------------------------------ reading ---


def number(v):
    """v as a finite float, or None (null, strings, booleans, NaN)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def dict_at(d, key):
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


def index_rows(data):
    rows = data.get("results") if isinstance(data, dict) else None
    return {r["key"]: r for r in rows or [] if isinstance(r, dict) and isinstance(r.get("key"), str)}


def row_value(rows, key):
    """(value, None) for a usable row, else (None, why it is not)."""
    r = rows.get(key)
    if r is None:
        return None, "not in this run"
    status = r.get("status") or "ok"
    v = number(r.get("value"))
    if status != "ok" or v is None:
        note = str(r.get("note") or "").strip()
        why = status if status != "ok" else "no value"
        return None, f"{why}: {note}" if note and not note.startswith(why) else (note or why)
    return v, None


# ------------------------------------------------------------------ formatting ---


def esc(s):
    return html.escape(str(s), quote=True)


def text(x, y, s, cls="", extra=""):
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{c}{extra}>{esc(s)}</text>'


def fmt_num(v):
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_ms(v):
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g} ms"


def fmt_target(t):
    return str(t).replace(">=", "\u2265").replace("<=", "\u2264")


def nice_step(top, most=8):
    """A 1/2/5 x 10^k step that cuts [0, top] into at most `most` parts."""
    if top <= 0:
        return 1
    k = 10 ** math.floor(math.log10(top / most))
    for m in (1, 2, 5, 10):
        if top / (m * k) <= most:
            return m * k
    return 10 * k


# ------------------------------------------------------------------ header ---


def header(data, source):
    machine = dict_at(data, "machine")
    versions = dict_at(data, "versions")
    settings = dict_at(data, "settings")
    commit = str(data.get("dlockd_commit") or "unknown")
    short = commit[:12] + ("+dirty" if commit.endswith("+dirty") else "")
    title = f"dlockd benchmark \u2014 {data.get('date') or 'date unknown'} \u2014 commit {short}"
    hw = ", ".join(s for s in [
        f"{machine.get('nproc', '?')} x {machine.get('cpu_model') or 'unknown CPU'}",
        f"kernel {machine['kernel']}" if machine.get("kernel") else "",
        str(machine.get("mem_total") or "")] if s)
    load = (f"load average before / after: {machine.get('loadavg_before', '?')} / "
            f"{machine.get('loadavg_after', '?')}")
    vers = ", ".join(f"{k} {v}" for k, v in versions.items() if v and k in ("redis", "etcd", "node", "redlock"))
    run = (f"each workload {settings.get('seconds', '?')} s after {settings.get('warmup_s', '?')} s warm-up, "
           f"c={settings.get('concurrency', '?')}")
    lines = [text(16, 26, title, "h1"),
             text(16, 44, f"machine: {hw}; {load}"),
             text(16, 59, f"{vers}; {run}" if vers else run, "small"),
             text(16, 72, f"pinning: {settings.get('pinning') or 'not recorded'}", "small"),
             text(16, 85, f"from {os.path.basename(source)}. Numbers compare only within one run: "
                  "read the ratios first.", "small")]
    return lines, 100


# ------------------------------------------------------------------ throughput ---

BAR_L, BAR_W, BAR_H = 290, 520, 17


def bar_groups(rows, gone):
    """The groups that can be drawn: (title, [(label, value)]*2, unit, goal row or None)."""
    out = []
    for title, dkeys, pkey, plabel, goal_keys, optional in GROUPS:
        if optional and pkey not in rows:
            continue
        pv, why = row_value(rows, pkey)
        if pv is None:
            gone.append(f"bars vs {plabel} ({pkey}): {why}")
            continue
        punit = rows[pkey].get("unit")
        dv = dkey = None
        whys = []
        for k in dkeys:
            v, why = row_value(rows, k)
            if v is not None and rows[k].get("unit") != punit:
                v, why = None, f"in {rows[k].get('unit')}, not {punit}"
            if v is not None:
                dv, dkey = v, k
                break
            whys.append(f"{k}: {why}")
        if dv is None:
            gone.append(f"bars vs {plabel}: no dlockd figure ({'; '.join(whys)})")
            continue
        goal = next((rows[k] for k in goal_keys if k in rows and rows[k].get("target")), None)
        out.append((title, [(DLOCKD_BAR_LABEL.get(dkey, dkey), dv), (plabel, pv)], punit, goal))
    return out


def goal_text(goal):
    """("goal ≥0.50: 0.678, met", "vs redis-benchmark", css class) for a row with a target: the
    verdict on the first line, what the ratio is taken against on the second (so a long peer name
    never pushes the verdict off the picture)."""
    r = number(goal.get("ratio"))
    if r is None:
        r = number(goal.get("value"))
    met = goal.get("target_met")
    verdict, cls = ("met", "met") if met is True else ("MISS", "miss") if met is False else ("", "small")
    vs = f"vs {goal['ratio_of']}" if goal.get("ratio_of") else ""
    got = f": {r:.3g}" if r is not None else ""
    return f"goal {fmt_target(goal['target'])}{got}{', ' + verdict if verdict else ''}", vs, cls


def throughput(rows, y, gone):
    groups = bar_groups(rows, gone)
    out = [text(16, y + 14, "Throughput: dlockd beside each peer, same run (higher is better)", "h2")]
    y += 24
    if not groups:
        out.append(text(16, y + 14, "no throughput pair to draw (see the end)", "small"))
        return out, y + 26
    top = max(v for g in groups for _, v in g[1])
    step = nice_step(top, 6)
    top = math.ceil(top / step) * step
    units = sorted({g[2] for g in groups})
    axis_y, y0 = y + 12, y + 18
    height = len(groups) * 62
    for k in range(int(round(top / step)) + 1):
        x = BAR_L + BAR_W * k * step / top
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + height - 10}" class="grid"/>')
        out.append(text(x, axis_y, fmt_num(k * step), "tick mid"))
    out.append(text(BAR_L - 8, axis_y, " / ".join(str(u) for u in units), "tick end"))
    y = y0
    for title, bars, unit, goal in groups:
        out.append(text(16, y + 12, f"vs {title}", "h3"))
        for i, (label, v) in enumerate(bars):
            by = y + 18 + i * (BAR_H + 3)
            w = max(BAR_W * v / top, 1)
            colour = DLOCKD_COLOURS[0] if i == 0 else PEER_COLOURS[0]
            out.append(text(BAR_L - 8, by + 12.5, label, "end"))
            out.append(f'<rect x="{BAR_L}" y="{by}" width="{w:.1f}" height="{BAR_H}" fill="{colour}">'
                       f'<title>{esc(label)}: {fmt_num(v)} {esc(unit)}</title></rect>')
            val = f"{fmt_num(v)} {unit}"
            if w > 8 + 6.2 * len(val):
                out.append(text(BAR_L + w - 5, by + 12.5, val, "inbar end"))
            else:
                out.append(text(BAR_L + w + 5, by + 12.5, val))
        ratio = bars[0][1] / bars[1][1] if bars[1][1] else None
        rx = BAR_L + BAR_W + 24
        if ratio is not None:
            out.append(f'<text x="{rx}" y="{y + 32}" class="ratio">{ratio:.2f}x'
                       '<tspan dx="6" class="small" font-weight="normal">dlockd / peer</tspan></text>')
        if goal is not None:
            s, vs, cls = goal_text(goal)
            out.append(text(rx, y + 48, s, cls))
            if vs:
                out.append(text(rx, y + 60, vs, "small"))
        y += 62
    return out, y + 4


# ------------------------------------------------------------------ latency ---

PANEL_W, PLOT_L, PLOT_R, PLOT_T, PLOT_H = 530, 62, 14, 26, 230


def series_points(raw, prefix):
    """[(percentile, µs)] from PREFIXpcts, else from p50/p90/p99/max; and whether it is
    the fallback. Negative values (no samples) are dropped."""
    pts = []
    lst = raw.get(prefix + "pcts")
    if isinstance(lst, list):
        for p in lst:
            if isinstance(p, list) and len(p) == 2 and number(p[0]) in QUANTILES and number(p[1]) is not None:
                pts.append((number(p[0]), number(p[1])))
    if pts:
        return [p for p in pts if p[1] >= 0], False
    pts = [(q, number(raw.get(prefix + f))) for q, f in FALLBACK]
    return [(q, v) for q, v in pts if v is not None and v >= 0], True


def panel_series(raws, spec, gone):
    out = []
    n = {"dlockd": 0, "peer": 0}
    for key, label, side, prefix, optional in spec:
        raw = raws.get(key)
        if not isinstance(raw, dict):
            if not optional:
                gone.append(f"latency of {label} ({key}): not in this run")
            continue
        pts, fallback = series_points(raw, prefix)
        if not pts:
            gone.append(f"latency of {label} ({key}): no samples")
            continue
        i = n[side]
        n[side] += 1
        colours = DLOCKD_COLOURS if side == "dlockd" else PEER_COLOURS
        first_marker = 0 if side == "dlockd" else 1
        out.append({"label": label, "pts": sorted(pts), "colour": colours[i % len(colours)],
                    "dash": DASHES[i % len(DASHES)], "marker": MARKERS[(first_marker + i) % len(MARKERS)],
                    "hollow": fallback})
    return out


def marker(shape, x, y, colour, hollow):
    fill = "#fff" if hollow else colour
    a = f'fill="{fill}" stroke="{colour}" stroke-width="1.2"'
    if shape == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" {a}/>'
    if shape == "triangle":
        return f'<path d="M{x:.1f},{y - 4:.1f}L{x + 3.6:.1f},{y + 2.6:.1f}L{x - 3.6:.1f},{y + 2.6:.1f}Z" {a}/>'
    if shape == "diamond":
        return f'<path d="M{x:.1f},{y - 4:.1f}L{x + 4:.1f},{y:.1f}L{x:.1f},{y + 4:.1f}L{x - 4:.1f},{y:.1f}Z" {a}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" {a}/>'


def log_range(values_ms):
    """Decades [lo, hi] (ms) around the positive values; zeros are drawn at lo."""
    pos = [v for v in values_ms if v > 0] or [1.0]
    lo = 10 ** math.floor(math.log10(min(pos)))
    hi = 10 ** math.ceil(math.log10(max(pos) * 1.0001))
    return lo, max(hi, lo * 10)


def panel(title, series, x0, y0):
    """One latency chart at (x0, y0); returns its SVG parts and its height."""
    plot_w = PANEL_W - PLOT_L - PLOT_R
    lo, hi = log_range([v / 1000 for s in series for _, v in s["pts"]])
    decades = math.log10(hi / lo)
    px = {q: x0 + PLOT_L + plot_w * i / (len(QUANTILES) - 1) for i, q in enumerate(QUANTILES)}
    top, bottom = y0 + PLOT_T, y0 + PLOT_T + PLOT_H

    def py(us):
        ms = max(us / 1000, lo)
        return bottom - PLOT_H * math.log10(ms / lo) / decades

    out = [text(x0 + PLOT_L, y0 + 14, title, "h3")]
    d = lo
    while d <= hi * 1.0001:
        for m in (1, 2, 5) if decades <= 3 else (1,):
            v = d * m
            if v > hi * 1.0001:
                break
            y = py(v * 1000)
            out.append(f'<line x1="{x0 + PLOT_L}" y1="{y:.1f}" x2="{x0 + PLOT_L + plot_w}" y2="{y:.1f}" '
                       f'class="grid"/>')
            out.append(text(x0 + PLOT_L - 5, y + 3.5, fmt_ms(float(f"{v:.6g}")), "tick end"))
        d *= 10
    for q, x in px.items():
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" class="grid"/>')
        out.append(text(x, bottom + 14, "max" if q == 100 else f"p{q:g}", "tick mid"))
    out.append(f'<path d="M{x0 + PLOT_L},{top}V{bottom}H{x0 + PLOT_L + plot_w}" fill="none" class="axis"/>')
    out.append(text(x0 + PLOT_L + plot_w / 2, bottom + 28,
                    "percentile (evenly spaced, not to scale)", "small mid"))
    cy = top + PLOT_H / 2
    out.append(text(x0 + 12, cy, "latency (ms, log scale)", "small mid",
                    f' transform="rotate(-90 {x0 + 12} {cy:.1f})"'))
    zeros = False
    for s in series:
        pts = [(px[q], py(v)) for q, v in s["pts"]]
        zeros = zeros or any(v / 1000 < lo for _, v in s["pts"])
        dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
        tip = ", ".join(f"{'max' if q == 100 else 'p%g' % q} {v / 1000:.3g} ms" for q, v in s["pts"])
        out.append(f'<g><title>{esc(s["label"])}: {esc(tip)}</title>'
                   f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" fill="none" '
                   f'stroke="{s["colour"]}" stroke-width="1.8"{dash}/>'
                   + "".join(marker(s["marker"], x, y, s["colour"], s["hollow"]) for x, y in pts) + "</g>")
    ly = bottom + 46
    for s in series:
        dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
        lx = x0 + PLOT_L
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 26}" y2="{ly - 4}" stroke="{s["colour"]}" '
                   f'stroke-width="1.8"{dash}/>' + marker(s["marker"], lx + 13, ly - 4, s["colour"], s["hollow"]))
        out.append(text(lx + 34, ly, s["label"]))
        ly += 15
    if any(s["hollow"] for s in series):
        out.append(text(x0 + PLOT_L, ly, "hollow marks: only p50/p90/p99/max in this run (no percentile "
                        "list)", "small"))
        ly += 15
    if zeros:
        out.append(text(x0 + PLOT_L, ly, "0 µs (both answers in one epoll wake-up) is drawn on the "
                        "bottom line", "small"))
        ly += 15
    return out, ly - y0


def latency(raws, y, gone):
    out = [text(16, y + 14, "Latency distributions: one line per workload (lower is better)", "h2"),
           f'<rect x="16" y="{y + 24}" width="12" height="8" fill="{DLOCKD_COLOURS[0]}"/>',
           text(32, y + 32, "blues: dlockd"),
           f'<rect x="120" y="{y + 24}" width="12" height="8" fill="{PEER_COLOURS[0]}"/>',
           text(136, y + 32, "oranges and reds: peers, or the way dlockd replaces (polling)")]
    y += 42
    drawn = [(t, s) for t, spec in PANELS for s in [panel_series(raws, spec, gone)] if s]
    if not drawn:
        out.append(text(16, y + 12, "no latency figures to draw (see the end)", "small"))
        return out, y + 24
    for i in range(0, len(drawn), 2):
        h = 0
        for j, (title, series) in enumerate(drawn[i:i + 2]):
            parts, ph = panel(title, series, 10 + j * (PANEL_W + 20), y)
            out += parts
            h = max(h, ph)
        y += h + 14
    return out, y


# ------------------------------------------------------------------ the picture ---


def render(data, source="results.json"):
    """The SVG document (a str) for one results.json object; never raises on missing data."""
    data = data if isinstance(data, dict) else {}
    rows = index_rows(data)
    raws = {k: v for k, v in dict_at(data, "raw").items() if isinstance(v, dict)}
    gone = []
    body, y = header(data, source)
    part, y = throughput(rows, y, gone)
    body += part
    part, y = latency(raws, y + 10, gone)
    body += part
    if gone:
        body.append(text(16, y + 12, "Not drawn:", "small"))
        for g in gone:
            y += 13
            body.append(text(28, y + 12, g[:170], "small"))
        y += 13
    height = math.ceil(y + 16)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
            f'viewBox="0 0 {W} {height}">\n<title>dlockd benchmark {esc(data.get("date") or "")}</title>\n'
            f'<style>{STYLE}</style>\n<rect width="{W}" height="{height}" fill="#fff"/>\n'
            + "\n".join(body) + "\n</svg>\n")


def main(argv):
    if len(argv) != 3:
        print("usage: plot.py RESULTS.json OUT.svg", file=sys.stderr)
        return 2
    src, dst = argv[1], argv[2]
    try:
        with open(src, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"plot: cannot read {src}: {e}", file=sys.stderr)
        return 2
    svg = render(data, src)
    ET.fromstring(svg.encode("utf-8"))  # a broken picture is a bug: fail here, not in a viewer
    tmp = dst + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(svg)
        os.replace(tmp, dst)
    except OSError as e:
        print(f"plot: cannot write {dst}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
