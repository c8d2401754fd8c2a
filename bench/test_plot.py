#!/usr/bin/env python3
"""Unit tests of plot.py on small hand-built results: the SVG parses and is self-contained,
bars and ratios come from the rows, percentile lists are drawn (with p50/p90/p99/max as the
fallback), and missing, failed or skipped rows are named instead of raising.
Run: python3 bench/test_plot.py (last line "N passed, N failed")."""

import copy
import json
import os
import re
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from contextlib import redirect_stderr
from io import StringIO

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "chaos"))  # unitmain: the "N passed" line

import plot  # noqa: E402
import unitmain  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
QS = [1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100]


def row(key, value, unit="pairs/s", **kw):
    r = {"key": key, "label": key, "value": value, "unit": unit, "ratio": None, "ratio_of": "",
         "target": "", "target_met": None, "status": "ok", "note": ""}
    r.update(kw)
    return r


def lat(p50, pcts=True, prefix=""):
    r = {"mode": "pairs", prefix + "p50_us": p50, prefix + "p90_us": p50 * 1.2,
         prefix + "p99_us": p50 * 1.5, prefix + "max_us": p50 * 3, prefix + "mean_us": p50}
    if pcts:
        r[prefix + "pcts"] = [[q, p50 * (0.5 + q / 100)] for q in QS]
    return r


RESULTS = {
    "date": "2026-12-01T10:00:00Z", "dlockd_commit": "0123456789abcdef0123+dirty",
    "machine": {"nproc": 2, "cpu_model": "Test CPU", "kernel": "6.1", "mem_total": "4 GiB",
                "loadavg_before": "0.1 0.1 0.1", "loadavg_after": "1.0 0.5 0.2"},
    "versions": {"redis": "7.0.15", "etcd": "3.4.23", "node": "v20"},
    "settings": {"seconds": 4, "warmup_s": 0.5, "concurrency": 64, "pinning": "CPU 0 / CPU 1"},
    "results": [
        row("pairs_c64", 15000.0), row("redis_pairs", 20000.0), row("node1", 40000.0),
        row("etcd_reuse", 3000.0), row("etcd_lease", 1500.0), row("redlock3", 6000.0, ratio=0.4,
                                                                  ratio_of="single-node pairs",
                                                                  target=">=0.60", target_met=False),
        row("node3", 15000.0),
        row("ratio_redis", 0.75, "x", ratio=0.75, ratio_of="redis-benchmark", target=">=0.50",
            target_met=True),
    ],
    "notes": [],
    "raw": {"pairs_c64": lat(4000), "pairs_c1": lat(300, pcts=False), "node1": lat(1400),
            "handoff": dict(lat(-1, pcts=False), pcts=[], **lat(150, prefix="ho_"))},
}


def render(data):
    svg = plot.render(data)
    return svg, ET.fromstring(svg.encode("utf-8"))


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def polylines(root, label):
    """The point counts of the lines whose tooltip starts with label."""
    out = []
    for g in root.iter(SVG + "g"):
        t = g.find(SVG + "title")
        p = g.find(SVG + "polyline")
        if t is not None and p is not None and t.text.startswith(label + ":"):
            out.append(len(p.get("points").split()))
    return out


