"""The clients of make chaos and the fenced resource they write to.

Owns: the register per lock name (accepts a write iff its fence is >= the highest accepted
so far, and records every attempt), and the client threads: each keeps HTTP/1.1 keep-alive
connections to one dlockd replica (the next one after a transport error or a 503) and, until
the run's end, acquires (with and without wait_ms, sometimes sending its last token for the
name), writes to the register after every grant, renews every ttl/3 while it holds, then
releases, lets the lease expire, or pauses beyond the lease and writes late with its old
fence. Every call becomes an op line, every write a write line, every pause a fault line.
Knows nothing of the processes behind the replicas' ports. Python 3.11 standard library only.
"""

import http.client
import json
import random
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from history import now

MS = 1_000_000


@dataclass(frozen=True)
class Profile:
    """What the clients do; a scenario may change any of it."""
    clients: int = 12
    names: int = 5
    ttl_ms: tuple = (400, 1500)
    wait_share: float = 0.4       # acquires that wait (wait_ms > 0)
    wait_ms: tuple = (300, 3000)
    reacquire_share: float = 0.15  # acquires sent with the client's last token for the name
    hold_ttls: tuple = (0.05, 1.2)  # how long a holder keeps the lock, in ttls
    expire_share: float = 0.15     # holders that stop renewing and never release
    pause_share: float = 0.05      # holders that pause beyond the lease, then write late
    late_write_share: float = 0.3  # renews followed by another write with the same fence
    inspect_share: float = 0.05    # steps that only inspect a lock
    idem_share: float = 0.1        # renew rounds done as a re-acquire with the current token
    op_timeout_s: float = 3.0      # a call without wait_ms; a waiting one gets wait_ms more


class Register:
    """The fenced resource: one register per name, shared by every client."""

    def __init__(self, history):
        self.history = history
        self.lock = threading.Lock()
        self.top = {}
        self.accepted = self.rejected = 0

    def write(self, client, name, fence):
        """Attempts a write with fence; returns whether the register accepted it."""
        with self.lock:
            before = self.top.get(name, 0)
            ok = fence >= before
            if ok:
                self.top[name] = fence
                self.accepted += 1
            else:
                self.rejected += 1
            self.history.write(client, name, fence, now(), ok, before)
        return ok


def _error_kind(e):
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    return "reset"


