"""A minimal Redis client (RESP2 over a blocking socket) for make chaos.

Owns: sending one command and reading its reply, and dumping every key under a prefix
with its value, for the history's redis_dump lines. The runner uses it to control and
read Redis directly, never through the fault proxies. Python 3.11 standard library only.
"""

import socket


class RedisError(Exception):
    """An error reply (-ERR ...) or a protocol problem."""


class Redis:
    """One connection to 127.0.0.1:port; every call is bounded by timeout seconds."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = self.sock.makefile("rb")

    def close(self):
        self.buf.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        """Sends one command; returns bytes, int, None or a list of those; raises
        RedisError for an error reply, OSError for a socket error or timeout."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _reply(self):
        line = self.buf.readline()
        if not line.endswith(b"\r\n"):
            raise RedisError("connection closed mid-reply")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.buf.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"unexpected reply line {line[:40]!r}")


def _text(b):
    """Bytes as text; bytes that are not UTF-8 as \\xNN (lossless, as the checker asks)."""
    return b.decode("utf-8", errors="backslashreplace") if isinstance(b, bytes) else b


def _pairs(items):
    return {_text(items[i]): _text(items[i + 1]) for i in range(0, len(items), 2)}


def dump(port, prefix, timeout=2.0):
    """Every key under prefix on the Redis at port: {key: {"type", "value", "pttl"}}.
    Values (tests/chaos/HISTORY.md): string -> str, hash -> {field: value}, zset ->
    [[member, score], ..], list -> [..], set -> sorted [..]. Raises OSError or RedisError if Redis does not answer.
    A Redis Cluster replica is read with READONLY (elsewhere READONLY fails: ignored); a key
    that moved away between SCAN and reading it (a slot migration: ASK, MOVED, TRYAGAIN) is
    left out here: it is in the other node's dump."""
    out = {}
    with Redis(port, timeout) as r:
        try:
            r.call("READONLY")
        except RedisError:
            pass  # not a cluster node
        cursor = b"0"
        while True:
            cursor, keys = r.call("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            for k in keys:
                try:
                    got = _read_key(r, k)
                except RedisError as e:
                    if str(e).split(" ", 1)[0] in ("ASK", "MOVED", "TRYAGAIN"):
                        continue
                    raise
                if got is not None:
                    out[_text(k)] = got
            if cursor == b"0":
                return out


def _read_key(r, k):
    """{"type", "value", "pttl"} of key k, or None if it is gone."""
    kind = _text(r.call("TYPE", k))
    if kind == "string":
        value = _text(r.call("GET", k))
    elif kind == "hash":
        value = _pairs(r.call("HGETALL", k))
    elif kind == "zset":
        items = r.call("ZRANGE", k, 0, -1, "WITHSCORES")
        value = [[_text(items[i]), _text(items[i + 1])] for i in range(0, len(items), 2)]
    elif kind == "list":
        value = [_text(v) for v in r.call("LRANGE", k, 0, -1)]
    elif kind == "set":
        value = sorted(_text(v) for v in r.call("SMEMBERS", k))
    else:
        return None  # expired between SCAN and TYPE ("none")
    return {"type": kind, "value": value, "pttl": r.call("PTTL", k)}