class PlotTest(unittest.TestCase):
    def test_parses_and_is_self_contained(self):
        svg, root = render(RESULTS)
        self.assertEqual(root.tag, SVG + "svg")
        for bad in ("<script", "href", "@import", "url(", "@font-face"):
            self.assertNotIn(bad, svg)

    def test_header_has_date_commit_machine(self):
        _, root = render(RESULTS)
        t = texts(root)
        self.assertIn("2026-12-01T10:00:00Z", t[0])
        self.assertIn("0123456789ab+dirty", t[0])
        self.assertTrue(any("Test CPU" in s and "1.0 0.5 0.2" in s for s in t))

    def test_bars_ratios_and_goals(self):
        _, root = render(RESULTS)
        t = texts(root)
        self.assertIn("0.75xdlockd / peer", t)  # the ratio and its tspan
        self.assertIn("0.38xdlockd / peer", t)  # 15000 / 40000
        # the verdict on one line, what the ratio is against on the next
        self.assertIn("goal \u22650.50: 0.75, met", t)
        self.assertIn("vs redis-benchmark", t)
        self.assertIn("goal \u22650.60: 0.4, MISS", t)
        self.assertIn("vs single-node pairs", t)
        self.assertEqual(len([r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]), 10)

    def test_percentile_lists_and_fallback(self):
        _, root = render(RESULTS)
        self.assertEqual(polylines(root, "dlockd, c=64"), [11])
        self.assertEqual(polylines(root, "dlockd, c=1 (unloaded)"), [4])
        self.assertEqual(polylines(root, "wait_ms, 64 clients on one lock"), [11])
        self.assertTrue(any(s.startswith("hollow marks") for s in texts(root)))

    def test_missing_failed_and_skipped_rows_are_named(self):
        data = copy.deepcopy(RESULTS)
        data["results"] = [r for r in data["results"] if r["key"] != "node1"]
        for r in data["results"]:
            if r["key"] == "redis_pairs":
                r.update(value=None, status="failed", note="redis-benchmark gave no numbers")
            if r["key"] == "redlock3":
                r.update(value=None, status="skipped", note="skipped: Redlock not built")
        del data["raw"]["node1"]
        _, root = render(data)
        t = texts(root)
        self.assertIn("Not drawn:", t)
        gone = " | ".join(t[t.index("Not drawn:"):])
        self.assertIn("redis_pairs): failed: redis-benchmark gave no numbers", gone)
        self.assertIn("node1): not in this run", gone)
        self.assertIn("redlock3: skipped: Redlock not built", gone)
        self.assertIn("latency of node-redlock, 1 node, 64 loops (node1): not in this run", gone)
        self.assertEqual(len([r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]), 4)

    def test_optional_seed_group_only_when_present(self):
        _, root = render(RESULTS)
        self.assertFalse(any("SET NX" in s for s in texts(root)))
        data = copy.deepcopy(RESULTS)
        data["results"].append(row("seed_pairs", 25000.0))
        data["raw"]["seed_pairs"] = lat(2000)
        _, root = render(data)
        t = texts(root)
        self.assertIn("vs hand-written SET NX / GET-compare-DEL client (both unpinned)", t)
        self.assertIn("0.60xdlockd / peer", t)
        self.assertEqual(polylines(root, "SET NX / GET-compare-DEL, c=64"), [11])

    def test_zero_latency_drawn_on_the_floor(self):
        data = copy.deepcopy(RESULTS)
        data["raw"]["handoff"]["ho_pcts"][0][1] = 0.0
        _, root = render(data)
        self.assertTrue(any(s.startswith("0 µs") for s in texts(root)))

    def test_garbage_does_not_raise(self):
        for data in ({}, [], {"results": "x", "raw": []}, {"results": [{"key": 1}, "x"], "raw": {"a": 1}},
                     {"results": [row("pairs_c64", "fast"), row("redis_pairs", True)],
                      "raw": {"pairs_c64": {"pcts": [[1], ["a", 2], [50, None]], "p50_us": "x"}}}):
            _, root = render(data)
            self.assertEqual(root.tag, SVG + "svg")

    def test_main_writes_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "r.json"), os.path.join(d, "r.svg")
            with open(src, "w") as f:
                json.dump(RESULTS, f)
            self.assertEqual(plot.main(["plot.py", src, dst]), 0)
            ET.parse(dst)
            self.assertEqual(sorted(os.listdir(d)), ["r.json", "r.svg"])
            with open(src, "w") as f:
                f.write("{not json")
            with redirect_stderr(StringIO()) as err:
                self.assertEqual(plot.main(["plot.py", src, dst]), 2)
            self.assertRegex(err.getvalue(), re.escape(src))


if __name__ == "__main__":
    sys.exit(unitmain.run(__name__))
