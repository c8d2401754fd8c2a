#!/usr/bin/env python3
"""Checker of one dlockd chaos history (format: tests/chaos/HISTORY.md).

Owns: parsing a history.jsonl, the lease model (who held which name when — as the client
saw it, and at worst in Redis) and one pure function per property, each returning plain
dicts (anomalies). Knows nothing of how a history is produced (the runner) or drawn
(report.py). Python 3.11 standard library only.

Usage: checker.py [--slack-ms N] [--json] HISTORY.jsonl
  prints one line per anomaly and a summary (or, with --json, one JSON object);
  exit status 0: no anomaly outside meta.allowed, 1: some, 2: unreadable history.
"""

import argparse
import bisect
import json
import sys
from dataclasses import dataclass, field

KINDS = ("fence_repeat", "fence_order", "double_grant", "register_regress",
         "token_reuse", "waiter_stranded", "waiter_outcome", "token_in_redis")
# Kinds the docs never allow, whatever the fault (README "Fencing tokens and safety").
NEVER_ALLOWED = ("fence_repeat", "fence_order", "register_regress", "token_reuse",
                 "token_in_redis")
# 500 codes the docs list for an acquire (README "Error codes"); internal_error means a bug.
DOCUMENTED_500 = ("invalid_lock_data", "fence_exhausted")
MIN_TOKEN_LEN = 16  # shorter "tokens" would match anything; dlockd's have 32 characters
MS = 1_000_000


@dataclass(frozen=True)
class Params:
    """Tolerances; docs/chaos.md says why these values."""
    slack_ms: int = 500  # scheduling, HTTP and timer slack on a shared 2-core machine
    early_ms: int = 50   # a waiting acquire's 409 may come this much before its wait_ms


# ----------------------------------------------------------------- records ---

@dataclass
class Op:
    id: int
    client: str
    name: str
    op: str
    t_send: int
    t_recv: int
    status: int | None
    replica: int | None = None
    wait_ms: int = 0
    ttl_ms: int | None = None
    reacquire: bool = False
    error: str | None = None
    code: str | None = None
    token: str | None = None
    fence: int | None = None
    ttl_granted: int | None = None
    sent_token: str | None = None
    line: int = 0


@dataclass
class Write:
    client: str
    name: str
    fence: int
    t: int
    accepted: bool
    max_before: int | None
    line: int


@dataclass
class Fault:
    kind: str
    target: str
    t_start: int
    t_end: int
    detail: str
    line: int


@dataclass
class Dump:
    node: str
    t: int
    keys: dict
    line: int


@dataclass
class History:
    meta: dict
    ops: list
    writes: list
    faults: list
    dumps: list
    warnings: list
    complete: bool  # an "end" line was seen
    t0: int
    t_last: int

    @property
    def liveness_ms(self):
        return int(self.meta.get("liveness_ms", 3000))

    @property
    def recheck_ms(self):
        return int(self.meta.get("recheck_ms", 1000))

    @property
    def allowed(self):
        return set(self.meta.get("allowed") or ())

    def rel(self, t):
        """A time as seconds since meta.t0, for explanations: '+1.234 s'."""
        return f"+{(t - self.t0) / 1e9:.3f} s"


# ----------------------------------------------------------------- parsing ---

class HistoryError(ValueError):
    """The history cannot be checked (no meta line, a malformed line)."""


def load(path):
    """Parses the history.jsonl at path; raises HistoryError or OSError."""
    with open(path, encoding="utf-8") as f:
        return parse_lines(f)


def parse_lines(lines):
    """History from the lines of a history.jsonl. A line that is not JSON is an error,
    except the last one (a run cut short mid-write), which is a warning."""
    texts = list(lines)
    last = max((i for i, t in enumerate(texts) if t.strip()), default=-1)
    records, warnings = [], []
    for i, text in enumerate(texts):
        if not text.strip():
            continue
        try:
            records.append((i + 1, json.loads(text)))
        except json.JSONDecodeError as e:
            if i != last:
                raise HistoryError(f"line {i + 1}: not JSON ({e})") from None
            warnings.append(f"line {i + 1}: last line is not JSON (run cut short?); ignored")
    return parse_records(records, warnings)


