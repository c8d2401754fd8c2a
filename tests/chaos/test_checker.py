#!/usr/bin/env python3
"""Unit tests of checker.py on hand-built histories: for every anomaly kind a history that
has it (reported) and a close one that does not (not reported). Times are in ms from t0.
Run: python3 tests/chaos/test_checker.py (last line "N passed, N failed")."""

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stdout, redirect_stderr

import checker
import unitmain

MS = checker.MS
FENCE0 = 1_700_000_000_000_000


class H:
    """A synthetic history under construction; every time argument is in ms."""

    def __init__(self, allowed=(), liveness_ms=3000, recheck_ms=1000, topology="single-nopersist"):
        self.recs = [{"type": "meta", "scenario": "test", "topology": topology, "replicas": 2,
                      "names": ["c0"], "seed": 1, "liveness_ms": liveness_ms,
                      "recheck_ms": recheck_ms, "allowed": list(allowed), "t0": 0}]
        self.next_id = 1
        self.fence = FENCE0

    def op(self, client, name, op, send, recv, status, **kw):
        rec = {"type": "op", "id": self.next_id, "client": client, "name": name,
               "replica": kw.pop("replica", 0), "op": op, "t_send": send * MS,
               "t_recv": None if recv is None else recv * MS, "status": status,
               "error": "timeout" if status is None else None, "code": kw.pop("code", None)}
        rec.update(kw)
        self.recs.append(rec)
        self.next_id += 1
        return rec

    def acquire(self, client, send, recv, status=201, name="c0", ttl=1000, fence=None,
                token=None, wait=0, **kw):
        extra = {"ttl_ms": ttl, "wait_ms": wait, "reacquire": kw.pop("reacquire", False)}
        if status in (200, 201):
            if fence is None:
                self.fence += 1
                fence = self.fence
            extra.update(token=token or tok(client, self.next_id), fence=fence,
                         ttl_granted=kw.pop("ttl_granted", ttl))
        if status == 409 and "code" not in kw:
            kw["code"] = "lock_held"
        return self.op(client, name, "acquire", send, recv, status, **extra, **kw)

    def renew(self, client, send, recv, status=200, name="c0", ttl=1000, **kw):
        extra = {"ttl_ms": ttl}
        if status == 200:
            extra["ttl_granted"] = kw.pop("ttl_granted", ttl)
        return self.op(client, name, "renew", send, recv, status, **extra, **kw)

    def release(self, client, send, recv, status=204, name="c0", **kw):
        return self.op(client, name, "release", send, recv, status, **kw)

    def write(self, client, t, fence, accepted, max_before, name="c0"):
        self.recs.append({"type": "write", "client": client, "name": name, "fence": fence,
                          "t": t * MS, "accepted": accepted, "max_before": max_before})

    def fault(self, kind, target, start, end):
        self.recs.append({"type": "fault", "kind": kind, "target": target,
                          "t_start": start * MS, "t_end": end * MS, "detail": ""})

    def dump(self, t, keys, node="redis0"):
        self.recs.append({"type": "redis_dump", "node": node, "t": t * MS, "keys": keys})

    def history(self):
        lines = [json.dumps(r) for r in self.recs] + [json.dumps({"type": "end", "t": 0})]
        return checker.parse_lines(lines)

    def anomalies(self, kind=None, **params):
        found = checker.check(self.history(), checker.Params(**params))
        return [a for a in found if kind is None or a["kind"] == kind]


def tok(client, n):
    return f"T{client}-{n}".ljust(32, "x")


