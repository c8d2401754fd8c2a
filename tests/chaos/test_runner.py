#!/usr/bin/env python3
"""Unit tests of the runner's pure parts and of the fault proxy, without Redis or dlockd:
the register's rule, the history's lines, RESP replies, the proxy's four modes against a
local echo server, the nemesis's link patterns, Redis Cluster hash slots and CLUSTER NODES,
and the scenario table (every fault of issues 13 and 16, known targets on topologies that
have them, windows inside the run, what is allowed).
Run: python3 tests/chaos/test_runner.py (last line "N passed, N failed")."""

import io
import json
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

import unitmain
from cluster import TOPOLOGIES, key_slot, name_slot, parse_cluster_nodes, slot_owner
from history import History
from nemesis import MODE_FAULTS, NODE_KILLS, PROXY_MODES, Nemesis
from proxy import BLACKHOLE, DELAY, PASS, RESET, ProxyHub
from resp import Redis, RedisError
from scenarios import SCENARIOS, select
from workload import Register

ISSUE_FAULTS = {"kill_redis", "restart_redis_empty", "restore_old_snapshot", "pause_redis",
                "pause_dlockd", "kill_dlockd", "node_loss_minority", "node_loss_majority",
                "stale_minority_restore", "proxy_delay", "proxy_blackhole", "proxy_reset"}
# issue 16: a Sentinel failover and a Cluster slot migration as faults (and failovers inside
# a cluster)
ISSUE16_FAULTS = {"sentinel_kill_master", "sentinel_planned_failover", "slot_migration",
                  "cluster_kill_master", "cluster_failover"}
# Faults after which the docs allow a lock granted twice (README "What Redis persistence buys",
# "Redis Sentinel", "Redis Cluster"; docs/redlock.md): the data Redis restarts from, or the
# replica it fails over to, may lack answered grants. A kill with AOF always, a slot
# migration and a manual CLUSTER FAILOVER lose nothing.
LOSES_GRANTS = {"restart_redis_empty", "restore_old_snapshot", "stale_minority_restore",
                "sentinel_kill_master", "sentinel_planned_failover", "cluster_kill_master"}
# How long a step needs at least beyond its `at` (a failover or a migration takes seconds).
TAKES_S = {"sentinel_kill_master": 6.0, "cluster_kill_master": 5.0,
           "sentinel_planned_failover": 2.0, "cluster_failover": 1.0, "slot_migration": 1.5}


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class HistoryAndRegister(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "history.jsonl")

    def tearDown(self):
        self.dir.cleanup()

    def test_register_accepts_equal_or_higher_fences_only(self):
        with History(self.path, {"scenario": "t"}) as h:
            reg = Register(h)
            got = [reg.write("w0", "a", 5), reg.write("w1", "a", 5), reg.write("w2", "a", 4),
                   reg.write("w3", "b", 1), reg.write("w0", "a", 9)]
            h.end()
        self.assertEqual(got, [True, True, False, True, True])
        writes = [r for r in read_lines(self.path) if r["type"] == "write"]
        self.assertEqual([w["max_before"] for w in writes], [0, 5, 5, 0, 5])
        self.assertEqual((reg.accepted, reg.rejected), (4, 1))

    def test_meta_first_end_last_ids_grow(self):
        with History(self.path, {"scenario": "t", "allowed": []}) as h:
            ids = [h.next_id() for _ in range(3)]
            h.op({"id": ids[0], "client": "w0"})
            h.fault("kill_redis", "redis0", 1, 2, "x")
            h.end(errors=[])
        lines = read_lines(self.path)
        self.assertEqual(ids, [1, 2, 3])
        self.assertEqual(lines[0]["type"], "meta")
        self.assertIn("t0", lines[0])
        self.assertEqual([r["type"] for r in lines[1:]], ["op", "fault", "end"])


class Resp(unittest.TestCase):
    def parse(self, data):
        r = Redis.__new__(Redis)
        r.buf = io.BytesIO(data)
        return r._reply()

    def test_reply_kinds(self):
        self.assertEqual(self.parse(b"+OK\r\n"), b"OK")
        self.assertEqual(self.parse(b":42\r\n"), 42)
        self.assertEqual(self.parse(b"$3\r\nabc\r\n"), b"abc")
        self.assertIsNone(self.parse(b"$-1\r\n"))
        self.assertEqual(self.parse(b"*2\r\n$1\r\na\r\n:1\r\n"), [b"a", 1])

    def test_error_and_truncation(self):
        with self.assertRaises(RedisError):
            self.parse(b"-ERR no\r\n")
        with self.assertRaises(RedisError):
            self.parse(b"+OK")