def parse_records(records, warnings=None):
    """History from (line number, dict) pairs; the first must be the meta line."""
    warnings = list(warnings or [])
    if not records or not isinstance(records[0][1], dict) or records[0][1].get("type") != "meta":
        raise HistoryError("the first line is not a meta line")
    meta = records[0][1]
    h = History(meta, [], [], [], [], warnings, False, 0, 0)
    unknown = set()
    for line, rec in records[1:]:
        kind = rec.get("type") if isinstance(rec, dict) else None
        try:
            add_record(h, kind, rec, line, unknown)
        except (KeyError, TypeError, ValueError) as e:
            raise HistoryError(f"line {line}: bad {kind} line ({e!r})") from None
    finish(h)
    return h


def add_record(h, kind, rec, line, unknown):
    if kind == "op":
        h.ops.append(op_from(rec, line))
    elif kind == "write":
        h.writes.append(Write(str(rec["client"]), str(rec["name"]), int(rec["fence"]),
                              int(rec["t"]), bool(rec["accepted"]),
                              opt_int(rec.get("max_before")), line))
    elif kind == "fault":
        t_end = rec.get("t_end")
        h.faults.append(Fault(str(rec["kind"]), str(rec.get("target") or ""),
                              int(rec["t_start"]), -1 if t_end is None else int(t_end),
                              str(rec.get("detail") or ""), line))
    elif kind == "redis_dump":
        keys = rec.get("keys") or {}
        if not isinstance(keys, dict):
            raise ValueError("keys is not an object")
        h.dumps.append(Dump(str(rec.get("node") or ""), int(rec["t"]), keys, line))
    elif kind == "end":
        h.complete = True
    elif kind == "meta":
        h.warnings.append(f"line {line}: a second meta line; ignored")
    elif kind not in unknown:
        unknown.add(kind)
        h.warnings.append(f"line {line}: unknown line type {kind!r}; such lines are ignored")


def op_from(rec, line):
    status = opt_int(rec.get("status"))
    t_recv = opt_int(rec.get("t_recv"))
    if t_recv is None and status is not None:
        raise ValueError("an answered op has no t_recv")
    return Op(id=int(rec["id"]), client=str(rec["client"]), name=str(rec["name"]),
              op=str(rec["op"]), t_send=int(rec["t_send"]),
              t_recv=-1 if t_recv is None else t_recv, status=status,
              replica=opt_int(rec.get("replica")), wait_ms=int(rec.get("wait_ms") or 0),
              ttl_ms=opt_int(rec.get("ttl_ms")), reacquire=bool(rec.get("reacquire")),
              error=rec.get("error"), code=rec.get("code"), token=rec.get("token"),
              fence=opt_int(rec.get("fence")), ttl_granted=opt_int(rec.get("ttl_granted")),
              sent_token=rec.get("sent_token"), line=line)


def opt_int(v):
    return None if v is None else int(v)


def finish(h):
    """Fills what the lines leave open: t0, the last time seen, the end of ops with no
    t_recv and of faults with no t_end (both: the end of the history), ops by t_send."""
    times = [o.t_send for o in h.ops] + [o.t_recv for o in h.ops]
    times += [w.t for w in h.writes] + [d.t for d in h.dumps]
    times += [f.t_start for f in h.faults] + [f.t_end for f in h.faults]
    seen = [t for t in times if t >= 0]
    h.t_last = max(seen, default=0)
    h.t0 = int(h.meta.get("t0", min(seen, default=0)))
    for o in h.ops:
        if o.t_recv < 0:
            o.t_recv = h.t_last
            h.warnings.append(f"line {o.line}: op {o.id} has no t_recv; taken as the end")
    for f in h.faults:
        if f.t_end < 0:
            f.t_end = h.t_last
    h.ops.sort(key=lambda o: (o.t_send, o.id))
    h.warnings += content_warnings(h)


def content_warnings(h):
    """What the checker had to guess or will skip: grants lacking a field, meta gaps."""
    out = [] if h.ops else ["no op at all: the workload did not run"]
    incomplete = [o for o in h.ops if is_grant(o) and (
        not o.token or o.fence is None or (o.ttl_granted is None and o.ttl_ms is None))]
    if incomplete:
        out.append(f"{len(incomplete)} grants lack a token, fence or ttl (first: op "
                   f"{incomplete[0].id}); properties that need them skip them")
    out += [f"meta.allowed names an unknown anomaly kind {k!r}" for k in h.allowed - set(KINDS)]
    if "liveness_ms" not in h.meta or "recheck_ms" not in h.meta:
        out.append("meta has no liveness_ms/recheck_ms; using 3000/1000")
    return out


