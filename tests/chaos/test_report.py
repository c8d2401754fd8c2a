#!/usr/bin/env python3
"""Unit tests of report.py on small hand-built runs: the three files, the table's rows, the
exit status, well-formed self-contained SVG, and the latency plot's sampling.
Run: python3 tests/chaos/test_report.py (last line "N passed, N failed")."""

import io
import json
import os
import re
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout, redirect_stderr

import checker
import report
import unitmain
from test_checker import H

MS = checker.MS


def write_run(d, sub, h):
    os.makedirs(os.path.join(d, sub))
    path = os.path.join(d, sub, "history.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(json.dumps(r) for r in h.recs + [{"type": "end"}]) + "\n")
    return path


def clean_run():
    h = H()
    h.acquire("w1", 0, 10, ttl=1000)
    h.renew("w1", 300, 301)
    h.release("w1", 500, 501)
    h.acquire("w2", 100, 600, wait=2000)
    h.write("w1", 11, checker.MS, True, 0)
    return h


def double_grant_run(allowed):
    h = H(allowed=["double_grant"] if allowed else [])
    h.recs[0]["scenario"] = "restart_redis_empty"
    h.fault("restart_redis_empty", "redis0", 200, 300)
    h.acquire("w1", 0, 10, ttl=1000)
    h.acquire("w2<&>", 400, 410, ttl=1000)   # a client id that needs escaping
    h.write("w1", 900, 1, False, 2)
    return h


class Report(unittest.TestCase):
    def run_report(self, runs, *args, bad=False):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d = tmp.name
        for i, h in enumerate(runs):
            write_run(d, f"run{i}", h)
        if bad:
            os.makedirs(os.path.join(d, "bad"))
            with open(os.path.join(d, "bad", "history.jsonl"), "w") as f:
                f.write('{"type":"op"}\n')
        out = os.path.join(d, "out")
        buf = io.StringIO()
        with redirect_stdout(buf), redirect_stderr(io.StringIO()):
            rc = report.main(["--out", out, *args, d])
        return rc, buf.getvalue(), out

    def test_a_clean_run_exits_0_and_writes_three_files(self):
        rc, table, out = self.run_report([clean_run()])
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(os.listdir(out)), ["report.html", "report.txt", "results.json"])
        self.assertEqual(open(os.path.join(out, "report.txt")).read(), table)
        self.assertRegex(table, r"test\s+single-nopersist\s+1\s+4\s+2\s+0\s+0\s+0\s+-")

    def test_allowed_anomalies_exit_0_others_exit_1(self):
        self.assertEqual(self.run_report([double_grant_run(True)])[0], 0)
        rc, table, _ = self.run_report([double_grant_run(False)])
        self.assertEqual(rc, 1)
        self.assertIn("double_grant x1", table)

    def test_runs_of_one_scenario_share_a_row(self):
        rc, _, out = self.run_report([double_grant_run(True), double_grant_run(True),
                                      clean_run()])
        res = json.load(open(os.path.join(out, "results.json")))
        rows = {(r["scenario"], r["topology"]): r for r in res["summary"]}
        row = rows[("restart_redis_empty", "single-nopersist")]
        self.assertEqual((row["runs"], row["allowed"], row["anomalies"]), (2, 2, 0))
        self.assertEqual(res["totals"]["runs"], 3)
        self.assertEqual(len(res["runs"]), 3)
        self.assertEqual(res["runs"][0]["anomalies"][0]["kind"], "double_grant")

    def test_an_unreadable_history_exits_2_and_the_rest_is_reported(self):
        rc, table, out = self.run_report([clean_run()], bad=True)
        self.assertEqual(rc, 2)
        self.assertIn("unreadable:", table)
        self.assertIn("error", json.load(open(os.path.join(out, "results.json")))["runs"][0])

    def test_the_html_is_self_contained_and_its_svg_well_formed(self):
        _, _, out = self.run_report([double_grant_run(False)])
        page = open(os.path.join(out, "report.html")).read()
        self.assertNotIn("<script", page)
        self.assertNotRegex(page, r'(src|href)="(https?:)?//')
        svgs = re.findall(r"<svg.*?</svg>", page, re.S)
        self.assertEqual(len(svgs), 2)  # timeline of c0, latency
        for s in svgs:
            ET.fromstring(s)
        tips = [t.text for s in svgs for t in ET.fromstring(s).iter(
            "{http://www.w3.org/2000/svg}title")]
        self.assertTrue(any(t.startswith("double_grant: w1 held c0") for t in tips))
        self.assertTrue(any(t.startswith("restart_redis_empty on redis0") for t in tips))
        self.assertIn("w2&lt;&amp;&gt;", page)


class Sampling(unittest.TestCase):
    def test_beyond_the_budget_points_are_sampled_and_anomaly_ops_kept(self):
        h = H()
        for i in range(6000):
            h.acquire(f"w{i % 7}", i * 10, i * 10 + 1 + i % 5, status=409)
        hist = h.history()
        keep = {17, 4242}
        shown = report.sample(hist.ops, keep, 1000)
        self.assertLess(len(shown), 1100)
        self.assertTrue(keep <= {o.id for o in shown})

    def test_under_the_budget_every_point_is_drawn(self):
        h = H()
        for i in range(50):
            h.acquire("w1", i * 10, i * 10 + 1, status=409)
        hist = h.history()
        self.assertEqual(len(report.sample(hist.ops, set(), 3000)), 50)


if __name__ == "__main__":
    sys.exit(unitmain.run(__name__))
