"""Runs the unittest cases of one chaos test program and prints, as its last line,
exactly "N passed, N failed" (the convention tools/run-unit.sh counts); the exit status
is non-zero if anything failed. Owns nothing else."""

import sys
import unittest


def run(module_name):
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    res = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    passed = res.testsRun - failed - len(res.skipped)
    sys.stderr.flush()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0