def unexpected_allowances(h):
    """meta.allowed entries the docs never allow (fences never repeat in any case...)."""
    return sorted(h.allowed & set(NEVER_ALLOWED))


# ------------------------------------------------------------ op predicates ---

def is_grant(o):
    """A definite grant: an acquire answered 201 (fresh) or 200 (re-acquire)."""
    return o.op == "acquire" and o.status in (200, 201)


def is_fresh(o):
    return o.op == "acquire" and o.status == 201


def is_uncertain(o):
    """No answer, or one (5xx) after which Redis may still have run the command."""
    return o.status is None or o.status >= 500


def is_waiting(o):
    return o.op == "acquire" and o.wait_ms > 0


def granted_ttl_ms(o):
    """The lease the client may count on: ttl_granted (Redlock: the validity), else ttl_ms."""
    return o.ttl_granted if o.ttl_granted is not None else (o.ttl_ms or 0)


def lease_ttl_ms(o):
    """The lease Redis may keep: the requested ttl_ms (at least what was granted)."""
    return max(o.ttl_ms or 0, o.ttl_granted or 0)


def fault_affects(f, o):
    """Whether fault f can slow or hide op o. Only a pause of another client and a
    kill/pause of another dlockd replica cannot; everything else (Redis, proxies, node
    loss) is taken to affect every op — conservative."""
    if f.kind == "pause_client":
        return f.target == o.client
    if f.kind in ("kill_dlockd", "pause_dlockd") and o.replica is not None:
        return f.target == f"dlockd{o.replica}"
    return True


def faults_during(h, o, t_start=None, t_end=None):
    """Faults affecting o active at some time in [t_start, t_end] (default: o's call)."""
    a = o.t_send if t_start is None else t_start
    b = o.t_recv if t_end is None else t_end
    return [f for f in h.faults if f.t_start <= b and f.t_end >= a and fault_affects(f, o)]


def effect_end(h, o):
    """The latest time an uncertain op may take effect: when its caller gave up, or the
    end of a fault affecting it that was active meanwhile (a paused Redis runs the
    command when it resumes; a proxy may deliver it late)."""
    return max([o.t_recv] + [f.t_end for f in faults_during(h, o)])


# ------------------------------------------------------------- lease model ---

@dataclass
class Lease:
    """One token's lease on one name. Its window is what the client may count on: from the
    opening answer's t_recv to the earliest of t_send(last definite extension) + ttl granted
    then, t_send of its release, t_send of the client's next grant on the name. Its hold is
    the longest Redis may have kept it (for waiter_stranded)."""
    name: str
    client: str
    token: str | None
    opened_by: Op
    extensions: list = field(default_factory=list)  # renew 200, re-acquire 200
    uncertain: list = field(default_factory=list)   # renews with no definite answer
    release: Op | None = None      # the first release attempt
    released_ok: Op | None = None  # the first 204
    superseded: Op | None = None   # the client's next grant on this name

    @property
    def start(self):
        return self.opened_by.t_recv

    @property
    def fence(self):
        for o in [self.opened_by] + self.extensions:
            if o.fence is not None:
                return o.fence
        return None

    def last_extension(self):
        return max([self.opened_by] + self.extensions, key=lambda o: (o.t_send, o.id))

    @property
    def expiry(self):
        o = self.last_extension()
        return o.t_send + granted_ttl_ms(o) * MS

    def ends(self):
        """(time, reason, op) candidates for the end of the window."""
        last = self.last_extension()
        out = [(self.expiry, "expiry", last)]
        if self.release is not None:
            out.append((self.release.t_send, "release", self.release))
        if self.superseded is not None:
            out.append((self.superseded.t_send, "next grant", self.superseded))
        return out

    @property
    def end(self):
        return max(self.start, min(t for t, _, _ in self.ends()))

    @property
    def end_reason(self):
        return min(self.ends(), key=lambda e: e[0])[1]