class FenceRepeat(unittest.TestCase):
    def test_equal_fences_of_two_grants_are_reported(self):
        h = H()
        a = h.acquire("w1", 0, 10, fence=FENCE0 + 5)
        h.release("w1", 20, 25)
        b = h.acquire("w2", 30, 40, fence=FENCE0 + 5)
        found = h.anomalies("fence_repeat")
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["ops"], [a["id"], b["id"]])
        self.assertEqual(found[0]["clients"], ["w1", "w2"])

    def test_increasing_fences_are_not(self):
        h = H()
        h.acquire("w1", 0, 10, fence=FENCE0 + 5)
        h.release("w1", 20, 25)
        h.acquire("w2", 30, 40, fence=FENCE0 + 6)
        self.assertEqual(h.anomalies(), [])

    def test_a_reacquire_keeps_its_fence_without_a_repeat(self):
        h = H()
        a = h.acquire("w1", 0, 10)
        h.acquire("w1", 100, 110, status=200, token=a["token"], fence=a["fence"], reacquire=True)
        self.assertEqual(h.anomalies(), [])

    def test_same_fence_on_another_name_is_no_repeat(self):
        h = H()
        h.acquire("w1", 0, 10, fence=FENCE0 + 5)
        h.acquire("w2", 0, 10, fence=FENCE0 + 5, name="c1")
        self.assertEqual(h.anomalies(), [])


class FenceOrder(unittest.TestCase):
    def test_sequential_grant_with_a_lower_fence_is_reported(self):
        h = H()
        a = h.acquire("w1", 0, 10, fence=FENCE0 + 9)
        h.release("w1", 20, 25)
        b = h.acquire("w2", 30, 40, fence=FENCE0 + 3)
        found = h.anomalies("fence_order")
        self.assertEqual([x["ops"] for x in found], [[a["id"], b["id"]]])

    def test_equal_fences_in_sequence_break_both_properties(self):
        h = H()
        h.acquire("w1", 0, 10, fence=FENCE0 + 9)
        h.release("w1", 20, 25)
        h.acquire("w2", 30, 40, fence=FENCE0 + 9)
        kinds = sorted(a["kind"] for a in h.anomalies())
        self.assertEqual(kinds, ["fence_order", "fence_repeat"])

    def test_concurrent_grants_need_no_order(self):
        h = H()
        h.acquire("w1", 0, 10, fence=FENCE0 + 9, ttl=5)     # expires at 5, answer at 10
        h.acquire("w2", 9, 40, fence=FENCE0 + 3)            # sent before w1's answer arrived
        self.assertEqual(h.anomalies(), [])

    def test_sent_at_the_same_instant_as_the_answer_is_concurrent(self):
        h = H()
        h.acquire("w1", 0, 10, fence=FENCE0 + 9, ttl=5)
        h.acquire("w2", 10, 40, fence=FENCE0 + 3)
        self.assertEqual(h.anomalies("fence_order"), [])

    def test_sequential_increasing_fences_are_fine(self):
        h = H()
        for i, c in enumerate(["w1", "w2", "w3"]):
            h.acquire(c, 100 * i, 100 * i + 10, ttl=50)
        self.assertEqual(h.anomalies(), [])

    def test_uncertain_grant_takes_part_in_no_order(self):
        h = H()
        h.acquire("w1", 0, 500, status=None, ttl=50)
        h.acquire("w2", 600, 610, fence=FENCE0 + 1)
        self.assertEqual(h.anomalies(), [])


