#!/usr/bin/env python3
"""make chaos: Jepsen-style runs of dlockd under faults, checked by tests/chaos/checker.py.

Usage: chaos.py [--smoke] [--only NAME,...] [--out DIR] [--seed N] [--dlockd PATH] [--list]

Owns: running each scenario (cluster up, workload + nemesis for the scenario's duration,
clients joined, everything healed, every Redis dumped, cluster down) into
DIR/<scenario>/history.jsonl (+ logs/), DIR/summary.json (how each run went), then the
verdict: report.py over DIR (it runs the checker on every history and writes report.txt,
results.json and report.html there), or checker.py per history if report.py is absent.
Exit status: 0 when no anomaly outside meta.allowed was found, 1 when one was, 2 when a run
or a check could not be done. Python 3.11 standard library only.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from cluster import TOPOLOGIES, Cluster  # noqa: E402
from history import History, now  # noqa: E402
from nemesis import Nemesis, Step, dump_nodes  # noqa: E402
from scenarios import SCENARIOS, select  # noqa: E402
from workload import Register, Run, run_clients  # noqa: E402

REPLICAS = 3
# src/locks/backend.h: BACKEND_WAITER_LIVENESS_MS, BACKEND_WAITER_RECHECK_MS
LIVENESS_MS, RECHECK_MS = 3000, 1000
CHECKER = os.path.join(HERE, "checker.py")
REPORT = os.path.join(HERE, "report.py")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_scenario(sc, seed, dlockd, out_dir):
    """Runs one scenario into out_dir/<name>/; returns a dict of what happened."""
    sdir = os.path.join(out_dir, sc.name)
    logs = os.path.join(sdir, "logs")
    os.makedirs(logs, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"dlockd-chaos-{sc.name}-")
    topo = TOPOLOGIES[sc.topology]
    names = [f"c{i}" for i in range(sc.profile.names)]
    meta = {"scenario": sc.name, "topology": sc.topology, "replicas": REPLICAS, "names": names,
            "seed": seed, "liveness_ms": LIVENESS_MS, "recheck_ms": RECHECK_MS,
            "allowed": list(sc.allowed), "nodes": topo.nodes, "duration_s": sc.duration_s,
            "about": sc.about}
    t_wall = time.monotonic()
    errors = []
    path = os.path.join(sdir, "history.jsonl")
    try:
        with Cluster(topo, REPLICAS, dlockd, work, logs) as cl, History(path, meta) as h:
            t_start = now()
            run = Run(sc.name, seed, sc.profile, [r.port for r in cl.replicas], names, h,
                      Register(h), t_start + int(sc.duration_s * 1e9), [])
            # A mid-run dump too: locks are held then, so their hashes are in it.
            steps = sc.steps + (Step(sc.duration_s / 2, "dump", ()),)
            nem = Nemesis(cl, h, steps, os.path.join(work, "snapshots"), t_start)
            nem.start()
            clients = run_clients(run)
            nem.join(sc.duration_s + 60)
            for c in clients:
                c.join(max(1.0, (run.stop_at - now()) / 1e9) + 30)
                if c.is_alive():
                    errors.append(f"client {c.id} did not stop")
            errors += nem.errors + run.failures + nem.unplanned_failovers()
            nem.heal()
            skipped = dump_nodes(cl, h, timeout=5.0)
            errors += [f"final dump of {n} failed" for n in skipped]
            h.end(writes_accepted=run.register.accepted, writes_rejected=run.register.rejected,
                  errors=errors)
            counts = dict(h.counts)
    except Exception as e:  # the run could not be carried out
        errors.append(f"run failed: {e!r}")
        counts = {}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"scenario": sc.name, "topology": sc.topology, "dir": sdir, "history": path,
            "seconds": round(time.monotonic() - t_wall, 1), "lines": counts, "errors": errors}


def check_each(results):
    """Without report.py: the checker on each history; returns 0, 1 (an anomaly outside
    meta.allowed) or 2 (a history it could not read)."""
    worst = 0
    for r in results:
        p = subprocess.run([sys.executable, CHECKER, r["history"]], capture_output=True,
                           text=True)
        last = (p.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"{r['scenario']:28} {last}")
        if p.returncode not in (0, 1):
            print(p.stderr.strip(), file=sys.stderr)
        worst = max(worst, p.returncode if p.returncode in (1, 2) else 2)
    return worst


def verdict(results, out):
    """Checks every history (report.py, else checker.py); returns the exit status."""
    if os.path.exists(REPORT):
        status = subprocess.run([sys.executable, REPORT, "--out", out, out]).returncode
    elif os.path.exists(CHECKER):
        status = check_each(results)
    else:
        log("chaos: tests/chaos/checker.py is not there: histories written, not checked")
        return 2
    if status not in (0, 1):
        status = 2
    if status == 0 and any(r["errors"] for r in results):
        status = 2
    return status


def ran(r):
    """One line on how a run went (the checker says what it found)."""
    n = r["lines"]
    err = f"; ERRORS: {'; '.join(r['errors'])}" if r["errors"] else ""
    return (f"{r['scenario']:28} {r['topology']:20} {r['seconds']:>5} s  {n.get('op', 0):>4} ops "
            f"{n.get('write', 0):>4} writes {n.get('fault', 0):>2} faults "
            f"{n.get('redis_dump', 0):>2} dumps{err}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run dlockd chaos scenarios and check them.")
    ap.add_argument("--smoke", action="store_true", help="only the CI subset")
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--out", help="results directory (default results/chaos-<timestamp>)")
    ap.add_argument("--seed", type=int, help="workload seed (default: random, printed)")
    ap.add_argument("--dlockd", default=os.path.join(ROOT, "build", "dlockd"))
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = ap.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:28} {s.topology:20} {s.duration_s:>4g} s{'  smoke' if s.smoke else ''}"
                  f"  {s.about}")
        return 0
    try:
        scenarios = select(args.smoke, args.only.split(",") if args.only else None)
    except KeyError as e:
        log(f"chaos: {e.args[0]}")
        return 2
    if not os.access(args.dlockd, os.X_OK):
        log(f"chaos: no dlockd binary at {args.dlockd} (run make)")
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    out = os.path.abspath(args.out or os.path.join(
        ROOT, "results", "chaos-" + time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"chaos: {len(scenarios)} scenarios, seed {seed}, results in {out}")
    t0 = time.monotonic()
    results = []
    for sc in scenarios:
        log(f"chaos: {sc.name} ({sc.topology}, {sc.duration_s:g} s): {sc.about}")
        results.append(run_scenario(sc, seed, os.path.abspath(args.dlockd), out))
        log("chaos: ran " + ran(results[-1]))
    summary = {"seed": seed, "seconds": round(time.monotonic() - t0, 1), "runs": results}
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print("runs:")
    for r in results:
        print("  " + ran(r))
    status = verdict(results, out)
    print(f"chaos: {len(results)} runs in {summary['seconds']} s (seed {seed}); results in {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
