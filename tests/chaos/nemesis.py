"""The nemesis of make chaos: runs a scenario's fault schedule against a cluster.

Owns: the fault steps (what, on which targets, when, for how long), carrying each out in a
thread of its own (so windows may overlap) and recording one fault line per window when it
ends; snapshots of nodes' data for later restores; mid-run Redis dumps; Sentinel failovers,
Redis Cluster slot migrations and failovers; and healing whatever a step left broken at the
end. Knows the cluster's processes and proxies, not the workload.
Python 3.11 standard library only.
"""

import fnmatch
import os
import threading
import time
from dataclasses import dataclass

from cluster import SENTINEL_MASTER, name_slot, slot_owner
from history import now
from proxy import BLACKHOLE, DELAY, PASS, RESET
from resp import RedisError, dump

NODE_KILLS = ("kill_redis", "restart_redis_empty", "restore_old_snapshot",
              "node_loss_minority", "node_loss_majority", "stale_minority_restore")
PROXY_MODES = {"proxy_delay": DELAY, "proxy_blackhole": BLACKHOLE, "proxy_reset": RESET}
# The faults that need a topology of a given mode (cluster.Topology.mode); every other kind
# needs "direct" for the proxies, or works on any topology (pauses, kill_dlockd, snapshots).
MODE_FAULTS = {"sentinel_kill_master": "sentinel", "sentinel_planned_failover": "sentinel",
               "slot_migration": "cluster", "cluster_kill_master": "cluster",
               "cluster_failover": "cluster"}
FAILOVER_TIMEOUT_S = 30.0   # a failover or migration that takes longer fails the run
MIGRATE_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Step:
    """At `at` seconds into the workload, do `kind` to `targets` for `hold` seconds.
    kind: a fault kind of the history format, or "snapshot" (copy the nodes' data for a
    later restore_old_snapshot / stale_minority_restore; no fault line) or "dump" (a
    redis_dump line per node). targets: node names (redis1), replica names (dlockd0), for
    proxy faults link patterns "dlockd<r>-redis<n>" where r and n may be "*", "master" for
    the Sentinel faults (whichever node the sentinels name then), lock names for
    slot_migration (the slots of their keys are moved).
    arg: the delay in ms of proxy_delay; for slot_migration the pause in ms between the
    MIGRATE of one key and the next (0: every key of the slot in one MIGRATE ... KEYS).
    hold: for sentinel_kill_master and cluster_kill_master, how long the killed master stays
    down after the failover completed (then it comes back as a replica)."""
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


def _redirections(node):
    """{"ASK": n, "MOVED": n, "TRYAGAIN": n, "ASKING": n}: the redirections node has answered
    and the ASKING commands it has run so far (INFO errorstats, commandstats)."""
    out = {}
    try:
        text = node.call("INFO", "errorstats", timeout=1.0).decode() + \
            node.call("INFO", "commandstats", timeout=1.0).decode()
    except (OSError, RedisError):
        return out
    for line in text.splitlines():
        for key, pre in (("ASK", "errorstat_ASK:count="), ("MOVED", "errorstat_MOVED:count="),
                         ("TRYAGAIN", "errorstat_TRYAGAIN:count="),
                         ("ASKING", "cmdstat_asking:calls=")):
            if line.startswith(pre):
                out[key] = int(line[len(pre):].split(",")[0])
    return out