class DoubleGrant(unittest.TestCase):
    def test_windows_overlapping_by_one_ms_are_reported(self):
        h = H()
        a = h.acquire("w1", 0, 10, ttl=1000)      # window [10, 1000)
        b = h.acquire("w2", 900, 999, ttl=1000)   # window from 999
        found = h.anomalies("double_grant")
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["ops"], [a["id"], b["id"]])
        self.assertEqual((found[0]["t_start"], found[0]["t_end"]), (999 * MS, 1000 * MS))
        self.assertFalse(found[0]["allowed"])

    def test_touching_windows_are_not(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w2", 900, 1000, ttl=1000)
        self.assertEqual(h.anomalies(), [])

    def test_a_renew_extends_the_window(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.renew("w1", 500, 510, ttl=1000)         # now until 1500
        h.acquire("w2", 1100, 1200, ttl=1000)
        self.assertEqual(len(h.anomalies("double_grant")), 1)

    def test_without_the_renew_the_same_grants_are_fine(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w2", 1100, 1200, ttl=1000)
        self.assertEqual(h.anomalies(), [])

    def test_a_200_reacquire_extends_like_a_renew(self):
        h = H()
        a = h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w1", 500, 510, status=200, token=a["token"], fence=a["fence"],
                  reacquire=True, ttl=1000)
        h.acquire("w2", 1100, 1200, ttl=1000)
        self.assertEqual(len(h.anomalies("double_grant")), 1)

    def test_failed_renews_do_not_extend(self):
        for status in (404, 409, 503, None):
            with self.subTest(status=status):
                h = H()
                h.acquire("w1", 0, 10, ttl=1000)
                h.renew("w1", 500, 510, status=status, ttl=1000)
                h.acquire("w2", 1100, 1200, ttl=1000)
                self.assertEqual(h.anomalies("double_grant"), [])

    def test_a_release_ends_the_window_at_its_t_send(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 300, 310)
        h.acquire("w2", 290, 300, ttl=1000)       # answer exactly when the release left
        self.assertEqual(h.anomalies(), [])

    def test_a_grant_before_the_release_left_is_reported(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 300, 310)
        h.acquire("w2", 290, 299, ttl=1000)
        self.assertEqual(len(h.anomalies("double_grant")), 1)

    def test_a_release_with_no_answer_still_ends_the_window(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 300, 800, status=None)
        h.acquire("w2", 400, 410, ttl=1000)
        self.assertEqual(h.anomalies("double_grant"), [])

    def test_an_uncertain_acquire_opens_no_window(self):
        h = H()
        h.acquire("w1", 0, 100, status=None, ttl=1000)   # may have been granted
        h.acquire("w2", 200, 210, ttl=1000)
        self.assertEqual(h.anomalies(), [])

    def test_an_uncertain_acquire_hides_no_double_grant(self):
        h = H()
        a = h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w3", 100, 600, status=None, ttl=1000)
        h.acquire("w1", 300, 800, status=None, reacquire=True, sent_token=a["token"])
        b = h.acquire("w2", 400, 410, ttl=1000)
        found = h.anomalies("double_grant")
        self.assertEqual([x["ops"] for x in found], [[a["id"], b["id"]]])

    def test_a_clients_own_new_grant_ends_its_old_window(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w1", 300, 310, ttl=500, reacquire=True)  # 201: the old lease was gone
        h.acquire("w2", 900, 910, ttl=1000)               # before the first lease's end
        self.assertEqual(h.anomalies(), [])

    def test_allowed_kinds_are_reported_and_marked(self):
        h = H(allowed=["double_grant"])
        h.acquire("w1", 0, 10, ttl=1000)
        h.acquire("w2", 500, 510, ttl=1000)
        found = h.anomalies()
        self.assertEqual([(a["kind"], a["allowed"]) for a in found], [("double_grant", True)])

    def test_redlock_window_uses_the_validity_granted(self):
        h = H(topology="redlock3")
        h.acquire("w1", 0, 10, ttl=1000, ttl_granted=900)   # window until 900
        h.acquire("w2", 890, 950, ttl=1000)
        self.assertEqual(h.anomalies(), [])

    def test_a_renew_that_succeeds_late_proves_the_lease_was_alive(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.renew("w1", 1100, 1110, ttl=1000)       # after the window's end, yet 200
        h.acquire("w2", 1050, 1060, ttl=1000)
        self.assertEqual(len(h.anomalies("double_grant")), 1)

    def test_a_renew_linked_by_sent_token(self):
        h = H()
        a = h.acquire("w1", 0, 10, ttl=1000)
        b = h.acquire("w1", 0, 20, ttl=1000, name="c1")
        h.renew("w1", 500, 510, ttl=1000, sent_token=a["token"])
        h.renew("w1", 500, 510, ttl=1000, name="c1", sent_token=b["token"])
        h.acquire("w2", 1100, 1200, ttl=1000)
        self.assertEqual(len(h.anomalies("double_grant")), 1)


class RegisterRegress(unittest.TestCase):
    def test_an_accepted_lower_fence_is_reported(self):
        h = H()
        h.write("w1", 10, FENCE0 + 5, True, 0)
        h.write("w2", 20, FENCE0 + 4, True, FENCE0 + 5)
        found = h.anomalies("register_regress")
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["clients"], ["w1", "w2"])

    def test_rejected_lower_and_accepted_equal_fences_are_fine(self):
        h = H()
        h.write("w1", 10, FENCE0 + 5, True, 0)
        h.write("w2", 20, FENCE0 + 4, False, FENCE0 + 5)
        h.write("w1", 30, FENCE0 + 5, True, FENCE0 + 5)
        self.assertEqual(h.anomalies(), [])


class TokenReuse(unittest.TestCase):
    def test_a_fresh_grant_with_an_old_token_is_reported(self):
        h = H()
        a = h.acquire("w1", 0, 10, ttl=100)
        b = h.acquire("w2", 500, 510, token=a["token"], name="c1")
        found = h.anomalies("token_reuse")
        self.assertEqual([x["ops"] for x in found], [[a["id"], b["id"]]])

    def test_ops_with_a_reused_token_act_on_the_latest_lease(self):
        # A token handed out twice (the bug token_reuse reports) must not make the checker
        # attach a later release to the first lease and invent a double grant too.
        h = H()
        a = h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 100, 110, sent_token=a["token"])
        h.acquire("w1", 200, 210, ttl=1000, token=a["token"])
        h.release("w1", 300, 310, sent_token=a["token"])
        h.acquire("w2", 400, 410, ttl=1000)
        self.assertEqual([x["kind"] for x in h.anomalies()], ["token_reuse"])

    def test_a_reacquire_returns_its_own_token(self):
        h = H()
        a = h.acquire("w1", 0, 10)
        h.acquire("w1", 100, 110, status=200, token=a["token"], fence=a["fence"], reacquire=True)
        h.renew("w1", 200, 210, token=a["token"])
        self.assertEqual(h.anomalies(), [])


class WaiterStranded(unittest.TestCase):
    def test_a_waiter_on_a_free_name_is_reported(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 400, 410)
        w = h.acquire("w2", 200, 10200, status=409, wait=10000)
        found = h.anomalies("waiter_stranded")
        self.assertEqual([x["ops"] for x in found], [[w["id"]]])
        self.assertEqual((found[0]["t_start"], found[0]["t_end"]), (410 * MS, 10200 * MS))

    def test_a_waiter_granted_late_is_reported(self):
        h = H()
        h.acquire("w2", 0, 6000, wait=10000, ttl=1000)
        self.assertEqual(len(h.anomalies("waiter_stranded")), 1)

    def test_a_waiter_behind_a_live_holder_is_not(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=2000, replica=1)     # held through another replica
        for t in range(1000, 10001, 1000):
            h.renew("w1", t, t + 10, ttl=2000, replica=1)
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_a_shorter_free_stretch_is_not(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=1000)
        h.release("w1", 400, 410)
        h.acquire("w3", 4800, 4810, ttl=6000)           # 4.39 s free, under 4.5 s
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_an_acquire_with_no_answer_may_hold_the_name(self):
        h = H()
        h.acquire("w3", 300, 1300, status=None, ttl=9000)   # maybe held until 10300
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_a_503_acquire_may_hold_the_name_too(self):
        h = H()
        h.acquire("w3", 300, 310, status=503, code="backend_unavailable", ttl=9000)
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_a_409_acquire_holds_nothing(self):
        h = H()
        h.acquire("w3", 300, 310, status=409, ttl=9000)
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(len(h.anomalies("waiter_stranded")), 1)

    def test_a_fault_interrupts_the_free_stretch(self):
        h = H()
        h.fault("pause_redis", "redis0", 4000, 6000)
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_pausing_another_client_does_not(self):
        h = H()
        h.fault("pause_client", "w7", 4000, 6000)
        h.fault("kill_dlockd", "dlockd1", 3000, 4000)
        h.acquire("w2", 200, 10200, status=409, wait=10000, replica=0)
        self.assertEqual(len(h.anomalies("waiter_stranded")), 1)

    def test_a_paused_holder_holds_until_its_lease_ends(self):
        h = H()
        h.fault("pause_client", "w1", 100, 20000)
        h.acquire("w1", 0, 10, ttl=8000)
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])

    def test_another_waiters_grant_holds_from_slack_before_its_answer(self):
        h = H()
        h.acquire("w3", 0, 8000, wait=10000, ttl=1000)      # hold from 7500
        h.acquire("w2", 100, 10000, status=409, wait=9900)
        found = h.anomalies("waiter_stranded")
        self.assertEqual(sorted(x["clients"][0] for x in found), ["w2", "w3"])
        mine = [x for x in found if x["clients"] == ["w2"]][0]
        self.assertEqual((mine["t_start"], mine["t_end"]), (100 * MS, 7500 * MS))

    def test_a_grant_whose_answer_a_fault_may_have_delayed_holds_from_t_send(self):
        h = H()
        h.fault("pause_client", "w3", 1000, 7990)
        h.acquire("w3", 0, 8000, wait=10000, ttl=1000)
        h.acquire("w2", 100, 10000, status=409, wait=9900)
        self.assertEqual([x["clients"] for x in h.anomalies("waiter_stranded")], [])

    def test_an_uncertain_renew_may_extend_the_hold(self):
        h = H()
        h.acquire("w1", 0, 10, ttl=3000)
        h.renew("w1", 2000, 2500, status=None, ttl=6000)    # maybe held until 8500
        h.acquire("w2", 200, 10200, status=409, wait=10000)
        self.assertEqual(h.anomalies(), [])


