"""The scenarios of make chaos: a topology, a workload profile and a fault schedule each,
with the anomaly kinds the docs allow for it (meta.allowed).

Owns: the list and the smoke subset. What is allowed comes from README ("What Redis
persistence buys", "Redis Sentinel", "Redis Cluster") and docs/redlock.md ("Safety model"): a
restart without persistence, from an older snapshot, or with AOF everysec may grant a lock
twice; AOF always may not; a Redlock node restored stale at once may let a majority grant
twice; a failover to a replica (Sentinel, or a Redis Cluster master's crash) may lose an
answered grant, since replication is asynchronous; a slot migration and a manual CLUSTER
FAILOVER lose nothing. Fences never repeat or go back, tokens are never reused or stored, and
waiters are never stranded, in every scenario. Every fault of issue 13 appears at least once,
and issue 16's Sentinel failover and Cluster slot migration. Python 3.11 standard library only.
"""

from dataclasses import dataclass, field

from nemesis import Step
from workload import Profile

DOUBLE = ("double_grant",)
# Many waiters on few names, so the line is never empty when a replica dies; waits long enough
# that a line stalled behind the dead replica's entries would outlast the checker's bound
# (liveness + recheck + slack, 4.5 s) after the dead calls' possible holds end.
WAITERS = Profile(clients=12, names=2, ttl_ms=(300, 900), wait_share=0.85,
                  wait_ms=(9000, 14000), hold_ttls=(0.2, 1.0), expire_share=0.05,
                  pause_share=0.0)


@dataclass(frozen=True)
class Scenario:
    name: str
    topology: str
    about: str
    steps: tuple
    duration_s: float = 10.0
    allowed: tuple = ()
    profile: Profile = field(default_factory=Profile)
    smoke: bool = False


def _links(kind, at, hold, arg=0, links=("dlockd*-redis*",)):
    """A proxy fault on the links matching links (default: every link)."""
    return Step(at, kind, links, hold, arg)


