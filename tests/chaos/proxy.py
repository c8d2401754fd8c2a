"""TCP fault proxies between dlockd replicas and Redis nodes, for make chaos.

Owns: one asyncio loop in a daemon thread that runs every proxy (one per replica and node
pair), and their modes, which the nemesis switches at run time from any thread:
  pass        bytes go through as they come;
  delay N     each chunk is held N ms, in each direction (order kept, like a slow link);
  blackhole   connections stay open (new ones are accepted) but nothing is forwarded; what
              was held is delivered when the window ends, as TCP retransmits after a
              partition heals (so a command dlockd gave up on may still run late);
  reset       every connection is closed with a reset and the port refuses new ones.
Knows nothing of Redis, dlockd or the history. Python 3.11 standard library only.
"""

import asyncio
import collections
import socket
import struct
import threading

PASS, DELAY, BLACKHOLE, RESET = "pass", "delay", "blackhole", "reset"
CHUNK = 65536
_EOF = object()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _abort(writer):
    """Closes a stream's socket with a reset (SO_LINGER 0), dropping what is unsent."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    except (OSError, RuntimeError):
        pass


class _Link:
    """One proxied connection: two pumps (reader task -> queue -> writer task)."""

    def __init__(self, proxy, down_r, down_w, up_r, up_w):
        self.proxy = proxy
        self.writers = (down_w, up_w)
        self.tasks = []
        self.closed = False
        for src, dst in ((down_r, up_w), (up_r, down_w)):
            q = collections.deque()
            ready = asyncio.Event()
            self.tasks.append(asyncio.ensure_future(self._read(src, q, ready)))
            self.tasks.append(asyncio.ensure_future(self._write(dst, q, ready)))

    async def _read(self, reader, q, ready):
        try:
            while True:
                data = await reader.read(CHUNK)
                q.append((self.proxy.release_time(), data if data else _EOF))
                ready.set()
                if not data:
                    return
        except (OSError, asyncio.IncompleteReadError):
            q.append((self.proxy.release_time(), _EOF))
            ready.set()

    async def _write(self, writer, q, ready):
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not q:
                    ready.clear()
                    await ready.wait()
                at, data = q[0]
                if at is None:  # held by a blackhole: wait until it ends
                    await self.proxy.until_forwarding()
                    at = self.proxy.release_time() or loop.time()
                if at > loop.time():
                    await asyncio.sleep(at - loop.time())
                q.popleft()
                if data is _EOF:
                    break
                writer.write(data)
                await writer.drain()
        except (OSError, RuntimeError):
            pass
        self.close()

    def close(self, reset=False):
        if self.closed:
            return
        self.closed = True
        self.proxy.links.discard(self)
        for w in self.writers:
            if reset:
                _abort(w)
            else:
                w.close()
        for t in self.tasks:
            if t is not asyncio.current_task():
                t.cancel()


class Proxy:
    """Listens on 127.0.0.1:port and relays every connection to 127.0.0.1:upstream.
    Its methods run on the hub's loop; use ProxyHub.set_mode from other threads."""

    def __init__(self, hub, name, upstream, port):
        self.hub, self.name, self.upstream, self.port = hub, name, upstream, port
        self.mode, self.delay_ms = PASS, 0
        self.links = set()
        self.server = None
        self.changed = None  # asyncio.Condition, made on the loop

    def release_time(self):
        """When a chunk read now may be forwarded; None while blackholed."""
        if self.mode == BLACKHOLE:
            return None
        now = asyncio.get_running_loop().time()
        return now + self.delay_ms / 1000 if self.mode == DELAY else now

    async def until_forwarding(self):
        async with self.changed:
            await self.changed.wait_for(lambda: self.mode != BLACKHOLE)

    async def listen(self):
        if self.changed is None:
            self.changed = asyncio.Condition()
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def _accept(self, down_r, down_w):
        if self.mode == RESET:
            _abort(down_w)
            return
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream), 2.0)
        except (OSError, asyncio.TimeoutError):
            _abort(down_w)  # Redis is down: the replica sees its connection reset
            return
        if self.mode == RESET:  # a reset came while connecting upstream
            _abort(down_w)
            _abort(up_w)
            return
        for w in (down_w, up_w):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.links.add(_Link(self, down_r, down_w, up_r, up_w))

    async def set_mode(self, mode, delay_ms=0):
        was = self.mode
        self.mode, self.delay_ms = mode, delay_ms
        if mode == RESET:
            if self.server is not None:
                self.server.close()
                self.server = None
            for link in list(self.links):
                link.close(reset=True)
        elif was == RESET and self.server is None:
            await self.listen()
        async with self.changed:
            self.changed.notify_all()

    async def stop(self):
        if self.server is not None:
            self.server.close()
            self.server = None
        for link in list(self.links):
            link.close(reset=True)


class ProxyHub:
    """Owns the loop thread and every proxy. Thread-safe: add, set_mode, stop."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="proxy-hub",
                                       daemon=True)
        self.thread.start()
        self.proxies = []

    def _run(self, coro, timeout=10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, name, upstream):
        """A new proxy named name in front of 127.0.0.1:upstream, listening on a free port."""
        p = Proxy(self, name, upstream, free_port())
        self._run(p.listen())
        self.proxies.append(p)
        return p

    def set_mode(self, proxies, mode, delay_ms=0):
        """Switches every proxy in proxies to mode (PASS, DELAY with delay_ms, BLACKHOLE,
        RESET); returns once all have switched."""
        async def switch():
            for p in proxies:
                await p.set_mode(mode, delay_ms)
        self._run(switch())

    def stop(self):
        async def stop_all():
            for p in self.proxies:
                await p.stop()
        try:
            self._run(stop_all())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
