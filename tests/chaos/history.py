"""The history of one chaos run: history.jsonl, in the format of
/work/notes/chaos-history-format.md (the contract with tests/chaos/checker.py).

Owns: the one clock of a run (time.monotonic_ns), op ids, and appending lines (meta first,
then op / write / fault / redis_dump lines as they complete, then an end line) from any
thread. Knows nothing of what the lines mean. Python 3.11 standard library only.
"""

import itertools
import json
import threading
import time


def now():
    """The run's clock: nanoseconds, monotonic. Every time in the history is from it."""
    return time.monotonic_ns()


class History:
    """An open history.jsonl; close() it (or use `with`)."""

    def __init__(self, path, meta):
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.file = open(path, "w", encoding="utf-8")
        self.t0 = now()
        self.counts = {}
        self._line(dict({"type": "meta"}, **meta, t0=self.t0))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self.lock:
            if not self.file.closed:
                self.file.close()

    def next_id(self):
        """A new op id; ids grow in the order ops are sent."""
        with self.lock:
            return next(self.ids)

    def _line(self, rec):
        text = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        with self.lock:
            self.file.write(text + "\n")
            self.counts[rec["type"]] = self.counts.get(rec["type"], 0) + 1

    def op(self, rec):
        """An op line (rec without "type"); written when the call has completed."""
        self._line(dict({"type": "op"}, **rec))

    def write(self, client, name, fence, t, accepted, max_before):
        self._line({"type": "write", "client": client, "name": name, "fence": fence, "t": t,
                    "accepted": accepted, "max_before": max_before})

    def fault(self, kind, target, t_start, t_end, detail=""):
        self._line({"type": "fault", "kind": kind, "target": target, "t_start": t_start,
                    "t_end": t_end, "detail": detail})

    def redis_dump(self, node, t, keys):
        self._line({"type": "redis_dump", "node": node, "t": t, "keys": keys})

    def end(self, **extra):
        """The last line: the run finished and every line before it is complete."""
        self._line(dict({"type": "end", "t": now()}, **extra))
        with self.lock:
            self.file.flush()