@dataclass
class Model:
    leases: dict      # name -> [Lease] by start
    uncertain: dict   # name -> [Op]: acquires with no definite answer


def build_model(h):
    """The leases of every name, with their extensions and releases attached."""
    by_name = {}
    for o in h.ops:
        by_name.setdefault(o.name, []).append(o)
    m = Model({}, {})
    for name, ops in by_name.items():
        leases, uncertain = name_leases(name, ops)
        m.leases[name] = leases
        m.uncertain[name] = uncertain
    return m


def name_leases(name, ops):
    by_token, leases = {}, []
    for o in [o for o in ops if is_fresh(o)] + [o for o in ops if is_grant(o) and not is_fresh(o)]:
        if o.status == 200 and o.token in by_token:
            continue
        lease = Lease(name, o.client, o.token, o)
        leases.append(lease)
        if o.token:
            by_token.setdefault(o.token, []).append(lease)
    leases.sort(key=lambda l: (l.start, l.opened_by.id))
    for same in by_token.values():
        same.sort(key=lambda l: (l.start, l.opened_by.id))
    per_client = {}
    for lease in leases:
        per_client.setdefault(lease.client, ([], []))
        per_client[lease.client][0].append(lease.start)
        per_client[lease.client][1].append(lease)
    for _, mine in per_client.values():
        for a, b in zip(mine, mine[1:]):
            a.superseded = b.opened_by
    uncertain = []
    for o in ops:
        attach(o, link(o, by_token, per_client), uncertain)
    return leases, uncertain


def link(o, by_token, per_client):
    """The lease op o acts on: the one its sent token (or, on a 200, its answer's token)
    names if that lease is o's client's — the latest such lease granted by o's t_send, when
    a token was (wrongly) handed out more than once — else the client's latest lease
    granted (answer received) by o's t_send."""
    for tok in (o.sent_token, o.token if o.status == 200 else None):
        named = [l for l in by_token.get(tok, ()) if l.client == o.client] if tok else []
        if named:
            before = [l for l in named if l.start <= o.t_send]
            return before[-1] if before else named[0]
    starts, mine = per_client.get(o.client, ([], []))
    i = bisect.bisect_right(starts, o.t_send)
    return mine[i - 1] if i else None


def attach(o, lease, uncertain):
    if o.op == "acquire":
        if is_uncertain(o):
            uncertain.append(o)
        elif o.status == 200 and lease is not None and lease.opened_by is not o:
            lease.extensions.append(o)
    elif o.op == "renew" and lease is not None:
        if o.status == 200:
            lease.extensions.append(o)
        elif is_uncertain(o):
            lease.uncertain.append(o)
    elif o.op == "release" and lease is not None:
        if lease.release is None or o.t_send < lease.release.t_send:
            lease.release = o
        if o.status == 204 and (lease.released_ok is None or o.t_send < lease.released_ok.t_send):
            lease.released_ok = o


def lease_hold(h, lease, params):
    """(start, end): the longest Redis may have held the lease. It starts at the grant's
    t_send if a fault affecting it was active, else at most slack before its answer came
    back; it ends ttl_ms after the last answer (or effect) that may have extended it, or
    when a 204 release came back."""
    g = lease.opened_by
    slack = params.slack_ms * MS
    start = g.t_send if faults_during(h, g) else max(g.t_send, g.t_recv - slack)
    end = max(o.t_recv + lease_ttl_ms(o) * MS for o in [g] + lease.extensions)
    for o in lease.uncertain:
        end = max(end, effect_end(h, o) + lease_ttl_ms(o) * MS)
    if lease.released_ok is not None:
        end = min(end, lease.released_ok.t_recv)
    return start, max(start, end)


def uncertain_hold(h, o):
    """(start, end): an acquire with no definite answer may hold from t_send until ttl_ms
    after the latest time it may have taken effect."""
    return o.t_send, effect_end(h, o) + lease_ttl_ms(o) * MS


# -------------------------------------------------------------- anomalies ---

def anomaly(kind, name, clients, ops, t_start, t_end, explanation, lines=()):
    return {"kind": kind, "name": name, "clients": sorted(set(c for c in clients if c)),
            "ops": [o.id for o in ops], "lines": sorted(set(lines) | {o.line for o in ops}),
            "t_start": t_start, "t_end": t_end, "explanation": explanation}