class WaiterOutcome(unittest.TestCase):
    def outcome(self, took, status, code=None, fault=None):
        h = H()
        if fault:
            h.fault(*fault)
        h.acquire("w2", 0, took, status=status, wait=5000, code=code)
        return h.anomalies("waiter_outcome")

    def test_409_at_the_deadline_is_fine(self):
        self.assertEqual(self.outcome(5000, 409), [])
        self.assertEqual(self.outcome(4960, 409), [])

    def test_early_409_is_reported(self):
        self.assertEqual(len(self.outcome(3000, 409)), 1)

    def test_late_409_is_reported_unless_a_fault_slowed_it(self):
        self.assertEqual(len(self.outcome(7000, 409)), 1)
        self.assertEqual(self.outcome(7000, 409, fault=("pause_dlockd", "dlockd0", 100, 6500)), [])
        self.assertEqual(len(self.outcome(7000, 409, fault=("pause_dlockd", "dlockd1", 100, 6500))), 1)

    def test_documented_errors_are_fine(self):
        for status, code in ((503, "backend_unavailable"), (408, "request_timeout"),
                             (500, "invalid_lock_data"), (None, None), (201, None)):
            with self.subTest(status=status):
                self.assertEqual(self.outcome(1000, status, code), [])

    def test_other_endings_are_reported(self):
        for status, code in ((500, "internal_error"), (400, "invalid_ttl"),
                             (409, "token_mismatch"), (404, "not_found")):
            with self.subTest(status=status):
                self.assertEqual(len(self.outcome(1000, status, code)), 1)


