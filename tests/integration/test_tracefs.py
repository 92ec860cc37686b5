#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The agent starts on a host where tracefs is not mounted (a fresh boot).

This unmounts /sys/kernel/tracing, so it runs only in CI (CI=true) or when
SPANBPF_TEST_TRACEFS=1.  It expects the agent to mount tracefs itself; when
the test ends tracefs is mounted again (by the agent, or by the test if the
agent did not), whatever its state was before.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

TRACEFS = "/sys/kernel/tracing"


def mounts():
    with open("/proc/self/mounts") as f:
        return [line.split() for line in f]


def tracefs_mounted(path=TRACEFS):
    return any(m[1] == path and m[2] == "tracefs" for m in mounts())


def debugfs_tracing_visible():
    """libbpf falls back to /sys/kernel/debug/tracing when debugfs is mounted."""
    return any(m[1] == "/sys/kernel/debug" and m[2] == "debugfs" for m in mounts())


class NoTracefs(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.was_mounted = tracefs_mounted()
        cls.collector = T.Collector("tracefs-collector").start()
        cls.server = T.PyServer(name="tracefs-server").start()
        cls.agent = None

    @classmethod
    def tearDownClass(cls):
        if cls.agent:
            cls.agent.stop()
        cls.server.stop()
        cls.collector.stop()
        if not tracefs_mounted():
            T.log("tracefs not mounted after the test: mounting it at %s" % TRACEFS)
            subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=False, timeout=30)

    def test_agent_starts_without_tracefs(self):
        T.log("tracefs at %s mounted before the test: %s; debugfs mounted: %s" % (
            TRACEFS, self.was_mounted, debugfs_tracing_visible()))
        # Unmount every stacked tracefs mount at the path (bounded).
        for _ in range(8):
            if not tracefs_mounted():
                break
            r = subprocess.run(["umount", TRACEFS], capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                r = subprocess.run(["umount", "-l", TRACEFS], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, "cannot unmount %s: %s" % (TRACEFS, r.stderr))
        self.assertFalse(tracefs_mounted(), "tracefs still mounted at %s" % TRACEFS)
        if debugfs_tracing_visible():
            T.log("note: debugfs is mounted, so /sys/kernel/debug/tracing may still offer tracefs")
        type(self).agent = T.Agent(T.agent_config(self.collector), name="tracefs-agent").start()
        T.curl(self.server.url("/users/1"))
        self.collector.wait_spans(T.server_of(self.server.pid, "/users/1"), 1)
        self.assertEqual(self.agent.stop(), 0, self.agent.tail())
        T.log("tracefs mounted after the agent ran: %s" % tracefs_mounted())


if __name__ == "__main__":
    if not (T.in_ci() or os.environ.get("SPANBPF_TEST_TRACEFS") == "1"):
        print("SKIP: test_tracefs unmounts tracefs; runs only with CI=true or SPANBPF_TEST_TRACEFS=1")
        print("0 passed, 0 failed, 1 skipped")
        sys.exit(T.SKIP)
    T.main([NoTracefs])
