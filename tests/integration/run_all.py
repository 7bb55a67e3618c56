#!/usr/bin/env python3
"""Run the integration suite: python3 tests/integration/run_all.py [module|test-id ...]

Runs every tests/integration/test_*.py with unittest (or only the names given,
e.g. `test_tasks` or `test_tasks.TaskApiTest.test_flaky_retries_then_succeeds`),
prints a summary and exits non-zero on any failure or error. The binary comes
from AGENCY_BIN (default build/agency, relative to the repo root). A missing
binary is a failure, not a skip, so CTest cannot pass without it.
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import agency_bin  # noqa: E402


def main(argv):
    names = argv[1:]
    binary = agency_bin()
    print("agency integration tests: binary %s" % binary, flush=True)
    if not os.path.exists(binary):
        print("FAILED: %s does not exist (set AGENCY_BIN or build first)" % binary)
        return 2
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    t0 = time.time()
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, buffer=False).run(suite)
    dt = time.time() - t0

    print("\n==== integration summary (%.1fs) ====" % dt)
    print("ran %d, failures %d, errors %d, skipped %d"
          % (result.testsRun, len(result.failures), len(result.errors), len(result.skipped)))
    for kind, items in (("FAIL", result.failures), ("ERROR", result.errors)):
        for test, tb in items:
            last = [l for l in tb.strip().splitlines() if l.strip()]
            msg = ""
            for l in last:
                if l.startswith(("AssertionError", "harness.EngineDied", "EngineDied")) or "Error:" in l:
                    msg = l.strip()
                    break
            print("  %-5s %s  %s" % (kind, test.id(), msg[:200]))
    for test, why in result.skipped:
        print("  SKIP  %s  %s" % (test.id(), why))
    ok = result.wasSuccessful() and result.testsRun > 0
    if harness.SPEC_VIOLATIONS:
        # every response a test saw must follow api/openapi.yaml (harness.check_against_spec)
        print("\n==== %d response(s) violated api/openapi.yaml ====" % len(harness.SPEC_VIOLATIONS))
        counts = {}
        for v in harness.SPEC_VIOLATIONS:
            counts[v] = counts.get(v, 0) + 1
        for v, n in counts.items():
            print("  SPEC  %s%s" % (v[:300], "  (x%d)" % n if n > 1 else ""))
        ok = False
    print("RESULT: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