class Nemesis:
    """Runs steps against cluster, timed from t_start (a history.now() time)."""

    def __init__(self, cluster, history, steps, snap_dir, t_start):
        self.cluster, self.history, self.steps = cluster, history, steps
        self.snap_dir, self.t_start = snap_dir, t_start
        self.snapshots = {}  # node name -> (time taken, path)
        self.errors = []
        self.threads = []
        # Topology changes (failovers, migrations) one at a time, whatever the schedule.
        self.topology_lock = threading.Lock()
        self.failovers = 0  # failovers made by the schedule (Sentinel or Cluster)

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
        elif s.kind in MODE_FAULTS:
            with self.topology_lock:
                getattr(self, "_" + s.kind)(s)
            return  # each writes its own fault lines
        elif s.kind in PROXY_MODES:
            proxies = self._proxies(s)
            if not proxies:
                raise ValueError(f"no link matches {s.targets} (a topology without proxies?)")
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

    # -------------------------------------------------------- failovers ---

    def _ready_after(self, t0, timeout=15.0):
        """Seconds from t0 until every dlockd answers /readyz 200 (polled from now), or None
        if that did not happen within timeout: what the fault detail reports of dlockd."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(r.ready() for r in self.cluster.replicas):
                return (now() - t0) / 1e9
            time.sleep(0.05)
        return None

    @staticmethod
    def _secs(x):
        return ("not within 15 s of the window's end" if x is None else
                f"{x:.2f} s after the fault began (polled from the window's end on)")

    def _until(self, cond, what, timeout=FAILOVER_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not within {timeout:g} s")
            time.sleep(0.02)

    def _sentinel_promoted(self, old):
        """Every sentinel names a master other than old, and that node says ROLE master."""
        new = self.cluster.sentinel_master()
        return new is not None and new is not old and new.role() == "master"

    def _sentinel_kill_master(self, s):
        """kill -9 of the master; the window ends when every sentinel names the promoted
        replica and it answers as master. After s.hold more seconds the old master comes
        back from its own data as a replica of the new one (what Sentinel would make of it)."""
        cl = self.cluster
        old = cl.sentinel_master()
        if old is None:
            raise RuntimeError("the sentinels do not agree on a master")
        t0 = now()
        old.kill()
        self._until(lambda: self._sentinel_promoted(old), "a promoted replica")
        t1 = now()
        new = cl.sentinel_master()
        ready = self._ready_after(t0)
        time.sleep(max(0.0, t1 / 1e9 + s.hold - now() / 1e9))
        old.extra = ["--replicaof", "127.0.0.1", str(new.port)]
        old.start()
        t_back = now()
        self._until(lambda: cl.replica_synced(old, new), f"{old.name} in sync with {new.name}")
        self.failovers += 1
        self.history.fault(
            "sentinel_kill_master", old.name, t0, t1,
            f"kill -9 of master {old.name}; sentinels promoted {new.name} after "
            f"{(t1 - t0) / 1e9:.2f} s; every dlockd ready {self._secs(ready)}; {old.name} "
            f"restarted {(t_back - t1) / 1e9:.1f} s later as its replica, in sync "
            f"{(now() - t_back) / 1e9:.2f} s after")

    def _sentinel_planned_failover(self, s):
        """SENTINEL FAILOVER (a planned failover: Sentinel promotes the replica and tells the
        old master to follow it, with no pause of the writes in between); the window ends
        when every sentinel names the new master and it answers as master."""
        cl = self.cluster
        old = cl.sentinel_master()
        if old is None:
            raise RuntimeError("the sentinels do not agree on a master")
        t0 = now()
        asked = None
        for sen in cl.sentinels:
            try:
                sen.call("SENTINEL", "FAILOVER", SENTINEL_MASTER)
                asked = sen.name
                break
            except (OSError, RedisError):
                continue  # e.g. -INPROG, or no good replica in this sentinel's view
        if asked is None:
            raise RuntimeError("no sentinel accepted SENTINEL FAILOVER")
        self._until(lambda: self._sentinel_promoted(old), "the planned failover")
        t1 = now()
        new = cl.sentinel_master()
        ready = self._ready_after(t0)
        self.failovers += 1
        self.history.fault(
            "sentinel_planned_failover", old.name, t0, t1,
            f"SENTINEL FAILOVER via {asked}: {new.name} master after {(t1 - t0) / 1e9:.2f} s "
            f"(every sentinel agrees); every dlockd ready {self._secs(ready)}")

    # ------------------------------------------------------------ Cluster ---

    def _view(self):
        """The cluster as the first running master sees it (CLUSTER NODES)."""
        for n in self.cluster.nodes:
            if n.alive and n.role() == "master":
                return n, self.cluster.cluster_nodes(n)
        raise RuntimeError("no running master")

    def _slot_migration(self, s):
        """For each lock name in s.targets, its slot moves from its master to the next
        master (by node order): IMPORTING on the target, MIGRATING on the source, MIGRATE
        of its keys (one at a time s.arg ms apart, or all at once) until none is left, then
        SETSLOT NODE on the target, the source and every other master. One fault line per
        slot, from IMPORTING to the last SETSLOT NODE."""
        cl = self.cluster
        for name in s.targets:
            slot = name_slot(name)
            _, infos = self._view()
            src_info = slot_owner(infos, slot)
            if src_info is None:
                raise RuntimeError(f"no master serves slot {slot} ({name})")
            masters = sorted((cl.node_by_port(i.port) for i in infos if i.is_master and i.slots),
                             key=lambda n: cl.nodes.index(n))
            src = cl.node_by_port(src_info.port)
            dst = masters[(masters.index(src) + 1) % len(masters)]
            dst_id = next(i.id for i in infos if i.port == dst.port)
            before = {n.name: _redirections(n) for n in masters}
            t0 = now()
            dst.call("CLUSTER", "SETSLOT", slot, "IMPORTING", src_info.id)
            src.call("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            moved, rounds = 0, 0
            while True:
                keys = src.call("CLUSTER", "GETKEYSINSLOT", slot, 1000)
                if not keys:
                    break
                rounds += 1
                if rounds > 50:
                    raise RuntimeError(f"slot {slot} still has keys after 50 rounds")
                batches = [[k] for k in keys] if s.arg else [keys]
                for b in batches:
                    r = src.call("MIGRATE", "127.0.0.1", dst.port, "", 0, MIGRATE_TIMEOUT_MS,
                                 "KEYS", *b, timeout=MIGRATE_TIMEOUT_MS / 1000 + 2)
                    if r == b"OK":
                        moved += len(b)  # NOKEY: gone (expired) meanwhile
                    if s.arg:
                        time.sleep(s.arg / 1000)
            others = [m for m in masters if m is not src and m is not dst]
            for n in [dst, src] + others:
                n.call("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            t1 = now()
            time.sleep(0.3)  # the MOVED answers to maps not yet refreshed count too
            seen = {}
            for n in masters:
                for k, v in _redirections(n).items():
                    seen[k] = seen.get(k, 0) + v - before[n.name].get(k, 0)
            how = f"one at a time, {s.arg} ms apart" if s.arg else "all at once"
            self.history.fault(
                "slot_migration", f"slot{slot}", t0, t1,
                f"slot {slot} ({name}'s keys) from {src.name} to {dst.name}: {moved} keys "
                f"migrated {how} in {rounds} round(s); redirections answered until 0.3 s "
                f"after: " + (", ".join(f"{k} {v}" for k, v in sorted(seen.items()) if v)
                              or "none"))

    def _owners_of(self, slots, node):
        """Every running node sees node as the master of every slot in slots, and the
        cluster has settled (cluster_state:ok everywhere, one view)."""
        cl = self.cluster
        if not cl.cluster_settled():
            return False
        for n in cl.nodes:
            if not n.alive:
                continue
            try:
                infos = cl.cluster_nodes(n)
            except (OSError, RedisError):
                return False
            for a, b in slots:
                for slot in (a, b):
                    o = slot_owner(infos, slot)
                    if o is None or o.port != node.port:
                        return False
        return True

    def _replica_of(self, master):
        """The running node that replicates master (CLUSTER NODES), or an error."""
        view_node, infos = self._view()
        me = next(i for i in infos if i.port == master.port)
        reps = [self.cluster.node_by_port(i.port) for i in infos
                if i.master_id == me.id and "slave" in i.flags]
        reps = [r for r in reps if r is not None and r.alive]
        if not reps:
            raise RuntimeError(f"{master.name} has no running replica")
        return me, reps[0]

    def _cluster_kill_master(self, s):
        """kill -9 of a master with a replica; the window ends when every running node
        sees the replica as master of the old master's slots and the cluster has settled.
        After s.hold more seconds the old master restarts from its own data and nodes.conf
        and rejoins as a replica (Redis Cluster does that itself)."""
        cl = self.cluster
        old = cl.node(s.targets[0])
        me, rep = self._replica_of(old)
        t0 = now()
        old.kill()
        self._until(lambda: self._owners_of(me.slots, rep), f"{rep.name} promoted")
        t1 = now()
        ready = self._ready_after(t0)
        time.sleep(max(0.0, t1 / 1e9 + s.hold - now() / 1e9))
        old.start()
        t_back = now()
        self._until(lambda: cl.replica_synced(old, rep) and cl.cluster_settled(),
                    f"{old.name} back as a replica of {rep.name}")
        self.failovers += 1
        self.history.fault(
            "cluster_kill_master", old.name, t0, t1,
            f"kill -9 of master {old.name}; its replica {rep.name} master of its "
            f"{sum(b - a + 1 for a, b in me.slots)} slots in every node's view after "
            f"{(t1 - t0) / 1e9:.2f} s; every dlockd ready {self._secs(ready)}; {old.name} "
            f"restarted {(t_back - t1) / 1e9:.1f} s later, a replica in sync "
            f"{(now() - t_back) / 1e9:.2f} s after")

    def _cluster_failover(self, s):
        """CLUSTER FAILOVER on a replica (a manual failover: its master stops taking writes
        until the replica has them all, then the replica takes over); the window ends when
        every running node sees it master of the slots and the cluster has settled."""
        cl = self.cluster
        rep = cl.node(s.targets[0])
        view_node, infos = self._view()
        me = next(i for i in infos if i.port == rep.port)
        master = next(i for i in infos if i.id == me.master_id)
        t0 = now()
        rep.call("CLUSTER", "FAILOVER")
        self._until(lambda: self._owners_of(master.slots, rep), f"{rep.name} promoted")
        t1 = now()
        ready = self._ready_after(t0)
        self.failovers += 1
        self.history.fault(
            "cluster_failover", rep.name, t0, t1,
            f"CLUSTER FAILOVER on {rep.name}: master of {cl.node_by_port(master.port).name}'s "
            f"{sum(b - a + 1 for a, b in master.slots)} slots in every node's view after "
            f"{(t1 - t0) / 1e9:.2f} s; every dlockd ready {self._secs(ready)}")

    def unplanned_failovers(self):
        """Failovers the schedule did not make (e.g. a master taken for dead on a loaded
        machine): the history would not show them as faults, so the run says so as an
        error. Sentinel: the master's config epoch counts its failovers; Cluster: the nodes'
        logs say "Failover election won" once per promotion."""
        cl = self.cluster
        made = None
        if cl.sentinels:
            for sen in cl.sentinels:
                try:
                    flat = sen.call("SENTINEL", "MASTER", SENTINEL_MASTER, timeout=2.0)
                except (OSError, RedisError):
                    continue
                d = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
                made = max(made or 0, int(d.get("config-epoch", b"0")))
        elif cl.topology.mode == "cluster":
            made = 0
            for n in cl.nodes:
                try:
                    with open(n.log_path, encoding="utf-8", errors="replace") as f:
                        made += f.read().count("Failover election won")
                except OSError:
                    pass
        if made is not None and made > self.failovers:
            return [f"{made - self.failovers} failover(s) the schedule did not make "
                    f"({made} seen, {self.failovers} made): see the sentinel/redis logs"]
        return []

    def heal(self):
        """Undoes what is still broken (the run's end, or a step that failed midway):
        every proxy passes, paused processes resume, dead ones start again."""
        self.cluster.hub.set_mode(list(self.cluster.proxies.values()), PASS)
        for p in self.cluster.nodes + self.cluster.replicas:
            p.resume()
        for p in self.cluster.nodes + self.cluster.replicas:
            if not p.alive:
                p.start()