def check(h, params=Params(), model=None):
    """Every anomaly of every property, sorted by time, each with allowed = whether its
    kind is in meta.allowed (allowed by the docs for this scenario)."""
    m = model or build_model(h)
    found = (fence_repeat(h, m) + fence_order(h, m) + double_grant(h, m)
             + register_regress(h) + token_reuse(h) + waiter_stranded(h, m, params)
             + waiter_outcome(h, params) + token_in_redis(h, m))
    for a in found:
        a["allowed"] = a["kind"] in h.allowed
    return sorted(found, key=lambda a: (a["t_start"], a["kind"], a["ops"]))


def describe(o):
    return f"{o.client}'s op {o.id}"


def fence_repeat(h, m):
    """Two leases (tokens) on one name with the same fence."""
    out = []
    for name, leases in m.leases.items():
        by_fence = {}
        for lease in leases:
            if lease.fence is not None:
                by_fence.setdefault(lease.fence, []).append(lease)
        for fence, same in by_fence.items():
            if len(same) > 1:
                out.append(fence_repeat_anomaly(h, name, fence, same))
    return out


def fence_repeat_anomaly(h, name, fence, same):
    grants = [l.opened_by for l in same]
    said = "; ".join(f"{describe(g)} answered at {h.rel(g.t_recv)}" for g in grants)
    return anomaly("fence_repeat", name, [g.client for g in grants], grants,
                   min(g.t_recv for g in grants), max(g.t_recv for g in grants),
                   f"{len(grants)} grants of {name} carry the same fence {fence} ({said}); "
                   "fences never repeat")


def fence_order(h, m):
    """A fresh grant G2 sent after G1's answer arrived whose fence is not above G1's."""
    out = []
    for name, leases in m.leases.items():
        grants = [l.opened_by for l in leases if is_fresh(l.opened_by) and l.fence is not None]
        out += name_fence_order(h, name, grants)
    return out


def name_fence_order(h, name, grants):
    done = sorted(grants, key=lambda g: (g.t_recv, g.id))
    top, i, out = [], 0, []  # top: the two highest fences answered so far, distinct tokens
    for g2 in sorted(grants, key=lambda g: (g.t_send, g.id)):
        while i < len(done) and done[i].t_recv < g2.t_send:
            top = best_two(top, done[i])
            i += 1
        g1 = next((g for g in top if g.token != g2.token), None)
        if g1 is not None and g1.fence >= g2.fence:
            out.append(anomaly(
                "fence_order", name, [g1.client, g2.client], [g1, g2], g1.t_recv, g2.t_recv,
                f"{describe(g2)} was sent at {h.rel(g2.t_send)}, after {describe(g1)} "
                f"got fence {g1.fence} for {name} (answer at {h.rel(g1.t_recv)}), yet got "
                f"fence {g2.fence}, not above it"))
    return out


def best_two(top, g):
    cand = sorted(top + [g], key=lambda x: -x.fence)
    first = cand[0]
    second = next((x for x in cand[1:] if x.token != first.token), None)
    return [first] + ([second] if second else [])


def double_grant(h, m):
    """Two clients' windows on one name overlap (by at least 1 ns; touching is fine)."""
    out = []
    for name, leases in m.leases.items():
        active = []
        for w in sorted((l for l in leases if l.end > l.start), key=lambda l: l.start):
            active = [a for a in active if a.end > w.start]
            out += [double_anomaly(h, a, w) for a in active if a.client != w.client]
            active.append(w)
    return out


def double_anomaly(h, a, w):
    until = min(a.end, w.end)
    how = {"expiry": "its lease ran out", "release": "it released",
           "next grant": "it was granted again"}[a.end_reason]
    return anomaly(
        "double_grant", a.name, [a.client, w.client], [a.opened_by, w.opened_by],
        w.start, until,
        f"{a.client} held {a.name} with fence {a.fence} (op {a.opened_by.id}, from "
        f"{h.rel(a.start)} until {h.rel(a.end)}, when {how}) when {w.client} was granted it "
        f"with fence {w.fence} (op {w.opened_by.id}, answer at {h.rel(w.start)}): both held "
        f"it for {(until - w.start) / 1e9:.3f} s")