class Client(threading.Thread):
    """One client: a thread with its own random stream (seeded), until run.stop_at."""

    def __init__(self, index, run):
        super().__init__(name=f"w{index}", daemon=True)
        self.id = f"w{index}"
        self.run_ = run
        self.p = run.profile
        self.rng = random.Random(f"{run.seed}/{run.scenario}/{index}")
        self.replica = index % len(run.ports)
        self.conn = None
        self.tokens = {}  # name -> the last token this client was granted for it

    # ------------------------------------------------------------------ HTTP ---

    def _drop_connection(self, rotate):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if rotate:
            self.replica = (self.replica + 1) % len(self.run_.ports)

    def call(self, op, name, method, path, timeout_s, fields, headers=None):
        """One HTTP call, recorded as an op line. Returns (status or None, JSON body or
        None)."""
        rec = dict({"id": self.run_.history.next_id(), "client": self.id, "name": name,
                    "replica": self.replica, "op": op}, **fields)
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.run_.ports[self.replica],
                                                   timeout=timeout_s)
        self.conn.timeout = timeout_s
        if self.conn.sock is not None:
            self.conn.sock.settimeout(timeout_s)
        status, body = None, None
        rec["t_send"] = now()
        try:
            self.conn.request(method, path, headers=headers or {})
            resp = self.conn.getresponse()
            data = resp.read()
            rec["t_recv"] = now()
            status = rec["status"] = resp.status
            rec["error"] = None
            if resp.will_close:
                self._drop_connection(False)
        except (OSError, http.client.HTTPException) as e:
            rec["t_recv"] = now()
            rec["status"], rec["error"] = None, _error_kind(e)
            self._drop_connection(True)
            data = b""
        if data:
            try:
                body = json.loads(data)
            except ValueError:
                body = None
        rec["code"] = body.get("code") if status and status >= 400 and isinstance(body, dict) else None
        if status in (200, 201) and isinstance(body, dict) and op in ("acquire", "renew"):
            rec["token"] = body.get("token")
            if body.get("fence") is not None:
                rec["fence"] = body["fence"]
            rec["ttl_granted"] = body.get("ttl_ms")
        if status == 503:
            self._drop_connection(True)
        self.run_.history.op(rec)
        return status, body

    def acquire(self, name, ttl, wait_ms, token):
        q = {"ttl_ms": ttl}
        if wait_ms:
            q["wait_ms"] = wait_ms
        if token:
            q["token"] = token
        fields = {"wait_ms": wait_ms, "ttl_ms": ttl, "reacquire": token is not None}
        if token:
            fields["sent_token"] = token
        return self.call("acquire", name, "PUT", f"/locks/{name}?{urlencode(q)}",
                         self.p.op_timeout_s + wait_ms / 1000, fields)

    def renew(self, name, token, ttl):
        return self.call("renew", name, "POST", f"/locks/{name}/renew?ttl_ms={ttl}",
                         self.p.op_timeout_s, {"ttl_ms": ttl, "sent_token": token},
                         {"Lock-Token": token})

    def release(self, name, token):
        return self.call("release", name, "DELETE", f"/locks/{name}", self.p.op_timeout_s,
                         {"sent_token": token}, {"Lock-Token": token})

    def inspect(self, name):
        return self.call("inspect", name, "GET", f"/locks/{name}", self.p.op_timeout_s, {})

    # -------------------------------------------------------------- behaviour ---

    def left_s(self):
        return (self.run_.stop_at - now()) / 1e9

    def nap(self, lo_ms, hi_ms):
        time.sleep(max(0.0, min(self.rng.uniform(lo_ms, hi_ms) / 1000, self.left_s())))

    def run(self):
        try:
            while self.left_s() > 0:
                self.step()
        except Exception as e:  # a runner bug: say so, the run is marked incomplete
            self.run_.failures.append(f"{self.id}: {e!r}")
            raise
        finally:
            self._drop_connection(False)

    def step(self):
        rng, p = self.rng, self.p
        name = rng.choice(self.run_.names)
        if rng.random() < p.inspect_share:
            self.inspect(name)
            self.nap(20, 100)
            return
        ttl = rng.randint(*p.ttl_ms)
        wait = 0
        if rng.random() < p.wait_share:
            # A wait must end within the run (the runner waits for the clients).
            wait = min(rng.randint(*p.wait_ms), int(self.left_s() * 1000) - 200)
            wait = max(wait, 0)
        token = self.tokens.get(name) if rng.random() < p.reacquire_share else None
        t_send = now()
        status, body = self.acquire(name, ttl, wait, token)
        if status in (200, 201) and isinstance(body, dict) and body.get("token"):
            self.tokens[name] = body["token"]
            self.hold(name, body, t_send)
        elif status == 409:
            self.nap(20, 200)
        else:
            self.nap(50, 300)

    def hold(self, name, grant, t_send):
        """Holds the lock just granted: write, renew every ttl/3, then end as planned.
        The client counts on its lease until t_send of its last successful acquire or
        renew + the ttl granted then (the checker's window); a waiting acquire answered
        late has counted on nothing yet, so it renews at once: a renew that succeeds
        proves the lease was held all along (a renew never resurrects a lock)."""
        rng, p = self.rng, self.p
        token, fence = grant["token"], int(grant["fence"])
        asked = ttl = int(grant["ttl_ms"])
        valid_until = t_send + ttl * MS
        next_at = t_send + ttl * MS // 3
        self.run_.register.write(self.id, name, fence)
        r = rng.random()
        plan = "expire" if r < p.expire_share else (
            "pause" if r < p.expire_share + p.pause_share else "release")
        end = now() + int(rng.uniform(*p.hold_ttls) * ttl * MS)
        while now() < end and self.left_s() > 0:
            if now() < next_at:
                time.sleep(max(0.0, min(next_at, end, self.run_.stop_at) - now()) / 1e9)
                continue
            t_send = now()
            if rng.random() < p.idem_share:
                status, body = self.acquire(name, asked, 0, token)
            else:
                status, body = self.renew(name, token, asked)
            if status in (200, 201) and isinstance(body, dict):
                ttl = int(body.get("ttl_ms") or asked)
                valid_until = t_send + ttl * MS
                next_at = t_send + ttl * MS // 3
                if status == 201:  # a re-acquire found the lease gone: a new grant
                    token, fence = body["token"], int(body["fence"])
                    self.tokens[name] = token
                    self.run_.register.write(self.id, name, fence)
                elif rng.random() < p.late_write_share:
                    self.run_.register.write(self.id, name, fence)
            elif status is not None and status < 500:
                return  # lost it: expired (404), or someone else holds it (409)
            elif now() >= valid_until:
                return  # renewals failed until the lease ran out
            else:
                next_at = now() + 50 * MS  # 503 or no answer: try again soon
        if plan == "release":
            self.release(name, token)
        elif plan == "pause" and self.left_s() > 0:
            self.pause(name, token, fence, valid_until)

    def pause(self, name, token, fence, valid_until):
        """Stops for longer than the lease (a GC pause, a stalled VM), then writes with
        the old fence and tries to release with the old token."""
        t_start = now()
        extra_ms = self.rng.randint(200, 1000)
        time.sleep(max(0.0, (valid_until - t_start) / 1e9) + extra_ms / 1000)
        t_end = now()
        self.run_.history.fault("pause_client", self.id, t_start, t_end,
                                f"paused {(t_end - t_start) / 1e6:.0f} ms, {extra_ms} ms "
                                "beyond its lease, then wrote with its old fence")
        self.run_.register.write(self.id, name, fence)
        self.release(name, token)


@dataclass
class Run:
    """What every client shares."""
    scenario: str
    seed: int
    profile: Profile
    ports: list        # the replicas' HTTP ports, by replica index
    names: list
    history: object
    register: Register
    stop_at: int       # history.now() time at which clients stop starting calls
    failures: list


def run_clients(run):
    """Starts run.profile.clients clients; returns their threads (join them)."""
    clients = [Client(i, run) for i in range(run.profile.clients)]
    for c in clients:
        c.start()
    return clients
