#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The test collector on its own (tests/collector/selftest.js): no agent, no root."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402


class CollectorSelfTest(unittest.TestCase):

    def test_selftest(self):
        T.ensure_collector_installed()
        r = subprocess.run(["node", str(T.COLLECTOR_DIR / "selftest.js")], capture_output=True,
                           text=True, timeout=120, cwd=str(T.COLLECTOR_DIR))
        sys.stdout.write("".join("  | " + l for l in r.stdout.splitlines(True)))
        self.assertEqual(r.returncode, 0, "selftest.js failed:\n%s%s" % (r.stdout, r.stderr))


if __name__ == "__main__":
    T.main([CollectorSelfTest], needs_root=False, needs_agent=False)