def register_regress(h):
    """The register accepted a write whose fence is below one it had accepted before."""
    out, best = [], {}
    for w in sorted(h.writes, key=lambda w: (w.t, w.line)):
        top = best.get(w.name)
        if w.accepted and top is not None and w.fence < top.fence:
            out.append(anomaly(
                "register_regress", w.name, [w.client, top.client], [], w.t, w.t,
                f"the register of {w.name} accepted {w.client}'s write with fence {w.fence} at "
                f"{h.rel(w.t)} after accepting {top.client}'s fence {top.fence} at "
                f"{h.rel(top.t)} (the line said max_before {w.max_before}): a runner bug",
                lines=[w.line, top.line]))
        if w.accepted and (top is None or w.fence > top.fence):
            best[w.name] = w
    return out


def token_reuse(h):
    """A fresh grant (201) returned a token that an earlier answer had returned."""
    out, seen = [], {}
    answers = [o for o in h.ops if o.token and o.status in (200, 201)]
    for o in sorted(answers, key=lambda o: (o.t_recv, o.id)):
        first = seen.setdefault(o.token, o)
        if first is not o and o.status == 201:
            out.append(anomaly(
                "token_reuse", o.name, [first.client, o.client], [first, o], first.t_recv,
                o.t_recv,
                f"{describe(o)} got a fresh grant of {o.name} at {h.rel(o.t_recv)} with the "
                f"token {describe(first)} had already been given ({first.name}, at "
                f"{h.rel(first.t_recv)})"))
    return out


# ---------------------------------------------------------------- waiters ---

class Holds:
    """The intervals in which someone may have held one name, for overlap queries."""

    def __init__(self, items):  # items: (start, end, op id)
        self.items = sorted(items)
        self.starts = [s for s, _, _ in self.items]
        self.longest = max((e - s for s, e, _ in self.items), default=0)

    def overlapping(self, a, b, skip_id=None):
        lo = bisect.bisect_left(self.starts, a - self.longest)
        hi = bisect.bisect_left(self.starts, b)
        return [it for it in self.items[lo:hi] if it[1] > a and it[2] != skip_id]


def name_holds(h, m, params):
    """name -> Holds over every lease's hold and every uncertain acquire's."""
    out = {}
    for name in set(m.leases) | set(m.uncertain):
        items = [lease_hold(h, l, params) + (l.opened_by.id,) for l in m.leases.get(name, [])]
        items += [uncertain_hold(h, o) + (o.id,) for o in m.uncertain.get(name, [])]
        out[name] = Holds(items)
    return out


def longest_gap(a, b, busy):
    """(length, start, end) of the longest part of [a, b] that no (start, end) in busy
    covers; (0, a, a) if none."""
    best, cur = (0, a, a), a
    for s, e in sorted((max(s, a), min(e, b)) for s, e in busy if e > a and s < b):
        if s > cur:
            best = max(best, (s - cur, cur, s))
        cur = max(cur, e)
    if b > cur:
        best = max(best, (b - cur, cur, b))
    return best


def waiter_stranded(h, m, params):
    """A waiting acquire that was granted or timed out (409) after waiting, for longer than
    liveness_ms + recheck_ms + slack at a stretch, while nobody could have held the name
    and no fault that could slow it was active."""
    limit = (h.liveness_ms + h.recheck_ms + params.slack_ms) * MS
    holds, out = name_holds(h, m, params), []
    for w in h.ops:
        if not is_waiting(w) or w.status not in (200, 201, 409) or w.t_recv - w.t_send <= limit:
            continue
        busy = [(s, e) for s, e, _ in holds[w.name].overlapping(w.t_send, w.t_recv, w.id)]
        busy += [(f.t_start, f.t_end) for f in faults_during(h, w)]
        gap, g0, g1 = longest_gap(w.t_send, w.t_recv, busy)
        if gap > limit:
            out.append(stranded_anomaly(h, w, g0, g1, params))
    return out


def stranded_anomaly(h, w, g0, g1, params):
    outcome = "granted" if w.status in (200, 201) else "refused (409)"
    return anomaly(
        "waiter_stranded", w.name, [w.client], [w], g0, g1,
        f"{w.client} waited for {w.name} (op {w.id}, wait_ms {w.wait_ms}) from "
        f"{h.rel(w.t_send)}; from {h.rel(g0)} to {h.rel(g1)} ({(g1 - g0) / 1e9:.3f} s) no one "
        f"could have held it and no fault that could slow this request was active — longer "
        f"than liveness_ms {h.liveness_ms} + recheck_ms {h.recheck_ms} + slack "
        f"{params.slack_ms} ms; it was {outcome} at {h.rel(w.t_recv)}")


