"""The nemesis of make chaos: runs a scenario's fault schedule against a cluster.

Owns: the fault steps (what, on which targets, when, for how long), carrying each out in a
thread of its own (so windows may overlap) and recording one fault line per window when it
ends; snapshots of nodes' data for later restores; mid-run Redis dumps; and healing whatever
a step left broken at the end. Knows the cluster's processes and proxies, not the workload.
Python 3.11 standard library only.
"""

import fnmatch
import os
import threading
import time
from dataclasses import dataclass

from history import now
from proxy import BLACKHOLE, DELAY, PASS, RESET
from resp import RedisError, dump

NODE_KILLS = ("kill_redis", "restart_redis_empty", "restore_old_snapshot",
              "node_loss_minority", "node_loss_majority", "stale_minority_restore")
PROXY_MODES = {"proxy_delay": DELAY, "proxy_blackhole": BLACKHOLE, "proxy_reset": RESET}


@dataclass(frozen=True)
class Step:
    """At `at` seconds into the workload, do `kind` to `targets` for `hold` seconds.
    kind: a fault kind of the history format, or "snapshot" (copy the nodes' data for a
    later restore_old_snapshot / stale_minority_restore; no fault line) or "dump" (a
    redis_dump line per node). targets: node names (redis1), replica names (dlockd0), or
    for proxy faults link patterns "dlockd<r>-redis<n>" where r and n may be "*".
    arg: the delay in ms of proxy_delay."""
    at: float
    kind: str
    targets: tuple
    hold: float = 0.0
    arg: int = 0


def dump_nodes(cluster, history, timeout=1.0):
    """A redis_dump line for every node that answers (a killed or paused one is skipped);
    returns the names of the nodes skipped."""
    skipped = []
    for n in cluster.nodes:
        if not n.alive or n.paused:
            skipped.append(n.name)
            continue
        t = now()
        try:
            keys = dump(n.port, "dlock:", timeout)
        except (OSError, RedisError):
            skipped.append(n.name)
            continue
        history.redis_dump(n.name, t, keys)
    return skipped


class Nemesis:
    """Runs steps against cluster, timed from t_start (a history.now() time)."""

    def __init__(self, cluster, history, steps, snap_dir, t_start):
        self.cluster, self.history, self.steps = cluster, history, steps
        self.snap_dir, self.t_start = snap_dir, t_start
        self.snapshots = {}  # node name -> (time taken, path)
        self.errors = []
        self.threads = []

    def start(self):
        for i, s in enumerate(self.steps):
            t = threading.Thread(target=self._step, args=(s,), name=f"nemesis{i}", daemon=True)
            t.start()
            self.threads.append(t)

    def join(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                self.errors.append(f"{t.name} did not finish")

    def _step(self, s):
        time.sleep(max(0.0, (self.t_start + int(s.at * 1e9) - now()) / 1e9))
        try:
            self._do(s)
        except Exception as e:  # reported as a failed run
            self.errors.append(f"{s.kind} {','.join(s.targets)} at {s.at} s: {e!r}")

    def _nodes(self, s):
        return [self.cluster.node(t) for t in s.targets]

    def _proxies(self, s):
        out = []
        for (r, n), p in sorted(self.cluster.proxies.items()):
            if any(fnmatch.fnmatchcase(f"dlockd{r}-redis{n}", pat) for pat in s.targets):
                out.append(p)
        return out

    def _do(self, s):
        if s.kind == "snapshot":
            for n in self._nodes(s):
                path = os.path.join(self.snap_dir, f"{n.name}-{int(s.at * 1000)}")
                n.snapshot(path)
                self.snapshots[n.name] = (now(), path)
            return
        if s.kind == "dump":
            dump_nodes(self.cluster, self.history)
            return
        t0 = now()
        if s.kind in NODE_KILLS:
            detail = self._node_kill(s)
        elif s.kind == "pause_redis":
            detail = self._pause(self._nodes(s), s.hold)
        elif s.kind == "pause_dlockd":
            detail = self._pause([self.cluster.replica(t) for t in s.targets], s.hold)
        elif s.kind == "kill_dlockd":
            reps = [self.cluster.replica(t) for t in s.targets]
            for r in reps:
                r.kill()
            time.sleep(s.hold)
            for r in reps:
                r.start()
            detail = f"kill -9, restarted after {s.hold:g} s"
        elif s.kind in PROXY_MODES:
            proxies = self._proxies(s)
            self.cluster.hub.set_mode(proxies, PROXY_MODES[s.kind], s.arg)
            time.sleep(s.hold)
            self.cluster.hub.set_mode(proxies, PASS)
            what = f"{s.arg} ms each way" if s.kind == "proxy_delay" else PROXY_MODES[s.kind]
            detail = f"{what} on {len(proxies)} links for {s.hold:g} s"
        else:
            raise ValueError(f"unknown step kind {s.kind}")
        self.history.fault(s.kind, ",".join(s.targets), t0, now(), detail)

    def _pause(self, procs, hold):
        for p in procs:
            p.pause()
        time.sleep(hold)
        for p in procs:
            p.resume()
        return f"SIGSTOP for {hold:g} s, then SIGCONT"

    def _node_kill(self, s):
        """kill -9 the nodes, then restart them after s.hold from their own data, empty,
        or from their last snapshot, by kind; returns the fault's detail."""
        nodes = self._nodes(s)
        for n in nodes:
            n.kill()
        if s.kind == "restart_redis_empty":
            how = "empty"
            for n in nodes:
                n.wipe()
        elif s.kind in ("restore_old_snapshot", "stale_minority_restore"):
            ages = []
            for n in nodes:
                taken, path = self.snapshots[n.name]
                n.restore(path)
                ages.append(f"{n.name}: {(now() - taken) / 1e9:.1f} s old")
            how = "from a snapshot (" + ", ".join(ages) + ")"
        else:
            how = f"from its own data (persistence {nodes[0].persistence})"
        time.sleep(s.hold)
        for n in nodes:
            n.start()
        return f"kill -9, restarted after {s.hold:g} s {how}"

    def heal(self):
        """Undoes what is still broken (the run's end, or a step that failed midway):
        every proxy passes, paused processes resume, dead ones start again."""
        self.cluster.hub.set_mode(list(self.cluster.proxies.values()), PASS)
        for p in self.cluster.nodes + self.cluster.replicas:
            p.resume()
        for p in self.cluster.nodes + self.cluster.replicas:
            if not p.alive:
                p.start()