class TokenInRedis(unittest.TestCase):
    def run_dump(self, keys):
        h = H()
        a = h.acquire("w1", 0, 10)
        h.dump(20, keys(a["token"]))
        return h.anomalies("token_in_redis"), a

    def test_a_token_in_a_value_is_reported(self):
        found, a = self.run_dump(lambda t: {"dlock:lock:{c0}": {
            "type": "hash", "value": {"token": t, "fence": "1"}}})
        self.assertEqual([(x["name"], x["ops"]) for x in found], [("c0", [a["id"]])])
        self.assertIn("value", found[0]["explanation"])

    def test_a_token_inside_a_key_name_is_reported(self):
        found, _ = self.run_dump(lambda t: {f"dlock:tok:{t}": {"type": "string", "value": "1"}})
        self.assertEqual(len(found), 1)
        self.assertIn("key name", found[0]["explanation"])

    def test_a_token_inside_a_longer_string_is_reported(self):
        found, _ = self.run_dump(lambda t: {"dlock:queue:{c0}": {
            "type": "zset", "value": [[f"w:{t}:9", 1.5]]}})
        self.assertEqual(len(found), 1)

    def test_a_hashed_token_is_fine(self):
        found, _ = self.run_dump(lambda t: {"dlock:lock:{c0}": {
            "type": "hash", "value": {"token": "h:" + "A" * 43, "fence": "1"}}})
        self.assertEqual(found, [])


