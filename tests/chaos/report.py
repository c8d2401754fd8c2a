#!/usr/bin/env python3
"""Report of `make chaos`: checks several scenario runs (checker.py) and writes what they
found — a text table (scenario x topology -> operations, grants, anomalies, anomalies the
docs allow), a JSON file with every number and anomaly, and one self-contained HTML file
(inline SVG, no script) with a timeline per lock name and a latency plot per run.

Owns the aggregation and the drawing; what an anomaly is belongs to checker.py.

Usage: report.py [--out DIR] [--slack-ms N] [--max-points N] PATH...
  PATH: a history.jsonl, or a directory searched for */history.jsonl.
  Writes DIR/report.txt, DIR/results.json, DIR/report.html (DIR defaults to .) and prints
  the table. Exit status 0: no anomaly outside meta.allowed, 1: some, 2: a history could
  not be read (the others are still reported).
"""

import argparse
import datetime
import html
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import checker

MS = checker.MS


@dataclass
class Run:
    path: str
    h: object = None       # checker.History, None if unreadable
    model: object = None
    anomalies: list = None
    stats: dict = None
    warnings: list = None
    error: str = None

    @property
    def key(self):
        meta = self.h.meta if self.h else {}
        return (str(meta.get("scenario", "?")), str(meta.get("topology", "?")))


# ---------------------------------------------------------------- analysis ---