def waiter_outcome(h, params):
    """A waiting acquire that ended other than granted, 409 lock_held at about its deadline,
    or a documented error (503, 500 with a documented code, 408, no answer)."""
    out = []
    for w in h.ops:
        if is_waiting(w):
            why = bad_outcome(h, w, params)
            if why:
                out.append(anomaly("waiter_outcome", w.name, [w.client], [w], w.t_send,
                                   w.t_recv, f"{w.client}'s waiting acquire of {w.name} "
                                   f"(op {w.id}, wait_ms {w.wait_ms}) {why}"))
    return out


def bad_outcome(h, w, params):
    """Why w's outcome is not one the docs promise, or None."""
    took = (w.t_recv - w.t_send) / MS
    code = w.code or "no code"
    if w.status is None or w.status in (200, 201, 408, 503):
        return None
    if w.status == 500:
        return None if w.code in DOCUMENTED_500 else (
            f"got 500 {code}, which the docs give only for a bug or an unexpected Redis answer")
    if w.status != 409:
        return f"ended with {w.status} {code}, not a documented outcome of a waiting acquire"
    if w.code not in (None, "lock_held"):
        return f"got 409 {code}; a waiting acquire's 409 is lock_held at its deadline"
    if took < w.wait_ms - params.early_ms:
        return (f"got 409 after {took / 1000:.3f} s, before its deadline "
                f"({w.wait_ms / 1000:.3f} s)")
    late = h.recheck_ms + params.slack_ms
    if took > w.wait_ms + late and not faults_during(h, w):
        return (f"got 409 after {took / 1000:.3f} s, more than recheck_ms + slack ({late} ms) "
                f"past its deadline ({w.wait_ms / 1000:.3f} s) with no fault slowing it")
    return None


# ------------------------------------------------------------------ Redis ---

def token_in_redis(h, m):
    """A token from the history found inside a key name or a value of a redis_dump."""
    owners = token_owners(h, m)
    by_len = {}
    for tok in owners:
        if len(tok) >= MIN_TOKEN_LEN:
            by_len.setdefault(len(tok), set()).add(tok)
    out = []
    for d in h.dumps:
        for key, entry in d.keys.items():
            for tok, where in tokens_in_key(key, entry, by_len):
                out.append(token_anomaly(h, d, key, tok, where, owners[tok]))
    return out


def token_owners(h, m):
    """token -> the op that gave it out (or, if none did, the first op that sent it)."""
    owners = {}
    for lease in (l for ls in m.leases.values() for l in ls):
        if lease.token:
            owners.setdefault(lease.token, lease.opened_by)
    for o in h.ops:
        for tok in (o.token, o.sent_token):
            if tok:
                owners.setdefault(tok, o)
    return owners


def tokens_in_key(key, entry, by_len):
    """(token, 'key name' | 'value') for each token found in the key or its entry."""
    found = [(t, "key name") for t in tokens_in(key, by_len)]
    seen = {t for t, _ in found}
    for s in strings_in(entry):
        for t in tokens_in(s, by_len):
            if t not in seen:
                seen.add(t)
                found.append((t, "value"))
    return found


def strings_in(v):
    """Every string inside a JSON value, object keys included."""
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield str(k)
            yield from strings_in(x)
    elif isinstance(v, list):
        for x in v:
            yield from strings_in(x)


def tokens_in(s, by_len):
    for n, toks in by_len.items():
        for i in range(len(s) - n + 1):
            if s[i:i + n] in toks:
                yield s[i:i + n]


def token_anomaly(h, d, key, tok, where, owner):
    name = key_name(key) or owner.name
    return anomaly(
        "token_in_redis", name, [owner.client], [owner], d.t, d.t,
        f"the token of {describe(owner)} ({owner.op} of {owner.name}) is in the {where} of "
        f"{key!r} on {d.node} (dump at {h.rel(d.t)}); Redis must hold only its hash",
        lines=[d.line])