class Parsing(unittest.TestCase):
    def test_ops_are_ordered_by_t_send_not_by_line(self):
        h = H()
        h.acquire("w1", 50, 60)
        h.acquire("w2", 0, 100, status=409)
        self.assertEqual([o.client for o in h.history().ops], ["w2", "w1"])

    def test_a_cut_last_line_is_a_warning(self):
        lines = [json.dumps(r) for r in H().recs] + ['{"type":"op","id":']
        hist = checker.parse_lines(lines)
        self.assertTrue(any("last line" in w for w in hist.warnings))
        self.assertFalse(hist.complete)

    def test_a_bad_line_in_the_middle_is_an_error(self):
        lines = [json.dumps(r) for r in H().recs] + ["{oops", json.dumps({"type": "end"})]
        with self.assertRaises(checker.HistoryError):
            checker.parse_lines(lines)

    def test_a_history_needs_its_meta_line(self):
        with self.assertRaises(checker.HistoryError):
            checker.parse_lines([json.dumps({"type": "end"})])

    def test_a_fault_still_open_lasts_to_the_end(self):
        h = H()
        h.recs.append({"type": "fault", "kind": "kill_redis", "target": "redis0",
                       "t_start": 5 * MS, "t_end": None})
        h.acquire("w1", 0, 90)
        self.assertEqual(h.history().faults[0].t_end, 90 * MS)

    def test_never_allowed_kinds_in_meta_are_flagged(self):
        hist = H(allowed=["double_grant", "fence_repeat"]).history()
        self.assertEqual(checker.unexpected_allowances(hist), ["fence_repeat"])


class Cli(unittest.TestCase):
    def run_cli(self, h, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "history.jsonl")
            with open(path, "w") as f:
                f.write("\n".join(json.dumps(r) for r in h.recs) + "\n")
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                rc = checker.main([*args, path])
            return rc, out.getvalue()

    def test_exit_status_says_whether_an_anomaly_was_not_allowed(self):
        h = H()
        h.acquire("w1", 0, 10)
        self.assertEqual(self.run_cli(h)[0], 0)
        h.acquire("w2", 20, 30)
        rc, out = self.run_cli(h)
        self.assertEqual(rc, 1)
        self.assertIn("ANOMALY double_grant", out)

    def test_allowed_anomalies_exit_0_and_json_has_them(self):
        h = H(allowed=["double_grant"])
        h.acquire("w1", 0, 10)
        h.acquire("w2", 20, 30)
        rc, out = self.run_cli(h, "--json")
        self.assertEqual(rc, 0)
        res = json.loads(out)
        self.assertEqual((res["stats"]["anomalies"], res["stats"]["allowed"]), (0, 1))

    def test_an_unreadable_history_exits_2(self):
        with redirect_stderr(io.StringIO()):
            self.assertEqual(checker.main(["/nonexistent/history.jsonl"]), 2)


if __name__ == "__main__":
    sys.exit(unitmain.run(__name__))