def find_histories(paths):
    """History files named by paths: files as given, directories searched for history.jsonl."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                if "history.jsonl" in files:
                    out.append(os.path.join(root, "history.jsonl"))
        else:
            out.append(p)
    return out


def analyse(path, params):
    """One Run: the parsed history, its model, anomalies and stats, or the error."""
    try:
        h = checker.load(path)
    except (OSError, checker.HistoryError) as e:
        return Run(path, error=str(e), warnings=[], anomalies=[], stats={})
    m = checker.build_model(h)
    found = checker.check(h, params, m)
    warnings = list(h.warnings)
    warnings += [f"meta.allowed lists {k}, which the docs never allow"
                 for k in checker.unexpected_allowances(h)]
    if not h.complete:
        warnings.append("no end line: the run may have been cut short")
    return Run(path, h, m, found, checker.stats(h, found, m), warnings)


def summary_rows(runs):
    """One row per (scenario, topology) over its readable runs, in first-seen order."""
    rows = {}
    for r in runs:
        if r.error:
            continue
        row = rows.setdefault(r.key, {"scenario": r.key[0], "topology": r.key[1], "runs": 0,
                                      "ops": 0, "grants": 0, "no_answer": 0, "anomalies": 0,
                                      "allowed": 0, "kinds": {}})
        row["runs"] += 1
        for k in ("ops", "grants", "no_answer", "anomalies", "allowed"):
            row[k] += r.stats[k]
        for k, n in r.stats["kinds"].items():
            row["kinds"][k] = row["kinds"].get(k, 0) + n
    return list(rows.values())


# -------------------------------------------------------------------- text ---

TABLE_COLS = (("scenario", "<"), ("topology", "<"), ("runs", ">"), ("ops", ">"),
              ("grants", ">"), ("no_answer", ">"), ("anomalies", ">"), ("allowed", ">"))


def text_table(rows, runs):
    """The table, then one line per unreadable history or warning."""
    cells = [[c for c, _ in TABLE_COLS] + ["kinds"]]
    for row in rows:
        kinds = ", ".join(f"{k} x{n}" for k, n in row["kinds"].items()) or "-"
        cells.append([str(row[c]) for c, _ in TABLE_COLS] + [kinds])
    widths = [max(len(r[i]) for r in cells) for i in range(len(TABLE_COLS))]
    lines = []
    for r in cells:
        parts = [f"{v:{a}{w}}" for v, (_, a), w in zip(r, TABLE_COLS, widths)]
        lines.append("  ".join(parts + [r[-1]]).rstrip())
    for r in runs:
        if r.error:
            lines.append(f"unreadable: {r.path}: {r.error}")
        for w in r.warnings:
            lines.append(f"warning: {r.path}: {w}")
    total = sum(row["anomalies"] for row in rows)
    allowed = sum(row["allowed"] for row in rows)
    lines.append(f"{len(runs)} runs: {total} anomalies, {allowed} allowed by the docs")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------- JSON ---

def results_json(runs, rows, params, commit):
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dlockd_commit": commit,
        "checker": {"slack_ms": params.slack_ms, "early_ms": params.early_ms},
        "summary": rows,
        "totals": {k: sum(row[k] for row in rows)
                   for k in ("runs", "ops", "grants", "no_answer", "anomalies", "allowed")},
        "runs": [run_json(r) for r in runs],
    }


def run_json(r):
    if r.error:
        return {"path": r.path, "error": r.error}
    return {"path": r.path, "scenario": r.key[0], "topology": r.key[1],
            "seed": r.h.meta.get("seed"), "meta": r.h.meta, "stats": r.stats,
            "warnings": r.warnings,
            "faults": [{"kind": f.kind, "target": f.target, "t_start": f.t_start,
                        "t_end": f.t_end, "detail": f.detail} for f in r.h.faults],
            "anomalies": r.anomalies}


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=os.path.dirname(os.path.abspath(__file__)))
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# --------------------------------------------------------------------- SVG ---

LEFT, RIGHT = 70, 20          # gutters (px): lane labels on the left
LANE, BAR = 16, 10            # lane height, holder bar height
TOP = 44                      # title, fault labels and time axis above the lanes
FAULT_COLOURS = {"kill_redis": "#d9534f", "restart_redis_empty": "#d9534f",
                 "restore_old_snapshot": "#c0392b", "pause_redis": "#f0ad4e",
                 "pause_dlockd": "#f0ad4e", "kill_dlockd": "#e67e22",
                 "pause_client": "#8e7cc3", "node_loss_minority": "#5bc0de",
                 "node_loss_majority": "#2a7fb8", "stale_minority_restore": "#c0392b",
                 "proxy_delay": "#9acd32", "proxy_blackhole": "#6b8e23",
                 "proxy_reset": "#556b2f", "sentinel_kill_master": "#d9534f",
                 "sentinel_planned_failover": "#b05fb0", "slot_migration": "#17a2b8",
                 "cluster_kill_master": "#d9534f", "cluster_failover": "#b05fb0"}


def esc(s):
    return html.escape(str(s), quote=True)


def title(text):
    return f"<title>{esc(text)}</title>"


class Scale:
    """Maps history times (ns) to x pixels; one scale per run so its charts line up."""

    def __init__(self, h):
        self.t0 = h.t0
        self.t1 = max(h.t_last, h.t0 + MS)
        secs = (self.t1 - self.t0) / 1e9
        self.pps = min(max(1100 / secs, 50), 20000 / secs)  # px per second
        self.width = LEFT + RIGHT + math.ceil(secs * self.pps)

    def x(self, t):
        return round(LEFT + (t - self.t0) / 1e9 * self.pps, 1)

    def w(self, a, b, least=0.5):
        return max(least, round((b - a) / 1e9 * self.pps, 1))


def tick_step(pps):
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600):
        if step * pps >= 60:
            return step
    return 1200


def svg_axis(sc, y, height):
    """Time ticks (seconds since t0) along y, with faint grid lines down height px."""
    step = tick_step(sc.pps)
    parts, k = [], 0
    while True:
        t = sc.t0 + int(k * step * 1e9)
        if t > sc.t1:
            break
        x = sc.x(t)
        parts.append(f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + height}" class="grid"/>'
                     f'<text x="{x}" y="{y - 3}" class="tick">{k * step:g} s</text>')
        k += 1
    return "".join(parts)


def svg_faults(h, sc, y, height, label_y):
    """Fault windows shaded across [y, y + height], their kind written at label_y."""
    parts = []
    for f in h.faults:
        colour = FAULT_COLOURS.get(f.kind, "#999")
        tip = (f"{f.kind} on {f.target} from {h.rel(f.t_start)} to {h.rel(f.t_end)}"
               + (f": {f.detail}" if f.detail else ""))
        parts.append(f'<g>{title(tip)}<rect x="{sc.x(f.t_start)}" y="{y}" '
                     f'width="{sc.w(f.t_start, f.t_end, 1)}" height="{height}" '
                     f'fill="{colour}" fill-opacity="0.15"/>'
                     f'<text x="{sc.x(f.t_start) + 2}" y="{label_y}" class="fault" '
                     f'fill="{colour}">{esc(f.kind)} {esc(f.target)}</text></g>')
    return "".join(parts)


def natural(s):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def lane_clients(h, name, anomalies):
    clients = {o.client for o in h.ops if o.name == name}
    clients |= {w.client for w in h.writes if w.name == name}
    for a in anomalies:
        clients |= set(a["clients"])
    return sorted(clients, key=natural)


def svg_timeline(run, name, sc):
    """One lock name: a lane per client; holder windows as bars labelled with the fence
    (offset from the name's lowest), waiting acquires as thin lines, acquires with no
    definite answer as hatched bands, rejected writes as crosses, faults shaded,
    anomalies in red with their explanation as tooltip."""
    h = run.h
    mine = [a for a in run.anomalies if a["name"] == name]
    clients = lane_clients(h, name, mine)
    lane_y = {c: TOP + i * LANE for i, c in enumerate(clients)}
    height = TOP + LANE * max(1, len(clients)) + 4
    leases = run.model.leases.get(name, [])
    f0 = min((l.fence for l in leases if l.fence is not None), default=None)
    body = [f'<text x="4" y="12" class="name">lock {esc(name)}'
            + (f' — fence offsets from {f0}' if f0 is not None else "") + "</text>",
            svg_faults(h, sc, TOP - 4, height - TOP + 4, 25),
            svg_axis(sc, TOP - 4, height - TOP + 4)]
    for c, y in lane_y.items():
        body.append(f'<text x="{LEFT - 4}" y="{y + 11}" class="lane">{esc(c)}</text>'
                    f'<line x1="{LEFT}" y1="{y + LANE}" x2="{sc.width - RIGHT}" '
                    f'y2="{y + LANE}" class="lanesep"/>')
    detail = len(leases) <= 4000
    body += [svg_lease(h, l, sc, lane_y[l.client], f0, detail) for l in leases
             if l.end > l.start]
    body += svg_lane_marks(run, name, sc, lane_y)
    body += [svg_anomaly(h, a, sc, lane_y) for a in mine]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{sc.width}" height="{height}" '
            f'class="timeline">{"".join(body)}</svg>')


def svg_lease(h, lease, sc, y, f0, detail):
    x, w = sc.x(lease.start), sc.w(lease.start, lease.end)
    label = f"f+{lease.fence - f0}" if lease.fence is not None else "f?"
    text = (f'<text x="{x + 2}" y="{y + 10}" class="fence">{label}</text>'
            if w >= 7 * len(label) else "")
    tip = ""
    if detail:
        g = lease.opened_by
        tip = title(f"{lease.client} held {lease.name}: fence {lease.fence} (op {g.id}, "
                    f"{'re-acquire' if g.status == 200 else 'grant'} answered at "
                    f"{h.rel(g.t_recv)}), until {h.rel(lease.end)} ({lease.end_reason}); "
                    f"{len(lease.extensions)} renewals")
    return (f'<g>{tip}<rect x="{x}" y="{y + 3}" width="{w}" height="{BAR}" '
            f'class="hold"/>{text}</g>')


def svg_lane_marks(run, name, sc, lane_y):
    """Per lane, one path each: renewals (ticks on the bar), waiting acquires (thin
    lines), acquires with no definite answer (hatched), rejected writes (crosses)."""
    h, marks = run.h, {}
    for lease in run.model.leases.get(name, []):
        y = lane_y[lease.client]
        for o in lease.extensions:
            add(marks, "renew", f"M{sc.x(o.t_send)} {y + 3}v{BAR}")
    for o in h.ops:
        if o.name != name:
            continue
        y = lane_y[o.client]
        if checker.is_waiting(o):
            add(marks, "wait", f"M{sc.x(o.t_send)} {y + 14}H{sc.x(o.t_recv)}")
        if o.op == "acquire" and checker.is_uncertain(o):
            s, e = checker.uncertain_hold(h, o)
            add(marks, "maybe", f"M{sc.x(s)} {y + 13}H{sc.x(e)}")
    for wr in h.writes:
        if wr.name == name and not wr.accepted:
            x, y = sc.x(wr.t), lane_y[wr.client] + 8
            add(marks, "rejected", f"M{x - 3} {y - 3}l6 6m0 -6l-6 6")
    return [f'<path d="{"".join(d)}" class="{k}"/>' for k, d in marks.items()]


def add(marks, kind, d):
    marks.setdefault(kind, []).append(d)


def svg_anomaly(h, a, sc, lane_y):
    ys = [lane_y[c] for c in a["clients"] if c in lane_y] or [TOP - 14]
    y0, y1 = min(ys), max(ys) + LANE
    x = sc.x(a["t_start"]) - 2
    w = sc.w(a["t_start"], a["t_end"], 0) + 4
    tag = " (allowed by the docs)" if a["allowed"] else ""
    cls = "anom allowed" if a["allowed"] else "anom"
    return (f'<g class="{cls}">{title(a["kind"] + tag + ": " + a["explanation"])}'
            f'<rect x="{x}" y="{y0}" width="{w}" height="{y1 - y0}"/></g>')


# ------------------------------------------------------------------ latency ---

PLOT_H = 220
OP_HUES = {"acquire": "#1f77b4", "wait": "#9467bd", "renew": "#2ca02c",
           "release": "#ff7f0e", "inspect": "#7f7f7f"}
OUTCOMES = ("ok", "refused", "error", "no answer")


def latency_ms(o):
    return (o.t_recv - o.t_send) / MS


def category(o):
    kind = "wait" if checker.is_waiting(o) else o.op
    if o.status is None:
        return kind, "no answer"
    if 200 <= o.status < 300:
        return kind, "ok"
    if o.status in (404, 409):
        return kind, "refused"
    return kind, "error"


def colour(kind, outcome):
    base = OP_HUES.get(kind, "#7f7f7f")
    r, g, b = (int(base[i:i + 2], 16) for i in (1, 3, 5))
    mix = {"ok": (0, 0), "refused": (255, 0.55), "error": (0, 0.45), "no answer": (0, 0.75)}
    to, f = mix[outcome]
    return "#%02x%02x%02x" % tuple(round(c + (to - c) * f) for c in (r, g, b))


def sample(ops, keep_ids, budget):
    """The points to draw: every op in keep_ids, then per category an even spread in time
    plus its slowest few, within about budget points in all."""
    kept = [o for o in ops if o.id in keep_ids]
    by_cat = {}
    for o in ops:
        if o.id not in keep_ids:
            by_cat.setdefault(category(o), []).append(o)
    rest = sum(len(v) for v in by_cat.values())
    room = max(budget - len(kept), 0)
    for group in by_cat.values():
        quota = max(min(len(group), 50), room * len(group) // max(rest, 1))
        if quota >= len(group):
            kept += group
            continue
        step = len(group) / quota
        picked = {id(group[int(i * step)]) for i in range(quota)}
        picked |= {id(o) for o in sorted(group, key=latency_ms)[-10:]}
        kept += [o for o in group if id(o) in picked]
    return kept


def svg_latency(run, sc, budget):
    """Latency (log scale) of every answered or failed call against the time it was sent,
    coloured by operation and outcome; faults shaded; anomaly ops ringed in red."""
    h = run.h
    ops = [o for o in h.ops if o.t_recv > o.t_send]
    if not ops:
        return "<p>No operation to plot.</p>"
    lo = 10 ** math.floor(math.log10(max(min(map(latency_ms, ops)), 0.01)))
    hi = 10 ** math.ceil(math.log10(max(map(latency_ms, ops)) * 1.0001))

    def y(ms):
        return round(TOP + PLOT_H * (1 - math.log10(max(ms, lo) / lo) / math.log10(hi / lo)), 1)

    anom_ops = {}
    for a in run.anomalies:
        for i in a["ops"]:
            anom_ops.setdefault(i, []).append(a)
    shown = sample(ops, set(anom_ops), budget)
    body = [f'<text x="4" y="12" class="name">latency (log scale) — {len(shown)} of '
            f'{len(ops)} calls shown; every anomaly op kept</text>',
            svg_faults(h, sc, TOP, PLOT_H, 25), svg_axis(sc, TOP, PLOT_H),
            svg_decades(sc, lo, hi, y)]
    body += svg_points(shown, sc, y)
    body += [svg_ring(h, o, sc.x(o.t_send), y(latency_ms(o)), anom_ops[o.id]) for o in shown
             if o.id in anom_ops]
    height = TOP + PLOT_H + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{sc.width}" height="{height}" '
            f'class="latency">{"".join(body)}</svg>' + latency_legend(shown, ops))


def svg_decades(sc, lo, hi, y):
    parts, v = [], lo
    while v <= hi * 1.0001:
        label = f"{v:g} ms" if v < 1000 else f"{v / 1000:g} s"
        parts.append(f'<line x1="{LEFT}" y1="{y(v)}" x2="{sc.width - RIGHT}" y2="{y(v)}" '
                     f'class="grid"/><text x="{LEFT - 4}" y="{y(v) + 3}" class="lane">'
                     f'{label}</text>')
        v *= 10
    return "".join(parts)


def svg_points(shown, sc, y):
    paths = {}
    for o in shown:
        kind, outcome = category(o)
        x, yy = sc.x(o.t_send), y(latency_ms(o))
        d = (f"M{x - 2} {yy - 2}l4 4m0 -4l-4 4" if outcome == "no answer" else f"M{x} {yy}h0")
        paths.setdefault((kind, outcome), []).append(d)
    out = []
    for (kind, outcome), d in sorted(paths.items()):
        cap = "square" if outcome == "error" else "round"
        width = 1.2 if outcome == "no answer" else 3.5
        out.append(f'<path d="{"".join(d)}" stroke="{colour(kind, outcome)}" fill="none" '
                   f'stroke-width="{width}" stroke-linecap="{cap}"/>')
    return out


def svg_ring(h, o, x, yy, anomalies):
    tip = "; ".join(f'{a["kind"]}{" (allowed)" if a["allowed"] else ""}: {a["explanation"]}'
                    for a in anomalies)
    return (f'<g class="ring">{title(f"op {o.id} {o.op} {o.client}: {tip}")}'
            f'<circle cx="{x}" cy="{yy}" r="5"/></g>')


def latency_legend(shown, ops):
    total = {}
    for o in ops:
        total[category(o)] = total.get(category(o), 0) + 1
    drawn = {}
    for o in shown:
        drawn[category(o)] = drawn.get(category(o), 0) + 1
    items = [f'<span><i style="background:{colour(k, oc)}"></i>{esc(k)} {esc(oc)} '
             f'{drawn.get((k, oc), 0)}/{n}</span>' for (k, oc), n in sorted(total.items())]
    return f'<p class="legend">{"".join(items)}</p>'


# -------------------------------------------------------------------- HTML ---

CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:left;vertical-align:top}td.n{text-align:right}tr.bad td{background:#fdd}
.scroll{overflow-x:auto;border:1px solid #ddd;padding:4px 0;margin:8px 0}
svg text{font:10px sans-serif}.name{font-weight:bold;font-size:11px}
.tick{fill:#666}.lane{text-anchor:end;fill:#333}.grid{stroke:#eee}.lanesep{stroke:#f3f3f3}
.fault{font-size:9px}.hold{fill:#4a7ab5}.fence{fill:#fff;font-size:9px}
.renew{stroke:#fff;stroke-width:1}.wait{stroke:#9467bd;stroke-width:1.2;fill:none}
.maybe{stroke:#999;stroke-width:3;stroke-dasharray:2 2;fill:none}
.rejected{stroke:#000;stroke-width:1.3;fill:none}
.anom rect{fill:#e00;fill-opacity:.35;stroke:#e00;stroke-width:1.5}
.anom.allowed rect{fill:#f90;stroke:#e00;stroke-dasharray:3 2}
.ring circle{fill:none;stroke:#e00;stroke-width:2}
.legend span{margin-right:12px;white-space:nowrap}.legend i{display:inline-block;width:10px;
height:10px;margin-right:3px;vertical-align:middle}
.warn{color:#a60}
"""

HOW_TO_READ = """<details><summary>How to read the charts</summary><ul>
<li>Time runs left to right in seconds since the run started; every chart of a run has the
same scale, so they line up (they scroll together).</li>
<li>Timeline (one per lock name): one lane per client. A <b>blue bar</b> is a holder window —
from the arrival of the 201 (or 200) until the lease the client may count on ran out (last
successful acquire or renew sent + ttl granted), its release was sent, or it was granted
again; <code>f+N</code> is its fence minus the lowest fence of the name (full fence in the
tooltip); white ticks are renewals. A <b>thin purple line</b> is a waiting acquire, from
sending to its answer. A <b>grey dashed band</b> is an acquire with no definite answer
(no answer or 5xx): it may hold the name until the band ends. A <b>black cross</b> is a write
the fenced register rejected (fencing at work). <b>Shaded columns</b> are fault windows,
labelled with their kind and target.</li>
<li><b>Red boxes</b> are anomalies, over the clients and times involved; hover for the
explanation. Orange dashed boxes are anomalies the docs allow for this scenario.</li>
<li>Latency plot: one mark per call at the time it was sent, height = time to its answer (log
scale). Colour = operation, shade = outcome (ok; refused 404/409, lighter; error, darker
square; no answer, cross). Red rings are calls involved in an anomaly.</li></ul></details>"""


def html_report(runs, rows, params, commit, max_points):
    head = (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>dlockd chaos "
            f"report</title><style>{CSS}</style></head><body><h1>dlockd chaos report</h1>"
            f"<p>{esc(datetime.datetime.now().strftime('%Y-%m-%d %H:%M'))}, dlockd "
            f"{esc(commit or '?')}, checker slack {params.slack_ms} ms. Properties and "
            f"windows: docs/chaos.md.</p>")
    parts = [head, html_summary(rows, runs), HOW_TO_READ]
    parts += [html_run(i, r, max_points) for i, r in enumerate(runs)]
    return "".join(parts) + "</body></html>\n"


def html_summary(rows, runs):
    out = ["<h2>Summary</h2><table><tr>" + "".join(f"<th>{esc(c)}</th>" for c, _ in TABLE_COLS)
           + "<th>kinds</th><th>runs</th></tr>"]
    for row in rows:
        links = " ".join(f'<a href="#run{i}">{i + 1}</a>' for i, r in enumerate(runs)
                         if not r.error and r.key == (row["scenario"], row["topology"]))
        kinds = ", ".join(f"{esc(k)} ×{n}" for k, n in row["kinds"].items()) or "–"
        cells = "".join(f'<td class="{"n" if a == ">" else ""}">{esc(row[c])}</td>'
                        for c, a in TABLE_COLS)
        cls = ' class="bad"' if row["anomalies"] else ""
        out.append(f"<tr{cls}>{cells}<td>{kinds}</td><td>{links}</td></tr>")
    out.append("</table>")
    out += [f'<p class="warn">unreadable: {esc(r.path)}: {esc(r.error)}</p>'
            for r in runs if r.error]
    return "".join(out)


def html_run(i, r, max_points):
    if r.error:
        return ""
    h, s = r.h, r.stats
    sc = Scale(h)
    names = list(h.meta.get("names") or [])
    names += sorted({o.name for o in h.ops} - set(names), key=natural)
    charts = [svg_timeline(r, n, sc) for n in names] + [svg_latency(r, sc, max_points)]
    return (f'<section id="run{i}"><h2>{i + 1}. {esc(r.key[0])} · {esc(r.key[1])} · seed '
            f'{esc(h.meta.get("seed"))}</h2><p>{esc(r.path)}: {s["ops"]} calls, '
            f'{s["grants"]} grants, {s["no_answer"]} without answer, {s["writes_rejected"]} '
            f'of {s["writes"]} writes rejected by the register, {s["duration_s"]} s. '
            f'<b>{s["anomalies"]}</b> anomalies, {s["allowed"]} allowed by the docs '
            f'(allowed here: {esc(", ".join(sorted(h.allowed)) or "none")}).</p>'
            + "".join(f'<p class="warn">warning: {esc(w)}</p>' for w in r.warnings)
            + f'<div class="scroll">{"".join(charts)}</div>'
            + html_faults(h) + html_anomalies(h, r.anomalies) + "</section>")


def html_faults(h):
    if not h.faults:
        return "<p>No fault.</p>"
    rows = "".join(f"<tr><td>{esc(f.kind)}</td><td>{esc(f.target)}</td><td>{h.rel(f.t_start)}"
                   f"</td><td>{h.rel(f.t_end)}</td><td>{esc(f.detail)}</td></tr>"
                   for f in h.faults)
    return ("<table><tr><th>fault</th><th>target</th><th>from</th><th>to</th><th>detail</th>"
            f"</tr>{rows}</table>")


def html_anomalies(h, anomalies):
    if not anomalies:
        return "<p>No anomaly.</p>"
    rows = "".join(
        f'<tr class="{"" if a["allowed"] else "bad"}"><td>{esc(a["kind"])}</td><td>'
        f'{"allowed" if a["allowed"] else "NOT allowed"}</td><td>{esc(a["name"])}</td><td>'
        f'{esc(", ".join(a["clients"]))}</td><td>{esc(", ".join(map(str, a["ops"])))}</td>'
        f'<td>{h.rel(a["t_start"])}</td><td>{esc(a["explanation"])}</td></tr>'
        for a in anomalies)
    return ("<table><tr><th>anomaly</th><th>docs</th><th>name</th><th>clients</th><th>ops</th>"
            f"<th>at</th><th>explanation</th></tr>{rows}</table>")


# --------------------------------------------------------------------- CLI ---

def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check dlockd chaos runs and write the report.")
    ap.add_argument("paths", nargs="+", help="history.jsonl files or directories holding them")
    ap.add_argument("--out", default=".", help="directory for report.txt, results.json, "
                                                "report.html (default: .)")
    ap.add_argument("--slack-ms", type=int, default=checker.Params.slack_ms)
    ap.add_argument("--max-points", type=int, default=3000,
                    help="latency points drawn per run, besides anomaly ops (default 3000)")
    args = ap.parse_args(argv)
    params = checker.Params(slack_ms=args.slack_ms)
    files = find_histories(args.paths)
    if not files:
        print("report: no history.jsonl found", file=sys.stderr)
        return 2
    runs = [analyse(p, params) for p in files]
    rows = summary_rows(runs)
    commit = git_commit()
    table = text_table(rows, runs)
    os.makedirs(args.out, exist_ok=True)
    write(os.path.join(args.out, "report.txt"), table)
    write(os.path.join(args.out, "results.json"),
          json.dumps(results_json(runs, rows, params, commit), indent=1) + "\n")
    write(os.path.join(args.out, "report.html"),
          html_report(runs, rows, params, commit, args.max_points))
    sys.stdout.write(table)
    if any(r.error for r in runs):
        return 2
    return 1 if any(row["anomalies"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