class Echo:
    """A TCP echo server on a free port, in a thread."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        with c:
            while True:
                try:
                    data = c.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                c.sendall(data)

    def close(self):
        self.sock.close()


class Proxy(unittest.TestCase):
    def setUp(self):
        self.echo = Echo()
        self.hub = ProxyHub()
        self.p = self.hub.add("t", self.echo.port)

    def tearDown(self):
        self.hub.stop()
        self.echo.close()

    def connect(self, timeout=2.0):
        return socket.create_connection(("127.0.0.1", self.p.port), timeout=timeout)

    def test_pass_and_delay(self):
        with self.connect() as s:
            s.sendall(b"ping")
            self.assertEqual(s.recv(10), b"ping")
            self.hub.set_mode([self.p], DELAY, 100)
            t = time.monotonic()
            s.sendall(b"slow")
            self.assertEqual(s.recv(10), b"slow")
            self.assertGreaterEqual(time.monotonic() - t, 0.19)  # 100 ms each way

    def test_blackhole_holds_then_delivers(self):
        with self.connect() as s:
            self.hub.set_mode([self.p], BLACKHOLE)
            s.sendall(b"held")
            s.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                s.recv(10)
            self.hub.set_mode([self.p], PASS)
            s.settimeout(2.0)
            self.assertEqual(s.recv(10), b"held")

    def test_reset_closes_and_refuses(self):
        s = self.connect()
        s.sendall(b"x")
        self.assertEqual(s.recv(10), b"x")
        self.hub.set_mode([self.p], RESET)
        with self.assertRaises(OSError):
            s.sendall(b"y")
            if not s.recv(10):  # an orderly close would be a bug too
                raise ConnectionResetError
        s.close()
        with self.assertRaises(ConnectionRefusedError):
            self.connect()
        self.hub.set_mode([self.p], PASS)
        with self.connect() as s2:
            s2.sendall(b"z")
            self.assertEqual(s2.recv(10), b"z")


class FakeCluster:
    def __init__(self, replicas, nodes):
        self.proxies = {(r, n): f"p{r}{n}" for r in range(replicas) for n in range(nodes)}


class Links(unittest.TestCase):
    def pick(self, *patterns):
        nem = Nemesis(FakeCluster(3, 3), None, [], "", 0)
        return nem._proxies(type("S", (), {"targets": patterns})())

    def test_patterns(self):
        self.assertEqual(self.pick("dlockd1-redis*"), ["p10", "p11", "p12"])
        self.assertEqual(self.pick("dlockd*-redis2"), ["p02", "p12", "p22"])
        self.assertEqual(len(self.pick("dlockd*-redis*")), 9)
        self.assertEqual(self.pick("dlockd0-redis0", "dlockd2-redis1"), ["p00", "p21"])


class Slots(unittest.TestCase):
    def test_key_slot_as_redis(self):
        # CLUSTER KEYSLOT of Redis 7.0
        self.assertEqual(key_slot("foo"), 12182)
        self.assertEqual(key_slot("123456789"), 0x31C3 % 16384)
        self.assertEqual(key_slot("{user1000}.following"), key_slot("user1000"))
        self.assertEqual(key_slot("foo{}{bar}"), key_slot("foo{}{bar}".encode()))  # {} empty: whole key
        self.assertNotEqual(key_slot("foo{}{bar}"), key_slot("bar"))
        self.assertEqual(key_slot("foo{{bar}}zap"), key_slot("{bar"))
        self.assertEqual(name_slot("c0"), key_slot("c0"))
        self.assertEqual(name_slot("c0"), key_slot("dlock:fence:{c0}"))

    def test_cluster_nodes(self):
        text = (
            "07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected\n"
            "67ed 127.0.0.1:30002@40002,host2 master - 0 1426238316232 2 connected 5501-10922 "
            "[6000->-e7d1]\n"
            "292f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383\n"
            "6ec2 127.0.0.1:30005@40005 master,fail - 1426238316232 0 5 disconnected\n"
            "e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 5500\n")
        infos = parse_cluster_nodes(text)
        self.assertEqual([i.port for i in infos], [30004, 30002, 30003, 30005, 30001])
        self.assertEqual(infos[0].master_id, "e7d1")
        self.assertFalse(infos[0].is_master)
        self.assertFalse(infos[3].is_master)  # failed
        self.assertEqual(infos[1].slots, [(5501, 10922)])  # the migration mark left out
        self.assertEqual(infos[4].slots, [(0, 5460), (5500, 5500)])
        self.assertEqual(slot_owner(infos, 0).port, 30001)
        self.assertEqual(slot_owner(infos, 5500).port, 30001)
        self.assertEqual(slot_owner(infos, 6000).port, 30002)
        self.assertEqual(slot_owner(infos, 16383).port, 30003)
        self.assertIsNone(slot_owner(parse_cluster_nodes(text.replace("10923-16383", "")), 16383))


class Scenarios(unittest.TestCase):
    def test_every_fault_of_the_issue_is_run(self):
        kinds = {s.kind for sc in SCENARIOS for s in sc.steps}
        self.assertLessEqual(ISSUE_FAULTS | ISSUE16_FAULTS, kinds)
        self.assertTrue(any(sc.profile.pause_share > 0 for sc in SCENARIOS))  # pause_client
        self.assertEqual({TOPOLOGIES[sc.topology].name for sc in SCENARIOS}, set(TOPOLOGIES))

    def test_steps_are_known_and_inside_the_run(self):
        known = set(NODE_KILLS) | set(PROXY_MODES) | set(MODE_FAULTS) | {
            "pause_redis", "pause_dlockd", "kill_dlockd", "snapshot", "dump"}
        for sc in SCENARIOS:
            topo = TOPOLOGIES[sc.topology]
            nodes = {f"redis{i}" for i in range(topo.nodes)}
            names = {f"c{i}" for i in range(sc.profile.names)}
            for s in sc.steps:
                with self.subTest(scenario=sc.name, step=s):
                    self.assertIn(s.kind, known)
                    self.assertLess(s.at + s.hold + TAKES_S.get(s.kind, 0), sc.duration_s)
                    if s.kind in NODE_KILLS or s.kind in ("pause_redis", "snapshot"):
                        self.assertLessEqual(set(s.targets), nodes)
                    if s.kind in ("restore_old_snapshot", "stale_minority_restore"):
                        self.assertTrue(any(p.kind == "snapshot" and p.at < s.at and
                                            set(s.targets) <= set(p.targets) for p in sc.steps))
                    # a fault that needs a Sentinel or a Cluster runs on one; the proxies
                    # exist only between dlockd and nodes it is given directly
                    if s.kind in MODE_FAULTS:
                        self.assertEqual(topo.mode, MODE_FAULTS[s.kind])
                    if s.kind in PROXY_MODES:
                        self.assertEqual(topo.mode, "direct")
                    if s.kind.startswith("sentinel_"):
                        self.assertEqual(s.targets, ("master",))
                    if s.kind == "slot_migration":
                        self.assertTrue(s.targets)
                        self.assertLessEqual(set(s.targets), names)
                    if s.kind in ("cluster_kill_master", "cluster_failover"):
                        self.assertEqual(len(s.targets), 1)
                        self.assertIn(s.targets[0], nodes)

    def test_cluster_faults_find_something(self):
        """The migrated names' slots are spread over the three masters redis-cli --cluster
        create makes (0-5460, 5461-10922, 10923-16383), every name moves at least twice, and
        the killed or failed-over master is the one with the replica (master 1)."""
        for sc in SCENARIOS:
            topo = TOPOLOGIES[sc.topology]
            if topo.mode != "cluster":
                continue
            with self.subTest(scenario=sc.name):
                moved = [n for s in sc.steps if s.kind == "slot_migration" for n in s.targets]
                if moved:
                    thirds = {name_slot(n) * topo.masters // 16384 for n in moved}
                    self.assertEqual(thirds, set(range(topo.masters)))
                    self.assertEqual(set(moved), {f"c{i}" for i in range(sc.profile.names)})
                    self.assertTrue(all(moved.count(n) >= 2 for n in moved))
                    self.assertTrue(any(s.arg for s in sc.steps))  # keys split for a while
                for s in sc.steps:
                    if s.kind == "cluster_kill_master":
                        self.assertEqual(s.targets, ("redis1",))
                    if s.kind == "cluster_failover":  # the replica, then back to redis1
                        self.assertIn(s.targets[0], {"redis1"} | {
                            f"redis{i}" for i in range(topo.masters, topo.nodes)})

    def test_every_fault_has_its_colour_in_the_report(self):
        import report
        kinds = {s.kind for sc in SCENARIOS for s in sc.steps} - {"snapshot", "dump"}
        self.assertLessEqual(kinds | {"pause_client"}, set(report.FAULT_COLOURS))

    def test_allowed_only_where_the_docs_allow(self):
        for sc in SCENARIOS:
            with self.subTest(scenario=sc.name):
                self.assertLessEqual(set(sc.allowed), {"double_grant"})
                persistence = TOPOLOGIES[sc.topology].persistence
                loses = any(s.kind in LOSES_GRANTS or (
                    s.kind in NODE_KILLS and persistence != "always") for s in sc.steps)
                self.assertEqual(sc.allowed, ("double_grant",) if loses else ())

    def test_selection(self):
        self.assertEqual({s.name for s in select(smoke=True)},
                         {"nopersist_restart_empty", "dlockd_kill_waiters", "proxy_blackhole",
                          "redlock3_minority_loss"})
        self.assertEqual(len(select()), len(SCENARIOS))
        self.assertEqual([s.name for s in select(only=["always_kill"])], ["always_kill"])
        with self.assertRaises(KeyError):
            select(only=["nope"])


if __name__ == "__main__":
    sys.exit(unitmain.run(__name__))