SCENARIOS = (
    Scenario("nopersist_restart_empty", "single-nopersist",
             "kill -9 of Redis without persistence, restarted empty (twice)",
             (Step(3.0, "restart_redis_empty", ("redis0",), 0.5),
              Step(7.0, "restart_redis_empty", ("redis0",), 0.3)),
             allowed=DOUBLE, smoke=True),
    Scenario("nopersist_restore_snapshot", "single-nopersist",
             "kill -9 of Redis, restarted from an RDB snapshot taken 3 s before (twice)",
             (Step(1.5, "snapshot", ("redis0",)),
              Step(4.5, "restore_old_snapshot", ("redis0",), 0.3),
              Step(5.5, "snapshot", ("redis0",)),
              Step(8.5, "restore_old_snapshot", ("redis0",), 0.3)),
             allowed=DOUBLE),
    Scenario("everysec_kill", "single-aof-everysec",
             "kill -9 of Redis with AOF everysec, restarted at once from its AOF (twice)",
             (Step(3.0, "kill_redis", ("redis0",), 0.3),
              Step(7.0, "kill_redis", ("redis0",), 0.3)),
             allowed=DOUBLE),
    Scenario("everysec_host_crash", "single-aof-everysec",
             "a host crash under AOF everysec: kill -9 of Redis, restarted from a copy of its AOF "
             "1 s old (what was not yet fsynced is lost; twice)",
             (Step(2.0, "snapshot", ("redis0",)),
              Step(3.0, "restore_old_snapshot", ("redis0",), 0.3),
              Step(6.0, "snapshot", ("redis0",)),
              Step(7.0, "restore_old_snapshot", ("redis0",), 0.3)),
             allowed=DOUBLE),
    Scenario("always_kill", "single-aof-always",
             "kill -9 of Redis with AOF always, restarted at once from its AOF (twice)",
             (Step(3.0, "kill_redis", ("redis0",), 0.3),
              Step(7.0, "kill_redis", ("redis0",), 1.0))),
    Scenario("always_pause_redis", "single-aof-always",
             "SIGSTOP of Redis for 3 s, beyond the longest lease (1.5 s)",
             (Step(3.0, "pause_redis", ("redis0",), 3.0),)),
    Scenario("dlockd_kill_waiters", "single-aof-always",
             "kill -9 of a dlockd replica with waiters queued, restarted 0.5 s later",
             (Step(3.5, "kill_dlockd", ("dlockd0",), 0.5),),
             duration_s=16.0, profile=WAITERS, smoke=True),
    Scenario("dlockd_pause_waiters", "single-aof-always",
             "SIGSTOP of a dlockd replica with waiters queued, for 4 s (beyond the liveness window)",
             (Step(3.5, "pause_dlockd", ("dlockd2",), 4.0),),
             duration_s=13.0, profile=WAITERS),
    Scenario("client_pause", "single-aof-always",
             "clients paused beyond their lease, then writing with their old fence",
             (),
             profile=Profile(pause_share=0.35, expire_share=0.1)),
    Scenario("proxy_delay", "single-aof-always",
             "latency between dlockd and Redis: 40 ms on every link, then 1.5 s (beyond "
             "--redis-timeout-ms) on one replica's links",
             (_links("proxy_delay", 2.0, 2.5, 40),
              _links("proxy_delay", 6.0, 2.0, 1500, ("dlockd0-redis*",)))),
    Scenario("proxy_blackhole", "single-aof-always",
             "dlockd-Redis links that forward nothing: one replica's for 2.5 s, then all for 2 s",
             (_links("proxy_blackhole", 2.5, 2.5, links=("dlockd1-redis*",)),
              _links("proxy_blackhole", 6.5, 2.0)),
             smoke=True),
    Scenario("proxy_reset", "single-aof-always",
             "dlockd-Redis connections reset and refused: all for 1.5 s, then one replica's",
             (_links("proxy_reset", 3.0, 1.5),
              _links("proxy_reset", 7.0, 1.5, links=("dlockd2-redis*",)))),
    Scenario("redlock3_minority_loss", "redlock3",
             "Redlock, 3 nodes: one node killed for 3 s; later one node cut off (blackhole)",
             (Step(2.5, "node_loss_minority", ("redis2",), 3.0),
              _links("proxy_blackhole", 7.0, 2.0, links=("dlockd*-redis0",))),
             smoke=True),
    Scenario("redlock3_majority_loss", "redlock3",
             "Redlock, 3 nodes: two nodes killed for 2.5 s, restarted from their AOF",
             (Step(3.0, "node_loss_majority", ("redis1", "redis2"), 2.5),)),
    Scenario("redlock3_stale_minority", "redlock3",
             "Redlock, 3 nodes: a node restored at once from a 4 s old copy while another was down",
             (Step(1.5, "snapshot", ("redis1",)),
              Step(3.0, "node_loss_minority", ("redis2",), 2.6),
              Step(5.5, "stale_minority_restore", ("redis1",), 0.05)),
             allowed=DOUBLE),
    Scenario("redlock5_faults", "redlock5",
             "Redlock, 5 nodes: two nodes killed; a node slowed past --node-timeout-ms and a "
             "node paused; then three nodes killed",
             (Step(1.5, "node_loss_minority", ("redis3", "redis4"), 2.5),
              _links("proxy_delay", 5.0, 2.0, 80, ("dlockd*-redis0",)),
              Step(5.0, "pause_redis", ("redis1",), 2.5),
              Step(8.5, "node_loss_majority", ("redis0", "redis1", "redis2"), 1.5)),
             duration_s=11.0),
    # README "Redis Sentinel" (Safety): replication is asynchronous, so a lock answered just
    # before the master died may be missing on the promoted replica and granted again.
    Scenario("sentinel_failover", "sentinel",
             "Sentinel: kill -9 of the master; the sentinels promote its replica and dlockd "
             "follows; the old master comes back as a replica",
             (Step(3.0, "sentinel_kill_master", ("master",), 1.0),),
             duration_s=13.0, allowed=DOUBLE),
    # SENTINEL FAILOVER does not stop the old master's writes before promoting the replica:
    # grants in between are lost like a crash's (README "Redis Sentinel", Safety).
    Scenario("sentinel_planned_failover", "sentinel",
             "Sentinel: SENTINEL FAILOVER while clients work; dlockd follows +switch-master",
             (Step(3.0, "sentinel_planned_failover", ("master",)),),
             duration_s=10.0, allowed=DOUBLE),
    # README "Redis Cluster": redirections are followed, never answered; a migration pauses a
    # slot's scripts (TRYAGAIN) but loses nothing.
    Scenario("cluster_slot_migration", "cluster3",
             "Redis Cluster: the slots of every lock name migrated to another master while "
             "clients work, keys one at a time (TRYAGAIN, ASK) or a slot at once, twice each",
             (Step(2.0, "slot_migration", ("c0", "c1", "c2"), arg=100),
              Step(5.0, "slot_migration", ("c3", "c4")),
              Step(7.0, "slot_migration", ("c0", "c1", "c2"), arg=30),
              Step(9.5, "slot_migration", ("c3", "c4"))),
             duration_s=12.0),
    # README "Redis Cluster": an automatic failover after a master crash has replication's
    # caveat (an answered grant the replica had not received is lost).
    Scenario("cluster_master_kill", "cluster3",
             "Redis Cluster: kill -9 of a master; the cluster promotes its replica; the old "
             "master comes back as a replica",
             (Step(3.0, "cluster_kill_master", ("redis1",), 1.0),),
             duration_s=13.0, allowed=DOUBLE),
    # README "Redis Cluster": a manual CLUSTER FAILOVER loses nothing.
    Scenario("cluster_manual_failover", "cluster3",
             "Redis Cluster: CLUSTER FAILOVER of a master to its replica, and back",
             (Step(2.5, "cluster_failover", ("redis3",)),
              Step(6.5, "cluster_failover", ("redis1",))),
             duration_s=10.0),
)


def select(smoke=False, only=None):
    """The scenarios to run: all, the smoke subset, or those named in only (a list)."""
    if only:
        by_name = {s.name: s for s in SCENARIOS}
        unknown = [n for n in only if n not in by_name]
        if unknown:
            raise KeyError(f"unknown scenario(s): {', '.join(unknown)}; "
                           f"known: {', '.join(by_name)}")
        return [by_name[n] for n in only]
    return [s for s in SCENARIOS if s.smoke or not smoke]
