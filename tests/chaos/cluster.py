"""The processes of one chaos run: redis-server nodes, dlockd replicas and the fault proxies
between them (one per replica and node), all on 127.0.0.1; in the Sentinel topology also the
redis-sentinel processes, in the Cluster topology a Redis Cluster made with redis-cli.

Owns: the topologies (how many nodes, which persistence, as README's persistence table,
docs/redlock.md and docker/compose.redlock.yaml, compose.sentinel.yaml and compose.cluster.yaml
say), starting, killing (-9), pausing (SIGSTOP/SIGCONT) and restarting every process, a node's
data directory (wiped, copied as a snapshot, restored from one), asking the sentinels or the
cluster who is master of what (hash slots, CLUSTER NODES), and stopping everything it started,
whatever happens. Knows nothing of the workload or the history. Python 3.11 standard library.
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

from proxy import ProxyHub, free_port
from resp import Redis, RedisError

PREFIX = "dlock:"  # dlockd's default --prefix


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: int
    persistence: str  # "none", "everysec" or "always"
    # "direct": one --redis redis:// per node, each link through a fault proxy (one node: a
    # single Redis, several: Redlock). "sentinel": node 0 master, node 1 its replica, watched
    # by `sentinels` redis-sentinel processes; dlockd gets one redis+sentinel:// address.
    # "cluster": nodes 0..masters-1 are the masters of a Redis Cluster, every other node a
    # replica of master 1; dlockd gets one redis+cluster:// address. Neither has proxies:
    # dlockd connects where the sentinels or CLUSTER SLOTS say, the nodes' real ports.
    mode: str = "direct"
    sentinels: int = 0
    masters: int = 0


TOPOLOGIES = {t.name: t for t in (
    Topology("single-nopersist", 1, "none"),
    Topology("single-aof-everysec", 1, "everysec"),
    Topology("single-aof-always", 1, "always"),
    # docs/redlock.md: nodes that restart at once run AOF with appendfsync always.
    Topology("redlock3", 3, "always"),
    Topology("redlock5", 5, "always"),
    # docker/compose.sentinel.yaml: master + replica with AOF everysec, three sentinels,
    # quorum 2 (down-after and failover-timeout short, as in tests/blackbox/test_sentinel.c).
    Topology("sentinel", 2, "everysec", mode="sentinel", sentinels=3),
    # docker/compose.cluster.yaml: 3 masters with AOF everysec, made by redis-cli --cluster
    # create; plus one replica (of master 1), as in tests/blackbox/harness_cluster.c.
    Topology("cluster3", 4, "everysec", mode="cluster", masters=3),
)}

SENTINEL_MASTER = "chaos"            # the master name the sentinels monitor
SENTINEL_DOWN_AFTER_MS = 2000        # test_sentinel.c has 1000: too twitchy under load
SENTINEL_FAILOVER_TIMEOUT_MS = 2000
CLUSTER_NODE_TIMEOUT_MS = 1000       # as tests/blackbox/harness_cluster.c
SLOTS = 16384

PERSISTENCE_ARGS = {
    "none": ["--appendonly", "no"],
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
}


def crc16(data):
    """CRC16-CCITT (XMODEM), the hash of Redis Cluster's key slots."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The hash slot of a key (CLUSTER KEYSLOT): of the part between the first { and the
    next } when that part is not empty, else of the whole key."""
    k = key.encode() if isinstance(key, str) else key
    a = k.find(b"{")
    if a >= 0:
        b = k.find(b"}", a + 1)
        if b > a + 1:
            k = k[a + 1:b]
    return crc16(k) % SLOTS


def name_slot(name, prefix=PREFIX):
    """The slot of every key of lock `name` (dlockd's keys are <prefix><type>:{<name>})."""
    return key_slot(f"{prefix}lock:{{{name}}}")


@dataclass
class ClusterNodeInfo:
    """One line of CLUSTER NODES."""
    id: str
    port: int
    flags: frozenset
    master_id: str      # "-" for a master
    slots: list         # [(first, last)], migrating/importing marks left out

    @property
    def is_master(self):
        return "master" in self.flags and not self.flags & {"fail", "noaddr", "handshake"}


def parse_cluster_nodes(text):
    """CLUSTER NODES' reply (text) as a list of ClusterNodeInfo."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        addr = f[1].split("@")[0].split(",")[0]
        port = int(addr.rsplit(":", 1)[1]) if ":" in addr and addr.rsplit(":", 1)[1] else 0
        slots = []
        for r in f[8:]:
            if r.startswith("["):
                continue  # [slot->-id] / [slot-<-id]: a migration under way
            a, _, b = r.partition("-")
            slots.append((int(a), int(b or a)))
        out.append(ClusterNodeInfo(f[0], port, frozenset(f[2].split(",")), f[3], slots))
    return out


def slot_owner(infos, slot):
    """The ClusterNodeInfo of the master serving slot in this view, or None."""
    for n in infos:
        if n.is_master and any(a <= slot <= b for a, b in n.slots):
            return n
    return None


def _free_cluster_port():
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        p = free_port()
        if p + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 10000))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port with a free cluster bus port")


def _wait_until(ready, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout} s")
        time.sleep(0.02)


def _ping(node):
    """Whether the Redis or sentinel process of node answers PING (it must still run)."""
    if not node.alive:
        raise RuntimeError(f"{node.name} exited with {node.proc.returncode}; see {node.log_path}")
    try:
        with Redis(node.port, 0.5) as r:
            return r.call("PING") == b"PONG"
    except (OSError, RedisError):
        return False


def _spawn(node, argv, timeout):
    """Starts node's process (argv) and returns once it answers PING."""
    node.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    _wait_until(node.ping, timeout, node.name)


class _Process:
    """A child process we started, known by its pid only."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self.paused = False

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 and reap."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.paused = False

    def pause(self):
        if self.alive:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, grace=3.0):
        """SIGTERM (after SIGCONT if paused), then SIGKILL after grace seconds."""
        if not self.alive:
            return
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()


class RedisNode(_Process):
    """One redis-server on a fixed port with its own data directory."""

    def __init__(self, name, data_dir, log_path, persistence, cluster=False):
        super().__init__(name)
        self.port = _free_cluster_port() if cluster else free_port()
        self.data_dir, self.log_path, self.persistence = data_dir, log_path, persistence
        # More arguments: --cluster-enabled ..., or --replicaof HOST PORT (which the nemesis
        # changes when it brings a failed master back as a replica of the new one).
        self.extra = []
        if cluster:
            self.extra = ["--cluster-enabled", "yes", "--cluster-config-file",
                          os.path.join(data_dir, "nodes.conf"), "--cluster-node-timeout",
                          str(CLUSTER_NODE_TIMEOUT_MS)]
        os.makedirs(data_dir, exist_ok=True)

    def args(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--protected-mode", "no", "--daemonize", "no", "--dir", self.data_dir,
                "--logfile", self.log_path, "--save", "", "--maxmemory-policy", "noeviction",
                ] + PERSISTENCE_ARGS[self.persistence] + self.extra

    def call(self, *args, timeout=2.0):
        """One command on this node (directly, never through a proxy)."""
        with Redis(self.port, timeout) as r:
            return r.call(*args)

    def role(self):
        """ROLE's first field ("master", "slave"), or None if the node does not answer."""
        try:
            return self.call("ROLE", timeout=1.0)[0].decode()
        except (OSError, RedisError, IndexError, AttributeError):
            return None

    def start(self, timeout=10.0):
        """Starts redis-server on its data directory; returns once it answers PING."""
        _spawn(self, self.args(), timeout)

    def ping(self):
        return _ping(self)

    def wipe(self):
        """Empties the data directory (the node must be down)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        os.makedirs(self.data_dir)

    def snapshot(self, dest):
        """Copies what the node would restart from now to dest: SAVE writes dump.rdb (the
        file a node without AOF loads); with AOF, the append-only directory as it stands
        (a crash-consistent copy; Redis loads a truncated last command)."""
        with Redis(self.port, 5.0) as r:
            r.call("SAVE")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.data_dir, dest)

    def restore(self, src):
        """Replaces the data directory with the copy at src (the node must be down)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.copytree(src, self.data_dir)


class Replica(_Process):
    """One dlockd on a fixed port: one --redis per address (direct: each node through its
    own proxy; sentinel, cluster: one address naming the sentinels or the seed nodes)."""

    def __init__(self, index, dlockd, redis_urls, log_path):
        super().__init__(f"dlockd{index}")
        self.index, self.dlockd, self.log_path = index, dlockd, log_path
        self.port = free_port()
        self.redis_urls = redis_urls

    def args(self):
        out = [self.dlockd, "--listen", f"127.0.0.1:{self.port}", "--log-level", "warn",
               "--max-connections-per-ip", "0"]
        for u in self.redis_urls:
            out += ["--redis", u]
        return out

    def start(self, timeout=10.0):
        """Starts dlockd; returns once /healthz answers 200."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        _wait_until(self.healthy, timeout, self.name)

    def _get(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except OSError:
            return None
        finally:
            conn.close()

    def healthy(self):
        if not self.alive:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
        return self._get("/healthz") == 200

    def ready(self):
        """/readyz answers 200: dlockd serves (in Sentinel mode: a confirmed master; in
        Cluster mode: every slot served by a master it is connected to)."""
        return self.alive and not self.paused and self._get("/readyz") == 200


class Sentinel(_Process):
    """One redis-sentinel monitoring SENTINEL_MASTER, with its own config file (Sentinel
    rewrites it)."""

    def __init__(self, index, work_dir, log_path):
        super().__init__(f"sentinel{index}")
        self.index, self.log_path = index, log_path
        self.port = free_port()
        self.id = f"{1000 + index:040d}"
        self.conf = os.path.join(work_dir, f"sentinel{index}.conf")
        self.dir = work_dir

    def write_config(self, master_port, replica_ports, peers):
        lines = [f"port {self.port}", "bind 127.0.0.1", "protected-mode no", "daemonize no",
                 f"dir {self.dir}", f"logfile {self.log_path}", f"sentinel myid {self.id}",
                 f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {master_port} 2",
                 f"sentinel down-after-milliseconds {SENTINEL_MASTER} {SENTINEL_DOWN_AFTER_MS}",
                 f"sentinel failover-timeout {SENTINEL_MASTER} {SENTINEL_FAILOVER_TIMEOUT_MS}"]
        lines += [f"sentinel known-replica {SENTINEL_MASTER} 127.0.0.1 {p}" for p in replica_ports]
        lines += [f"sentinel known-sentinel {SENTINEL_MASTER} 127.0.0.1 {o.port} {o.id}"
                  for o in peers if o is not self]
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0):
        _spawn(self, ["redis-sentinel", self.conf], timeout)

    def ping(self):
        return _ping(self)

    def call(self, *args, timeout=2.0):
        with Redis(self.port, timeout) as r:
            return r.call(*args)

    def master_port(self):
        """The port of the master this sentinel names now, or None."""
        try:
            r = self.call("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER, timeout=1.0)
            return int(r[1]) if r else None
        except (OSError, RedisError, ValueError, IndexError, TypeError):
            return None

    def replicas_ok(self):
        """The ports of the replicas this sentinel could promote: connected, not down, their
        link to the master up."""
        try:
            reps = self.call("SENTINEL", "REPLICAS", SENTINEL_MASTER, timeout=1.0)
        except (OSError, RedisError):
            return set()
        ok = set()
        for flat in reps or []:
            d = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat) - 1, 2)}
            flags = set(d.get("flags", b"").decode().split(","))
            if (not flags & {"s_down", "o_down", "disconnected"}
                    and d.get("master-link-status") == b"ok"):
                ok.add(int(d["port"]))
        return ok


class Cluster:
    """Every process of one run. Use as a context manager: leaving it stops them all."""

    def __init__(self, topology, replicas, dlockd, work_dir, log_dir):
        self.topology = topology
        self.hub = None
        cluster = topology.mode == "cluster"
        self.nodes = [RedisNode(f"redis{i}", os.path.join(work_dir, f"redis{i}"),
                                os.path.join(log_dir, f"redis{i}.log"), topology.persistence,
                                cluster)
                      for i in range(topology.nodes)]
        self.sentinels = [Sentinel(i, work_dir, os.path.join(log_dir, f"sentinel{i}.log"))
                          for i in range(topology.sentinels)]
        self.proxies = {}  # (replica index, node index) -> Proxy
        self.replicas = []
        self.n_replicas = replicas
        self.dlockd = dlockd
        self.log_dir = log_dir

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.hub = ProxyHub()
        if self.topology.mode == "sentinel":
            urls = [self._start_sentinel()]
        elif self.topology.mode == "cluster":
            urls = [self._start_cluster()]
        else:
            urls = None
            for n in self.nodes:
                n.start()
        for r in range(self.n_replicas):
            if urls is None:
                ports = []
                for i, n in enumerate(self.nodes):
                    p = self.hub.add(f"dlockd{r}-redis{i}", n.port)
                    self.proxies[(r, i)] = p
                    ports.append(p.port)
                rep_urls = [f"redis://127.0.0.1:{p}" for p in ports]
            else:
                rep_urls = urls
            rep = Replica(r, self.dlockd, rep_urls, os.path.join(self.log_dir, f"dlockd{r}.log"))
            self.replicas.append(rep)
            rep.start()
        if self.topology.mode != "direct":
            _wait_until(lambda: all(r.ready() for r in self.replicas), 20.0, "dlockd /readyz")

    # ------------------------------------------------------------- Sentinel ---

    def _start_sentinel(self):
        """Node 0 master, the others its replicas, in sync; the sentinels, until each sees a
        failover quorum and every replica as promotable. Returns dlockd's address."""
        master, reps = self.nodes[0], self.nodes[1:]
        master.start()
        for n in reps:
            n.extra = ["--replicaof", "127.0.0.1", str(master.port)]
            n.start()
        _wait_until(lambda: all(self.replica_synced(n) for n in reps), 15.0, "replication")
        for s in self.sentinels:
            s.write_config(master.port, [n.port for n in reps], self.sentinels)
        for s in self.sentinels:
            s.start()

        def quorum():
            for s in self.sentinels:
                try:
                    if s.call("SENTINEL", "CKQUORUM", SENTINEL_MASTER, timeout=1.0)[:2] != b"OK":
                        return False
                except (OSError, RedisError):
                    return False
                if not {n.port for n in reps} <= s.replicas_ok():
                    return False
            return True
        _wait_until(quorum, 20.0, "sentinel quorum")
        addrs = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{addrs}/{SENTINEL_MASTER}"

    @staticmethod
    def replica_synced(node, master=None):
        """node is a replica (of master, if given) with its link up."""
        try:
            info = node.call("INFO", "replication", timeout=1.0).decode()
        except (OSError, RedisError, AttributeError):
            return False
        ok = "role:slave" in info and "master_link_status:up" in info
        if ok and master is not None:
            ok = f"master_port:{master.port}\r\n" in info
        return ok

    def sentinel_views(self):
        """The port each running sentinel names as master (None: no answer)."""
        return [s.master_port() for s in self.sentinels if s.alive]

    def node_by_port(self, port):
        return next((n for n in self.nodes if n.port == port), None)

    def sentinel_master(self):
        """The node the sentinels agree is master, or None while they do not agree."""
        views = self.sentinel_views()
        if views and views[0] is not None and all(v == views[0] for v in views):
            return self.node_by_port(views[0])
        return None

    # -------------------------------------------------------------- Cluster ---

    def _start_cluster(self):
        """redis-cli --cluster create over the masters; the other nodes join as replicas of
        master 1; until every node says cluster_state:ok and the replicas are in sync.
        Returns dlockd's address (the masters as seeds)."""
        masters = self.nodes[:self.topology.masters]
        for n in self.nodes:
            n.start()
        log = os.path.join(self.log_dir, "cluster-create.log")
        with open(log, "ab") as f:
            p = subprocess.run(["redis-cli", "--cluster", "create"]
                               + [f"127.0.0.1:{n.port}" for n in masters] + ["--cluster-yes"],
                               stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                               timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed; see {log}")
        target = masters[1] if len(masters) > 1 else masters[0]
        target_id = target.call("CLUSTER", "MYID").decode()
        for n in self.nodes[self.topology.masters:]:
            n.call("CLUSTER", "MEET", "127.0.0.1", target.port)

            def replicate(n=n):
                try:
                    return n.call("CLUSTER", "REPLICATE", target_id) == b"OK"
                except RedisError:  # it does not know the node yet
                    return False
            _wait_until(replicate, 15.0, f"CLUSTER REPLICATE on {n.name}")
        _wait_until(self.cluster_settled, 20.0, "the cluster")
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in masters)

    def cluster_nodes(self, node):
        """node's view of the cluster (CLUSTER NODES parsed)."""
        return parse_cluster_nodes(node.call("CLUSTER", "NODES", timeout=1.0).decode())

    def cluster_state_ok(self, node):
        try:
            return b"cluster_state:ok" in node.call("CLUSTER", "INFO", timeout=1.0)
        except (OSError, RedisError):
            return False

    def cluster_settled(self):
        """Every running node says cluster_state:ok and sees every slot served, the same way
        as the others; every running replica is in sync."""
        views = set()
        for n in self.nodes:
            if not n.alive:
                continue
            if not self.cluster_state_ok(n):
                return False
            try:
                infos = self.cluster_nodes(n)
            except (OSError, RedisError):
                return False
            views.add(tuple(sorted((i.port, tuple(i.slots)) for i in infos if i.is_master)))
            me = next((i for i in infos if "myself" in i.flags), None)
            if me is not None and "slave" in me.flags and not self.replica_synced(n):
                return False
        return len(views) == 1

    def stop(self):
        for p in self.replicas + self.sentinels + self.nodes:
            try:
                p.stop()
            except Exception:  # stop the others whatever happens
                p.kill()
        if self.hub is not None:
            self.hub.stop()
            self.hub = None

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def replica(self, name):
        return next(r for r in self.replicas if r.name == name)

    def proxies_for(self, replica=None, node=None):
        """The proxies of one replica's links, one node's links, or (both None) all."""
        return [p for (r, n), p in sorted(self.proxies.items())
                if (replica is None or r == replica) and (node is None or n == node)]
