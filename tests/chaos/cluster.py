"""The processes of one chaos run: redis-server nodes, dlockd replicas and the fault proxies
between them (one per replica and node), all on 127.0.0.1.

Owns: the topologies (how many nodes, which persistence, as README's persistence table,
docs/redlock.md and docker/compose.redlock.yaml say), starting, killing (-9), pausing
(SIGSTOP/SIGCONT) and restarting every process, a node's data directory (wiped, copied as a
snapshot, restored from one), and stopping everything it started, whatever happens.
Knows nothing of the workload or the history. Python 3.11 standard library only.
"""

import http.client
import os
import shutil
import signal
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


TOPOLOGIES = {t.name: t for t in (
    Topology("single-nopersist", 1, "none"),
    Topology("single-aof-everysec", 1, "everysec"),
    Topology("single-aof-always", 1, "always"),
    # docs/redlock.md: nodes that restart at once run AOF with appendfsync always.
    Topology("redlock3", 3, "always"),
    Topology("redlock5", 5, "always"),
)}

PERSISTENCE_ARGS = {
    "none": ["--appendonly", "no"],
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
}


def _wait_until(ready, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout} s")
        time.sleep(0.02)


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

    def __init__(self, name, data_dir, log_path, persistence):
        super().__init__(name)
        self.port = free_port()
        self.data_dir, self.log_path, self.persistence = data_dir, log_path, persistence
        os.makedirs(data_dir, exist_ok=True)

    def args(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--protected-mode", "no", "--daemonize", "no", "--dir", self.data_dir,
                "--logfile", self.log_path, "--save", "", "--maxmemory-policy", "noeviction",
                ] + PERSISTENCE_ARGS[self.persistence]

    def start(self, timeout=10.0):
        """Starts redis-server on its data directory; returns once it answers PING."""
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(self.ping, timeout, self.name)

    def ping(self):
        if not self.alive:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
        try:
            with Redis(self.port, 0.5) as r:
                return r.call("PING") == b"PONG"
        except (OSError, RedisError):
            return False

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
    """One dlockd on a fixed port, talking to every node through its own proxies."""

    def __init__(self, index, dlockd, redis_ports, log_path):
        super().__init__(f"dlockd{index}")
        self.index, self.dlockd, self.log_path = index, dlockd, log_path
        self.port = free_port()
        self.redis_ports = redis_ports

    def args(self):
        out = [self.dlockd, "--listen", f"127.0.0.1:{self.port}", "--log-level", "warn",
               "--max-connections-per-ip", "0"]
        for p in self.redis_ports:
            out += ["--redis", f"redis://127.0.0.1:{p}"]
        return out

    def start(self, timeout=10.0):
        """Starts dlockd; returns once /healthz answers 200."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        _wait_until(self.healthy, timeout, self.name)

    def healthy(self):
        if not self.alive:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


class Cluster:
    """Every process of one run. Use as a context manager: leaving it stops them all."""

    def __init__(self, topology, replicas, dlockd, work_dir, log_dir):
        self.topology = topology
        self.hub = None
        self.nodes = [RedisNode(f"redis{i}", os.path.join(work_dir, f"redis{i}"),
                                os.path.join(log_dir, f"redis{i}.log"), topology.persistence)
                      for i in range(topology.nodes)]
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
        for n in self.nodes:
            n.start()
        for r in range(self.n_replicas):
            ports = []
            for i, n in enumerate(self.nodes):
                p = self.hub.add(f"dlockd{r}-redis{i}", n.port)
                self.proxies[(r, i)] = p
                ports.append(p.port)
            rep = Replica(r, self.dlockd, ports, os.path.join(self.log_dir, f"dlockd{r}.log"))
            self.replicas.append(rep)
            rep.start()

    def stop(self):
        for p in self.replicas + self.nodes:
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