def key_name(key):
    """The lock name inside a key's {hash tag}, or None."""
    i, j = key.find("{"), key.rfind("}")
    return key[i + 1:j] if 0 <= i < j else None


# ------------------------------------------------------------------ stats ---

def stats(h, anomalies, model=None):
    """Counts for the report: operations by kind and outcome, grants, waiters, writes,
    faults, latencies (ms) of definite answers, anomalies (allowed or not)."""
    m = model or build_model(h)
    ops = h.ops
    lat = {}
    for o in ops:
        if o.status is not None and not is_waiting(o):
            lat.setdefault(o.op, []).append((o.t_recv - o.t_send) / MS)
    waiting = [o for o in ops if is_waiting(o)]
    return {
        "ops": len(ops),
        "grants": sum(is_fresh(o) for o in ops),
        "reacquires": sum(o.op == "acquire" and o.status == 200 for o in ops),
        "renews_ok": sum(o.op == "renew" and o.status == 200 for o in ops),
        "releases_ok": sum(o.op == "release" and o.status == 204 for o in ops),
        "no_answer": sum(o.status is None for o in ops),
        "statuses": status_counts(ops),
        "waiters": len(waiting),
        "waiters_granted": sum(o.status in (200, 201) for o in waiting),
        "waiters_timed_out": sum(o.status == 409 for o in waiting),
        "leases": sum(len(ls) for ls in m.leases.values()),
        "writes": len(h.writes),
        "writes_rejected": sum(not w.accepted for w in h.writes),
        "faults": fault_counts(h),
        "duration_s": round((h.t_last - h.t0) / 1e9, 3),
        "latency_ms": {op: percentiles(v) for op, v in sorted(lat.items())},
        "anomalies": sum(not a["allowed"] for a in anomalies),
        "allowed": sum(a["allowed"] for a in anomalies),
        "kinds": kind_counts(anomalies),
        "complete": h.complete,
    }


def status_counts(ops):
    out = {}
    for o in ops:
        key = f"{o.op} {o.status if o.status is not None else (o.error or 'no answer')}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def fault_counts(h):
    out = {}
    for f in h.faults:
        out[f.kind] = out.get(f.kind, 0) + 1
    return out


def kind_counts(anomalies):
    out = {}
    for a in anomalies:
        key = a["kind"] + (" (allowed)" if a["allowed"] else "")
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def percentiles(values):
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, int(q * len(v)))], 3)
    return {"n": len(v), "p50": pick(0.5), "p99": pick(0.99), "max": round(v[-1], 3)}


# -------------------------------------------------------------------- CLI ---

def result(path, params=Params()):
    """Everything the checker says about one history file, as one JSON-ready dict."""
    h = load(path)
    m = build_model(h)
    found = check(h, params, m)
    warnings = list(h.warnings)
    warnings += [f"meta.allowed lists {k}, which the docs never allow"
                 for k in unexpected_allowances(h)]
    if not h.complete:
        warnings.append("no end line: the run may have been cut short")
    return {"path": str(path), "meta": h.meta, "stats": stats(h, found, m),
            "anomalies": found, "warnings": warnings}


def print_text(res, out):
    h0 = res["meta"].get("t0", 0)
    for w in res["warnings"]:
        print(f"warning: {w}", file=out)
    for a in res["anomalies"]:
        tag = "allowed " if a["allowed"] else "ANOMALY "
        t = f"+{(a['t_start'] - h0) / 1e9:.3f}s"
        print(f"{tag}{a['kind']} {a['name']} [{','.join(a['clients'])}] {t}: "
              f"{a['explanation']}", file=out)
    s = res["stats"]
    print(f"{s['ops']} ops, {s['grants']} grants: {s['anomalies']} anomalies, "
          f"{s['allowed']} allowed by the docs", file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check one dlockd chaos history.jsonl.")
    ap.add_argument("history")
    ap.add_argument("--slack-ms", type=int, default=Params.slack_ms)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        res = result(args.history, Params(slack_ms=args.slack_ms))
    except (OSError, HistoryError) as e:
        print(f"checker: {args.history}: {e}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print_text(res, sys.stdout)
    return 1 if res["stats"]["anomalies"] else 0


if __name__ == "__main__":
    sys.exit(main())
