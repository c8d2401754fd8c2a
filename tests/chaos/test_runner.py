#!/usr/bin/env python3
"""Unit tests of the runner's pure parts and of the fault proxy, without Redis or dlockd:
the register's rule, the history's lines, RESP replies, the proxy's four modes against a
local echo server, the nemesis's link patterns, and the scenario table (every fault of
issue 13, known targets, windows inside the run, what is allowed).
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
from cluster import TOPOLOGIES
from history import History
from nemesis import NODE_KILLS, PROXY_MODES, Nemesis
from proxy import BLACKHOLE, DELAY, PASS, RESET, ProxyHub
from resp import Redis, RedisError
from scenarios import SCENARIOS, select
from workload import Register

ISSUE_FAULTS = {"kill_redis", "restart_redis_empty", "restore_old_snapshot", "pause_redis",
                "pause_dlockd", "kill_dlockd", "node_loss_minority", "node_loss_majority",
                "stale_minority_restore", "proxy_delay", "proxy_blackhole", "proxy_reset"}


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


class Scenarios(unittest.TestCase):
    def test_every_fault_of_the_issue_is_run(self):
        kinds = {s.kind for sc in SCENARIOS for s in sc.steps}
        self.assertLessEqual(ISSUE_FAULTS, kinds)
        self.assertTrue(any(sc.profile.pause_share > 0 for sc in SCENARIOS))  # pause_client
        self.assertEqual({TOPOLOGIES[sc.topology].name for sc in SCENARIOS}, set(TOPOLOGIES))

    def test_steps_are_known_and_inside_the_run(self):
        known = set(NODE_KILLS) | set(PROXY_MODES) | {
            "pause_redis", "pause_dlockd", "kill_dlockd", "snapshot", "dump"}
        for sc in SCENARIOS:
            topo = TOPOLOGIES[sc.topology]
            nodes = {f"redis{i}" for i in range(topo.nodes)}
            for s in sc.steps:
                with self.subTest(scenario=sc.name, step=s):
                    self.assertIn(s.kind, known)
                    self.assertLess(s.at + s.hold, sc.duration_s)
                    if s.kind in NODE_KILLS or s.kind in ("pause_redis", "snapshot"):
                        self.assertLessEqual(set(s.targets), nodes)
                    if s.kind in ("restore_old_snapshot", "stale_minority_restore"):
                        self.assertTrue(any(p.kind == "snapshot" and p.at < s.at and
                                            set(s.targets) <= set(p.targets) for p in sc.steps))

    def test_allowed_only_where_the_docs_allow(self):
        for sc in SCENARIOS:
            with self.subTest(scenario=sc.name):
                self.assertLessEqual(set(sc.allowed), {"double_grant"})
                persistence = TOPOLOGIES[sc.topology].persistence
                if persistence == "always" and sc.name != "redlock3_stale_minority":
                    self.assertEqual(sc.allowed, ())

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
